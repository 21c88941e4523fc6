"""`python -m experiments.world_model`: see experiments.world_model.cli."""

import sys

from experiments.world_model.cli import cli

sys.exit(cli())
