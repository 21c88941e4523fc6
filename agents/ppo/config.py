"""PPO configuration: frozen dataclasses with one docstring per field, validated on construction.

Everything that changes the compiled program lives here. What needs the environment (its name,
options and action space) is checked by `agents.ppo.environment.make_env`, also before anything
compiles.
"""

import dataclasses

import rlssm.cores as cores
from agents.common import require
from agents.common.config import config_hash
from rlssm.cores import CoreConfig
from rlssm.nn import ACTIVATIONS


@dataclasses.dataclass(frozen=True)
class NetworkConfig:
    """Actor-critic around the memory core: encoder -> core -> policy and value heads."""

    encoder_sizes: tuple[int, ...] = (64,)
    """Widths of the observation encoder MLP (before the core)."""
    head_sizes: tuple[int, ...] = (64,)
    """Widths of the hidden layers of each head (after the core)."""
    activation: str = "tanh"
    """Activation of the encoder and heads (see rlssm.nn.ACTIVATIONS)."""
    shared_trunk: bool = True
    """One encoder and core for actor and critic (True), or one each (False)."""
    squash: bool = False
    """Continuous actions: tanh-squash the Gaussian sample into the action bounds (else clip)."""
    init_log_std: float = 0.0
    """Continuous actions: initial log standard deviation (state-independent, learned)."""

    def __post_init__(self) -> None:
        require(
            self.activation in ACTIVATIONS,
            f"network.activation={self.activation!r}; use one of {sorted(ACTIVATIONS)}.",
        )
        sizes = self.encoder_sizes + self.head_sizes
        require(all(s >= 1 for s in sizes), f"network layer sizes must be >= 1, got {sizes}.")


@dataclasses.dataclass(frozen=True)
class PPOConfig:
    """Recurrent PPO (purejaxrl-style, whole-row minibatches, carry stored per rollout).

    The defaults are the command line's default preset, `cpu-small`: RepeatFirstEasy with a
    small S5 (2 layers of width 64), 32 envs x 128 steps, lr 1e-3, 1M steps per seed.
    """

    env_name: str = "RepeatFirstEasy"
    """Registered environment name (see envs.registered())."""
    env_options: dict[str, int | float | bool | str] = dataclasses.field(default_factory=dict)
    """Options of `envs.make` for the environment (checked against the accepted ones)."""
    core: CoreConfig = dataclasses.field(
        default_factory=lambda: cores.S5Config(hidden_size=64, state_size=64, num_layers=2)
    )
    """Memory core between encoder and heads ("none" for a feed-forward agent)."""
    network: NetworkConfig = NetworkConfig()
    """Encoder, heads and action distribution."""
    num_envs: int = 32
    """Parallel environments B per seed."""
    num_steps: int = 128
    """Rollout length T per update."""
    total_timesteps: int = 1_000_000
    """Environment steps per seed over the whole run."""
    update_epochs: int = 4
    """Passes over each rollout."""
    num_minibatches: int = 4
    """Minibatches per epoch; each is a set of whole environment rows [T, B / num_minibatches]."""
    lr: float = 1e-3
    """Adam learning rate (the start value when annealed)."""
    anneal_lr: bool = True
    """Anneal the learning rate linearly to 0 over the run."""
    adam_eps: float = 1e-5
    """Adam epsilon."""
    max_grad_norm: float = 0.5
    """Global gradient-norm clip."""
    gamma: float = 0.99
    """Discount."""
    gae_lambda: float = 0.95
    """GAE lambda."""
    clip_eps: float = 0.2
    """PPO ratio clip."""
    clip_value: bool = True
    """Clip the value loss around the rollout's values (same epsilon)."""
    ent_coef: float = 0.01
    """Entropy bonus coefficient."""
    vf_coef: float = 0.5
    """Value loss coefficient."""
    normalize_advantages: bool = True
    """Normalise advantages per minibatch."""
    normalize_obs: bool = False
    """Normalise observations by running mean and variance (updated during rollouts)."""
    normalize_value: bool = False
    """Learn normalised values: targets scaled by running statistics of the returns."""
    bootstrap_truncated: bool = True
    """Bootstrap through time-limit truncation from the value of the final observation."""
    previous_action_reward: bool = False
    """Append the previous action, reward and start flag to the observation."""

    def __post_init__(self) -> None:
        positive = ("num_envs", "num_steps", "total_timesteps", "update_epochs", "num_minibatches")
        for name in positive:
            require(getattr(self, name) >= 1, f"{name} must be >= 1, got {getattr(self, name)}.")
        require(
            self.num_envs % self.num_minibatches == 0,
            f"num_envs={self.num_envs} must be divisible by num_minibatches="
            f"{self.num_minibatches} (minibatches are sets of whole environment rows); "
            f"pick num_minibatches among {divisors(self.num_envs)}.",
        )
        require(
            self.total_timesteps >= self.steps_per_update,
            f"total_timesteps={self.total_timesteps} is less than one update "
            f"(num_envs x num_steps = {self.steps_per_update}); raise it.",
        )
        for name in ("gamma", "gae_lambda"):
            value = getattr(self, name)
            require(0.0 <= value <= 1.0, f"{name} must be in [0, 1], got {value}.")
        require(self.lr > 0, f"lr must be > 0, got {self.lr}.")
        require(self.clip_eps > 0, f"clip_eps must be > 0, got {self.clip_eps}.")
        require(self.max_grad_norm > 0, f"max_grad_norm must be > 0, got {self.max_grad_norm}.")
        for name in ("ent_coef", "vf_coef"):
            require(getattr(self, name) >= 0, f"{name} must be >= 0, got {getattr(self, name)}.")

    def __hash__(self) -> int:
        """Hashable despite `env_options` (a dict, as the command line gives it): a config can
        key a cache of compiled programs."""
        return config_hash(self)

    @property
    def steps_per_update(self) -> int:
        """Environment steps per update (per seed): num_envs x num_steps."""
        return self.num_envs * self.num_steps

    @property
    def num_updates(self) -> int:
        """Updates in the run (total_timesteps rounded down to whole updates)."""
        return self.total_timesteps // self.steps_per_update

    @property
    def minibatch_envs(self) -> int:
        """Environment rows per minibatch."""
        return self.num_envs // self.num_minibatches


def divisors(n: int) -> list[int]:
    """Positive divisors of `n`."""
    return [d for d in range(1, n + 1) if n % d == 0]
