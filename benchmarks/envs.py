"""Environment throughput: env steps/s with random actions and auto-reset, every registered task.

    python -m benchmarks.envs                       # all tasks, JSON lines on stdout
    python -m benchmarks.envs --write-docs          # and the table in docs/BENCHMARKS.md
    python -m benchmarks.envs --tasks RepeatPreviousEasy CartPole-v1

Each task runs `steps` vmapped steps inside one jitted `lax.scan` (actions sampled from the action
space), at every batch size in `num_envs`. gymnax's own CartPole-v1 (`gymnax.make`, no wrappers)
is compiled once and re-timed right before every task, and each figure is also given as a ratio
to it (so both numbers of a ratio saw the same load).
"""

import dataclasses

import gymnax
import jax
import tyro

import envs
from benchmarks.common import compile_and_time, emit, machine, time_compiled, write_section


@dataclasses.dataclass(frozen=True)
class Args:
    """Benchmark grid."""

    tasks: tuple[str, ...] = ()
    """Registered names to measure (default: all)."""
    num_envs: tuple[int, ...] = (64, 1024)
    """Vectorised environments per run."""
    steps: int = 256
    """Steps per jitted call."""
    brax_num_envs: tuple[int, ...] = (64,)
    """Batch sizes for brax tasks (slow to compile and to step on a CPU)."""
    brax_steps: int = 32
    """Steps per call for brax tasks."""
    write_docs: bool = False
    """Write the table into docs/BENCHMARKS.md."""


def make_rollout(env, params, num_envs: int, steps: int):
    """A function `key -> total reward` that runs `steps` vmapped random-action steps."""

    def rollout(key):
        reset_key, run_key = jax.random.split(key)
        _, state = jax.vmap(env.reset, (0, None))(jax.random.split(reset_key, num_envs), params)

        def body(state, key):
            act_key, step_key = jax.random.split(key)
            sample = env.action_space(params).sample
            action = jax.vmap(sample)(jax.random.split(act_key, num_envs))
            out = jax.vmap(env.step, (0, 0, 0, None))(
                jax.random.split(step_key, num_envs), state, action, params
            )
            return out[1], out[2].sum()

        return jax.lax.scan(body, state, jax.random.split(run_key, steps))[1].sum()

    return rollout


def throughput(env, params, num_envs: int, steps: int) -> dict:
    """Steps/s of `env` over `num_envs` environments (random actions, auto-reset)."""
    rollout = make_rollout(env, params, num_envs, steps)
    timing = compile_and_time(rollout, jax.random.key(0), repeats=3, min_seconds=0.5)
    return {
        "compile_s": round(timing["compile_s"], 2),
        "steps_per_s": round(num_envs * steps / timing["run_s"]),
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


def table(records: list[dict], header: str) -> str:
    cols = ["task", "num_envs", "steps_per_s", "cartpole_steps_per_s", "vs_cartpole", "compile_s"]
    lines = [header, "", "| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(str(r.get(c, "")) for c in cols) + " |" for r in records]
    return "\n".join(lines)


def measure_task(name: str, args: Args, reference: Reference) -> list[dict]:
    """Rows of one task: its steps/s and CartPole's, timed right before it, per batch size."""
    is_brax = name.startswith("brax/") or "Brax" in name
    env, params = envs.make(name)
    rows = []
    for n in args.brax_num_envs if is_brax else args.num_envs:
        record = {"task": name, "num_envs": n}
        cartpole = reference.steps_per_s(n) if n in reference.compiled else None
        record.update(throughput(env, params, n, args.brax_steps if is_brax else args.steps))
        if cartpole is not None:
            record["cartpole_steps_per_s"] = cartpole
            # brax runs fewer steps per call; steps/s are still comparable
            record["vs_cartpole"] = round(record["steps_per_s"] / cartpole, 3)
        emit(record)
        rows.append(record)
    return rows


def main(args: Args) -> None:
    names = args.tasks or envs.registered()
    reference = Reference(args.num_envs, args.steps)
    header = (
        f"Machine: {machine()}. Command: `python -m benchmarks.envs --write-docs`. "
        f"Random actions, auto-reset, {args.steps} steps per jitted call "
        f"({args.brax_steps} for brax); `vs_cartpole` = steps/s over gymnax CartPole-v1's, "
        "re-timed at the same number of envs right before each task."
    )
    records = []
    for name in names:
        records += measure_task(name, args, reference)
        if args.write_docs:  # after every task, so an interrupted run keeps what it measured
            write_section("envs", table(records, header))


if __name__ == "__main__":
    main(tyro.cli(Args))
