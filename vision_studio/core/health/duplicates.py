"""Near-duplicate images and train/val/test leakage.

Two signals, either of which makes a pair:

* perceptual hash (``imagehash.phash``, 64 bits): Hamming distance ``<=
  hash_distance`` catches exact and near-exact copies (re-encoded, resized, slightly
  recoloured);
* backbone embeddings: cosine similarity ``>= cosine`` between pooled features catches
  copies the hash misses (crops, stronger recompression), found with scikit-learn's
  ``NearestNeighbors`` (brute force, cosine metric) over the ``neighbors`` nearest.

Pairs are joined into groups (connected components). A pair whose two images are in
different, non-empty splits is ``leak`` (it inflates validation metrics); else
``duplicate``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from vision_studio.core.health.issues import Issue

HASH_DISTANCE = 6
"""Default largest phash Hamming distance (of 64 bits) of a pair."""
COSINE = 0.88
"""Default smallest cosine similarity of lite0 pooled features of a pair. Chosen with
``benchmarks/bench_duplicates.py`` on hymenoptera (397 photos + 180 copies): 0.90 found
93 % of the 2-8 % crops, 0.88 97 %, both with no false pair; 0.80 made false pairs."""


@dataclass(frozen=True)
class DuplicatePair:
    """Two images found to be copies of each other (``a < b`` as row indices).

    Attributes:
        a, b: Row indices into the inputs.
        hamming: phash Hamming distance (0..64).
        cosine: Cosine similarity of the embeddings (``nan`` without embeddings).
        group: Index of the connected group of pairs.
    """

    a: int
    b: int
    hamming: int
    cosine: float
    group: int = -1

    @property
    def score(self) -> float:
        """Similarity in [0, 1]: the larger of the cosine and ``1 - hamming / 32``."""
        h = max(0.0, 1.0 - self.hamming / 32.0)
        return float(max(h, self.cosine if self.cosine == self.cosine else 0.0))


def _bits(phashes: np.ndarray) -> np.ndarray:
    """[N] uint64 → [N, 64] float32 in {-1, +1}."""
    b = np.unpackbits(np.asarray(phashes, ">u8").view(np.uint8).reshape(-1, 8), axis=1)
    return b.astype(np.float32) * 2 - 1


def hamming_pairs(phashes: np.ndarray, max_distance: int, chunk: int = 2048
                  ) -> dict[tuple[int, int], int]:
    """All pairs ``(i < j)`` with phash Hamming distance ``<= max_distance`` (exact,
    blockwise ``d = (64 - b_i . b_j) / 2`` with ±1 bit vectors)."""
    bits = _bits(phashes)
    out: dict[tuple[int, int], int] = {}
    for s in range(0, len(bits), chunk):
        d = np.rint((64 - bits[s:s + chunk] @ bits.T) / 2).astype(np.int64)
        ii, jj = np.nonzero(d <= max_distance)
        for i, j in zip(ii + s, jj):
            if i < j:
                out[(int(i), int(j))] = int(d[i - s, j])
    return out


def cosine_pairs(features: np.ndarray, min_cosine: float, neighbors: int = 10
                 ) -> dict[tuple[int, int], float]:
    """Pairs ``(i < j)`` among each image's ``neighbors`` nearest (cosine) with
    similarity ``>= min_cosine``."""
    from sklearn.neighbors import NearestNeighbors

    n = len(features)
    if n < 2:
        return {}
    k = min(n, neighbors + 1)
    nn = NearestNeighbors(n_neighbors=k, metric="cosine", algorithm="brute").fit(features)
    dist, idx = nn.kneighbors(features)
    out: dict[tuple[int, int], float] = {}
    for i in range(n):
        for d, j in zip(dist[i], idx[i]):
            sim = 1.0 - float(d)
            if j != i and sim >= min_cosine:
                key = (min(i, int(j)), max(i, int(j)))
                out[key] = max(out.get(key, -1.0), sim)
    return out


def _cosine(features: np.ndarray | None, i: int, j: int) -> float:
    if features is None:
        return float("nan")
    a, b = features[i], features[j]
    return float(a @ b / max(np.linalg.norm(a) * np.linalg.norm(b), 1e-12))


def _groups(n: int, pairs: Sequence[tuple[int, int]]) -> np.ndarray:
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    if not pairs:
        return np.arange(n)
    a, b = np.array(pairs).T
    g = coo_matrix((np.ones(len(a)), (a, b)), shape=(n, n))
    return connected_components(g, directed=False)[1]


def find_duplicates(phashes: np.ndarray, features: np.ndarray | None = None, *,
                    hash_distance: int = HASH_DISTANCE, cosine: float = COSINE,
                    neighbors: int = 10) -> list[DuplicatePair]:
    """Near-duplicate pairs of a set of images (see the module docstring).

    Args:
        phashes: [N] uint64 perceptual hashes.
        features: [N, D] float embeddings, or ``None`` (hashes only).
        hash_distance: Largest Hamming distance of a hash pair.
        cosine: Smallest cosine similarity of an embedding pair.
        neighbors: Nearest neighbours examined per image.

    Returns:
        Pairs sorted by score (most similar first), ``group`` numbered 0.. by first row.
    """
    ham = hamming_pairs(phashes, hash_distance)
    cos = cosine_pairs(features, cosine, neighbors) if features is not None else {}
    keys = sorted(set(ham) | set(cos))
    labels = _groups(len(phashes), keys)
    renum: dict[int, int] = {}
    out = []
    bits = _bits(phashes)
    for i, j in keys:
        g = renum.setdefault(int(labels[i]), len(renum))
        h = ham.get((i, j))
        if h is None:
            h = int(round((64 - float(bits[i] @ bits[j])) / 2))
        out.append(DuplicatePair(a=i, b=j, hamming=h,
                                 cosine=cos.get((i, j), _cosine(features, i, j)), group=g))
    return sorted(out, key=lambda p: (-p.score, p.a, p.b))


def is_leak(split_a: str, split_b: str) -> bool:
    """Two splits that must not share an image: both set and different."""
    return bool(split_a) and bool(split_b) and split_a != split_b


def duplicate_issues(pairs: Sequence[DuplicatePair], image_ids: Sequence[int],
                     paths: Sequence[str], splits: Sequence[str]) -> list[Issue]:
    """One :class:`Issue` per pair (``leak`` across splits, else ``duplicate``); the
    ``file_name`` is the image to act on: the val/test one of a leak, else the later row."""
    order = {"test": 0, "val": 1, "train": 2}
    out = []
    for p in pairs:
        a, b = p.b, p.a  # act on the later image by default, its twin is the earlier one
        leak = is_leak(splits[a], splits[b])
        if leak and order.get(splits[a], 3) > order.get(splits[b], 3):
            a, b = b, a
        how = f"phash distance {p.hamming}/64" + ("" if p.cosine != p.cosine
                                                   else f", embedding cosine {p.cosine:.3f}")
        out.append(Issue(kind="leak" if leak else "duplicate", file_name=paths[a],
                         image_id=int(image_ids[a]), score=p.score,
                         other_file_name=paths[b], other_image_id=int(image_ids[b]),
                         split=splits[a], other_split=splits[b], group=p.group,
                         detail=how + (f"; {splits[a]} image has a copy in {splits[b]}"
                                       if leak else "")))
    return out
