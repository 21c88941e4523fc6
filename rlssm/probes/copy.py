"""The copy-the-first-input task in its original form, with its own tiny trainer.

`copy_first_batch` builds the copy-the-first-input task: a symbol shown at `t = 0`, blanks after it,
and the symbol as the target at the last step, so only a core that keeps it for `T - 1` steps can
answer. `fit_copy_first` trains `core -> Dense(K)` on fresh batches with Adam inside one jitted
`lax.scan` and returns the loss curve. `rlssm.probes.CopyFirst` is the same task for the generic
`fit_probe` / `evaluate_probe`, which score any length. Axis names: `T` time, `B` batch, `K`
symbols, `H` width.
"""

from typing import NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax

from rlssm.cores.base import MemoryCore


class CopyBatch(NamedTuple):
    """One batch of the copy task."""

    x: jax.Array
    """Inputs `[T, B, K + 1]`: a one-hot symbol at t=0, the blank channel (index K) after."""
    start: jax.Array
    """`[T, B]` booleans, True at t=0."""
    target: jax.Array
    """`[B]` int symbol to output at the last step."""


def copy_first_batch(key: jax.Array, length: int, batch_size: int, num_symbols: int) -> CopyBatch:
    """Draws a batch of the copy-the-first-input task."""
    target = jax.random.randint(key, (batch_size,), 0, num_symbols)
    blank = jax.nn.one_hot(jnp.full((length - 1, batch_size), num_symbols), num_symbols + 1)
    first = jax.nn.one_hot(target, num_symbols + 1)[None]
    start = jnp.zeros((length, batch_size), bool).at[0].set(True)
    return CopyBatch(jnp.concatenate([first, blank]), start, target)


class _Probe(nn.Module):
    core: MemoryCore
    num_symbols: int

    @nn.compact
    def __call__(self, x, start):
        carry = self.core.initialize_carry(x.shape[1])
        _, y = self.core(carry, x, start)
        return nn.Dense(self.num_symbols)(y[-1])


def fit_copy_first(
    core: MemoryCore,
    key: jax.Array,
    length: int = 64,
    batch_size: int = 64,
    num_symbols: int = 8,
    steps: int = 300,
    learning_rate: float = 3e-3,
) -> jax.Array:
    """Trains `core` on the copy task; returns the cross-entropy per step, `[steps]`."""
    model = _Probe(core, num_symbols)
    init_key, data_key = jax.random.split(key)
    batch = copy_first_batch(data_key, length, batch_size, num_symbols)
    params = model.init(init_key, batch.x, batch.start)
    optimizer = optax.chain(optax.clip_by_global_norm(1.0), optax.adam(learning_rate))

    def loss_fn(params, batch):
        logits = model.apply(params, batch.x, batch.start)
        return optax.softmax_cross_entropy_with_integer_labels(logits, batch.target).mean()

    def update(state, step_key):
        params, opt_state = state
        batch = copy_first_batch(step_key, length, batch_size, num_symbols)
        loss, grads = jax.value_and_grad(loss_fn)(params, batch)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return (optax.apply_updates(params, updates), opt_state), loss

    @jax.jit
    def train(params, keys):
        return jax.lax.scan(update, (params, optimizer.init(params)), keys)[1]

    return train(params, jax.random.split(data_key, steps))
