"""Plots of the world-model command line (PNG, matplotlib's Agg backend via experiments.plots).

- `training_curves`: loss terms against updates (mean over seeds, min-max band); the unclipped
  `kl` and the trained, clipped `kl_dyn` share one panel (they coincide wherever KL > kl_free);
- `frame_strip`: the episode's first frame (the start room a memory task asks about) and the last
  context frame, then ground-truth query frames above the frames the model generated, every
  shown column labelled with its time step;
- `mse_vs_horizon`: per-frame generation MSE against the step of the query horizon, one curve
  per run (S4WM vs RSSM vs TSSM vs the memoryless baseline in `experiments.world_model_eval`),
  with model-free baselines (`baseline_mse`) dashed and the axis from 0.
"""

import math
from collections import defaultdict
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from experiments.run.plots import band

TRAINING_PANELS = (
    ("loss",),
    ("recon",),
    ("reward",),
    ("kl", "kl_dyn"),
    ("continue",),
    ("grad_norm",),
)
"""Metrics per panel of training.png; several in one panel are drawn with distinct styles."""
CURVE_LABELS = {
    "kl": "kl: KL(posterior || prior), unclipped",
    "kl_dyn": "kl_dyn (= kl_rep): per-step max(KL, kl_free), trained",
}
LOG_SCALE = ("loss", "recon", "grad_norm")


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
    for ax, keys in zip(axes.flat, TRAINING_PANELS, strict=True):
        for key, style in zip(keys, ("-", "--"), strict=False):
            label = CURVE_LABELS.get(key) if len(keys) > 1 else None
            line = band(ax, *per_update(rows, key), label)
            if line is not None:
                line.set_linestyle(style)
        ax.set(title=" and ".join(keys), xlabel="update")
        if keys[0] in LOG_SCALE:
            ax.set_yscale("log")
        if len(keys) > 1 and ax.lines:
            ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
    fig.suptitle(title)
    return save_figure(fig, path)


def shown_steps(horizon: int, columns: int) -> np.ndarray:
    """Query steps drawn by `frame_strip`: every `k`-th from 0 (k as small as `columns` allows),
    plus the last."""
    stride = max(1, math.ceil((horizon - 1) / max(columns - 1, 1)))
    steps = np.arange(0, horizon, stride)
    return steps if steps[-1] == horizon - 1 else np.append(steps, horizon - 1)


def context_columns(
    last_context: np.ndarray, first_context: np.ndarray | None, context_length: int
) -> list[tuple[np.ndarray, str]]:
    """`[(frames[S, h, w, 3], label)]` of the observed frames drawn left of the query."""
    columns = []
    if first_context is not None and context_length > 1:
        columns.append((first_context, "context\nt=0 (start)"))
    columns.append((last_context, f"context\nt={context_length - 1}"))
    return columns


def frame_strip(
    truth: np.ndarray,
    imagined: np.ndarray,
    last_context: np.ndarray,
    context_length: int,
    path: Path,
    columns: int = 10,
    title: str = "",
    first_context: np.ndarray | None = None,
) -> Path:
    """Observed context frames, then ground truth above generated frames, for each episode.

    Args:
        truth: `[H, S, h, w, 3]` recorded query frames in [0, 1].
        imagined: `[H, S, h, w, 3]` generated frames (clipped to [0, 1] for display).
        last_context: `[S, h, w, 3]` the last frame the model observed.
        context_length: `C`, so that columns are labelled with their time step.
        path: the PNG to write.
        columns: at most about this many query frames per row (`shown_steps`): every k-th step
            from the first, and the last; the figure says so when steps are left out.
        title: figure title.
        first_context: `[S, h, w, 3]` the episode's first frame (t=0), drawn first when given.
    """
    horizon, shown = truth.shape[:2]
    steps = shown_steps(horizon, columns)
    observed = context_columns(last_context, first_context, context_length)
    width = len(observed) + len(steps)
    fig, axes = plt.subplots(
        2 * shown, width, figsize=(1.1 * width, 2.3 * shown + 0.4), squeeze=False
    )
    for episode in range(shown):
        for row, (frames, label) in enumerate(((truth, "truth"), (imagined, "imagined"))):
            line = axes[2 * episode + row]
            for ax, (context, _) in zip(line, observed, strict=False):
                ax.imshow(np.clip(context[episode], 0, 1), interpolation="nearest")
            line[0].set_ylabel(f"ep {episode}\n{label}", fontsize=7)
            for ax, step in zip(line[len(observed) :], steps, strict=True):
                ax.imshow(np.clip(frames[step, episode], 0, 1), interpolation="nearest")
        for ax, (_, label) in zip(axes[2 * episode], observed, strict=False):
            ax.set_title(label, fontsize=7)
        for ax, step in zip(axes[2 * episode, len(observed) :], steps, strict=True):
            ax.set_title(f"t={context_length + step}", fontsize=7)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(f"{title}\n{steps_note(steps, horizon, context_length)}", fontsize=9)
    return save_figure(fig, path)


