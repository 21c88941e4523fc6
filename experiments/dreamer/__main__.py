"""`python -m experiments.dreamer`: see experiments.dreamer.cli."""

import sys

from experiments.dreamer.cli import cli

sys.exit(cli())
