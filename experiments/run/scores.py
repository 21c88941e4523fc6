"""Scores computed from metrics rows (one row per update and seed, as in metrics.jsonl).

MMER, POPGym's score (Morad et al., "POPGym: Benchmarking Partially Observable Reinforcement
Learning", ICLR 2023; also reported by Lu et al., NeurIPS 2023, for S5 vs GRU): the *max-mean
episodic reward*. For one training run (one seed), take the mean return of the episodes that ended
in each training batch (here: each update's rollout, the `return_mean` metric), then the maximum
of these means over training. POPGym scales every task's rewards so that an episode's return lies
in [-1, 1], so MMER is comparable across tasks; tables report its mean (and spread) over seeds.
"""

import math
from collections import defaultdict

import numpy as np


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
