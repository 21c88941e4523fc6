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

``register(name, factory)`` adds a user's own task (a factory returning ``(env, params)``, see
docs/CUSTOM.md); it is then made by name everywhere a name is taken (``make``, the agents'
``env_name``). Options are checked against the factory's signature: unknown names and values of
the wrong type (from its annotations) fail with the accepted options and their defaults.

Building the dict imports the task modules and gymnax (brax only when a brax task is made) and
constructs no environment. Unknown names and options fail before anything is built or compiled.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import importlib
import inspect
import numbers
import sys
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import MISSING
from typing import Any

import gymnax
import numpy as np
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
        **options: The gymnax environment's constructor options, and fields of its
            ``EnvParams`` (e.g. MemoryChain-bsuite's ``memory_length``, any task's
            ``max_steps_in_episode``), which replace those of its default params.

    Returns:
        ``(env, params)`` with gymnax's default params, the given fields replaced.
    """
    fields = _params_fields(_gymnax_class(name))
    constructor = {k: v for k, v in options.items() if k not in fields}
    env, params = gymnax.make(name, **constructor)
    replaced = {k: v for k, v in options.items() if k in fields}
    if replaced:
        params = params.replace(**replaced)
    return ConformToContract(env, **GYMNAX_BOUND_FIXES.get(name, {})), params


def _gymnax_class(name: str) -> type | None:
    return getattr(gymnax_registration, "_registry", {}).get(name)


def _params_fields(env_class: type | None) -> dict[str, dataclasses.Field]:
    """The fields of the ``EnvParams`` class of ``env_class``'s module that its constructor
    does not take (gymnax defines one per task module), by name."""
    if env_class is None:
        return {}
    params_class = getattr(sys.modules.get(env_class.__module__), "EnvParams", None)
    if params_class is None or not dataclasses.is_dataclass(params_class):
        return {}
    taken = inspect.signature(env_class).parameters
    return {f.name: f for f in dataclasses.fields(params_class) if f.name not in taken}


def _gymnax_factory(name: str) -> Factory:
    factory = functools.partial(make_gymnax, name)
    env_class = _gymnax_class(name)
    if env_class is not None:  # expose the class's options and params to make()'s check
        signature = inspect.signature(env_class)
        params = [
            inspect.Parameter(
                field.name,
                inspect.Parameter.KEYWORD_ONLY,
                default=inspect.Parameter.empty if field.default is MISSING else field.default,
                annotation=field.type,
            )
            for field in _params_fields(env_class).values()
        ]
        factory.__signature__ = signature.replace(
            parameters=[*signature.parameters.values(), *params]
        )
        factory._options_owner = env_class  # resolves the signature's string annotations
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


def _brax_accepted_options(task: str) -> dict[str, Any]:
    """``{option: default}`` of brax task ``task`` (imports brax: seconds)."""
    from brax.envs.base import PipelineEnv

    from envs import brax_adapter

    class_options = inspect.signature(brax_adapter._brax_classes()[task]).parameters
    pipeline_options = inspect.signature(PipelineEnv.__init__).parameters
    defaults = {}
    for option in brax_adapter.accepted_options(task):
        parameter = class_options.get(option) or pipeline_options.get(option)
        defaults[option] = inspect.Parameter.empty if parameter is None else parameter.default
    defaults["backend"] = brax_adapter.DEFAULT_BACKEND  # make_brax's None picks it
    return defaults


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


# Heavy flags of user-registered names (``register(..., heavy=...)``); they override the modules'.
_USER_HEAVY: dict[str, bool] = {}


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


def register(name: str, factory: Factory, *, heavy: bool = False, overwrite: bool = False) -> None:
    """Registers a user's environment, so that ``make(name)`` and the agents' ``env_name`` build it.

    Args:
        name: The registry name (any non-empty string; ``registered()`` lists the taken ones).
        factory: Called as ``factory(**options)``, returns ``(env, params)`` like ``gymnax.make``:
            a gymnax-API environment (see docs/ARCHITECTURE.md for the contract; wrap a plain
            gymnax task in ``envs.ConformToContract``) and its ``EnvParams``. Its keyword
            parameters are the options ``make`` accepts and checks (by name, and by type where
            annotated); a factory with ``**options`` checks its options itself.
        heavy: The task compiles for minutes on a CPU (``is_heavy``), like brax physics.
        overwrite: Replace an entry already registered under ``name`` (ours or a user's).

    Raises:
        ValueError: ``name`` is taken and ``overwrite`` is False, or ``name`` is empty.
        TypeError: ``name`` is not a string, ``factory`` is not callable, or a flag is not a bool.
    """
    if not isinstance(name, str) or not name:
        raise TypeError(f"envs.register: name must be a non-empty string, got {name!r}.")
    if not callable(factory):
        raise TypeError(
            f"envs.register({name!r}, ...): factory must be callable (returning (env, params)), "
            f"got {type(factory).__name__}; pass the function, not its result."
        )
    for flag, value in (("heavy", heavy), ("overwrite", overwrite)):
        if not isinstance(value, bool):
            raise TypeError(f"envs.register({name!r}, ...): {flag} must be a bool, got {value!r}.")
    registry = _registry()
    if name in registry and not overwrite:
        raise ValueError(
            f"Environment {name!r} is already registered; pass overwrite=True to replace it, "
            "or pick another name."
        )
    registry[name] = factory
    _USER_HEAVY[name] = heavy


def registered() -> tuple[str, ...]:
    """Returns every registered name: our tasks, then gymnax, then brax, then the user's."""
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
    if name in _USER_HEAVY:
        return _USER_HEAVY[name]
    return name in _heavy_names()


def _unknown_name_error(name: str, names: tuple[str, ...]) -> ValueError:
    by_lower = {known.lower(): known for known in names}
    close = difflib.get_close_matches(name.lower(), list(by_lower), n=5, cutoff=0.6)
    hint = f" Did you mean: {', '.join(by_lower[match] for match in close)}?" if close else ""
    return ValueError(f"Unknown environment {name!r}.{hint} See envs.registered() for all names.")


def _signature(factory: Factory) -> inspect.Signature | None:
    try:
        return inspect.signature(factory)
    except (TypeError, ValueError):  # some builtins and C callables have none
        return None


def accepted_options(name: str) -> dict[str, Any] | None:
    """Returns the options ``make(name, ...)`` accepts with their defaults.

    Args:
        name: A registered name.

    Returns:
        ``{option: default}`` (``inspect.Parameter.empty`` where there is none), or None when
        the factory takes arbitrary options and checks them itself. A brax task's are its brax
        class's constructor options, ``backend`` (default ``envs.brax_adapter.DEFAULT_BACKEND``)
        and the pipeline's ``n_frames`` and ``debug``.
    """
    registry = _registry()
    if name not in registry:
        raise _unknown_name_error(name, tuple(registry))
    factory = registry[name]
    if isinstance(factory, functools.partial) and factory.func is make_brax:
        return _brax_accepted_options(*factory.args)
    signature = _signature(factory)
    if signature is None:
        return None
    parameters = signature.parameters.values()
    if any(parameter.kind is parameter.VAR_KEYWORD for parameter in parameters):
        return None
    keyword_kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    return {p.name: p.default for p in parameters if p.kind in keyword_kinds}


def _owner(factory: Factory) -> Any:
    """The function (or class) whose module resolves the factory's string annotations."""
    while isinstance(factory, functools.partial):
        factory = factory.func
    return getattr(factory, "_options_owner", factory)


def _annotation(annotation: Any, owner: Any) -> Any:
    """Evaluates a string annotation in its owner's module; ``Any`` when it cannot."""
    if not isinstance(annotation, str):
        return annotation
    module = sys.modules.get(getattr(owner, "__module__", ""), None)
    try:
        return eval(annotation, {**vars(typing), **vars(module or typing)})
    except Exception:  # an annotation we cannot resolve is not checked
        return Any


def _type_matches(value: Any, annotation: Any) -> bool | None:
    """Whether ``value`` fits ``annotation``: True, False, or None when it cannot be told."""
    if annotation is inspect.Parameter.empty or annotation is Any:
        return None
    if annotation is None or annotation is type(None):
        return value is None
    origin = typing.get_origin(annotation)
    if origin is typing.Literal:
        return any(value == choice for choice in typing.get_args(annotation))
    if origin is typing.Union or origin is types.UnionType:
        verdicts = [_type_matches(value, member) for member in typing.get_args(annotation)]
        return True if True in verdicts else (None if None in verdicts else False)
    scalar = isinstance(value, numbers.Number | str | bool | np.bool_ | type(None))
    if isinstance(origin, type):  # tuple[int, ...], Sequence[float], ...: refuse only scalars
        return isinstance(value, origin) if scalar else None
    if not scalar:  # arrays and objects: the factory knows what it takes
        return None
    if annotation is bool:
        return isinstance(value, bool | np.bool_)
    if annotation is int:
        return isinstance(value, numbers.Integral) and not isinstance(value, bool | np.bool_)
    if annotation is float:
        return isinstance(value, numbers.Real) and not isinstance(value, bool | np.bool_)
    if annotation is str:
        return isinstance(value, str)
    return None


def _type_name(annotation: Any) -> str:
    if isinstance(annotation, type):
        return annotation.__name__
    return str(annotation).replace("typing.", "").replace("collections.abc.", "")


def _check_types(name: str, options: Mapping[str, Any], accepted: Mapping[str, Any]) -> None:
    factory = _registry()[name]
    signature = _signature(factory)
    if signature is None:
        return
    owner = _owner(factory)
    for option, value in options.items():
        parameter = signature.parameters.get(option)  # None: a brax option (not annotated)
        annotation = inspect.Parameter.empty if parameter is None else parameter.annotation
        annotation = _annotation(annotation, owner)
        if _type_matches(value, annotation) is not False:
            continue
        expected = _type_name(annotation)
        default = accepted[option]
        example = (
            "" if default is inspect.Parameter.empty else f", e.g. {option}={default!r} (default)"
        )
        raise TypeError(
            f"{name}: option {option} must be {expected}, got {value!r} "
            f"({type(value).__name__}); pass a value of type {expected}{example}."
        )


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
    _check_types(name, options, accepted)


def make(name: str, **options: Any) -> tuple[environment.Environment, Any]:
    """Builds a registered environment.

    Args:
        name: A registered name (see ``registered()``).
        **options: Options of the task's factory (see ``accepted_options(name)``).

    Returns:
        ``(env, params)``: a gymnax-API environment and its default ``EnvParams``.

    Raises:
        ValueError: ``name`` is unknown (the message lists close matches).
        TypeError: an option is not accepted (the message lists the accepted ones) or has the
            wrong type (the message names the expected one), or the factory returned something
            other than ``(env, params)``.
    """
    registry = _registry()
    if name not in registry:
        raise _unknown_name_error(name, tuple(registry))
    _check_options(name, options)
    result = registry[name](**options)
    if not (isinstance(result, tuple) and len(result) == 2 and hasattr(result[0], "step")):
        raise TypeError(
            f"The factory of {name!r} returned {type(result).__name__}; a factory must return "
            "(env, params) like gymnax.make: return env, env.default_params."
        )
    return result
