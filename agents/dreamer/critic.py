"""DreamerV3's critic loss and its slow target critic.

The critic predicts, for each imagined state `s_t`, a categorical over bins evenly spaced in
symlog space (`rlssm.world_models.latents.TwoHotReward`: the reward head's distribution, reused
for values); its value is `symexp` of the expected bin. It is trained by the cross-entropy against
the two-hot encoding of `symlog` of the lambda-return, plus a regulariser: the same cross-entropy
against the value that a slow critic (an exponential moving average of the critic's parameters,
see `ema_update`) predicts for the same state. Targets carry no gradient. Each state's term is
weighted by `discount_weights`, and the loss is the mean over `[horizon, B]`.

Axis names: `horizon` imagination steps, `B` trajectories, `K` value bins.
"""

import jax
from jaxtyping import Array, Float, PyTree

from rlssm.world_models.latents import TwoHotReward


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


def ema_update(target_params: PyTree, params: PyTree, decay: float = 0.98) -> PyTree:
    """`decay * target_params + (1 - decay) * params`, leaf by leaf (the slow critic's update).

    DreamerV3 updates its slow critic every step with `decay = 0.98`.
    """
    return jax.tree.map(lambda old, new: decay * old + (1.0 - decay) * new, target_params, params)
