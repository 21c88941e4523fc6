"""The world-model command line's configs: what is trained on which data (`Experiment`), how a
run is recorded (`WorldModelRunConfig`) and both as the command line (`TrainArgs`).

`Experiment` is the flat record of config.json's "experiment" (every field a flag); the dataset
(`data`), the agent's training settings (`training`), the backbone (`core_config`) and the model
(`world_model`) are read off it by field name.
"""

import dataclasses
import json
from pathlib import Path
from typing import Annotated

import tyro

import envs
import rlssm.world_models as wm
from agents.common import require
from agents.world_model import TrainConfig
from experiments.run.config import NESTED, SESSION_FIELDS, Args, RunConfig
from experiments.world_model.data import DataSpec

WORLD_MODEL_SESSION_FIELDS = (*SESSION_FIELDS, "dataset_dir")
"""Run settings that may change between sessions of one run (everything else is the run)."""
CORE_FLAGS = (
    ("hidden_size", "core_size"),
    ("num_layers", "core_layers"),
    ("state_size", "state_size"),
)
"""Backbone config fields set from flags of `Experiment`, where the backbone has them."""


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
    model: str = "s4wm"
    """World model: s4wm (parallel backbone), rssm (sequential, posterior reads h), tssm, or
    one added by rlssm.world_models.register."""
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
        require(
            self.model in wm.MODELS,
            f"model={self.model!r} is unknown; use one of {tuple(wm.MODELS)}.",
        )
        for name in ("context_length", "query_length", "train_episodes", "eval_episodes", "steps"):
            value = getattr(self, name)
            require(value >= 1, f"{name} must be >= 1, got {value}.")
        require(self.tile_size in (2, 4, 8), f"tile_size must be 2, 4 or 8, got {self.tile_size}.")
        require(
            self.sequence_length >= 0, f"sequence_length must be >= 0, got {self.sequence_length}."
        )
        _ = self.training  # the training settings validate themselves (agents.world_model)
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
        self.core_config()  # unknown backbones, options or sizes fail here, before compiling

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
        return DataSpec(**{f.name: getattr(self, f.name) for f in dataclasses.fields(DataSpec)})

    @property
    def training(self) -> TrainConfig:
        """The agent's training settings (`window` is the derived sequence length)."""
        return TrainConfig(
            **{f.name: getattr(self, f.name) for f in dataclasses.fields(TrainConfig)}
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

    def message_names(self) -> dict[str, str]:
        """The fields of the configs built from these flags, as error messages name them
        (`S5Config.hidden_size`), -> the flag's field (`core_size`); see experiments.run.flags."""
        names = {
            f"{cls.__name__}.{option}": flag
            for cls in wm.BACKBONES.values()
            for option, flag in CORE_FLAGS
        }
        own = {f.name for f in dataclasses.fields(self)}
        model = {f.name for f in dataclasses.fields(wm.WorldModelConfig)} & own
        return names | {f"{wm.WorldModelConfig.__name__}.{name}": name for name in model}

    def world_model(self) -> wm.WorldModel:
        """The model these settings describe (frames `[h, w, 3]`, the task's actions); builds
        the task, so it is called when a run starts (`WorldModelTrainer.check`), not here."""
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
    """How a run is executed and recorded (the shared run settings, plus the data cache)."""

    dataset_dir: Path | None = None
    """Folder of cached datasets (default: RUN_DIR/data; --resume keeps the stored one unless
    given); share one between runs to generate each dataset once."""


@dataclasses.dataclass(frozen=True)
class TrainArgs(Args):
    """Train a world model on a memory benchmark and evaluate its long-term imagination."""

    experiment: Annotated[Experiment, NESTED] = dataclasses.field(default_factory=Experiment)
    """What is trained on which data, and how."""
    run: Annotated[WorldModelRunConfig, NESTED] = dataclasses.field(
        default_factory=WorldModelRunConfig
    )
    """How the run is executed and recorded."""
    preset: tyro.conf.Suppress[str] = "cpu-small"
    """Name of the preset these values started from."""
