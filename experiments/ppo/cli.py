"""Train recurrent PPO from the command line: presets, run directories, checkpoints, resume.

    python -m experiments.ppo                                 # cpu-small preset (RepeatFirstEasy)
    python -m experiments.ppo cartpole --num-seeds 4          # another preset, 4 seeds at once
    python -m experiments.ppo core:s5 --core.num-layers 4 --lr 1e-3 --run-dir runs/s5
    python -m experiments.ppo --resume runs/s5                # continue a stopped or killed run
    python -m experiments.ppo --help                          # every option, per preset

Every PPO hyperparameter (`agents.ppo.PPOConfig`) and run setting (`RunConfig`) is a flag; the
core is a subcommand (`core:s5`, `core:gru`, ...) whose fields are `--core.<field>`. The run
itself (chunks, checkpoints, resume, summary) is the shared lifecycle of experiments.run.
"""

import sys

from rich.console import Console

import rlssm.cores as cores
from experiments.ppo.presets import presets
from experiments.ppo.trainer import TRAINER, TrainArgs
from experiments.run import lifecycle
from experiments.run.config import parse_presets

DESCRIPTION = (
    "Train recurrent PPO. Pick a preset (default cpu-small; it must come first), override any "
    "flag, and pick the memory core with core:NAME ("
    + ", ".join(f"core:{name}" for name in cores.registered())
    + "; `PRESET --help` lists their --core.* flags). --resume RUN_DIR continues a run."
)


def parse(argv: list[str] | None = None) -> TrainArgs:
    """Parses a command line (default: sys.argv) into `TrainArgs`; exits on bad flags."""
    return parse_presets(presets(), argv, "python -m experiments.ppo", DESCRIPTION)


def main(args: TrainArgs, console: Console | None = None) -> lifecycle.TrainResult:
    """Starts a new run, or continues `--resume`; returns the outcome."""
    return lifecycle.main(TRAINER, args, console)


def cli(argv: list[str] | None = None) -> int:
    """Entry point of `python -m experiments.ppo` and `rlssm-ppo`; returns the exit status."""
    return lifecycle.cli(TRAINER, parse(argv))


if __name__ == "__main__":
    sys.exit(cli())
