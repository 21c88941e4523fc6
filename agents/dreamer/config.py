"""The model-based agent's configuration: a frozen dataclass, one docstring per field, validated
on construction (what needs the environment is checked by `make_agent`, also before compiling).

Budget arithmetic (per seed): an iteration acts `act_steps` steps in each of `num_envs`
environments, then runs `updates_per_iteration` updates, each training the world model on
`batch_size` replayed windows of `replay.length` steps and the actor-critic on imagined
trajectories of `horizon` steps started from every posterior state of those windows. The train
ratio is DreamerV3's: replayed steps trained on per environment step.
"""

import dataclasses
from typing import Literal

import rlssm.world_models as wm
from agents.common import require
from agents.common.config import config_hash
from agents.dreamer.actor import GRADIENTS, START_ROWS
from agents.dreamer.features import FEATURES
from agents.dreamer.replay import ReplayConfig
from rlssm.world_models.config import REWARD_HEADS, RewardHead

KNOWN = {
    "model": wm.MODELS,  # the registries themselves: a model or core registered later counts
    "core": wm.BACKBONES,
    "features": FEATURES,
    "actor_gradient": GRADIENTS,
    "reward_head": REWARD_HEADS,
    "start_gradient_rows": START_ROWS,
}
"""The named choices, with their known values (live registries for models and cores)."""
POSITIVE = {
    "train_ratio": "DreamerV3 uses 32 to 1024",
    "reward_scale": "use 1 to learn the rewards as they are",
    "recon_scale": "use 1 for DreamerV3's weight, about 10 for observations of a few numbers",
    "reward_loss_scale": "use 1 for DreamerV3's weight",
    "model_lr": "DreamerV3 uses 1e-4",
    "actor_lr": "DreamerV3 uses 3e-5",
    "critic_lr": "DreamerV3 uses 3e-5",
    "grad_clip": "the default is 100",
    "target_temperature": "use the default, 0.03",
}
"""The fields that must be > 0, with the fix each refusal names."""
NON_NEGATIVE = {
    "first_row_weight": "use 1 for DreamerV3's actor",
    "actor_replay_scale": "use 0 for DreamerV3's actor (imagination only)",
}
"""The fields that must be >= 0, with the fix each refusal names."""


