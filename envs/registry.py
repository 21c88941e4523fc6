"""One registry of environments: ``make(name, **kwargs) -> (env, params)`` and ``registered()``.

The registry maps each name to a factory returning ``(env, params)``:

- our tasks: the ``ENTRIES`` dict of every module in ``TASK_MODULES`` (the POPGym families listed
  in ``envs.popgym.FAMILIES``, the meta-RL modules in ``META_MODULES`` and the memory benchmarks
  of ``envs.memory.FAMILIES``);
- every gymnax task under its gymnax name (``gymnax.registered_envs``), wrapped in
  ``ConformToContract`` so that, like ours, it gives float32 vector observations ``[D]``
  (flattened images, one-hot discrete observations), float32 rewards and bool flags; the raw
  environment stays one call away with ``gymnax.make``;
- brax tasks ``brax/<name>`` through ``envs.brax_adapter.BraxEnv``.

Some entries are *heavy*: they run brax physics, which compiles for minutes on a CPU, so tests
and benchmarks give them smaller budgets (``is_heavy(name)``). Every ``brax/<name>`` is heavy, and a
task module lists its own heavy names in an optional ``HEAVY`` set.

Building the dict imports the task modules and gymnax (brax only when a brax task is made) and
constructs no environment. Unknown names and options fail before anything is built or compiled.
"""

from __future__ import annotations

import difflib
import functools
import importlib
import inspect
from collections.abc import Callable, Mapping
from typing import Any

import gymnax
from gymnax import registration as gymnax_registration
from gymnax.environments import environment

from envs.brax_adapter import BraxEnv
from envs.memory import FAMILIES as MEMORY_FAMILIES
from envs.popgym import FAMILIES
from envs.wrappers import ConformToContract

Factory = Callable[..., tuple[environment.Environment, Any]]

META_MODULES: tuple[str, ...] = ("envs.meta",)
MEMORY_MODULES: tuple[str, ...] = tuple(f"envs.memory.{family}" for family in MEMORY_FAMILIES)
TASK_MODULES: tuple[str, ...] = (
    *(f"envs.popgym.{family}" for family in FAMILIES),
    *META_MODULES,
    *MEMORY_MODULES,
)
BRAX_TASKS = (
    "ant",
    "halfcheetah",
    "hopper",
    "inverted_pendulum",
    "inverted_double_pendulum",
    "reacher",
    "walker2d",
    "humanoid",
    "pusher",
)
# gymnax tasks whose declared observation bounds their observations leave (checked by the sweep).
UNBOUNDED = {"obs_low": float("-inf"), "obs_high": float("inf")}
GYMNAX_BOUND_FIXES: dict[str, dict[str, float]] = {
    "MemoryChain-bsuite": {"obs_low": -1.0},  # the context bit is shown as -1 or +1
    "GaussianBandit-misc": UNBOUNDED,  # shows the last (Gaussian) reward
    "MetaMaze-misc": UNBOUNDED,  # shows the last reward (up to 10) and a time in [-1, 1]
}


def make_gymnax(name: str, **options: Any) -> tuple[environment.Environment, Any]:
    """Builds a gymnax task conformed to the envs contract.

    Args:
        name: A name in ``gymnax.registered_envs``.
        **options: The gymnax environment's constructor options.

    Returns:
        ``(env, params)`` with gymnax's default params.
    """
    env, params = gymnax.make(name, **options)
    return ConformToContract(env, **GYMNAX_BOUND_FIXES.get(name, {})), params


def _gymnax_factory(name: str) -> Factory:
    factory = functools.partial(make_gymnax, name)
    env_class = getattr(gymnax_registration, "_registry", {}).get(name)
    if env_class is not None:  # expose the class's options to make()'s check
        factory.__signature__ = inspect.signature(env_class)
    return factory


def make_brax(
    env_name: str, backend: str | None = None, **brax_options: Any
) -> tuple[BraxEnv, Any]:
    """Builds a brax task with the gymnax API.

    Args:
        env_name: A brax environment name (``"ant"``, ...).
        backend: Physics pipeline (see ``envs.brax_adapter.BACKENDS``); None for
            ``envs.brax_adapter.DEFAULT_BACKEND``, the fastest measured on a CPU.
        **brax_options: The brax environment's constructor options (checked by ``BraxEnv``).

    Returns:
        ``(env, params)``; ``params.max_steps_in_episode`` is the time limit (1000).
    """
    env = BraxEnv(env_name, backend=backend, **brax_options)
    return env, env.default_params


