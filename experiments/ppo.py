"""Train recurrent PPO from the command line: presets, run directories, checkpoints, resume.

    python -m experiments.ppo                                 # cpu-small preset (RepeatFirstEasy)
    python -m experiments.ppo cartpole --num-seeds 4          # another preset, 4 seeds at once
    python -m experiments.ppo core:s5 --core.num-layers 4 --lr 1e-3 --run-dir runs/s5
    python -m experiments.ppo --resume runs/s5                # continue a stopped or killed run
    python -m experiments.ppo --help                          # every option, per preset

Every PPO hyperparameter (`agents.ppo.PPOConfig`) and run setting (`RunConfig`) is a flag; the
core is a subcommand (`core:s5`, `core:gru`, ...) whose fields are `--core.<field>`. Training runs
in jitted chunks of `N` seeds; between chunks the host writes metrics, checkpoints and progress
(see experiments.loop). The run directory layout is in experiments.run_dir.
"""

import dataclasses
import functools
import hashlib
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Union

import jax
import tyro
from rich.console import Console

import rlssm.cores as cores
from agents.ppo import NetworkConfig, PPOConfig, RunnerState, make_agent
from agents.ppo.train import Agent
from experiments.run import checkpoint, plots, scores
from experiments.run.checkpoint import CheckpointError
from experiments.run.loggers import Logger, TensorBoardLogger, WandbLogger
from experiments.run.loop import FINISHED, PAUSED, LoopPlan, LoopResult, chunk_sizes, run_loop
from experiments.run.progress import TrainingProgress
from experiments.run.run_dir import RunDir, RunDirError
from experiments.run.serialize import ConfigError, check_resume_flags, from_dict, to_dict

CoreChoice = Union[  # noqa: UP007 (tyro needs a runtime Union of annotated subcommands)
    tuple(Annotated[cls, tyro.conf.subcommand(name)] for name, cls in cores.CONFIGS.items())
]
DESCRIPTION = (
    "Train recurrent PPO. Pick a preset (default cpu-small), override any flag, and pick the "
    "memory core with core:NAME ("
    + ", ".join(f"core:{name}" for name in cores.registered())
    + "; `PRESET --help` lists their --core.* flags). --resume RUN_DIR continues a run."
)
RESUME_FIELDS = ("resume", "stop_after", "progress")
"""Run settings a resumed run may change (everything else is fixed by config.json)."""


@dataclasses.dataclass(frozen=True)
class RunConfig:
    """How a run is executed and recorded (seeds, files, logging); not part of the algorithm."""

    num_seeds: int = 1
    """Seeds N trained at once (vmapped)."""
    seed: int = 0
    """Base random seed; seed i uses the i-th split of jax.random.key(seed)."""
    run_dir: Path | None = None
    """Run directory (default: runs/<preset>-<env>-<core>-<date>-<time>)."""
    chunk_updates: int = 0
    """Updates per jitted chunk (host logs between chunks); 0: num_updates // 50, at least 1."""
    checkpoint_every: int = 5
    """Chunks between checkpoints (the last chunk is always checkpointed)."""
    keep_checkpoints: int = 2
    """Newest checkpoints kept (0: all)."""
    max_nonfinite_streak: int = 5
    """Stop when a seed had this many updates in a row with non-finite losses or gradients."""
    stop_after: int | None = None
    """Pause after this many updates of this invocation (checkpointed; continue with --resume)."""
    progress: bool = True
    """Show a progress bar (steps, steps/s, return, ETA)."""
    tensorboard: bool = False
    """Also log to TensorBoard in RUN_DIR/tensorboard (needs the `tensorboard` extra)."""
    wandb: bool = False
    """Also log to Weights & Biases (needs the `wandb` extra and a wandb login)."""
    wandb_project: str = "rlssm"
    """Weights & Biases project."""
    wandb_entity: str | None = None
    """Weights & Biases entity (team or user; default: wandb's default)."""
    resume: Path | None = None
    """Continue the run in this directory with its stored config (other flags: only
    --stop-after and --progress/--no-progress)."""

    def __post_init__(self) -> None:
        checks = (
            ("num_seeds", 1),
            ("chunk_updates", 0),
            ("checkpoint_every", 1),
            ("keep_checkpoints", 0),
            ("max_nonfinite_streak", 1),
        )
        for name, low in checks:
            if getattr(self, name) < low:
                raise ValueError(f"{name} must be >= {low}, got {getattr(self, name)}.")
        if self.stop_after is not None and self.stop_after < 1:
            raise ValueError(f"stop_after must be >= 1, got {self.stop_after}.")


