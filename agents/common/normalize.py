"""Running mean and variance (Chan et al.'s parallel update), for observations and returns.

Axis names: `B` samples folded in at once; `...` the feature shape of the statistics.
"""

from typing import NamedTuple

import jax.numpy as jnp
from jaxtyping import Array, Float


class RunningStats(NamedTuple):
    """Statistics of everything seen so far, per feature."""

    mean: Float[Array, "..."]
    var: Float[Array, "..."]
    count: Float[Array, ""]
    """Number of samples (float32 scalar); starts at a tiny value so the first update dominates."""


def init_stats(shape: tuple[int, ...] = ()) -> RunningStats:
    """Mean 0, variance 1, (almost) no samples."""
    return RunningStats(jnp.zeros(shape), jnp.ones(shape), jnp.asarray(1e-4, jnp.float32))


def update_stats(stats: RunningStats, batch: Float[Array, "B ..."]) -> RunningStats:
    """Folds `batch[B, ...]` into the statistics."""
    batch_mean = batch.mean(axis=0)
    batch_var = batch.var(axis=0)
    batch_count = jnp.asarray(batch.shape[0], jnp.float32)
    total = stats.count + batch_count
    delta = batch_mean - stats.mean
    mean = stats.mean + delta * batch_count / total
    m2 = stats.var * stats.count + batch_var * batch_count
    m2 = m2 + jnp.square(delta) * stats.count * batch_count / total
    return RunningStats(mean, m2 / total, total)


def normalize(
    stats: RunningStats, x: Float[Array, "..."], clip: float = 10.0
) -> Float[Array, "..."]:
    """`(x - mean) / std`, clipped to `[-clip, clip]`."""
    return jnp.clip((x - stats.mean) / jnp.sqrt(stats.var + 1e-8), -clip, clip)


def denormalize(stats: RunningStats, x: Float[Array, "..."]) -> Float[Array, "..."]:
    """Inverse of `normalize` (without the clip)."""
    return x * jnp.sqrt(stats.var + 1e-8) + stats.mean
