"""Distributed data-parallel training (``torch.distributed`` + ``torchrun``).

How a run is spread over ``N`` processes (one per GPU, or CPU processes with gloo):

* **Launch**: ``vision-studio train ... --nproc-per-node N`` calls torchrun's own entry
  (:func:`launch`: ``torch.distributed.run``, the elastic launcher, ``--standalone``) which
  starts ``N`` workers running ``python -m vision_studio train ...``; on a cluster run
  ``torchrun --nnodes ... --rdzv-backend c10d --rdzv-endpoint HOST:PORT
  --nproc-per-node N -m vision_studio train ...`` on every node (docs/distributed.md).
* **Process group**: :func:`init_from_env` reads torchrun's ``RANK`` / ``WORLD_SIZE`` /
  ``LOCAL_RANK``; NCCL when the run uses CUDA (``cuda:LOCAL_RANK``), gloo on CPU.
* **Model**: ``DistributedDataParallel`` (gradients averaged over the processes after
  every backward pass) over the parameters the transfer strategy trains in the current
  epoch (:class:`TrainableDDP`: built after the strategy froze what it freezes, rebuilt
  when ``gradual`` unfreezes a stage). ``SyncBatchNorm`` when ``model_options["sync_bn"]``
  is true (``--sync-bn``): CUDA only, a clear ``ConfigError`` on CPU / gloo with more
  than one process (:func:`check_sync_bn`); a no-op with one process.
* **Data**: :class:`ShardedEpochSampler` — the run's own epoch order (the same
  permutation in every process, a new one per ``set_epoch``), each process taking every
  ``N``-th position from its rank, padded by wrapping so that every process has the same
  number of batches: the sharding of ``torch.utils.data.DistributedSampler``
  (``indices[rank::N]``), kept inside the run's sampler so that each sample keeps its
  augmentation seed. With ``batch_size`` B per process, global batch ``t`` holds
  exactly the positions ``t*N*B .. (t+1)*N*B - 1`` of the order — the batch a single
  process with batch ``N*B`` would take.
* **Learning rate**: the linear scaling rule (Goyal et al. 2017, "Accurate, large
  minibatch SGD"): ``config.lr`` is the rate for one process's ``batch_size``; the
  optimizer runs at ``lr * N`` (the global batch is ``N * batch_size``). Resuming with
  another ``N`` rescales the restored rates by ``N_new / N_old``.
* **Rank 0 only** writes ``config.json``, ``metrics.jsonl``, ``last.pt`` / ``best.pt``,
  the run record in the project, prints the progress, and validates (on the whole
  validation set, itself; the other processes wait at the next collective). Its early
  stopping decision is broadcast.
* **Cancel**: Ctrl-C / SIGTERM sets each process's cancel token; before every batch the
  processes agree (:func:`any_rank`, an all-reduce MAX of one flag), so all stop at the
  same step and rank 0 writes a resumable ``last.pt`` (``world_size`` recorded in it).
  A mid-epoch checkpoint resumed with another number of processes restarts that epoch
  (its order of positions per process differs); at an epoch boundary resuming is exact.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Any, Iterator, Sequence

import torch

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DistInfo:
    """Where this process stands: ``rank`` of ``world_size``, ``local_rank`` on its node."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0


def info() -> DistInfo:
    """This process's place (rank 0 of 1 when no process group is initialised)."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return DistInfo(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", 0)))
    return DistInfo()


def world_size() -> int:
    """Number of processes of the run (1 when not distributed)."""
    return info().world_size


def is_main() -> bool:
    """True on rank 0 (and when not distributed)."""
    return info().rank == 0


def in_launcher_worker() -> bool:
    """Whether this process was started by torchrun (its environment has ``LOCAL_RANK``
    and a ``WORLD_SIZE``)."""
    return "LOCAL_RANK" in os.environ and "WORLD_SIZE" in os.environ


def init_from_env(device: str = "auto") -> DistInfo:
    """Initialise the process group from torchrun's environment (no-op when absent, when
    ``WORLD_SIZE`` is 1, or when already initialised).

    Args:
        device: The run's device setting: NCCL for CUDA (``auto`` with a GPU), else gloo.
    """
    import torch.distributed as dist

    if not in_launcher_worker() or int(os.environ["WORLD_SIZE"]) < 2 or dist.is_initialized():
        return info()
    cuda = device in ("auto", "cuda") and torch.cuda.is_available()
    if cuda:
        torch.cuda.set_device(int(os.environ["LOCAL_RANK"]))
    dist.init_process_group(backend="nccl" if cuda else "gloo")
    log.info("process group: rank %d of %d (%s)", dist.get_rank(), dist.get_world_size(), dist.get_backend())
    return info()


def shutdown() -> None:
    """Destroy the process group (after the run)."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def any_rank(flag: bool) -> bool:
    """True when ``flag`` is true in any process (all-reduce MAX); ``flag`` itself when
    not distributed. Every process must call it at the same point."""
    import torch.distributed as dist

    if world_size() < 2:
        return bool(flag)
    t = torch.tensor([1 if flag else 0], dtype=torch.int32, device=_collective_device())
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item())


