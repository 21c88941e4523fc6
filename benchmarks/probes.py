"""State tracking and length: accuracy of every core on the probe tasks, at and past the
training length.

    python -m benchmarks.probes                          # full grid, JSON lines on stdout
    python -m benchmarks.probes --write-docs             # and the table in docs/BENCHMARKS.md
    python -m benchmarks.probes --cores s6 mingru --tasks parity --seeds 2 --steps 1500

Each (task, core, option) trains `core -> Dense(C)` with `rlssm.probes.fit_probe` at `length`
(`seeds` seeds vmapped in one compiled program) and scores each seed with
`rlssm.probes.evaluate_probe`'s accuracy at `length` times each of `multiples` (and at the
`long_lengths` for the one-item memory tasks, copy_first and noisy_cue). Every core with a
`negative_eigenvalues` field runs twice, without and with it (option `neg=no`/`neg=yes`).
A core with a step size (s5) adds a `step matched` row on copy_first and noisy_cue: the
mitigation of the collapse past the training length (see `rlssm.probes.length_matched`).

`--write-docs` merges: a run replaces the rows it measured (keyed by task, core and option) and
keeps the others; it writes only when every row of its grid finished.
"""

import dataclasses
import os
import time

import jax
import numpy as np
import tyro

import rlssm.cores as cores
import rlssm.probes as probes
from benchmarks.common import (
    emit,
    machine,
    merge_rows,
    parse_table,
    read_section,
    table,
    write_section,
)
from rlssm.probes import probe_accuracy

SECTION = "probes"
KEY = ("task", "core", "option")
ONE_ITEM_TASKS = ("copy_first", "noisy_cue")
OVERRIDES = {"lstm": {"forget_bias": 3.0}, "gru": {"update_bias": 1.0}}
"""As in the copy-task learning test: gates that carry a gradient across 64 steps."""


@dataclasses.dataclass(frozen=True)
class Args:
    """Benchmark grid."""

    cores: tuple[str, ...] = ("s6", "mingru", "gated_deltanet", "s5", "lru", "gru", "lstm")
    """Cores to train (names not registered are skipped with a note)."""
    tasks: tuple[str, ...] = ("parity", "modular_sum", "s5", "mqar", "copy_first", "noisy_cue")
    """Probe tasks (`rlssm.probes.TASKS`), with their default options."""
    seeds: int = 2
    """Seeds per row (trained together, vmapped)."""
    steps: int = 1000
    """Adam updates per seed."""
    length: int = 64
    """Training length T."""
    multiples: tuple[int, ...] = (1, 4, 16)
    """Evaluation lengths, as multiples of `length`."""
    long_lengths: tuple[int, ...] = (4096, 16384)
    """Further evaluation lengths of the one-item memory tasks (copy_first, noisy_cue)."""
    hidden_size: int = 64
    """Width H of every core (and state size of s5 and lru)."""
    num_layers: int = 1
    """Layers L of every core."""
    batch_size: int = 64
    """Training episodes per update."""
    learning_rate: float = 3e-3
    """Initial Adam step size (cosine-decayed to a tenth)."""
    eval_tokens: int = 2**18
    """Evaluation batch: this many steps (T * B) per length, at least 64 and at most 1024 rows."""
    write_docs: bool = False
    """Merge the rows into docs/BENCHMARKS.md (only when every row of the grid finished)."""


def options(name: str) -> tuple[bool | None, ...]:
    """The negative-eigenvalue settings a core runs with: (False, True) if it has the field."""
    fields = {f.name for f in dataclasses.fields(cores.CONFIGS[name])}
    return (False, True) if "negative_eigenvalues" in fields else (None,)


def core_config(name: str, negative: bool | None, args: Args) -> cores.CoreConfig:
    kwargs = {"hidden_size": args.hidden_size, "num_layers": args.num_layers}
    if name in ("s5", "lru"):
        kwargs["state_size"] = args.hidden_size
    if negative is not None:
        kwargs["negative_eigenvalues"] = negative
    return cores.config_for(name, **kwargs, **OVERRIDES.get(name, {}))


def eval_lengths(task: str, args: Args) -> tuple[int, ...]:
    lengths = tuple(args.length * m for m in args.multiples)
    return lengths + (args.long_lengths if task in ONE_ITEM_TASKS else ())


def summary(values: np.ndarray) -> str:
    """`mean (min-max)` over seeds, as text (one value alone when there is one seed)."""
    if values.size == 1:
        return f"{values.mean():.3f}"
    return f"{values.mean():.3f} ({values.min():.3f}-{values.max():.3f})"


