"""Plots of the world-model command line (PNG, matplotlib's Agg backend via experiments.plots).

- `training_curves`: loss terms against updates (mean over seeds, min-max band);
- `frame_strip`: ground-truth query frames above the frames the model generated, a few episodes;
- `mse_vs_horizon`: per-frame generation MSE against the step of the query horizon, one curve
  per run (S4WM vs RSSM vs TSSM vs the memoryless baseline in `experiments.world_model_eval`).
"""

from collections import defaultdict
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from experiments.run.plots import band

TRAINING_KEYS = ("loss", "recon", "reward", "kl", "kl_dyn", "grad_norm")


def per_update(rows: list[dict], key: str) -> tuple[np.ndarray, np.ndarray]:
    """`(updates[U], values[U, N])` of `key` from metrics rows (NaN where missing)."""
    table: dict[int, dict[int, float]] = defaultdict(dict)
    for row in rows:
        value = row.get(key)
        table[row["update"]][row["seed"]] = np.nan if value is None else float(value)
    updates = sorted(table)
    seeds = sorted({s for values in table.values() for s in values})
    values = np.array([[table[u].get(s, np.nan) for s in seeds] for u in updates])
    return np.array(updates), values.reshape(len(updates), len(seeds))


def training_curves(rows: list[dict], path: Path, title: str = "") -> Path | None:
    """Writes the loss terms' curves to `path`; None when there are no rows."""
    if not rows:
        return None
    fig, axes = plt.subplots(2, 3, figsize=(12, 6.5))
    for ax, key in zip(axes.flat, TRAINING_KEYS, strict=True):
        band(ax, *per_update(rows, key))
        ax.set(title=key, xlabel="update")
        if key in ("loss", "recon", "grad_norm"):
            ax.set_yscale("log")
        ax.grid(alpha=0.3)
    fig.suptitle(title)
    return save_figure(fig, path)


def frame_strip(
    truth: np.ndarray,
    imagined: np.ndarray,
    last_context: np.ndarray,
    context_length: int,
    path: Path,
    columns: int = 10,
    title: str = "",
) -> Path:
    """Ground truth above generated frames for each shown episode.

    Args:
        truth: `[H, S, h, w, 3]` recorded query frames in [0, 1].
        imagined: `[H, S, h, w, 3]` generated frames (clipped to [0, 1] for display).
        last_context: `[S, h, w, 3]` the last frame the model observed.
        context_length: `C`, so that columns are labelled with their time step.
        path: the PNG to write.
        columns: query frames per row, evenly spaced over the horizon (first and last included).
        title: figure title.
    """
    horizon, shown = truth.shape[:2]
    steps = np.unique(np.round(np.linspace(0, horizon - 1, min(columns, horizon))).astype(int))
    fig, axes = plt.subplots(
        2 * shown, len(steps) + 1, figsize=(1.1 * (len(steps) + 1), 2.3 * shown), squeeze=False
    )
    for episode in range(shown):
        for row, (frames, label) in enumerate(((truth, "truth"), (imagined, "imagined"))):
            line = axes[2 * episode + row]
            line[0].imshow(np.clip(last_context[episode], 0, 1), interpolation="nearest")
            line[0].set_ylabel(f"ep {episode}\n{label}", fontsize=7)
            for ax, step in zip(line[1:], steps, strict=True):
                ax.imshow(np.clip(frames[step, episode], 0, 1), interpolation="nearest")
                if episode == 0 and row == 0:
                    ax.set_title(f"t={context_length + step}", fontsize=7)
        axes[0, 0].set_title(f"context\nt={context_length - 1}", fontsize=7)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(title, fontsize=9)
    return save_figure(fig, path)


def mse_vs_horizon(curves: dict[str, np.ndarray], path: Path, title: str = "") -> Path:
    """One curve per label: `curves[label] = mse[N, H]` (seeds x horizon), band over seeds."""
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for label, mse in curves.items():
        mse = np.atleast_2d(np.asarray(mse, float))
        band(ax, np.arange(1, mse.shape[1] + 1), mse.T, label)
    ax.set(xlabel="query step (frames generated without observations)", ylabel="frame MSE")
    ax.set(title=title)
    ax.grid(alpha=0.3)
    ax.legend()
    return save_figure(fig, path)


def save_figure(fig, path: Path) -> Path:
    """Writes `fig` to `path` (folders created) and closes it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
