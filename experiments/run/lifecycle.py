"""The lifecycle of a training run, the same for every trainer.

    new run:  args -> (config, run) -> build (validates) -> RunDir.create -> train -> report
    resume:   RunDir.open -> config.json -> (config, run + session flags) -> build -> train

`train` restores the newest checkpoint (or initialises), compiles, runs the chunked loop of
`experiments.run.loop` (metrics, loggers, progress, checkpoints, non-finite stop, pause), lets
the trainer finish (plots, evaluation) and writes summary.json. A trainer plugs in by
subclassing `Trainer`: its config types, how to open a `Session` (the compiled programs of one
run), its summary fields and report lines, and optionally which part of the training state its
checkpoints leave out (`checkpointed`/`joined`; by default they hold all of it). Exit codes of
`cli`: 0 finished or paused, 1 stopped on non-finite updates, 2 bad input (config, run
directory, checkpoint, dataset), 130 interrupted by Ctrl-C or SIGTERM after checkpointing the
chunk in flight.
"""

import abc
import dataclasses
import hashlib
import json
import time
from pathlib import Path
from typing import Any, ClassVar, Protocol

import jax
import jax.numpy as jnp
from rich.console import Console

from experiments.run import checkpoint
from experiments.run.checkpoint import CheckpointError
from experiments.run.config import SESSION_FIELDS, Args, RunConfig, check_resume_flags
from experiments.run.interrupt import StopRequest
from experiments.run.loggers import Logger, TensorBoardLogger, WandbLogger
from experiments.run.loop import (
    FINISHED,
    INTERRUPTED,
    NONFINITE,
    PAUSED,
    LoopPlan,
    LoopResult,
    chunk_sizes,
    run_loop,
)
from experiments.run.progress import TrainingProgress
from experiments.run.run_dir import RunDir, RunDirError
from experiments.run.serialize import ConfigError, from_dict, to_dict

EXIT_CODES = {FINISHED: 0, PAUSED: 0, NONFINITE: 1, INTERRUPTED: 130}
"""Exit status of `cli` per loop status (130: the shell's code of a run ended by Ctrl-C)."""
INPUT_ERRORS: tuple[type[Exception], ...] = (RunDirError, CheckpointError, ConfigError)
"""Errors of bad input: reported in one line with exit status 2 (a trainer may add its own)."""


@dataclasses.dataclass
class TrainResult:
    """What `main` did."""

    run_dir: Path
    status: str
    """finished, paused or nonfinite."""
    state: Any
    """Final training state of every seed (leaves lead with N)."""
    summary: dict


class Session(Protocol):
    """The compiled programs (and data) of one run, opened by `Trainer.open`."""

    label: str
    """What is trained, for the progress bar and plots."""
    compile_seconds: float
    """Seconds spent compiling in this process."""

    def init(self, keys: jax.Array) -> Any:
        """The training state of `N` seeds from `[N]` keys."""

    def compile(self, state: Any, sizes: list[int]) -> None:
        """Compiles whatever running chunks of `sizes` updates of `state` needs."""

    def run_chunk(self, state: Any, size: int) -> tuple[Any, dict]:
        """Runs `size` updates of every seed; metrics `{name: [N, size]}`."""

    def finish(self, result: LoopResult, run_dir: RunDir, console: Console) -> dict:
        """Plots (and evaluates) after training; returns the trainer's summary fields."""


