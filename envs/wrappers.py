"""Composable wrappers over gymnax-API environments.

Every wrapper is itself a gymnax ``Environment`` that holds another one in ``env`` and forwards
what it does not change (params, spaces, truncation). ``Wrapper`` is the base of both kinds:

- a ``Wrapper`` works on the wrapped environment's public ``reset``/``step``: the innermost
  environment auto-resets (gymnax's base ``step``), and each wrapper transforms what comes out,
  including ``info["final_observation"]`` (the last observation of an episode that just ended;
  equal to ``obs`` on every other step). Wrappers without state of their own also implement
  ``reset_env``/``step_env``/``is_truncated`` over the wrapped environment's, so that code driving
  those (``envs.meta.Trials``) can wrap them too; ``EpisodeStatistics``, which must see
  auto-resets, cannot.
- a ``StepWrapper`` works on ``reset_env``/``step_env`` only, below auto-reset: its ``reset`` and
  ``step`` are gymnax's own, so the auto-reset happens around it, never inside. This is what lets
  ``envs.meta.Trials`` decide when and how an inner episode restarts. A ``Wrapper`` can go over a
  ``StepWrapper``, and a ``StepWrapper`` over a ``Wrapper`` that implements ``reset_env``/
  ``step_env``.

Wrappers pass ``params`` through unchanged (unless they hold a task's params inside their own,
as ``Trials`` does), so ``envs.make(name)`` returns the innermost task's ``EnvParams`` and meta-RL
code can vmap or sample them. Numeric options of a wrapper (a noise level, a reward scale) are
fixed at construction.

Single-environment shapes are given here; under ``jax.vmap`` every array gains a leading ``B``.
``D`` is the observation size, ``A`` the number (or size) of actions.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct
from gymnax.environments import environment, spaces

StepResult = tuple[Any, Any, jax.Array, jax.Array, jax.Array, dict[str, Any]]


def box_bounds(space: spaces.Box) -> tuple[jax.Array, jax.Array]:
    """Returns a Box's bounds as float32 arrays broadcast to its shape.

    Spaces may depend on ``params``, which are traced inside jit: this works on tracers too.

    Args:
        space: A gymnax Box whose ``low``/``high`` may be scalars or arrays.

    Returns:
        ``(low, high)``, each of shape ``space.shape``.
    """
    low = jnp.broadcast_to(jnp.asarray(space.low, jnp.float32), space.shape)
    high = jnp.broadcast_to(jnp.asarray(space.high, jnp.float32), space.shape)
    return low, high


class Wrapper(environment.Environment):
    """Base class: forwards everything to the wrapped environment.

    Attributes:
        env: The wrapped gymnax-API environment.
    """

    def __init__(self, env: environment.Environment):
        self.env = env

    def _params(self, params: Any | None) -> Any:
        return self.default_params if params is None else params

    @property
    def default_params(self) -> Any:
        return self.env.default_params

    @property
    def name(self) -> str:
        return self.env.name

    @property
    def num_actions(self) -> int:
        return self.env.num_actions

    @property
    def unwrapped(self) -> environment.Environment:
        """The innermost environment."""
        return getattr(self.env, "unwrapped", self.env)

    def action_space(self, params: Any | None = None) -> spaces.Space:
        return self.env.action_space(self._params(params))

    def observation_space(self, params: Any) -> spaces.Space:
        return self.env.observation_space(params)

    @partial(jax.jit, static_argnames=("self",))
    def reset(self, key: jax.Array, params: Any | None = None) -> tuple[Any, Any]:
        return self.env.reset(key, self._params(params))

    @partial(jax.jit, static_argnames=("self",))
    def step(
        self, key: jax.Array, state: Any, action: Any, params: Any | None = None
    ) -> StepResult:
        return self.env.step(key, state, action, self._params(params))

    def reset_env(self, key: jax.Array, params: Any) -> tuple[Any, Any]:
        return self.env.reset_env(key, params)

    def step_env(self, key: jax.Array, state: Any, action: Any, params: Any) -> Any:
        return self.env.step_env(key, state, action, params)

    def inner_state(self, state: Any) -> Any:
        """The wrapped environment's state inside ``state`` (itself for stateless wrappers)."""
        return state

    def is_truncated(self, state: Any, params: Any) -> jax.Array:
        return self.env.is_truncated(self.inner_state(state), params)

    def is_terminated(self, state: Any, params: Any) -> jax.Array:
        return self.env.is_terminated(self.inner_state(state), params)


