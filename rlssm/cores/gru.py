"""GRU baseline core: stacked `flax.linen.GRUCell`s with per-step resets; carry `L x [B, H]`."""

import dataclasses
from typing import ClassVar

import flax.linen as nn
import jax.numpy as jnp

from rlssm.cores.base import CoreConfig
from rlssm.cores.rnn import CellStack


@dataclasses.dataclass(frozen=True)
class GRUConfig(CoreConfig):
    """Stack of num_layers GRU cells of width hidden_size."""

    name: ClassVar[str] = "gru"

    def build(self) -> "GRUCore":
        return GRUCore(config=self)


class GRUCore(CellStack):
    """GRU memory core: `x[T, B, D] -> y[T, B, H]`."""

    config: GRUConfig
    cell_cls: ClassVar = nn.GRUCell

    def cell_carry(self, batch_size: int):
        return jnp.zeros((batch_size, self.config.hidden_size), jnp.float32)
