"""`python -m experiments.ppo`: see experiments.ppo.cli."""

import sys

from experiments.ppo.cli import cli

sys.exit(cli())