class Trainer(abc.ABC):
    """What one kind of training run adds to the lifecycle (see experiments.ppo.trainer)."""

    agent: ClassVar[str]
    """config.json's `agent` tag."""
    command: ClassVar[str]
    """The command line, for the hints printed after a run."""
    config_field: ClassVar[str]
    """config.json's key (and the `TrainArgs` field) of the algorithm config."""
    config_type: ClassVar[type]
    run_type: ClassVar[type] = RunConfig
    session_fields: ClassVar[tuple[str, ...]] = SESSION_FIELDS
    key_impl: ClassVar[str | None] = None
    """PRNG implementation of the seeds' keys (None: JAX's default)."""
    speed_column: ClassVar[str] = "steps_per_second"

    @abc.abstractmethod
    def presets(self) -> dict[str, tuple[str, Args]]:
        """Named starting points: `{name: (description, TrainArgs)}`."""

    @abc.abstractmethod
    def num_updates(self, config: Any) -> int:
        """Updates of the whole run."""

    def steps_per_update(self, config: Any) -> int:
        """Environment steps per update and seed (the progress bar's unit)."""
        return 1

    @abc.abstractmethod
    def run_name(self, config: Any, preset: str) -> str:
        """Folder name under runs/ of a new run without --run-dir (without the time stamp)."""

    @abc.abstractmethod
    def headline(self, config: Any, run: RunConfig) -> str:
        """One line printed when training starts."""

    @abc.abstractmethod
    def open(self, config: Any, run: RunConfig, run_dir: RunDir, console: Console) -> Session:
        """The session of one run (builds or reuses the compiled programs)."""

    def check(self, config: Any) -> None:
        """Validates `config` beyond its dataclass (e.g. by building it) before a run starts."""
        return None

    def resumed(self, stored: RunConfig, given: RunConfig) -> RunConfig:
        """The stored run settings with this invocation's session fields."""
        return dataclasses.replace(
            stored, **{name: getattr(given, name) for name in self.session_fields}
        )

    def checkpointed(self, run: RunConfig, state: Any) -> tuple[Any, Any]:
        """`(saved, rest)`: the part of `state` that checkpoints hold and the part they leave
        out, which lives only in memory between chunks (e.g. a large replay buffer). A resumed
        run restarts `rest` as zeros of its shapes, so it is then no longer equal to an
        uninterrupted run. Works on `jax.eval_shape` templates too. Default: all is saved."""
        return state, None

    def joined(self, run: RunConfig, saved: Any, rest: Any) -> Any:
        """The training state from the parts `checkpointed` split it into (default: `saved`)."""
        return saved

    def summary_lines(self, summary: dict, run_dir: Path) -> list[str]:
        """Lines printed after the status line."""
        return []

    def next_steps(self, summary: dict, run_dir: Path) -> list[str]:
        """Commands that work on the run as `summary` describes it (e.g. evaluate a checkpoint)."""
        return []


def config_record(trainer: Trainer, config: Any, run: RunConfig, preset: str) -> dict:
    """The content of config.json."""
    return {
        "agent": trainer.agent,
        "preset": preset,
        trainer.config_field: to_dict(config),
        "run": to_dict(run),
    }


def load_config(trainer: Trainer, run_dir: RunDir) -> tuple[Any, RunConfig, str]:
    """Reads config.json back into the configs it was written from."""
    record = run_dir.read_config()
    if record.get("agent") != trainer.agent:
        raise ConfigError(
            f"{run_dir.config_path} is not a {trainer.agent} run (agent={record.get('agent')})."
        )
    field = trainer.config_field
    config = from_dict(trainer.config_type, record[field], field)
    run = from_dict(trainer.run_type, record["run"], "run")
    return config, run, record.get("preset", "")


def fingerprint(trainer: Trainer, config: Any, run: RunConfig) -> str:
    """sha256 of everything that shapes the training state (checkpoints must match it)."""
    shaping = {trainer.config_field: to_dict(config), "num_seeds": run.num_seeds, "seed": run.seed}
    return hashlib.sha256(json.dumps(shaping, sort_keys=True).encode()).hexdigest()


def seed_keys(trainer: Trainer, run: RunConfig) -> jax.Array:
    """`[N]` keys, one per seed."""
    key = jax.random.key(run.seed, impl=trainer.key_impl)
    return jax.random.split(key, run.num_seeds)


