"""Scores computed from metrics rows (one row per update and seed, as in metrics.jsonl).

MMER, POPGym's score (Morad et al., "POPGym: Benchmarking Partially Observable Reinforcement
Learning", ICLR 2023; also reported by Lu et al., NeurIPS 2023, for S5 vs GRU): the *max-mean
episodic reward*. For one training run (one seed), take the mean return of the episodes that ended
in each training batch (here: each update's rollout, the `return_mean` metric), then the maximum
of these means over training. POPGym scales every task's rewards so that an episode's return lies
in [-1, 1], so MMER is comparable across tasks; tables report its mean (and spread) over seeds.

A run's training return by spans of env steps (`span_returns`), from its run directory:

    python -m experiments.run.scores RUN_DIR [--span 10000]
"""

import dataclasses
import math
from collections import defaultdict
from pathlib import Path

import numpy as np
import tyro


def per_seed(rows: list[dict], key: str) -> dict[int, np.ndarray]:
    """`{seed: values[U]}` of `key` in update order, NaN where missing or non-finite."""
    values: dict[int, list[tuple[int, float]]] = defaultdict(list)
    for row in rows:
        value = row.get(key)
        value = math.nan if value is None else float(value)
        values[row["seed"]].append((row["update"], value))
    return {s: np.array([v for _, v in sorted(vals)]) for s, vals in sorted(values.items())}


def mmer(rows: list[dict]) -> list[float]:
    """Max-mean episodic reward of each seed (NaN for a seed that never finished an episode)."""
    return [_nanmax(v) for v in per_seed(rows, "return_mean").values()]


def final_return(rows: list[dict], fraction: float = 0.1) -> list[float]:
    """Mean of `return_mean` over the last `fraction` of updates (at least one), per seed."""
    out = []
    for values in per_seed(rows, "return_mean").values():
        tail = values[-max(1, round(fraction * len(values))) :]
        out.append(_nanmean(tail))
    return out


def mean_std(values: list[float]) -> tuple[float, float]:
    """Mean and (population) standard deviation over the finite values; NaN if none."""
    finite = [v for v in values if math.isfinite(v)]
    if not finite:
        return math.nan, math.nan
    return float(np.mean(finite)), float(np.std(finite))


def _nanmax(values: np.ndarray) -> float:
    finite = values[np.isfinite(values)]
    return float(finite.max()) if finite.size else math.nan


def _nanmean(values: np.ndarray) -> float:
    finite = values[np.isfinite(values)]
    return float(finite.mean()) if finite.size else math.nan


def span_returns(rows: list[dict], span: int) -> dict[int, list[tuple[int, float]]]:
    """Per seed, `[(span end, mean return)]`: the mean return of the episodes that ended in
    each span of `span` env steps (each update's `return_mean` weighed by its `episodes`, the
    update counted in the span of its last env step `env_steps`), for the spans where one did."""
    sums: dict[int, dict[int, list[float]]] = defaultdict(lambda: defaultdict(lambda: [0.0, 0]))
    for row in rows:
        count, value = row.get("episodes") or 0, row.get("return_mean")
        if count > 0 and value is not None and math.isfinite(value):
            cell = sums[row["seed"]][(row["env_steps"] - 1) // span]
            cell[0] += value * count
            cell[1] += count
    return {
        seed: [((k + 1) * span, total / count) for k, (total, count) in sorted(spans.items())]
        for seed, spans in sorted(sums.items())
    }


@dataclasses.dataclass(frozen=True)
class Args:
    """The run and the span."""

    run_dir: tyro.conf.Positional[Path]
    """A run directory of any trainer (its metrics.jsonl)."""
    span: int = 10000
    """Env steps per span."""


def main(argv: list[str] | None = None) -> None:
    from experiments.run.run_dir import RunDir  # the scores themselves need no run directory

    args = tyro.cli(Args, args=argv, description=__doc__)
    rows = RunDir.open(args.run_dir).read_metrics()
    for seed, spans in span_returns(rows, args.span).items():
        shown = ", ".join(f"{end // 1000:g}k {mean:.2f}" for end, mean in spans)
        print(f"seed {seed}, training return by span to: {shown}")


if __name__ == "__main__":
    main()
