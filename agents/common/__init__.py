"""What the agents share (see docs/ARCHITECTURE.md, "Agents").

Public API:
    all_finite, keep_if_finite, nonfinite_streak: the non-finite guard of a training step (a
        step whose loss or gradient norm is not finite leaves the whole train state unchanged).
    map_seeds(init), seed_by_seed(init): initialise `N` seeds one at a time (`lax.map`).
    RunningStats, init_stats, update_stats, normalize, denormalize: running mean and variance.
    require: config validation with a one-line error.
    Split, no_split, split_tree: the hook that lays rows over devices (agents.common.devices).
    compiler_options(): XLA options of the programs that train on many rows at once.
"""

from agents.common.compile import compiler_options
from agents.common.config import require
from agents.common.devices import Split, no_split, split_tree
from agents.common.guard import all_finite, keep_if_finite, nonfinite_streak
from agents.common.normalize import (
    RunningStats,
    denormalize,
    init_stats,
    normalize,
    update_stats,
)
from agents.common.seeds import map_seeds, seed_by_seed

__all__ = [
    "RunningStats",
    "Split",
    "all_finite",
    "compiler_options",
    "denormalize",
    "init_stats",
    "keep_if_finite",
    "map_seeds",
    "no_split",
    "nonfinite_streak",
    "normalize",
    "require",
    "seed_by_seed",
    "split_tree",
    "update_stats",
]
