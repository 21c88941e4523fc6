"""Train and evaluate a world model (S4WM, RSSM, TSSM) on a memory benchmark from the command line.

    python -m experiments.world_model                              # cpu-small: S4WM (s5), FourRooms
    python -m experiments.world_model --model rssm                 # RSSM (its GRU backbone)
    python -m experiments.world_model --core none                  # memoryless baseline
    python -m experiments.world_model --task Memory/Teleport-TwoRooms --steps 2000
    python -m experiments.world_model cpu-recall                   # short Teleport-TwoRooms recall
    python -m experiments.world_model gpu-paper --task Memory/TenRooms
    python -m experiments.world_model --resume RUN_DIR             # continue a stopped run
    python -m experiments.world_model_eval RUN_DIR RUN_DIR ...     # overlay MSE-vs-horizon curves

A dataset of the task is played by its scripted policy (fixed seed, cached with its checksum, see
experiments.world_model.data); the model trains on random episodes (or windows) of it, one jitted
update of all `N` seeds at a time, logged and checkpointed in chunks of updates, with the run
directory, checkpoints, resume, Ctrl-C handling and progress of every trainer (experiments.run).
When training ends, held-out episodes are evaluated as in S4WM: observe the context, generate the
query from its actions alone (rlssm.world_models.evaluate); summary.json gets the per-frame MSE
over the horizon, its buckets and the reward accuracy, plots/ the loss curves, frame strips
(ground truth above generated frames) and the MSE-vs-horizon curve.
"""

import sys

from rich.console import Console

from experiments.run import lifecycle
from experiments.run.config import parse_presets
from experiments.world_model.config import TrainArgs
from experiments.world_model.presets import presets
from experiments.world_model.trainer import INPUT_ERRORS, TRAINER

DESCRIPTION = __doc__.split("\n\n")[0]


def parse(argv: list[str] | None = None) -> TrainArgs:
    """Parses a command line (default: sys.argv) into `TrainArgs`; exits on bad flags."""
    return parse_presets(presets(), argv, "python -m experiments.world_model", DESCRIPTION)


def main(args: TrainArgs, console: Console | None = None) -> lifecycle.TrainResult:
    """Starts a new run, or continues `--resume`; returns the outcome."""
    return lifecycle.main(TRAINER, args, console)


def cli(argv: list[str] | None = None) -> int:
    """Entry point of `python -m experiments.world_model` and `rlssm-wm`; the exit status."""
    return lifecycle.cli(TRAINER, parse(argv), INPUT_ERRORS)


if __name__ == "__main__":
    sys.exit(cli())
