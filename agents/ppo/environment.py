"""The training environment of a PPO config: the registry task plus the wrappers PPO relies on.

Wrapping, inside out: flatten image-like observations, optionally previous action/reward/start,
then clip (or rescale, when the policy squashes with tanh) continuous actions, and episode
statistics outermost so that logged returns are the task's own.
"""

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from gymnax.environments import environment, spaces

import envs
from agents.ppo.config import PPOConfig


class EnvSpec(NamedTuple):
    """What the agent needs to know about its environment."""

    env: environment.Environment
    params: Any
    discrete: bool
    action_dim: int
    """Number of discrete actions, or the size of the continuous action."""
    obs_size: int


def make_env(config: PPOConfig, name: str | None = None, **options: Any) -> EnvSpec:
    """Builds the wrapped environment of `config` (or of task `name` with `options`)."""
    env, params = envs.make(name or config.env_name, **(options if name else config.env_options))
    if len(env.observation_space(params).shape) != 1:
        env = envs.FlattenObservation(env)
    if config.previous_action_reward:
        env = envs.PreviousActionReward(env)
    space = env.action_space(params)
    discrete = isinstance(space, spaces.Discrete)
    if not discrete and not isinstance(space, spaces.Box):
        raise ValueError(
            f"{config.env_name}: PPO needs a Discrete or Box action space, got {space}."
        )
    if not discrete:
        env = envs.RescaleAction(env) if config.network.squash else envs.ClipAction(env)
    env = envs.EpisodeStatistics(env)
    action_dim = space.n if discrete else int(jnp.prod(jnp.asarray(space.shape)))
    obs_size = env.observation_space(params).shape[0]
    return EnvSpec(env, params, discrete, int(action_dim), int(obs_size))


def env_action(raw_action: jax.Array, spec: EnvSpec, squash: bool) -> jax.Array:
    """Maps a policy sample to the action the environment gets (tanh when squashing)."""
    if spec.discrete or not squash:
        return raw_action
    return jnp.tanh(raw_action)


def reset(spec: EnvSpec, key: jax.Array, num_envs: int) -> tuple[jax.Array, Any]:
    """Resets `num_envs` environments: `(obs[B, D], env_state)`."""
    keys = jax.random.split(key, num_envs)
    return jax.vmap(spec.env.reset, (0, None))(keys, spec.params)


def step(spec: EnvSpec, key: jax.Array, env_state: Any, action: jax.Array) -> tuple:
    """Steps every environment once (auto-reset): the gymnax >= 1.0 step tuple, batched."""
    keys = jax.random.split(key, action.shape[0])
    return jax.vmap(spec.env.step, (0, 0, 0, None))(keys, env_state, action, spec.params)
