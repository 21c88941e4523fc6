"""DreamerV3's return normalisation: the actor's advantages are divided by
`max(1, p95 - p5)`, with `p5` and `p95` exponential moving averages (decay 0.99) of the 5th and
95th percentiles of the lambda-returns of each batch. Large returns are scaled down; small ones
are not scaled up (the floor at 1), so sparse rewards do not blow up the noise.

    state = init_return_scale()
    state = update_return_scale(state, returns)   # returns [horizon, B]
    advantage = (returns - value) / scale(state)

Initialisation: the averages are bias-corrected (as in Adam, and DreamerV3's `debias` option):
the state holds `EMA / (1 - decay ** count)`, so the first update sets `low` and `high` to that
batch's own percentiles and every later one is a weighted average of all batches seen, with
weights in proportion to `decay ** age`. A plain EMA started at zero (DreamerV3's return default)
would keep the spread near 0 and so the scale at its floor 1 for the first hundred or so updates,
whatever the size of the returns.

Axis names: `horizon` imagination steps, `B` trajectories; `N` seeds when vmapped.
"""

from typing import NamedTuple

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, Int


class ReturnScale(NamedTuple):
    """Bias-corrected moving averages of the returns' low and high percentiles."""

    low: Float[Array, ""]
    """Average 5th percentile (0 before the first update)."""
    high: Float[Array, ""]
    """Average 95th percentile (0 before the first update)."""
    count: Int[Array, ""]
    """Updates so far (int32)."""


def init_return_scale() -> ReturnScale:
    """No batch seen yet: `low = high = 0`, so `scale` is 1."""
    return ReturnScale(jnp.zeros(()), jnp.zeros(()), jnp.zeros((), jnp.int32))


def update_return_scale(
    state: ReturnScale,
    returns: Float[Array, "horizon B"],
    decay: float = 0.99,
    percentiles: tuple[float, float] = (5.0, 95.0),
) -> ReturnScale:
    """Folds the percentiles of `returns` (any shape, all elements pooled) into the averages.

    Args:
        state: the averages so far.
        returns: lambda-returns, e.g. `[horizon, B]`; no gradient flows through them.
        decay: weight of the past per update.
        percentiles: the low and high percentiles, in percent.

    Returns:
        The new state; after `n` updates `low = sum_i w_i p_i / sum_i w_i` with
        `w_i = decay ** (n - i)` (and the same for `high`).
    """
    returns = jax.lax.stop_gradient(returns)
    low, high = jnp.percentile(returns, jnp.asarray(percentiles))
    count = state.count + 1
    # The bias-corrected EMA, updated in place: 1 at the first update, 1 - decay in the limit.
    rate = (1.0 - decay) / (1.0 - jnp.power(decay, count.astype(jnp.float32)))
    return ReturnScale(
        state.low + rate * (low - state.low),
        state.high + rate * (high - state.high),
        count,
    )


def scale(state: ReturnScale) -> Float[Array, ""]:
    """The advantages' divisor `max(1, high - low)` (no gradient)."""
    return jax.lax.stop_gradient(jnp.maximum(1.0, state.high - state.low))
