"""Recurrent PPO as a trainer of the shared run lifecycle (experiments.run.lifecycle).

What PPO adds: its command-line type (`TrainArgs`: `PPOConfig` and `RunConfig`), the compiled
chunk programs (`build`, cached per config within a process, so resuming, evaluating or a suite
cell with the same config does not compile again), its summary (final return, MMER, steps/s),
learning curves and report lines.
"""

import dataclasses
import functools
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, ClassVar, Union

import tyro
from rich.console import Console

import rlssm.cores as cores
from agents.common import no_split
from agents.ppo import PPOConfig, make_agent
from agents.ppo.train import Agent
from experiments.run import lifecycle, plots, scores
from experiments.run.config import NESTED, Args, RunConfig
from experiments.run.devices import Placement
from experiments.run.loop import LoopResult
from experiments.run.programs import ChunkPrograms
from experiments.run.run_dir import RunDir
from experiments.run.serialize import ConfigError

CoreChoice = Union[  # noqa: UP007 (tyro needs a runtime Union of annotated subcommands)
    tuple(Annotated[cls, tyro.conf.subcommand(name)] for name, cls in cores.CONFIGS.items())
]


@dataclasses.dataclass(frozen=True)
class PPOArgs(PPOConfig):
    """PPOConfig with the core as a `core:NAME` subcommand of the command line."""

    core: CoreChoice = dataclasses.field(default_factory=lambda: cores.GRUConfig(hidden_size=64))
    """Memory core between encoder and heads (a subcommand: core:s5, core:gru, core:none, ...)."""


@dataclasses.dataclass(frozen=True)
class TrainArgs(Args):
    """Train recurrent PPO (any memory core) on any registered environment."""

    ppo: Annotated[PPOArgs, NESTED] = dataclasses.field(default_factory=PPOArgs)
    """The algorithm."""
    run: Annotated[RunConfig, NESTED] = dataclasses.field(default_factory=RunConfig)
    """How the run is executed and recorded."""
    preset: tyro.conf.Suppress[str] = "cpu-small"
    """Name of the preset these values started from."""


def train_args(preset: str, ppo: PPOConfig, run: RunConfig | None = None) -> TrainArgs:
    """A `TrainArgs` from plain configs."""
    fields = {f.name: getattr(ppo, f.name) for f in dataclasses.fields(PPOConfig)}
    return TrainArgs(PPOArgs(**fields), run or RunConfig(), preset)


def ppo_config(args: TrainArgs | PPOConfig) -> PPOConfig:
    """The plain `PPOConfig` of parsed arguments."""
    ppo = args.ppo if isinstance(args, TrainArgs) else args
    return PPOConfig(**{f.name: getattr(ppo, f.name) for f in dataclasses.fields(PPOConfig)})


@dataclasses.dataclass
class Built:
    """The agent of one config and its compiled chunk programs (cached per config)."""

    agent: Agent
    programs: ChunkPrograms

    @property
    def init(self) -> Callable:
        """`init(keys [N]) -> state`, one seed at a time."""
        return self.programs.init


@functools.lru_cache(maxsize=4)
def _build(ppo: PPOConfig, placement: Placement | None) -> Built:
    try:
        agent = make_agent(ppo, no_split if placement is None else placement.split)
    except (TypeError, ValueError) as err:  # unknown environment or option, unusable spaces
        raise ConfigError(str(err)) from None
    return Built(agent, ChunkPrograms(agent.run, agent.init))


def build(ppo: PPOConfig, placement: Placement | None = None) -> Built:
    """The agent of `ppo` with its jitted functions (reused for an identical config); with a
    `placement`, each minibatch's environments are split over its devices.

    Raises:
        ConfigError: the environment cannot be built (checked before anything compiles).
    """
    return _build(ppo_config(ppo), placement)


