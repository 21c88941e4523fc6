"""The lifecycle of a training run, the same for every trainer.

    new run:  args -> (config, run) -> build (validates) -> RunDir.create -> train -> report
    resume:   RunDir.open -> config.json -> (config, run + session flags) -> build -> train
    extend:   --resume RUN with a larger budget (`Trainer.budget_field`): config.json records the
              new budget (and the earlier fingerprint, so older checkpoints still restore)
    branch:   --from RUN [--from-checkpoint C]: RUN's config with the given flags changed, in a new
              run directory that starts from RUN's checkpoint (same state shapes, checked on
              `jax.eval_shape` before compiling); config.json records `branched_from`

`train` restores the newest checkpoint (or initialises), compiles, runs the chunked loop of
`experiments.run.loop` (metrics, loggers, progress, checkpoints, non-finite stop, pause), lets
the trainer finish (plots, evaluation) and writes summary.json. A trainer plugs in by
subclassing `Trainer`: its config types, how to open a `Session` (the compiled programs of one
run), its summary fields and report lines, and optionally which part of the training state its
checkpoints leave out (`checkpointed`/`joined`; by default they hold all of it). Exit codes of
`cli`: 0 finished or paused, 1 stopped on non-finite updates, 2 bad input (config, run
directory, checkpoint, dataset), 130 interrupted by Ctrl-C or SIGTERM after checkpointing the
chunk in flight.

`--distributed` (experiments.run.devices): `cli` joins the processes before anything touches a
JAX backend; every process runs this same lifecycle on its share of the environments, process 0
alone writes the run directory, logs and prints, and checkpoints are written collectively.
"""

import abc
import dataclasses
import hashlib
import json
import os
import shlex
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar, Protocol

import jax
import jax.numpy as jnp
from rich.console import Console