def from_main(value: Any) -> Any:
    """Rank 0's ``value`` in every process (``broadcast_object_list``)."""
    import torch.distributed as dist

    if world_size() < 2:
        return value
    box = [value]
    dist.broadcast_object_list(box, src=0, device=_collective_device())
    return box[0]


def _collective_device() -> torch.device:
    import torch.distributed as dist

    return torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else torch.device("cpu")


def check_sync_bn(sync_bn: bool, device: torch.device) -> None:
    """Refuse ``sync_bn`` in a distributed run that does not use CUDA: PyTorch's
    ``SyncBatchNorm`` runs on GPUs only (its training forward raises on CPU tensors).

    Raises:
        ConfigError: ``sync_bn`` with more than one process on a non-CUDA device.
    """
    if sync_bn and world_size() > 1 and device.type != "cuda":
        from vision_studio.core.errors import ConfigError

        raise ConfigError(f"model_options.sync_bn: SyncBatchNorm needs CUDA GPUs (NCCL); this run has "
                          f"{world_size()} processes on {device.type} (gloo). Set sync_bn to false (--no-sync-bn) "
                          f"for a CPU run: each process then normalises with its own batch statistics")


def convert_sync_bn(model: torch.nn.Module) -> torch.nn.Module:
    """Every BatchNorm layer of ``model`` as a ``SyncBatchNorm`` (timm's converter:
    plain ``BatchNorm*d`` → ``torch.nn.SyncBatchNorm``, timm's ``BatchNormAct2d`` →
    ``SyncBatchNormAct`` keeping its activation, which torch's own converter would drop).
    Parameters and running statistics are the same tensors (the optimizer, the transfer
    plan and ``state_dict`` keys are unchanged); ``FrozenBatchNorm2d`` stays frozen."""
    from timm.layers import convert_sync_batchnorm

    return convert_sync_batchnorm(model)


def wrap_model(model: torch.nn.Module, device: torch.device, sync_bn: bool = False,
               find_unused: bool = False) -> "TrainableDDP | None":
    """The :class:`TrainableDDP` of ``model`` when distributed, else ``None`` (use
    ``model``). ``sync_bn`` converts the BatchNorm layers in place first (see
    :func:`check_sync_bn`, :func:`convert_sync_bn`). The wrapper shares the parameters:
    checkpoints keep saving ``model.state_dict()``."""
    if world_size() < 2:
        if sync_bn:
            log.info("sync_bn: one process, plain BatchNorm (the batch is already the global batch)")
        return None
    check_sync_bn(sync_bn, device)
    if sync_bn:
        convert_sync_bn(model)  # the top module is never a BatchNorm layer: converted in place
    return TrainableDDP(model, device, find_unused)


class TrainableDDP:
    """``DistributedDataParallel`` over the parameters that train *now*.

    DDP registers the parameters with ``requires_grad`` when it is built and expects a
    gradient for each of them in every backward pass; a transfer strategy sets
    ``requires_grad`` at the start of every epoch (``TransferPlan.apply``:
    ``feature_extraction`` / ``partial`` freeze the backbone, ``gradual`` unfreezes one
    stage after another). :meth:`module` therefore builds the DDP wrapper on first use
    and again whenever the set of trainable parameters changed since — after the
    strategy has set it, so DDP reduces exactly the trainable parameters (frozen ones are
    not registered; no ``find_unused_parameters`` traversal is needed for them). All
    processes apply the same plan at the same epoch, so they rebuild at the same step
    (DDP's constructor is a collective: it checks the shapes and broadcasts rank 0's
    parameters and buffers, which are equal anyway).

    Args:
        model: The model (its parameters are shared with the wrapper).
        device: The process's device (``cuda:LOCAL_RANK`` or CPU).
        find_unused: DDP's ``find_unused_parameters``: detectors, whose heads can skip a
            branch on a batch (e.g. no positive anchor).
    """

    def __init__(self, model: torch.nn.Module, device: torch.device, find_unused: bool = False) -> None:
        self.model, self.device, self.find_unused = model, device, find_unused
        self._ddp: torch.nn.Module | None = None
        self._trainable: tuple[bool, ...] | None = None
        self.builds = 0  # how many times the wrapper was (re)built

    def module(self) -> torch.nn.Module:
        """The DDP wrapper for the current ``requires_grad`` of the parameters."""
        trainable = tuple(p.requires_grad for p in self.model.parameters())
        if self._ddp is None or trainable != self._trainable:
            from torch.nn.parallel import DistributedDataParallel as DDP

            ids = [self.device.index if self.device.index is not None else torch.cuda.current_device()] \
                if self.device.type == "cuda" else None
            self._ddp = None  # the old reducer's hooks go with it
            self._ddp = DDP(self.model, device_ids=ids, find_unused_parameters=self.find_unused)
            self._trainable = trainable
            self.builds += 1
            log.debug("DDP over %d trainable parameter tensors (build %d)", sum(trainable), self.builds)
        return self._ddp


