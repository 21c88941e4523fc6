"""`MetaObservation`: what a meta-RL agent sees besides the task's observation.

It appends the previous action (one-hot if discrete), the previous reward, a trial-start flag
(from `Trials`' `info["trial_start"]`) and an episode-start flag to the observation. It goes
outermost, so that the action it shows is the agent's own (before any projection).
"""

from typing import Any

import jax
import jax.numpy as jnp
from gymnax.environments import spaces

from envs.meta.boxes import FLOAT_MAX, require_flat_box
from envs.wrappers import StepWrapper, box_bounds


class MetaObservation(StepWrapper):
    """Appends the previous action, previous reward, trial start and episode start to the obs.

    Observation `[D + A' + 3]`: the wrapped observation `[D]`, the previous action `[A']`
    (one-hot for Discrete actions, clipped to the Box for continuous ones; zeros at reset), the
    previous reward (0 at reset), a trial-start flag (1 on the first observation of every trial:
    at reset and where the wrapped env's `info["trial_start"]` is set) and an episode-start flag
    (1 only at reset).
    """

    def _action_size(self, params: Any) -> int:
        space = self.env.action_space(params)
        if isinstance(space, spaces.Discrete):
            return space.n
        return require_flat_box(space, "The action space").shape[0]

    def _encode_action(self, action: Any, params: Any) -> jax.Array:
        space = self.env.action_space(params)
        if isinstance(space, spaces.Discrete):
            return jax.nn.one_hot(action, space.n, dtype=jnp.float32)
        low, high = box_bounds(space)
        return jnp.clip(jnp.asarray(action, jnp.float32).reshape(space.shape), low, high)

    def observation_space(self, params: Any) -> spaces.Box:
        obs_low, obs_high = box_bounds(
            require_flat_box(self.env.observation_space(params), "The observation space")
        )
        space = self.env.action_space(params)
        if isinstance(space, spaces.Discrete):
            act_low, act_high = jnp.zeros((space.n,)), jnp.ones((space.n,))
        else:
            act_low, act_high = box_bounds(space)
        low = jnp.concatenate([obs_low, act_low, jnp.array([-FLOAT_MAX, 0.0, 0.0])])
        high = jnp.concatenate([obs_high, act_high, jnp.array([FLOAT_MAX, 1.0, 1.0])])
        return spaces.Box(low, high, low.shape, jnp.float32)

    def reset_env(self, key: jax.Array, params: Any) -> tuple[jax.Array, Any]:
        """Resets the wrapped env; no previous action or reward yet, both flags set."""
        obs, state = self.env.reset_env(key, params)
        extra = jnp.concatenate([jnp.zeros((self._action_size(params) + 1,)), jnp.ones((2,))])
        return jnp.concatenate([obs.astype(jnp.float32), extra]), state

    def step_env(
        self, key: jax.Array, state: Any, action: Any, params: Any
    ) -> tuple[jax.Array, Any, jax.Array, jax.Array, dict]:
        """Steps the wrapped env and appends this step's action, reward and trial start."""
        obs, state, reward, terminated, info = self.env.step_env(key, state, action, params)
        trial_start = jnp.asarray(info.get("trial_start", False), jnp.float32)
        extra = jnp.stack([jnp.asarray(reward, jnp.float32), trial_start, jnp.float32(0.0)])
        obs = jnp.concatenate([obs.astype(jnp.float32), self._encode_action(action, params), extra])
        return obs, state, reward, terminated, info
