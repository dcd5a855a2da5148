"""Export a training configuration to run on another machine (issue 16).

:func:`export_remote` writes ``<name>.config.json`` (the :class:`TrainConfig`, through
its own JSON serialisation) and ``<name>.commands.txt`` holding the exact command lines
of ``docs/distributed.md``: a short check on one GPU, the run on one GPU, the run on
``N`` GPUs of one machine (``vision-studio train ... --nproc-per-node N`` and the same
with ``torchrun --standalone``) and, for several machines, torchrun's c10d rendezvous
form run on every node. The command lines are built by :func:`command_lines` as argument
lists (printed with :func:`shlex.join`, POSIX shell quoting); the tests parse them with
the real parsers of ``vision_studio.cli`` and ``torch.distributed.run``.

The commands name the project file and the config by their file names: they are run
from inside a copy of the project folder (the ``.vsproj`` file and its images, with the
same layout) holding the config file. Qt-free.
"""
from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Collection

from vision_studio.core.outputs import atomic_write_text, check_output
from vision_studio.core.training.config import TrainConfig

RDZV_PORT = 29400
"""The rendezvous port of the multi-node form (torchrun's documented example port)."""
HOST = "HOST"
"""Placeholder for the first node's address in the multi-node command."""
CONFIG_SUFFIX = ".config.json"
COMMANDS_SUFFIX = ".commands.txt"


@dataclass(frozen=True)
class CommandLines:
    """The command lines of an exported configuration, as argument lists.

    Attributes:
        check: One GPU, one epoch of 5 steps: does the set-up work?
        single: The run on one GPU (one process).
        local: The run on ``nproc_per_node`` GPUs of one machine (``vision-studio``'s
            own launcher), or ``None`` for one GPU.
        local_torchrun: The same with ``torchrun --standalone``, or ``None``.
        multi_node: torchrun on every node with the c10d rendezvous, or ``None`` for
            one node.
    """

    check: list[str]
    single: list[str]
    local: list[str] | None
    local_torchrun: list[str] | None
    multi_node: list[str] | None


def safe_name(text: str, default: str = "train") -> str:
    """A file-name stem from a run name: letters, digits, ``-``, ``_``, ``.`` kept,
    other characters become ``-`` (``"ssd try 2"`` → ``"ssd-try-2"``)."""
    stem = re.sub(r"[^A-Za-z0-9._-]+", "-", text.strip()).strip("-.")
    return stem or default


def command_lines(project: str, config: str, nproc_per_node: int = 1, nnodes: int = 1, *,
                  run_id: str = "vision-studio", host: str = HOST) -> CommandLines:
    """Build the command lines that train ``config`` on ``project``.

    Args:
        project: The project file as the commands name it (e.g. ``"cells.vsproj"``).
        config: The config file as the commands name it.
        nproc_per_node: Processes (GPUs) per machine, >= 1.
        nnodes: Machines, >= 1.
        run_id: torchrun's ``--rdzv-id`` (the same on every node) and the multi-node
            run folder ``runs/<run_id>`` (an explicit ``--out``, as the docs advise).
        host: The first node's address in ``--rdzv-endpoint``.

    Returns:
        The :class:`CommandLines`.

    Raises:
        ValueError: ``nproc_per_node`` or ``nnodes`` below 1.
    """
    if nproc_per_node < 1 or nnodes < 1:
        raise ValueError(f"GPUs per node ({nproc_per_node}) and nodes ({nnodes}) must be >= 1")
    train = ["train", "--project", project, "--config", config]
    single = ["vision-studio", *train]
    check = [*single, "--epochs", "1", "--max-steps-per-epoch", "5"]
    local = local_torchrun = multi = None
    n = str(nproc_per_node)
    if nproc_per_node > 1:
        local = [*single, "--nproc-per-node", n]
        local_torchrun = ["torchrun", "--standalone", "--nproc-per-node", n, "-m", "vision_studio", *train]
    if nnodes > 1:
        multi = ["torchrun", "--nnodes", str(nnodes), "--nproc-per-node", n, "--rdzv-backend", "c10d",
                 "--rdzv-endpoint", f"{host}:{RDZV_PORT}", "--rdzv-id", run_id,
                 "-m", "vision_studio", *train, "--out", f"runs/{run_id}"]
    return CommandLines(check, single, local, local_torchrun, multi)


