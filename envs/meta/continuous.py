"""gymnax control tasks re-driven by one continuous action `u[1]` in [-1, 1].

Their physics is gymnax's own: only the action is mapped onto what the task expects, so that
every family of `MultiTask` acts in a Box.
"""

from typing import Any

import jax
import jax.numpy as jnp
from gymnax.environments import spaces
from gymnax.environments.classic_control import acrobot, cartpole


class UnitBoxAction:
    """Mixin for a gymnax task re-driven by one continuous action `u[1]` in [-1, 1]."""

    @property
    def name(self) -> str:
        return type(self).__name__

    @property
    def num_actions(self) -> int:
        return 1

    def action_space(self, params: Any = None) -> spaces.Box:
        return spaces.Box(-jnp.ones((1,)), jnp.ones((1,)), (1,), jnp.float32)


class ContinuousCartPole(UnitBoxAction, cartpole.CartPole):
    """gymnax CartPole-v1 pushed with a continuous force `force_mag * u`, `u[1]` in [-1, 1]."""

    def step_env(
        self, key: jax.Array, state: cartpole.EnvState, action: jax.Array, params: Any
    ) -> tuple[jax.Array, cartpole.EnvState, jax.Array, jax.Array, dict]:
        """Steps CartPole-v1's physics with force `force_mag * clip(action, -1, 1)`."""
        force = jnp.clip(jnp.reshape(action, ()), -1.0, 1.0)
        # gymnax pushes with force_mag * (2 a - 1); a = (u + 1) / 2 gives force_mag * u.
        return super().step_env(key, state, (force + 1.0) / 2.0, params)


class ContinuousAcrobot(UnitBoxAction, acrobot.Acrobot):
    """gymnax Acrobot-v1 driven by a continuous torque `u[1]` in [-1, 1] (v1's torques are ±1)."""

    def step_env(
        self, key: jax.Array, state: acrobot.EnvState, action: jax.Array, params: Any
    ) -> tuple[jax.Array, acrobot.EnvState, jax.Array, jax.Array, dict]:
        """Steps Acrobot-v1's physics with torque `clip(action, -1, 1)`."""
        # gymnax looks the torque up in params.available_torque: offer the one chosen torque.
        torque = jnp.clip(jnp.reshape(action, (1,)), -1.0, 1.0)
        return super().step_env(key, state, 0, params.replace(available_torque=torque))
