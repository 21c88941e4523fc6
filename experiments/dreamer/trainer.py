"""The model-based agent as a trainer of the shared run lifecycle (experiments.run.lifecycle).

What it adds: its command-line type (`TrainArgs`: `DreamerConfig` and `DreamerRunConfig`), the
compiled chunk programs (acting, replay and updates all inside each chunk; cached per config within
a process), its summary (final return, MMER, env steps/s, world-model and actor-critic losses) and
report lines. The checkpoint is the whole `DreamerState` of every seed, the replay ring included,
so a resumed run ends bitwise equal to an uninterrupted one. With `--no-checkpoint-replay`
checkpoints leave the ring out (`DreamerTrainer.checkpointed`): a resumed run restarts with an
empty ring (zeros, as `agents.dreamer.replay.init` makes it), trains again once it holds a window,
and is no longer equal to an uninterrupted run.
"""

import dataclasses
import functools
from pathlib import Path
from typing import Annotated, ClassVar

import jax
import tyro
from rich.console import Console

from agents.common import compiler_options, no_split
from agents.dreamer import replay
from agents.dreamer.config import DreamerConfig
from agents.dreamer.diagnostics import open_loop
from agents.dreamer.train import Agent, DreamerState, make_agent
from experiments.dreamer import plots as dreamer_plots
from experiments.run import lifecycle, plots, scores
from experiments.run.config import NESTED, Args, RunConfig
from experiments.run.devices import Placement
from experiments.run.loop import LoopResult
from experiments.run.programs import ChunkPrograms
from experiments.run.run_dir import RunDir
from experiments.run.serialize import ConfigError

NOT_BITWISE = (
    "checkpoints leave the replay out (--no-checkpoint-replay): a resumed run starts with an "
    "empty replay, so it is not bitwise equal to an uninterrupted run."
)
TRAINING_KEYS = (
    "wm_reward_mae", "wm_recon", "wm_kl", "actor_loss", "critic_loss", "imagined_return",
)  # fmt: skip
"""Metrics drawn in plots/training.png. The world model's reward error comes first: on a memory
task it sits at a plateau until the backbone keeps the cue, and the actor learns only after."""


@dataclasses.dataclass(frozen=True)
class DreamerRunConfig(RunConfig):
    """How a run is executed and recorded (the shared run settings, plus what checkpoints hold)."""

    checkpoint_replay: bool = True
    """Keep the replay ring in checkpoints (a resume is bitwise equal to an uninterrupted run);
    --no-checkpoint-replay leaves it out (far smaller checkpoints): a resumed run then starts
    with an empty replay and waits for a window before training again. Fixed for the run."""


@dataclasses.dataclass(frozen=True)
class TrainArgs(Args):
    """Train the model-based agent (actor-critic in a world model's imagination)."""

    dreamer: Annotated[DreamerConfig, NESTED] = dataclasses.field(default_factory=DreamerConfig)
    """The algorithm."""
    run: Annotated[DreamerRunConfig, NESTED] = dataclasses.field(default_factory=DreamerRunConfig)
    """How the run is executed and recorded."""
    preset: tyro.conf.Suppress[str] = "cpu-small"
    """Name of the preset these values started from."""


@dataclasses.dataclass
class Built:
    """The agent of one config and its compiled chunk programs (cached per config)."""

    agent: Agent
    programs: ChunkPrograms


@functools.lru_cache(maxsize=4)
def build(config: DreamerConfig, placement: Placement | None = None) -> Built:
    """The agent of `config` with its programs (reused for an identical config); with a
    `placement`, each update's replayed rows and imagination starts are split over its devices.

    Raises:
        ConfigError: the environment or world model cannot be built (before compiling).
    """
    try:
        agent = make_agent(config, no_split if placement is None else placement.split)
    except (TypeError, ValueError) as err:
        raise ConfigError(str(err)) from None
    return Built(agent, ChunkPrograms(agent.run, agent.init, compiler_options=compiler_options()))


def label(config: DreamerConfig) -> str:
    """`task model (core)`, for plots and the progress bar."""
    return f"{config.env_name} {config.model} ({config.core})"


