"""The optimiser step of a world model: parameters, optimiser state and one optax update.

optimizer = make_optimizer(lr=1e-3, grad_clip=100.0)
train_state = init_train_state(model, optimizer, key)
step = jax.jit(make_optimizer_step(model, optimizer))
train_state, metrics = step(train_state, batch, key)   # batch: rlssm.world_models.Batch [T, B]
"""

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax
from jaxtyping import Array, Float, Int, Key, PyTree

from rlssm.world_models import Batch, WorldModel, WorldModelCarry

Params = PyTree[Float[Array, "..."]]
"""World-model parameters, from `WorldModel.init`."""


class TrainState(NamedTuple):
    """Parameters, optimiser state and the number of updates applied."""

    params: Params
    """World-model parameters."""
    opt_state: optax.OptState
    """Optimiser state."""
    step: Int[Array, ""]
    """Updates applied (int32 scalar)."""


Metrics = dict[str, Float[Array, ""]]
OptimizerStep = Callable[..., tuple[TrainState, Metrics]]


def make_optimizer(lr: float, grad_clip: float) -> optax.GradientTransformation:
    """Adam after global-norm gradient clipping (DreamerV3's world-model optimiser, simplified)."""
    return optax.chain(optax.clip_by_global_norm(grad_clip), optax.adam(lr, eps=1e-8))


def init_train_state(
    model: WorldModel, optimizer: optax.GradientTransformation, key: Key[Array, ""]
) -> TrainState:
    """Fresh parameters and optimiser state."""
    params = model.init(key)
    return TrainState(params, optimizer.init(params), jnp.zeros((), jnp.int32))


def make_optimizer_step(
    model: WorldModel, optimizer: optax.GradientTransformation
) -> OptimizerStep:
    """`step(train_state, batch, key, carry=None, backbone_action=None) -> (train_state,
    metrics)`, pure and jittable (`backbone_action`: see `WorldModel.loss`).

    The metrics are those of `model.loss` plus `grad_norm` (before the optimiser's clipping).
    """

    def step(
        train_state: TrainState,
        batch: Batch,
        key: Key[Array, ""],
        carry: WorldModelCarry | None = None,
        backbone_action: Array | None = None,
    ) -> tuple[TrainState, Metrics]:
        grad_fn = jax.grad(model.loss, has_aux=True)
        grads, metrics = grad_fn(train_state.params, batch, key, carry, backbone_action)
        return apply_gradients(train_state, grads, optimizer, metrics)

    return step


def apply_gradients(
    train_state: TrainState,
    grads: Params,
    optimizer: optax.GradientTransformation,
    metrics: Metrics,
) -> tuple[TrainState, Metrics]:
    """One optax update of `train_state` by `grads`; `metrics` gain `grad_norm` (before the
    optimiser's clipping). Any network's parameters, not only a world model's."""
    updates, opt_state = optimizer.update(grads, train_state.opt_state, train_state.params)
    params = optax.apply_updates(train_state.params, updates)
    metrics = {**metrics, "grad_norm": optax.tree.norm(grads)}
    return TrainState(params, opt_state, train_state.step + 1), metrics
