"""World-model training as a trainer of the shared run lifecycle (experiments.run.lifecycle).

What the world models add: the dataset (played once by the task's scripted policy, cached with its
checksum), one jitted update of all seeds per host step (agents.world_model), the evaluation of
long-term imagination when training finishes, its plots and its summary fields.
"""

import dataclasses
import functools
import time
from collections.abc import Callable
from pathlib import Path
from typing import ClassVar

import jax
import jax.numpy as jnp
import numpy as np
from rich.console import Console

import rlssm.world_models as wm
from agents.common import map_seeds
from agents.common.compile import jit
from agents.world_model import TRAINING_FIELDS, LoopState, evaluate_seeds, make_agent, update_seeds
from experiments.run import lifecycle
from experiments.run.devices import Placement, check_divisible
from experiments.run.loop import FINISHED, LoopResult
from experiments.run.programs import place
from experiments.run.run_dir import RunDir
from experiments.run.serialize import ConfigError
from experiments.world_model import plots
from experiments.world_model.config import (
    WORLD_MODEL_SESSION_FIELDS,
    Experiment,
    TrainArgs,
    WorldModelRunConfig,
)
from experiments.world_model.data import DatasetError, Splits, load_or_generate

INPUT_ERRORS = (DatasetError,)
"""Bad input of this trainer beyond the lifecycle's (a cached dataset of other settings)."""


@dataclasses.dataclass
class Built:
    """A model with its jitted programs over `N` seeds (cached per experiment in a process).

    `init` maps over seeds one at a time (agents.common.map_seeds: a batched QR inside a jitted
    program can deadlock XLA's CPU thread pool); updates and evaluation vmap.
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
    placement: Placement | None = None
    """The devices an update's sequences are split over (None: one device)."""

    def compile(self, state: LoopState, data: dict) -> None:
        """Compiles the update program for `state`'s number of seeds and `data`'s shapes."""
        signature = (num_seeds(state), data["obs"].shape)
        if signature not in self.steps:
            t0 = time.perf_counter()
            # Replicated with a placement, as the next update takes it.
            out = {} if self.placement is None else {"out_shardings": self.placement.replicated}
            step = jit(self.step, **out)
            compiled = step.lower(state, data).compile()
            self.steps[signature] = compiled
            self.compile_seconds += time.perf_counter() - t0
            self.memory_mb = xla_memory_mb(compiled)

    def run_chunk(self, state: LoopState, data: dict, size: int) -> tuple[LoopState, dict]:
        """Runs `size` updates of every seed, one call each; metrics `[N, size]`.

        One call per update, not a scan over updates: on the CPU, XLA ran the model's
        convolutions several times slower inside a `lax.scan` over updates (see
        agents.world_model.update_seeds).
        """
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
def build(experiment: Experiment, placement: Placement | None = None) -> Built:
    """The model of `experiment` with its jitted programs (reused for an identical experiment);
    with a `placement`, each update's sequences are split over its devices."""
    place_batch = None if placement is None else placement.constrain
    agent = make_agent(experiment.world_model(), experiment.training, place_batch)
    init = jax.jit(map_seeds(agent.init))
    evaluate = jax.jit(evaluate_seeds(agent))
    built = Built(experiment, agent.model, init, update_seeds(agent), evaluate)
    return dataclasses.replace(built, placement=placement)


def label(experiment: Experiment) -> str:
    """`model (backbone) task`, for plots and the progress bar."""
    return f"{experiment.model} ({experiment.backbone}) {experiment.task}"


