"""The training environment of a PPO config (see agents.common.environment for the wrappers)."""

from typing import Any

import jax
import jax.numpy as jnp

from agents.common.environment import EnvSpec, reset, step
from agents.common.environment import make_env as make_task
from agents.ppo.config import PPOConfig

__all__ = ["EnvSpec", "env_action", "make_env", "reset", "step"]


def make_env(config: PPOConfig, name: str | None = None, **options: Any) -> EnvSpec:
    """Builds the wrapped environment of `config` (or of task `name` with `options`)."""
    return make_task(
        name or config.env_name,
        options if name else config.env_options,
        config.previous_action_reward,
        config.network.squash,
        "PPO",
    )


def env_action(raw_action: jax.Array, spec: EnvSpec, squash: bool) -> jax.Array:
    """Maps a policy sample to the action the environment gets (tanh when squashing)."""
    if spec.discrete or not squash:
        return raw_action
    return jnp.tanh(raw_action)
