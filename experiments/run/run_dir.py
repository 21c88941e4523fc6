"""One run directory per training run: config, per-update metrics, summary, plots, checkpoints.

    RUN_DIR/
        config.json       everything needed to rebuild the run (see experiments.serialize)
        metrics.jsonl     one JSON object per update and seed (non-finite numbers as null)
        metrics.csv       the same rows as CSV (non-finite numbers as empty cells)
        summary.json      final statistics, status and the last checkpoint
        plots/*.png       learning curves
        checkpoints/      experiments.checkpoint folders

Rows are appended as training goes; after a kill, `truncate_metrics(update)` drops rows newer than
the checkpoint a resumed run starts from, so the files end as those of an uninterrupted run.

In a distributed run only process 0 writes (`writer`); the others read the same directory and
their write methods do nothing (their plots go to a scratch folder of their own).
"""

import csv
import json
import math
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from experiments.run.devices import barrier, is_writer

CONFIG = "config.json"
METRICS_JSONL = "metrics.jsonl"
METRICS_CSV = "metrics.csv"
SUMMARY = "summary.json"


class RunDirError(RuntimeError):
    """The run directory cannot be used as asked (exists already, or is not a run)."""


class RunDir:
    """Files of one run; every write is flushed (config and summary atomically).

    Only a `writer` (default: process 0 of a distributed run, see experiments.run.devices)
    writes; the others' writes do nothing.
    """

    def __init__(self, path: Path, writer: bool | None = None):
        self.path = Path(path)
        self.writer = is_writer() if writer is None else writer
        self._scratch: Path | None = None

    @classmethod
    def create(cls, path: Path, config: dict) -> "RunDir":
        """Starts a new run in `path` (created by the writer; refused if it already holds a
        run); every process returns once it exists."""
        path = Path(path)
        if (path / CONFIG).exists():
            raise RunDirError(
                f"{path} already holds a run; continue or extend it with --resume {path}, "
                f"branch from it with --from {path}, or choose another --run-dir."
            )
        barrier("run_dir:checked")  # the writer creates config.json once all have looked
        run = cls(path)
        if run.writer:
            path.mkdir(parents=True, exist_ok=True)
            write_json(run.config_path, config)
        barrier("run_dir:created")
        return run

    @classmethod
    def open(cls, path: Path) -> "RunDir":
        """An existing run (refused unless `path/config.json` exists)."""
        path = Path(path)
        if not (path / CONFIG).is_file():
            raise RunDirError(f"{path} is not a run directory (no {CONFIG}).")
        return cls(path)

    @property
    def config_path(self) -> Path:
        return self.path / CONFIG

    @property
    def checkpoints(self) -> Path:
        return self.path / "checkpoints"

    @property
    def plots(self) -> Path:
        """The plots folder (a process's own scratch folder where it is not the writer)."""
        if self.writer:
            return self.path / "plots"
        if self._scratch is None:
            self._scratch = Path(tempfile.mkdtemp(prefix="rlssm-plots-"))
        return self._scratch

    def drop_scratch(self) -> None:
        """Removes the scratch plots folder of a process that does not write (if made)."""
        if self._scratch is not None:
            shutil.rmtree(self._scratch, ignore_errors=True)
            self._scratch = None

    def read_config(self) -> dict:
        """The stored config."""
        return json.loads(self.config_path.read_text())

    def write_config(self, config: dict) -> None:
        """Replaces the stored config (atomically), e.g. with an extended budget."""
        if self.writer:
            write_json(self.config_path, config)

    def append_metrics(self, rows: list[dict[str, Any]]) -> None:
        """Appends rows (one per update and seed) to the JSONL and CSV files."""
        if not rows or not self.writer:
            return
        jsonl = self.path / METRICS_JSONL
        with open(jsonl, "a") as f:
            f.writelines(json.dumps(json_safe(row)) + "\n" for row in rows)
            f.flush()
        csv_path = self.path / METRICS_CSV
        new = not csv_path.exists() or csv_path.stat().st_size == 0
        columns = list(rows[0]) if new else _csv_columns(csv_path)
        with open(csv_path, "a", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=columns, extrasaction="raise")
            if new:
                writer.writeheader()
            writer.writerows({k: csv_cell(v) for k, v in row.items()} for row in rows)
            f.flush()

    def read_metrics(self) -> list[dict[str, Any]]:
        """Every metrics row so far (null for non-finite values)."""
        path = self.path / METRICS_JSONL
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]

    def truncate_metrics(self, last_update: int) -> None:
        """Drops every row with `update > last_update` from both metrics files."""
        if not self.writer:
            return
        rows = [r for r in self.read_metrics() if r["update"] <= last_update]
        for name in (METRICS_JSONL, METRICS_CSV):
            (self.path / name).unlink(missing_ok=True)
        self.append_metrics(rows)

    def write_summary(self, summary: dict) -> None:
        if self.writer:
            write_json(self.path / SUMMARY, summary)

    def read_summary(self) -> dict | None:
        path = self.path / SUMMARY
        return json.loads(path.read_text()) if path.exists() else None


def json_safe(value: Any) -> Any:
    """Replaces non-finite floats by None (JSON has no NaN or infinity)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    return value


def csv_cell(value: Any) -> Any:
    """A CSV cell: empty for None and non-finite floats."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return ""
    return value


def write_json(path: Path, data: Any) -> None:
    """Writes `data` as JSON atomically (a temporary file renamed over `path`)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w") as f:
        json.dump(json_safe(data), f, indent=2)
        f.write("\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _csv_columns(path: Path) -> list[str]:
    with open(path, newline="") as f:
        return next(csv.reader(f))