def commands_text(cfg: TrainConfig, lines: CommandLines, project_path: str | Path, config_name: str,
                  nproc_per_node: int = 1, nnodes: int = 1) -> str:
    """The text of the commands file: what to copy, then each command line.

    Args:
        cfg: The exported configuration (its weights decide a note).
        lines: From :func:`command_lines`.
        project_path: The project file on this machine (named as the folder to copy).
        config_name: The config file's name.
        nproc_per_node, nnodes: As given to :func:`command_lines`.
    """
    project_path = Path(project_path)
    out = [f"Vision Studio: train {cfg.arch} ({cfg.task}) on another machine",
           "",
           "1. Install Vision Studio there (scripts/install.sh or `pip install .`).",
           f"2. Copy the project folder too: {project_path.parent}",
           f"   (the project file {project_path.name} with its images, keeping the folder layout:",
           "   image paths are relative to the project folder).",
           f"3. Put {config_name} inside that folder (if it is not there already) and run the commands\n"
           "   below from it.",
           ""]
    out += _notes(cfg, nproc_per_node * nnodes)
    sections = [("Check that it runs (one GPU, 5 steps):", lines.check),
                ("Train on one GPU:", lines.single),
                (f"Train on {nproc_per_node} GPUs of this machine:", lines.local),
                ("The same with torchrun itself:", lines.local_torchrun),
                (f"On each of the {nnodes} machines ({nproc_per_node} GPUs each; {HOST} = the first machine's "
                 "address, reachable by all; the project folder on storage every machine sees at the same "
                 "path):", lines.multi_node)]
    for title, argv in sections:
        if argv is not None:
            out += [title, "    " + shlex.join(argv), ""]
    if lines.multi_node is None:
        out += ["Several machines: export again with more than one node, or see docs/distributed.md.", ""]
    out.append("Details: docs/distributed.md (learning rate scaling, resuming, Slurm).")
    return "\n".join(out) + "\n"


def _notes(cfg: TrainConfig, processes: int) -> list[str]:
    """Notes on the weights (a local file to copy, library weights to download) and the
    learning rate of a distributed run."""
    out: list[str] = []
    if cfg.weights and (Path(cfg.weights).suffix or "/" in cfg.weights or "\\" in cfg.weights):
        out += [f"Note: the starting weights are a file on this machine ({cfg.weights}).",
                "Copy it too and change \"weights\" in the config to its path there.", ""]
    elif cfg.weights:
        out += [f"Note: the run starts from the library weights {cfg.weights} of {cfg.arch}: the other",
                "machine downloads them on first use (needs internet) unless they are in its cache.", ""]
    if processes > 1:
        out += [f"Note: \"lr\" is the rate for one process's batch; with {processes} processes the optimizer "
                f"runs at lr x {processes}", "(the linear scaling rule, docs/distributed.md).", ""]
    return out


@dataclass(frozen=True)
class Exported:
    """What :func:`export_remote` wrote: ``config`` and ``commands`` file paths, the
    :class:`CommandLines` and the commands file's text."""

    config: Path
    commands: Path
    lines: CommandLines
    text: str


def export_paths(folder: str | Path, name: str) -> tuple[Path, Path]:
    """``(<folder>/<name>.config.json, <folder>/<name>.commands.txt)``."""
    folder = Path(folder)
    return folder / f"{name}{CONFIG_SUFFIX}", folder / f"{name}{COMMANDS_SUFFIX}"


def export_remote(cfg: TrainConfig, folder: str | Path, name: str, project_path: str | Path, *,
                  nproc_per_node: int = 1, nnodes: int = 1, overwrite: bool = False,
                  protected: Collection[str | Path] = ()) -> Exported:
    """Write the config and the commands file into ``folder`` (created if missing).

    Args:
        cfg: The configuration (written without ``out_dir``: a folder of this machine).
        folder: Where both files go.
        name: Their common stem (:func:`safe_name` is applied).
        project_path: The project file on this machine.
        nproc_per_node, nnodes: See :func:`command_lines`.
        overwrite: The user agreed to replace existing files.
        protected: Paths never replaced (:func:`vision_studio.core.outputs.protected_paths`).

    Returns:
        The :class:`Exported` files and text.

    Raises:
        OutputExistsError: a file exists and ``overwrite`` is false (nothing written).
        ProtectedPathError: a path is the project file or one of its images.
        ValueError: see :func:`command_lines`.
        OSError: the folder cannot be written.
    """
    name = safe_name(name)
    config_path, commands_path = export_paths(folder, name)
    for path in (config_path, commands_path):
        check_output(path, overwrite=overwrite, protected=protected)
    lines = command_lines(Path(project_path).name, config_path.name, nproc_per_node, nnodes, run_id=name)
    data = cfg.to_dict()
    data["out_dir"] = None
    exported = TrainConfig.from_dict(data)
    text = commands_text(exported, lines, project_path, config_path.name, nproc_per_node, nnodes)
    Path(folder).mkdir(parents=True, exist_ok=True)
    atomic_write_text(config_path, exported.to_json() + "\n", protected=protected)
    atomic_write_text(commands_path, text, protected=protected)
    return Exported(config_path, commands_path, lines, text)
