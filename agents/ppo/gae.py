"""Generalised advantage estimation with termination and truncation kept apart.

Axis names: `T` time, `B` environments. At step `t` the agent saw `obs[t]`, acted, and received
`reward[t]`; the episode then goes on (the next value is `value[t + 1]`, or `last_value` after
the final step), terminates (nothing to bootstrap: the next value is 0), or is truncated by a time
limit (bootstrap from the value of `info["final_observation"]`, `final_value[t]`). In both end cases
the advantage trace is cut, since `obs[t + 1]` belongs to a new episode.

Shapes are jaxtyping annotations (documentation: nothing checks them at run time); the leading
space in `" B"` keeps linters from reading the one-word shape string as a forward reference.
"""

from typing import NamedTuple

import jax
import jax.numpy as jnp
from jaxtyping import Array, Bool, Float


class Advantages(NamedTuple):
    """GAE output."""

    advantage: Float[Array, "T B"]
    """`[T, B]` lambda-advantages."""
    target: Float[Array, "T B"]
    """`[T, B]` value targets, `advantage + value`."""


def gae(
    reward: Float[Array, "T B"],
    value: Float[Array, "T B"],
    terminated: Bool[Array, "T B"],
    truncated: Bool[Array, "T B"],
    final_value: Float[Array, "T B"],
    last_value: Float[Array, " B"],
    gamma: float,
    lam: float,
) -> Advantages:
    """Computes GAE(gamma, lambda) over a rollout.

    Args:
        reward, value, final_value: `[T, B]`; `final_value[t]` is only read where `truncated[t]`.
        terminated, truncated: `[T, B]` booleans.
        last_value: `[B]`, the value of the observation after the last step.
        gamma: discount. lam: GAE lambda.

    Returns:
        `Advantages(advantage[T, B], target[T, B])`.
    """
    next_value = jnp.concatenate([value[1:], last_value[None]], axis=0)
    ended = jnp.logical_or(terminated, truncated)
    bootstrap = jnp.where(terminated, 0.0, jnp.where(truncated, final_value, next_value))
    delta = reward + gamma * bootstrap - value
    trace = gamma * lam * (1.0 - ended.astype(value.dtype))

    def backward(carry, inputs):
        delta_t, trace_t = inputs
        advantage = delta_t + trace_t * carry
        return advantage, advantage

    _, advantage = jax.lax.scan(backward, jnp.zeros_like(last_value), (delta, trace), reverse=True)
    return Advantages(advantage, advantage + value)
