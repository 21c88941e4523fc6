"""Compiled chunk programs of an agent whose `run(state, num_updates)` scans over updates.

    programs = ChunkPrograms(agent.run, agent.init)      # PPO, the model-based agent
    programs.compile(state, sizes)                        # once per chunk size and seed count
    state, metrics = programs.run_chunk(state, size)      # N seeds at once (vmap)

`init` maps over seeds one at a time (agents.common.map_seeds: a batched QR inside a jitted
program can deadlock XLA's CPU thread pool); the chunks are vmapped. Kept per config within a
process by the trainers, so resuming, evaluating or a suite cell with the same config does not
compile again.
"""

import dataclasses
import functools
import time
from collections.abc import Callable
from typing import Any

import jax

from agents.common import map_seeds


@dataclasses.dataclass
class ChunkPrograms:
    """`init` over `[N]` keys and the compiled `run` of every chunk size, vmapped over seeds."""

    run: Callable[[Any, int], tuple[Any, dict]]
    """`run(state, num_updates) -> (state, metrics)` of one seed."""
    init_one: Callable[[jax.Array], Any]
    """`init(key) -> state` of one seed."""
    chunks: dict[tuple[int, int], Any] = dataclasses.field(default_factory=dict)
    compile_seconds: float = 0.0
    """Seconds spent compiling chunk programs in this process."""

    def __post_init__(self) -> None:
        self.init = jax.jit(map_seeds(self.init_one))

    def compile(self, state: Any, sizes: list[int]) -> None:
        """Compiles the chunk program of every size in `sizes` for `state`'s number of seeds."""
        for size in sorted(set(sizes)):
            signature = (size, num_seeds(state))
            if signature not in self.chunks:
                t0 = time.perf_counter()
                fn = jax.jit(jax.vmap(functools.partial(self.run, num_updates=size)))
                self.chunks[signature] = fn.lower(state).compile()
                self.compile_seconds += time.perf_counter() - t0

    def run_chunk(self, state: Any, size: int) -> tuple[Any, dict]:
        """Runs `size` updates of every seed (compiled beforehand by `compile`)."""
        return self.chunks[(size, num_seeds(state))](state)


def num_seeds(state: Any) -> int:
    """Seeds N of a batched state (its `update` counter leads with N)."""
    return int(state.update.shape[0])
