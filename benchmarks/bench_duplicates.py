"""Near-duplicate finder: recall of injected copies and false pairs, on a real image set.

Copies the images of ``--data`` (default ``../shared/data/hymenoptera``, every photo of
train and val) into a temporary folder, picks ``--n`` of them at random and adds three
copies of each: **resized** (0.5-0.9x, bilinear, JPEG q 95), **JPEG-recompressed** (same
size, q 60-90) and **slightly cropped** (2-8 % cut off each side independently, JPEG q
95). A project is made of the lot and the finder's two signals are computed
(:mod:`vision_studio.core.health.duplicates`: phash Hamming distance, cosine of
lite0 ImageNet embeddings from the shared weights file). Printed, for the hash alone
(the baseline), the embeddings alone, and the finder's union at its defaults, over a
sweep of thresholds:

* recall: copies in the same duplicate group as their source, per kind of copy;
* false pairs: pairs of images of different families (a source with its copies is one
  family; every other image is its own), as the share of the images outside the copied
  families that are in at least one false pair, and the count of false pairs. Real
  sets hold real near-duplicates: the false pairs are printed to look at.

Time per 10k images: decoding + hashing and embedding are measured per image here and
*extrapolated* linearly to 10k (printed as such); the pairing step is *measured* on 10k
random hashes and 10k random 1280-d features (brute force is O(N^2)). Run::

    python benchmarks/bench_duplicates.py                       # hymenoptera, n = 60
    python benchmarks/bench_duplicates.py --data ../shared/data/raccoon_voc/images --n 40

The input folder is only read; everything is written to a temporary folder.

Measured on the shared 2-core machine (load average 7-25), hymenoptera, n = 60, seed 0
(397 originals + 180 copies), recall % (resized / JPEG / cropped / all), false pairs:

=========================  =============================  ===========
phash <= 6 (baseline)      100 / 100 / 10.0 / 70.0        0
cosine >= 0.90             95.0 / 98.3 / 93.3 / 95.6      0
cosine >= 0.80             100 / 100 / 100 / 100          3 (1.8 % of the other images)
union 6 / 0.90             100 / 100 / 95.0 / 98.3        0
union 6 / 0.88 (default)   100 / 100 / 96.7 / 98.9        0
=========================  =============================  ===========

Per 10k images (CPU seconds, all threads): decode + phash 38 s, decode + phash +
lite0 embedding 1849 s (both extrapolated from 577 images); pairing 1.4 s hash only,
7.6 s union (measured on 10k random images; wall 6.2 s / 61 s under that load).
"""
from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from vision_studio.core.health import duplicates as dup  # noqa: E402
from vision_studio.core.health.features import compute_features  # noqa: E402
from vision_studio.core.io.imagefolder import read_images  # noqa: E402
from vision_studio.core.store import ProjectStore  # noqa: E402

SHARED = ROOT.parent / "shared"
EXTENSIONS = {".jpg", ".jpeg", ".png"}
KINDS = ("resized", "jpeg", "cropped")


def make_set(data: Path, out: Path, n: int, seed: int) -> dict[str, tuple[str, str]]:
    """Copy the originals to ``out/orig`` and write 3 copies of ``n`` of them to
    ``out/copies``. Returns ``{file name: (family, kind)}`` (kind ``"orig"`` or one of
    :data:`KINDS`); family = the original's file name."""
    rng = np.random.default_rng(seed)
    files = sorted(p for p in data.rglob("*") if p.suffix.lower() in EXTENSIONS)
    (out / "orig").mkdir(parents=True)
    (out / "copies").mkdir()
    roles: dict[str, tuple[str, str]] = {}
    names = []
    for k, f in enumerate(files):
        name = f"o{k:05d}{f.suffix.lower()}"
        shutil.copyfile(f, out / "orig" / name)
        roles[f"orig/{name}"] = (name, "orig")
        names.append(name)
    for name in rng.choice(names, size=min(n, len(names)), replace=False):
        with Image.open(out / "orig" / name) as im:
            im = im.convert("RGB")
        w, h = im.size
        s = rng.uniform(0.5, 0.9)
        im.resize((max(8, round(w * s)), max(8, round(h * s))), Image.BILINEAR).save(
            out / "copies" / f"{name}.resized.jpg", quality=95)
        im.save(out / "copies" / f"{name}.jpeg.jpg", quality=int(rng.integers(60, 91)))
        cut = rng.uniform(0.02, 0.08, size=4)
        box = (round(w * cut[0]), round(h * cut[1]), w - round(w * cut[2]), h - round(h * cut[3]))
        im.crop(box).save(out / "copies" / f"{name}.cropped.jpg", quality=95)
        for kind in KINDS:
            roles[f"copies/{name}.{kind}.jpg"] = (name, kind)
    return roles


def evaluate(pairs: list[tuple[int, int]], paths: list[str],
             roles: dict[str, tuple[str, str]]) -> dict[str, float]:
    """Recall per kind of copy (same group as the source) and false-pair figures."""
    fam = [roles[p][0] for p in paths]
    kind = [roles[p][1] for p in paths]
    groups = dup._groups(len(paths), pairs)
    copied = {fam[i] for i in range(len(paths)) if kind[i] != "orig"}
    row_of = {fam[i]: i for i in range(len(paths)) if kind[i] == "orig"}
    out: dict[str, float] = {}
    for k in KINDS:
        rows = [i for i in range(len(paths)) if kind[i] == k]
        out[k] = float(np.mean([groups[i] == groups[row_of[fam[i]]] for i in rows]))
    out["all"] = float(np.mean([out[k] for k in KINDS]))
    false = [(a, b) for a, b in pairs if fam[a] != fam[b]]
    others = [i for i in range(len(paths)) if fam[i] not in copied]
    hit = {i for ab in false for i in ab} & set(others)
    out["false_images"] = len(hit) / max(1, len(others))
    out["false_pairs"] = float(len(false))
    out["others"] = float(len(others))
    return out


