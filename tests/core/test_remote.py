"""Exporting a configuration to run on another machine: the printed command lines go
through the real parsers (``vision_studio.cli`` and ``torch.distributed.run``), the
config file loads back equal, nothing existing is replaced without ``overwrite``."""
from __future__ import annotations

import shlex

import pytest

from vision_studio.cli import build_parser
from vision_studio.core.errors import OutputExistsError, ProtectedPathError
from vision_studio.core.training.config import TrainConfig
from vision_studio.core.training.remote import (command_lines, export_paths, export_remote,
                                                safe_name)


def _cli(argv: list[str]):
    """Parse a ``vision-studio ...`` argument list with the application's own parser."""
    assert argv[0] == "vision-studio"
    return build_parser().parse_args(argv[1:])


def _after_module(argv: list[str]) -> list[str]:
    i = argv.index("-m")
    assert argv[i + 1] == "vision_studio"
    return argv[i + 2:]


def test_single_machine_commands_parse_with_the_cli():
    lines = command_lines("cells.vsproj", "run 1.config.json", nproc_per_node=4)
    for argv in (lines.check, lines.single, lines.local):
        args = _cli(shlex.split(shlex.join(argv)))  # the printed line, as a shell splits it
        assert args.command == "train" and str(args.project) == "cells.vsproj"
        assert str(args.config) == "run 1.config.json"
    assert _cli(lines.local).nproc_per_node == 4 and _cli(lines.single).nproc_per_node is None
    check = _cli(lines.check)
    assert (check.epochs, check.max_steps_per_epoch) == (1, 5)
    one = command_lines("p.vsproj", "c.json")
    assert one.local is None and one.local_torchrun is None and one.multi_node is None


def test_torchrun_forms_parse_with_torchrun_and_the_cli():
    from torch.distributed.run import get_args_parser

    lines = command_lines("p.vsproj", "c.json", nproc_per_node=8, nnodes=2, run_id="r1", host="10.0.0.1")
    multi = get_args_parser().parse_args(lines.multi_node[1:])
    assert (multi.nnodes, multi.nproc_per_node) == ("2", "8")
    assert multi.rdzv_backend == "c10d" and multi.rdzv_endpoint == "10.0.0.1:29400"
    assert multi.rdzv_id == "r1" and multi.module and multi.training_script == "vision_studio"
    args = build_parser().parse_args(_after_module(lines.multi_node))
    assert str(args.project) == "p.vsproj" and args.out == "runs/r1"
    local = get_args_parser().parse_args(lines.local_torchrun[1:])
    assert local.standalone and local.nproc_per_node == "8"
    assert build_parser().parse_args(_after_module(lines.local_torchrun)).nproc_per_node is None
    with pytest.raises(ValueError):
        command_lines("p.vsproj", "c.json", nproc_per_node=0)


def test_export_writes_config_and_commands_and_refuses_to_overwrite(tmp_path):
    cfg = TrainConfig.from_dict({"task": "detection", "epochs": 7, "tiles": "on", "tile_overlap": 0.3,
                                 "out_dir": str(tmp_path / "here"), "weights": str(tmp_path / "w.pth")})
    project = tmp_path / "proj" / "cells.vsproj"
    out = export_remote(cfg, tmp_path / "export", "ssd try", project, nproc_per_node=2, nnodes=3)
    assert out.config == tmp_path / "export" / "ssd-try.config.json"
    loaded = TrainConfig.load(out.config)
    assert loaded.to_dict() == {**cfg.to_dict(), "out_dir": None}
    text = out.commands.read_text()
    assert text == out.text and "Copy the project folder too: " + str(project.parent) in text
    assert shlex.join(out.lines.local) in text and "--nproc-per-node 2" in text
    assert "--nnodes 3" in text and "w.pth" in text  # the weights file must be copied too
    assert "lr x 6" in text  # 2 GPUs x 3 machines: the learning rate scales
    library = export_remote(cfg.replace(weights="DEFAULT"), tmp_path / "lib", "l", project).text
    assert "library weights DEFAULT" in library and "lr x" not in library
    before = out.config.read_bytes()
    with pytest.raises(OutputExistsError):
        export_remote(cfg.replace(epochs=9), tmp_path / "export", "ssd try", project)
    assert out.config.read_bytes() == before  # refused: nothing changed
    again = export_remote(cfg.replace(epochs=9), tmp_path / "export", "ssd try", project, overwrite=True)
    assert TrainConfig.load(again.config).epochs == 9
    assert export_paths(tmp_path, "a") == (tmp_path / "a.config.json", tmp_path / "a.commands.txt")
    with pytest.raises(ProtectedPathError):
        export_remote(cfg, tmp_path, "x", project, overwrite=True, protected=[tmp_path / "x.commands.txt"])
    assert not (tmp_path / "x.config.json").exists()  # checked before anything is written
    assert safe_name("  ") == "train" and safe_name("a/b c") == "a-b-c"
