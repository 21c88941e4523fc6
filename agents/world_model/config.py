"""World-model training settings: a frozen dataclass, one docstring per field, validated on
construction (what needs the data's shapes is checked when the programs are traced)."""

import dataclasses

from agents.common import require


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """How a world model trains on a dataset of episodes and how it is evaluated."""

    context_length: int = 0
    """`C`: records of each episode's context phase (the rest is its query). Needed (>= 1) by
    the blind query and by the evaluation; 0: the episodes have no phases."""
    lr: float = 1e-3
    """Adam learning rate."""
    grad_clip: float = 100.0
    """Global gradient-norm clip (before Adam)."""
    batch_size: int = 8
    """`B`: sequences per update."""
    window: int = 0
    """`W`: records per training sequence, a random window of an episode; 0: whole episodes."""
    blind_query: float = 0.0
    """Share of training sequences whose query phase the backbone observes blind: from the
    second query record on it reads actions but not the previous latent, as in imagination.
    0: plain teacher forcing on every sequence."""
    eval_buckets: int = 4
    """`K`: equal slices of the query horizon for the bucketed evaluation MSE."""
    eval_sample: bool = False
    """Draw latents while evaluating (default: the distributions' modes, deterministic)."""
    shown_episodes: int = 3
    """Evaluation episodes whose generated frames the evaluation returns (for plots)."""

    def __post_init__(self) -> None:
        require(self.lr > 0, f"lr must be > 0, got {self.lr}; pass a positive learning rate.")
        require(self.grad_clip > 0, f"grad_clip must be > 0, got {self.grad_clip}; pass a norm.")
        for name, low in (
            ("context_length", 0),
            ("batch_size", 1),
            ("window", 0),
            ("eval_buckets", 1),
            ("shown_episodes", 1),
        ):
            value = getattr(self, name)
            require(value >= low, f"{name} must be >= {low}, got {value}; raise it.")
        require(
            0.0 <= self.blind_query <= 1.0,
            f"blind_query is a share of sequences in [0, 1], got {self.blind_query}.",
        )
        require(
            self.blind_query == 0.0 or self.context_length >= 1,
            "blind_query > 0 needs the episodes' phases; set context_length >= 1.",
        )
