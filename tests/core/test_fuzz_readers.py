"""Property-based fuzzing (hypothesis) of the Pascal VOC and labelme readers and of the
CLI ``import`` (issue 13, "Guard it").

Properties, for any generated input:

* the reader returns an :class:`ImportReport`, or raises a
  :class:`~vision_studio.core.errors.VisionStudioError` (``FormatError``...) whose message
  names a file of the input; never another exception;
* after a failed import the project is exactly as it was (counts, problems, integrity);
* the CLI exits 0, or 1 with one ``error: FILE: problem`` line naming the file; never a
  traceback.

The inputs mix well-formed structure with hostile values: over-long, absolute and
climbing file names, unsupported encodings, non-finite and huge numbers, non-text labels
and flag keys, junk types in every field, and raw byte mutations of valid files. The
example counts keep the default run to about 40 s on one core; ``VS_FUZZ_SCALE=10``
runs ten times more.
"""
from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from vision_studio.cli import main  # noqa: E402
from vision_studio.core.errors import VisionStudioError  # noqa: E402
from vision_studio.core.io.labelme import read_labelme  # noqa: E402
from vision_studio.core.io.report import ImportReport  # noqa: E402
from vision_studio.core.io.voc import read_voc  # noqa: E402
from vision_studio.core.store import ProjectStore  # noqa: E402
from vision_studio.core.types import Annotation, ImageRecord  # noqa: E402

SCALE = max(1, int(os.environ.get("VS_FUZZ_SCALE", "1")))
def fuzz(examples: int) -> settings:
    """Settings of one property: reproducible (derandomized), no example database, no
    per-example deadline (the machine is shared), ``examples`` x ``VS_FUZZ_SCALE``."""
    return settings(max_examples=examples * SCALE, deadline=None, derandomize=True,
                    database=None, suppress_health_check=[
                        HealthCheck.too_slow, HealthCheck.data_too_large,
                        HealthCheck.filter_too_much])

# ------------------------------------------------------------------ strategies
_safe_text = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
                     max_size=30)
_names = st.one_of(
    st.sampled_from(["a.png", "b.png", "missing.png", "", " a.png ", "../a.png", "../../x.png",
                     "/etc/passwd", "C:\\\\img\\\\a.png", "sub/../a.png", "a.png/", ".", ".."]),
    st.integers(250, 6000).map(lambda n: "n" * n + ".png"),
    _safe_text,
)
_numbers = st.one_of(
    st.integers(-10, 60).map(str), st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(["", "abc", "1e400", "-0", "9" * 400, "0x10", " 5 ", "nan", "1,5"]),
    st.integers(-(10 ** 30), 10 ** 30).map(str),
)
_json_scalar = st.one_of(st.none(), st.booleans(), st.integers(-(10 ** 20), 10 ** 20),
                         st.floats(allow_nan=True, allow_infinity=True), _safe_text)
_json_any = st.recursive(_json_scalar, lambda kids: st.one_of(
    st.lists(kids, max_size=4), st.dictionaries(_safe_text, kids, max_size=4)), max_leaves=12)


def _xml_escape(text: str) -> str:
    return (text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .encode("utf-8", "surrogatepass").decode("utf-8", "replace"))


