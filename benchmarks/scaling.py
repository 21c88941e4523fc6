"""Steps/s against device count (`--devices`), for PPO, world-model training and the
model-based agent (`--trainers`).

    python -m benchmarks.scaling --write-docs     # 1, 2, 4 fake CPU devices (a 4-device process)

On a CPU the devices are XLA's fake host devices (`--xla_force_host_platform_device_count`),
which share the same cores: the table measures what splitting costs (collectives, resharding),
not a speed-up. Strong scaling keeps the global batch (PPO's environments, the world model's
sequences per update, the model-based agent's environments: strong only); weak scaling keeps
the batch per device. Each figure is the median of
`--repeats` timed chunks of `--updates` updates (min-max beside it), compile apart; the `cost`
column is the time per environment step (per sequence) relative to the 1-device run of the same
global batch. On a GPU machine the same command writes a `scaling-gpu` section.
"""

import dataclasses
import functools
import os
import statistics
import subprocess
import sys
import time

import jax
import numpy as np
import tyro

FAKE_DEVICES = 4
FLAG = f"--xla_force_host_platform_device_count={FAKE_DEVICES}"


@dataclasses.dataclass(frozen=True)
class Args:
    """Scaling benchmark."""

    devices: tuple[int, ...] = (1, 2, 4)
    """Device counts to time."""
    updates: int = 4
    """PPO updates (world model: 4x as many; the model-based agent: iterations) per timed
    chunk."""
    repeats: int = 3
    """Timed chunks per row (the median is reported, with min-max)."""
    trainers: tuple[str, ...] = ("ppo", "world_model", "dreamer")
    """What to time."""
    ppo_envs: int = 32
    """PPO's global environments in the strong-scaling rows (weak: half as many per device);
    the docs table is the cpu-small setting's 32."""
    seeds: int = 1
    """Seeds trained at once (vmapped); steps/s counts every seed's steps."""
    write_docs: bool = False
    """Write the table into docs/BENCHMARKS.md (section `scaling`)."""


def timed(run, state, repeats: int) -> list[float]:
    """Seconds of `repeats` calls of `run(state)` (after one warm-up call)."""
    jax.block_until_ready(run(state))
    seconds = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        jax.block_until_ready(run(state))
        seconds.append(time.perf_counter() - t0)
    return seconds


def timed_chunks(args: Args, programs, placement, warm: bool = False) -> tuple[list, float]:
    """`(seconds of each timed chunk, compile seconds)` of `args.updates`-update chunks of a
    trainer's `ChunkPrograms` on `placement`, from a fresh state of `args.seeds` seeds (with
    `warm`, from the state after one untimed chunk)."""
    _, compile_chunk, run_chunk = programs.on(placement)
    state = programs.init(jax.random.split(jax.random.key(0), args.seeds))
    t0 = time.perf_counter()
    compile_chunk(state, [args.updates])
    compile_s = time.perf_counter() - t0
    chunk = functools.partial(run_chunk, size=args.updates)
    if warm:
        state, _ = chunk(state)
    return timed(chunk, state, args.repeats), compile_s


def ppo_rows(args: Args) -> list[dict]:
    """PPO at the cpu-small setting (S5 2x64, 128 steps), strong (`ppo_envs`, 32) and weak
    (half as many per device) scaling."""
    from agents.ppo import PPOConfig
    from experiments.ppo.trainer import TRAINER, build
    from experiments.run.config import RunConfig

    rows = []
    for scaling in ("strong", "weak"):
        for devices in args.devices:
            num_envs = args.ppo_envs if scaling == "strong" else args.ppo_envs // 2 * devices
            config = PPOConfig(num_envs=num_envs, total_timesteps=num_envs * 128 * 100)
            placement = TRAINER.placement(config, RunConfig(devices=devices))
            seconds, compile_s = timed_chunks(args, build(config, placement).programs, placement)
            steps = args.updates * config.steps_per_update * args.seeds
            rows.append(row("ppo", scaling, devices, num_envs, steps, seconds, compile_s))
    return rows


def world_model_rows(args: Args) -> list[dict]:
    """World-model training at the cpu-small experiment's sizes (S4WM on S5, 8 sequences of
    161 records), strong (8 sequences) and weak (4 per device) scaling, on random frames."""
    from experiments.run.programs import place
    from experiments.world_model import trainer
    from experiments.world_model.presets import presets

    base = presets()["cpu-small"][1].experiment
    rows = []
    for scaling in ("strong", "weak"):
        for devices in args.devices:
            batch = 8 if scaling == "strong" else 4 * devices
            experiment = dataclasses.replace(base, batch_size=batch)
            run = trainer.WorldModelRunConfig(devices=devices)
            placement = trainer.TRAINER.placement(experiment, run)
            built = trainer.build(experiment, placement)
            where = None if placement is None else placement.replicated
            data = jax.device_put(random_dataset(experiment, 32), where)
            state = place(
                built.init(jax.random.split(jax.random.key(0, impl="rbg"), args.seeds)), placement
            )
            t0 = time.perf_counter()
            built.compile(state, data)
            compile_s = time.perf_counter() - t0
            updates = 4 * args.updates
            chunk = functools.partial(built.run_chunk, data=data, size=updates)
            seconds = timed(chunk, state, args.repeats)
            steps = updates * batch * experiment.window * args.seeds
            rows.append(row("world_model", scaling, devices, batch, steps, seconds, compile_s))
    return rows


