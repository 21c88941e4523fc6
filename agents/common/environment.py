"""The environment of an agent: a registry task plus the wrappers the agents rely on.

Wrapping, inside out: flatten image-like observations, optionally previous action/reward/start,
then clip (or rescale, when the policy squashes with tanh) continuous actions, and episode
statistics outermost so that logged returns are the task's own. Axis names: `B` environments,
`D` observation features.
"""

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from gymnax.environments import environment, spaces

import envs


class EnvSpec(NamedTuple):
    """What the agent needs to know about its environment."""

    env: environment.Environment
    params: Any
    discrete: bool
    action_dim: int
    """Number of discrete actions, or the size of the continuous action."""
    obs_size: int


def make_env(
    name: str,
    options: dict[str, Any] | None = None,
    previous_action_reward: bool = False,
    squash: bool = False,
    agent: str = "the agent",
) -> EnvSpec:
    """Builds task `name` with `options`, wrapped for an agent.

    Args:
        previous_action_reward: append the previous action, reward and start flag.
        squash: continuous actions come tanh-squashed in [-1, 1] (rescaled to the bounds);
            otherwise they are clipped to the bounds.
        agent: named in the error for an unusable action space.
    """
    env, params = envs.make(name, **(options or {}))
    if len(env.observation_space(params).shape) != 1:
        env = envs.FlattenObservation(env)
    if previous_action_reward:
        env = envs.PreviousActionReward(env)
    space = env.action_space(params)
    discrete = isinstance(space, spaces.Discrete)
    if not discrete and not isinstance(space, spaces.Box):
        raise ValueError(f"{name}: {agent} needs a Discrete or Box action space, got {space}.")
    if not discrete:
        env = envs.RescaleAction(env) if squash else envs.ClipAction(env)
    env = envs.EpisodeStatistics(env)
    action_dim = space.n if discrete else int(jnp.prod(jnp.asarray(space.shape)))
    obs_size = env.observation_space(params).shape[0]
    return EnvSpec(env, params, discrete, int(action_dim), int(obs_size))


def reset(spec: EnvSpec, key: jax.Array, num_envs: int) -> tuple[jax.Array, Any]:
    """Resets `num_envs` environments: `(obs[B, D], env_state)`."""
    keys = jax.random.split(key, num_envs)
    return jax.vmap(spec.env.reset, (0, None))(keys, spec.params)


def step(spec: EnvSpec, key: jax.Array, env_state: Any, action: jax.Array) -> tuple:
    """Steps every environment once (auto-reset): the gymnax >= 1.0 step tuple, batched."""
    keys = jax.random.split(key, action.shape[0])
    return jax.vmap(spec.env.step, (0, 0, 0, None))(keys, env_state, action, spec.params)