class StepWrapper(Wrapper):
    """Base class of wrappers composed at the ``reset_env``/``step_env`` level, below auto-reset.

    ``reset`` and ``step`` are gymnax's own (``step`` auto-resets around this wrapper's
    ``step_env``); subclasses define ``reset_env``/``step_env`` over the wrapped environment's,
    which is stepped without auto-reset. The name shows the nesting, e.g. ``Trials(CartPole-v1)``.
    """

    reset = environment.Environment.reset
    step = environment.Environment.step

    @property
    def name(self) -> str:
        return f"{type(self).__name__}({self.env.name})"


class ObservationWrapper(Wrapper):
    """Base class for wrappers that map each observation (optionally with randomness).

    Subclasses define ``transform_obs`` and ``observation_space``. A deterministic transform
    passes the key on untouched. A random one (``stochastic = True``) splits off its own keys:
    on a step that ends an episode, ``obs`` (the first of the next episode) and
    ``info["final_observation"]`` are transformed with independent keys; on other steps both are
    the same transformed array.
    """

    stochastic = False

    def transform_obs(self, obs: jax.Array, key: jax.Array, params: Any) -> jax.Array:
        """Maps one observation.

        Args:
            obs: The wrapped environment's observation.
            key: Randomness for stochastic transforms (ignored by deterministic ones).
            params: Environment parameters.

        Returns:
            The new observation.
        """
        raise NotImplementedError

    def _split(self, key: jax.Array, num: int) -> tuple[jax.Array, ...]:
        """Keys for the wrapped env and the transforms (all ``key`` when deterministic)."""
        return tuple(jax.random.split(key, num)) if self.stochastic else (key,) * num

    @partial(jax.jit, static_argnames=("self",))
    def reset(self, key: jax.Array, params: Any | None = None) -> tuple[jax.Array, Any]:
        params = self._params(params)
        key_env, key_obs = self._split(key, 2)
        obs, state = self.env.reset(key_env, params)
        return self.transform_obs(obs, key_obs, params), state

    def reset_env(self, key: jax.Array, params: Any) -> tuple[jax.Array, Any]:
        key_env, key_obs = self._split(key, 2)
        obs, state = self.env.reset_env(key_env, params)
        return self.transform_obs(obs, key_obs, params), state

    def step_env(self, key: jax.Array, state: Any, action: Any, params: Any) -> Any:
        key_env, key_obs = self._split(key, 2)
        obs, state, reward, terminated, info = self.env.step_env(key_env, state, action, params)
        return self.transform_obs(obs, key_obs, params), state, reward, terminated, info

    @partial(jax.jit, static_argnames=("self",))
    def step(
        self, key: jax.Array, state: Any, action: Any, params: Any | None = None
    ) -> StepResult:
        params = self._params(params)
        key_env, key_obs, key_final = self._split(key, 3)
        obs, state, reward, terminated, truncated, info = self.env.step(
            key_env, state, action, params
        )
        obs = self.transform_obs(obs, key_obs, params)
        final_obs = self.transform_obs(info["final_observation"], key_final, params)
        if self.stochastic:
            final_obs = jnp.where(jnp.logical_or(terminated, truncated), final_obs, obs)
        info = {**info, "final_observation": final_obs}
        return obs, state, reward, terminated, truncated, info


class FlattenObservation(ObservationWrapper):
    """Flattens a Box observation to a float32 vector ``[D]``."""

    def __init__(self, env: environment.Environment):
        super().__init__(env)
        space = env.observation_space(env.default_params)
        if not isinstance(space, spaces.Box):
            raise TypeError(f"FlattenObservation needs a Box observation space, got {space}")

    def transform_obs(self, obs: jax.Array, key: jax.Array, params: Any) -> jax.Array:
        return jnp.reshape(obs, (-1,)).astype(jnp.float32)

    def observation_space(self, params: Any) -> spaces.Box:
        low, high = box_bounds(self.env.observation_space(params))
        return spaces.Box(low.reshape(-1), high.reshape(-1), (low.size,), jnp.float32)


