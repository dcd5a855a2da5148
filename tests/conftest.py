"""Shared fixtures: where the real datasets and weights are, and fresh project files.

The real data lives in ``../shared`` beside the repository (our machines and CI have it;
it is never copied into the repo). Tests that need it skip with a clear reason when it
is missing.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("VISION_STUDIO_SHARED", REPO.parent / "shared"))
DATA = SHARED / "data"
WEIGHTS = SHARED / "weights"
EFFICIENTNET_LITE0 = WEIGHTS / "tf_efficientnet_lite0_in1k_converted.pth"


def shared_dataset(name: str) -> Path:
    """Path of ``../shared/data/NAME``, or skip the test when it is not there."""
    path = DATA / name
    if not path.is_dir():
        pytest.skip(f"real dataset {name!r} not found at {path} (../shared/data is absent)")
    return path


@pytest.fixture
def data_dir():
    """``data_dir("rbc_coco")`` → the dataset folder (skips if absent)."""
    return shared_dataset


@pytest.fixture
def lite0_weights() -> Path:
    """The verified ImageNet weights of timm's ``tf_efficientnet_lite0`` (skips if absent)."""
    if not EFFICIENTNET_LITE0.is_file():
        pytest.skip(f"pretrained weights not found at {EFFICIENTNET_LITE0}")
    return EFFICIENTNET_LITE0


@pytest.fixture
def new_store(tmp_path):
    """A fresh, empty project file in ``tmp_path`` (closed after the test)."""
    from vision_studio.core.store import ProjectStore

    store = ProjectStore.create(tmp_path / "project.vsproj")
    yield store
    try:
        store.close()
    except Exception:  # already closed by the test
        pass
