"""Counted nouns (core.wording.plural), and no GUI text that can read "1 images": every
f-string of the GUI that puts a count before a plural noun goes through the helper."""
from __future__ import annotations

import ast
import re
from pathlib import Path

import vision_studio
from vision_studio.core.wording import plural, plural_of

NOUNS = {"images", "boxes", "annotations", "proposals", "predictions", "objects", "points",
         "steps", "tiles", "rows", "threads", "issues", "categories", "tags", "files",
         "epochs", "runs", "classes", "masks", "polygons", "labels", "checkpoints"}


def test_plural():
    assert plural(1, "image") == "1 image" and plural(2, "image") == "2 images"
    assert plural(0, "box") == "0 boxes" and plural(1, "box") == "1 box"
    assert plural(3, "new category") == "3 new categories" and plural_of("day") == "days"
    assert plural(1, "tagged image") == "1 tagged image"
    assert plural(1234, "class", grouped=True) == "1,234 classes"
    assert plural(1234, "row") == "1234 rows"
    assert plural(2, "child", "children") == "2 children"


def counted_plurals(root: Path) -> list[str]:
    """``file:line {expr} noun`` of every f-string with a plain ``{count}`` followed by a
    plural noun of :data:`NOUNS` (a float format such as ``{x:.1f} images/s`` is not a
    count)."""
    out = []
    for f in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(f.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.JoinedStr):
                continue
            for a, b in zip(node.values, node.values[1:]):
                if not (isinstance(a, ast.FormattedValue) and isinstance(b, ast.Constant)):
                    continue
                spec = ast.unparse(a.format_spec) if a.format_spec is not None else ""
                word = re.match(r" ([a-z]+)\b", str(b.value))
                if word and word.group(1) in NOUNS and not re.search(r"\.\d|%", spec):
                    out.append(f"{f.relative_to(root)}:{node.lineno} {{{ast.unparse(a.value)}}} "
                               f"{word.group(1)}")
    return out


def test_no_gui_text_puts_a_bare_count_before_a_plural_noun():
    gui = Path(vision_studio.__file__).parent / "gui"
    found = counted_plurals(gui)
    assert found == [], "use vision_studio.core.wording.plural: " + "; ".join(found)


def test_the_scanner_finds_one(tmp_path):
    (tmp_path / "m.py").write_text('n = 1\ntext = f"{n} images, {n:.1f} images/s"\n')
    assert counted_plurals(tmp_path) == ["m.py:2 {n} images"]


def test_import_summary_counts_in_the_singular():
    from vision_studio.core.io.report import ImportReport

    r = ImportReport("voc")
    r.images, r.annotations, r.categories, r.existing = 1, 1, 1, 1
    head = r.summary().splitlines()
    assert head[0] == "imported voc: 1 image, 1 annotation, 1 new category"
    assert head[1] == "labels for 1 image already in the project"
