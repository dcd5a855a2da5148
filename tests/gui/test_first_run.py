"""First-run GPU notice: detection on a PCI tree, the messages, shown once, non-modal."""
from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import QSettings, Qt
from PySide6.QtWidgets import QWidget

from vision_studio.gui.first_run import (GpuCheck, GpuStatus, check_gpu, detect_nvidia_gpu,
                                         gpu_problem, show_gpu_notice)


def _pci_device(root: Path, slot: str, vendor: str, klass: str) -> None:
    dev = root / slot
    dev.mkdir(parents=True)
    (dev / "vendor").write_text(vendor + "\n")
    (dev / "class").write_text(klass + "\n")


def test_nvidia_display_controller_is_detected_without_driver(tmp_path):
    _pci_device(tmp_path, "0000:00:02.0", "0x8086", "0x030000")  # Intel graphics
    assert not detect_nvidia_gpu(tmp_path)
    _pci_device(tmp_path, "0000:01:00.1", "0x10de", "0x040300")  # NVIDIA HDMI audio
    assert not detect_nvidia_gpu(tmp_path)
    _pci_device(tmp_path, "0000:01:00.0", "0x10de", "0x030200")  # NVIDIA 3D controller
    assert detect_nvidia_gpu(tmp_path)
    assert not detect_nvidia_gpu(tmp_path / "missing")


def test_check_gpu_agrees_with_torch_on_this_machine(tmp_path):
    import torch

    status = check_gpu(pci_root=tmp_path)  # an empty PCI tree: no NVIDIA device
    assert status.cuda_available == torch.cuda.is_available()
    assert status.torch_cuda == torch.version.cuda
    if not status.cuda_available:
        assert not status.nvidia_gpu and gpu_problem(status) is None


@pytest.mark.parametrize("status, kind, words", [
    (GpuStatus(False, "13.0", True), "no_driver", ["driver is not installed", "CPU", "13.0"]),
    (GpuStatus(False, "13.0", True, "CUDA driver initialization failed"), "init_error",
     ["could not be started", "CUDA driver initialization failed", "CPU"]),
    (GpuStatus(False, None, True), "cpu_build", ["CPU-only build", "CUDA"]),
])
def test_messages_say_what_happened_and_what_to_do(status, kind, words):
    got_kind, message = gpu_problem(status)
    assert got_kind == kind
    for w in words:
        assert w in message


@pytest.mark.parametrize("status", [GpuStatus(True, "13.0", True), GpuStatus(False, "13.0", False),
                                    GpuStatus(False, None, False)])
def test_no_notice_when_gpu_works_or_there_is_none(status):
    assert gpu_problem(status) is None


def test_notice_is_non_modal_and_shown_once_per_kind(qtbot, tmp_path):
    parent = QWidget()
    qtbot.addWidget(parent)
    store = QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat)
    status = GpuStatus(False, "13.0", True)
    box = show_gpu_notice(parent, status, store)
    assert box is not None and box.isVisible()
    assert box.windowModality() == Qt.WindowModality.NonModal
    assert "driver is not installed" in box.text()
    box.close()
    assert show_gpu_notice(parent, status, store) is None  # same problem: not again
    other = show_gpu_notice(parent, GpuStatus(False, "13.0", True, "CUDA error: busy"), store)
    assert other is not None and "CUDA error: busy" in other.text()
    other.close()
    assert show_gpu_notice(parent, GpuStatus(True, "13.0", True), store) is None


def test_background_check_reports_on_the_gui_thread(qtbot):
    parent = QWidget()
    qtbot.addWidget(parent)
    check = GpuCheck(parent)
    with qtbot.waitSignal(check.finished, timeout=60000) as blocker:
        check.start()
    assert isinstance(blocker.args[0], GpuStatus)
