"""Initialise `N` seeds one at a time.

    states = map_seeds(init)(keys)           # keys [N] -> every leaf [N, ...], via lax.map
    init = seed_by_seed(init)                # jax.vmap(init)(keys) now runs map_seeds(init)

Why not `jax.vmap`: the orthogonal initialisers run a LAPACK QR, and a batched QR inside a jitted
program can deadlock XLA's CPU thread pool on machines with few cores (jax 0.10, reproduced on 2
cores with the default PPO network at width 64). One seed at a time never batches it; training
after init is vmapped as usual.
"""

from collections.abc import Callable
from typing import TypeVar

import jax
from jaxtyping import Array, Key

State = TypeVar("State")


def map_seeds(init: Callable[[Key[Array, ""]], State]) -> Callable[[Key[Array, " N"]], State]:
    """`init(key) -> state` of one seed -> `init_seeds(keys [N]) -> states` (leaves `[N, ...]`)."""

    def init_seeds(keys: Key[Array, " N"]) -> State:
        return jax.lax.map(init, keys)

    return init_seeds


def seed_by_seed(init: Callable[[Key[Array, ""]], State]) -> Callable[[Key[Array, ""]], State]:
    """`init` of one seed whose `jax.vmap` over keys runs `map_seeds(init)` instead of batching.

    Everything `init` returns is batched over the seeds.
    """

    @jax.custom_batching.custom_vmap
    def one_seed(key: Key[Array, ""]) -> State:
        return init(key)

    @one_seed.def_vmap
    def seeds(axis_size: int, in_batched: list[bool], keys: Key[Array, " N"]):
        states = map_seeds(init)(keys)
        return states, jax.tree.map(lambda _: True, states)

    return one_seed
