"""Learning curves and score charts as PNG (matplotlib, Agg backend, no display needed).

Curves are drawn from metrics rows (one per update and seed): the mean over seeds as a line and
the spread over seeds (min to max) as a band.
"""

import math
from collections import defaultdict
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

TRAINING_KEYS = ("loss", "value_loss", "entropy", "approx_kl", "clip_fraction", "grad_norm")


def by_update(rows: list[dict], key: str) -> tuple[np.ndarray, np.ndarray]:
    """`(env_steps[U], values[U, N])` of `key` (NaN where missing), updates in order."""
    steps, values = {}, defaultdict(dict)
    for row in rows:
        steps[row["update"]] = row["env_steps"]
        value = row.get(key)
        values[row["update"]][row["seed"]] = math.nan if value is None else float(value)
    updates = sorted(steps)
    seeds = sorted({s for v in values.values() for s in v})
    table = np.array([[values[u].get(s, math.nan) for s in seeds] for u in updates])
    return np.array([steps[u] for u in updates]), table.reshape(len(updates), len(seeds))


def band(ax, x: np.ndarray, values: np.ndarray, label: str | None = None):
    """Mean over seeds (line) and min-max over seeds (band); NaN entries are skipped. Returns
    the line (None when every value is NaN)."""
    finite = np.isfinite(values).any(axis=1)
    if not finite.any():
        return None
    x, values = x[finite], values[finite]
    line = ax.plot(x, np.nanmean(values, axis=1), label=label)[0]
    if values.shape[1] > 1:
        lo, hi = np.nanmin(values, axis=1), np.nanmax(values, axis=1)
        ax.fill_between(x, lo, hi, alpha=0.25, color=line.get_color(), linewidth=0)
    return line


def learning_curves(
    rows: list[dict], directory: Path, title: str = "", keys: tuple[str, ...] = TRAINING_KEYS
) -> list[Path]:
    """Writes `returns.png` and `training.png` (six metrics `keys`) into `directory`; returns
    their paths."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    if not rows:
        return []
    num_seeds = len({r["seed"] for r in rows})
    fig, ax = plt.subplots(figsize=(7, 4.5))
    steps, returns = by_update(rows, "return_mean")
    band(ax, steps, returns, "mean episodic return")
    ax.set(xlabel="environment steps per seed", ylabel="return", title=title)
    ax.text(0.01, 0.01, f"{num_seeds} seed(s); band: min-max", transform=ax.transAxes)
    ax.grid(alpha=0.3)
    paths = [_save(fig, directory / "returns.png")]
    fig, axes = plt.subplots(2, 3, figsize=(12, 6.5))
    for ax, key in zip(axes.flat, keys, strict=True):
        band(ax, *by_update(rows, key))
        ax.set(title=key, xlabel="environment steps per seed")
        ax.grid(alpha=0.3)
    fig.suptitle(title)
    paths.append(_save(fig, directory / "training.png"))
    return paths


def score_chart(
    table: dict[str, dict[str, tuple[float, float]]],
    path: Path,
    ylabel: str,
    title: str | None = None,
):
    """Grouped bars: `table[task][method] = (mean, std)`; one group per task, one bar per
    method (legend). The title defaults to `ylabel` (the suite's names the score and the
    budget: env steps per seed and seeds)."""
    tasks = list(table)
    methods = sorted({m for row in table.values() for m in row})
    width = 0.8 / max(len(methods), 1)
    fig, ax = plt.subplots(figsize=(max(6, 0.9 * len(tasks) * max(len(methods), 1)), 4.5))
    x = np.arange(len(tasks))
    for i, method in enumerate(methods):
        mean = [table[t].get(method, (math.nan, math.nan))[0] for t in tasks]
        std = [table[t].get(method, (math.nan, math.nan))[1] for t in tasks]
        ax.bar(x + (i - (len(methods) - 1) / 2) * width, mean, width, yerr=std, label=method)
    ax.set_xticks(x, tasks, rotation=30, ha="right")
    ax.set(ylabel=ylabel, title=ylabel if title is None else title)
    ax.axhline(0.0, color="black", linewidth=0.5)
    ax.legend()
    ax.grid(axis="y", alpha=0.3)
    return _save(fig, Path(path))


def _save(fig, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
