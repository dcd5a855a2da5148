"""Attaching a checkpoint trained elsewhere as a run (core/training/attach.py and
``vision-studio attach-run``), on real data: hymenoptera is imported into a "remote"
project where a tiny real run trains, and again into a "local" project whose categories
are numbered the other way round (bees 1, ants 2), as an independent import of the same
images would. The attached run must then evaluate on the local project exactly as the
source checkpoint does on its own project (``vision-studio evaluate``), and pre-label
with local category ids."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import torch

from tests.gui._eval_fixtures import shared_data, train_tiny
from vision_studio.cli import main
from vision_studio.core.checkpoint import CheckpointError, read_checkpoint
from vision_studio.core.evaluation.session import checkpoint_choices
from vision_studio.core.store import ProjectStore
from vision_studio.core.training import attach as A
from vision_studio.core.training.config import TrainConfig
from vision_studio.core.types import Annotation, ImageRecord

pytestmark = pytest.mark.usefixtures("one_thread")


def _sha(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def remote(tmp_path_factory):
    """``(remote project, its tiny run's best.pt)``: hymenoptera (tags), 3 training steps."""
    from vision_studio.core.io.imagefolder import read_imagefolder

    folder = tmp_path_factory.mktemp("remote")
    project = folder / "hym.vsproj"
    with ProjectStore.create(project) as store:
        read_imagefolder(store, shared_data("hymenoptera"))
    ckpt = train_tiny(project, folder / "runs" / "gpu-run", "classification", "timm:test_resnet",
                      image_size=32, steps=3)
    return project, ckpt


def _local(folder: Path, names=("bees", "ants")) -> Path:
    """hymenoptera imported afresh, its categories created first in the order ``names``."""
    from vision_studio.core.io.imagefolder import read_imagefolder

    path = folder / "local.vsproj"
    with ProjectStore.create(path) as store:
        for n in names:
            store.add_category(n)
        read_imagefolder(store, shared_data("hymenoptera"))
    return path


def test_attach_copies_maps_categories_and_records_a_finished_run(remote, tmp_path):
    _, ckpt = remote
    before, mtime = _sha(ckpt), ckpt.stat().st_mtime_ns
    with ProjectStore.open(_local(tmp_path)) as store:
        done = A.attach_checkpoint(store, ckpt)
        ids = {c.name: c.id for c in store.categories()}
        run = store.runs()[-1]
        choices = checkpoint_choices(store)
    assert _sha(ckpt) == before and ckpt.stat().st_mtime_ns == mtime  # the user's file: only read
    assert ids == {"bees": 1, "ants": 2}
    folder = done.checkpoint.parent
    assert folder.parent == tmp_path / "runs" and done.checkpoint.name == "best.pt"
    assert (run.id, run.name, run.status, run.task) == (done.run.id, "gpu-run", "finished", "classification")
    src, copy = read_checkpoint(ckpt), read_checkpoint(done.checkpoint)
    assert [c["name"] for c in src["categories"]] == ["ants", "bees"]
    assert copy["categories"] == [{"id": 2, "name": "ants"}, {"id": 1, "name": "bees"}]
    assert copy["run_id"] == run.id and copy["attached_from"]["sha256"] == before
    assert all(torch.equal(src["model"][k], copy["model"][k]) for k in src["model"])
    assert (run.best_metric, run.metric_name) == (src["best_metric"], src["metric_name"])
    assert str(ckpt.resolve()) in run.notes and before[:12] in run.notes
    cfg = TrainConfig.load(folder / "config.json")
    assert (cfg.categories, cfg.out_dir, cfg.name, cfg.arch) == ([2, 1], str(folder), "gpu-run", "timm:test_resnet")
    assert (folder / "metrics.jsonl").read_bytes() == (ckpt.parent / "metrics.jsonl").read_bytes()
    assert choices[0].path == done.checkpoint and choices[0].status == "finished"
    assert done.uncovered == ()


def _accuracy(project: Path, ckpt: Path, out: Path) -> dict:
    assert main(["evaluate", "--project", str(project), "--checkpoint", str(ckpt), "--split", "val",
                 "--out", str(out), "--overlays", "0", "--device", "cpu"]) == 0
    return json.loads((out / "metrics.json").read_text())


def test_attached_run_evaluates_and_prelabels_like_the_source(remote, tmp_path):
    project, ckpt = remote
    local = _local(tmp_path)
    assert main(["attach-run", "--project", str(local), "--checkpoint", str(ckpt), "--name", "from gpu"]) == 0
    with ProjectStore.open(local) as store:
        run = store.runs()[-1]
    folder = tmp_path / run.out_dir
    theirs = _accuracy(project, ckpt, tmp_path / "eval_src")
    ours = _accuracy(local, folder, tmp_path / "eval_attached")
    # the same images and labels under other category ids: the same numbers, class by class,
    # image by image (a model whose label k kept the other project's id k would swap them)
    for key in ("accuracy", "per_class", "confusion", "y_pred", "macro"):
        assert ours[key] == theirs[key], key
    per_image = lambda m: sorted((Path(i["path"]).name, i["true"], i["probs"]) for i in m["images"])
    assert per_image(ours) == per_image(theirs) and len(ours["images"]) == 153
    assert main(["prelabel", "--project", str(local), "--checkpoint", str(folder), "--images", "val",
                 "--score", "0", "--device", "cpu"]) == 0
    with ProjectStore.open(local) as store:
        props = store.proposals()
        val = {im.id for im in store.images("val")}
        ids = {c.id for c in store.categories()}
    assert props and {p.image_id for p in props} <= val and {p.category_id for p in props} <= ids
    assert {p.run for p in props} == {"from gpu"}


def test_project_categories_the_model_lacks_are_reported_not_an_error(remote, tmp_path):
    _, ckpt = remote
    with ProjectStore.open(_local(tmp_path, ("bees", "wasps", "ants"))) as store:
        done = A.attach_checkpoint(store, ckpt)
    assert done.uncovered == ("wasps",)
    assert read_checkpoint(done.checkpoint)["categories"] == [{"id": 3, "name": "ants"}, {"id": 1, "name": "bees"}]


def _nothing_added(store, tmp_path: Path) -> None:
    assert store.runs() == []
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_unknown_or_ambiguous_categories_name_the_file_and_the_names(remote, tmp_path):
    _, ckpt = remote
    with ProjectStore.create(tmp_path / "p.vsproj") as store:
        store.add_category("bees")
        store.add_category("Ants")  # not the same name: case is kept
        with pytest.raises(A.CategoryMismatchError) as err:
            A.attach_checkpoint(store, ckpt)
        assert str(err.value).startswith(f"{ckpt.resolve()}: the model predicts 'ants', not in this project")
        assert err.value.unknown == ("ants",) and err.value.ambiguous == ()
        store.add_category("ants")
        store.add_category("ants")
        with pytest.raises(A.CategoryMismatchError, match="'ants' name several categories"):
            A.attach_checkpoint(store, ckpt)
        _nothing_added(store, tmp_path)


def test_a_model_of_another_task_is_refused(remote, tmp_path):
    _, ckpt = remote
    with ProjectStore.create(tmp_path / "p.vsproj") as store:
        ants, _bees = store.add_category("ants"), store.add_category("bees")
        im = store.add_image(ImageRecord(path="a.png", width=10, height=10))
        store.add_annotation(Annotation(image_id=im.id, category_id=ants.id, bbox=(1, 1, 5, 5)))
        with pytest.raises(A.AttachError, match=r"best.pt: a classification model does not fit this "
                                                r"project's labels \(1 images with boxes\)"):
            A.attach_checkpoint(store, ckpt)
        _nothing_added(store, tmp_path)


def test_not_a_checkpoint_and_weights_that_do_not_fit(remote, tmp_path):
    _, ckpt = remote
    junk, other, wrong = tmp_path / "junk.pt", tmp_path / "other.pt", tmp_path / "wrong.pt"
    junk.write_text("hello")
    torch.save({"weights": torch.zeros(2)}, other)
    state = read_checkpoint(ckpt)
    state["num_classes"] = 3
    torch.save(state, wrong)
    with ProjectStore.open(_local(tmp_path)) as store:
        for path, msg in ((junk, "not a readable checkpoint"), (other, "not a Vision Studio training checkpoint"),
                          (wrong, "the weights do not fit timm:test_resnet")):
            with pytest.raises(CheckpointError, match=f"{path.name}: {msg}"):
                A.attach_checkpoint(store, path)
        _nothing_added(store, tmp_path)


def test_never_overwrites_and_never_attaches_a_run_twice(remote, tmp_path, monkeypatch):
    _, ckpt = remote
    with ProjectStore.open(_local(tmp_path)) as store:
        first = A.attach_checkpoint(store, ckpt)
        second = A.attach_checkpoint(store, ckpt)  # the same file again: a second, separate run
        assert first.checkpoint.parent != second.checkpoint.parent and len(store.runs()) == 2
        kept = _sha(first.checkpoint)
        with pytest.raises(A.AttachError, match="already a checkpoint of this project's run 'gpu-run'"):
            A.attach_checkpoint(store, first.checkpoint)
        # a run folder that exists already (another process made it meanwhile) is left alone
        monkeypatch.setattr(A, "default_run_dir", lambda _s, _c: first.checkpoint.parent)
        with pytest.raises(FileExistsError):
            A.attach_checkpoint(store, ckpt)
        assert _sha(first.checkpoint) == kept and len(store.runs()) == 2


def test_cli_errors_are_one_line(remote, tmp_path, capsys):
    _, ckpt = remote
    junk = tmp_path / "junk.pt"
    junk.write_text("hello")
    with ProjectStore.create(tmp_path / "p.vsproj") as store:
        store.add_category("bees")
    for path, problem in ((junk, "not a readable checkpoint"), (tmp_path / "missing.pt", "no such checkpoint"),
                          (ckpt, "the model predicts 'ants', not in this project")):
        capsys.readouterr()
        assert main(["attach-run", "--project", str(tmp_path / "p.vsproj"), "--checkpoint", str(path)]) == 1
        err = capsys.readouterr().err.strip()
        assert err.startswith(f"error: {path.resolve() if path is ckpt else path}: {problem}"), err
        assert "\n" not in err
