"""Frozen config dataclasses to JSON-ready dicts and back, without pickle.

A memory-core config is stored with its registry name (`{"name": "s5", "hidden_size": 64, ...}`)
so that a field typed as `CoreConfig` (or a union of core configs) comes back as the same class.
Tuples become lists in JSON and tuples again on the way back; paths become strings.

    data = to_dict(config)                # json.dumps(data) works
    assert from_dict(PPOConfig, data) == config
"""

import dataclasses
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import rlssm.cores as cores
from rlssm.cores import CoreConfig


class ConfigError(ValueError):
    """A stored config does not match the config classes of this version."""


def to_dict(config: Any) -> Any:
    """Converts a (nested) config dataclass into JSON-ready values."""
    if dataclasses.is_dataclass(config) and not isinstance(config, type):
        data = {f.name: to_dict(getattr(config, f.name)) for f in dataclasses.fields(config)}
        if isinstance(config, CoreConfig):
            data = {"name": config.name, **data}
        return data
    if isinstance(config, tuple | list):
        return [to_dict(v) for v in config]
    if isinstance(config, Mapping):
        return {str(k): to_dict(v) for k, v in config.items()}
    if isinstance(config, Path):
        return str(config)
    return config


def from_dict(cls: type, data: Any, where: str = "config") -> Any:
    """Rebuilds an instance of dataclass `cls` from `to_dict` output.

    Fields missing from `data` take their defaults; unknown fields are refused.

    Raises:
        ConfigError: `data` names a field or core that this version does not have.
    """
    return _decode(cls, data, where)


def _decode(hint: Any, value: Any, where: str) -> Any:
    if value is None:
        return None
    if _is_core_hint(hint):
        return _decode_core(value, where)
    origin = typing.get_origin(hint)
    if origin is typing.Annotated:
        return _decode(typing.get_args(hint)[0], value, where)
    if origin in (typing.Union, types.UnionType):
        options = [a for a in typing.get_args(hint) if a is not type(None)]
        return _decode(options[0], value, where) if len(options) == 1 else value
    if origin is tuple:
        args = typing.get_args(hint)
        item = args[0] if args else Any
        return tuple(_decode(item, v, f"{where}[{i}]") for i, v in enumerate(value))
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return _decode_dataclass(hint, value, where)
    if hint is Path:
        return Path(value)
    return value


def _decode_dataclass(cls: type, value: dict, where: str) -> Any:
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: expected an object for {cls.__name__}, got {value!r}.")
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(value) - set(fields))
    if unknown:
        raise ConfigError(
            f"{where}: {cls.__name__} has no field {unknown}; it was written by another version."
        )
    hints = typing.get_type_hints(cls, include_extras=True)
    kwargs = {k: _decode(hints[k], v, f"{where}.{k}") for k, v in value.items()}
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as err:
        raise ConfigError(f"{where}: {err}") from None


def _decode_core(value: dict, where: str) -> CoreConfig:
    if not isinstance(value, dict) or "name" not in value:
        raise ConfigError(f"{where}: a core config needs its registry name, got {value!r}.")
    name = value["name"]
    if name not in cores.CONFIGS:
        raise ConfigError(f"{where}: unknown core {name!r}; registered: {cores.registered()}.")
    fields = {k: v for k, v in value.items() if k != "name"}
    return _decode_dataclass(cores.CONFIGS[name], fields, where)


def _is_core_hint(hint: Any) -> bool:
    """True for `CoreConfig`, a subclass, or a union (possibly annotated) of core configs."""
    if isinstance(hint, type):
        return issubclass(hint, CoreConfig)
    origin = typing.get_origin(hint)
    if origin is typing.Annotated:
        return _is_core_hint(typing.get_args(hint)[0])
    if origin in (typing.Union, types.UnionType):
        options = [a for a in typing.get_args(hint) if a is not type(None)]
        return bool(options) and all(_is_core_hint(a) for a in options)
    return False