def steps_note(steps: np.ndarray, horizon: int, context_length: int) -> str:
    """Which query steps the strip shows, e.g. `query t=8..39: 1 step in 4 shown, and the last
    (9 of 32)`."""
    span = f"query t={context_length}..{context_length + horizon - 1}"
    if len(steps) == horizon:
        return f"{span}: every step shown"
    stride = int(steps[1] - steps[0])
    last = ", and the last" if (horizon - 1) % stride else ""
    return f"{span}: 1 step in {stride} shown{last} ({len(steps)} of {horizon})"


def baseline_mse(obs: np.ndarray, context_length: int, horizon: int) -> dict[str, np.ndarray]:
    """Per-query-step MSE `[H]` of two predictors that need no model, for `mse_vs_horizon`.

    Args:
        obs: `[E, T, ...]` recorded episodes (uint8 images are scaled to [0, 1], as the
            evaluation does), `T >= context_length + horizon`.
        context_length: `C` observed frames.
        horizon: `H` query frames.

    Returns:
        `{"repeat last context frame": ..., "mean query frame": ...}`: the frame at `C - 1`
        held for the whole query, and the mean over episodes of each query step's frame.
    """
    obs = np.asarray(obs)
    frames = obs.astype(np.float32) / 255.0 if obs.dtype == np.uint8 else obs.astype(np.float32)
    query = frames[:, context_length : context_length + horizon]
    pixels = tuple(range(2, query.ndim))
    repeat = np.square(query - frames[:, context_length - 1 : context_length]).mean((0, *pixels))
    mean = np.square(query - query.mean(0, keepdims=True)).mean((0, *pixels))
    return {"repeat last context frame": repeat, "mean query frame": mean}


def mse_vs_horizon(
    curves: dict[str, np.ndarray],
    path: Path,
    title: str = "",
    baselines: dict[str, np.ndarray] | None = None,
) -> Path:
    """One curve per label: `curves[label] = mse[N, H]` (seeds x horizon), band over seeds;
    `baselines[label] = mse[H]` (e.g. `baseline_mse`) dashed; the MSE axis starts at 0."""
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for label, mse in curves.items():
        mse = np.atleast_2d(np.asarray(mse, float))
        band(ax, np.arange(1, mse.shape[1] + 1), mse.T, label)
    for (label, mse), color in zip((baselines or {}).items(), ("0.3", "0.6", "0.8"), strict=False):
        mse = np.asarray(mse, float).reshape(-1)
        ax.plot(np.arange(1, mse.size + 1), mse, "--", color=color, label=f"baseline: {label}")
    ax.set(xlabel="query step (frames generated without observations)", ylabel="frame MSE")
    ax.set(title=title)
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return save_figure(fig, path)


def save_figure(fig, path: Path) -> Path:
    """Writes `fig` to `path` (folders created) and closes it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