def measure(task_name: str, name: str, negative: bool | None, args: Args) -> list[dict]:
    """Trains one (task, core, option) over `seeds` seeds and scores it at every length; for
    a core with a step size (s5) on a one-item memory task, also the same parameters with the
    step size matched to each length (`rlssm.probes.length_matched`): the mitigation row."""
    task = probes.make_task(task_name)
    config = core_config(name, negative, args)

    def fit(key):
        return probes.fit_probe(
            config,
            task,
            key,
            length=args.length,
            batch_size=args.batch_size,
            steps=args.steps,
            learning_rate=args.learning_rate,
            final_learning_rate=args.learning_rate / 10,
        )

    keys = jax.random.split(jax.random.key(0), args.seeds)
    start = time.perf_counter()
    compiled = jax.jit(jax.vmap(fit)).lower(keys).compile()
    compile_s = time.perf_counter() - start
    start = time.perf_counter()
    result = jax.block_until_ready(compiled(keys))
    train_s = time.perf_counter() - start
    option = "-" if negative is None else ("neg=yes" if negative else "neg=no")
    variants = {option: lambda length: config}
    if task_name in ONE_ITEM_TASKS and hasattr(config, "step_rescale"):
        variants["step matched"] = lambda length: probes.length_matched(config, args.length, length)
    records = []
    for label, evaluated in variants.items():
        record = {
            "task": task_name,
            "core": name,
            "option": label,
            "seeds": args.seeds,
            "steps": args.steps,
            "final_loss": round(float(result.loss[:, -50:].mean()), 4),
        }
        for length in eval_lengths(task_name, args):
            rows = int(np.clip(args.eval_tokens // length, 64, 1024))
            score = probe_accuracy(evaluated(length), task, length, rows)
            values = np.asarray(
                jax.jit(jax.vmap(score, (0, None)))(result.params, jax.random.key(1))
            )
            record[f"T={length}"] = summary(values)
            record[f"acc_{length}"] = [round(float(v), 4) for v in values]
        load = round(os.getloadavg()[0], 1)
        records.append(
            {**record, "compile_s": round(compile_s, 1), "train_s": round(train_s, 1), "load": load}
        )
    return records


def columns(args: Args) -> tuple[str, ...]:
    lengths = tuple(args.length * m for m in args.multiples) + args.long_lengths
    cells = tuple(f"T={n}" for n in lengths)
    return ("task", "core", "option", "seeds", "steps", *cells, "final_loss", "train_s", "load")


def header(args: Args) -> str:
    """The text above the table: machine, command and what the cells mean."""
    backend = jax.default_backend()
    title = "## State tracking and length" + ("" if backend == "cpu" else f" ({backend})")
    return (
        f"{title}\n\n"
        f"Machine: {machine()}. Command: `python -m benchmarks.probes --write-docs` (a run "
        "replaces the rows it measures and keeps the others). Each row trains "
        f"`core -> Dense(C)` at T = {args.length} ({args.steps} Adam updates, batch "
        f"{args.batch_size}, H = {args.hidden_size}, L = {args.num_layers}, a fresh batch per "
        f"update) over {args.seeds} seeds; a `T=n` cell is the accuracy over the scored steps of "
        "fresh episodes of length n, mean (min-max) over seeds (chance: parity 0.5, modular_sum "
        "(mod 5) 0.2, s5 1/120, mqar 1/16, copy_first and noisy_cue 1/8). `neg=yes`: the core's "
        "`negative_eigenvalues` option; `train_s`: all seeds together, compile apart; `load`: "
        "the 1-minute load average after the row. `step matched` (s5 on copy_first and noisy_cue): "
        "the same trained parameters evaluated with the step size scaled by T_train / T "
        "(`rlssm.probes.length_matched`), so that the state forgets per episode as it did in "
        "training: Stuffed Mamba's lever (the step size that sets the forgetting), turned the way "
        "a time-invariant SSM's collapse past its training length needs."
    )


def main(args: Args) -> None:
    known = [n for n in args.cores if n in cores.CONFIGS]
    for name in sorted(set(args.cores) - set(known)):
        emit({"core": name, "skipped": "not registered"})
    old = parse_table(read_section(SECTION) or "") if args.write_docs else []
    records = []
    for task_name in args.tasks:
        for name in known:
            for negative in options(name):
                for record in measure(task_name, name, negative, args):
                    emit(record)
                    records.append(record)
    if args.write_docs:
        rows = merge_rows(old, records, KEY, tuple(probes.TASKS))
        write_section(SECTION, table(rows, header(args), columns(args)))


if __name__ == "__main__":
    main(tyro.cli(Args))
