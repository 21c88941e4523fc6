"""DreamerV3's critic loss and its slow target critic.

The critic predicts, for each imagined state `s_t`, a categorical over bins evenly spaced in
symlog space (`rlssm.world_models.latents.TwoHotReward`: the reward head's distribution, reused
for values); its value is `symexp` of the expected bin. It is trained by the cross-entropy against
the two-hot encoding of `symlog` of the lambda-return, plus a regulariser: the same cross-entropy
against the value that a slow critic (an exponential moving average of the critic's parameters,
see `ema_update`) predicts for the same state. Targets carry no gradient. Each state's term is
weighted by `discount_weights`, and the loss is the mean over `[horizon, B]`.

`critic_loss` defines the loss; `critic_loss_grad` gives the same loss and its gradient with
respect to the logits in closed form (`weight * ((1 + slow_reg) * softmax - labels) / count`),
which the agent uses: on the CPU it saves several passes over the `[rows, K]` logits that
autodiff of the softmax cross-entropy makes.

Axis names: `horizon` imagination steps, `B` trajectories, `K` value bins, `rows` imagined states
on one axis (`[horizon + 1, B]` merged, as the agent runs its heads).
"""

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, PyTree

from rlssm.world_models.latents import TwoHotReward, log_softmax, symlog, twohot


def critic_loss(
    distribution: TwoHotReward,
    logits: Float[Array, "horizon B K"],
    returns: Float[Array, "horizon B"],
    slow_value: Float[Array, "horizon B"],
    weight: Float[Array, "horizon B"],
    slow_reg: float = 1.0,
) -> tuple[Float[Array, ""], dict[str, Float[Array, ""]]]:
    """`mean(weight * (CE(logits, R) + slow_reg * CE(logits, slow_value)))` over `[horizon, B]`.

    Args:
        distribution: the value distribution (its bins and two-hot cross-entropy).
        logits: the critic's output for `s_0 .. s_{horizon-1}`, `[horizon, B, K]`.
        returns: lambda-returns `R[horizon, B]` of the same states (`lambda_returns`).
        slow_value: the slow critic's predicted values of the same states, `[horizon, B]`.
        weight: loss weights `[horizon, B]` (`discount_weights`).
        slow_reg: weight of the regulariser towards the slow critic.

    Returns:
        The scalar loss and metrics `critic_loss`, `value` (mean predicted value) and
        `value_error` (mean |predicted value - return|).
    """
    returns, slow_value, weight = jax.lax.stop_gradient((returns, slow_value, weight))
    per_state = distribution.loss(logits, returns) + slow_reg * distribution.loss(
        logits, slow_value
    )
    loss = (weight * per_state).mean()
    value = jax.lax.stop_gradient(distribution.mean(logits))
    metrics = {
        "critic_loss": loss,
        "value": value.mean(),
        "value_error": abs(value - returns).mean(),
    }
    return loss, metrics


def critic_loss_grad(
    distribution: TwoHotReward,
    logits: Float[Array, "rows K"],
    returns: Float[Array, " rows"],
    slow_value: Float[Array, " rows"],
    weight: Float[Array, " rows"],
    slow_reg: float = 1.0,
    count: int | None = None,
) -> tuple[Float[Array, ""], Float[Array, "rows K"]]:
    """`critic_loss`'s loss and its gradient with respect to `logits`, in closed form.

    The loss is `sum(weight * (CE(logits, R) + slow_reg * CE(logits, slow_value))) / count`;
    each two-hot label sums to 1, so its gradient is
    `weight * ((1 + slow_reg) * softmax(logits) - labels) / count`. Rows of weight 0 (the
    bootstrap states of a trajectory, kept so the logits need no slicing) add nothing.

    Args:
        distribution: the value distribution (its bins).
        logits: the critic's output, one row per state.
        returns, slow_value, weight: per row, as in `critic_loss` (no gradient).
        slow_reg: weight of the regulariser towards the slow critic.
        count: the number of states the loss averages over (default: all rows).

    Returns:
        The scalar loss (equal to `critic_loss` on the weighted rows) and `d loss / d logits`.
    """
    returns, slow_value, weight = jax.lax.stop_gradient((returns, slow_value, weight))
    count = logits.shape[0] if count is None else count
    bins = distribution.bins()
    labels = twohot(symlog(returns), bins) + slow_reg * twohot(symlog(slow_value), bins)
    log_probs = log_softmax(logits)
    per_row = weight / count
    loss = -jnp.sum(per_row[:, None] * labels * log_probs)
    grads = per_row[:, None] * ((1.0 + slow_reg) * jnp.exp(log_probs) - labels)
    return loss, grads


def ema_update(target_params: PyTree, params: PyTree, decay: float = 0.98) -> PyTree:
    """`decay * target_params + (1 - decay) * params`, leaf by leaf (the slow critic's update).

    DreamerV3 updates its slow critic every step with `decay = 0.98`.
    """
    return jax.tree.map(lambda old, new: decay * old + (1.0 - decay) * new, target_params, params)
