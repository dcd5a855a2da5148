"""Model export: a trained checkpoint as an ONNX or TorchScript file that runs without
Vision Studio, with a JSON sidecar of what a consumer needs, checked against PyTorch at
once.

* :mod:`.graphs` — the modules that are exported (what goes in, what comes out) and the
  ``torch.onnx`` / ``torch.jit`` calls;
* :mod:`.sidecar` — the JSON sidecar (categories with their exported COCO ids, input
  size, normalisation, score / NMS defaults, the check's max |difference|);
* :mod:`.runtime` — :class:`~.runtime.ExportedModel`: runs an exported file with
  onnxruntime (or ``torch.jit.load``) and returns the same prediction objects as the
  checkpoint path (:mod:`vision_studio.core.evaluation.predictions`);
* :mod:`.model_export` — :func:`~.model_export.export_model`: export + check + sidecar.
"""
