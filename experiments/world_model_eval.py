"""Compare world-model runs: a table of imagination metrics and overlaid MSE-vs-horizon curves.

    python -m experiments.world_model_eval RUN_DIR [RUN_DIR ...] --out compare.png

Reads each run's summary.json (written when `python -m experiments.world_model` finishes) and
draws every run's per-frame generation MSE over the query horizon in one plot (mean over seeds,
min-max band), labelled `model (backbone)`, e.g. S4WM (s5) vs RSSM (gru) vs the memoryless
baseline S4WM (none) on the same task. Runs on different tasks or context lengths can be drawn
together, but the table warns that they do not compare.
"""

import dataclasses
import sys
from pathlib import Path

import numpy as np
import tyro
from rich.console import Console
from rich.table import Table

from experiments.run.run_dir import RunDir, RunDirError
from experiments.world_model import plots as world_model_plots


@dataclasses.dataclass(frozen=True)
class CompareArgs:
    """Compare the long-term imagination of finished world-model runs."""

    run_dirs: tyro.conf.Positional[tuple[Path, ...]]
    """Run directories written by `python -m experiments.world_model`."""
    out: Path = Path("wm_compare.png")
    """Where to write the overlaid MSE-vs-horizon plot."""
    labels: tuple[str, ...] = ()
    """Curve labels, one per run (default: `model (backbone)`)."""

    def __post_init__(self) -> None:
        if not self.run_dirs:
            raise ValueError("give at least one run directory.")
        if self.labels and len(self.labels) != len(self.run_dirs):
            raise ValueError(f"{len(self.labels)} labels for {len(self.run_dirs)} runs.")


OTHER_AGENTS = {"ppo": "a PPO run", "dreamer": "a model-based agent's run"}
"""config.json `agent`s that `python -m experiments.evaluate` evaluates instead."""


def load_summary(path: Path) -> dict:
    """The summary of a finished, evaluated world-model run.

    Raises:
        RunDirError: not a run directory, a run of another agent (PPO, the model-based agent),
            or the run has no evaluation yet.
    """
    run = RunDir.open(path)
    agent = run.read_config().get("agent")
    if agent in OTHER_AGENTS:
        raise RunDirError(
            f"{path} is {OTHER_AGENTS[agent]} (config.json agent={agent!r}), not a world-model "
            f"run; evaluate it with `python -m experiments.evaluate {path}`."
        )
    summary = run.read_summary()
    if summary is None or summary.get("eval") is None:
        raise RunDirError(f"{path} has no evaluation yet (it finishes with one).")
    return summary


def label_of(summary: dict) -> str:
    """`model (backbone)`."""
    return f"{summary['model']} ({summary['core']})"


def settings(summary: dict) -> tuple:
    """What must agree for two runs' curves to compare."""
    e = summary["eval"]
    return summary["task"], e["context_length"], e["horizon"], summary["dataset"]["seed"]


def compare(args: CompareArgs, console: Console) -> dict[str, dict]:
    """Prints the table and writes the plot; returns `{label: summary}`."""
    summaries = [load_summary(path) for path in args.run_dirs]
    labels = list(args.labels) or [label_of(s) for s in summaries]
    if len(set(labels)) != len(labels):
        labels = [
            f"{label} [{path.name}]" for label, path in zip(labels, args.run_dirs, strict=True)
        ]
    tasks = sorted({s["task"] for s in summaries})
    table = Table("run", "seeds", "updates", "MSE", "q1", "q2", "q3", "q4", "reward acc")
    table.title = f"{', '.join(tasks)}: imagination MSE (q1..q4: quarters of the query)"
    for label, s in zip(labels, summaries, strict=True):
        e = s["eval"]
        buckets = [f"{v:.4f}" for v in e["mse_buckets"]]
        table.add_row(
            label,
            str(s["num_seeds"]),
            str(s["updates"]),
            f"{e['mse_mean']:.4f}",
            *(buckets + [""] * 4)[:4],
            f"{e['reward_accuracy']:.3f}",
        )
    console.print(table)
    if len({settings(s) for s in summaries}) > 1:
        console.print("[yellow]warning:[/yellow] the runs differ in task, lengths or dataset.")
    curves = {
        label: np.asarray(s["eval"]["per_seed"]["mse_per_frame"])
        for label, s in zip(labels, summaries, strict=True)
    }
    world_model_plots.mse_vs_horizon(
        curves, args.out, f"{', '.join(tasks)}: imagination error over the query"
    )
    console.print(f"saved {args.out}")
    return dict(zip(labels, summaries, strict=True))


def cli(argv: list[str] | None = None) -> int:
    """Entry point of `python -m experiments.world_model_eval`; returns the exit status."""
    args = tyro.cli(CompareArgs, args=argv, prog="python -m experiments.world_model_eval")
    console = Console(soft_wrap=True)  # the suggested command stays whole in logs
    try:
        compare(args, console)
    except RunDirError as err:
        console.print(f"[red]error:[/red] {err}")
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(cli())
