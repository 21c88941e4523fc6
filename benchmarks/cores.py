"""Forward+backward throughput, compile time and memory of every memory core.

    python -m benchmarks.cores                 # full grid, JSON lines on stdout
    python -m benchmarks.cores --write-docs    # and the table in docs/BENCHMARKS.md
    python -m benchmarks.cores --cores s5 gru --lengths 1024 8192 --batches 16 64 \
        --scan-modes sequential --no-stack     # a part of the grid

Each measurement is one jitted `grad` of `sum(y**2)` over `x[T, B, H]` (all steps of a sequence,
with resets where `start` is set), as in training. Linear cores run in both scan modes.
"""

import dataclasses

import jax
import jax.numpy as jnp
import tyro

import rlssm.cores as cores
from benchmarks.common import compile_and_time, emit, machine, table, write_section

LINEAR = ("s5", "lru", "s6", "mingru")


@dataclasses.dataclass(frozen=True)
class Args:
    """Benchmark grid."""

    cores: tuple[str, ...] = ("s5", "lru", "s6", "mingru", "gru", "lstm")
    """Cores to measure."""
    lengths: tuple[int, ...] = (128, 1024, 8192)
    """Sequence lengths T."""
    batches: tuple[int, ...] = (16, 64)
    """Batch sizes B."""
    scan_modes: tuple[str, ...] = ("sequential", "parallel")
    """Scan modes the linear cores run in."""
    stack: bool = True
    """Also measure a 4-layer S5 stack (T = 1024, B = 16)."""
    hidden_size: int = 128
    """Width H of every core (and state size P of S5 and LRU)."""
    max_state_elements: int = 2**27
    """Skip a run whose recurrence would hold more than this many state numbers (T*B*state)."""
    write_docs: bool = False
    """Write the table into docs/BENCHMARKS.md."""


def state_numbers(name: str, hidden: int) -> int:
    core = cores.make(name, hidden_size=hidden)
    return sum(leaf.size for leaf in jax.tree.leaves(core.initialize_carry(1)))


def measure(name: str, mode: str | None, length: int, batch: int, hidden: int, layers: int = 1):
    """Compile and run forward+backward of one core; returns a record."""
    kwargs = {"hidden_size": hidden, "num_layers": layers}
    if name in ("s5", "lru"):
        kwargs["state_size"] = hidden
    if mode is not None:
        kwargs["scan_mode"] = mode
    core = cores.make(name, **kwargs)
    carry = core.initialize_carry(batch)
    x = jax.random.normal(jax.random.key(0), (length, batch, hidden))
    start = jnp.zeros((length, batch), bool).at[0].set(True)
    params = jax.jit(core.init)(jax.random.key(1), carry, x[:2], start[:2])

    def loss(params, x):
        return jnp.sum(core.apply(params, carry, x, start)[1] ** 2)

    timing = compile_and_time(jax.grad(loss), params, x, repeats=3, min_seconds=0.5)
    return {
        "core": name,
        "scan_mode": mode or "-",
        "layers": layers,
        "T": length,
        "B": batch,
        "H": hidden,
        "compile_s": round(timing["compile_s"], 2),
        "fwd_bwd_ms": round(timing["run_s"] * 1e3, 1),
        "steps_per_s": round(length * batch / timing["run_s"]),
        "memory_mb": timing["memory_mb"],
    }


COLUMNS = (
    "core", "scan_mode", "layers", "T", "B", "compile_s", "fwd_bwd_ms", "steps_per_s", "memory_mb",
)  # fmt: skip
"""The columns of the cores table."""


def main(args: Args) -> None:
    records = []
    for batch in args.batches:
        for length in args.lengths:
            for name in args.cores:
                modes = args.scan_modes if name in LINEAR else (None,)
                size = length * batch * state_numbers(name, args.hidden_size)
                for mode in modes:
                    if size > args.max_state_elements:
                        record = {
                            "core": name,
                            "scan_mode": mode or "-",
                            "T": length,
                            "B": batch,
                            "skipped": f"state {size} > {args.max_state_elements}",
                        }
                    else:
                        record = measure(name, mode, length, batch, args.hidden_size)
                    emit(record)
                    records.append(record)
    if args.stack:
        stack = measure("s5", None, 1024, 16, args.hidden_size, layers=4)
        emit(stack)
        records.append(stack)
    if args.write_docs:
        header = (
            f"Machine: {machine()}. Command: `python -m benchmarks.cores --write-docs`. "
            f"Forward+backward of one layer (and a 4-layer S5 stack), H = P = {args.hidden_size}; "
            "memory is XLA's planned peak (arguments + outputs + temporaries)."
        )
        write_section("cores", table(records, header, COLUMNS))


if __name__ == "__main__":
    main(tyro.cli(Args))
