"""The host side of a chunked training run: jitted chunks, then log, checkpoint, show progress.

Any agent fits that has `run_chunk(state, num_updates) -> (state, metrics)` with metrics a dict
of `[N, num_updates]` arrays (`N` seeds) holding at least `update` and `nonfinite_streak`
(PPO also `env_steps` and `return_mean`, shown by the progress bar; a world model has no return).

Chunk boundaries sit at multiples of `chunk_updates` counted from update 0 (the last chunk may be
shorter), and checkpoints are only written at chunk ends, so a resumed run replays exactly the
same compiled programs on exactly the same inputs as an uninterrupted one: on CPU both end
bitwise equal.
"""

import dataclasses
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import jax
import numpy as np

from experiments.run import checkpoint
from experiments.run.loggers import Logger
from experiments.run.progress import TrainingProgress
from experiments.run.run_dir import RunDir

FINISHED, PAUSED, NONFINITE, INTERRUPTED = "finished", "paused", "nonfinite", "interrupted"


@dataclasses.dataclass(frozen=True)
class LoopPlan:
    """When to stop, log and checkpoint."""

    total_updates: int
    """Updates of the whole run."""
    chunk_updates: int
    """Updates per jitted chunk."""
    checkpoint_every: int
    """Chunks between checkpoints (the last chunk is always checkpointed)."""
    keep_checkpoints: int
    """Newest checkpoints kept (0: all)."""
    max_nonfinite_streak: int
    """Stop once any seed had this many non-finite updates in a row."""
    steps_per_update: int
    """Environment steps per update and seed."""
    stop_after: int | None = None
    """Pause (checkpointed) after this many updates of this invocation."""
    speed_column: str = "steps_per_second"
    """Metrics column of the speed: `steps_per_update` x updates per second, all seeds
    together (a world model: `updates_per_second` with `steps_per_update=1`)."""


@dataclasses.dataclass
class LoopResult:
    """Where the loop stopped and why."""

    state: Any
    update: int
    status: str
    """finished, paused (stop_after reached), nonfinite or interrupted (a stop signal)."""
    last_checkpoint: Path | None
    message: str


def auto_chunk(total: int, chunks: int = 50) -> int:
    """Updates per chunk for about `chunks` chunks: the divisor of `total` nearest `total //
    chunks` within a factor of 2 of it, so that every chunk has one size and the run compiles
    one chunk program, not two (a shorter last chunk is a second compile of the whole update);
    `total // chunks` (at least 1) when `total` has no such divisor."""
    target = max(1, total // chunks)
    divisors = [d for d in range(max(1, target // 2), 2 * target + 1) if total % d == 0]
    return min(divisors, key=lambda d: (abs(d - target), d)) if divisors else target


def chunk_sizes(start: int, total: int, chunk: int) -> list[int]:
    """Chunk lengths from update `start` to `total`; boundaries at multiples of `chunk`."""
    sizes, update = [], start
    while update < total:
        size = min(chunk - update % chunk, total - update)
        sizes.append(size)
        update += size
    return sizes


def metric_rows(metrics: dict[str, np.ndarray], extra: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per update and seed from `[N, U]` metrics, with `extra` columns appended."""
    num_seeds, num_updates = metrics["update"].shape
    rows = []
    for t in range(num_updates):
        for seed in range(num_seeds):
            row = {"update": int(metrics["update"][seed, t]), "seed": seed}
            if "env_steps" in metrics:
                row["env_steps"] = int(metrics["env_steps"][seed, t])
            for key, value in metrics.items():
                row.setdefault(key, value[seed, t].item())
            rows.append({**row, **extra})
    return rows


def nonfinite_seed(metrics: dict[str, np.ndarray], limit: int) -> int | None:
    """The first seed whose non-finite streak reached `limit` in this chunk, or None."""
    hit = np.nonzero(metrics["nonfinite_streak"].max(axis=1) >= limit)[0]
    return int(hit[0]) if hit.size else None


def run_loop(
    state: Any,
    start: int,
    plan: LoopPlan,
    run_chunk: Callable[[Any, int], tuple[Any, dict]],
    run_dir: RunDir,
    meta: dict,
    progress: TrainingProgress,
    loggers: Sequence[Logger] = (),
    elapsed: float = 0.0,
    stop: Callable[[], bool] = lambda: False,
) -> LoopResult:
    """Trains from update `start` until the plan ends, pauses or stops on non-finite updates.

    Args:
        state: the training state at update `start` (all seeds).
        run_chunk: runs `n` updates (already compiled for every size of `chunk_sizes`).
        meta: stored with each checkpoint and required again on restore.
        elapsed: training seconds of earlier invocations (the `wall_time` column continues it).
        stop: True once the run should stop (a signal, see experiments.run.interrupt): the loop
            checkpoints the chunk just run and returns `interrupted`.
    """
    sizes = chunk_sizes(start, plan.total_updates, plan.chunk_updates)
    last = checkpoint.latest(run_dir.checkpoints)
    update, done_here = start, 0
    if sizes and stop():
        return LoopResult(state, update, INTERRUPTED, last, _interrupted(update, last))
    for index, size in enumerate(sizes):
        t0 = time.perf_counter()
        state, metrics = run_chunk(state, size)
        metrics = {k: np.asarray(v) for k, v in jax.device_get(metrics).items()}
        seconds = time.perf_counter() - t0
        elapsed += seconds
        update, done_here = update + size, done_here + size
        speed = metrics["update"].shape[0] * size * plan.steps_per_update / seconds
        rows = metric_rows(metrics, {plan.speed_column: speed, "wall_time": elapsed})
        run_dir.append_metrics(rows)
        for logger in loggers:
            logger.log(rows)
        progress.update(update * plan.steps_per_update, speed, _mean_return(metrics))
        bad_seed = nonfinite_seed(metrics, plan.max_nonfinite_streak)
        if bad_seed is not None:
            message = _nonfinite(update, bad_seed, plan.max_nonfinite_streak, last)
            return LoopResult(state, update, NONFINITE, last, message)
        pause = plan.stop_after is not None and done_here >= plan.stop_after
        final, interrupted = index == len(sizes) - 1, stop()
        if final or pause or interrupted or (index + 1) % plan.checkpoint_every == 0:
            last = checkpoint.save(
                run_dir.checkpoints, update, state, meta, keep=plan.keep_checkpoints
            )
        if interrupted and not final:
            return LoopResult(state, update, INTERRUPTED, last, _interrupted(update, last))
        if pause and not final:
            message = f"paused after {done_here} updates at update {update}; checkpoint {last}."
            return LoopResult(state, update, PAUSED, last, message)
    return LoopResult(state, update, FINISHED, last, f"finished {update} updates.")


def _nonfinite(update: int, seed: int, limit: int, last: Path | None) -> str:
    where = last if last is not None else "none"
    return (
        f"stopped at update {update}: seed {seed} had {limit} updates in a row with non-finite "
        f"losses or gradients (skipped). Last good checkpoint: {where}."
    )


def _interrupted(update: int, last: Path | None) -> str:
    where = f"checkpoint {last}" if last is not None else "no checkpoint yet"
    return f"interrupted at update {update}; {where}."


def _mean_return(metrics: dict[str, np.ndarray]) -> float:
    if "return_mean" not in metrics:
        return float("nan")
    last = metrics["return_mean"][:, -1]
    finite = last[np.isfinite(last)]
    return float(finite.mean()) if finite.size else float("nan")