@st.composite
def voc_documents(draw) -> bytes:
    """A VOC XML file: valid skeleton, hostile values, optional byte mutation."""
    decl = draw(st.sampled_from(["", '<?xml version="1.0"?>', '<?xml version="1.0" '
                                 'encoding="UTF-7"?>', '<?xml version="1.0" encoding="latin-1"?>',
                                 '<?xml version="1.0" encoding="no-such-codec"?>',
                                 '<?xml version="1.0" encoding="utf-16"?>']))
    parts = [f"<filename>{_xml_escape(draw(_names))}</filename>"]
    if draw(st.booleans()):
        w, h = draw(_numbers), draw(_numbers)
        parts.append(f"<size><width>{_xml_escape(w)}</width><height>{_xml_escape(h)}</height>"
                     "<depth>3</depth></size>")
    for _ in range(draw(st.integers(0, 4))):
        box = "".join(f"<{t}>{_xml_escape(draw(_numbers))}</{t}>"
                      for t in ("xmin", "ymin", "xmax", "ymax") if draw(st.integers(0, 9)))
        flags = "".join(f"<{f}>{_xml_escape(draw(_safe_text))}</{f}>"
                        for f in ("difficult", "truncated", "pose") if draw(st.booleans()))
        parts.append(f"<object><name>{_xml_escape(draw(_safe_text))}</name>{flags}"
                     f"<bndbox>{box}</bndbox></object>")
    raw = (decl + "<annotation>" + "".join(parts) + "</annotation>").encode("utf-8", "replace")
    return _mutate(draw, raw)


def _mutate(draw, raw: bytes) -> bytes:
    """Sometimes cut, flip or insert bytes (the file may then be anything)."""
    kind = draw(st.integers(0, 5))
    if kind == 1 and raw:
        return raw[: draw(st.integers(0, len(raw)))]
    if kind == 2 and raw:
        i = draw(st.integers(0, len(raw) - 1))
        return raw[:i] + bytes([raw[i] ^ draw(st.integers(1, 255))]) + raw[i + 1:]
    if kind == 3:
        i = draw(st.integers(0, len(raw)))
        return raw[:i] + draw(st.binary(max_size=16)) + raw[i:]
    return raw


