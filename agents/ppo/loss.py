"""The PPO loss over whole environment rows, and its pieces.

Axis names: `T` time, `B` environment rows of one minibatch. The network replays each row from
the carry stored at the start of the rollout with the rollout's `start` flags, so the log-probs
and values are those of the recurrence the policy acted with.
"""

from typing import NamedTuple

import jax
import jax.numpy as jnp

from agents.ppo.config import PPOConfig
from agents.ppo.network import ActorCritic, distribution
from agents.ppo.rollout import Transition


class Batch(NamedTuple):
    """One minibatch: rows of the rollout and their returns, every leaf `[T, B, ...]`."""

    transitions: Transition
    advantage: jax.Array
    target: jax.Array
    """Value targets in the space the value head predicts (normalised if configured)."""
    old_value: jax.Array
    """Rollout values in the same space as `target`."""
    initial_carry: object
    """Carry before the first step of each row, leaves `[B, ...]`."""


def policy_loss(
    log_prob: jax.Array, old_log_prob: jax.Array, advantage: jax.Array, clip_eps: float
) -> tuple[jax.Array, dict]:
    """Clipped surrogate objective (to minimise), with the approximate KL and clip fraction."""
    log_ratio = log_prob - old_log_prob
    ratio = jnp.exp(log_ratio)
    unclipped = ratio * advantage
    clipped = jnp.clip(ratio, 1.0 - clip_eps, 1.0 + clip_eps) * advantage
    loss = -jnp.minimum(unclipped, clipped).mean()
    stats = {
        "approx_kl": ((ratio - 1.0) - log_ratio).mean(),
        "clip_fraction": (jnp.abs(ratio - 1.0) > clip_eps).mean(),
    }
    return loss, stats


def value_loss(
    value: jax.Array, old_value: jax.Array, target: jax.Array, clip_eps: float, clip: bool
) -> jax.Array:
    """Half squared error to the target; pessimistic over the clipped and unclipped value."""
    error = jnp.square(value - target)
    if clip:
        clipped = old_value + jnp.clip(value - old_value, -clip_eps, clip_eps)
        error = jnp.maximum(error, jnp.square(clipped - target))
    return 0.5 * error.mean()


def normalize_advantage(advantage: jax.Array) -> jax.Array:
    """Zero mean, unit standard deviation over the minibatch."""
    return (advantage - advantage.mean()) / (advantage.std() + 1e-8)


def ppo_loss(
    params, network: ActorCritic, config: PPOConfig, discrete: bool, batch: Batch
) -> tuple[jax.Array, dict]:
    """Total loss of one minibatch and its named terms."""
    tr = batch.transitions
    _, out = network.apply(params, batch.initial_carry, tr.obs, tr.start)
    dist = distribution(out, discrete)
    advantage = batch.advantage
    if config.normalize_advantages:
        advantage = normalize_advantage(advantage)
    pg_loss, stats = policy_loss(dist.log_prob(tr.action), tr.log_prob, advantage, config.clip_eps)
    v_loss = value_loss(
        out.value, batch.old_value, batch.target, config.clip_eps, config.clip_value
    )
    entropy = dist.entropy().mean()
    total = pg_loss + config.vf_coef * v_loss - config.ent_coef * entropy
    terms = {"loss": total, "policy_loss": pg_loss, "value_loss": v_loss, "entropy": entropy}
    return total, {**terms, **stats}
