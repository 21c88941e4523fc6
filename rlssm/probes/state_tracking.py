"""State-tracking probes: parity, addition mod m (the cyclic group) and composition of S5.

Each shows one group element per step (one-hot) and asks, at every step, for the product of all
elements so far. Parity and addition mod m are abelian (a diagonal linear recurrence solves them
with eigenvalues on the unit circle: -1 for parity); S5, the permutations of 5 elements, is the
smallest non-solvable group, so no finite stack of diagonal linear recurrences with real positive
eigenvalues tracks it (Merrill et al., "The Illusion of State in State-Space Models", 2024;
Grazzi et al., "Unlocking State-Tracking in Linear RNNs Through Negative Eigenvalues", 2025).
Axis names: `T` time, `B` batch.
"""

import dataclasses
import functools
import itertools
from typing import ClassVar

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Int

from rlssm.probes.batch import ProbeBatch, Task, every_step


def cumulative_sum_mod(tokens: Int[Array, "T B"], modulus: int) -> Int[Array, "T B"]:
    """`(tokens[0] + ... + tokens[t]) mod modulus` at every `t` (the answers of ModularSum)."""
    return jax.lax.associative_scan(lambda a, b: (a + b) % modulus, tokens % modulus, axis=0)


@functools.cache
def s5_permutations() -> np.ndarray:
    """The 120 permutations of (0, ..., 4) as rows `[120, 5]`, in lexicographic order (row 0 is
    the identity)."""
    return np.array(list(itertools.permutations(range(5))), np.int32)


@functools.cache
def s5_composition_table() -> np.ndarray:
    """`table[g, s]`: the index of `g o s` (apply `s`, then `g`: `(g o s)[k] = g[s[k]]`)."""
    perms = s5_permutations()
    index = {tuple(p): i for i, p in enumerate(perms)}
    return np.array([[index[tuple(g[s])] for s in perms] for g in perms], np.int32)


def s5_prefix_products(tokens: Int[Array, "T B"]) -> Int[Array, "T B"]:
    """The index of `g_t o ... o g_0` at every `t`, for permutation indices `tokens`."""
    table = jnp.asarray(s5_composition_table())

    def step(state, token):
        state = table[token, state]
        return state, state

    identity = jnp.zeros(tokens.shape[1], jnp.int32)
    return jax.lax.scan(step, identity, tokens)[1]


@dataclasses.dataclass(frozen=True)
class ModularSum(Task):
    """Addition mod m: a token in 0..m-1 per step (one-hot `[T, B, m]`); the answer at every step
    is the running sum mod m (chance 1/m)."""

    modulus: int = 5
    """m: the order of the cyclic group."""

    name: ClassVar[str] = "modular_sum"

    def __post_init__(self) -> None:
        if self.modulus < 2:
            raise ValueError(f"ModularSum.modulus must be >= 2, got {self.modulus}.")

    @property
    def num_inputs(self) -> int:
        return self.modulus

    @property
    def num_classes(self) -> int:
        return self.modulus

    def sample(self, key: jax.Array, length: int, batch_size: int) -> ProbeBatch:
        self.check_length(length)
        tokens = jax.random.randint(key, (length, batch_size), 0, self.modulus)
        return every_step(tokens, self.modulus, cumulative_sum_mod(tokens, self.modulus))


@dataclasses.dataclass(frozen=True)
class Parity(ModularSum):
    """Parity of a bit stream: a bit per step (one-hot `[T, B, 2]`); the answer at every step is
    the XOR of the bits so far (chance 1/2). Addition mod 2."""

    modulus: int = 2
    """Always 2."""

    name: ClassVar[str] = "parity"

    def __post_init__(self) -> None:
        if self.modulus != 2:
            raise ValueError(f"Parity is addition mod 2; use ModularSum({self.modulus}).")


@dataclasses.dataclass(frozen=True)
class S5Composition(Task):
    """Composition of permutations of 5 elements: a permutation index per step (one-hot
    `[T, B, 120]`, rows of `s5_permutations()`); the answer at every step is the index of the
    product `g_t o ... o g_0` (chance 1/120)."""

    name: ClassVar[str] = "s5"

    @property
    def num_inputs(self) -> int:
        return 120

    @property
    def num_classes(self) -> int:
        return 120

    def sample(self, key: jax.Array, length: int, batch_size: int) -> ProbeBatch:
        self.check_length(length)
        tokens = jax.random.randint(key, (length, batch_size), 0, 120)
        return every_step(tokens, 120, s5_prefix_products(tokens))
