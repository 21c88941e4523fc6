"""LSTM baseline core: stacked `flax.linen.OptimizedLSTMCell`s with per-step resets.

Carry: `L` pairs `(c[B, H], h[B, H])`.
"""

import dataclasses
from typing import ClassVar

import flax.linen as nn
import jax.numpy as jnp

from rlssm.cores.base import CoreConfig
from rlssm.cores.rnn import CellStack


@dataclasses.dataclass(frozen=True)
class LSTMConfig(CoreConfig):
    """Stack of num_layers LSTM cells of width hidden_size."""

    name: ClassVar[str] = "lstm"

    def build(self) -> "LSTMCore":
        return LSTMCore(config=self)


class LSTMCore(CellStack):
    """LSTM memory core: `x[T, B, D] -> y[T, B, H]`."""

    config: LSTMConfig
    cell_cls: ClassVar = nn.OptimizedLSTMCell

    def cell_carry(self, batch_size: int):
        zeros = jnp.zeros((batch_size, self.config.hidden_size), jnp.float32)
        return zeros, zeros