@dataclasses.dataclass(frozen=True)
class DreamerConfig:
    """Actor-critic in the imagination of any world model of `rlssm.world_models`."""

    env_name: str = "RepeatPreviousEasy"
    """Registered environment name (see envs.registered())."""
    env_options: dict[str, int | float | bool | str] = dataclasses.field(default_factory=dict)
    """Options of `envs.make` for the environment."""
    num_envs: int = 8
    """Parallel environments B per seed."""
    total_timesteps: int = 100_000
    """Environment steps per seed over the whole run (rounded down to whole iterations)."""
    act_steps: int = 16
    """Environment steps per environment between two training phases."""
    train_ratio: float = 32.0
    """Replayed steps trained on per environment step (DreamerV3's train ratio)."""
    model: str = "s4wm"
    """World model: s4wm (parallel backbone; with s5 this is R2I's design), rssm, tssm, or one
    added by rlssm.world_models.register."""
    core: str = "s5"
    """Backbone: a core name of rlssm.world_models.BACKBONES (s5, lru, gru, none, ...)."""
    core_size: int = 64
    """Width H of the backbone."""
    core_layers: int = 1
    """Layers of the backbone."""
    state_size: int = 32
    """State size P of the SSM backbones that have one."""
    hidden_size: int = 64
    """Width of every MLP of the world model, the actor and the critic."""
    latent_groups: int = 8
    """G: categorical latent variables of the world model."""
    latent_classes: int = 8
    """K: classes per latent variable."""
    features: Literal["output", "full"] = "output"
    """What the actor and critic read: output (DreamerV3: latent and backbone output) or full
    (R2I's full-state policy: also every backbone layer's recurrent state)."""
    first_flag: bool = False
    """The actor and critic also read a 0/1 input, 1 on an episode's first step (acting after a
    reset, an imagination start that opens an episode; imagined steps 0). There the memory holds
    nothing yet and the observation is only in the latent; the flag lets the heads treat that
    step apart (RepeatFirst's first answer)."""
    first_head: bool = False
    """With `first_flag`: the actor gets a second network, read on an episode's first step
    alone (agents.dreamer.actor.FirstStepActor), so that step's answer is learnt apart from the
    others' by parameters of its own."""
    first_head_lr: float | None = None
    """With `first_head`: the learning rate of the first step's network (None: `actor_lr`).
    Only the first rows train it (about 10 of an update's 512 starts on POPGym's card tasks),
    so DreamerV3's actor rate moves it slowly."""
    head_layers: int = 2
    """Hidden layers of the actor and of the critic."""
    value_bins: int = 255
    """Two-hot bins of the critic (symlog space, as the reward head)."""
    replay: ReplayConfig = dataclasses.field(
        default_factory=lambda: ReplayConfig(capacity=4096, length=32, context="stored")
    )
    """Replay ring and how its windows start (stored carry or episode start)."""
    batch_size: int = 16
    """Replayed windows per update."""
    horizon: int = 15
    """Imagination steps H from every posterior state."""
    reward_scale: float = 1.0
    """Factor on the environment's rewards as the world model and the actor-critic learn them
    (reported returns stay in the environment's units). POPGym's rewards are about 1/episode
    length per step, so small next to the reward head's bins and the return normaliser's floor
    of 1; a scale near the episode length brings them to about 1."""
    recon_scale: float = 1.0
    """Weight of the world model's reconstruction term. With observations of a few numbers
    (POPGym's one-hot cards) the term is small next to the KL, whose free nats (1) are less
    than a card's suit needs (log 4), so the latents keep the observation only in part; a
    weight near 10 makes them keep it whole (docs/BENCHMARKS.md, reward memory)."""
    reward_loss_scale: float = 1.0
    """Weight of the world model's reward term (DreamerV3's: 1). On a task whose reward needs a
    memory (the answer to a cue many steps back) the reward error sits at a plateau until the
    backbone keeps the cue; a larger weight gives the shared backbone more of the reward's
    gradient (x100 solved MemoryChain at length 30 on every seed, where x1 left one at chance:
    docs/MODEL_BASED.md)."""
    reward_head: RewardHead = "state"
    """The world model's reward head (`WorldModelConfig.reward_head`): state (DreamerV3's) or
    action, one reward distribution per action, the taken one's read (discrete actions only).
    Where the reward is right or wrong by an answer to a cue in memory (MemoryChain, POPGym's
    card tasks) an action head learns it as a readout of the cue per answer, which a state head
    must learn as a product of cue and action, after a plateau (docs/MODEL_BASED.md)."""
    gamma: float = 0.985
    """Discount of the imagined returns."""
    lambda_: float = 0.95
    """TD(lambda) mixing of the imagined returns."""
    model_lr: float = 1e-3
    """Adam learning rate of the world model."""
    actor_lr: float = 3e-4
    """Adam learning rate of the actor."""
    critic_lr: float = 3e-4
    """Adam learning rate of the critic."""
    grad_clip: float = 100.0
    """Global gradient-norm clip of each of the three optimisers."""
    entropy_coef: float = 3e-4
    """Entropy bonus eta of the actor (on advantages normalised to about 1)."""
    actor_unimix: float = 0.01
    """Weight of the uniform distribution mixed into the actor's categorical (DreamerV3's 1%;
    discrete actions only). It bounds what a sampling policy can score: a sure answer among `A`
    actions is still wrong with probability `actor_unimix x (A - 1) / A` (0.75% of the steps
    with 4 actions, so at most 0.985 on POPGym's +-1/length card tasks); lower it where that
    ceiling matters, keep it above 0 to keep the log-prob's gradient bounded."""
    first_explore: float = 0.0
    """Probability that acting swaps an episode's first action for a uniform one (discrete
    actions only; exploration, not the actor: training and evaluation read the actor as it is).
    Where the actor is sure of its first answer the replay holds few others, and the world
    model's values for them go unchecked; this keeps some in it at a cost of at most
    `first_explore x (A - 1) / A` wrong first answers. 0: DreamerV3's acting."""
    action_relabel: float = 0.0
    """Share of the replayed windows whose actions the world model's backbone reads (in its
    loss, and in the filter that gives imagination its start states) through a random
    permutation of the action ids, one per window (discrete actions only); the reward head
    still reads the taken actions. Where the actor is sure, its answers and the cues they
    answer agree on every replayed episode, so the backbone may remember an answer where it
    should remember the cue and credit repeating a wrong one (docs/MODEL_BASED.md); relabelled
    windows keep the answers apart from the cues without acting them. A permutation, not
    per-step noise: a window's other answers would still name the cue by a majority. It
    hides the effect of the actions in those windows, so it suits tasks whose observations
    do not depend on them (POPGym's card tasks). 0: DreamerV3's world model."""
    actor_gradient: Literal["reinforce", "backprop", "expected", "target"] = "reinforce"
    """REINFORCE (any action space), dynamics backpropagation (continuous actions only),
    expected (REINFORCE with the expected policy gradient over every action at the start
    states, each action imagined one step) or target (REINFORCE, and at the start states the
    cross-entropy to the softmax of those actions' advantages over `target_temperature`);
    the last two for discrete actions only (see agents.dreamer.actor)."""
    start_gradient_rows: Literal["all", "first"] = "all"
    """Where `actor_gradient` 'expected' or 'target' replaces REINFORCE's term: at every
    imagination start, or only at the starts that open an episode (REINFORCE elsewhere)."""
    first_branches: int = 0
    """Up to this many of an update's starts that open an episode imagine every first action's
    trajectory (that action, then the actor; discrete actions, 'expected' and 'target' only),
    and the critic trains on their states as on the others'. The start gradient values a first
    action by its reward and the critic's value of the state after it; once the actor is sure of
    one answer the critic never trains on the states after the others, and its guess there can
    outweigh the answer's own reward (docs/MODEL_BASED.md). 0: off."""
    target_temperature: float = 0.03
    """tau of `actor_gradient='target'`, in advantage units (returns over the return scale):
    an action worth tau more gets e times the target probability."""
    first_row_weight: float = 1.0
    """Weight in the actor's loss of the imagination starts that open an episode (the replayed
    first rows), relative to every other imagined state's. 1: DreamerV3's (each state alike,
    so a first row is about 1 in 780 of the actor's terms on POPGym's card tasks: one start
    in 52, the first of 15 states); 15 gives such a row the weight of its whole trajectory."""
    actor_replay_scale: float = 0.0
    """Weight of a REINFORCE term on the replayed rows themselves, added to the actor's loss on
    imagination: the actions taken, TD(lambda) returns of the real rewards bootstrapped by the
    critic, advantages on the imagination's return scale (agents.dreamer.train.replayed_terms).
    0: DreamerV3's actor, imagination only. A row that imagination reaches rarely counts once
    per replayed row here: an episode's first row is one imagined state in about 780 on
    POPGym's card tasks (one start in 52, the first of 15 states), one row in 52 here."""
    slow_critic_decay: float = 0.98
    """EMA decay of the slow critic that regularises the critic."""
    slow_critic_reg: float = 1.0
    """Weight of the critic's regulariser towards the slow critic."""

    def __post_init__(self) -> None:
        positive = ("num_envs", "total_timesteps", "act_steps", "batch_size", "horizon")
        for name in (*positive, "core_size", "core_layers", "hidden_size", "value_bins"):
            value = getattr(self, name)
            require(value >= 1, f"{name} must be >= 1, got {value}; raise it.")
        require(
            self.total_timesteps >= self.steps_per_iteration,
            f"total_timesteps={self.total_timesteps} is less than one iteration (num_envs x "
            f"act_steps = {self.steps_per_iteration}); raise it.",
        )
        for name, known in KNOWN.items():
            value = getattr(self, name)
            require(value in known, f"{name}={value!r} is unknown; use one of {tuple(known)}.")
        require(
            0.0 <= self.actor_unimix < 1.0,
            f"actor_unimix must be in [0, 1), got {self.actor_unimix}; DreamerV3 uses 0.01.",
        )
        for name in ("gamma", "lambda_", "slow_critic_decay"):
            value = getattr(self, name)
            require(0.0 <= value <= 1.0, f"{name} must be in [0, 1], got {value}.")
        for name, fix in POSITIVE.items():
            value = getattr(self, name)
            require(value > 0, f"{name} must be > 0, got {value}; {fix}.")
        for name, fix in NON_NEGATIVE.items():
            value = getattr(self, name)
            require(value >= 0, f"{name} must be >= 0, got {value}; {fix}.")
        require(
            0.0 <= self.first_explore <= 1.0,
            f"first_explore must be in [0, 1], got {self.first_explore}; use 0 to turn it off.",
        )
        require(
            0.0 <= self.action_relabel <= 1.0,
            f"action_relabel must be in [0, 1], got {self.action_relabel}; use 0 to turn it off.",
        )
        require(
            self.first_branches >= 0,
            f"first_branches must be >= 0, got {self.first_branches}; use 0 to turn it off.",
        )
        require(
            self.first_branches == 0 or self.actor_gradient in ("expected", "target"),
            f"first_branches={self.first_branches} values the first actions for the start "
            "gradient; use it with --actor-gradient expected or target.",
        )
        require(
            self.first_flag or not self.first_head,
            "first_head reads the first-step flag; use it with --first-flag.",
        )
        require(
            self.first_head_lr is None or (self.first_head and self.first_head_lr > 0),
            f"first_head_lr={self.first_head_lr} needs --first-head and a rate > 0; use it with "
            "--first-head, or leave it out for the actor's rate.",
        )

    def __hash__(self) -> int:
        """Hashable despite `env_options` (a dict): a config can key a cache of programs."""
        return config_hash(self)

    @property
    def steps_per_iteration(self) -> int:
        """Environment steps per iteration (per seed): num_envs x act_steps."""
        return self.num_envs * self.act_steps

    @property
    def num_iterations(self) -> int:
        """Iterations of the run (total_timesteps rounded down to whole iterations)."""
        return self.total_timesteps // self.steps_per_iteration

    @property
    def updates_per_iteration(self) -> int:
        """Updates after each acting phase: `train_ratio` x env steps / replayed steps per
        update, rounded, at least 1."""
        replayed = self.batch_size * self.replay.length
        return max(1, round(self.train_ratio * self.steps_per_iteration / replayed))
