"""The run folder (``config.json``, ``metrics.jsonl``, checkpoints) and the run's record
in the project store."""
from __future__ import annotations

import json
import logging
import os
import re
from datetime import datetime
from pathlib import Path
from typing import Any, Mapping

from vision_studio.core.training.config import TrainConfig
from vision_studio.core.types import RunRecord

log = logging.getLogger(__name__)

METRICS = "metrics.jsonl"
CONFIG = "config.json"


def default_run_dir(store: Any, config: TrainConfig) -> Path:
    """``<project file's folder>/runs/<YYYYmmdd-HHMMSS>-<task>-<arch>`` (made unique).

    Next to the project file, not under the project root: the root may be a dataset
    folder kept apart from the project (a shared or read-only copy), while the project
    file's folder is where the user chose to write."""
    arch = re.sub(r"[^A-Za-z0-9_.-]+", "_", config.arch)
    base = Path(store.path).resolve().parent / "runs" / f"{datetime.now():%Y%m%d-%H%M%S}-{config.task}-{arch}"
    out, n = base, 1
    while out.exists():
        n += 1
        out = base.with_name(f"{base.name}-{n}")
    return out


class RunFolder:
    """A run's folder and its store record.

    Args:
        path: The folder (created if missing).
        store: The project store (the run is recorded there), or ``None``.
    """

    def __init__(self, path: str | os.PathLike, store: Any = None) -> None:
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)
        self.store = store
        self.run_id: int | None = None

    @property
    def metrics_path(self) -> Path:
        return self.path / METRICS

    def write_config(self, config: TrainConfig) -> None:
        """Write ``config.json``."""
        config.save(self.path / CONFIG)

    def record(self, config: TrainConfig, metric_name: str, run_id: int | None = None) -> None:
        """Add the run to the store (or take over ``run_id`` when resuming) as running."""
        if self.store is None:
            return
        if run_id is not None:
            try:
                self.store.update_run(run_id, status="running", config=config.to_dict())
                self.run_id = run_id
                return
            except Exception as exc:  # the run was deleted from the project meanwhile
                log.warning("run %s not in the project any more (%s); recording a new one",
                            run_id, exc)
        out_dir = self._stored_dir()
        rec = self.store.add_run(RunRecord(
            name=config.name or self.path.name, task=config.task, out_dir=out_dir,
            config=config.to_dict(), status="running", metric_name=metric_name))
        self.run_id = rec.id

    def _stored_dir(self) -> str:
        rel = self.store.relative_path(self.path)
        return rel if not rel.startswith("..") else self.path.resolve().as_posix()

    def update(self, **fields: Any) -> None:
        """Update the store record (status, best_metric, metric_name); never raises."""
        if self.store is None or self.run_id is None:
            return
        try:
            self.store.update_run(self.run_id, **fields)
        except Exception as exc:  # recording must not kill a finished run
            log.warning("could not update run %s in the project: %s", self.run_id, exc)

    def append_metrics(self, line: Mapping[str, Any]) -> None:
        """Append one epoch's metrics (one JSON object per line)."""
        with open(self.metrics_path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(dict(line)) + "\n")
            fh.flush()

    def read_metrics(self) -> list[dict[str, Any]]:
        """Every line of ``metrics.jsonl`` (empty when none)."""
        if not self.metrics_path.is_file():
            return []
        return [json.loads(l) for l in self.metrics_path.read_text(encoding="utf-8").splitlines()
                if l.strip()]

    def truncate_metrics(self, epoch: int) -> list[dict[str, Any]]:
        """Keep the lines of epochs ``<= epoch`` (resume after a cancel); returns them."""
        keep = [m for m in self.read_metrics() if int(m.get("epoch", 0)) <= epoch]
        tmp = self.metrics_path.with_name(METRICS + ".tmp")
        tmp.write_text("".join(json.dumps(m) + "\n" for m in keep), encoding="utf-8")
        os.replace(tmp, self.metrics_path)
        return keep
