"""Train the model-based agent from the command line: presets, run directories, resume.

    python -m experiments.dreamer                             # cpu-small (RepeatPreviousEasy)
    python -m experiments.dreamer --env-name CartPole-v1 --model rssm --core gru
    python -m experiments.dreamer --replay.context episode_start --replay.length 64
    python -m experiments.dreamer --resume RUN_DIR            # continue a stopped run
    python -m experiments.dreamer memory --no-checkpoint-replay  # checkpoints without the replay

Every field of `agents.dreamer.DreamerConfig` is a flag (the replay's as `--replay.*`); the run
(chunks, checkpoints with the replay ring unless --no-checkpoint-replay, resume, Ctrl-C,
summary) is the shared lifecycle of experiments.run.
"""

import sys

from rich.console import Console

from experiments.dreamer.presets import presets
from experiments.dreamer.trainer import TRAINER, TrainArgs
from experiments.run import lifecycle
from experiments.run.config import parse_presets

DESCRIPTION = __doc__.split("\n\n")[0]


def parse(argv: list[str] | None = None) -> TrainArgs:
    """Parses a command line (default: sys.argv) into `TrainArgs`; exits on bad flags."""
    return parse_presets(presets(), argv, "python -m experiments.dreamer", DESCRIPTION)


def main(args: TrainArgs, console: Console | None = None) -> lifecycle.TrainResult:
    """Starts a new run, or continues `--resume`; returns the outcome."""
    return lifecycle.main(TRAINER, args, console)


def cli(argv: list[str] | None = None) -> int:
    """Entry point of `python -m experiments.dreamer` and `rlssm-dreamer`; the exit status."""
    return lifecycle.cli(TRAINER, parse(argv))


if __name__ == "__main__":
    sys.exit(cli())