def resolve(trainer: Trainer, config: Any, run: RunConfig, preset: str) -> RunConfig:
    """Fills the automatic run settings (chunk size, run directory)."""
    total = trainer.num_updates(config)
    chunk = run.chunk_updates or max(1, total // 50)
    run_dir = run.run_dir
    if run_dir is None:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        run_dir = Path("runs") / f"{trainer.run_name(config, preset)}-{stamp}"
    return dataclasses.replace(run, chunk_updates=min(chunk, total), run_dir=run_dir)


def make_loggers(run: RunConfig, run_dir: RunDir, record: dict) -> list[Logger]:
    """The optional metric sinks switched on in `run` (imported only then)."""
    loggers: list[Logger] = []
    if run.tensorboard:
        loggers.append(TensorBoardLogger(run_dir.path))
    if run.wandb:
        loggers.append(WandbLogger(run_dir.path, run.wandb_project, run.wandb_entity, record))
    return loggers


def restore_state(trainer: Trainer, run: RunConfig, path: Path, template: Any, meta: dict) -> Any:
    """The training state of every seed in checkpoint `path` (see `checkpoint.restore`).

    Args:
        template: the whole state's `jax.eval_shape` (e.g. of a session's `init`); what the
            trainer's checkpoints leave out (`Trainer.checkpointed`) restarts as zeros of its
            shapes.
        meta: metadata the checkpoint must have been saved with (the config's fingerprint).
    """
    template, rest = trainer.checkpointed(run, template)
    saved = checkpoint.restore(path, template, meta)
    return trainer.joined(run, saved, jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), rest))


def initial_state(
    trainer: Trainer, session: Session, config, run: RunConfig, run_dir: RunDir, console
) -> tuple[Any, int]:
    """`(state, start update)`: from the newest checkpoint (see `restore_state`), or a fresh
    init when there is none."""
    keys = seed_keys(trainer, run)
    latest = checkpoint.latest(run_dir.checkpoints)
    if latest is None:
        run_dir.truncate_metrics(0)
        return session.init(keys), 0
    template = jax.eval_shape(session.init, keys)
    meta = {"config_sha256": fingerprint(trainer, config, run)}
    state = restore_state(trainer, run, latest, template, meta)
    start = int(state.update[0])
    run_dir.truncate_metrics(start)
    console.print(f"resuming from {latest} (update {start})")
    return state, start


def loop_plan(trainer: Trainer, config: Any, run: RunConfig) -> LoopPlan:
    """When the loop stops, logs and checkpoints."""
    return LoopPlan(
        total_updates=trainer.num_updates(config),
        chunk_updates=run.chunk_updates,
        checkpoint_every=run.checkpoint_every,
        keep_checkpoints=run.keep_checkpoints,
        max_nonfinite_streak=run.max_nonfinite_streak,
        steps_per_update=trainer.steps_per_update(config),
        stop_after=run.stop_after,
        speed_column=trainer.speed_column,
    )


def train(
    trainer: Trainer, session: Session, config, run: RunConfig, run_dir: RunDir, console: Console
) -> TrainResult:
    """Trains (or continues) the run in `run_dir` until it finishes, pauses or fails."""
    with StopRequest(console) as stop:
        result = train_loop(trainer, session, config, run, run_dir, console, stop)
    fields = session.finish(result, run_dir, console)
    last = result.last_checkpoint
    summary = {
        "status": result.status,
        "message": result.message,
        **fields,
        "last_checkpoint": str(last.relative_to(run_dir.path)) if last else None,
    }
    run_dir.write_summary(summary)
    return TrainResult(run_dir.path, result.status, result.state, summary)


