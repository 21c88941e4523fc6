"""Train and evaluate a world model (S4WM, RSSM, TSSM) on a memory benchmark from the command line.

    python -m experiments.world_model                              # cpu-small: S4WM (s5), FourRooms
    python -m experiments.world_model --model rssm                 # RSSM (its GRU backbone)
    python -m experiments.world_model --core none                  # memoryless baseline
    python -m experiments.world_model --task Memory/Teleport-TwoRooms --steps 2000
    python -m experiments.world_model cpu-recall                   # short Teleport-TwoRooms recall
    python -m experiments.world_model gpu-paper --task Memory/TenRooms
    python -m experiments.world_model --resume RUN_DIR             # continue a stopped run
    python -m experiments.world_model_eval RUN_DIR RUN_DIR ...     # overlay MSE-vs-horizon curves

A dataset of the task is played by its scripted policy (fixed seed, cached with its checksum, see
experiments.world_model_data); the model trains on random episodes (or windows) of it, one jitted
update of all `N` seeds at a time, logged and checkpointed in chunks of updates, with the run
directory, checkpoints, resume and progress of the PPO command line (experiments.run_dir,
experiments.checkpoint, experiments.progress). When training ends, held-out episodes are evaluated
as in S4WM: observe the context, generate the query from its actions alone
(rlssm.world_models.evaluate); summary.json gets the per-frame MSE over the horizon, its buckets
and the reward accuracy, plots/ the loss curves, frame strips (ground truth above generated
frames) and the MSE-vs-horizon curve.
"""

import dataclasses
import functools
import hashlib
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Literal

import jax
import jax.numpy as jnp
import numpy as np
import tyro
from rich.console import Console

import envs
import rlssm.world_models as wm
from agents.common import map_seeds
from agents.world_model import (
    TRAINING_FIELDS,
    LoopState,
    TrainConfig,
    evaluate_seeds,
    make_agent,
    update_seeds,
)
from experiments import world_model_plots
from experiments.run import checkpoint
from experiments.run.checkpoint import CheckpointError
from experiments.run.config import RunConfig, check_resume_flags, parse_presets
from experiments.run.lifecycle import make_loggers
from experiments.run.loop import FINISHED, PAUSED, LoopPlan, LoopResult, run_loop
from experiments.run.progress import TrainingProgress
from experiments.run.run_dir import RunDir, RunDirError
from experiments.run.serialize import ConfigError, from_dict, to_dict
from experiments.world_model_data import DatasetError, DataSpec, Splits, load_or_generate

SESSION_FIELDS = ("resume", "stop_after", "progress", "dataset_dir")
"""Run settings that may change between sessions of one run (everything else is the run)."""
AGENT = "world_model"
CORE_FLAGS = (
    ("hidden_size", "core_size"),
    ("num_layers", "core_layers"),
    ("state_size", "state_size"),
)
"""Backbone config fields set from flags of `Experiment`, where the backbone has them."""


def require(condition: bool, message: str) -> None:
    """Raises `ValueError(message)` unless `condition` (config validation)."""
    if not condition:
        raise ValueError(message)


