"""core.checkpoint (below training and evaluation): atomic write and read-back, errors
named per file, run-folder resolution, the model built back from the stored config dict
alone (no training import), and training.checkpoints re-using the same functions."""
from __future__ import annotations

import sys

import pytest
import torch

from vision_studio.core import checkpoint as ck
from vision_studio.core.types import Task


def _state(model: torch.nn.Module, **config) -> dict:
    cfg = {"task": Task.CLASSIFICATION, "arch": "timm:test_resnet", "image_size": 32, **config}
    return {"model": model.state_dict(), "config": cfg, "categories": [{"id": 4, "name": "red"},
                                                                       {"id": 9, "name": "blue"}],
            "num_classes": 2}


def test_model_built_back_from_the_stored_config(tmp_path):
    from vision_studio.core.models.registry import build_model

    built = build_model("timm:test_resnet", Task.CLASSIFICATION, 2, weights=None)
    run = tmp_path / "run"
    run.mkdir()
    ck.save_checkpoint(run / ck.LAST, _state(built.model))
    assert not list(run.glob(".*.tmp"))  # the temporary file was renamed
    back, info = ck.load_model(run)  # a run folder without best.pt: its last.pt
    assert (info.task, info.arch, info.image_size, info.unlabelled_as) == (Task.CLASSIFICATION,
                                                                          "timm:test_resnet", 32, "ignore")
    assert info.categories == ({"id": 4, "name": "red"}, {"id": 9, "name": "blue"})
    x = torch.rand(1, 3, 32, 32)
    built.model.eval()
    assert torch.equal(back.model(x), built.model(x)) and not back.model.training


def test_errors_name_the_file(tmp_path):
    with pytest.raises(ck.CheckpointError, match="no such checkpoint"):
        ck.read_checkpoint(tmp_path / "missing.pt")
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(ck.CheckpointError, match="junk.pt: not a readable checkpoint"):
        ck.read_checkpoint(junk)
    other = tmp_path / "other.pt"
    torch.save({"weights": 1}, other)
    with pytest.raises(ck.CheckpointError, match="not a Vision Studio training checkpoint"):
        ck.read_checkpoint(other)
    with pytest.raises(ck.CheckpointError, match="no checkpoint to resume from"):
        ck.find_checkpoint(tmp_path)
    wrong = tmp_path / "wrong.pt"
    torch.save(_state(torch.nn.Linear(2, 2)), wrong)
    with pytest.raises(ck.CheckpointError, match="do not fit timm:test_resnet"):
        ck.load_model(wrong)


def test_run_folder_prefers_best_and_training_reuses_these(tmp_path):
    from vision_studio.core.training import checkpoints as tck

    assert ck.checkpoint_file(tmp_path) == tmp_path / ck.LAST
    (tmp_path / ck.BEST).write_bytes(b"")
    assert ck.checkpoint_file(tmp_path) == tmp_path / ck.BEST
    assert ck.checkpoint_file(tmp_path / "x.pt") == tmp_path / "x.pt"

    assert tck.read_checkpoint is ck.read_checkpoint and tck.CheckpointError is ck.CheckpointError
    assert tck.save_checkpoint is ck.save_checkpoint and (tck.BEST, tck.LAST) == (ck.BEST, ck.LAST)


def test_the_module_imports_nothing_of_training():
    import subprocess

    code = ("import sys, vision_studio.core.checkpoint as c; "
            "print(any(m.startswith('vision_studio.core.training') for m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
