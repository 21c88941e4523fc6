"""A jittable optax update for the world models (no file I/O, no printing).

model = rlssm.world_models.make("s4wm", obs_shape=(8,), action_dim=2)
optimizer = optax.adam(3e-4)
train_state = init_train_state(model, optimizer, key)
update = jax.jit(make_update(model, optimizer))
train_state, metrics = update(train_state, batch, key)
"""

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from rlssm.world_models.base import WorldModel
from rlssm.world_models.state import Batch, WorldModelCarry


class TrainState(NamedTuple):
    """Parameters, optimiser state and the number of updates done."""

    params: Any
    """World-model parameters."""
    opt_state: optax.OptState
    """Optimiser state."""
    step: jax.Array
    """Updates done (int32 scalar)."""


def init_train_state(
    model: WorldModel, optimizer: optax.GradientTransformation, key: jax.Array
) -> TrainState:
    """Fresh parameters and optimiser state."""
    params = model.init(key)
    return TrainState(params, optimizer.init(params), jnp.zeros((), jnp.int32))


Update = Callable[..., tuple[TrainState, dict[str, jax.Array]]]


def make_update(model: WorldModel, optimizer: optax.GradientTransformation) -> Update:
    """`update(train_state, batch, key, carry=None) -> (train_state, metrics)`, pure and jittable.

    The metrics are those of `model.loss` plus `grad_norm` (before the optimiser's clipping).
    """

    def update(
        train_state: TrainState, batch: Batch, key: jax.Array, carry: WorldModelCarry | None = None
    ) -> tuple[TrainState, dict[str, jax.Array]]:
        grad_fn = jax.grad(model.loss, has_aux=True)
        grads, metrics = grad_fn(train_state.params, batch, key, carry)
        updates, opt_state = optimizer.update(grads, train_state.opt_state, train_state.params)
        params = optax.apply_updates(train_state.params, updates)
        metrics = {**metrics, "grad_norm": optax.tree.norm(grads)}
        return TrainState(params, opt_state, train_state.step + 1), metrics

    return update