@dataclasses.dataclass(frozen=True)
class TrainArgs(RunConfig, PPOConfig):
    """Train recurrent PPO (any memory core) on any registered environment."""

    core: CoreChoice = dataclasses.field(default_factory=lambda: cores.GRUConfig(hidden_size=64))
    """Memory core between encoder and heads (a subcommand: core:s5, core:gru, core:none, ...)."""
    preset: tyro.conf.Suppress[str] = "cpu-small"
    """Name of the preset these values started from."""

    def __post_init__(self) -> None:
        PPOConfig.__post_init__(self)
        RunConfig.__post_init__(self)


@dataclasses.dataclass
class TrainResult:
    """What `main` did."""

    run_dir: Path
    status: str
    """finished, paused or nonfinite."""
    state: RunnerState
    """Final training state of every seed (leaves lead with N)."""
    summary: dict


def split(args: TrainArgs) -> tuple[PPOConfig, RunConfig]:
    """The algorithm's config and the run settings of parsed arguments."""
    ppo = {f.name: getattr(args, f.name) for f in dataclasses.fields(PPOConfig)}
    run = {f.name: getattr(args, f.name) for f in dataclasses.fields(RunConfig)}
    return PPOConfig(**ppo), RunConfig(**run)


def _preset_cpu_small() -> tuple[str, TrainArgs]:
    return (
        "RepeatFirstEasy with a small S5 (2 layers of width 64), 2 seeds; solves it in a few "
        "minutes on 2 CPU cores.",
        TrainArgs(
            env_name="RepeatFirstEasy",
            core=cores.S5Config(hidden_size=64, state_size=64, num_layers=2),
            num_envs=32,
            num_steps=128,
            total_timesteps=1_000_000,
            lr=1e-3,
            num_seeds=2,
            preset="cpu-small",
        ),
    )


def _preset_cartpole() -> tuple[str, TrainArgs]:
    return (
        "CartPole-v1, feed-forward, the classic purejaxrl setting (5e5 steps).",
        TrainArgs(
            env_name="CartPole-v1",
            core=cores.FeedForwardConfig(hidden_size=64, activation="tanh"),
            network=NetworkConfig(encoder_sizes=(), head_sizes=(64,), shared_trunk=False),
            num_envs=4,
            num_steps=128,
            total_timesteps=500_000,
            update_epochs=4,
            num_minibatches=4,
            lr=2.5e-4,
            preset="cartpole",
        ),
    )


def _preset_popgym_paper() -> tuple[str, TrainArgs]:
    return (
        "The S5 RL paper's PPO on POPGym (Lu et al. 2023): S5 4x256, 64 envs x 1024 steps, "
        "30 epochs, 8 minibatches, lr 5e-5, lambda 1.0, 15M steps. GPU-sized.",
        TrainArgs(
            env_name="RepeatPreviousHard",
            core=cores.S5Config(
                hidden_size=256,
                state_size=256,
                num_layers=4,
                activation="full_glu",
                norm="none",
                prenorm=False,
            ),
            network=NetworkConfig(
                encoder_sizes=(128, 256), head_sizes=(128, 128), activation="leaky_relu"
            ),
            num_envs=64,
            num_steps=1024,
            total_timesteps=15_000_000,
            update_epochs=30,
            num_minibatches=8,
            lr=5e-5,
            anneal_lr=False,
            gae_lambda=1.0,
            ent_coef=0.0,
            vf_coef=1.0,
            previous_action_reward=True,
            preset="popgym-paper",
        ),
    )


def _preset_meta_cartpole() -> tuple[str, TrainArgs]:
    return (
        "MetaCartPole (16 trials of stateless CartPole under a random projection drawn per "
        "episode) with a GRU of width 128, 20M steps; about 12 minutes on 2 CPU cores. "
        "Evaluate with `python -m experiments.evaluate RUN_DIR` for the return of each trial.",
        TrainArgs(
            env_name="MetaCartPole",
            core=cores.GRUConfig(hidden_size=128),
            num_envs=64,
            num_steps=128,
            total_timesteps=20_000_000,
            lr=5e-4,
            gamma=0.999,
            normalize_obs=True,
            preset="meta-cartpole",
        ),
    )


