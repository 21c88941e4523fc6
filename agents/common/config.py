"""Config validation shared by the agents' frozen config dataclasses."""


def require(condition: bool, message: str) -> None:
    """Raises `ValueError(message)` unless `condition`; the message names the fix."""
    if not condition:
        raise ValueError(message)
