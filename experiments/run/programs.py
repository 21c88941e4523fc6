"""Compiled chunk programs of an agent whose `run(state, num_updates)` scans over updates.

    programs = ChunkPrograms(agent.run, agent.init)      # PPO, the model-based agent
    programs.compile(state, sizes)                        # once per chunk size and seed count
    state, metrics = programs.run_chunk(state, size)      # N seeds at once (vmap)
    programs.run_chunk(state, size, placement)            # the same over a host's devices

`init` maps over seeds one at a time (agents.common.map_seeds: a batched QR inside a jitted
program can deadlock XLA's CPU thread pool); the chunks are vmapped. Kept per config within a
process by the trainers, so resuming, evaluating or a suite cell with the same config does not
compile again. With a `Placement` (experiments.run.devices) the chunks are jitted with its
shardings: environments split over the devices, the rest replicated.
"""

import dataclasses
import functools
import time
from collections.abc import Callable
from typing import Any

import jax

from agents.common import map_seeds
from experiments.run.devices import Placement, to_global


@dataclasses.dataclass
class ChunkPrograms:
    """`init` over `[N]` keys and the compiled `run` of every chunk size, vmapped over seeds."""

    run: Callable[[Any, int], tuple[Any, dict]]
    """`run(state, num_updates) -> (state, metrics)` of one seed."""
    init_one: Callable[[jax.Array], Any]
    """`init(key) -> state` of one seed."""
    chunks: dict[tuple, Any] = dataclasses.field(default_factory=dict)
    compile_seconds: float = 0.0
    """Seconds spent compiling chunk programs in this process."""
    compiler_options: dict[str, str] | None = None
    """XLA options of the chunk programs (agents.common.compiler_options; None: XLA's)."""

    def __post_init__(self) -> None:
        self.init = jax.jit(map_seeds(self.init_one))

    def on(self, placement: Placement | None) -> tuple[Callable, Callable, Callable]:
        """`(init, compile, run_chunk)` of a session whose chunks run on `placement`."""
        bound = functools.partial
        return (
            self.init,
            bound(self.compile, placement=placement),
            bound(self.run_chunk, placement=placement),
        )

    def compile(self, state: Any, sizes: list[int], placement: Placement | None = None) -> None:
        """Compiles the chunk program of every size in `sizes` for `state`'s number of seeds
        (and `placement`'s devices)."""
        state = place(state, placement)
        for size in sorted(set(sizes)):
            signature = (size, num_seeds(state), placement and placement.key)
            if signature not in self.chunks:
                t0 = time.perf_counter()
                run = jax.vmap(functools.partial(self.run, num_updates=size))
                jit = functools.partial(jax.jit, compiler_options=self.compiler_options)
                if placement is None:
                    fn = jit(run)
                else:
                    shardings = placement.shardings(state)
                    out = (shardings, placement.replicated)
                    fn = jit(run, in_shardings=(shardings,), out_shardings=out)
                self.chunks[signature] = fn.lower(state).compile()
                self.compile_seconds += time.perf_counter() - t0

    def run_chunk(
        self, state: Any, size: int, placement: Placement | None = None
    ) -> tuple[Any, dict]:
        """Runs `size` updates of every seed (compiled beforehand by `compile`)."""
        signature = (size, num_seeds(state), placement and placement.key)
        return self.chunks[signature](place(state, placement))


def place(state: Any, placement: Placement | None) -> Any:
    """`state` laid out as `placement` says (unchanged without one, or when it already is;
    over several processes each keeps its own shards of the value they all hold)."""
    if placement is None:
        return state
    if placement.replicated.is_fully_addressable:
        return jax.device_put(state, placement.shardings(state))
    return jax.tree.map(to_global, state, placement.shardings(state))


def num_seeds(state: Any) -> int:
    """Seeds N of a batched state (its `update` counter leads with N)."""
    return int(state.update.shape[0])
