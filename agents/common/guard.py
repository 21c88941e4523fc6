"""The non-finite guard of a training step: skip an update whose loss or gradient is not finite.

    finite = all_finite(loss, grad_norm)
    train_state = keep_if_finite(updated, train_state, finite)   # the whole state, or none of it
    streak = nonfinite_streak(streak, finite)                    # skipped updates in a row

A skipped step leaves the whole train state unchanged: parameters, optimiser state and step
counter. That is why the guard selects between two whole states instead of being an optax
transform: a transform sees neither the loss nor the step counter outside the optimiser state,
and `optax.apply_if_finite` adds counters to the optimiser state, which would change the
checkpointed pytree. On a finite step the selection returns the new state exactly (bitwise).
"""

import functools
import operator
from typing import TypeVar

import jax
import jax.numpy as jnp
from jaxtyping import Array, Bool, Int, Num

State = TypeVar("State")


def all_finite(*values: Num[Array, ""]) -> Bool[Array, ""]:
    """True when every scalar (a loss, a gradient norm, ...) is finite."""
    return functools.reduce(operator.and_, (jnp.isfinite(value) for value in values))


def keep_if_finite(new: State, old: State, finite: Bool[Array, ""]) -> State:
    """`new` if `finite`, else `old`, leaf by leaf (two pytrees of the same structure)."""
    return jax.tree.map(lambda n, o: jnp.where(finite, n, o), new, old)


def nonfinite_streak(streak: Int[Array, ""], finite: Bool[Array, ""]) -> Int[Array, ""]:
    """Non-finite updates in a row after this one: 0 when it was finite, else one more."""
    return jnp.where(finite, 0, streak + 1)
