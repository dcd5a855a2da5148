"""A 2-D map of the images from their backbone features.

UMAP (McInnes, Healy & Melville 2018; ``umap-learn``, cosine metric) when it is
installed and there are at least :data:`MIN_UMAP` images; otherwise PCA (scikit-learn,
the two leading principal components of the standardised features), which is instant.
"""
from __future__ import annotations

import logging

import numpy as np

log = logging.getLogger(__name__)

MIN_UMAP = 20
"""Fewer images than this use PCA (UMAP needs a neighbourhood graph)."""


def embed_2d(features: np.ndarray, *, method: str = "auto", seed: int = 0
             ) -> tuple[np.ndarray, str]:
    """Project features to 2-D.

    Args:
        features: [N, D] float features (N >= 1).
        method: ``"auto"`` (UMAP when possible, else PCA), ``"umap"`` or ``"pca"``.
        seed: Random state of UMAP.

    Returns:
        ``(xy [N, 2] float32, method used: "umap" or "pca")``; one image maps to (0, 0).

    Raises:
        ValueError: unknown ``method``.
    """
    if method not in ("auto", "umap", "pca"):
        raise ValueError(f"unknown map method {method!r}; choose auto, umap or pca")
    x = np.asarray(features, np.float32)
    n = len(x)
    if n < 3:
        return np.zeros((n, 2), np.float32), "pca"
    if method != "pca" and n >= MIN_UMAP:
        try:
            import umap  # noqa: PLC0415 (slow import: numba)

            reducer = umap.UMAP(n_components=2, n_neighbors=min(15, n - 1), metric="cosine",
                                random_state=seed, n_jobs=1)
            return reducer.fit_transform(x).astype(np.float32), "umap"
        except ImportError:
            log.info("umap-learn is not installed: the map uses PCA")
    from sklearn.decomposition import PCA
    from sklearn.preprocessing import StandardScaler

    xy = PCA(n_components=2, random_state=seed).fit_transform(StandardScaler().fit_transform(x))
    return xy.astype(np.float32), "pca"
