"""Collecting a rollout: `T` steps of `B` environments with the recurrent policy.

Axis names: `T` time (`num_steps`), `B` environments, `D` observation features, `A` actions.
The carry at the start of the rollout is kept (`Rollout.initial_carry`), so the update replays
each environment row from exactly the state the policy acted from.
"""

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from flax.training.train_state import TrainState

from agents.common import RunningStats, denormalize, normalize, update_stats
from agents.ppo import environment
from agents.ppo.config import PPOConfig
from agents.ppo.environment import EnvSpec
from agents.ppo.network import ActorCritic, distribution


class RunnerState(NamedTuple):
    """Everything the training loop carries from one update to the next (one seed)."""

    train_state: TrainState
    """Params, optimiser state and the optimiser step count."""
    env_state: Any
    """Batched environment state `[B, ...]` (episode statistics included)."""
    obs: jax.Array
    """`[B, D]` raw observations the policy acts on next."""
    start: jax.Array
    """`[B]` True where `obs` is the first observation of an episode."""
    carry: Any
    """Core carry before `obs`, every leaf `[B, ...]`."""
    obs_stats: RunningStats
    """Running observation statistics (unused unless `normalize_obs`)."""
    return_stats: RunningStats
    """Running statistics of value targets (unused unless `normalize_value`)."""
    key: jax.Array
    """RNG key."""
    update: jax.Array
    """Updates done so far (int32 scalar)."""
    nonfinite_streak: jax.Array
    """Updates in a row that had a non-finite loss or gradient (int32 scalar)."""


class Transition(NamedTuple):
    """One step of every environment; stacked by the rollout into `[T, B, ...]`."""

    obs: jax.Array
    """`[B, D]` observation as the network saw it (normalised if configured)."""
    start: jax.Array
    action: jax.Array
    """`[B]` or `[B, A]` raw policy sample (before tanh squashing)."""
    log_prob: jax.Array
    value: jax.Array
    """`[B]` value estimate in return units."""
    reward: jax.Array
    terminated: jax.Array
    truncated: jax.Array
    final_value: jax.Array
    """`[B]` value of `info["final_observation"]` (bootstraps truncated steps)."""
    info: dict
    """Episode statistics of this step (`returned_episode`, `returned_episode_return`, ...)."""


class Rollout(NamedTuple):
    """A finished rollout."""

    transitions: Transition
    """Every field `[T, B, ...]`."""
    initial_carry: Any
    """Core carry before the first step, leaves `[B, ...]`."""
    last_value: jax.Array
    """`[B]` value of the observation after the last step."""


def observe(config: PPOConfig, stats: RunningStats, obs: jax.Array) -> jax.Array:
    """The network's view of a raw observation `[B, D]`."""
    return normalize(stats, obs) if config.normalize_obs else obs


def value_in_returns(config: PPOConfig, stats: RunningStats, value: jax.Array) -> jax.Array:
    """The value head's output in return units."""
    return denormalize(stats, value) if config.normalize_value else value


def make_rollout(config: PPOConfig, spec: EnvSpec, network: ActorCritic):
    """Returns `rollout(runner_state) -> (runner_state, Rollout)` for `config.num_steps` steps."""

    def evaluate(params, state: RunnerState, carry, raw_obs, start):
        _, out = network.apply(
            params, carry, observe(config, state.obs_stats, raw_obs), start, method="step"
        )
        return value_in_returns(config, state.return_stats, out.value)

    def env_step(state: RunnerState, _) -> tuple[RunnerState, Transition]:
        key, act_key, step_key = jax.random.split(state.key, 3)
        params = state.train_state.params
        obs_stats = (
            update_stats(state.obs_stats, state.obs) if config.normalize_obs else (state.obs_stats)
        )
        obs = observe(config, obs_stats, state.obs)
        carry, out = network.apply(params, state.carry, obs, state.start, method="step")
        dist = distribution(out, spec.discrete)
        action, log_prob = dist.sample_and_log_prob(seed=act_key)
        env_act = environment.env_action(action, spec, config.network.squash)
        next_obs, env_state, reward, terminated, truncated, info = environment.step(
            spec, step_key, state.env_state, env_act
        )
        state = state._replace(obs_stats=obs_stats)
        final_value = (
            evaluate(params, state, carry, info["final_observation"], jnp.zeros_like(state.start))
            if config.bootstrap_truncated
            else jnp.zeros_like(reward)
        )
        transition = Transition(
            obs=obs,
            start=state.start,
            action=action,
            log_prob=log_prob,
            value=value_in_returns(config, state.return_stats, out.value),
            reward=reward.astype(jnp.float32),
            terminated=terminated,
            truncated=truncated,
            final_value=final_value,
            info={k: info[k] for k in EPISODE_KEYS},
        )
        state = state._replace(
            env_state=env_state,
            obs=next_obs,
            start=jnp.logical_or(terminated, truncated),
            carry=carry,
            key=key,
        )
        return state, transition

    def rollout(state: RunnerState) -> tuple[RunnerState, Rollout]:
        initial_carry = state.carry
        state, transitions = jax.lax.scan(env_step, state, None, config.num_steps)
        last_value = evaluate(state.train_state.params, state, state.carry, state.obs, state.start)
        return state, Rollout(transitions, initial_carry, last_value)

    return rollout


EPISODE_KEYS = (
    "returned_episode",
    "returned_episode_return",
    "returned_episode_length",
    "episode_count",
)