class ConformToContract(ObservationWrapper):
    """Makes a third-party environment meet the envs contract.

    Observations become float32 vectors ``[D]`` (Box observations flattened, Discrete ones
    one-hot encoded), rewards float32 and ``terminated``/``truncated`` bool. Optional
    ``obs_low``/``obs_high`` replace bounds the wrapped environment declares wrongly.

    Args:
        env: The environment to conform.
        obs_low: Replacement lower bound (scalar or ``[D]``), or None to keep the declared one.
        obs_high: Replacement upper bound (scalar or ``[D]``), or None to keep the declared one.
    """

    def __init__(
        self,
        env: environment.Environment,
        obs_low: float | None = None,
        obs_high: float | None = None,
    ):
        super().__init__(env)
        self.obs_low = obs_low
        self.obs_high = obs_high

    def transform_obs(self, obs: jax.Array, key: jax.Array, params: Any) -> jax.Array:
        space = self.env.observation_space(params)
        if isinstance(space, spaces.Discrete):
            return jax.nn.one_hot(obs, space.n, dtype=jnp.float32)
        return jnp.reshape(obs, (-1,)).astype(jnp.float32)

    def observation_space(self, params: Any) -> spaces.Box:
        space = self.env.observation_space(params)
        if isinstance(space, spaces.Discrete):
            low, high = jnp.zeros(space.n, jnp.float32), jnp.ones(space.n, jnp.float32)
        else:
            low, high = (bound.reshape(-1) for bound in box_bounds(space))
        if self.obs_low is not None:
            low = jnp.full(low.shape, self.obs_low, jnp.float32)
        if self.obs_high is not None:
            high = jnp.full(high.shape, self.obs_high, jnp.float32)
        return spaces.Box(low, high, (low.size,), jnp.float32)

    @partial(jax.jit, static_argnames=("self",))
    def step(
        self, key: jax.Array, state: Any, action: Any, params: Any | None = None
    ) -> StepResult:
        obs, state, reward, terminated, truncated, info = super().step(key, state, action, params)
        reward = jnp.asarray(reward, jnp.float32)
        terminated = jnp.asarray(terminated, jnp.bool_)
        truncated = jnp.asarray(truncated, jnp.bool_)
        return obs, state, reward, terminated, truncated, info

    def step_env(self, key: jax.Array, state: Any, action: Any, params: Any) -> Any:
        obs, state, reward, terminated, info = super().step_env(key, state, action, params)
        reward, terminated = jnp.asarray(reward, jnp.float32), jnp.asarray(terminated, jnp.bool_)
        return obs, state, reward, terminated, info


class MaskObservation(ObservationWrapper):
    """Keeps the chosen entries of a vector observation ``[D] -> [len(indices)]``.

    Args:
        env: An environment with a 1-D Box observation space.
        indices: Positions to keep, in the order given.
    """

    def __init__(self, env: environment.Environment, indices: tuple[int, ...]):
        super().__init__(env)
        space = env.observation_space(env.default_params)
        if not isinstance(space, spaces.Box) or len(space.shape) != 1:
            raise TypeError(f"MaskObservation needs a 1-D Box observation space, got {space}")
        bad = [i for i in indices if not -space.shape[0] <= i < space.shape[0]]
        if bad or not indices:
            raise ValueError(f"indices {indices} invalid for observations of shape {space.shape}")
        self.indices = tuple(int(i) for i in indices)

    def transform_obs(self, obs: jax.Array, key: jax.Array, params: Any) -> jax.Array:
        return obs[jnp.asarray(self.indices)]

    def observation_space(self, params: Any) -> spaces.Box:
        low, high = box_bounds(self.env.observation_space(params))
        index = jnp.asarray(self.indices)
        return spaces.Box(low[index], high[index], (len(self.indices),), jnp.float32)


