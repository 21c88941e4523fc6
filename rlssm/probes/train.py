"""The generic probe trainer and evaluator: any core -> a linear readout at every step.

`fit_probe` trains `core -> Dense(C)` on a fresh batch per update (Adam, clipped, cosine-decayed
step size) inside one jitted `lax.scan`, and returns the params with the loss and accuracy
curves; `evaluate_probe` scores those params on fresh batches at any length (the params do not
depend on the length). Loss and accuracy count only the steps a task scores (`mask`). Axis
names: `T` time, `B` batch, `C` classes.
"""

import dataclasses
from collections.abc import Callable
from typing import NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax

from rlssm.cores import CoreConfig, MemoryCore, make
from rlssm.probes.batch import ProbeBatch, Task


class ProbeModel(nn.Module):
    """A memory core with a linear readout at every step: `x[T, B, D] -> logits[T, B, C]`."""

    core: MemoryCore
    num_classes: int

    @nn.compact
    def __call__(self, x: jax.Array, start: jax.Array) -> jax.Array:
        carry = self.core.initialize_carry(x.shape[1])
        _, y = self.core(carry, x, start)
        return nn.Dense(self.num_classes)(y)


class FitResult(NamedTuple):
    """What `fit_probe` returns."""

    params: dict
    """The trained params of `ProbeModel(core, task.num_classes)`."""
    loss: jax.Array
    """`[steps]` masked cross-entropy of each update's batch (before the update)."""
    accuracy: jax.Array
    """`[steps]` masked accuracy of each update's batch (before the update)."""


def masked_metrics(logits: jax.Array, batch: ProbeBatch) -> tuple[jax.Array, jax.Array]:
    """`(cross-entropy, accuracy)` averaged over the scored steps of `batch`."""
    weight = batch.mask.astype(jnp.float32)
    total = jnp.maximum(weight.sum(), 1.0)
    loss = optax.softmax_cross_entropy_with_integer_labels(logits, batch.target)
    correct = (logits.argmax(-1) == batch.target).astype(jnp.float32)
    return (loss * weight).sum() / total, (correct * weight).sum() / total


def probe_model(core: CoreConfig | MemoryCore, task: Task) -> ProbeModel:
    """The model `fit_probe` trains for `core` (a config or a built core) on `task`."""
    return ProbeModel(make(core) if isinstance(core, CoreConfig) else core, task.num_classes)


def fit_probe(
    core: CoreConfig | MemoryCore,
    task: Task,
    key: jax.Array,
    *,
    length: int = 64,
    batch_size: int = 64,
    steps: int = 1000,
    learning_rate: float = 3e-3,
    final_learning_rate: float = 3e-4,
    max_grad_norm: float = 1.0,
) -> FitResult:
    """Trains `core -> Dense(C)` on `task` at `length`, one fresh batch per update.

    Args:
        core: A core config (built with `rlssm.cores.make`) or a built core.
        task: The probe task.
        key: Draws the initial params and every batch.
        length: Training sequence length `T`.
        batch_size: Episodes per update `B`.
        steps: Number of Adam updates (one jitted `lax.scan`).
        learning_rate: Initial step size, decayed along a cosine to `final_learning_rate`.
        final_learning_rate: Step size at the last update.
        max_grad_norm: Gradients are clipped to this global norm.
    """
    task.check_length(length)
    model = probe_model(core, task)
    schedule = optax.cosine_decay_schedule(
        learning_rate, steps, alpha=final_learning_rate / learning_rate
    )
    optimizer = optax.chain(optax.clip_by_global_norm(max_grad_norm), optax.adam(schedule))

    def loss_fn(params, batch):
        loss, accuracy = masked_metrics(model.apply(params, batch.x, batch.start), batch)
        return loss, accuracy

    def update(state, step_key):
        params, opt_state = state
        batch = task.sample(step_key, length, batch_size)
        (loss, accuracy), grads = jax.value_and_grad(loss_fn, has_aux=True)(params, batch)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return (optax.apply_updates(params, updates), opt_state), (loss, accuracy)

    @jax.jit
    def train(key):
        init_key, data_key = jax.random.split(key)
        example = task.sample(data_key, task.min_length(), 1)
        params = model.init(init_key, example.x, example.start)
        keys = jax.random.split(data_key, steps)
        (params, _), (loss, accuracy) = jax.lax.scan(update, (params, optimizer.init(params)), keys)
        return FitResult(params, loss, accuracy)

    return train(key)


def probe_accuracy(
    core: CoreConfig | MemoryCore, task: Task, length: int, batch_size: int
) -> Callable[[dict, jax.Array], jax.Array]:
    """`accuracy(params, key)`: the scored-step accuracy on a fresh batch (jittable, vmappable
    over params of several seeds)."""
    task.check_length(length)
    model = probe_model(core, task)

    def accuracy(params, key):
        batch = task.sample(key, length, batch_size)
        return masked_metrics(model.apply(params, batch.x, batch.start), batch)[1]

    return accuracy


def evaluate_probe(
    core: CoreConfig | MemoryCore,
    task: Task,
    params: dict,
    key: jax.Array,
    *,
    length: int,
    batch_size: int = 256,
) -> float:
    """Accuracy over the scored steps of a fresh batch of `batch_size` episodes at `length`."""
    return float(jax.jit(probe_accuracy(core, task, length, batch_size))(params, key))


def length_matched(core: CoreConfig, train_length: int, length: int) -> CoreConfig:
    """`core` with its step size scaled by `train_length / length` (cores with a
    `step_rescale`, such as s5): over an episode of `length` steps the state then decays as it
    did over `train_length` steps in training. The trained parameters are unchanged.

    A time-invariant SSM trained at T forgets at the rate T needs; past T its state has lost
    what an early input wrote (copy-first falls to chance at 4T). Stuffed Mamba (Chen et al.,
    2024) controls length generalisation through the step size that sets the forgetting; here
    the same lever is turned towards slower forgetting, at evaluation time.
    """
    if not hasattr(core, "step_rescale"):
        raise TypeError(
            f"{type(core).__name__} has no step_rescale; length_matched needs one (s5)."
        )
    return dataclasses.replace(core, step_rescale=core.step_rescale * train_length / length)
