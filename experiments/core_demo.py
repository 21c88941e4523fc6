"""Memory-core demo: trains every core on the copy-the-first-input task and prints a table.

    python -m experiments.core_demo                       # all cores, length 64, CPU-sized
    python -m experiments.core_demo --cores s5 gru --length 256 --steps 600

A core with memory drives the loss from chance (log K) to near zero in the default settings
(every core below 0.1 within 300 updates; the GRU and LSTM start with their gates biased to keep
their state, `overrides`); the memoryless "none" core stays at chance. Throughput is measured by
`python -m benchmarks.cores`, not here.
"""

import dataclasses
import math
import time

import jax
import tyro
from rich.console import Console
from rich.table import Table

import rlssm.cores as cores
from rlssm.probes import copy_first_batch, fit_copy_first


@dataclasses.dataclass(frozen=True)
class DemoConfig:
    """What to train."""

    cores: tuple[str, ...] = cores.registered()
    """Registered core names to train (see rlssm.cores.registered())."""
    length: int = 64
    """Sequence length T of the copy task."""
    batch_size: int = 64
    """Sequences per update."""
    num_symbols: int = 8
    """Symbols K to remember; chance-level loss is log K."""
    hidden_size: int = 32
    """Width H of every core (and state size of S5 and LRU)."""
    steps: int = 300
    """Adam updates."""
    seed: int = 0
    """Random seed."""

    def __post_init__(self) -> None:
        unknown = sorted(set(self.cores) - set(cores.registered()))
        if unknown:
            raise ValueError(f"--cores: unknown {unknown}; registered: {cores.registered()}.")
        if self.length < 2 or self.steps < 20:
            raise ValueError("--length must be >= 2 and --steps >= 20.")


GATE_BIASES = {"lstm": {"forget_bias": 3.0}, "gru": {"update_bias": 2.0}}
"""Long-memory gate biases: with flax's zero biases the GRU stays at chance (loss 2.08 = log 8)
after 300 updates at T=64; with these both solve it (GRU: final loss 0.018-0.048 over seeds 0-2,
LSTM 0.007)."""


def overrides(name: str, width: int) -> dict:
    """Demo settings per core: state size = width; long-memory gate biases (`GATE_BIASES`)."""
    if name in ("s5", "lru"):
        return {"state_size": width}
    return GATE_BIASES.get(name, {})


def run_one(name: str, cfg: DemoConfig) -> dict:
    core = cores.make(name, hidden_size=cfg.hidden_size, **overrides(name, cfg.hidden_size))
    batch = copy_first_batch(jax.random.key(0), cfg.length, 1, cfg.num_symbols)
    params = jax.eval_shape(core.init, jax.random.key(0), core.initialize_carry(1), *batch[:2])
    t0 = time.perf_counter()
    losses = fit_copy_first(
        core, jax.random.key(cfg.seed), cfg.length, cfg.batch_size, cfg.num_symbols, cfg.steps
    )
    seconds = time.perf_counter() - t0
    return {
        "core": name,
        "params": sum(leaf.size for leaf in jax.tree.leaves(params)),
        "first_loss": float(losses[:10].mean()),
        "final_loss": float(losses[-20:].mean()),
        "seconds": seconds,
    }


def main(cfg: DemoConfig) -> list[dict]:
    console = Console()
    console.print(
        f"Copy-the-first-input, T={cfg.length}, K={cfg.num_symbols} "
        f"(chance loss {math.log(cfg.num_symbols):.2f}), {cfg.steps} updates, on {jax.devices()[0]}"
    )
    table = Table("core", "params", "loss (first 10)", "loss (last 20)", "time incl. compile")
    results = []
    for name in cfg.cores:
        with console.status(f"training {name}..."):
            r = run_one(name, cfg)
        results.append(r)
        table.add_row(
            r["core"],
            f"{r['params']:,}",
            f"{r['first_loss']:.3f}",
            f"{r['final_loss']:.4f}",
            f"{r['seconds']:.1f} s",
        )
    console.print(table)
    return results


def cli() -> None:
    """Entry point of `python -m experiments.core_demo`."""
    main(tyro.cli(DemoConfig))


if __name__ == "__main__":
    cli()