@dataclasses.dataclass(frozen=True)
class Experiment:
    """What is trained on which data, and how (everything that shapes the results)."""

    task: str = "Memory/FourRooms"
    """Memory benchmark to learn (a `Memory/...` name of envs.registered())."""
    context_length: int = 100
    """Steps of the context phase (observed with teacher forcing at evaluation)."""
    query_length: int = 60
    """Steps of the query phase (generated from actions alone at evaluation)."""
    tile_size: int = 2
    """Pixels per tile side: 2 gives 16x16 RGB frames, 4 gives 32x32."""
    train_episodes: int = 256
    """Episodes of the training set."""
    eval_episodes: int = 32
    """Held-out episodes of the evaluation."""
    data_seed: int = 0
    """Seed of the dataset (the same for every model, so runs compare on the same data)."""
    model: Literal["s4wm", "rssm", "tssm"] = "s4wm"
    """World model: s4wm (parallel backbone), rssm (sequential, posterior reads h), tssm."""
    core: str | None = None
    """Backbone: a core name (s5, lru, s6, mingru, gru, lstm, none = memoryless) or transformer;
    default: the model's own (s4wm: s5, rssm: gru, tssm: transformer)."""
    core_size: int = 64
    """Width H of the backbone (its hidden_size)."""
    core_layers: int = 1
    """Layers of the backbone."""
    state_size: int = 32
    """State size P of the SSM backbones that have one (s5, lru, s6)."""
    core_options: str = ""
    """Further backbone options as a JSON object, e.g. '{"scan_mode": "parallel"}' or
    '{"window": 128, "num_heads": 4}'."""
    hidden_size: int = 64
    """Width of every MLP of the model."""
    latent_groups: int = 8
    """G: categorical latent variables."""
    latent_classes: int = 8
    """K: classes per latent variable."""
    cnn_depth: int = 8
    """Channels of the first convolution of the image encoder (doubled per stage)."""
    reward_bins: int = 31
    """Two-hot reward bins."""
    recon_scale: float = 1.0
    """Weight of the frame reconstruction term (squared error summed over the frame's pixels)."""
    steps: int = 600
    """Updates (training steps) per seed."""
    batch_size: int = 8
    """Sequences per update."""
    sequence_length: int = 0
    """Records per training sequence: random windows of the episodes; 0: whole episodes."""
    blind_query: float = 0.0
    """Share of training sequences whose query phase the backbone observes blind: from the
    second query step on it reads actions but not the previous latent, so the prior must
    generate those frames from the context, as in imagination (observation dropout). 0: plain
    teacher forcing on every sequence."""
    lr: float = 1e-3
    """Adam learning rate."""
    grad_clip: float = 100.0
    """Global gradient-norm clip."""
    eval_buckets: int = 4
    """Equal slices of the query horizon for the bucketed MSE."""
    eval_sample: bool = False
    """Draw latents while evaluating (default: the distributions' modes, deterministic)."""
    shown_episodes: int = 3
    """Evaluation episodes drawn in the frame strips."""

    def __post_init__(self) -> None:
        require(
            self.task.startswith("Memory/") and self.task in envs.registered(),
            f"task={self.task!r} is not a memory benchmark; use one of "
            f"{tuple(n for n in envs.registered() if n.startswith('Memory/'))}.",
        )
        for name, low in (
            ("context_length", 1),
            ("query_length", 1),
            ("train_episodes", 1),
            ("eval_episodes", 1),
            ("steps", 1),
            ("batch_size", 1),
            ("sequence_length", 0),
            ("eval_buckets", 1),
            ("shown_episodes", 1),
        ):
            value = getattr(self, name)
            require(value >= low, f"{name} must be >= {low}, got {value}.")
        require(self.tile_size in (2, 4, 8), f"tile_size must be 2, 4 or 8, got {self.tile_size}.")
        require(self.lr > 0 and self.grad_clip > 0, "lr and grad_clip must be > 0.")
        require(
            0.0 <= self.blind_query <= 1.0,
            f"blind_query is a share of sequences in [0, 1], got {self.blind_query}.",
        )
        require(
            self.sequence_length <= self.episode_length,
            f"sequence_length={self.sequence_length} exceeds an episode's "
            f"{self.episode_length} records (context + query + 1).",
        )
        require(
            self.eval_buckets <= self.horizon,
            f"eval_buckets={self.eval_buckets} exceeds the query horizon {self.horizon}.",
        )
        require(
            self.shown_episodes <= self.eval_episodes, "shown_episodes must be <= eval_episodes."
        )
        self.world_model()  # unknown backbones, options or sizes fail here, before compiling

    @property
    def episode_length(self) -> int:
        """`T`: records of one episode (its first observation, then one per step)."""
        return self.context_length + self.query_length + 1

    @property
    def horizon(self) -> int:
        """`H`: query records the model generates (`T - context_length`)."""
        return self.episode_length - self.context_length

    @property
    def window(self) -> int:
        """Records per training sequence."""
        return self.sequence_length or self.episode_length

    @property
    def backbone(self) -> str:
        """The backbone's name."""
        return self.core or wm.MODELS[self.model].default_core

    @property
    def data(self) -> DataSpec:
        """The dataset these settings train and evaluate on."""
        return DataSpec(
            self.task,
            self.context_length,
            self.query_length,
            self.tile_size,
            self.train_episodes,
            self.eval_episodes,
            self.data_seed,
        )

    def core_config(self):
        """The backbone config: sizes from the flags, then `core_options`."""
        if self.backbone not in wm.BACKBONES:
            raise ValueError(
                f"core={self.backbone!r} is unknown; use one of {tuple(wm.BACKBONES)}."
            )
        fields = {f.name for f in dataclasses.fields(wm.BACKBONES[self.backbone])}
        options = {option: getattr(self, flag) for option, flag in CORE_FLAGS if option in fields}
        try:
            extra = json.loads(self.core_options) if self.core_options else {}
        except json.JSONDecodeError as err:
            raise ValueError(f"core_options is not JSON ({err}): {self.core_options!r}") from None
        require(isinstance(extra, dict), f"core_options must be a JSON object, got {extra!r}.")
        try:
            return wm.backbone_config(self.backbone, **{**options, **extra})
        except TypeError as err:
            raise ValueError(str(err)) from None

    def world_model(self) -> wm.WorldModel:
        """The model these settings describe (frames `[h, w, 3]`, the task's actions)."""
        env, _ = envs.make(self.task, flat_obs=False, tile_size=self.tile_size)
        try:
            return wm.make(
                self.model,
                core=self.core_config(),
                obs_shape=env.image_shape,
                action_dim=env.model_action_dim,
                hidden_size=self.hidden_size,
                latent_groups=self.latent_groups,
                latent_classes=self.latent_classes,
                cnn_depth=self.cnn_depth,
                reward_bins=self.reward_bins,
                recon_scale=self.recon_scale,
            )
        except TypeError as err:
            raise ValueError(str(err)) from None


