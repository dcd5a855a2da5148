"""Large images: tiles for training, sliced inference, and pyramidal TIFF access.

Images far larger than a model's input (12-50 MP photos, slide scans of tens of
thousands of pixels a side) lose their small objects when resized whole. This package
cuts them into overlapping tiles (:mod:`.tiles`), predicts on the tiles and merges the
results (:mod:`vision_studio.core.evaluation.sliced`, the SAHI method: Akyon et al., "Slicing Aided Hyper Inference
and Fine-tuning for Small Object Detection", ICIP 2022, through the ``sahi`` library's
slicing and merging functions), and reads tiled/pyramidal TIFFs region by region
(:mod:`vision_studio.core.image_regions`). Qt-free.
"""