def train_loop(
    trainer: Trainer, session: Session, config, run, run_dir: RunDir, console, stop: StopRequest
) -> LoopResult:
    """Restores or initialises, compiles, and runs the chunked loop until it returns."""
    state, start = initial_state(trainer, session, config, run, run_dir, console)
    plan = loop_plan(trainer, config, run)
    with console.status("compiling..."):
        session.compile(state, chunk_sizes(start, plan.total_updates, plan.chunk_updates))
    rows = run_dir.read_metrics()
    elapsed = rows[-1]["wall_time"] if rows else 0.0
    loggers = make_loggers(run, run_dir, run_dir.read_config())
    meta = {"config_sha256": fingerprint(trainer, config, run)}
    unit = plan.steps_per_update
    bar = TrainingProgress(
        plan.total_updates * unit, start * unit, run.progress, console, session.label
    )
    saved, rest = trainer.checkpointed(run, state)

    def run_chunk(saved: Any, size: int) -> tuple[Any, dict]:
        """The loop holds (and checkpoints) the saved part; the rest waits here between chunks."""
        nonlocal rest
        state, metrics = session.run_chunk(trainer.joined(run, saved, rest), size)
        saved, rest = trainer.checkpointed(run, state)
        return saved, metrics

    try:
        with bar as progress:
            result = run_loop(
                saved, start, plan, run_chunk, run_dir, meta, progress, loggers, elapsed, stop
            )
    finally:
        for logger in loggers:
            logger.close()
    return dataclasses.replace(result, state=trainer.joined(run, result.state, rest))


def start(trainer: Trainer, args: Args) -> tuple[Any, RunConfig, RunDir | None]:
    """The configs of a new run (run dir not created yet) or of the resumed one."""
    given = args.parts()
    run = given["run"]
    if run.resume is None:
        config = given[trainer.config_field]
        trainer.check(config)
        return config, resolve(trainer, config, run, args.preset), None
    check_resume_flags(args, trainer.presets()[args.preset][1], trainer.session_fields)
    run_dir = RunDir.open(run.resume)
    config, stored, _ = load_config(trainer, run_dir)
    trainer.check(config)
    return config, trainer.resumed(stored, run), run_dir


def main(trainer: Trainer, args: Args, console: Console | None = None) -> TrainResult:
    """Starts a new run, or continues `--resume`; returns the outcome."""
    console = console or Console()
    config, run, run_dir = start(trainer, args)
    if run_dir is None:
        run_dir = RunDir.create(run.run_dir, config_record(trainer, config, run, args.preset))
    session = trainer.open(config, run, run_dir, console)
    console.print(f"{trainer.headline(config, run)} -> {run_dir.path}")
    result = train(trainer, session, config, run, run_dir, console)
    report(trainer, result, console)
    return result


def report(trainer: Trainer, result: TrainResult, console: Console) -> None:
    """Prints the outcome and the next commands."""
    color = {FINISHED: "green", PAUSED: "green", INTERRUPTED: "yellow"}.get(result.status, "red")
    console.print(f"[{color}]{result.status}[/{color}]: {result.summary['message']}")
    for line in trainer.summary_lines(result.summary, result.run_dir):
        console.print(line)
    if result.status in (PAUSED, INTERRUPTED):
        console.print(f"continue: {trainer.command} --resume {result.run_dir}")
    elif result.status == NONFINITE:
        console.print(
            "--resume would repeat the same updates and diverge again; start a new run with "
            "other settings (a lower --lr, a smaller --max-grad-norm) instead."
        )
    for line in trainer.next_steps(result.summary, result.run_dir):
        console.print(line)


def cli(trainer: Trainer, args: Args, errors: tuple[type[Exception], ...] = ()) -> int:
    """Runs parsed `args`; the exit status: 0 finished or paused, 1 stopped on non-finite
    updates, 2 bad input, 130 interrupted (Ctrl-C or SIGTERM; checkpointed, resumable)."""
    console = Console(soft_wrap=True)  # printed paths and commands stay whole in logs
    try:
        result = main(trainer, args, console)
    except (*INPUT_ERRORS, *errors) as err:
        console.print(f"[red]error:[/red] {err}")
        return 2
    return EXIT_CODES[result.status]
