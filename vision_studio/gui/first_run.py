"""First-run checks of the installed app: is the NVIDIA GPU usable?

When torch cannot use CUDA on a machine that has an NVIDIA GPU (driver missing, driver
too old, CUDA initialisation error) or when the installed build is CPU-only, the user
gets ONE clear, non-modal notice saying that training and prediction run on the CPU
and what to do about it — never a crash. The notice is shown once per kind of problem
(remembered in QSettings). The check imports torch, so it runs on a worker thread and
reports back through a Qt signal (queued to the GUI thread).

The detection is split in plain functions (:func:`check_gpu`, :func:`gpu_problem`) so
that tests can feed a :class:`GpuStatus` describing any machine.
"""
from __future__ import annotations

import logging
import subprocess
import sys
import threading
import warnings
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QObject, QSettings, Qt, Signal
from PySide6.QtWidgets import QMessageBox, QWidget

log = logging.getLogger(__name__)

NVIDIA_PCI_VENDOR = "0x10de"
SETTINGS_KEY = "first_run/gpu_notice_shown"
DOCS_HINT = "See “GPU support” in docs/packaging.md (or the README) for the CUDA build."


@dataclass(frozen=True)
class GpuStatus:
    """What torch and the machine say about CUDA.

    Attributes:
        cuda_available: ``torch.cuda.is_available()``.
        torch_cuda: ``torch.version.cuda`` (``None`` for a CPU-only torch build).
        nvidia_gpu: An NVIDIA display device is present (PCI vendor 0x10de), driver or not.
        init_error: The warning torch gave while initialising CUDA, if any.
    """

    cuda_available: bool
    torch_cuda: str | None
    nvidia_gpu: bool
    init_error: str | None = None


def detect_nvidia_gpu(pci_root: Path = Path("/sys/bus/pci/devices")) -> bool:
    """Whether an NVIDIA display controller is present, even without its driver.

    Linux: a PCI device under ``pci_root`` with vendor ``0x10de`` and class ``0x03xxxx``
    (display controller; see the PCI code and ID assignment specification). Windows:
    a ``Win32_VideoController`` whose PNP device id has ``VEN_10DE`` (devices without a
    driver are listed as "Microsoft Basic Display Adapter" with their PCI id). Elsewhere
    ``False``.
    """
    if sys.platform == "win32":
        return _windows_has_nvidia()
    try:
        for dev in pci_root.iterdir():
            vendor = (dev / "vendor").read_text().strip().lower()
            klass = (dev / "class").read_text().strip().lower()
            if vendor == NVIDIA_PCI_VENDOR and klass.startswith("0x03"):
                return True
    except OSError:
        return False
    return False


def _windows_has_nvidia() -> bool:
    cmd = ["powershell", "-NoProfile", "-NonInteractive", "-Command",
           "Get-CimInstance Win32_VideoController | ForEach-Object { $_.PNPDeviceID }"]
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=15,
                             stdin=subprocess.DEVNULL,  # no console: an invalid handle
                             creationflags=getattr(subprocess, "CREATE_NO_WINDOW", 0)).stdout
    except (OSError, subprocess.SubprocessError):
        return False
    return "VEN_10DE" in out.upper()


def check_gpu(pci_root: Path = Path("/sys/bus/pci/devices")) -> GpuStatus:
    """Ask torch whether CUDA works, and the machine whether an NVIDIA GPU is there.

    Imports torch (a second or two): call it off the GUI thread (see :class:`GpuCheck`).
    """
    import torch

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            available = bool(torch.cuda.is_available())
        except Exception as exc:  # a broken driver may raise instead of warning
            available = False
            caught.append(warnings.WarningMessage(str(exc), RuntimeWarning, "", 0))
    errors = [str(w.message) for w in caught if "cuda" in str(w.message).lower()]
    nvidia = True if available else detect_nvidia_gpu(pci_root)
    return GpuStatus(available, torch.version.cuda, nvidia, errors[0] if errors else None)


def gpu_problem(status: GpuStatus) -> tuple[str, str] | None:
    """The notice for ``status``: ``(kind, message)``, or ``None`` when all is well
    (CUDA works, or there is no NVIDIA GPU to use)."""
    if status.cuda_available or not status.nvidia_gpu:
        return None
    cpu = "Vision Studio will train and predict on the CPU, which is much slower."
    if status.torch_cuda is None:
        return ("cpu_build", "This machine has an NVIDIA GPU, but this installation of "
                f"Vision Studio is the CPU-only build. {cpu} Install the GPU (CUDA) build to "
                f"use the GPU. {DOCS_HINT}")
    if status.init_error:
        return ("init_error", "This machine has an NVIDIA GPU, but CUDA could not be started:"
                f"\n\n{status.init_error}\n\n{cpu} Installing or updating the NVIDIA driver "
                f"(one that supports CUDA {status.torch_cuda}) usually fixes this.")
    return ("no_driver", "This machine has an NVIDIA GPU, but its driver is not installed (or "
            f"not loaded), so CUDA is unavailable. {cpu} Install the NVIDIA driver (one that "
            f"supports CUDA {status.torch_cuda}) and restart Vision Studio to use the GPU.")


def show_gpu_notice(parent: QWidget | None, status: GpuStatus,
                    store: QSettings | None = None) -> QMessageBox | None:
    """Show the GPU notice for ``status`` once (non-modal); ``None`` when nothing to say
    or when this kind of notice was shown before.

    Args:
        parent: The main window.
        status: From :func:`check_gpu`.
        store: Where "already shown" is remembered; default the app's QSettings.
    """
    problem = gpu_problem(status)
    if problem is None:
        return None
    kind, message = problem
    log.warning("GPU: %s", message.replace("\n", " "))
    if store is None:
        from vision_studio.gui.settings import settings
        store = settings()
    shown = store.value(SETTINGS_KEY, "")
    if shown == kind:
        return None
    store.setValue(SETTINGS_KEY, kind)
    box = QMessageBox(QMessageBox.Icon.Information, "GPU not used", message,
                      QMessageBox.StandardButton.Ok, parent)
    box.setObjectName("gpu_notice")
    box.setWindowModality(Qt.WindowModality.NonModal)  # the app is usable at once
    box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    box.show()
    return box


class GpuCheck(QObject):
    """Runs :func:`check_gpu` on a daemon thread; ``finished(GpuStatus)`` arrives on the
    GUI thread (queued signal). Keep a reference until it has finished.

    Signals:
        finished(object): the :class:`GpuStatus` (``None`` if the check itself failed).
    """

    finished = Signal(object)

    def start(self) -> None:
        """Start the check in the background."""
        threading.Thread(target=self._run, name="gpu-check", daemon=True).start()

    def _run(self) -> None:
        try:
            status: GpuStatus | None = check_gpu()
            log.info("GPU check: %s", status)
        except Exception as exc:  # a check must never take the app down
            log.warning("GPU check failed: %s", exc)
            status = None
        try:
            self.finished.emit(status)
        except RuntimeError:  # the window (our parent) was closed meanwhile
            pass


def start_first_run_checks(window: QWidget) -> GpuCheck:
    """Start the GPU check for ``window``; its notice (if any) is parented to it."""
    check = GpuCheck(window)
    check.finished.connect(
        lambda status: status is not None and show_gpu_notice(window, status))
    check.start()
    return check