@dataclasses.dataclass
class WorldModelSession:
    """One world-model run: its programs, its dataset, its evaluation and summary."""

    run: WorldModelRunConfig
    built: Built
    splits: Splits
    placement: Placement | None = None

    def __post_init__(self) -> None:
        self.experiment = self.built.experiment
        self.label = label(self.experiment)
        data = {name: self.splits.train[name] for name in TRAINING_FIELDS}
        where = None if self.placement is None else self.placement.replicated
        self.data = jax.device_put(data, where)

    @property
    def compile_seconds(self) -> float:
        return self.built.compile_seconds

    def init(self, keys: jax.Array) -> LoopState:
        return self.built.init(keys)

    def compile(self, state: LoopState, sizes: list[int]) -> None:
        self.built.compile(place(state, self.placement), self.data)

    def run_chunk(self, state: LoopState, size: int) -> tuple[LoopState, dict]:
        return self.built.run_chunk(place(state, self.placement), self.data, size)

    def finish(self, result: LoopResult, run_dir: RunDir, console: Console) -> dict:
        """Loss curves; when training finished, the imagination evaluation and its plots."""
        experiment, rows = self.experiment, run_dir.read_metrics()
        plots.training_curves(rows, run_dir.plots / "training.png", self.label)
        evaluation = None
        if result.status == FINISHED:
            with console.status("evaluating long-term imagination..."):
                evaluation = self.evaluate_and_plot(result.state, run_dir)
        wall = rows[-1]["wall_time"] if rows else 0.0
        return {
            "task": experiment.task,
            "model": experiment.model,
            "core": experiment.backbone,
            "num_seeds": self.run.num_seeds,
            "updates": result.update,
            "steps": experiment.steps,
            "records_per_update": experiment.batch_size * experiment.window,
            "train_episodes": experiment.train_episodes,
            "train_seconds": wall,
            "updates_per_second": result.update / wall if wall > 0 else None,
            "compile_seconds_this_session": self.built.compile_seconds,
            "xla_memory_mb": self.built.memory_mb,
            "final_training": final_training(rows),
            "dataset": {"file": str(self.splits.path), **experiment.data.metadata},
            "eval": evaluation_record(evaluation, self.splits.reward_values, experiment)
            if evaluation is not None
            else None,
        }

    def evaluate_and_plot(self, state: LoopState, run_dir: RunDir):
        """Evaluates every seed on the held-out episodes; writes the frame strip and MSE plots."""
        experiment, splits = self.experiment, self.splits
        key = jax.random.key(self.run.seed + 1, impl="rbg")
        episodes = jax.device_put({name: splits.eval[name] for name in TRAINING_FIELDS})
        params = state.train_state.params
        result = jax.device_get(self.built.evaluate(params, episodes, key, splits.reward_values))
        c, shown = experiment.context_length, experiment.shown_episodes
        frames = splits.eval["obs"][:shown].astype(np.float32) / 255.0
        plots.frame_strip(
            np.swapaxes(frames[:, c:], 0, 1),
            np.asarray(result.imagined_obs[0]),
            frames[:, c - 1],
            c,
            run_dir.plots / "frames.png",
            title=f"{self.label}, seed 0: ground truth above generated query frames",
            first_context=frames[:, 0],
        )
        plots.mse_vs_horizon(
            {self.label: np.asarray(result.metrics.mse)},
            run_dir.plots / "mse_horizon.png",
            f"{experiment.task}: imagination error over the query",
            plots.baseline_mse(splits.eval["obs"], c, experiment.horizon),
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


def dataset_folder(run: WorldModelRunConfig, run_dir: RunDir) -> Path:
    """Where the dataset is cached."""
    return run.dataset_dir if run.dataset_dir is not None else run_dir.path / "data"


class WorldModelTrainer(lifecycle.Trainer):
    """World-model training (agents.world_model) on a memory benchmark's dataset."""

    agent: ClassVar[str] = "world_model"
    command: ClassVar[str] = "python -m experiments.world_model"
    config_field: ClassVar[str] = "experiment"
    config_type: ClassVar[type] = Experiment
    run_type: ClassVar[type] = WorldModelRunConfig
    session_fields: ClassVar[tuple[str, ...]] = WORLD_MODEL_SESSION_FIELDS
    key_impl: ClassVar[str | None] = "rbg"  # threefry draws compile slowly on the CPU
    speed_column: ClassVar[str] = "updates_per_second"
    budget_field: ClassVar[str] = "steps"
    optimiser_fields: ClassVar[tuple[str, ...]] = ("lr", "grad_clip")

    def presets(self) -> dict[str, tuple[str, TrainArgs]]:
        from experiments.world_model.presets import presets

        return presets()

    def num_updates(self, config: Experiment) -> int:
        return config.steps

    def run_name(self, config: Experiment, preset: str) -> str:
        task = config.task.replace("/", "-")
        return f"wm-{preset}-{task}-{config.model}-{config.backbone}"

    def headline(self, config: Experiment, run: WorldModelRunConfig) -> str:
        return (
            f"[bold]{config.task}[/bold] {config.model} on {config.backbone}, "
            f"seeds={run.num_seeds} updates={config.steps} "
            f"({config.batch_size} x {config.window} records)"
        )

    def placement(self, config: Experiment, run: WorldModelRunConfig) -> Placement | None:
        """`--devices` split each update's `--batch-size` sequences (the state is replicated)."""
        if run.devices == 1:
            return None
        check_divisible(config.batch_size, run.devices, flag="--batch-size")
        return Placement.of(run.devices, config.batch_size, ())

    def check(self, config: Experiment) -> None:
        try:
            build(config)
        except (TypeError, ValueError) as err:
            raise ConfigError(str(err)) from None

    def resumed(self, stored: WorldModelRunConfig, given: WorldModelRunConfig):
        run = super().resumed(stored, given)
        return dataclasses.replace(run, dataset_dir=given.dataset_dir or stored.dataset_dir)

    def init_function(self, config: Experiment) -> Callable:
        return build(config).init

    def open(self, config: Experiment, run, run_dir: RunDir, console) -> WorldModelSession:
        with console.status("preparing the dataset..."):
            splits = load_or_generate(config.data, dataset_folder(run, run_dir))
        verb = "generated" if splits.generated else "read"
        console.print(f"dataset {verb}: {splits.path}")
        placement = self.placement(config, run)
        return WorldModelSession(run, build(config, placement), splits, placement)

    def summary_lines(self, summary: dict, run_dir: Path) -> list[str]:
        e = summary["eval"]
        if e is None:
            return []
        buckets = ", ".join(f"{v:.4f}" for v in e["mse_buckets"])
        return [
            f"imagination MSE {e['mse_mean']:.4f} over {e['horizon']} query frames "
            f"(buckets early->late: {buckets}); reward accuracy {e['reward_accuracy']:.3f}",
            f"plots: {run_dir / 'plots'}; numbers: summary.json",
        ]

    def next_steps(self, summary: dict, run_dir: Path) -> list[str]:
        if summary["eval"] is None:
            return []
        return [f"compare: python -m experiments.world_model_eval {run_dir} OTHER_RUN"]


TRAINER = WorldModelTrainer()
