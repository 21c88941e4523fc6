"""Environment throughput: env steps/s with random actions and auto-reset, every registered task.

    python -m benchmarks.envs                       # all tasks, JSON lines on stdout
    python -m benchmarks.envs --write-docs          # and the table in docs/BENCHMARKS.md
    python -m benchmarks.envs --write-docs --tasks RepeatPreviousEasy CartPole-v1
    python -m benchmarks.envs --write-docs --brax-backends   # every brax task on every backend

Each task runs `steps` vmapped steps inside one jitted `lax.scan` (actions sampled from the action
space), at every batch size in `num_envs`; heavy tasks (brax physics, `envs.is_heavy`) run
`brax_steps` steps at the sizes in `brax_num_envs`. gymnax's own CartPole-v1 (`gymnax.make`, no
wrappers) is compiled once and re-timed right before every task, and each figure is also given
as a ratio to it (so both numbers of a ratio saw the same load).

`--write-docs` merges: a run replaces the table rows it measured (keyed by task and number of
envs; by task, backend and number of envs for `--brax-backends`) and keeps all others, so a run
over a few tasks does not erase the rest. Each row records the machine's 1-minute load average
right after it was measured (the machine may be shared).
"""

from __future__ import annotations

import dataclasses
import os
import statistics
import time
from collections.abc import Callable

import gymnax
import jax
import tyro

import envs
from benchmarks.common import (
    compile_and_time,
    emit,
    machine,
    merge_rows,
    parse_table,
    read_section,
    table,
    time_compiled,
    write_section,
)
from envs.brax_adapter import BACKENDS

TASK_COLUMNS = (
    "task",
    "num_envs",
    "steps_per_s",
    "cartpole_steps_per_s",
    "vs_cartpole",
    "compile_s",
    "load",
)
TASK_KEY = ("task", "num_envs")
BACKEND_COLUMNS = ("task", "backend", "num_envs", "steps_per_s", "compile_s", "load")
BACKEND_KEY = ("task", "backend", "num_envs")


@dataclasses.dataclass(frozen=True)
class Args:
    """Benchmark grid."""

    tasks: tuple[str, ...] = ()
    """Registered names to measure (default: all; with `--brax-backends`, every `brax/*`)."""
    num_envs: tuple[int, ...] = (64, 1024)
    """Vectorised environments per run."""
    steps: int = 256
    """Steps per jitted call."""
    brax_num_envs: tuple[int, ...] = (64,)
    """Batch sizes for heavy (brax) tasks (slow to compile and to step on a CPU)."""
    brax_steps: int = 32
    """Steps per call for heavy (brax) tasks."""
    brax_backends: bool = False
    """Time every brax physics backend of each `brax/*` task instead (no CartPole reference)."""
    backend_rounds: int = 5
    """With `--brax-backends`: rounds of one timed call per backend (each row is the median)."""
    write_docs: bool = False
    """Merge the measured rows into the table in docs/BENCHMARKS.md."""


def make_rollout(env, params, num_envs: int, steps: int):
    """A function `key -> scalar` that runs `steps` vmapped random-action steps.

    It returns the total reward plus the sum of the last observations, so that XLA cannot drop
    the simulation where the rewards alone do not depend on it (MountainCar-v0's constant -1).
    """

    def rollout(key):
        reset_key, run_key = jax.random.split(key)
        reset_keys = jax.random.split(reset_key, num_envs)
        obs, state = jax.vmap(env.reset, (0, None))(reset_keys, params)

        def body(carry, key):
            act_key, step_key = jax.random.split(key)
            sample = env.action_space(params).sample
            action = jax.vmap(sample)(jax.random.split(act_key, num_envs))
            obs, state, reward, *_ = jax.vmap(env.step, (0, 0, 0, None))(
                jax.random.split(step_key, num_envs), carry[1], action, params
            )
            return (obs, state), reward.sum()

        (obs, _), rewards = jax.lax.scan(body, (obs, state), jax.random.split(run_key, steps))
        return rewards.sum() + sum(leaf.sum() for leaf in jax.tree.leaves(obs))

    return rollout


def throughput(env, params, num_envs: int, steps: int) -> dict:
    """Steps/s of `env` over `num_envs` environments (random actions, auto-reset)."""
    rollout = make_rollout(env, params, num_envs, steps)
    timing = compile_and_time(rollout, jax.random.key(0), repeats=3, min_seconds=0.5)
    return {
        "compile_s": round(timing["compile_s"], 2),
        "steps_per_s": round(num_envs * steps / timing["run_s"]),
        "load": round(os.getloadavg()[0], 1),
    }