def _row(label: str, r: dict[str, float]) -> str:
    return (f"{label:<26}" + "".join(f"{100 * r[k]:>9.1f}" for k in (*KINDS, "all"))
            + f"{100 * r['false_images']:>10.2f}{int(r['false_pairs']):>8d}")


def sweep(feats, roles) -> None:
    """Print the recall / false-pair table over thresholds."""
    keys = lambda d: sorted(d)  # noqa: E731
    print(f"\n{'signal (threshold)':<26}" + "".join(f"{k:>9}" for k in (*KINDS, "all"))
          + f"{'false img%':>10}{'pairs':>8}   (recall %)")
    for d in (0, 4, 6, 8, 10, 12):
        pairs = keys(dup.hamming_pairs(feats.phashes, d))
        print(_row(f"phash <= {d}", evaluate(pairs, feats.paths, roles)))
    for c in (0.80, 0.85, 0.88, 0.90, 0.92, 0.95):
        pairs = keys(dup.cosine_pairs(feats.features, c))
        print(_row(f"cosine >= {c:.2f}", evaluate(pairs, feats.paths, roles)))
    for d, c in ((dup.HASH_DISTANCE, dup.COSINE), (6, 0.90), (8, 0.90), (6, 0.88), (8, 0.85)):
        found = dup.find_duplicates(feats.phashes, feats.features, hash_distance=d, cosine=c)
        tag = " (default)" if (d, c) == (dup.HASH_DISTANCE, dup.COSINE) else ""
        print(_row(f"union {d}/{c:.2f}{tag}", evaluate([(p.a, p.b) for p in found],
                                                        feats.paths, roles)))


def false_pairs(feats, roles, limit: int = 12) -> None:
    """The default finder's pairs across families (to look at: real near-duplicates?)."""
    found = dup.find_duplicates(feats.phashes, feats.features)
    fam = [roles[p][0] for p in feats.paths]
    bad = [p for p in found if fam[p.a] != fam[p.b]]
    print(f"\nfalse pairs of the default finder: {len(bad)}" + (" (first shown)" if bad else ""))
    for p in bad[:limit]:
        print(f"  {feats.paths[p.a]} ~ {feats.paths[p.b]}: phash {p.hamming}, cosine {p.cosine:.3f}")


def pairing_time(n: int, seed: int) -> tuple[tuple[float, float], tuple[float, float]]:
    """(wall, CPU) seconds of the hash-only and of the union pairing on ``n`` random
    images (measured)."""
    rng = np.random.default_rng(seed)
    hashes = rng.integers(0, 2**63, size=n, dtype=np.int64).astype(np.uint64)
    x = rng.standard_normal((n, 1280)).astype(np.float32)
    out = []
    for feats in (None, x):
        t, c = time.perf_counter(), time.process_time()
        dup.find_duplicates(hashes, feats)
        out.append((time.perf_counter() - t, time.process_time() - c))
    return out[0], out[1]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=SHARED / "data" / "hymenoptera")
    ap.add_argument("--n", type=int, default=60, help="images that get copies (60)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--weights", type=Path,
                    default=SHARED / "weights" / "tf_efficientnet_lite0_in1k_converted.pth")
    ap.add_argument("--pairing-n", type=int, default=10_000, help="images of the timed pairing")
    args = ap.parse_args()
    if not args.data.is_dir() or not args.weights.is_file():
        print(f"error: {args.data if not args.data.is_dir() else args.weights}: not found",
              file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory(prefix="bench_dup_") as tmp:
        tmp = Path(tmp)
        roles = make_set(args.data, tmp / "set", args.n, args.seed)
        with ProjectStore.create(tmp / "b.vsproj", root=tmp / "set") as store:
            read_images(store, tmp / "set")
            n = store.image_count()
            t, c = time.perf_counter(), time.process_time()
            compute_features(store, embeddings=False)
            t_hash, c_hash = time.perf_counter() - t, time.process_time() - c
            t, c = time.perf_counter(), time.process_time()
            feats = compute_features(store, weights=args.weights, embeddings=True)
            t_emb, c_emb = time.perf_counter() - t, time.process_time() - c
        print(f"data: {args.data} ({n - 3 * args.n} originals + {3 * args.n} copies of "
              f"{args.n}: resized 0.5-0.9x, JPEG q 60-90, cropped 2-8 %/side); seed {args.seed}")
        sweep(feats, roles)
        false_pairs(feats, roles)
    (p_hash, q_hash), (p_union, q_union) = pairing_time(args.pairing_n, args.seed)
    per10k = 10_000 / n
    print(f"\ntime per 10k images, wall / CPU seconds (CPU: all threads; steadier on a loaded "
          f"machine). Decoding, hashing and embedding: measured on {n} images here and "
          f"extrapolated linearly; pairing: measured on {args.pairing_n} random ones:")
    print(f"  decode + phash           {t_hash * per10k:8.0f} / {c_hash * per10k:8.0f}  (extrapolated)")
    print(f"  decode + phash + embed   {t_emb * per10k:8.0f} / {c_emb * per10k:8.0f}  (extrapolated)")
    print(f"  pairing, hash only       {p_hash:8.1f} / {q_hash:8.1f}  (measured)")
    print(f"  pairing, union           {p_union:8.1f} / {q_union:8.1f}  (measured; "
          f"{p_union / max(p_hash, 1e-9):.1f}x the hash-only pairing's wall time)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
