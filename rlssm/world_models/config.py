"""Configuration of the world models: one frozen dataclass, validated before anything compiles.

Axis names: `T` time, `B` batch, `H` backbone width (the core's `hidden_size`), `S` stochastic
latent width (`G * K` for discrete latents), `A` action features.
"""

import dataclasses
import math
from typing import Literal, get_args

from rlssm.cores import CoreConfig, S5Config
from rlssm.nn import ACTIVATIONS

LATENT_KINDS = ("discrete", "gaussian")
REWARD_LOSSES = ("twohot", "symlog_mse")
RewardHead = Literal["state", "action"]
"""How the reward head reads a state (see `WorldModelConfig.reward_head`)."""
REWARD_HEADS: tuple[str, ...] = get_args(RewardHead)
NAME = "WorldModelConfig"
DEFAULT_CORE = S5Config(hidden_size=128, state_size=64, num_layers=2)


def require(condition: bool, message: str) -> None:
    """Raises `ValueError(message)` unless `condition` (config validation)."""
    if not condition:
        raise ValueError(message)


@dataclasses.dataclass(frozen=True)
class WorldModelConfig:
    """Every option of a latent world model (S4WM, RSSM, TSSM share it)."""

    obs_shape: tuple[int, ...] = (16, 16, 1)
    """One observation: `(D,)` for vectors (MLP encoder) or `(H, W, C)` for images (CNN)."""
    action_dim: int = 4
    """A: number of discrete actions (integer actions are one-hot encoded) or action features."""
    core: CoreConfig = DEFAULT_CORE
    """The backbone (any memory core config); its hidden_size is the deterministic width H."""
    latent: Literal["discrete", "gaussian"] = "discrete"
    """Stochastic latent: G groups of K-way one-hot categoricals, or a diagonal Gaussian."""
    latent_groups: int = 16
    """G: number of categorical variables (discrete latents)."""
    latent_classes: int = 16
    """K: classes per categorical variable (discrete latents)."""
    latent_size: int = 32
    """Width S of a Gaussian latent."""
    unimix: float = 0.01
    """Share of the uniform distribution mixed into every categorical (DreamerV3: 1%)."""
    min_std: float = 0.1
    """Smallest standard deviation of a Gaussian latent."""
    hidden_size: int = 128
    """Width of every MLP (encoder, heads, backbone input, prior and posterior)."""
    mlp_layers: int = 1
    """Hidden layers of every MLP."""
    activation: str = "silu"
    """Activation of the MLPs and CNNs (a name of rlssm.nn.ACTIVATIONS)."""
    cnn_depth: int = 16
    """Channels of the first convolution; each further stage doubles them."""
    cnn_min_resolution: int = 4
    """The image encoder halves the resolution until it reaches this size."""
    symlog_obs: bool = True
    """Encode and reconstruct vector observations in symlog space (images are never transformed)."""
    reward_loss: Literal["twohot", "symlog_mse"] = "twohot"
    """Reward head: symlog two-hot classification over reward_bins, or symlog mean-squared error."""
    reward_head: RewardHead = "state"
    """state: the reward head reads the state features alone (DreamerV3). action: it gives one
    reward distribution per action feature and the action's features weigh them, so with
    one-hot (discrete) actions the taken action's own; the reward of an answer to a cue held in
    memory is then linear in the remembered cue for each answer, where a state head must learn
    the product of cue and action (a plateau of thousands of updates: docs/MODEL_BASED.md)."""
    reward_bins: int = 255
    """Number of two-hot bins, evenly spaced in symlog space over [-20, 20]."""
    kl_free: float = 1.0
    """Free nats: each KL term is clipped from below at this value per time step."""
    kl_dyn_scale: float = 0.5
    """Weight of KL(sg(posterior) || prior), which trains the prior (dynamics)."""
    kl_rep_scale: float = 0.1
    """Weight of KL(posterior || sg(prior)), which trains the posterior (representation)."""
    recon_scale: float = 1.0
    """Weight of the observation reconstruction term."""
    reward_scale: float = 1.0
    """Weight of the reward term."""
    continue_scale: float = 1.0
    """Weight of the continue (not terminated) term."""

    def __post_init__(self) -> None:
        # tyro and JSON give lists; a tuple keeps the config hashable.
        object.__setattr__(self, "obs_shape", tuple(self.obs_shape))
        self._check_observation()
        require(
            isinstance(self.core, CoreConfig),
            f"{NAME}.core must be a memory-core config (rlssm.cores.*Config), got {self.core!r}.",
        )
        self._one_of("latent", LATENT_KINDS)
        self._one_of("activation", tuple(sorted(ACTIVATIONS)))
        self._one_of("reward_loss", REWARD_LOSSES)
        self._one_of("reward_head", REWARD_HEADS)
        self._at_least(1, "action_dim", "latent_groups", "latent_size", "hidden_size")
        self._at_least(2, "latent_classes", "reward_bins")
        self._at_least(0, "mlp_layers", "kl_free", "kl_dyn_scale", "kl_rep_scale")
        self._at_least(0, "recon_scale", "reward_scale", "continue_scale")
        require(0.0 <= self.unimix < 1.0, f"{NAME}.unimix must be in [0, 1), got {self.unimix}.")
        require(self.min_std > 0.0, f"{NAME}.min_std must be > 0, got {self.min_std}.")

    def _one_of(self, field: str, known: tuple[str, ...]) -> None:
        value = getattr(self, field)
        require(value in known, f"{NAME}.{field}={value!r}; use one of {known}.")

    def _at_least(self, low: float, *fields: str) -> None:
        for field in fields:
            value = getattr(self, field)
            require(value >= low, f"{NAME}.{field} must be >= {low}, got {value}.")

    def _check_observation(self) -> None:
        shape = self.obs_shape
        require(
            len(shape) in (1, 3) and all(isinstance(n, int) and n >= 1 for n in shape),
            f"{NAME}.obs_shape must be (D,) or (H, W, C) with positive ints, got {shape}.",
        )
        if len(shape) == 1:
            return
        self._at_least(1, "cnn_depth", "cnn_min_resolution")
        height, width, _ = shape
        low = self.cnn_min_resolution
        stages = math.log2(height / low) if height % low == 0 else 0.5
        require(
            height == width and stages >= 1 and stages.is_integer(),
            f"{NAME}.obs_shape={shape}: images must be square, with a side of "
            f"cnn_min_resolution={low} times a power of two (at least 2), e.g. 16 or 32.",
        )

    @property
    def is_image(self) -> bool:
        """Whether observations are images `[..., H, W, C]`."""
        return len(self.obs_shape) == 3

    @property
    def cnn_stages(self) -> int:
        """Number of stride-2 stages of the image encoder and decoder."""
        return round(math.log2(self.obs_shape[0] / self.cnn_min_resolution))

    @property
    def deter_size(self) -> int:
        """H: width of the backbone output (the deterministic state)."""
        return self.core.hidden_size

    @property
    def stoch_size(self) -> int:
        """S: width of a stochastic latent sample."""
        if self.latent == "discrete":
            return self.latent_groups * self.latent_classes
        return self.latent_size

    @property
    def feature_size(self) -> int:
        """Width of the model state features `concat(stoch, deter)` seen by heads and agents."""
        return self.stoch_size + self.deter_size