def _preset_brax() -> tuple[str, TrainArgs]:
    return (
        "Continuous control on brax/halfcheetah (purejaxrl's brax PPO setting). GPU-sized.",
        TrainArgs(
            env_name="brax/halfcheetah",
            core=cores.FeedForwardConfig(hidden_size=256, activation="tanh"),
            network=NetworkConfig(
                encoder_sizes=(), head_sizes=(256,), shared_trunk=False, squash=True
            ),
            num_envs=2048,
            num_steps=10,
            total_timesteps=50_000_000,
            update_epochs=4,
            num_minibatches=32,
            lr=3e-4,
            ent_coef=0.0,
            normalize_obs=True,
            normalize_value=True,
            preset="brax",
        ),
    )


def presets() -> dict[str, tuple[str, TrainArgs]]:
    """Named starting points: `{name: (description, TrainArgs)}`."""
    return {
        "cpu-small": _preset_cpu_small(),
        "cartpole": _preset_cartpole(),
        "popgym-paper": _preset_popgym_paper(),
        "meta-cartpole": _preset_meta_cartpole(),
        "brax": _preset_brax(),
    }


def parse_presets(table: dict, argv: list[str] | None, prog: str, description: str):
    """Parses a command line whose subcommands are the presets of `table` (`{name: (text,
    args)}`, `cpu-small` the default); exits on bad flags. Shared by the PPO and world-model
    command lines."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and not set(argv) & {*table, "-h", "--help"}:
        # Name the default preset: tyro's implicit choice misreads a leading `--no-<flag>`.
        argv = ["cpu-small", *argv]
    choice = tyro.extras.subcommand_type_from_defaults(
        {name: args for name, (_, args) in table.items()},
        {name: text for name, (text, _) in table.items()},
        prefix_names=False,
    )
    return tyro.cli(
        choice,
        default=table["cpu-small"][1],
        args=argv,
        prog=prog,
        description=description,
        config=(tyro.conf.CascadeSubcommandArgs,),
    )


def parse(argv: list[str] | None = None) -> TrainArgs:
    """Parses a command line (default: sys.argv) into `TrainArgs`; exits on bad flags."""
    return parse_presets(presets(), argv, "python -m experiments.ppo", DESCRIPTION)


def resolve(ppo: PPOConfig, run: RunConfig, preset: str) -> RunConfig:
    """Fills the automatic run settings (chunk size, run directory)."""
    chunk = run.chunk_updates or max(1, ppo.num_updates // 50)
    run_dir = run.run_dir
    if run_dir is None:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        env = ppo.env_name.replace("/", "-")
        run_dir = Path("runs") / f"{preset}-{env}-{ppo.core.name}-{stamp}"
    return dataclasses.replace(run, chunk_updates=min(chunk, ppo.num_updates), run_dir=run_dir)


def config_record(ppo: PPOConfig, run: RunConfig, preset: str) -> dict:
    """The content of config.json."""
    return {"agent": "ppo", "preset": preset, "ppo": to_dict(ppo), "run": to_dict(run)}


def load_config(run_dir: RunDir) -> tuple[PPOConfig, RunConfig, str]:
    """Reads config.json back into the configs it was written from."""
    record = run_dir.read_config()
    if record.get("agent") != "ppo":
        raise ConfigError(f"{run_dir.config_path} is not a PPO run (agent={record.get('agent')}).")
    ppo = from_dict(PPOConfig, record["ppo"], "ppo")
    run = from_dict(RunConfig, record["run"], "run")
    return ppo, run, record.get("preset", "")


def fingerprint(ppo: PPOConfig, run: RunConfig) -> str:
    """sha256 of everything that shapes the training state (checkpoints must match it)."""
    shaping = {"ppo": to_dict(ppo), "num_seeds": run.num_seeds, "seed": run.seed}
    return hashlib.sha256(json.dumps(shaping, sort_keys=True).encode()).hexdigest()


@dataclasses.dataclass
class Built:
    """An agent with its jitted functions over `N` seeds (cached per config within a process).

    `init` maps over seeds with `lax.map`, not `vmap`: the orthogonal initialisers run a LAPACK
    QR, and a batched QR inside a jitted program can deadlock XLA's CPU thread pool on machines
    with few cores (jax 0.10); one seed at a time never batches it. Training chunks are vmapped.
    """

    agent: Agent
    init: Callable
    chunks: dict[int, Any] = dataclasses.field(default_factory=dict)
    compile_seconds: float = 0.0
    """Seconds spent compiling chunk programs in this process."""

    def compile(self, state: RunnerState, sizes: list[int]) -> None:
        """Compiles the chunk program of every size in `sizes` for `state`'s number of seeds."""
        for size in sorted(set(sizes)):
            signature = (size, num_seeds(state))
            if signature not in self.chunks:
                t0 = time.perf_counter()
                fn = jax.jit(jax.vmap(functools.partial(self.agent.run, num_updates=size)))
                self.chunks[signature] = fn.lower(state).compile()
                self.compile_seconds += time.perf_counter() - t0

    def run_chunk(self, state: RunnerState, size: int) -> tuple[RunnerState, dict]:
        """Runs `size` updates of every seed (compiled beforehand by `compile`)."""
        return self.chunks[(size, num_seeds(state))](state)