from experiments.run import checkpoint
from experiments.run.checkpoint import CheckpointError
from experiments.run.config import (
    BRANCH_FIELDS,
    SESSION_FIELDS,
    Args,
    RunConfig,
    changed_fields,
    check_resume_flags,
    defaults,
    flag,
)
from experiments.run.devices import (
    Placement,
    any_process,
    barrier,
    check_distributed,
    check_divisible,
    initialize,
    is_writer,
)
from experiments.run.flags import speak_flags
from experiments.run.interrupt import StopRequest
from experiments.run.loggers import Logger, TensorBoardLogger, WandbLogger
from experiments.run.loop import (
    FINISHED,
    INTERRUPTED,
    NONFINITE,
    PAUSED,
    LoopPlan,
    LoopResult,
    auto_chunk,
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
    budget_field: ClassVar[str] = "total_timesteps"
    """The config field of the run's length: `--resume RUN` with a larger value extends it."""
    optimiser_fields: ClassVar[tuple[str, ...]] = ("lr",)
    """Learning rates and clips: after a non-finite stop the hint branches with them lowered."""
    evaluate_command: ClassVar[str | None] = None
    """The command that evaluates a run's checkpoint (hinted after a run that has one)."""
    batch_fields: ClassVar[tuple[str, ...]] = ()
    """Training-state fields whose leaves carry the environment axis `B`, split over the
    devices by `--devices` (experiments.run.devices); none: the trainer runs on one device."""

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

    def init_function(self, config: Any) -> Callable[[jax.Array], Any] | None:
        """`init(keys [N]) -> state` of `config` without opening a session, only traced by
        `jax.eval_shape`: `--from` then names the changed settings that change the state's
        shapes before anything compiles (None: the restore refuses them, naming a leaf)."""
        return None

    def pieces_per_device(self, config: Any) -> tuple[int, str]:
        """How many parts of the environment axis each device must hold whole (e.g. PPO's
        minibatches), and their name for the error message."""
        return 1, ""

    def placement(self, config: Any, run: RunConfig) -> Placement | None:
        """Where the chunks run with `--devices` (None: one device); refuses, before anything
        compiles, environments that the devices do not divide."""
        if run.devices == 1:
            return None
        if not self.batch_fields:
            raise ConfigError(f"--devices: {self.command} trains on one device; drop --devices.")
        pieces, what = self.pieces_per_device(config)
        check_divisible(config.num_envs, run.devices, pieces, what)
        return Placement.of(run.devices, config.num_envs, self.batch_fields)

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
        """Commands that work on the run as `summary` describes it: evaluate its checkpoint."""
        if self.evaluate_command is None or summary["last_checkpoint"] is None:
            return []
        return [f"evaluate: {self.evaluate_command} {run_dir}"]


def config_record(trainer: Trainer, config: Any, run: RunConfig, preset: str) -> dict:
    """The content of config.json (a branch adds `branched_from`, an extension `extended`)."""
    stored = {k: v for k, v in to_dict(run).items() if k not in BRANCH_FIELDS}
    return {
        "agent": trainer.agent,
        "preset": preset,
        trainer.config_field: to_dict(config),
        "run": stored,
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
    return digest(trainer, to_dict(config), run)


def digest(trainer: Trainer, fields: dict, run: RunConfig) -> str:
    """The fingerprint of a config's `fields` as a dict (see `fingerprint`)."""
    shaping = {trainer.config_field: fields, "num_seeds": run.num_seeds, "seed": run.seed}
    return hashlib.sha256(json.dumps(shaping, sort_keys=True).encode()).hexdigest()


def seed_keys(trainer: Trainer, run: RunConfig) -> jax.Array:
    """`[N]` keys, one per seed."""
    key = jax.random.key(run.seed, impl=trainer.key_impl)
    return jax.random.split(key, run.num_seeds)


def resolve(trainer: Trainer, config: Any, run: RunConfig, preset: str) -> RunConfig:
    """Fills the automatic run settings (chunk size, run directory)."""
    total = trainer.num_updates(config)
    chunk = run.chunk_updates or auto_chunk(total)
    run_dir = run.run_dir
    if run_dir is None:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        run_dir = Path("runs") / f"{trainer.run_name(config, preset)}-{stamp}"
    return dataclasses.replace(run, chunk_updates=min(chunk, total), run_dir=run_dir)


def make_loggers(run: RunConfig, run_dir: RunDir, record: dict) -> list[Logger]:
    """The optional metric sinks switched on in `run` (imported only then)."""
    loggers: list[Logger] = []
    if not run_dir.writer:
        return loggers
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


def checkpoint_meta(trainer: Trainer, record: dict, config: Any, run: RunConfig, path: Path):
    """The metadata checkpoint `path` of the run of config.json `record` must hold: the
    fingerprint of `config`; or of the config as config.json writes it, where that reads back
    as `config` (a run written before a config field was added, which its file lacks and
    which takes its default); or one from before the run was extended (`record["extended"]`)."""
    meta = {"config_sha256": fingerprint(trainer, config, run)}
    accepted = {entry["config_sha256"] for entry in record.get("extended", [])}
    written = record.get(trainer.config_field)
    if isinstance(written, dict) and reads_as(trainer, written, config):
        accepted.add(digest(trainer, written, run))
    saved = checkpoint.read_manifest(path).get("meta", {}).get("config_sha256")
    return {"config_sha256": saved} if saved in accepted else meta


def reads_as(trainer: Trainer, written: dict, config: Any) -> bool:
    """Whether config.json's `written` config reads back as `config`."""
    try:
        return from_dict(trainer.config_type, written, trainer.config_field) == config
    except (TypeError, ValueError):  # ConfigError is a ValueError
        return False


def initial_state(
    trainer: Trainer, session: Session, config, run: RunConfig, run_dir: RunDir, console
) -> tuple[Any, int]:
    """`(state, start update)`: from the newest checkpoint (see `restore_state`), or a fresh
    init when there is none."""
    keys = seed_keys(trainer, run)
    latest = checkpoint.latest(run_dir.checkpoints)
    if latest is None:
        run_dir.truncate_metrics(0)
        barrier("metrics:truncated")
        return session.init(keys), 0
    template = jax.eval_shape(session.init, keys)
    meta = checkpoint_meta(trainer, run_dir.read_config(), config, run, latest)
    state = restore_state(trainer, run, latest, template, meta)
    start = int(state.update[0])
    run_dir.truncate_metrics(start)
    barrier("metrics:truncated")
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
    run_dir.drop_scratch()
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
    barrier("compiled")  # the first chunk's collectives start together (see `barrier`)
    rows = run_dir.read_metrics()
    elapsed = rows[-1]["wall_time"] if rows else 0.0
    loggers = make_loggers(run, run_dir, run_dir.read_config())
    meta = {"config_sha256": fingerprint(trainer, config, run)}
    unit = plan.steps_per_update
    show = run.progress and run_dir.writer
    bar = TrainingProgress(plan.total_updates * unit, start * unit, show, console, session.label)
    saved, rest = trainer.checkpointed(run, state)

    def agreed() -> bool:
        """Every process stops after the same chunk: when any of them was asked to."""
        return any_process(stop())

    def run_chunk(saved: Any, size: int) -> tuple[Any, dict]:
        """The loop holds (and checkpoints) the saved part; the rest waits here between chunks."""
        nonlocal rest
        state, metrics = session.run_chunk(trainer.joined(run, saved, rest), size)
        saved, rest = trainer.checkpointed(run, state)
        return saved, metrics

    try:
        with bar as progress:
            result = run_loop(
                saved, start, plan, run_chunk, run_dir, meta, progress, loggers, elapsed, agreed
            )
    finally:
        for logger in loggers:
            logger.close()
    return dataclasses.replace(result, state=trainer.joined(run, result.state, rest))


@dataclasses.dataclass
class Branch:
    """Where a run started with `--from` branches off: a checkpoint of another run."""

    source: RunDir
    checkpoint: Path
    update: int
    config: Any
    """The source run's algorithm config."""
    run: RunConfig
    """The source run's run settings (they say what its checkpoints hold)."""
    changed: dict[str, tuple[Any, Any]]
    """`{flat field: (source value, new value)}`."""

    def record(self) -> dict:
        """config.json's `branched_from`."""
        return {
            "run_dir": str(self.source.path),
            "checkpoint": str(self.checkpoint),
            "update": self.update,
            "changed": {flag(k): to_dict(new) for k, (_, new) in self.changed.items()},
        }


@dataclasses.dataclass
class Start:
    """What `start` decided: the configs, and for a new run how its config.json begins."""

    config: Any
    run: RunConfig
    run_dir: RunDir | None
    """The resumed run (None: a new run, created by `main`)."""
    preset: str
    record: dict | None = None
    """A resumed run's new config.json (an extended budget), to write before training."""
    branch: Branch | None = None


def start(trainer: Trainer, args: Args) -> Start:
    """The configs of a new run (run dir not created yet), a branch, or of the resumed one."""
    given = args.parts()
    run = given["run"]
    if run.resume is None and run.branch_from is not None:
        return branch_start(trainer, args)
    if run.resume is None:
        if run.from_checkpoint is not None:
            raise ConfigError("--from-checkpoint needs --from RUN.")
        config = given[trainer.config_field]
        trainer.check(config)
        return Start(config, resolve(trainer, config, run, args.preset), None, args.preset)
    default, budget = defaults(args, trainer.presets()), trainer.budget_field
    check_resume_flags(args, default, (*trainer.session_fields, budget), budget)
    run_dir = RunDir.open(run.resume)
    config, stored, preset = load_config(trainer, run_dir)
    accepted, record = extension(trainer, args, default, run_dir, config, stored)
    if not accepted:  # refuses a budget flag that does not extend the run
        check_resume_flags(args, default, trainer.session_fields, budget)
    if record is not None:
        config = from_dict(trainer.config_type, record[trainer.config_field], trainer.config_field)
    trainer.check(config)
    return Start(config, trainer.resumed(stored, run), run_dir, preset, record)


def extension(
    trainer: Trainer, args: Args, default: Args, run_dir: RunDir, config: Any, run: RunConfig
) -> tuple[bool, dict | None]:
    """`(accepted, new config.json)` of `--resume RUN` with a budget flag: accepted with the
    new config.json when it is above the stored one, accepted alone when equal to it; else
    `(False, None)`, and a smaller budget is left for `check_resume_flags` to refuse."""
    name = trainer.budget_field
    if name not in changed_fields(args, default) or not hasattr(config, name):
        return False, None
    given, stored = getattr(args, name), getattr(config, name)
    if given == stored:
        return True, None
    try:
        longer = dataclasses.replace(config, **{name: given})
    except ValueError:
        return False, None
    if trainer.num_updates(longer) <= trainer.num_updates(config):
        return False, None
    record = run_dir.read_config()
    earlier = {name: stored, "config_sha256": fingerprint(trainer, config, run)}
    record = {
        **record,
        trainer.config_field: to_dict(longer),
        "extended": [*record.get("extended", []), {**earlier, "to": given}],
    }
    return True, record


def branch_start(trainer: Trainer, args: Args) -> Start:
    """`--from RUN`: RUN's configs with the flags given here changed, checked against RUN's
    checkpoint (refused, naming the settings, where the training state's shapes differ)."""
    given = args.parts()["run"]
    source = RunDir.open(given.branch_from)
    config, stored, preset = load_config(trainer, source)
    path = branch_checkpoint(source, given.from_checkpoint)
    manifest = checkpoint.read_manifest(path)
    ignored = (*trainer.session_fields, *BRANCH_FIELDS, "run_dir")
    changes = changed_fields(args, defaults(args, trainer.presets()), ignored)
    new_config, new_run = changed_configs(trainer, config, stored, changes)
    new_run = dataclasses.replace(
        trainer.resumed(new_run, given),
        run_dir=given.run_dir,
        resume=None,
        branch_from=None,
        from_checkpoint=None,
    )
    trainer.check(new_config)
    step = manifest["step"]
    old = {**vars_of(config), **vars_of(stored)}
    changed = {k: (old[k], v) for k, v in changes.items()}
    branch = Branch(source, path, step, config, stored, changed)
    check_branch_shapes(trainer, branch, manifest)
    total = trainer.num_updates(new_config)
    if total <= step:
        raise ConfigError(
            f"--from {source.path}: {path} is at update {step}, the end of a run of {total} "
            f"updates; give a larger {flag(trainer.budget_field)}."
        )
    run = resolve(trainer, new_config, new_run, preset)
    return Start(new_config, run, None, preset, branch=branch)


def vars_of(config: Any) -> dict[str, Any]:
    """A config's fields by name."""
    return {f.name: getattr(config, f.name) for f in dataclasses.fields(config)}


def changed_configs(trainer: Trainer, config: Any, run: RunConfig, changes: dict) -> tuple:
    """`(config, run)` with the flat `changes` routed to the part that has each field."""
    own = {k: v for k, v in changes.items() if k in vars_of(config)}
    try:
        config = dataclasses.replace(config, **own)
        run = dataclasses.replace(run, **{k: v for k, v in changes.items() if k not in own})
    except (TypeError, ValueError) as err:
        raise ConfigError(str(err)) from None
    return config, run


def branch_checkpoint(source: RunDir, given: Path | None) -> Path:
    """The checkpoint a branch starts from: `given` (as a path, or under the source run), or
    the source's newest."""
    if given is None:
        path = checkpoint.latest(source.checkpoints)
        if path is None:
            raise CheckpointError(f"--from {source.path}: the run has no checkpoint yet.")
        return path
    for path in (Path(given), source.path / given, source.checkpoints / str(given)):
        if (path / checkpoint.MANIFEST).is_file():
            return path
    found = ", ".join(p.name for p in checkpoint.available(source.checkpoints)) or "none"
    raise CheckpointError(
        f"--from-checkpoint {given} is not a checkpoint of {source.path} (it has: {found})."
    )


def check_branch_shapes(trainer: Trainer, branch: Branch, manifest: dict) -> None:
    """Refuses (one line, naming the settings) a branch whose training state would not have
    the shapes of the checkpoint's, comparing `jax.eval_shape` of the new init with it."""
    saved = [(d["path"], d["shape"], d["dtype"]) for d in manifest["leaves"]]

    def difference(changes: dict) -> str | None:
        config, run = changed_configs(trainer, branch.config, branch.run, changes)
        init = trainer.init_function(config)
        if init is None:
            return None
        template = jax.eval_shape(init, seed_keys(trainer, run))
        template, _ = trainer.checkpointed(branch.run, template)
        new = [(d["path"], d["shape"], d["dtype"]) for d in checkpoint.describe(template)]
        if len(new) != len(saved):
            return f"{len(saved)} arrays saved, {len(new)} now"
        for s, n in zip(saved, new, strict=True):
            if s != n:
                return f"saved {s[0]} {s[2]}{s[1]}, now {n[0]} {n[2]}{n[1]}"
        return None

    changes = {k: new for k, (_, new) in branch.changed.items()}
    problem = difference(changes)
    if problem is None:
        return
    culprits = [k for k in changes if difference({k: changes[k]}) is not None] or list(changes)
    named = ", ".join(
        f"{flag(k)} ({branch.changed[k][0]} -> {branch.changed[k][1]})" for k in culprits
    )
    raise ConfigError(
        f"--from {branch.source.path}: {named} would change the training state's shapes "
        f"({problem}); a branch continues the checkpoint's state, so change only settings "
        "that keep them (learning rates, clipping, loss weights, the budget)."
    )


def branch_into(
    trainer: Trainer, session: Session, branch: Branch, config, run, run_dir: RunDir, console
) -> None:
    """Starts the new run in `run_dir` at the branch: the source checkpoint's state saved as
    this run's first checkpoint (this config's fingerprint), and the source's metrics up to it."""
    template = jax.eval_shape(session.init, seed_keys(trainer, run))
    record = branch.source.read_config()
    meta = checkpoint_meta(trainer, record, branch.config, branch.run, branch.checkpoint)
    state = restore_state(trainer, branch.run, branch.checkpoint, template, meta)
    saved, _ = trainer.checkpointed(run, state)
    meta = {"config_sha256": fingerprint(trainer, config, run)}
    checkpoint.save(run_dir.checkpoints, branch.update, saved, meta)
    rows = [r for r in branch.source.read_metrics() if r["update"] <= branch.update]
    run_dir.append_metrics(rows)
    console.print(f"branched from {branch.checkpoint} (update {branch.update})")


def main(trainer: Trainer, args: Args, console: Console | None = None) -> TrainResult:
    """Starts a new run, continues (or extends) `--resume`, or branches `--from`; returns the
    outcome."""
    console = console or Console()
    plan = start(trainer, args)
    config, run, run_dir = plan.config, plan.run, plan.run_dir
    if run.distributed:
        check_distributed(run.devices)
    trainer.placement(config, run)  # a bad --devices fails before the run directory is made
    if run_dir is None:
        record = config_record(trainer, config, run, plan.preset)
        if plan.branch is not None:
            record["branched_from"] = plan.branch.record()
        run_dir = RunDir.create(run.run_dir, record)
    elif plan.record is not None:
        run_dir.write_config(plan.record)
        console.print(f"extended to {trainer.num_updates(config)} updates")
    session = trainer.open(config, run, run_dir, console)
    if plan.branch is not None:
        branch_into(trainer, session, plan.branch, config, run, run_dir, console)
    console.print(f"{trainer.headline(config, run)} -> {run_dir.path}")
    result = train(trainer, session, config, run, run_dir, console)
    report(trainer, result, console)
    if os.environ.get(DIGEST_VARIABLE):
        print(f"state digest: {state_digest(result.state)}", file=sys.stderr, flush=True)
    return result


DIGEST_VARIABLE = "RLSSM_STATE_DIGEST"
"""Set (to anything) in the environment: `main` prints `state digest: <sha256>` of the final
state's replicated leaves to stderr, in every process (to compare the processes' parameters)."""


def state_digest(state: Any) -> str:
    """sha256 of the leaves of `state` that every process holds whole (parameters, optimiser
    states, counters; not the environments a distributed run splits)."""
    digest = hashlib.sha256()
    for leaf in jax.tree.leaves(state):
        if isinstance(leaf, jax.Array) and not leaf.sharding.is_fully_replicated:
            continue
        if jnp.issubdtype(leaf.dtype, jax.dtypes.prng_key):
            leaf = jax.random.key_data(leaf)
        digest.update(jax.device_get(leaf).tobytes())
    return digest.hexdigest()


def report(trainer: Trainer, result: TrainResult, console: Console) -> None:
    """Prints the outcome and the next commands."""
    color = {FINISHED: "green", PAUSED: "green", INTERRUPTED: "yellow"}.get(result.status, "red")
    console.print(f"[{color}]{result.status}[/{color}]: {result.summary['message']}")
    for line in trainer.summary_lines(result.summary, result.run_dir):
        console.print(line)
    for line in next_commands(trainer, result):
        console.print(line)


def next_commands(trainer: Trainer, result: TrainResult) -> list[str]:
    """The commands that work on the run as it ended: continue a paused or interrupted run;
    after a non-finite stop, branch from the last good checkpoint with lowered optimiser
    settings (a plain --resume would diverge again); extend a finished run; and the
    trainer's own (e.g. evaluate, only where a checkpoint exists)."""
    run_dir, command = shlex.quote(str(result.run_dir)), trainer.command
    try:
        record = RunDir.open(result.run_dir).read_config()
        config = record[trainer.config_field]
    except (RunDirError, OSError, KeyError, ValueError):
        record, config = None, None  # no concrete values to offer (a hand-made result)
    lines = []
    if result.status in (PAUSED, INTERRUPTED):
        lines.append(f"continue: {command} --resume {run_dir}")
    elif result.status == NONFINITE and result.summary.get("last_checkpoint") is None:
        lines.append(
            "--resume would repeat the same updates and diverge again, and no checkpoint was "
            "written; start a new run with lower "
            f"{' or '.join(flag(n) for n in trainer.optimiser_fields)} instead."
        )
    elif result.status == NONFINITE:
        lowered = lowered_flags(trainer, record, config) or "--lr LR"
        lines.append(
            "--resume would repeat the same updates and diverge again; branch a new run from "
            "the last good checkpoint with lower optimiser settings instead:"
        )
        lines.append(f"branch: {command} --from {run_dir} {lowered}")
    elif result.status == FINISHED and config is not None and trainer.budget_field in config:
        budget = 2 * config[trainer.budget_field]
        lines.append(f"extend: {command} --resume {run_dir} {flag(trainer.budget_field)} {budget}")
    return [*lines, *trainer.next_steps(result.summary, result.run_dir)]


def lowered_flags(trainer: Trainer, record: dict | None, config: dict | None) -> str:
    """Flags of `trainer.optimiser_fields` at the preset's value, or a tenth of the run's where
    that is not lower ("" without a readable config.json)."""
    if record is None or config is None:
        return ""
    preset = trainer.presets().get(record.get("preset", ""), (None, None))[1]
    flags = []
    for name in trainer.optimiser_fields:
        if not isinstance(config.get(name), int | float):
            continue
        value = config[name]
        default = getattr(preset, name, value) if preset is not None else value
        flags.append(f"{flag(name)} {value / 10 if default >= value else default:g}")
    return " ".join(flags)


def cli(trainer: Trainer, args: Args, errors: tuple[type[Exception], ...] = ()) -> int:
    """Runs parsed `args`; the exit status: 0 finished or paused, 1 stopped on non-finite
    updates, 2 bad input, 130 interrupted (Ctrl-C or SIGTERM; checkpointed, resumable)."""
    run = args.parts()["run"]
    errors_to = Console(soft_wrap=True)  # printed paths and commands stay whole in logs
    try:
        if run.distributed:  # before anything touches a JAX backend
            initialize(run.coordinator_address, run.num_processes, run.process_id)
        console = Console(soft_wrap=True, quiet=not is_writer())  # only process 0 prints
        result = main(trainer, args, console)
    except (*INPUT_ERRORS, *errors) as err:
        errors_to.print(f"[red]error:[/red] {speak_flags(str(err), args)}")
        return 2
    return EXIT_CODES[result.status]
