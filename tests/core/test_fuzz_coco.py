"""Property-based fuzzing of the COCO reader (hypothesis, bounded: about 20-30 s here).

For any file — COCO-shaped documents whose fields are replaced by arbitrary JSON
values, and arbitrary text — ``read_coco`` either imports cleanly (and the project
then exports to a COCO file pycocotools reads) or raises ``FormatError`` naming the
file; never another exception; and a project is left exactly as it was (a dump of its
SQLite file compared) after a failed import, strict or not.
"""
from __future__ import annotations

import contextlib
import io
import json
import sqlite3
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pycocotools.coco import COCO

from vision_studio.core.errors import FormatError, VisionStudioError
from vision_studio.core.io.coco import read_coco
from vision_studio.core.io.coco_write import write_coco
from vision_studio.core.store import ProjectStore

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

SETTINGS = settings(max_examples=120, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

_scalars = st.one_of(st.none(), st.booleans(), st.integers(-3, 3000),
                     st.integers(min_value=-(2 ** 70), max_value=2 ** 70),
                     st.floats(allow_nan=True, allow_infinity=True),
                     st.text(max_size=8), st.sampled_from(["", "0", "1", "abc", "poly"]))
_json = st.recursive(_scalars, lambda kids: st.one_of(
    st.lists(kids, max_size=4), st.dictionaries(st.text(max_size=4), kids, max_size=4)),
    max_leaves=12)


def _mostly(good: st.SearchStrategy, bad: st.SearchStrategy, odds: int) -> st.SearchStrategy:
    """``good`` ``odds`` times in ``odds + 1``, else ``bad`` (the bad case is not at an
    end of the range: hypothesis favours the ends)."""
    return st.integers(0, odds).flatmap(lambda k: bad if k == 3 else good)


def _maybe(good: st.SearchStrategy, odds: int = 8) -> st.SearchStrategy:
    """Mostly a plausible value, sometimes any JSON value."""
    return _mostly(good, _json, odds)


_num = st.one_of(st.integers(-20, 120), st.floats(-20, 120, allow_nan=False), _json)
_box = st.tuples(st.floats(0, 40), st.floats(0, 30), st.floats(0.5, 24), st.floats(0.5, 18))
_polygon = st.lists(_num, min_size=0, max_size=10)
_counts = st.one_of(st.lists(st.integers(-2, 3072), max_size=6),
                    st.text(alphabet=st.characters(min_codepoint=40, max_codepoint=120),
                            max_size=12))
_segmentation = st.one_of(st.lists(_polygon, max_size=3), st.just([]),
                          _box.map(lambda b: [[b[0], b[1], b[0] + b[2], b[1], b[0], b[1] + b[3]]]),
                          st.fixed_dictionaries({"size": _maybe(st.just([48, 64])),
                                                 "counts": _counts}), _json)
_odd_name = st.sampled_from(["../a.png", "/abs/a.png", "sub/../0.png", "a.png\x00", "x" * 300])


@st.composite
def _document(draw) -> dict:
    """A COCO-shaped document: ids mostly consistent (so annotations get imported), any
    field sometimes replaced by an arbitrary JSON value."""
    n_img, n_cat = draw(st.integers(0, 4)), draw(st.integers(0, 3))
    images = [draw(_maybe(st.fixed_dictionaries(
        {"id": _maybe(st.just(i)), "file_name": _maybe(_mostly(st.just(f"{i}.png"), _odd_name,
                                                               6)),
         "width": _maybe(st.just(64)), "height": _maybe(st.just(48))},
        optional={"license": _json, "coco_url": _json}), 12)) for i in range(n_img)]
    cats = [draw(_maybe(st.fixed_dictionaries(
        {"id": _maybe(st.just(c)), "name": _maybe(st.sampled_from(["cat", "dog", "cat"]))},
        optional={"supercategory": _json}), 12)) for c in range(1, n_cat + 1)]
    n_ann = draw(st.integers(0, 6))
    anns = [draw(_maybe(st.fixed_dictionaries(
        {"id": _maybe(_mostly(st.just(k), st.integers(0, 6), 6)),
         "image_id": _maybe(st.integers(0, max(0, n_img - 1))),
         "category_id": _maybe(st.integers(1, max(1, n_cat))),
         "bbox": _mostly(_box.map(list), st.one_of(st.lists(_num, min_size=4, max_size=4),
                                                   _json), 4)},
        optional={"segmentation": _segmentation, "area": _maybe(_num),
                  "iscrowd": _maybe(st.integers(0, 1)), "attributes": _json}), 12))
        for k in range(n_ann)]
    doc = {"images": _maybe(st.just(images), 20), "categories": _maybe(st.just(cats), 20),
           "annotations": _maybe(st.just(anns), 20)}
    doc = {k: draw(v) for k, v in doc.items()}
    for k in ("info", "licenses"):
        if draw(st.booleans()):
            doc[k] = draw(_json)
    return doc


def _dump(path: Path) -> list[str]:
    """Every committed row of the project file (its SQL dump)."""
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return list(con.iterdump())
    finally:
        con.close()


def _check(text: str, strict: bool) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for name in ("a.png", "b.png"):
            (folder / name).write_bytes(b"\x89PNG\r\n\x1a\n garbage")
        store = ProjectStore.create(folder / "p.vsproj")
        try:
            seed = folder / "seed.json"
            seed.write_text(json.dumps({"images": [], "annotations": [], "categories": [
                {"id": 1, "name": "cat"}], "info": {"v": 1}}))
            read_coco(store, seed)
            src = folder / "fuzz.json"
            src.write_text(text, encoding="utf-8", errors="surrogatepass")
            before = _dump(store.path)
            try:
                read_coco(store, src, check_images=False, strict=strict)
            except FormatError as exc:
                assert str(src) in str(exc)
                assert _dump(store.path) == before
                return
            try:
                write_coco(store, folder / "out.json")
            except VisionStudioError as exc:
                assert "annotation" in str(exc)
                return
            with contextlib.redirect_stdout(io.StringIO()):
                COCO(str(folder / "out.json"))
        finally:
            store.close()


@SETTINGS
@given(doc=_document(), strict=st.booleans())
def test_fuzzed_coco_documents(doc, strict):
    _check(json.dumps(doc, allow_nan=True), strict)


@settings(max_examples=60, deadline=None, database=None)
@given(text=st.one_of(st.text(max_size=40), st.sampled_from([
    "[" * 3000, "{" * 5000 + "}" * 5000, '{"images": [' + "9" * 5000 + "]}",
    '{"images": [], "annotations": {}}', "\ufeff{}", '{"images": [NaN]}'])))
def test_fuzzed_text(text):
    _check(text, strict=False)
