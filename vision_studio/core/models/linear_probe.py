"""Linear probe: a logistic-regression head on pooled features of a frozen backbone.

The fast transfer path for small datasets on a CPU: the frozen network runs once over
the images (in ``eval`` mode, no gradients) and the input of the final ``nn.Linear`` (the
pooled, pre-logits feature vector) is kept; scikit-learn's ``LogisticRegression`` (L2,
lbfgs, multinomial) is fitted on standardised features; the fitted weights are folded back
into that ``nn.Linear`` so the result is a normal, checkpointable classifier:
``softmax(model(x))`` equals the probe's ``predict_proba``.

Public API::

    fit_linear_probe(built, train_loader, val_loader=None, *, C=1.0, max_iter=2000,
                     device="cpu", progress=None) -> LinearProbeResult
    extract_features(built, loader, device="cpu", progress=None) -> (feats, labels)

Loaders yield ``(images [B,3,H,W] float normalised, labels [B] int64)`` tuples,
:class:`vision_studio.core.data.Batch` objects (``.images``, ``.targets``) or dicts with
``"image"``/``"label"`` (or ``"images"``/``"labels"``) keys; labels are indices
``0 .. num_classes-1`` in the model's label order.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Iterable

import numpy as np

from vision_studio.core.errors import ConfigError
from vision_studio.core.types import Task

if TYPE_CHECKING:  # pragma: no cover
    import torch
    from torch import nn

    from vision_studio.core.models.base import BuiltModel

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LinearProbeResult:
    """Outcome of :func:`fit_linear_probe`.

    Attributes:
        train_accuracy: Fraction of training images the fitted head classifies right.
        val_accuracy: Same on the validation loader (``None`` without one).
        n_train: Training images.
        n_val: Validation images (0 without a loader).
        feature_dim: Length of the pooled feature vector.
        C: Inverse L2 regularisation strength used.
        iterations: lbfgs iterations sklearn ran.
    """

    train_accuracy: float
    val_accuracy: float | None
    n_train: int
    n_val: int
    feature_dim: int
    C: float
    iterations: int


def probe_layer(built: "BuiltModel") -> "nn.Linear":
    """The final ``nn.Linear`` of the classification head (whose input is the pooled
    feature vector). Raises ConfigError for other tasks or heads."""
    from torch import nn

    if built.task != Task.CLASSIFICATION:
        raise ConfigError(f"linear probe is for classification only, not {built.task}")
    linears = [m for _, mods in built.head for mod in mods for m in mod.modules()
               if isinstance(m, nn.Linear)]
    if not linears:
        raise ConfigError(f"{built.arch}: its head has no linear layer to fit a probe into")
    return linears[-1]


def _split_batch(batch: Any) -> tuple["torch.Tensor", "torch.Tensor"]:
    if hasattr(batch, "images") and hasattr(batch, "targets"):  # core.data's Batch
        return batch.images, batch.targets
    if isinstance(batch, dict):
        for xk, yk in (("image", "label"), ("images", "labels")):
            if xk in batch and yk in batch:
                return batch[xk], batch[yk]
        raise ConfigError(f"linear probe: batch dict needs image/label keys, got {list(batch)}")
    return batch[0], batch[1]


def extract_features(built: "BuiltModel", loader: Iterable, device: str = "cpu",
                     progress: Callable[[int, int], None] | None = None
                     ) -> tuple[np.ndarray, np.ndarray]:
    """Pooled features ``[N, D]`` float32 and labels ``[N]`` int64 for every image of
    ``loader``, from the frozen model in ``eval`` mode (inputs of the final linear layer)."""
    import torch

    layer, model = probe_layer(built), built.model
    feats: list[np.ndarray] = []
    labels: list[np.ndarray] = []
    captured: list[torch.Tensor] = []
    hook = layer.register_forward_pre_hook(lambda _m, inp: captured.append(inp[0].detach()))
    was_training = model.training
    model.eval().to(device)
    total = len(loader) if hasattr(loader, "__len__") else -1
    try:
        with torch.no_grad():
            for i, batch in enumerate(loader):
                x, y = _split_batch(batch)
                captured.clear()
                model(x.to(device))
                feats.append(captured[-1].flatten(1).float().cpu().numpy())
                labels.append(np.asarray(y.cpu() if hasattr(y, "cpu") else y, dtype=np.int64))
                if progress:
                    progress(i + 1, total)
    finally:
        hook.remove()
        model.train(was_training)
    if not feats:
        raise ConfigError("linear probe: the loader yielded no images")
    return np.concatenate(feats), np.concatenate(labels)


def _write_back(layer: "nn.Linear", clf: Any, scaler: Any, num_classes: int) -> None:
    """Fold standardisation + sklearn coefficients into ``layer`` (see module docstring)."""
    import torch

    coef, intercept = clf.coef_, clf.intercept_
    if coef.shape[0] == 1:  # binary: sigmoid(z) == softmax([-z/2, z/2])[1]
        coef = np.concatenate([-coef / 2, coef / 2])
        intercept = np.concatenate([-intercept / 2, intercept / 2])
    w = coef / scaler.scale_[None, :]
    b = intercept - w @ scaler.mean_
    weight = np.zeros((num_classes, w.shape[1]))
    bias = np.full(num_classes, -1e4)  # classes absent from the training set
    weight[clf.classes_] = w
    bias[clf.classes_] = b
    with torch.no_grad():
        layer.weight.copy_(torch.as_tensor(weight, dtype=layer.weight.dtype))
        if layer.bias is not None:
            layer.bias.copy_(torch.as_tensor(bias, dtype=layer.bias.dtype))


def _accuracy(feats: np.ndarray, labels: np.ndarray, layer: "nn.Linear") -> float:
    w = layer.weight.detach().cpu().double().numpy()
    b = layer.bias.detach().cpu().double().numpy() if layer.bias is not None else 0.0
    return float(np.mean(np.argmax(feats.astype(np.float64) @ w.T + b, axis=1) == labels))


def fit_linear_probe(built: "BuiltModel", train_loader: Iterable,
                     val_loader: Iterable | None = None, *, C: float = 1.0,
                     max_iter: int = 2000, device: str = "cpu",
                     progress: Callable[[int, int], None] | None = None
                     ) -> LinearProbeResult:
    """Fit a logistic-regression head on frozen pooled features and write it into the
    model's final linear layer (in place). Accuracies are computed with the written-back
    layer, i.e. exactly what the model now predicts.

    Raises:
        ConfigError: not a classification model, an empty loader, labels outside
            ``0..num_classes-1``, a single class in the training set, or ``C <= 0``.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    if not C > 0:
        raise ConfigError(f"linear probe: C must be > 0, got {C!r}")
    layer = probe_layer(built)
    x_tr, y_tr = extract_features(built, train_loader, device, progress)
    if y_tr.min() < 0 or y_tr.max() >= built.num_classes:
        raise ConfigError(f"linear probe: labels must be in 0..{built.num_classes - 1}")
    if len(np.unique(y_tr)) < 2:
        raise ConfigError("linear probe: the training images all have the same category")
    scaler = StandardScaler().fit(x_tr)
    scaler.scale_[scaler.scale_ == 0] = 1.0
    clf = LogisticRegression(C=C, max_iter=max_iter).fit(scaler.transform(x_tr), y_tr)
    _write_back(layer, clf, scaler, built.num_classes)
    val_acc, n_val = None, 0
    if val_loader is not None:
        x_va, y_va = extract_features(built, val_loader, device)
        val_acc, n_val = _accuracy(x_va, y_va, layer), len(y_va)
    result = LinearProbeResult(train_accuracy=_accuracy(x_tr, y_tr, layer),
                               val_accuracy=val_acc, n_train=len(y_tr), n_val=n_val,
                               feature_dim=x_tr.shape[1], C=float(C),
                               iterations=int(np.max(clf.n_iter_)))
    log.info("linear probe: %s", result)
    return result