@st.composite
def labelme_documents(draw) -> bytes:
    """A labelme JSON file: labelme's structure with junk in any field."""
    def field(good):
        return draw(st.one_of(good, _json_any)) if draw(st.integers(0, 3)) == 0 else draw(good)

    point = st.lists(st.one_of(st.floats(-50, 100), st.integers(-10 ** 400 // 10 ** 380, 10 ** 20)),
                     min_size=2, max_size=2)
    shape = st.fixed_dictionaries({
        "label": st.one_of(_safe_text, st.sampled_from(["cat", "__ignore__", " dog "]), _json_scalar),
        "points": st.lists(point, max_size=6),
        "shape_type": st.sampled_from(["polygon", "rectangle", "circle", "line", "point",
                                       "mask", None, "weird", 5]),
        "group_id": st.one_of(st.none(), st.integers(0, 3), _json_any),
        "flags": st.one_of(st.dictionaries(_safe_text, _json_scalar, max_size=3), _json_any),
    })
    doc = {
        "version": "5.4.1",
        "flags": field(st.dictionaries(st.sampled_from(["", " ", " a b ", "night", "x"]) | _safe_text,
                                       st.booleans(), max_size=4)),
        "shapes": field(st.lists(shape, max_size=4)),
        "imagePath": field(_names),
        "imageData": field(st.one_of(st.none(), st.sampled_from(["", "!!notbase64", "aGVsbG8="]))),
        "imageWidth": field(st.sampled_from([40, 30, 0, -1, None, 1e300])),
        "imageHeight": field(st.sampled_from([30, 40, 0, None])),
    }
    text = json.dumps(doc, allow_nan=True)
    if draw(st.integers(0, 8)) == 0:
        text = "[" * 3000 + "]" * 3000
    return _mutate(draw, text.encode("utf-8", "surrogatepass"))


# ------------------------------------------------------------------ fixtures
@contextlib.contextmanager
def _workspace():
    """A folder with two real images and a project holding one of them, labelled."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "images").mkdir()
        (root / "ann").mkdir()
        for name in ("a.png", "b.png"):
            Image.fromarray(np.full((30, 40, 3), 90, np.uint8)).save(root / "images" / name)
        shutil.copy(root / "images" / "a.png", root / "ann" / "a.png")  # for labelme
        store = ProjectStore.create(root / "p.vsproj")
        im = store.add_image(ImageRecord(path="images/b.png", width=40, height=30))
        cat = store.add_category("cat")
        store.add_annotation(Annotation(im.id, cat.id, (1, 1, 5, 5)))
        try:
            yield root, store
        finally:
            store.close()


def _state(store: ProjectStore) -> tuple:
    return (store.image_count(), store.annotation_count(),
            tuple((c.id, c.name) for c in store.categories()), len(store.problems()),
            tuple(sorted(store.all_image_tags().items())))


def _fuzz_reader(docs: list[bytes], suffix: str, read) -> Path:
    """Write ``docs`` as ``ann/f<i><suffix>`` in a fresh workspace, run
    ``read(store, root)`` and check the properties; returns the workspace's (removed)
    root."""
    with _workspace() as (root, store):
        for i, raw in enumerate(docs):
            (root / "ann" / f"f{i}{suffix}").write_bytes(raw)
        before = _state(store)
        try:
            report = read(store, root)
        except VisionStudioError as exc:
            assert str(root) in str(exc) or "annotation" in str(exc), f"names no file: {exc}"
            assert _state(store) == before, "a failed import changed the project"
            assert store.integrity_check() == "ok"
            return root
        assert isinstance(report, ImportReport)
        assert "\n" not in "".join(str(s) for s in report.skipped + report.notes)
        report.summary()
    return root


# ------------------------------------------------------------------ properties
@fuzz(120)
@given(docs=st.lists(voc_documents(), min_size=1, max_size=3), strict=st.booleans(),
       check=st.booleans(), on_existing=st.sampled_from(["add", "replace", "skip"]))
def test_voc_reader_imports_or_names_the_file(docs, strict, check, on_existing):
    _fuzz_reader(docs, ".xml", lambda store, root: read_voc(
        store, root / "ann", root / "images", strict=strict, check_images=check,
        on_existing=on_existing))


@fuzz(120)
@given(docs=st.lists(labelme_documents(), min_size=1, max_size=3), strict=st.booleans(),
       embedded=st.booleans(), on_existing=st.sampled_from(["add", "replace", "skip"]))
def test_labelme_reader_imports_or_names_the_file(docs, strict, embedded, on_existing):
    _fuzz_reader(docs, ".json", lambda store, root: read_labelme(
        store, root / "ann", strict=strict, write_embedded=embedded, on_existing=on_existing))
    assert not Path("/etc/passwd.vs").exists()  # an absolute imagePath is never written


@fuzz(40)
@given(fmt=st.sampled_from(["voc", "labelme"]), data=st.data(), strict=st.booleans(),
       new_project=st.booleans())
def test_cli_import_exits_cleanly(fmt, data, strict, new_project):
    raw = data.draw(voc_documents() if fmt == "voc" else labelme_documents())
    with _workspace() as (root, store):
        store.close()
        (root / "ann" / ("f.xml" if fmt == "voc" else "f.json")).write_bytes(raw)
        project = root / ("new.vsproj" if new_project else "p.vsproj")
        before = None if new_project else _counts(project)
        args = ["import", "--format", fmt, str(root / "ann"), "--project", str(project), "--quiet"]
        if fmt == "voc":
            args += ["--image-dir", str(root / "images")]
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            rc = main(args + (["--strict"] if strict else []))
        assert rc in (0, 1), (rc, err.getvalue())
        assert "Traceback" not in err.getvalue()
        if rc == 1:
            lines = err.getvalue().strip().splitlines()
            assert len(lines) == 1 and lines[0].startswith("error: ") and str(root) in lines[0]
            if new_project:
                assert not project.exists() and not list(root.glob(".new.vsproj*"))
            else:
                assert _counts(project) == before
        else:
            assert project.exists()


def _counts(project: Path) -> tuple:
    with ProjectStore.open(project) as s:
        return _state(s) + (s.integrity_check(),)