@dataclasses.dataclass(frozen=True)
class WorldModelRunConfig(RunConfig):
    """How a run is executed and recorded (the PPO command line's settings, plus the data cache)."""

    dataset_dir: Path | None = None
    """Folder of cached datasets (default: RUN_DIR/data; --resume keeps the stored one unless
    given); share one between runs to generate each dataset once."""


@dataclasses.dataclass(frozen=True)
class TrainArgs(WorldModelRunConfig, Experiment):
    """Train a world model on a memory benchmark and evaluate its long-term imagination."""

    preset: tyro.conf.Suppress[str] = "cpu-small"
    """Name of the preset these values started from."""

    def __post_init__(self) -> None:
        Experiment.__post_init__(self)
        RunConfig.__post_init__(self)


@dataclasses.dataclass
class TrainResult:
    """What `main` did."""

    run_dir: Path
    status: str
    """finished, paused or nonfinite."""
    state: LoopState
    """Final training state of every seed (leaves lead with N)."""
    summary: dict


def presets() -> dict[str, tuple[str, TrainArgs]]:
    """Named starting points: `{name: (description, TrainArgs)}`."""
    return {
        "cpu-small": (
            "FourRooms with 100 context + 60 query steps, 16x16 frames, width-64 models, "
            "600 updates of 8 episodes: a few minutes on 2 CPU cores.",
            TrainArgs(preset="cpu-small"),
        ),
        "cpu-recall": (
            "Teleport-TwoRooms with 30 context + 10 query steps, sharp frames (32 x 16 latents, "
            "width-128 MLPs, 16-channel CNN, reconstruction weighted x16) and half the training "
            "sequences' queries observed blind, 1500 updates of 8 episodes drawn from 1024: "
            "recall on 2 CPU cores in a few minutes.",
            TrainArgs(
                task="Memory/Teleport-TwoRooms",
                context_length=30,
                query_length=10,
                train_episodes=1024,
                hidden_size=128,
                latent_groups=32,
                latent_classes=16,
                cnn_depth=16,
                recon_scale=16.0,
                blind_query=0.5,
                steps=1500,
                preset="cpu-recall",
            ),
        ),
        "gpu-paper": (
            "Sized like S4WM's experiments (Deng et al. 2023): the task's full lengths, 32x32 "
            "frames, width-512 backbone, 50k updates of 16 whole episodes. GPU-sized.",
            TrainArgs(
                context_length=500,
                query_length=500,
                tile_size=4,
                train_episodes=2048,
                eval_episodes=64,
                core_size=512,
                core_layers=4,
                state_size=128,
                hidden_size=512,
                latent_groups=32,
                latent_classes=32,
                cnn_depth=32,
                reward_bins=255,
                steps=50_000,
                batch_size=16,
                lr=3e-4,
                grad_clip=1000.0,
                chunk_updates=500,
                preset="gpu-paper",
            ),
        ),
    }


