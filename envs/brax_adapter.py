"""Brax environments behind the gymnax 1.0 API.

``BraxEnv("ant", backend=...)`` wraps one brax environment: ``reset(key, params)`` and
``step(key, state, action, params)`` follow gymnax (auto-reset, ``terminated`` from brax's
``done``, ``truncated`` when ``params.max_steps_in_episode`` steps are reached,
``info["final_observation"]``), with Box spaces: observations ``[D]`` unbounded, actions ``[A]``
in ``[-1, 1]`` (brax's convention: its tasks either have that control range or rescale from it).
The time limit lives in ``EnvParams`` so that it can be changed or vmapped without rebuilding the
environment. brax's own ``EpisodeWrapper``/``AutoResetWrapper`` are not used: the latter restarts
every episode from the same initial state, whereas here each auto-reset draws a fresh one.

The physics backend is a constructor option; by default each task uses the fastest backend
measured on a 2-core CPU (shared, so only the ratios mean much): 64 environments, random actions,
auto-reset, ``jax.jit`` of a ``lax.scan`` of the vmapped step, in env steps/s.

========================  ===========  ======  ==========  ======
task                      generalized  mjx     positional  spring
========================  ===========  ======  ==========  ======
ant                       3918         13518   1390        1396
halfcheetah               1162         116     (>400 s)    (>400 s)
hopper                    3877         3959
walker2d                  3719         1229
humanoid                  2422         9889
inverted_pendulum         24437        67257
inverted_double_pendulum  42135        33439
reacher                   5090         13525
pusher                    932          17
========================  ===========  ======  ==========  ======

No backend wins everywhere: brax tunes MJX's solver down for ant and humanoid only, and MJX is
slow on the contact-rich halfcheetah and pusher. ``positional`` and ``spring`` were about ten
times slower than the best on ant and did not finish compiling and running halfcheetah in 400 s.
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
# The fastest backend measured for each task (see the table above); brax's own default elsewhere.
FASTEST_BACKEND: dict[str, str] = {
    "ant": "mjx",
    "halfcheetah": "generalized",
    "hopper": "mjx",
    "walker2d": "generalized",
    "humanoid": "mjx",
    "inverted_pendulum": "mjx",
    "inverted_double_pendulum": "generalized",
    "reacher": "mjx",
    "pusher": "generalized",
}
FALLBACK_BACKEND = "generalized"
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


def default_backend(env_name: str) -> str:
    """The backend ``BraxEnv(env_name)`` uses when none is given: the fastest measured."""
    return FASTEST_BACKEND.get(env_name, FALLBACK_BACKEND)


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
        backend: Physics pipeline, one of ``BACKENDS``; None for ``default_backend(env_name)``.
        **brax_options: Options of the brax environment's constructor (see
            ``accepted_options``).
    """

    def __init__(self, env_name: str, backend: str | None = None, **brax_options: Any):
        known = brax_names()
        if env_name not in known:
            raise ValueError(f"unknown brax environment {env_name!r}; known: {known}")
        backend = default_backend(env_name) if backend is None else backend
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