class GaussianObservationNoise(ObservationWrapper):
    """Adds i.i.d. Gaussian noise ``N(0, std^2)`` to every observation entry.

    Args:
        env: An environment with a Box observation space.
        std: Noise standard deviation.
        clip: Clip noisy observations to the wrapped space's bounds (as POPGym does); if False
            the new space is unbounded.
    """

    stochastic = True

    def __init__(self, env: environment.Environment, std: float, clip: bool = True):
        super().__init__(env)
        if std < 0:
            raise ValueError(f"std must be >= 0, got {std}")
        self.std = float(std)
        self.clip = clip

    def transform_obs(self, obs: jax.Array, key: jax.Array, params: Any) -> jax.Array:
        noisy = obs + self.std * jax.random.normal(key, obs.shape, jnp.float32)
        if self.clip:
            space = self.env.observation_space(params)
            noisy = jnp.clip(noisy, space.low, space.high)
        return noisy.astype(jnp.float32)

    def observation_space(self, params: Any) -> spaces.Box:
        space = self.env.observation_space(params)
        if self.clip:
            return space
        unbounded = jnp.full(space.shape, jnp.inf, jnp.float32)
        return spaces.Box(-unbounded, unbounded, space.shape, jnp.float32)


class AffineReward(Wrapper):
    """Maps the reward to ``(scale * reward + shift) / H``.

    ``H`` is ``params.max_steps_in_episode`` when ``divide_by_horizon`` (so a per-step reward in
    ``[-1, 1]`` gives an episode return in ``[-1, 1]`` whatever the episode length), else 1.

    Args:
        env: The environment whose reward is transformed.
        scale: Multiplies the reward.
        shift: Added after scaling.
        divide_by_horizon: Divide by the episode length limit held in ``params``.
    """

    def __init__(
        self,
        env: environment.Environment,
        scale: float = 1.0,
        shift: float = 0.0,
        divide_by_horizon: bool = False,
    ):
        super().__init__(env)
        self.scale = float(scale)
        self.shift = float(shift)
        self.divide_by_horizon = divide_by_horizon

    @partial(jax.jit, static_argnames=("self",))
    def step(
        self, key: jax.Array, state: Any, action: Any, params: Any | None = None
    ) -> StepResult:
        params = self._params(params)
        obs, state, reward, terminated, truncated, info = self.env.step(key, state, action, params)
        return obs, state, self.transform_reward(reward, params), terminated, truncated, info

    def step_env(self, key: jax.Array, state: Any, action: Any, params: Any) -> Any:
        obs, state, reward, terminated, info = self.env.step_env(key, state, action, params)
        return obs, state, self.transform_reward(reward, params), terminated, info

    def transform_reward(self, reward: jax.Array, params: Any) -> jax.Array:
        """Returns ``(scale * reward + shift) / H`` as float32."""
        reward = self.scale * jnp.asarray(reward, jnp.float32) + self.shift
        if self.divide_by_horizon:
            reward = reward / params.max_steps_in_episode
        return reward.astype(jnp.float32)


class ClipAction(Wrapper):
    """Clips a continuous action to the wrapped environment's Box action space."""

    def __init__(self, env: environment.Environment):
        super().__init__(env)
        space = env.action_space(env.default_params)
        if not isinstance(space, spaces.Box):
            raise TypeError(f"ClipAction needs a Box action space, got {space}")

    def transform_action(self, action: jax.Array, params: Any) -> jax.Array:
        """Clips ``action`` ``[A]`` into the action space."""
        space = self.env.action_space(params)
        return jnp.clip(action, space.low, space.high)

    @partial(jax.jit, static_argnames=("self",))
    def step(
        self, key: jax.Array, state: Any, action: Any, params: Any | None = None
    ) -> StepResult:
        params = self._params(params)
        return self.env.step(key, state, self.transform_action(action, params), params)

    def step_env(self, key: jax.Array, state: Any, action: Any, params: Any) -> Any:
        return self.env.step_env(key, state, self.transform_action(action, params), params)