def parse(argv: list[str] | None = None) -> TrainArgs:
    """Parses a command line (default: sys.argv) into `TrainArgs`; exits on bad flags."""
    description = __doc__.split("\n\n")[0]
    return parse_presets(presets(), argv, "python -m experiments.world_model", description)


def split(args: TrainArgs) -> tuple[Experiment, WorldModelRunConfig]:
    """The experiment and the run settings of parsed arguments."""
    experiment = {f.name: getattr(args, f.name) for f in dataclasses.fields(Experiment)}
    run = {f.name: getattr(args, f.name) for f in dataclasses.fields(WorldModelRunConfig)}
    return Experiment(**experiment), WorldModelRunConfig(**run)


def resolve(experiment: Experiment, run: WorldModelRunConfig, preset: str):
    """Fills the automatic run settings (chunk size, run directory)."""
    chunk = run.chunk_updates or max(1, experiment.steps // 50)
    run_dir = run.run_dir
    if run_dir is None:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        task = experiment.task.replace("/", "-")
        name = f"wm-{preset}-{task}-{experiment.model}-{experiment.backbone}-{stamp}"
        run_dir = Path("runs") / name
    return dataclasses.replace(run, chunk_updates=min(chunk, experiment.steps), run_dir=run_dir)


def config_record(experiment: Experiment, run: WorldModelRunConfig, preset: str) -> dict:
    """The content of config.json."""
    return {
        "agent": AGENT,
        "preset": preset,
        "experiment": to_dict(experiment),
        "run": to_dict(run),
    }


def load_config(run_dir: RunDir) -> tuple[Experiment, WorldModelRunConfig, str]:
    """Reads config.json back into the configs it was written from."""
    record = run_dir.read_config()
    if record.get("agent") != AGENT:
        raise ConfigError(
            f"{run_dir.config_path} is not a world-model run (agent={record.get('agent')})."
        )
    experiment = from_dict(Experiment, record["experiment"], "experiment")
    run = from_dict(WorldModelRunConfig, record["run"], "run")
    return experiment, run, record.get("preset", "")


def fingerprint(experiment: Experiment, run: WorldModelRunConfig) -> str:
    """sha256 of everything that shapes the training state (checkpoints must match it)."""
    shaping = {"experiment": to_dict(experiment), "num_seeds": run.num_seeds, "seed": run.seed}
    return hashlib.sha256(json.dumps(shaping, sort_keys=True).encode()).hexdigest()


def seed_keys(run: RunConfig) -> jax.Array:
    """`[N]` keys, one per seed (rbg: threefry draws compile slowly on the CPU)."""
    return jax.random.split(jax.random.key(run.seed, impl="rbg"), run.num_seeds)


@dataclasses.dataclass
class Built:
    """A model with its jitted programs over `N` seeds (cached per experiment in a process).

    `init` maps over seeds with `lax.map`, not `vmap`, like the PPO command line (a batched QR
    inside a jitted program can deadlock XLA's CPU thread pool); updates and evaluation vmap.
    """

    experiment: Experiment
    model: wm.WorldModel
    init: Callable
    step: Callable
    evaluate: Callable
    steps: dict = dataclasses.field(default_factory=dict)
    compile_seconds: float = 0.0
    """Seconds spent compiling in this process."""
    memory_mb: float | None = None
    """XLA's planned memory of the update program (arguments, outputs and temporaries)."""

    def compile(self, state: LoopState, data: dict) -> None:
        """Compiles the update program for `state`'s number of seeds and `data`'s shapes."""
        signature = (num_seeds(state), data["obs"].shape)
        if signature not in self.steps:
            t0 = time.perf_counter()
            compiled = jax.jit(self.step).lower(state, data).compile()
            self.steps[signature] = compiled
            self.compile_seconds += time.perf_counter() - t0
            self.memory_mb = xla_memory_mb(compiled)

    def run_chunk(self, state: LoopState, data: dict, size: int) -> tuple[LoopState, dict]:
        """Runs `size` updates of every seed; metrics `[N, size]` (compiled by `compile`)."""
        step = self.steps[(num_seeds(state), data["obs"].shape)]
        history = []
        for _ in range(size):
            state, metrics = step(state, data)
            history.append(metrics)
        return state, jax.tree.map(lambda *xs: jnp.stack(xs, axis=1), *history)


def xla_memory_mb(compiled) -> float | None:
    """Arguments + outputs + temporaries of a compiled program, in MiB (None if unknown)."""
    analysis = compiled.memory_analysis()
    if analysis is None:
        return None
    total = (
        analysis.argument_size_in_bytes
        + analysis.output_size_in_bytes
        + analysis.temp_size_in_bytes
    )
    return round(total / 2**20, 1)


def num_seeds(state: LoopState) -> int:
    """Seeds N of a batched state."""
    return int(state.update.shape[0])


@functools.lru_cache(maxsize=4)
def _build(config_json: str) -> Built:
    experiment = from_dict(Experiment, json.loads(config_json), "experiment")
    fields = dataclasses.fields(TrainConfig)
    config = TrainConfig(**{f.name: getattr(experiment, f.name) for f in fields})
    agent = make_agent(experiment.world_model(), config)
    init = jax.jit(map_seeds(agent.init))
    evaluate = jax.jit(evaluate_seeds(agent))
    return Built(experiment, agent.model, init, update_seeds(agent), evaluate)


def build(experiment: Experiment) -> Built:
    """The model of `experiment` with its jitted programs (reused for an identical experiment)."""
    return _build(json.dumps(to_dict(experiment), sort_keys=True))


def dataset_folder(run: WorldModelRunConfig, run_dir: RunDir) -> Path:
    """Where the dataset is cached."""
    return run.dataset_dir if run.dataset_dir is not None else run_dir.path / "data"


def initial_state(built: Built, run, run_dir: RunDir, console: Console) -> tuple[LoopState, int]:
    """`(state, start update)`: from the newest checkpoint, or a fresh init when there is none."""
    keys = seed_keys(run)
    latest = checkpoint.latest(run_dir.checkpoints)
    if latest is None:
        run_dir.truncate_metrics(0)
        return built.init(keys), 0
    template = jax.eval_shape(built.init, keys)
    meta = {"config_sha256": fingerprint(built.experiment, run)}
    state = checkpoint.restore(latest, template, meta)
    start = int(state.update[0])
    run_dir.truncate_metrics(start)
    console.print(f"resuming from {latest} (update {start})")
    return state, start


def train(built: Built, run, run_dir: RunDir, splits: Splits, console: Console) -> TrainResult:
    """Trains (or continues) the run in `run_dir`, then evaluates it if it finished."""
    experiment = built.experiment
    state, start = initial_state(built, run, run_dir, console)
    plan = LoopPlan(
        total_updates=experiment.steps,
        chunk_updates=run.chunk_updates,
        checkpoint_every=run.checkpoint_every,
        keep_checkpoints=run.keep_checkpoints,
        max_nonfinite_streak=run.max_nonfinite_streak,
        steps_per_update=1,
        stop_after=run.stop_after,
        speed_column="updates_per_second",
    )
    data = jax.device_put({name: splits.train[name] for name in TRAINING_FIELDS})
    with console.status("compiling the update program..."):
        built.compile(state, data)
    rows = run_dir.read_metrics()
    elapsed = rows[-1]["wall_time"] if rows else 0.0
    loggers = make_loggers(run, run_dir, run_dir.read_config())
    meta = {"config_sha256": fingerprint(experiment, run)}
    label = f"{experiment.model} ({experiment.backbone}) {experiment.task}"

    def run_chunk(state: LoopState, size: int):
        return built.run_chunk(state, data, size)

    try:
        with TrainingProgress(experiment.steps, start, run.progress, console, label) as progress:
            result = run_loop(
                state, start, plan, run_chunk, run_dir, meta, progress, loggers, elapsed
            )
    finally:
        for logger in loggers:
            logger.close()
    world_model_plots.training_curves(run_dir.read_metrics(), run_dir.plots / "training.png", label)
    evaluation = None
    if result.status == FINISHED:
        with console.status("evaluating long-term imagination..."):
            evaluation = evaluate_and_plot(built, result.state, run, run_dir, splits)
    summary = summarize(run_dir, built, run, result, splits, evaluation)
    return TrainResult(run_dir.path, result.status, result.state, summary)


def evaluate_and_plot(built: Built, state: LoopState, run, run_dir: RunDir, splits: Splits):
    """Evaluates every seed on the held-out episodes; writes the frame strip and MSE plots."""
    experiment = built.experiment
    key = jax.random.key(run.seed + 1, impl="rbg")
    episodes = jax.device_put({name: splits.eval[name] for name in TRAINING_FIELDS})
    reward_values = splits.reward_values
    result = jax.device_get(built.evaluate(state.train_state.params, episodes, key, reward_values))
    c, shown = experiment.context_length, experiment.shown_episodes
    frames = splits.eval["obs"][:shown].astype(np.float32) / 255.0
    truth = np.swapaxes(frames[:, c:], 0, 1)
    label = f"{experiment.model} ({experiment.backbone}) {experiment.task}"
    world_model_plots.frame_strip(
        truth,
        np.asarray(result.imagined_obs[0]),
        frames[:, c - 1],
        c,
        run_dir.plots / "frames.png",
        title=f"{label}, seed 0: ground truth above generated query frames",
    )
    world_model_plots.mse_vs_horizon(
        {label: np.asarray(result.metrics.mse)},
        run_dir.plots / "mse_horizon.png",
        f"{experiment.task}: imagination error over the query",
    )
    return result


def evaluation_record(evaluation, reward_values: np.ndarray, experiment: Experiment) -> dict:
    """The `eval` entry of summary.json (means over seeds, then per seed)."""
    m = evaluation.metrics
    per_seed = {
        "mse_mean": m.mse_mean,
        "mse_buckets": m.mse_buckets,
        "reward_accuracy": m.reward_accuracy,
        "reward_event_accuracy": m.reward_event_accuracy,
        "mse_per_frame": m.mse,
    }
    return {
        "episodes": experiment.eval_episodes,
        "context_length": experiment.context_length,
        "horizon": experiment.horizon,
        "sample": experiment.eval_sample,
        "reward_values": reward_values.tolist(),
        **{name: np.mean(value, axis=0).tolist() for name, value in per_seed.items()},
        "reward_mae": float(np.mean(m.reward_mae)),
        "loss_terms": {k: float(np.mean(v)) for k, v in evaluation.loss_terms.items()},
        "per_seed": {name: np.asarray(value).tolist() for name, value in per_seed.items()},
    }


def final_training(rows: list[dict], keys=("loss", "recon", "reward", "kl")) -> dict:
    """Mean over seeds and the last 10% of updates of some training metrics."""
    if not rows:
        return {}
    last = max(r["update"] for r in rows)
    tail = [r for r in rows if r["update"] > 0.9 * last]
    return {k: float(np.nanmean([np.nan if r[k] is None else r[k] for r in tail])) for k in keys}


def summarize(run_dir: RunDir, built: Built, run, result: LoopResult, splits, evaluation) -> dict:
    """Writes summary.json; returns it."""
    experiment = built.experiment
    rows = run_dir.read_metrics()
    wall = rows[-1]["wall_time"] if rows else 0.0
    last = result.last_checkpoint
    summary = {
        "status": result.status,
        "message": result.message,
        "task": experiment.task,
        "model": experiment.model,
        "core": experiment.backbone,
        "num_seeds": run.num_seeds,
        "updates": result.update,
        "steps": experiment.steps,
        "records_per_update": experiment.batch_size * experiment.window,
        "train_episodes": experiment.train_episodes,
        "train_seconds": wall,
        "updates_per_second": result.update / wall if wall > 0 else None,
        "compile_seconds_this_session": built.compile_seconds,
        "xla_memory_mb": built.memory_mb,
        "final_training": final_training(rows),
        "dataset": {"file": str(splits.path), **experiment.data.metadata},
        "eval": evaluation_record(evaluation, splits.reward_values, experiment)
        if evaluation is not None
        else None,
        "last_checkpoint": str(last.relative_to(run_dir.path)) if last else None,
    }
    run_dir.write_summary(summary)
    return summary


def main(args: TrainArgs, console: Console | None = None) -> TrainResult:
    """Starts a new run, or continues `args.resume`; returns the outcome."""
    console = console or Console()
    if args.resume is not None:
        check_resume_flags(args, presets()[args.preset][1], SESSION_FIELDS)
        run_dir = RunDir.open(args.resume)
        experiment, stored, _ = load_config(run_dir)
        session = {name: getattr(args, name) for name in SESSION_FIELDS}
        session["dataset_dir"] = args.dataset_dir or stored.dataset_dir
        run = dataclasses.replace(stored, **session)
    else:
        experiment, run = split(args)
        run = resolve(experiment, run, args.preset)
        run_dir = RunDir.create(run.run_dir, config_record(experiment, run, args.preset))
    built = build(experiment)
    console.print(
        f"[bold]{experiment.task}[/bold] {experiment.model} on {experiment.backbone}, "
        f"seeds={run.num_seeds} updates={experiment.steps} "
        f"({experiment.batch_size} x {experiment.window} records) -> {run_dir.path}"
    )
    with console.status("preparing the dataset..."):
        splits = load_or_generate(experiment.data, dataset_folder(run, run_dir))
    verb = "generated" if splits.generated else "read"
    console.print(f"dataset {verb}: {splits.path}")
    result = train(built, run, run_dir, splits, console)
    report(result, console)
    return result


def report(result: TrainResult, console: Console) -> None:
    """Prints the outcome and the next commands."""
    s = result.summary
    color = "green" if result.status in (FINISHED, PAUSED) else "red"
    console.print(f"[{color}]{result.status}[/{color}]: {s['message']}")
    if s["eval"] is not None:
        e = s["eval"]
        buckets = ", ".join(f"{v:.4f}" for v in e["mse_buckets"])
        console.print(
            f"imagination MSE {e['mse_mean']:.4f} over {e['horizon']} query frames "
            f"(buckets early->late: {buckets}); reward accuracy {e['reward_accuracy']:.3f}"
        )
        console.print(f"plots: {result.run_dir / 'plots'}; numbers: summary.json")
    if result.status != FINISHED:
        console.print(f"continue: python -m experiments.world_model --resume {result.run_dir}")
    console.print(f"compare: python -m experiments.world_model_eval {result.run_dir} OTHER_RUN")


def cli(argv: list[str] | None = None) -> int:
    """Entry point of `python -m experiments.world_model` and `rlssm-wm`; the exit status."""
    args = parse(argv)
    console = Console()
    try:
        result = main(args, console)
    except (RunDirError, CheckpointError, ConfigError, DatasetError) as err:
        console.print(f"[red]error:[/red] {err}")
        return 2
    return 0 if result.status in (FINISHED, PAUSED) else 1


if __name__ == "__main__":
    sys.exit(cli())