def num_seeds(state: RunnerState) -> int:
    """Seeds N of a batched state."""
    return int(state.update.shape[0])


@functools.lru_cache(maxsize=4)
def _build(config_json: str) -> Built:
    ppo = from_dict(PPOConfig, json.loads(config_json), "ppo")
    try:
        agent = make_agent(ppo)
    except (TypeError, ValueError) as err:  # unknown environment or option, unusable spaces
        raise ConfigError(str(err)) from None
    return Built(agent, jax.jit(functools.partial(jax.lax.map, agent.init)))


def build(ppo: PPOConfig) -> Built:
    """The agent of `ppo` with its jitted functions (reused for an identical config).

    Raises:
        ConfigError: the environment cannot be built (checked before anything compiles).
    """
    return _build(json.dumps(to_dict(ppo), sort_keys=True))


def seed_keys(run: RunConfig) -> jax.Array:
    """`[N]` keys, one per seed."""
    return jax.random.split(jax.random.key(run.seed), run.num_seeds)


def make_loggers(run: RunConfig, run_dir: RunDir, record: dict) -> list[Logger]:
    """The optional metric sinks switched on in `run` (imported only then)."""
    loggers: list[Logger] = []
    if run.tensorboard:
        loggers.append(TensorBoardLogger(run_dir.path))
    if run.wandb:
        loggers.append(WandbLogger(run_dir.path, run.wandb_project, run.wandb_entity, record))
    return loggers


def initial_state(built: Built, ppo: PPOConfig, run: RunConfig, run_dir: RunDir, console):
    """`(state, start update)`: from the newest checkpoint, or a fresh init when there is none."""
    keys = seed_keys(run)
    latest = checkpoint.latest(run_dir.checkpoints)
    if latest is None:
        run_dir.truncate_metrics(0)
        return built.init(keys), 0
    template = jax.eval_shape(built.init, keys)
    state = checkpoint.restore(latest, template, {"config_sha256": fingerprint(ppo, run)})
    start = int(state.update[0])
    run_dir.truncate_metrics(start)
    console.print(f"resuming from {latest} (update {start})")
    return state, start


def train(
    built: Built, ppo: PPOConfig, run: RunConfig, run_dir: RunDir, console: Console
) -> TrainResult:
    """Trains (or continues) the run in `run_dir` until it finishes, pauses or fails."""
    state, start = initial_state(built, ppo, run, run_dir, console)
    plan = LoopPlan(
        total_updates=ppo.num_updates,
        chunk_updates=run.chunk_updates,
        checkpoint_every=run.checkpoint_every,
        keep_checkpoints=run.keep_checkpoints,
        max_nonfinite_streak=run.max_nonfinite_streak,
        steps_per_update=ppo.steps_per_update,
        stop_after=run.stop_after,
    )
    sizes = chunk_sizes(start, plan.total_updates, plan.chunk_updates)
    compiled_before = built.compile_seconds
    with console.status(f"compiling {len(set(sizes))} chunk program(s)..."):
        built.compile(state, sizes)
    compile_seconds = built.compile_seconds - compiled_before
    rows = run_dir.read_metrics()
    elapsed = rows[-1]["wall_time"] if rows else 0.0
    loggers = make_loggers(run, run_dir, run_dir.read_config())
    meta = {"config_sha256": fingerprint(ppo, run)}
    total_steps = ppo.num_updates * ppo.steps_per_update
    start_steps = start * ppo.steps_per_update
    try:
        with TrainingProgress(total_steps, start_steps, run.progress, console) as progress:
            result = run_loop(
                state, start, plan, built.run_chunk, run_dir, meta, progress, loggers, elapsed
            )
    finally:
        for logger in loggers:
            logger.close()
    summary = summarize(run_dir, ppo, run, result, compile_seconds)
    plots.learning_curves(run_dir.read_metrics(), run_dir.plots, f"{ppo.env_name} {ppo.core.name}")
    return TrainResult(run_dir.path, result.status, result.state, summary)


