"""The figures and messages of issue 18 say what they show (fast: synthetic data, no training)."""

import io
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pytest
from rich.console import Console

from experiments import world_model_eval
from experiments.run import plots as run_plots
from experiments.run.progress import TrainingProgress
from experiments.run.run_dir import RunDirError
from experiments.world_model import plots

FIXTURES = Path(__file__).parent / "fixtures" / "old_runs"


@pytest.fixture
def figures(monkeypatch):
    """The figures the plot functions would save (kept open, returned instead of written)."""
    saved = []
    monkeypatch.setattr(plots, "save_figure", lambda fig, path: saved.append(fig) or path)
    monkeypatch.setattr(run_plots, "_save", lambda fig, path: saved.append(fig) or path)
    yield saved
    for fig in saved:
        plt.close(fig)


def titles(fig) -> list[str]:
    return [ax.get_title() for ax in fig.axes]


def test_frame_strip_shows_the_start_frame_and_names_every_shown_step(figures):
    horizon, shown, c = 11, 2, 8
    truth = np.zeros((horizon, shown, 4, 4, 3))
    start = np.full((shown, 4, 4, 3), 0.5)
    plots.frame_strip(truth, truth, truth[0], c, Path("x.png"), columns=4, first_context=start)
    fig = figures[0]
    assert np.allclose(fig.axes[0].images[0].get_array(), 0.5)  # t=0 drawn first
    steps = plots.shown_steps(horizon, 4)
    assert list(steps) == [0, 4, 8, 10]
    row = titles(fig)[: 2 + len(steps)]
    assert row == ["context\nt=0 (start)", "context\nt=7"] + [f"t={c + s}" for s in steps]
    assert titles(fig)[2 * len(row)] == row[0]  # each episode's columns are labelled
    assert "query t=8..18: 1 step in 4 shown, and the last (4 of 11)" in fig._suptitle.get_text()


def test_frame_strip_without_start_frame_and_short_horizon(figures):
    truth = np.zeros((5, 1, 4, 4, 3))
    plots.frame_strip(truth, truth, truth[0], 3, Path("x.png"))
    assert titles(figures[0]) == ["context\nt=2"] + [f"t={t}" for t in range(3, 8)] + [""] * 6
    assert "every step shown" in figures[0]._suptitle.get_text()


def test_baselines_of_the_mse_plot():
    obs = np.zeros((2, 6, 2, 2, 3), np.uint8)
    obs[0, 4:] = 255  # episode 0 turns white after its last context frame (C = 4)
    base = plots.baseline_mse(obs, context_length=4, horizon=2)
    assert np.allclose(base["repeat last context frame"], [0.5, 0.5])
    assert np.allclose(base["mean query frame"], [0.25, 0.25])


def test_mse_plot_has_baselines_and_starts_at_zero(figures):
    curves = {"S4WM (s5)": np.array([[0.30, 0.31, 0.32], [0.30, 0.32, 0.33]])}
    plots.mse_vs_horizon(curves, Path("x.png"), "t", {"repeat last context frame": [0.4] * 3})
    ax = figures[0].axes[0]
    assert ax.get_ylim()[0] == 0
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["S4WM (s5)", "baseline: repeat last context frame"]


def test_training_plot_tells_kl_from_kl_dyn(figures):
    rows = [
        {"update": u, "seed": 0, "loss": 1.0, "recon": 1.0, "reward": 0.1, "kl": k, "kl_dyn": k}
        | {"continue": 0.1, "grad_norm": 1.0}
        for u, k in enumerate([2.0, 1.5, 1.2], 1)
    ]
    plots.training_curves(rows, Path("x.png"))
    ax = next(ax for ax in figures[0].axes if ax.get_title() == "kl and kl_dyn")
    assert [line.get_linestyle() for line in ax.lines] == ["-", "--"]
    assert len(ax.get_legend().get_texts()) == 2


def test_score_chart_is_titled(figures):
    table = {"RepeatFirstEasy": {"gru": (0.5, 0.1), "s5": (0.9, 0.0)}}
    run_plots.score_chart(table, Path("x.png"), "MMER (1,000 env steps per seed, 2 seeds)")
    assert figures[0].axes[0].get_title() == "MMER (1,000 env steps per seed, 2 seeds)"


def test_world_model_eval_names_a_ppo_run():
    run = FIXTURES / "ppo-paused"
    with pytest.raises(RunDirError, match=r"is a PPO run \(config.json agent='ppo'\)") as err:
        world_model_eval.load_summary(run)
    assert f"python -m experiments.evaluate {run}" in str(err.value)


def test_progress_bar_is_not_cut_in_a_log_file():
    log = io.StringIO()
    description = "wm-cpu-small-Memory-Teleport-s4wm-s5"
    with TrainingProgress(1_000_000, console=Console(file=log), description=description) as bar:
        bar.update(123_456, 12_345.6, 0.5)
    line = log.getvalue().strip()
    assert line.startswith(description) and line.endswith("ETA -:--:--") and "…" not in line
