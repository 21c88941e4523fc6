"""Config validation shared by the agents' frozen config dataclasses."""

import dataclasses


def require(condition: bool, message: str) -> None:
    """Raises `ValueError(message)` unless `condition`; the message names the fix."""
    if not condition:
        raise ValueError(message)


def config_hash(config) -> int:
    """Hash of a frozen config dataclass whose fields may hold dicts (hashed by their items),
    so that configs with an options dict can key a cache."""
    values = (getattr(config, f.name) for f in dataclasses.fields(config))
    return hash(tuple(tuple(sorted(v.items())) if isinstance(v, dict) else v for v in values))
