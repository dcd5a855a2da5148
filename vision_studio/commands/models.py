"""``vision-studio models [--task T] [--arch NAME] [--json]``: list the model registry."""
from __future__ import annotations

import argparse
import dataclasses
import json

from vision_studio.core.types import Task


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``models`` sub-command."""
    p = sub.add_parser("models", help="list the architectures you can train, per task")
    p.add_argument("--task", choices=Task.ALL, help="only the architectures of this task")
    p.add_argument("--arch", help="details of one architecture (also timm:<name>, "
                                  "fasterrcnn_timm:<name>, unet:<encoder>...)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=_models)


def _here(names: list[str]) -> str:
    return f"on this computer: {', '.join(names)}" if names else "download (needs internet)"


def _models(args: argparse.Namespace) -> int:
    from vision_studio.core.models.local_weights import local_weights, shipped_dirs
    from vision_studio.core.models.registry import architectures, get_arch

    specs = [get_arch(args.arch)] if args.arch else architectures(args.task)
    here = {s.name: local_weights(s) for s in specs}
    if args.json:
        print(json.dumps([dataclasses.asdict(s) | {"on_this_computer": here[s.name]}
                          for s in specs], indent=1))
        return 0
    if args.arch:
        spec = specs[0]
        for f in dataclasses.fields(spec):
            value = getattr(spec, f.name)
            if f.name == "weights":
                value = ", ".join(f"{w} (on this computer)" if w in here[spec.name] else w
                                  for w in value) or "(none; pick a local .pth file)"
            print(f"{f.name:17} {value}")
        return 0
    task = None
    for s in specs:
        if s.task != task:
            task = s.task
            print(f"\n{task}\n  {'architecture':42} {'params':>8}  {'speed':6}  "
                  f"{'default weights':24} description")
        print(f"  {s.name:42} {s.param_count:7.1f}M  {s.speed:6}  "
              f"{s.default_weights or '-':24} {s.description}"
              + (f"  [{_here(here[s.name])}]" if s.weights and here[s.name] else ""))
    print("\nAlso: timm:<any timm model>, fasterrcnn_timm:/maskrcnn_timm:/unet_timm:/fpn_timm:"
          "<timm model>, fasterrcnn_fpn:/maskrcnn_fpn:<torchvision ResNet/MobileNet>, "
          "unet:<smp encoder>. Details: vision-studio models --arch NAME")
    folders = ", ".join(str(d) for d in shipped_dirs()) or "none found"
    print(f"Pretrained weights on this computer are marked [on this computer: …]; "
          f"shipped weights folders: {folders} (docs/weights.md)")
    return 0
