"""A terminal progress bar for chunked training: steps, steps/s, latest return, ETA.

    with TrainingProgress(total_steps, start=done) as bar:
        bar.update(steps_done, steps_per_second, return_mean)

Disabled (`enabled=False`) it prints nothing; on a non-terminal (a log file) rich prints the
final state once, as one whole line (`LOG_WIDTH` columns wide at most, not rich's 80).
"""

import math

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

LOG_WIDTH = 250
"""Columns the bar may take when the output is not a terminal (nothing to wrap at)."""


def bar_console(console: Console | None) -> Console:
    """`console`, or on a non-terminal (a log file, a pipe) a console on the same file that
    does not cut the bar at rich's default 80 columns."""
    console = console or Console()
    if console.is_terminal:
        return console
    return Console(file=console.file, width=max(console.width, LOG_WIDTH), no_color=True)


class TrainingProgress:
    """Context manager around a rich progress bar counting environment steps (per seed)."""

    def __init__(
        self,
        total_steps: int,
        start: int = 0,
        enabled: bool = True,
        console: Console | None = None,
        description: str = "training",
    ):
        self.enabled = enabled
        self._progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("steps"),
            TextColumn("{task.fields[speed]} steps/s"),
            TextColumn("return {task.fields[ret]}"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=bar_console(console),
            disable=not enabled,
        )
        self._task = self._progress.add_task(
            description, total=total_steps, completed=start, speed="-", ret="-"
        )

    def __enter__(self) -> "TrainingProgress":
        self._progress.start()
        return self

    def __exit__(self, *exc) -> None:
        self._progress.stop()

    def update(self, steps_done: int, steps_per_second: float, return_mean: float) -> None:
        """Moves the bar to `steps_done` and shows the latest speed and mean return."""
        ret = f"{return_mean:.3f}" if math.isfinite(return_mean) else "-"
        self._progress.update(
            self._task, completed=steps_done, speed=f"{steps_per_second:,.0f}", ret=ret
        )
