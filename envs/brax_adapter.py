"""Brax environments behind the gymnax 1.0 API.

``BraxEnv("ant", backend=...)`` wraps one brax environment: ``reset(key, params)`` and
``step(key, state, action, params)`` follow gymnax (auto-reset, ``terminated`` from brax's
``done``, ``truncated`` when ``params.max_steps_in_episode`` steps are reached,
``info["final_observation"]``), with Box spaces: observations ``[D]`` unbounded, actions ``[A]``
in ``[-1, 1]`` (brax's convention: its tasks either have that control range or rescale from it).
The time limit lives in ``EnvParams`` so that it can be changed or vmapped without rebuilding the
environment. brax's own ``EpisodeWrapper``/``AutoResetWrapper`` are not used: the latter restarts
every episode from the same initial state, whereas here each auto-reset draws a fresh one.

The physics backend is a constructor option, ``DEFAULT_BACKEND`` when none is given: the fastest
measured on a 2-core CPU by ``python -m benchmarks.envs --write-docs --brax-backends`` (table in
docs/BENCHMARKS.md): 64 environments, random actions, auto-reset, ``jax.jit`` of a ``lax.scan``
of 32 vmapped steps, a task's four backends compiled first and then timed in turn (5 rounds,
median), in env steps/s. The machine was shared (load 5 to 9), so only the ratios within a row
mean much.

========================  ===========  ==========  ======  ======
task                      generalized  positional  spring  mjx
========================  ===========  ==========  ======  ======
ant                       2524         1933        5611    5907
halfcheetah               2366         1764        6006    425
hopper                    6146         12194       25187   5795
inverted_pendulum         71682        66228       150243  92893
inverted_double_pendulum  44579        38972       83874   96956
reacher                   10757        35219       76139   37390
walker2d                  4182         3008        8268    611
humanoid                  1080         1414        4698    4693
pusher                    1456         618         1532    12
========================  ===========  ==========  ======  ======

``spring`` is the fastest on seven tasks (on humanoid level with ``mjx``); ``mjx`` (whose solver
brax tunes down for ant and humanoid only) is 5% faster on ant and 16% on inverted_double_pendulum,
and far slower on halfcheetah, walker2d and pusher. ``spring`` is also brax's simplest physics
(spring joints and contacts); pass ``backend="generalized"`` or ``"mjx"`` where fidelity matters
more than speed.
"""

from __future__ import annotations

import inspect
import warnings
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct
from gymnax.environments import environment, spaces

BACKENDS = ("generalized", "positional", "spring", "mjx")
DEFAULT_BACKEND = "spring"  # the fastest measured (see the module docstring)
# Options every brax PipelineEnv accepts besides its class's own.
PIPELINE_OPTIONS = ("n_frames", "debug")


@struct.dataclass
class EnvParams(environment.EnvParams):
    """Numeric options of a brax task.

    Attributes:
        max_steps_in_episode: Episode length limit; reaching it is truncation.
    """

    max_steps_in_episode: int = 1000


@struct.dataclass
class EnvState(environment.EnvState):
    """State of a brax task.

    Attributes:
        brax_state: brax's ``State`` (physics state, observation, reward, done, metrics).
        time: Steps taken in the current episode.
    """

    brax_state: Any
    time: jax.Array


def _brax_classes() -> dict[str, type]:
    """brax's environment classes by name (imported on first use: brax is slow to import)."""
    from brax import envs as brax_envs

    return dict(brax_envs._envs)  # brax has no public listing of its registry


def brax_names() -> tuple[str, ...]:
    """Names in brax's environment registry."""
    return tuple(_brax_classes())


def accepted_options(env_name: str) -> tuple[str, ...]:
    """Returns the constructor options of a brax environment, ``backend`` included.

    Args:
        env_name: A brax registry name such as ``"ant"``.
    """
    signature = inspect.signature(_brax_classes()[env_name])
    named = [
        name
        for name, parameter in signature.parameters.items()
        if parameter.kind not in (parameter.VAR_KEYWORD, parameter.VAR_POSITIONAL)
    ]
    return tuple(dict.fromkeys([*named, "backend", *PIPELINE_OPTIONS]))


class BraxEnv(environment.Environment[EnvState, EnvParams]):
    """A brax environment with the gymnax API.

    Args:
        env_name: A brax registry name (``"ant"``, ``"halfcheetah"``, ...).
        backend: Physics pipeline, one of ``BACKENDS``; None for ``DEFAULT_BACKEND``.
        **brax_options: Options of the brax environment's constructor (see
            ``accepted_options``).
    """

    def __init__(self, env_name: str, backend: str | None = None, **brax_options: Any):
        known = brax_names()
        if env_name not in known:
            raise ValueError(f"unknown brax environment {env_name!r}; known: {known}")
        backend = DEFAULT_BACKEND if backend is None else backend
        if backend not in BACKENDS:
            raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
        unknown = sorted(set(brax_options) - set(accepted_options(env_name)))
        if unknown:
            raise TypeError(
                f"brax/{env_name} does not accept option(s) {unknown}; "
                f"accepted: {', '.join(accepted_options(env_name))}."
            )
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Brax System", category=UserWarning)
            self.brax_env = _brax_classes()[env_name](backend=backend, **brax_options)
        self.env_name = env_name
        self.backend = backend
        reset_shape = jax.eval_shape(self.brax_env.reset, jax.random.key(0))
        self.obs_shape = tuple(reset_shape.obs.shape)

    @property
    def default_params(self) -> EnvParams:
        return EnvParams()

    @property
    def name(self) -> str:
        return f"brax/{self.env_name}"

    @property
    def num_actions(self) -> int:
        return int(self.brax_env.action_size)

    def action_space(self, params: EnvParams | None = None) -> spaces.Box:
        """Actions ``[A]`` in ``[-1, 1]``."""
        return spaces.Box(-1.0, 1.0, (self.num_actions,), jnp.float32)

    def observation_space(self, params: EnvParams) -> spaces.Box:
        """Unbounded float32 observations ``[D]``."""
        high = np.full(self.obs_shape, np.inf, np.float32)
        return spaces.Box(-high, high, self.obs_shape, jnp.float32)

    def reset_env(self, key: jax.Array, params: EnvParams) -> tuple[jax.Array, EnvState]:
        brax_state = self.brax_env.reset(key)
        state = EnvState(brax_state=brax_state, time=jnp.zeros((), jnp.int32))
        return brax_state.obs, state

    def step_env(
        self, key: jax.Array, state: EnvState, action: jax.Array, params: EnvParams
    ) -> tuple[jax.Array, EnvState, jax.Array, jax.Array, dict[str, Any]]:
        # brax steps update the metrics dict in place: hand them a copy.
        previous = state.brax_state
        previous = previous.replace(metrics=dict(previous.metrics), info=dict(previous.info))
        brax_state = self.brax_env.step(previous, jnp.asarray(action, jnp.float32))
        state = EnvState(brax_state=brax_state, time=state.time + 1)
        reward = jnp.asarray(brax_state.reward, jnp.float32)
        terminated = brax_state.done > 0.5
        return brax_state.obs, state, reward, terminated, {}

    def is_terminated(self, state: EnvState, params: EnvParams) -> jax.Array:
        return state.brax_state.done > 0.5
