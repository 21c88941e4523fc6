"""Memory cores behind one interface (see `rlssm.cores.base`), and their registry.

core = rlssm.cores.make("s5", hidden_size=64, num_layers=2)
carry = core.initialize_carry(batch_size)
params = core.init(key, carry, x, start)                 # x[T, B, D], start[T, B] bool
carry, y = core.apply(params, carry, x, start)           # y[T, B, H]
carry, y_t = core.apply(params, carry, x_t, start_t, method="step")
"""

import dataclasses
import difflib

from rlssm.cores.base import BlockConfig, Carry, CoreConfig, LinearConfig, MemoryCore
from rlssm.cores.feedforward import FeedForwardConfig, FeedForwardCore
from rlssm.cores.gru import GRUConfig, GRUCore
from rlssm.cores.lru import LRUConfig, LRUCore
from rlssm.cores.lstm import LSTMConfig, LSTMCore
from rlssm.cores.mingru import MinGRUConfig, MinGRUCore
from rlssm.cores.s5 import S5Config, S5Core
from rlssm.cores.s6 import S6Config, S6Core
from rlssm.cores.scan import SCAN_MODES, ScanMode, linear_scan, linear_step, reset_operator

CONFIGS: dict[str, type[CoreConfig]] = {
    cfg.name: cfg
    for cfg in (
        S5Config,
        LRUConfig,
        S6Config,
        MinGRUConfig,
        GRUConfig,
        LSTMConfig,
        FeedForwardConfig,
    )
}


def registered() -> tuple[str, ...]:
    """Names of every registered core."""
    return tuple(CONFIGS)


def config_for(name: str, **overrides) -> CoreConfig:
    """Config of core `name` with `overrides`; unknown names or fields fail listing the known."""
    if name not in CONFIGS:
        close = difflib.get_close_matches(name, CONFIGS, n=3)
        hint = f" Did you mean {close}?" if close else ""
        raise ValueError(f"Unknown core {name!r}.{hint} Registered cores: {registered()}.")
    cls = CONFIGS[name]
    fields = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(overrides) - fields)
    if unknown:
        raise TypeError(f"Core {name!r} has no option {unknown}; its options are {sorted(fields)}.")
    return cls(**overrides)


def make(name: str | CoreConfig, **overrides) -> MemoryCore:
    """Builds a core from its registered name (with config overrides) or from a config."""
    if isinstance(name, CoreConfig):
        config = dataclasses.replace(name, **overrides) if overrides else name
        return config.build()
    return config_for(name, **overrides).build()


__all__ = [
    "CONFIGS",
    "SCAN_MODES",
    "BlockConfig",
    "Carry",
    "CoreConfig",
    "FeedForwardConfig",
    "FeedForwardCore",
    "GRUConfig",
    "GRUCore",
    "LRUConfig",
    "LRUCore",
    "LSTMConfig",
    "LSTMCore",
    "LinearConfig",
    "MemoryCore",
    "MinGRUConfig",
    "MinGRUCore",
    "S5Config",
    "S5Core",
    "S6Config",
    "S6Core",
    "ScanMode",
    "config_for",
    "linear_scan",
    "linear_step",
    "make",
    "registered",
    "reset_operator",
]