def summarize(
    run_dir: RunDir, ppo: PPOConfig, run: RunConfig, result: LoopResult, compile_s: float
) -> dict:
    """Writes summary.json from every metrics row so far; returns it."""
    rows = run_dir.read_metrics()
    final = scores.final_return(rows)
    best = scores.mmer(rows)
    wall = rows[-1]["wall_time"] if rows else 0.0
    steps = result.update * ppo.steps_per_update
    checkpoint_path = result.last_checkpoint
    summary = {
        "status": result.status,
        "message": result.message,
        "env_name": ppo.env_name,
        "core": ppo.core.name,
        "num_seeds": run.num_seeds,
        "updates": result.update,
        "num_updates": ppo.num_updates,
        "env_steps_per_seed": steps,
        "final_return_mean": scores.mean_std(final)[0],
        "final_return_per_seed": final,
        "mmer_mean": scores.mean_std(best)[0],
        "mmer_per_seed": best,
        "train_seconds": wall,
        "chunk_compile_seconds": compile_s,
        "steps_per_second": steps * run.num_seeds / wall if wall > 0 else None,
        "last_checkpoint": str(checkpoint_path.relative_to(run_dir.path))
        if checkpoint_path
        else None,
    }
    run_dir.write_summary(summary)
    return summary


def main(args: TrainArgs, console: Console | None = None) -> TrainResult:
    """Starts a new run, or continues `args.resume`; returns the outcome."""
    console = console or Console()
    if args.resume is not None:
        check_resume_flags(args, presets()[args.preset][1], RESUME_FIELDS)
        run_dir = RunDir.open(args.resume)
        ppo, stored, _ = load_config(run_dir)
        run = dataclasses.replace(stored, **{name: getattr(args, name) for name in RESUME_FIELDS})
    else:
        ppo, run = split(args)
        run = resolve(ppo, run, args.preset)
    built = build(ppo)
    if args.resume is None:
        run_dir = RunDir.create(run.run_dir, config_record(ppo, run, args.preset))
    console.print(
        f"[bold]{ppo.env_name}[/bold] core={ppo.core.name} seeds={run.num_seeds} "
        f"updates={ppo.num_updates} ({ppo.num_envs} envs x {ppo.num_steps} steps) -> {run_dir.path}"
    )
    result = train(built, ppo, run, run_dir, console)
    report(result, console)
    return result


def report(result: TrainResult, console: Console) -> None:
    """Prints the outcome and the next commands."""
    s = result.summary
    color = "green" if result.status in (FINISHED, PAUSED) else "red"
    console.print(f"[{color}]{result.status}[/{color}]: {s['message']}")
    console.print(
        f"final return {s['final_return_mean']:.3f} (mean of the last 10% of updates over "
        f"{s['num_seeds']} seed(s)), best update mean {s['mmer_mean']:.3f} (POPGym's MMER on "
        f"POPGym tasks); files in {result.run_dir}"
    )
    if result.status != FINISHED:
        console.print(f"continue: python -m experiments.ppo --resume {result.run_dir}")
    console.print(f"evaluate: python -m experiments.evaluate {result.run_dir}")


def cli(argv: list[str] | None = None) -> int:
    """Entry point of `python -m experiments.ppo` and `rlssm-ppo`; returns the exit status."""
    args = parse(argv)
    console = Console()
    try:
        result = main(args, console)
    except (RunDirError, CheckpointError, ConfigError) as err:
        console.print(f"[red]error:[/red] {err}")
        return 2
    return 0 if result.status in (FINISHED, PAUSED) else 1


if __name__ == "__main__":
    sys.exit(cli())
