"""``vision-studio train``: run the same :class:`Trainer` as the GUI, with a console
progress bar (tqdm, on stderr) and the final metrics on stdout.

Settings come from ``--config CONFIG.json`` (see ``docs/train_config.md``), or from the
checkpoint with ``--resume``; the flags override them. Ctrl-C once stops cleanly after the
current batch (a resumable ``last.pt`` is written); twice aborts.

``--nproc-per-node N`` trains with ``N`` processes (DistributedDataParallel; torchrun's
launcher starts them, :mod:`vision_studio.core.training.distributed`); a process started
by ``torchrun ... -m vision_studio train ...`` joins the process group itself. In a
distributed process Ctrl-C and SIGTERM both stop every process at the same step.

``vision-studio attach-run`` adds a checkpoint trained elsewhere to the project as a
finished run (:mod:`vision_studio.core.training.attach`).
"""
from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path
from typing import Any

# flag -> TrainConfig field
OVERRIDES = {"task": "task", "arch": "arch", "weights": "weights", "epochs": "epochs",
             "batch_size": "batch_size", "lr": "lr", "image_size": "image_size",
             "device": "device", "seed": "seed", "out": "out_dir",
             "max_steps_per_epoch": "max_steps_per_epoch", "max_val_batches": "max_val_batches",
             "num_workers": "num_workers", "val_split": "val_split"}


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``train`` sub-command."""
    p = sub.add_parser("train", help="train a model on a project (headless)",
                       description="Train a model on a project. Flags override --config.")
    p.add_argument("--project", required=True, type=Path, help="project file (.vsproj)")
    p.add_argument("--config", type=Path, help="TrainConfig JSON (docs/train_config.md)")
    p.add_argument("--resume", type=Path, metavar="RUN",
                   help="run folder or checkpoint to continue (its config is the base)")
    p.add_argument("--task", choices=("classification", "detection", "instance_segmentation",
                                      "semantic_segmentation"))
    p.add_argument("--arch", help="architecture (see `vision-studio models`)")
    p.add_argument("--weights", help="library weights name or a weights/checkpoint file path")
    p.add_argument("--strategy", help="transfer strategy: scratch, feature_extraction, "
                                      "linear_probe, fine_tune, partial, gradual, discriminative")
    p.add_argument("--epochs", type=int)
    p.add_argument("--batch-size", type=int)
    p.add_argument("--lr", type=float, help="base learning rate")
    p.add_argument("--image-size", type=int, help="input size in pixels")
    p.add_argument("--device", choices=("auto", "cpu", "cuda", "mps"))
    p.add_argument("--seed", type=int)
    p.add_argument("--out", help="run folder (default: <project>/runs/<time>-<task>-<arch>)")
    p.add_argument("--max-steps-per-epoch", type=int, help="cap on optimizer steps per epoch")
    p.add_argument("--max-val-batches", type=int, help="cap on validation batches per epoch")
    p.add_argument("--num-workers", type=int, help="DataLoader worker processes")
    p.add_argument("--val-split", type=float, help="validation fraction when the project "
                                                   "has no validation split")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--nproc-per-node", type=int, metavar="N",
                   help="train with N processes on this machine (DistributedDataParallel: one per GPU, "
                        "or CPU processes with gloo); the learning rate scales with the global batch")
    p.add_argument("--sync-bn", action=argparse.BooleanOptionalAction, default=None,
                   help="with --nproc-per-node on CUDA GPUs: SyncBatchNorm (BatchNorm statistics over the "
                        "global batch; model_options.sync_bn); not available on the CPU (gloo)")
    p.set_defaults(func=_train)

    a = sub.add_parser("attach-run", help="add a checkpoint trained elsewhere to a project as a run",
                       description="Copy a best.pt / last.pt trained on another machine (or by another copy of "
                                   "the project) into a new run folder of the project, so that evaluate, prelabel, "
                                   "queue and the app's lists of runs can use it. Its categories must be "
                                   "categories of the project (matched by name). The file itself is only read.")
    a.add_argument("--project", required=True, type=Path, help="project file (.vsproj)")
    a.add_argument("--checkpoint", required=True, type=Path, help="best.pt / last.pt written by Vision Studio")
    a.add_argument("--name", help="the run's name (default: the run's own name, else the file's folder)")
    a.set_defaults(func=_attach)


def _attach(args: argparse.Namespace) -> int:
    from vision_studio.core.store import ProjectStore
    from vision_studio.core.training.attach import attach_checkpoint

    with ProjectStore.open(args.project) as store:
        done = attach_checkpoint(store, args.checkpoint, args.name)
    print(f"run: {done.run.name} (id {done.run.id}, {done.run.task})")
    print(f"checkpoint: {done.checkpoint}")
    if done.run.best_metric is not None:
        print(f"best {done.run.metric_name}: {done.run.best_metric:.4f}")
    if done.uncovered:
        print("not predicted by this model: " + ", ".join(done.uncovered))
    return 0


def build_config(args: argparse.Namespace) -> Any:
    """The run's TrainConfig: checkpoint or ``--config`` file or defaults, then the flags.

    Raises:
        ConfigError / CheckpointError: unreadable or invalid settings.
    """
    from vision_studio.core.training.config import TrainConfig

    if args.resume:
        from vision_studio.core.training.checkpoints import find_checkpoint, read_checkpoint

        base = TrainConfig.from_dict(read_checkpoint(find_checkpoint(args.resume))["config"])
    elif args.config:
        base = TrainConfig.load(args.config)
    else:
        base = TrainConfig.from_dict({"task": args.task or "classification"})
    changes = {field: getattr(args, flag) for flag, field in OVERRIDES.items()
               if getattr(args, flag, None) is not None}
    if args.task and args.task != base.task and not args.arch:
        changes["arch"] = ""  # the new task's default architecture
    if args.strategy:
        changes["strategy"] = {**base.strategy, "name": args.strategy}
    if getattr(args, "sync_bn", None) is not None:
        changes["model_options"] = {**base.model_options, "sync_bn": args.sync_bn}
    data = base.to_dict()
    data.update(changes)
    return TrainConfig.from_dict(data)


def _train(args: argparse.Namespace) -> int:
    from vision_studio.core.store import ProjectStore
    from vision_studio.core.training import CancelToken, Trainer
    from vision_studio.core.training import distributed as D

    config = build_config(args)
    if args.nproc_per_node and args.nproc_per_node > 1 and not D.in_launcher_worker():
        status, message = D.launch(D.strip_nproc(getattr(args, "argv", None) or sys.argv[1:]), args.nproc_per_node)
        if message:
            print(message, file=sys.stderr)
        return status
    dist = D.init_from_env(config.device)
    main = dist.rank == 0
    if main:
        _print_checks(config)
    cancel = CancelToken()
    progress = ConsoleProgress(enabled=not args.quiet and main)
    previous = _install_sigint(cancel, distributed=dist.world_size > 1)
    try:
        with ProjectStore.open(args.project, readonly=not main) as store:
            result = Trainer(store).fit(config, callbacks=[progress] if main else [], cancel=cancel,
                                        resume=args.resume)
    finally:
        progress.close()
        signal.signal(signal.SIGINT, previous)
        D.shutdown()
    if main:
        _print_result(result)
    return 130 if result.status == "stopped" else 0


def _print_checks(config: Any) -> None:
    """The Model tab's checks of the settings, on stderr (``check error: ...`` for a
    setting that makes the run pointless, e.g. a frozen backbone with random weights)."""
    from vision_studio.core.training.checks import config_checks

    for check in config_checks(config):
        print(f"check {check.severity}: {check.message}", file=sys.stderr)


def _install_sigint(cancel: Any, distributed: bool = False) -> Any:
    """Ctrl-C once: stop after this batch; twice: abort. Distributed: SIGINT and SIGTERM
    (torchrun forwards both) only stop, so that every process reaches the step where they
    agree to stop and rank 0 writes ``last.pt``."""
    def handler(signum: int, frame: Any) -> None:
        if cancel.cancelled and not distributed:
            raise KeyboardInterrupt
        if not cancel.cancelled:
            print("\nstopping after this batch (Ctrl-C again to abort)...", file=sys.stderr)
        cancel.cancel()

    try:
        if distributed:
            signal.signal(signal.SIGTERM, handler)
        return signal.signal(signal.SIGINT, handler)
    except ValueError:  # not the main thread (tests calling main() from a thread)
        return signal.getsignal(signal.SIGINT)


def _fmt(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _print_result(result: Any) -> None:
    print(f"run: {result.run_dir}")
    print(f"status: {result.status} after {result.epochs_done} epoch(s)")
    if result.best_metric is not None:
        print(f"best {result.metric_name}: {result.best_metric:.4f}")
    if result.history:
        last = result.history[-1]
        keys = [k for k in last if k not in ("epoch", "train_images", "train_time_s", "skipped")]
        print("last epoch: " + ", ".join(f"{k}={_fmt(last[k])}" for k in keys))
    if result.skipped:
        print(f"skipped images ({len(result.skipped)}): " + ", ".join(result.skipped[:10]))
    for name in ("best_checkpoint", "last_checkpoint"):
        if getattr(result, name):
            print(f"{name.replace('_', ' ')}: {getattr(result, name)}")


class ConsoleProgress:
    """A training callback drawing one tqdm bar per epoch on stderr (loss, lr, ETA)."""

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        self.bar: Any = None

    def __call__(self, event: Any) -> None:
        from vision_studio.core.training import events as ev

        if isinstance(event, ev.TrainStarted):
            self._write(f"training on {event.device}: {event.num_train} train / {event.num_val} "
                        f"val images ({event.split}); classes: {', '.join(event.class_names)}; "
                        f"run folder {event.run_dir}")
        elif isinstance(event, ev.EpochStart):
            self._open(event)
        elif isinstance(event, ev.BatchEnd) and self.bar is not None:
            self.bar.n = event.step
            self.bar.set_postfix(loss=f"{event.loss:.4f}", lr=f"{event.lr:.2g}",
                                 img_s=f"{event.images_per_s:.1f}", refresh=True)
        elif isinstance(event, ev.EpochEnd):
            self.close()
            shown = {k: v for k, v in event.metrics.items()
                     if k in ("train_loss", "val_loss", "accuracy", "mAP", "AP50", "mask_mAP",
                              "mIoU", "pixel_accuracy")}
            self._write(f"epoch {event.epoch}: " + ", ".join(f"{k}={_fmt(v)}"
                                                            for k, v in shown.items()))
        elif isinstance(event, ev.SampleSkipped):
            self._write(f"warning: skipped {event.source}: {event.reason}")
        elif isinstance(event, ev.TrainFailed):
            self.close()

    def _open(self, event: Any) -> None:
        self.close()
        if not self.enabled:
            return
        from tqdm import tqdm

        self.bar = tqdm(total=event.steps, desc=f"epoch {event.epoch}/{event.epochs}",
                        unit="batch", file=sys.stderr, dynamic_ncols=True, leave=False)

    def _write(self, text: str) -> None:
        from tqdm import tqdm

        tqdm.write(text, file=sys.stderr)

    def close(self) -> None:
        """Close the current bar, if any."""
        if self.bar is not None:
            self.bar.close()
            self.bar = None
