"""The command line as the user typed it: presets anywhere, and errors in flag names.

- `preset_first` moves a preset after flags to the front (`--lr 1e-3 cartpole`), where tyro's
  subcommand must stand;
- inside `config_errors()`, a config's ValueError while tyro builds it is raised as
  `ConfigRejected` instead of tyro's box under its internal field path;
- `speak_flags` writes the config fields that a message names as the flags that set them
  (`S5Config.hidden_size must be >= 1` -> `--core.hidden-size must be >= 1`).
"""

import contextlib
import dataclasses
import re
from collections.abc import Iterator
from typing import Any

import tyro
import tyro._errors

import rlssm.cores as cores

_NAME = re.compile(r"\b[A-Z]\w*\.[a-z]\w*\b|\b[a-z][a-z0-9]*(?:_[a-z0-9]+)+\b")
"""`Class.field`, or a snake_case field name, in a config's error message."""


class ConfigRejected(ValueError):
    """A config's own validation refused the values the command line gave it."""


@contextlib.contextmanager
def config_errors() -> Iterator[None]:
    """Raises `ConfigRejected` where tyro would print a config's ValueError under its internal
    field path (`__tyro-dummy-inner__.ppo.core`); other parse errors stay tyro's."""

    def hook(event: Any) -> None:
        if isinstance(event, tyro._errors.InstantiationFailure):
            raise ConfigRejected(event.message)

    with tyro._errors.on_parse_error(hook):
        yield


def flag_names(args: Any) -> dict[str, str]:
    """The flag of every field of `args`' parts by the names its messages use:
    `S5Config.hidden_size` (any registered core at a core's place) and, for the prefix-less
    fields, `num_envs` -> `--core.hidden-size`, `--num-envs`."""
    names: dict[str, str] = {}

    def walk(config: Any, prefix: str) -> None:
        classes = [type(config)]
        if isinstance(config, cores.CoreConfig):  # a subcommand: any core may stand here
            classes += list(cores.CONFIGS.values())
        for field in dataclasses.fields(config):
            flag = prefix + field.name.replace("_", "-")
            for cls in classes:
                names.setdefault(f"{cls.__name__}.{field.name}", "--" + flag)
            if not prefix and "_" in field.name:
                names.setdefault(field.name, "--" + flag)
            value = getattr(config, field.name)
            if dataclasses.is_dataclass(value) and not isinstance(value, type):
                walk(value, flag + ".")

    for part in args.parts().values():
        walk(part, "")
    for part in args.parts().values():  # a part's own names for the configs it builds
        aliases = getattr(part, "message_names", dict)()
        names.update({name: "--" + field.replace("_", "-") for name, field in aliases.items()})
    return names


def speak_flags(message: str, args: Any) -> str:
    """`message` with the config fields it names written as the flags that set them."""
    names = flag_names(args)
    return _NAME.sub(lambda m: names.get(m.group(0), m.group(0)), message)


def preset_first(argv: list[str], table: dict, default: Any) -> list[str]:
    """`argv` with its preset word (if any, not the value of a flag) moved to the front, where
    tyro's subcommand must stand; `default`'s boolean fields are the flags without a value."""
    switches = {name for name, value in default.flat().items() if isinstance(value, bool)}
    for i, word in enumerate(argv):
        if word in table and i > 0 and not _takes_value(argv[i - 1], switches):
            return [word, *argv[:i], *argv[i + 1 :]]
    return argv


def _takes_value(word: str, switches: set[str]) -> bool:
    """Whether `word` is a flag taking the next word as its value (`--run-dir R`, not
    `--no-progress`)."""
    if not word.startswith("--") or "=" in word:
        return False
    name = word[2:].replace("-", "_")
    return name not in switches and name.removeprefix("no_") not in switches
