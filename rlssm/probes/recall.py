"""Multi-query associative recall (MQAR, Arora et al., "Zoology", 2023), laid out for length tests.

The first `num_pairs` steps each show one key-value pair, then filler steps, then the last
`num_queries` steps each show a key of those pairs; the answer at a query step is its value. The
filler grows with the length, so a longer sequence asks to keep the same pairs for longer. A pair
is one step (key and value channels both set), so that a core without a short convolution can
bind them. Channels of `x[T, B, D]`: `[keys (K) | values (V) | filler | query]`. Axis names: `T`
time, `B` batch, `P` pairs, `Q` queries.
"""

import dataclasses
from typing import ClassVar

import jax
import jax.numpy as jnp
from jaxtyping import Array, Int

from rlssm.probes.batch import ProbeBatch, Task, first_step


def mqar_batch(
    keys: Int[Array, "P B"],
    values: Int[Array, "P B"],
    query_pairs: Int[Array, "Q B"],
    length: int,
    num_keys: int,
    num_values: int,
) -> ProbeBatch:
    """The MQAR batch showing pairs `(keys[p], values[p])`, then asking for pairs `query_pairs`."""
    num_pairs, batch_size = keys.shape
    num_queries = query_pairs.shape[0]
    width = num_keys + num_values + 2
    filler_steps = length - num_pairs - num_queries
    pairs = jax.nn.one_hot(keys, width) + jax.nn.one_hot(num_keys + values, width)
    filler = jnp.broadcast_to(jax.nn.one_hot(width - 2, width), (filler_steps, batch_size, width))
    query_keys = jnp.take_along_axis(keys, query_pairs, axis=0)
    queries = jax.nn.one_hot(query_keys, width) + jax.nn.one_hot(width - 1, width)
    answers = jnp.take_along_axis(values, query_pairs, axis=0)
    target = jnp.zeros((length, batch_size), jnp.int32).at[length - num_queries :].set(answers)
    mask = jnp.zeros((length, batch_size), bool).at[length - num_queries :].set(True)
    x = jnp.concatenate([pairs, filler, queries])
    return ProbeBatch(x, first_step(length, batch_size), target, mask)


@dataclasses.dataclass(frozen=True)
class MultiQueryRecall(Task):
    """MQAR: distinct keys of `num_keys`, values of `num_values` (chance 1/num_values)."""

    num_keys: int = 16
    """K: key vocabulary; the pairs of an episode have distinct keys."""
    num_values: int = 16
    """V: value vocabulary (the answer classes)."""
    num_pairs: int = 4
    """P: pairs shown at the start."""
    num_queries: int = 4
    """Q: queries at the end (keys drawn from the pairs with replacement)."""

    name: ClassVar[str] = "mqar"

    def __post_init__(self) -> None:
        if not 1 <= self.num_pairs <= self.num_keys:
            raise ValueError(
                f"MultiQueryRecall needs 1 <= num_pairs <= num_keys, got {self.num_pairs}, "
                f"{self.num_keys}."
            )
        if self.num_values < 2 or self.num_queries < 1:
            raise ValueError("MultiQueryRecall needs num_values >= 2 and num_queries >= 1.")

    @property
    def num_inputs(self) -> int:
        return self.num_keys + self.num_values + 2

    @property
    def num_classes(self) -> int:
        return self.num_values

    def min_length(self) -> int:
        return self.num_pairs + self.num_queries

    def sample(self, key: jax.Array, length: int, batch_size: int) -> ProbeBatch:
        self.check_length(length)
        key_key, value_key, query_key = jax.random.split(key, 3)
        order = jnp.argsort(jax.random.uniform(key_key, (self.num_keys, batch_size)), axis=0)
        keys = order[: self.num_pairs]
        values = jax.random.randint(value_key, (self.num_pairs, batch_size), 0, self.num_values)
        query_pairs = jax.random.randint(
            query_key, (self.num_queries, batch_size), 0, self.num_pairs
        )
        return mqar_batch(keys, values, query_pairs, length, self.num_keys, self.num_values)