class RescaleAction(ClipAction):
    """Exposes a Box action space as ``[-1, 1]^A``, clipping and mapping affinely to the env's.

    The wrapped space must have finite bounds.
    """

    def __init__(self, env: environment.Environment):
        super().__init__(env)
        low, high = box_bounds(env.action_space(env.default_params))
        if not (np.all(np.isfinite(low)) and np.all(np.isfinite(high))):
            raise ValueError("RescaleAction needs finite action bounds")

    def transform_action(self, action: jax.Array, params: Any) -> jax.Array:
        """Maps ``action`` ``[A]`` from ``[-1, 1]`` to ``[low, high]`` (after clipping)."""
        space = self.env.action_space(params)
        unit = jnp.clip(action, -1.0, 1.0)
        return space.low + (unit + 1.0) * 0.5 * (space.high - space.low)

    def action_space(self, params: Any | None = None) -> spaces.Box:
        shape = self.env.action_space(self._params(params)).shape
        return spaces.Box(-1.0, 1.0, shape, jnp.float32)


class PreviousActionReward(Wrapper):
    """Appends the previous action, previous reward and an episode-start flag to the obs.

    The new observation is ``[obs (D), action (A), reward (1), start (1)]``: the action is
    one-hot for a Discrete space and the flattened vector for a Box space. On the first
    observation of an episode (after ``reset`` or an auto-reset) action and reward are zeros and
    ``start`` is 1; otherwise they hold the action just taken and the reward just received, and
    ``start`` is 0. ``info["final_observation"]`` carries the action and reward that ended the
    episode.
    """

    def __init__(self, env: environment.Environment):
        super().__init__(env)
        space = env.observation_space(env.default_params)
        if not isinstance(space, spaces.Box) or len(space.shape) != 1:
            raise TypeError(
                f"PreviousActionReward needs a 1-D Box observation space (use "
                f"FlattenObservation first), got {space}"
            )

    def _action_size(self, params: Any) -> int:
        space = self.env.action_space(params)
        if isinstance(space, spaces.Discrete):
            return space.n
        return int(np.prod(space.shape))

    def encode_action(self, action: jax.Array, params: Any) -> jax.Array:
        """Encodes an action as a float32 vector ``[A]``."""
        space = self.env.action_space(params)
        if isinstance(space, spaces.Discrete):
            return jax.nn.one_hot(action, space.n, dtype=jnp.float32)
        return jnp.reshape(action, (-1,)).astype(jnp.float32)

    def augment(self, obs: jax.Array, action_code: jax.Array, reward: Any, start: Any) -> jax.Array:
        """Concatenates ``obs [D]``, ``action_code [A]``, reward and start into ``[D + A + 2]``."""
        extras = jnp.stack([jnp.asarray(reward, jnp.float32), jnp.asarray(start, jnp.float32)])
        return jnp.concatenate([obs.astype(jnp.float32), action_code, extras])

    def observation_space(self, params: Any) -> spaces.Box:
        low, high = box_bounds(self.env.observation_space(params))
        size = self._action_size(params)
        space = self.env.action_space(params)
        if isinstance(space, spaces.Discrete):
            action_low, action_high = jnp.zeros(size), jnp.ones(size)
        else:
            action_low, action_high = jnp.full(size, -jnp.inf), jnp.full(size, jnp.inf)
        low = jnp.concatenate([low, action_low, jnp.array([-jnp.inf, 0.0])]).astype(jnp.float32)
        high = jnp.concatenate([high, action_high, jnp.array([jnp.inf, 1.0])]).astype(jnp.float32)
        return spaces.Box(low, high, (low.size,), jnp.float32)

    @partial(jax.jit, static_argnames=("self",))
    def reset(self, key: jax.Array, params: Any | None = None) -> tuple[jax.Array, Any]:
        params = self._params(params)
        obs, state = self.env.reset(key, params)
        no_action = jnp.zeros(self._action_size(params), jnp.float32)
        return self.augment(obs, no_action, 0.0, 1.0), state

    @partial(jax.jit, static_argnames=("self",))
    def step(
        self, key: jax.Array, state: Any, action: Any, params: Any | None = None
    ) -> StepResult:
        params = self._params(params)
        obs, state, reward, terminated, truncated, info = self.env.step(key, state, action, params)
        done = jnp.logical_or(terminated, truncated)
        action_code = self.encode_action(action, params)
        final_obs = self.augment(info["final_observation"], action_code, reward, 0.0)
        kept = 1.0 - done.astype(jnp.float32)
        obs = self.augment(obs, action_code * kept, reward * kept, done)
        info = {**info, "final_observation": final_obs}
        return obs, state, reward, terminated, truncated, info

    def reset_env(self, key: jax.Array, params: Any) -> tuple[jax.Array, Any]:
        obs, state = self.env.reset_env(key, params)
        no_action = jnp.zeros(self._action_size(params), jnp.float32)
        return self.augment(obs, no_action, 0.0, 1.0), state

    def step_env(self, key: jax.Array, state: Any, action: Any, params: Any) -> Any:
        obs, state, reward, terminated, info = self.env.step_env(key, state, action, params)
        obs = self.augment(obs, self.encode_action(action, params), reward, 0.0)
        return obs, state, reward, terminated, info