def _brax_entries() -> dict[str, Factory]:
    return {f"brax/{name}": functools.partial(make_brax, name) for name in BRAX_TASKS}


def _add(registry: dict[str, Factory], entries: Mapping[str, Factory], source: str) -> None:
    clashes = sorted(set(registry) & set(entries))
    if clashes:
        raise ValueError(f"{source} registers names already taken: {clashes}")
    registry.update(entries)


@functools.cache
def _registry() -> dict[str, Factory]:
    registry: dict[str, Factory] = {}
    for module_name in TASK_MODULES:
        _add(registry, importlib.import_module(module_name).ENTRIES, module_name)
    gymnax_entries = {name: _gymnax_factory(name) for name in gymnax.registered_envs}
    _add(registry, gymnax_entries, "gymnax")
    _add(registry, _brax_entries(), "brax")
    return registry


@functools.cache
def _heavy_names() -> frozenset[str]:
    heavy = set(_brax_entries())
    for module_name in TASK_MODULES:
        module = importlib.import_module(module_name)
        names = frozenset(getattr(module, "HEAVY", ()))
        unknown = sorted(names - set(module.ENTRIES))
        if unknown:
            raise ValueError(f"{module_name}.HEAVY names entries it does not define: {unknown}")
        heavy |= names
    return frozenset(heavy)


def registered() -> tuple[str, ...]:
    """Returns every registered environment name, our tasks first, then gymnax, then brax."""
    return tuple(_registry())


def is_heavy(name: str) -> bool:
    """Whether ``name`` runs brax physics (minutes of compilation on a CPU).

    Args:
        name: A registered name.

    Raises:
        ValueError: ``name`` is unknown (the message lists close matches).
    """
    registry = _registry()
    if name not in registry:
        raise _unknown_name_error(name, tuple(registry))
    return name in _heavy_names()


def _unknown_name_error(name: str, names: tuple[str, ...]) -> ValueError:
    by_lower = {known.lower(): known for known in names}
    close = difflib.get_close_matches(name.lower(), list(by_lower), n=5, cutoff=0.6)
    hint = f" Did you mean: {', '.join(by_lower[match] for match in close)}?" if close else ""
    return ValueError(f"Unknown environment {name!r}.{hint} See envs.registered() for all names.")


def accepted_options(name: str) -> dict[str, Any] | None:
    """Returns the options ``make(name, ...)`` accepts with their defaults.

    Args:
        name: A registered name.

    Returns:
        ``{option: default}`` (``inspect.Parameter.empty`` where there is none), or None when
        the factory takes arbitrary options and checks them itself.
    """
    registry = _registry()
    if name not in registry:
        raise _unknown_name_error(name, tuple(registry))
    parameters = inspect.signature(registry[name]).parameters.values()
    if any(parameter.kind is parameter.VAR_KEYWORD for parameter in parameters):
        return None
    keyword_kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    return {p.name: p.default for p in parameters if p.kind in keyword_kinds}


def _check_options(name: str, options: Mapping[str, Any]) -> None:
    accepted = accepted_options(name)
    if accepted is None:
        return
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        listed = ", ".join(
            key if default is inspect.Parameter.empty else f"{key}={default!r}"
            for key, default in accepted.items()
        )
        raise TypeError(
            f"{name} does not accept option(s) {unknown}; accepted: {listed or 'none'}."
        )


def make(name: str, **options: Any) -> tuple[environment.Environment, Any]:
    """Builds a registered environment.

    Args:
        name: A registered name (see ``registered()``).
        **options: Options of the task's factory (see ``accepted_options(name)``).

    Returns:
        ``(env, params)``: a gymnax-API environment and its default ``EnvParams``.

    Raises:
        ValueError: ``name`` is unknown (the message lists close matches).
        TypeError: an option is not accepted (the message lists the accepted ones).
    """
    registry = _registry()
    if name not in registry:
        raise _unknown_name_error(name, tuple(registry))
    _check_options(name, options)
    return registry[name](**options)
