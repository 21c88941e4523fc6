"""Evaluating a trained policy: fresh environments, frozen params and observation statistics.

Axis names: `T` evaluation steps, `B` environments. Every environment starts a new episode at
reset; the policy acts greedily (argmax / Gaussian mean) or samples, and the returns of episodes
that end within `T` steps come back with a mask:

    evaluate = make_evaluate(config, spec, network, greedy=True)
    evaluate = jax.jit(evaluate, static_argnames=("num_envs", "num_steps"))
    result = evaluate(params, obs_stats, key, num_envs=64, num_steps=1000)
    returns, lengths, done = first_episodes(result)       # one unbiased episode per environment

Counting every completed episode inside a fixed horizon favours short episodes; the first
episode of each environment does not. On meta-RL tasks (several trials per episode, `K` of them)
`first_episode_trials(result, K)` splits that episode's return by trial, `[B, K]`: in-context
learning shows as returns that rise from the first trial to the last.
"""

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from agents.common import RunningStats
from agents.ppo import environment
from agents.ppo.config import PPOConfig
from agents.ppo.environment import EnvSpec
from agents.ppo.network import ActorCritic, PolicyOutput, distribution, initialize_carry
from agents.ppo.rollout import observe


class EvalResult(NamedTuple):
    """Per step and environment, `[T, B]`."""

    completed: jax.Array
    """True where an episode ended at this step."""
    returns: jax.Array
    """Undiscounted return of the episode that ended here (valid where `completed`)."""
    lengths: jax.Array
    """Length of the episode that ended here (valid where `completed`)."""
    rewards: jax.Array
    """Reward of this step."""
    trial: jax.Array
    """int32: trial of its episode this step belongs to (0 for tasks without trials)."""


class EvalCarry(NamedTuple):
    """Loop state of the evaluation scan."""

    env_state: Any
    obs: jax.Array
    start: jax.Array
    carry: Any
    key: jax.Array
    trial: jax.Array
    """int32 `[B]`: trials completed so far in each environment's current episode."""


def greedy_action(out: PolicyOutput, discrete: bool) -> jax.Array:
    """The most likely raw action: argmax of the logits, or the Gaussian mean."""
    return jnp.argmax(out.logits, axis=-1) if discrete else out.logits


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

    def act(params, obs_stats: RunningStats, state: EvalCarry, key: jax.Array):
        obs = observe(config, obs_stats, state.obs)
        carry, out = network.apply(params, state.carry, obs, state.start, method="step")
        if greedy:
            return carry, greedy_action(out, spec.discrete)
        return carry, distribution(out, spec.discrete).sample(seed=key)

    def evaluate(
        params, obs_stats: RunningStats, key: jax.Array, num_envs: int, num_steps: int
    ) -> EvalResult:
        key, reset_key = jax.random.split(key)
        obs, env_state = environment.reset(spec, reset_key, num_envs)
        carry = initialize_carry(config.network, config.core, num_envs)
        start = jnp.ones((num_envs,), bool)

        def step(state: EvalCarry, _) -> tuple[EvalCarry, EvalResult]:
            key, act_key, step_key = jax.random.split(state.key, 3)
            carry, action = act(params, obs_stats, state, act_key)
            env_act = environment.env_action(action, spec, config.network.squash)
            obs, env_state, reward, terminated, truncated, info = environment.step(
                spec, step_key, state.env_state, env_act
            )
            done = jnp.logical_or(terminated, truncated)
            result = EvalResult(
                done,
                info["returned_episode_return"],
                info["returned_episode_length"],
                reward,
                state.trial,
            )
            completed_trials = info.get("trial", jnp.zeros_like(state.trial))
            trial = jnp.where(done, 0, completed_trials).astype(jnp.int32)
            return EvalCarry(env_state, obs, done, carry, key, trial), result

        trial = jnp.zeros((num_envs,), jnp.int32)
        initial = EvalCarry(env_state, obs, start, carry, key, trial)
        _, result = jax.lax.scan(step, initial, None, num_steps)
        return result

    return evaluate


def first_end(result: EvalResult) -> tuple[jax.Array, jax.Array]:
    """`(step[B], done[B])`: the step where each environment's first episode ended, and whether
    it ended within the horizon (where not, `step` is the last step)."""
    done = result.completed.any(axis=0)
    last = result.completed.shape[0] - 1
    return jnp.where(done, jnp.argmax(result.completed, axis=0), last), done


def first_episodes(result: EvalResult) -> tuple[jax.Array, jax.Array, jax.Array]:
    """The first completed episode of each environment: `(returns[B], lengths[B], done[B])`.

    `done[b]` is False where environment `b` finished no episode (its entries are 0 then).
    """
    first, done = first_end(result)
    columns = jnp.arange(result.completed.shape[1])
    returns = jnp.where(done, result.returns[first, columns], 0.0)
    lengths = jnp.where(done, result.lengths[first, columns], 0)
    return returns, lengths, done


def first_episode_trials(result: EvalResult, num_trials: int) -> tuple[jax.Array, jax.Array]:
    """Per-trial returns of the first episode of each environment: `(returns[B, K], done[B])`.

    `returns[b, k]` sums the rewards of trial `k` (`K = num_trials`) of environment `b`'s first
    episode (the one `first_episodes` returns; its row sums to that episode's return). Trials
    that did not happen within the horizon count 0; `done[b]` is False where the first episode
    did not finish.
    """
    first, done = first_end(result)
    in_first = jnp.arange(result.completed.shape[0])[:, None] <= first[None, :]
    weights = jnp.where(in_first, result.rewards, 0.0)
    onehot = jax.nn.one_hot(result.trial, num_trials, dtype=weights.dtype)
    return jnp.einsum("tb,tbk->bk", weights, onehot), done