@dataclasses.dataclass
class DreamerSession:
    """One run: the cached programs of its config, and its summary."""

    config: DreamerConfig
    run: DreamerRunConfig
    built: Built
    placement: Placement | None = None

    def __post_init__(self) -> None:
        self.label = label(self.config)
        programs = self.built.programs
        self._compiled_before = programs.compile_seconds
        self.init, self.compile, self.run_chunk = programs.on(self.placement)

    @property
    def compile_seconds(self) -> float:
        return self.built.programs.compile_seconds - self._compiled_before

    def finish(self, result: LoopResult, run_dir: RunDir, console: Console) -> dict:
        """Learning curves and the summary fields (final return, MMER, speed, losses)."""
        config, rows = self.config, run_dir.read_metrics()
        plots.learning_curves(rows, run_dir.plots, self.label, TRAINING_KEYS)
        self.imagination_plot(result.state, run_dir)
        final, best = scores.final_return(rows), scores.mmer(rows)
        wall = rows[-1]["wall_time"] if rows else 0.0
        steps = result.update * config.steps_per_iteration
        return {
            "env_name": config.env_name,
            "model": config.model,
            "core": config.core,
            "num_seeds": self.run.num_seeds,
            "updates": result.update,
            "num_updates": config.num_iterations,
            "env_steps_per_seed": steps,
            "updates_per_iteration": config.updates_per_iteration,
            "final_return_mean": scores.mean_std(final)[0],
            "final_return_per_seed": final,
            "mmer_mean": scores.mean_std(best)[0],
            "mmer_per_seed": best,
            "train_seconds": wall,
            "chunk_compile_seconds": self.compile_seconds,
            "steps_per_second": steps * self.run.num_seeds / wall if wall > 0 else None,
            "replay_in_checkpoint": self.run.checkpoint_replay,
        }

    def imagination_plot(self, state, run_dir: RunDir) -> Path | None:
        """plots/imagination.png on image tasks: seed 0's replayed windows, real frames above
        the world model's open-loop guesses (see experiments/dreamer/plots.py)."""
        spec = self.built.agent.spec
        shape = dreamer_plots.frame_shape(spec.env, spec.params)
        seed0 = jax.tree.map(lambda x: x[0], state)
        if shape is None or not bool(replay.can_sample(seed0.replay, self.config.replay.window)):
            return None
        shown = min(3, self.config.batch_size)
        draw = jax.jit(open_loop, static_argnums=(0, 1, 4))
        result = draw(self.config, self.built.agent.model, seed0, jax.random.key(0), shown)
        title = f"{self.label}, seed 0: replayed frames above open-loop imagined ones"
        return dreamer_plots.imagination(result, shape, run_dir.plots / "imagination.png", title)


class DreamerTrainer(lifecycle.Trainer):
    """The model-based agent (agents.dreamer) in the run lifecycle."""

    agent: ClassVar[str] = "dreamer"
    command: ClassVar[str] = "python -m experiments.dreamer"
    evaluate_command: ClassVar[str] = "python -m experiments.evaluate"
    batch_fields: ClassVar[tuple[str, ...]] = ("acting", "replay")
    config_field: ClassVar[str] = "dreamer"
    config_type: ClassVar[type] = DreamerConfig
    run_type: ClassVar[type] = DreamerRunConfig
    optimiser_fields: ClassVar[tuple[str, ...]] = ("model_lr", "actor_lr", "critic_lr", "grad_clip")

    def presets(self) -> dict[str, tuple[str, TrainArgs]]:
        from experiments.dreamer.presets import presets

        return presets()

    def num_updates(self, config: DreamerConfig) -> int:
        return config.num_iterations

    def steps_per_update(self, config: DreamerConfig) -> int:
        return config.steps_per_iteration

    def run_name(self, config: DreamerConfig, preset: str) -> str:
        env = config.env_name.replace("/", "-")
        return f"dreamer-{preset}-{env}-{config.model}-{config.core}"

    def headline(self, config: DreamerConfig, run: RunConfig) -> str:
        return (
            f"[bold]{config.env_name}[/bold] {config.model} on {config.core}, "
            f"seeds={run.num_seeds} iterations={config.num_iterations} ({config.num_envs} envs x "
            f"{config.act_steps} steps, {config.updates_per_iteration} updates of "
            f"{config.batch_size} x {config.replay.length} replayed steps)"
        )

    def check(self, config: DreamerConfig) -> None:
        build(config)

    def init_function(self, config: DreamerConfig):
        return build(config).programs.init

    def open(self, config: DreamerConfig, run: DreamerRunConfig, run_dir: RunDir, console):
        if not run.checkpoint_replay:
            console.print(f"[yellow]note:[/yellow] {NOT_BITWISE}")
        placement = self.placement(config, run)
        return DreamerSession(config, run, build(config, placement), placement)

    def checkpointed(self, run: DreamerRunConfig, state: DreamerState):
        if run.checkpoint_replay:
            return state, None
        return state._replace(replay=None), state.replay

    def joined(self, run: DreamerRunConfig, saved: DreamerState, rest) -> DreamerState:
        return saved if rest is None else saved._replace(replay=rest)

    def summary_lines(self, summary: dict, run_dir: Path) -> list[str]:
        lines = [
            f"final return {summary['final_return_mean']:.3f} (mean of the last 10% of "
            f"iterations over {summary['num_seeds']} seed(s)), best iteration mean "
            f"{summary['mmer_mean']:.3f}; files in {run_dir}"
        ]
        return lines if summary["replay_in_checkpoint"] else [*lines, NOT_BITWISE]


TRAINER = DreamerTrainer()