@struct.dataclass
class EpisodeStatsState:
    """State of ``EpisodeStatistics`` (per environment; every field gains ``B`` under vmap).

    Attributes:
        env_state: The wrapped environment's state.
        episode_return: Sum of rewards of the running episode so far.
        episode_length: Steps of the running episode so far.
        returned_episode_return: Return of the last completed episode (0 before the first).
        returned_episode_length: Length of the last completed episode (0 before the first).
        episode_count: Number of episodes completed since ``reset``.
    """

    env_state: Any
    episode_return: jax.Array
    episode_length: jax.Array
    returned_episode_return: jax.Array
    returned_episode_length: jax.Array
    episode_count: jax.Array


class EpisodeStatistics(Wrapper):
    """Tracks episode returns and lengths of the wrapped environment's rewards.

    ``info`` gains ``returned_episode`` (this step ended an episode), ``returned_episode_return``
    and ``returned_episode_length`` (the last completed episode, kept until the next one ends, so
    the values are right even when no episode ends inside a rollout), ``episode_count`` (episodes
    completed since reset; 0 means the returned values are placeholders), and the running
    ``episode_return``/``episode_length`` of the episode in progress.
    """

    def reset_env(self, key: jax.Array, params: Any) -> tuple[Any, Any]:
        raise NotImplementedError("EpisodeStatistics must see auto-resets: use reset/step")

    def step_env(self, key: jax.Array, state: Any, action: Any, params: Any) -> Any:
        raise NotImplementedError("EpisodeStatistics must see auto-resets: use reset/step")

    def inner_state(self, state: EpisodeStatsState) -> Any:
        return state.env_state

    @partial(jax.jit, static_argnames=("self",))
    def reset(self, key: jax.Array, params: Any | None = None) -> tuple[Any, EpisodeStatsState]:
        obs, env_state = self.env.reset(key, self._params(params))
        zero_float, zero_int = jnp.zeros((), jnp.float32), jnp.zeros((), jnp.int32)
        state = EpisodeStatsState(
            env_state=env_state,
            episode_return=zero_float,
            episode_length=zero_int,
            returned_episode_return=zero_float,
            returned_episode_length=zero_int,
            episode_count=zero_int,
        )
        return obs, state

    @partial(jax.jit, static_argnames=("self",))
    def step(
        self, key: jax.Array, state: EpisodeStatsState, action: Any, params: Any | None = None
    ) -> StepResult:
        obs, env_state, reward, terminated, truncated, info = self.env.step(
            key, state.env_state, action, self._params(params)
        )
        done = jnp.logical_or(terminated, truncated)
        episode_return = state.episode_return + jnp.asarray(reward, jnp.float32)
        episode_length = state.episode_length + 1
        new_state = EpisodeStatsState(
            env_state=env_state,
            episode_return=jnp.where(done, 0.0, episode_return),
            episode_length=jnp.where(done, 0, episode_length),
            returned_episode_return=jnp.where(done, episode_return, state.returned_episode_return),
            returned_episode_length=jnp.where(done, episode_length, state.returned_episode_length),
            episode_count=state.episode_count + done.astype(jnp.int32),
        )
        info = {
            **info,
            "returned_episode": done,
            "returned_episode_return": new_state.returned_episode_return,
            "returned_episode_length": new_state.returned_episode_length,
            "episode_count": new_state.episode_count,
            "episode_return": new_state.episode_return,
            "episode_length": new_state.episode_length,
        }
        return obs, new_state, reward, terminated, truncated, info