@dataclasses.dataclass
class PPOSession:
    """One PPO run: the cached programs of its config, and its summary."""

    ppo: PPOConfig
    run: RunConfig
    built: Built
    placement: Placement | None = None
    label: str = "training"

    def __post_init__(self) -> None:
        self.programs = self.built.programs
        self._compiled_before = self.programs.compile_seconds
        self.init, self.compile, self.run_chunk = self.programs.on(self.placement)

    @property
    def compile_seconds(self) -> float:
        return self.programs.compile_seconds - self._compiled_before

    def finish(self, result: LoopResult, run_dir: RunDir, console: Console) -> dict:
        """Learning curves and the summary fields (final return, MMER, speed)."""
        ppo, rows = self.ppo, run_dir.read_metrics()
        plots.learning_curves(rows, run_dir.plots, f"{ppo.env_name} {ppo.core.name}")
        final, best = scores.final_return(rows), scores.mmer(rows)
        wall = rows[-1]["wall_time"] if rows else 0.0
        steps = result.update * ppo.steps_per_update
        return {
            "env_name": ppo.env_name,
            "core": ppo.core.name,
            "num_seeds": self.run.num_seeds,
            "updates": result.update,
            "num_updates": ppo.num_updates,
            "env_steps_per_seed": steps,
            "final_return_mean": scores.mean_std(final)[0],
            "final_return_per_seed": final,
            "mmer_mean": scores.mean_std(best)[0],
            "mmer_per_seed": best,
            "train_seconds": wall,
            "chunk_compile_seconds": self.compile_seconds,
            "steps_per_second": steps * self.run.num_seeds / wall if wall > 0 else None,
        }


class PPOTrainer(lifecycle.Trainer):
    """Recurrent PPO (agents.ppo) in the run lifecycle."""

    agent: ClassVar[str] = "ppo"
    command: ClassVar[str] = "python -m experiments.ppo"
    evaluate_command: ClassVar[str] = "python -m experiments.evaluate"
    batch_fields: ClassVar[tuple[str, ...]] = ("env_state", "obs", "start", "carry")
    config_field: ClassVar[str] = "ppo"
    config_type: ClassVar[type] = PPOConfig
    optimiser_fields: ClassVar[tuple[str, ...]] = ("lr", "max_grad_norm")

    def presets(self) -> dict[str, tuple[str, TrainArgs]]:
        from experiments.ppo.presets import presets

        return presets()

    def num_updates(self, config: PPOConfig) -> int:
        return config.num_updates

    def steps_per_update(self, config: PPOConfig) -> int:
        return config.steps_per_update

    def run_name(self, config: PPOConfig, preset: str) -> str:
        return f"{preset}-{config.env_name.replace('/', '-')}-{config.core.name}"

    def headline(self, config: PPOConfig, run: RunConfig) -> str:
        return (
            f"[bold]{config.env_name}[/bold] core={config.core.name} seeds={run.num_seeds} "
            f"updates={config.num_updates} ({config.num_envs} envs x {config.num_steps} steps)"
        )

    def check(self, config: PPOConfig) -> None:
        build(ppo_config(config))

    def pieces_per_device(self, config: PPOConfig) -> tuple[int, str]:
        return config.num_minibatches, " minibatches"

    def init_function(self, config: PPOConfig) -> Callable:
        return build(ppo_config(config)).init

    def open(self, config: PPOConfig, run: RunConfig, run_dir: RunDir, console) -> PPOSession:
        config, placement = ppo_config(config), self.placement(config, run)
        return PPOSession(config, run, build(config, placement), placement)

    def summary_lines(self, summary: dict, run_dir: Path) -> list[str]:
        return [
            f"final return {summary['final_return_mean']:.3f} (mean of the last 10% of updates "
            f"over {summary['num_seeds']} seed(s)), best update mean {summary['mmer_mean']:.3f} "
            f"(POPGym's MMER on POPGym tasks); files in {run_dir}"
        ]


TRAINER = PPOTrainer()
