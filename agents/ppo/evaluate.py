"""Evaluating a trained PPO policy: fresh environments, frozen params and observation statistics.

Axis names: `T` evaluation steps, `B` environments. The policy acts greedily (argmax / Gaussian
mean) or samples in the loop every agent shares (agents.common.evaluate: every environment
starts a new episode at reset; the returns of episodes that end within `T` steps come back with
a mask):

    evaluate = make_evaluate(config, spec, network, greedy=True)
    evaluate = jax.jit(evaluate, static_argnames=("num_envs", "num_steps"))
    result = evaluate(params, obs_stats, key, num_envs=64, num_steps=1000)
    returns, lengths, done = first_episodes(result)       # one unbiased episode per environment

`first_episodes` and `first_episode_trials` (the return of each trial on meta-RL tasks) are
agents.common.evaluate's, re-exported here.
"""

from collections.abc import Callable

import jax
import jax.numpy as jnp

from agents.common import RunningStats
from agents.common.evaluate import (
    EvalResult,
    first_episode_trials,
    first_episodes,
    make_rollout,
)
from agents.ppo import environment
from agents.ppo.config import PPOConfig
from agents.ppo.environment import EnvSpec
from agents.ppo.network import ActorCritic, PolicyOutput, distribution, initialize_carry
from agents.ppo.rollout import observe

__all__ = [
    "EvalResult",
    "first_episode_trials",
    "first_episodes",
    "greedy_action",
    "make_evaluate",
    "make_policy_rollout",
]


def greedy_action(out: PolicyOutput, discrete: bool) -> jax.Array:
    """The most likely raw action: argmax of the logits, or the Gaussian mean."""
    return jnp.argmax(out.logits, axis=-1) if discrete else out.logits


def make_policy_rollout(
    config: PPOConfig, spec: EnvSpec, network: ActorCritic, greedy: bool = False
) -> Callable[..., EvalResult]:
    """Returns `rollout((params, obs_stats), key, num_envs, num_steps) -> EvalResult`, the
    shared evaluation loop (agents.common.evaluate.make_rollout) with this policy."""

    def act(policy, carry, obs, start, key):
        params, obs_stats = policy
        obs = observe(config, obs_stats, obs)
        carry, out = network.apply(params, carry, obs, start, method="step")
        if greedy:
            action = greedy_action(out, spec.discrete)
        else:
            action = distribution(out, spec.discrete).sample(seed=key)
        return carry, environment.env_action(action, spec, config.network.squash)

    def initial_carry(num_envs: int):
        return initialize_carry(config.network, config.core, num_envs)

    return make_rollout(spec, act, initial_carry)


def make_evaluate(
    config: PPOConfig, spec: EnvSpec, network: ActorCritic, greedy: bool = False
) -> Callable[..., EvalResult]:
    """Returns `evaluate(params, obs_stats, key, num_envs, num_steps) -> EvalResult`.

    Args:
        config: the training config (network, core, observation normalisation, squashing).
        spec: the environment to evaluate on; it must match the training task's observation
            size, action type and action size (e.g. a held-out meta-RL task).
        network: the trained `ActorCritic`.
        greedy: act with the most likely action instead of sampling.

    The returned function is pure; `num_envs` and `num_steps` are static under `jax.jit`.
    """
    rollout = make_policy_rollout(config, spec, network, greedy)

    def evaluate(
        params, obs_stats: RunningStats, key: jax.Array, num_envs: int, num_steps: int
    ) -> EvalResult:
        return rollout((params, obs_stats), key, num_envs, num_steps)

    return evaluate