class Reference:
    """gymnax CartPole-v1 compiled once per batch size and re-timed next to every task, so each
    ratio compares two measurements taken under the same load."""

    def __init__(self, num_envs: tuple[int, ...], steps: int):
        env, params = gymnax.make("CartPole-v1")
        self.steps = steps
        self.compiled = {
            n: jax.jit(make_rollout(env, params, n, steps)).lower(jax.random.key(0)).compile()
            for n in num_envs
        }

    def steps_per_s(self, num_envs: int) -> int:
        run_s = time_compiled(self.compiled[num_envs], jax.random.key(0), repeats=3)
        return round(num_envs * self.steps / run_s)


def measure_task(name: str, args: Args, reference: Reference) -> list[dict]:
    """Rows of one task: its steps/s and CartPole's, timed right before it, per batch size."""
    heavy = envs.is_heavy(name)
    env, params = envs.make(name)
    rows = []
    for n in args.brax_num_envs if heavy else args.num_envs:
        record = {"task": name, "num_envs": n}
        cartpole = reference.steps_per_s(n) if n in reference.compiled else None
        record.update(throughput(env, params, n, args.brax_steps if heavy else args.steps))
        if cartpole is not None:
            record["cartpole_steps_per_s"] = cartpole
            # heavy tasks run fewer steps per call; steps/s are still comparable
            record["vs_cartpole"] = float(f"{record['steps_per_s'] / cartpole:.3g}")
        emit(record)
        rows.append(record)
    return rows


def compile_backend(name: str, backend: str, num_envs: int, steps: int) -> tuple[Callable, float]:
    """The compiled rollout of a `brax/*` task on one backend, and its compile seconds."""
    env, params = envs.make(name, backend=backend)
    rollout = make_rollout(env, params, num_envs, steps)
    start = time.perf_counter()
    compiled = jax.jit(rollout).lower(jax.random.key(0)).compile()
    compile_s = time.perf_counter() - start
    jax.block_until_ready(compiled(jax.random.key(0)))  # warm-up
    return compiled, compile_s


def measure_backends(name: str, args: Args) -> list[dict]:
    """Rows of one `brax/*` task: its steps/s on every physics backend, per batch size.

    All backends are compiled first, then timed in turn for `backend_rounds` rounds, one call
    each per round; each row gives the median, so the backends of a task share the same load.
    """
    rows = []
    for n in args.brax_num_envs:
        compiled = {b: compile_backend(name, b, n, args.brax_steps) for b in BACKENDS}
        times: dict[str, list[float]] = {b: [] for b in BACKENDS}
        loads = []
        for _ in range(args.backend_rounds):
            for backend, (function, _) in compiled.items():
                start = time.perf_counter()
                jax.block_until_ready(function(jax.random.key(0)))
                times[backend].append(time.perf_counter() - start)
            loads.append(os.getloadavg()[0])
        for backend, (_, compile_s) in compiled.items():
            record = {
                "task": name,
                "backend": backend,
                "num_envs": n,
                "steps_per_s": round(n * args.brax_steps / statistics.median(times[backend])),
                "compile_s": round(compile_s, 2),
                "load": round(statistics.mean(loads), 1),
            }
            emit(record)
            rows.append(record)
    return rows


def header(args: Args) -> str:
    """The text above a table: machine, command and what the columns mean."""
    common = (
        f"Machine: {machine()}. A run replaces the rows it measures and keeps the others; `load` "
        "is the machine's 1-minute load average (the machine is shared; empty where not recorded)"
    )
    if args.brax_backends:
        return (
            f"{common}, averaged over the timing rounds. Command: `python -m benchmarks.envs "
            f"--write-docs --brax-backends`. Random actions, auto-reset, {args.brax_steps} steps "
            f"per jitted call; a task's backends are timed in turn, {args.backend_rounds} rounds "
            "of one call each, median per backend."
        )
    return (
        f"{common}, read right after the row was measured. Command: `python -m benchmarks.envs "
        f"--write-docs [--tasks NAME ...]`. Random actions, auto-reset, {args.steps} steps per "
        f"jitted call ({args.brax_steps} for heavy (brax) tasks); `vs_cartpole` = steps/s over "
        "gymnax CartPole-v1's, re-timed at the same number of envs right before each task."
    )


def main(args: Args) -> None:
    if args.brax_backends:
        section, columns, key = "envs-brax-backends", BACKEND_COLUMNS, BACKEND_KEY
        names = args.tasks or tuple(n for n in envs.registered() if n.startswith("brax/"))
    else:
        section, columns, key = "envs", TASK_COLUMNS, TASK_KEY
        names = args.tasks or envs.registered()
        reference = Reference(args.num_envs, args.steps)
    old = parse_table(read_section(section) or "") if args.write_docs else []
    records = []
    for name in names:
        if args.brax_backends:
            records += measure_backends(name, args)
        else:
            records += measure_task(name, args, reference)
        if args.write_docs:  # after every task, so an interrupted run keeps what it measured
            rows = merge_rows(old, records, key, envs.registered())
            write_section(section, table(rows, header(args), columns))


if __name__ == "__main__":
    main(tyro.cli(Args))
