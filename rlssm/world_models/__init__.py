"""Latent world models on any memory core: S4WM, RSSM and TSSM behind one interface.

    model = rlssm.world_models.make("s4wm", core="s5", obs_shape=(16, 16, 1), action_dim=4)
    params = model.init(key)
    carry = model.initial_carry(batch_size)
    carry, states, outputs = model.observe(params, carry, obs, action, start, key)  # [T, B, ...]
    carry, imagined = model.imagine(params, carry, actions_or_policy, key, horizon=15)
    loss, metrics = model.loss(params, batch, key)          # metrics: recon, reward, continue, kl_*

Time convention: `action[t]` led to `obs[t]`, `reward[t]`, `terminated[t]` came with it and
`start[t]` says it opens an episode. Training (optimiser, batches, seeds) is the
`agents.world_model` agent's.
"""

import dataclasses
import difflib
from collections.abc import Iterator, Mapping

from rlssm import cores
from rlssm.cores import CoreConfig
from rlssm.world_models.base import Policy, WorldModel, WorldModelNet
from rlssm.world_models.config import WorldModelConfig
from rlssm.world_models.latents import (
    DiscreteLatent,
    GaussianLatent,
    SymlogMSEReward,
    TwoHotReward,
    balanced_kl,
    symexp,
    symlog,
    twohot,
)
from rlssm.world_models.rssm import RSSM
from rlssm.world_models.s4wm import S4WM
from rlssm.world_models.state import (
    Batch,
    Imagination,
    LatentState,
    ObserveOutputs,
    Predictions,
    WorldModelCarry,
)
from rlssm.world_models.tssm import TSSM, TransformerConfig, TransformerCore

MODELS: dict[str, type[WorldModel]] = {cls.name: cls for cls in (S4WM, RSSM, TSSM)}
# Backbones of world models only (not memory cores of rlssm.cores).
_WORLD_MODEL_BACKBONES: dict[str, type[CoreConfig]] = {TransformerConfig.name: TransformerConfig}


class _Backbones(Mapping[str, type[CoreConfig]]):
    """Every registered core (`rlssm.cores.CONFIGS`, read live, so `rlssm.cores.register` adds
    to it) and the world-model-only backbones (`transformer`)."""

    def _merged(self) -> dict[str, type[CoreConfig]]:
        return {**_WORLD_MODEL_BACKBONES, **cores.CONFIGS}

    def __getitem__(self, name: str) -> type[CoreConfig]:
        return self._merged()[name]

    def __iter__(self) -> Iterator[str]:
        return iter({**cores.CONFIGS, **_WORLD_MODEL_BACKBONES})

    def __len__(self) -> int:
        return len(self._merged())

    def __repr__(self) -> str:
        return f"BACKBONES({dict(self._merged())!r})"


BACKBONES: Mapping[str, type[CoreConfig]] = _Backbones()


def registered() -> tuple[str, ...]:
    """Names of every registered world model."""
    return tuple(MODELS)


def register(name: str, model_type: type[WorldModel], *, overwrite: bool = False) -> None:
    """Registers a user's world model class under `name`, so that `make(name)` builds it (and
    the world-model and model-based agents' `--model NAME` train it).

    Args:
        name: The registry name; must equal `model_type.name` (what saved configs store).
        model_type: A subclass of `WorldModel` (e.g. of `S4WM` with another decoder), built
            as `model_type(WorldModelConfig(...))`.
        overwrite: Replace a model already registered under `name`.

    Raises:
        TypeError: `model_type` is not a `WorldModel` subclass.
        ValueError: `name` differs from `model_type.name`, or is taken and `overwrite` is False.
    """
    if not (isinstance(model_type, type) and issubclass(model_type, WorldModel)):
        raise TypeError(
            f"world_models.register({name!r}, ...): model_type must be a subclass of "
            f"rlssm.world_models.WorldModel (the class, not an instance), got {model_type!r}."
        )
    if model_type.name != name:
        raise ValueError(
            f"world_models.register({name!r}, ...): {model_type.__name__}.name is "
            f"{model_type.name!r}; set `name: ClassVar[str] = {name!r}` in the class."
        )
    if name in MODELS and not overwrite:
        raise ValueError(
            f"World model {name!r} is already registered ({MODELS[name].__name__}); pass "
            "overwrite=True to replace it, or pick another name."
        )
    MODELS[name] = model_type


def _unknown(kind: str, name: str, known) -> ValueError:
    close = difflib.get_close_matches(name, known, n=3)
    hint = f" Did you mean {close}?" if close else ""
    return ValueError(f"Unknown {kind} {name!r}.{hint} Known: {tuple(known)}.")


def backbone_config(name: str, **options) -> CoreConfig:
    """Config of backbone `name` (a registered core or `transformer`) with `options`."""
    if name not in BACKBONES:
        raise _unknown("backbone", name, BACKBONES)
    if name in cores.CONFIGS:
        return cores.config_for(name, **options)
    fields = {f.name for f in dataclasses.fields(TransformerConfig)}
    unknown = sorted(set(options) - fields)
    if unknown:
        raise TypeError(f"Backbone {name!r} has no option {unknown}; options: {sorted(fields)}.")
    return TransformerConfig(**options)


def make(
    name: str,
    core: str | CoreConfig | None = None,
    core_options: dict | None = None,
    **overrides,
) -> WorldModel:
    """Builds world model `name` on backbone `core` (a name or a config; default per model).

    Args:
        name: one of `registered()`: `s4wm`, `rssm`, `tssm`.
        core: backbone name (`s5`, `lru`, `gru`, ..., `transformer`) or a core config.
        core_options: options of the backbone config when `core` is a name (e.g. hidden_size).
        **overrides: fields of `WorldModelConfig`.
    """
    if name not in MODELS:
        raise _unknown("world model", name, MODELS)
    cls = MODELS[name]
    if not isinstance(core, CoreConfig):
        core = backbone_config(core or cls.default_core, **(core_options or {}))
    elif core_options:
        core = dataclasses.replace(core, **core_options)
    fields = {f.name for f in dataclasses.fields(WorldModelConfig)}
    unknown = sorted(set(overrides) - fields - {"core"})
    if unknown:
        raise TypeError(f"WorldModelConfig has no option {unknown}; options: {sorted(fields)}.")
    return cls(WorldModelConfig(core=core, **overrides))


__all__ = [
    "BACKBONES",
    "MODELS",
    "RSSM",
    "S4WM",
    "TSSM",
    "Batch",
    "DiscreteLatent",
    "GaussianLatent",
    "Imagination",
    "LatentState",
    "ObserveOutputs",
    "Policy",
    "Predictions",
    "SymlogMSEReward",
    "TransformerConfig",
    "TransformerCore",
    "TwoHotReward",
    "WorldModel",
    "WorldModelCarry",
    "WorldModelConfig",
    "WorldModelNet",
    "backbone_config",
    "balanced_kl",
    "make",
    "register",
    "registered",
    "symexp",
    "symlog",
    "twohot",
]
