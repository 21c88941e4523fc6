"""Memory cores behind one interface (see `rlssm.cores.base`), and their registry.

core = rlssm.cores.make("s5", hidden_size=64, num_layers=2)
carry = core.initialize_carry(batch_size)
params = core.init(key, carry, x, start)                 # x[T, B, D], start[T, B] bool
carry, y = core.apply(params, carry, x, start)           # y[T, B, H]
carry, y_t = core.apply(params, carry, x_t, start_t, method="step")

rlssm.cores.register("mine", MyConfig) adds a user's core (docs/CUSTOM.md): it is then built by
name here and by rlssm.world_models as a backbone, and, as any config, by PPO
(`PPOConfig(core=MyConfig())`).
"""

import dataclasses
import difflib

from rlssm.cores.base import BlockConfig, Carry, CoreConfig, LinearConfig, MemoryCore
from rlssm.cores.deltanet import GatedDeltaNetConfig, GatedDeltaNetCore
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
        GatedDeltaNetConfig,
        GRUConfig,
        LSTMConfig,
        FeedForwardConfig,
    )
}


def register(name: str, config_type: type[CoreConfig], *, overwrite: bool = False) -> None:
    """Registers a user's core config class under `name`, so that `make(name)` builds it.

    Args:
        name: The registry name; must equal `config_type.name` (what saved configs store).
        config_type: A frozen dataclass subclass of `CoreConfig` (or of `BlockConfig`,
            `LinearConfig`) whose `build()` returns the core module (a `MemoryCore`).
        overwrite: Replace a core already registered under `name` (ours or a user's).

    Raises:
        ValueError: `name` is taken and `overwrite` is False, or differs from `config_type.name`.
        TypeError: `config_type` is not a frozen `CoreConfig` dataclass with its own `build`.
    """
    if not isinstance(name, str) or not name:
        raise TypeError(f"cores.register: name must be a non-empty string, got {name!r}.")
    where = f"cores.register({name!r}, ...)"
    if not (isinstance(config_type, type) and issubclass(config_type, CoreConfig)):
        raise TypeError(
            f"{where}: config_type must be a subclass of rlssm.cores.CoreConfig (the class, not an "
            f"instance), got {config_type!r}."
        )
    cls = config_type.__name__
    if "__dataclass_params__" not in vars(config_type):
        raise TypeError(f"{where}: decorate {cls} with @dataclasses.dataclass(frozen=True).")
    if not config_type.__dataclass_params__.frozen:
        raise TypeError(f"{where}: {cls} must be frozen: @dataclasses.dataclass(frozen=True).")
    if config_type.build is CoreConfig.build:
        raise TypeError(f"{where}: {cls} must define build() returning its core module.")
    if config_type.name != name:
        raise ValueError(
            f"{where}: {cls}.name is {config_type.name!r}; set `name: ClassVar[str] = {name!r}` "
            f"in {cls} (saved configs store the core by this name)."
        )
    if not isinstance(overwrite, bool):
        raise TypeError(f"{where}: overwrite must be a bool, got {overwrite!r}.")
    if name in CONFIGS and not overwrite:
        raise ValueError(
            f"Core {name!r} is already registered ({CONFIGS[name].__name__}); pass "
            "overwrite=True to replace it, or pick another name."
        )
    CONFIGS[name] = config_type


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
    "GatedDeltaNetConfig",
    "GatedDeltaNetCore",
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
    "register",
    "registered",
    "reset_operator",
]