def dreamer_rows(args: Args) -> list[dict]:
    """The model-based agent at its cpu-small config (8 envs, replayed batch 16 x 32, train
    ratio 32), strong scaling only: its replay fixes the batch per update. Timed from a state
    whose replay already holds windows, so every timed iteration acts and trains."""
    from agents.dreamer import DreamerConfig
    from experiments.dreamer.trainer import TRAINER, DreamerRunConfig, build

    config = DreamerConfig()
    rows = []
    for devices in args.devices:
        placement = TRAINER.placement(config, DreamerRunConfig(devices=devices))
        programs = build(config, placement).programs
        # The untimed first chunk fills the replay past one window (32 steps per env).
        seconds, compile_s = timed_chunks(args, programs, placement, warm=True)
        steps = args.updates * config.steps_per_iteration * args.seeds
        rows.append(row("dreamer", "strong", devices, config.num_envs, steps, seconds, compile_s))
    return rows


def random_dataset(experiment, num_episodes: int) -> dict:
    """`num_episodes` episodes of random frames and actions in the shapes of `experiment`'s
    task (the speed of an update does not depend on what the frames show)."""
    import envs

    env, _ = envs.make(experiment.task, flat_obs=False, tile_size=experiment.tile_size)
    rng = np.random.default_rng(0)
    shape = (num_episodes, experiment.episode_length)
    return {
        "obs": rng.integers(0, 256, (*shape, *env.image_shape), np.uint8),
        "action": rng.integers(0, env.model_action_dim, shape).astype(np.int32),
        "reward": np.zeros(shape, np.float32),
        "terminated": np.zeros(shape, bool),
        "start": np.arange(shape[1])[None, :].repeat(shape[0], 0) == 0,
    }


def row(trainer, scaling, devices, batch, steps, seconds, compile_s) -> dict:
    per_second = [steps / s for s in seconds]
    return {
        "trainer": trainer,
        "scaling": scaling,
        "devices": devices,
        "global_batch": batch,
        "steps_per_s": round(statistics.median(per_second)),
        "min": round(min(per_second)),
        "max": round(max(per_second)),
        "compile_s": round(compile_s, 1),
    }


def with_costs(rows: list[dict]) -> list[dict]:
    """Adds `cost`: time per step relative to the 1-device row of the same trainer and global
    batch (None where there is no such row)."""
    one = {(r["trainer"], r["global_batch"]): r["steps_per_s"] for r in rows if r["devices"] == 1}
    out = []
    for r in rows:
        base = one.get((r["trainer"], r["global_batch"]))
        out.append({**r, "cost": None if base is None else round(base / r["steps_per_s"], 2)})
    return out


def table(rows: list[dict]) -> str:
    lines = [
        "| trainer | scaling | devices | global batch | steps/s (min-max) | cost vs 1 device "
        "| compile |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        cost = "-" if r["cost"] is None else f"{r['cost']}x"
        lines.append(
            f"| {r['trainer']} | {r['scaling']} | {r['devices']} | {r['global_batch']} | "
            f"{r['steps_per_s']:,} ({r['min']:,}-{r['max']:,}) | {cost} | {r['compile_s']} s |"
        )
    return "\n".join(lines)


def main(args: Args) -> list[dict]:
    from benchmarks.common import emit, machine, write_section

    if args.write_docs and (args.ppo_envs, args.seeds) != (Args.ppo_envs, Args.seeds):
        raise SystemExit("--write-docs writes the cpu-small table: leave --ppo-envs and --seeds")
    rows = []
    if "ppo" in args.trainers:
        rows += ppo_rows(args)
    if "world_model" in args.trainers:
        rows += world_model_rows(args)
    if "dreamer" in args.trainers:
        rows += dreamer_rows(args)
    rows = with_costs(rows)
    for r in rows:
        emit(r)
    if args.write_docs:
        command = "python -m benchmarks.scaling --write-docs"
        cpu = jax.default_backend() == "cpu"
        fake = f" ({FAKE_DEVICES} fake host devices sharing its cores)" if cpu else ""
        header = f"Command: `{command}`; machine: {machine()}{fake}.\n\n"
        write_section("scaling", header + table(rows))
    return rows


def relaunched() -> bool:
    """On a CPU process without the fake devices, runs this module again with them."""
    if jax.default_backend() != "cpu" or FLAG in os.environ.get("XLA_FLAGS", ""):
        return False
    env = {**os.environ, "XLA_FLAGS": f"{os.environ.get('XLA_FLAGS', '')} {FLAG}".strip()}
    command = [sys.executable, "-m", "benchmarks.scaling", *sys.argv[1:]]
    sys.exit(subprocess.run(command, env=env, check=False).returncode)


if __name__ == "__main__":
    if not relaunched():
        main(tyro.cli(Args))
