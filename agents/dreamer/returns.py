"""TD(lambda) returns and loss weights of a trajectory imagined by the world model (DreamerV3).

Time convention (DreamerV3's, and that of `WorldModel.imagine`): imagination starts from a
posterior state `s_0` and, for `t = 0 .. horizon - 1`, takes `action[t]` in `s_t` and reaches
`s_{t+1}`. `reward[t]` and `continues[t]` are the world model's predictions for the state
reached, `s_{t+1}` (its reward and its probability of not being terminal, possibly already
multiplied by a discount). `value[t]` is the critic's value of `s_t`, for `t = 0 .. horizon`, so
`value` is one step longer. The return of `s_t`:

    R_t = reward[t] + gamma * continues[t] * ((1 - lambda) * value[t + 1] + lambda * R_{t+1}),
    R_horizon = value[horizon].

With `continues[t] = 0`, `s_{t+1}` is terminal: `R_t = reward[t]`, nothing after it counts.
lambda = 0 gives one-step TD targets; lambda = 1 the discounted sum of rewards bootstrapped from
the last value.

Axis names: `horizon` imagination steps (DESIGN's `H` is model width, so it is spelled out
here), `B` imagined trajectories (batch).
"""

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float


def lambda_returns(
    reward: Float[Array, "horizon B"],
    value: Float[Array, "horizon+1 B"],
    continues: Float[Array, "horizon B"],
    gamma: float | Float[Array, ""],
    lambda_: float | Float[Array, ""],
) -> Float[Array, "horizon B"]:
    """TD(lambda) returns of `s_0 .. s_{horizon-1}`, computed backwards with `lax.scan`.

    Args:
        reward: `[horizon, B]`, `reward[t]` predicted for `s_{t+1}`.
        value: `[horizon + 1, B]`, `value[t]` of `s_t`; the last one bootstraps.
        continues: `[horizon, B]` in `[0, 1]`, `continues[t]` predicted for `s_{t+1}`.
        gamma: discount. lambda_: the TD(lambda) mixing weight.

    Returns:
        `R[horizon, B]`, `R[t]` the target of `value[t]` (see the module docstring).
    """
    discount = gamma * continues
    # The part of R_t that does not depend on R_{t+1}.
    immediate = reward + discount * (1.0 - lambda_) * value[1:]

    def backward(later, inputs):
        immediate_t, discount_t = inputs
        now = immediate_t + discount_t * lambda_ * later
        return now, now

    _, returns = jax.lax.scan(backward, value[-1], (immediate, discount), reverse=True)
    return returns


def discount_weights(
    continues: Float[Array, "horizon B"], gamma: float | Float[Array, ""]
) -> Float[Array, "horizon B"]:
    """Loss weights of `s_0 .. s_{horizon-1}`: how much each imagined state still counts.

    `weight[0] = 1` and `weight[t] = prod_{j < t} gamma * continues[j]`: the discounted
    probability that the trajectory reached `s_t` without ending (DreamerV3 weights the actor and
    critic losses with it, without gradient). Multiply by the start state's own continue
    probability when `s_0` may be terminal.

    Args:
        continues: `[horizon, B]`, `continues[t]` predicted for `s_{t+1}`.
        gamma: discount.

    Returns:
        `weight[horizon, B]`.
    """
    reached = jnp.cumprod(gamma * continues[:-1], axis=0)
    return jnp.concatenate([jnp.ones_like(continues[:1]), reached], axis=0)