def shard_sampler(sampler: Any) -> Any:
    """The run's :class:`~.setup.EpochSampler` sharded for this process (itself when not
    distributed)."""
    n = world_size()
    if n < 2:
        return sampler
    return ShardedEpochSampler(sampler, info().rank, n)


class ShardedEpochSampler:
    """Positions ``rank, rank + N, rank + 2N ...`` of an epoch sampler's order (see the
    module docstring). ``set_epoch(epoch, start)`` skips the first ``start`` samples of
    *this process*.

    Args:
        base: The single-process ``EpochSampler`` (its order and sample seeds).
        rank, world: This process and the number of processes.
    """

    def __init__(self, base: Any, rank: int, world: int) -> None:
        self.base, self.rank, self.world = base, rank, world
        self.start = 0

    @property
    def epoch(self) -> int:
        return self.base.epoch

    def set_epoch(self, epoch: int, start: int = 0) -> None:
        """Use the order of ``epoch`` (as ``DistributedSampler.set_epoch``)."""
        self.base.set_epoch(epoch, 0)
        self.start = start

    def _positions(self) -> list[int]:
        n = self.base.n
        total = -(-n // self.world) * self.world  # padded to a multiple of N, as DistributedSampler
        return [p % n for p in range(self.rank, total, self.world)]

    def __iter__(self) -> Iterator[tuple[int, int]]:
        order = self.base.order()
        return iter([(order[p], self.base.sample_seed(p)) for p in self._positions()[self.start:]])

    def __len__(self) -> int:
        return max(0, len(self._positions()) - self.start)


def rescale_restored_lr(optimizer: Any, scheduler: Any, factor: float) -> None:
    """Multiply the restored learning rates (groups and schedule bases) by ``factor``."""
    if factor == 1.0:
        return
    scheduler.base_lrs = [b * factor for b in scheduler.base_lrs]
    for g in optimizer.param_groups:
        g["lr"] *= factor
        g["initial_lr"] = g.get("initial_lr", g["lr"]) * factor


def launch(argv: Sequence[str], nproc: int, extra: Sequence[str] = ()) -> tuple[int, str]:
    """Run ``python -m vision_studio ARGV`` in ``nproc`` processes with torchrun's elastic
    launcher on this machine (``--standalone``: a local rendezvous on a free port).

    Returns:
        ``(status, message)``: 0 and ``""`` when every worker succeeded, 130 when
        stopped by a signal, else 1 (torchrun prints which failed); the message is the
        line the command shows.
    """
    from torch.distributed import run as torchrun
    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError

    args = ["--standalone", "--nproc-per-node", str(nproc), *extra, "-m", "vision_studio", *argv]
    try:
        torchrun.main(args)
    except SignalException:  # Ctrl-C / SIGTERM: the workers got it too and stopped at the same step
        return 130, "stopped: the run folder's last.pt resumes it"
    except ChildFailedError as exc:
        return 1, f"error: a training process failed ({exc.get_first_failure()[1].message})"[:2000]
    return 0, ""


def strip_nproc(argv: Sequence[str]) -> list[str]:
    """``argv`` without ``--nproc-per-node N`` / ``--nproc-per-node=N``."""
    out, skip = [], False
    for a in argv:
        if skip:
            skip = False
            continue
        if a == "--nproc-per-node":
            skip = True
            continue
        if a.startswith("--nproc-per-node="):
            continue
        out.append(a)
    return out
