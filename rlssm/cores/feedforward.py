"""The "none" core: a feed-forward MLP behind the memory-core interface (no memory, empty carry).

Lets agents run without memory through the same code path: `x[..., D] -> y[..., H]`.
"""

import dataclasses
from typing import ClassVar

import flax.linen as nn

from rlssm.cores.base import CoreConfig, MemoryCore, require
from rlssm.nn import ACTIVATIONS, activation


@dataclasses.dataclass(frozen=True)
class FeedForwardConfig(CoreConfig):
    """num_layers Dense(hidden_size) layers, each followed by the activation."""

    activation: str = "relu"
    """Activation after each layer."""

    name: ClassVar[str] = "none"

    def __post_init__(self) -> None:
        super().__post_init__()
        require(
            self.activation in ACTIVATIONS,
            f"FeedForwardConfig.activation={self.activation!r}; use one of {sorted(ACTIVATIONS)}.",
        )

    def build(self) -> "FeedForwardCore":
        return FeedForwardCore(config=self)


class FeedForwardCore(MemoryCore):
    """Memoryless core; `start` is accepted and ignored, the carry is the empty tuple."""

    config: FeedForwardConfig

    def setup(self):
        self.layers = [nn.Dense(self.config.hidden_size) for _ in range(self.config.num_layers)]

    def initialize_carry(self, batch_size: int) -> tuple[()]:
        return ()

    def _mlp(self, x):
        act = activation(self.config.activation)
        for layer in self.layers:
            x = act(layer(x))
        return x

    def _sequence(self, carry, x, start):
        return carry, self._mlp(x)

    def _step(self, carry, x, start):
        return carry, self._mlp(x)
