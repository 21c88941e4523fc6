"""Stacks of nonlinear recurrent cells (GRU, LSTM) with per-step resets, run by a `lax.scan`.

The cells are flax's own; this module adds the reset (`start[t]` puts the layer's carry back to
zeros before `x[t]` is consumed) and the memory-core interface. Axis names: `T`, `B`, `D`, `H`, `L`.
"""

from typing import ClassVar

import flax.linen as nn
import jax
import jax.numpy as jnp

from rlssm.cores.base import Carry, CoreConfig, MemoryCore


def reset_where(start: jax.Array, carry: Carry, initial: Carry) -> Carry:
    """Replaces the rows of `carry` where `start[B]` is True by those of `initial`."""

    def pick(c, i):
        return jnp.where(start.reshape(start.shape + (1,) * (c.ndim - 1)), i, c)

    return jax.tree.map(pick, carry, initial)


def _scan_body(core: "CellStack", carry: Carry, inputs):
    x, start = inputs
    return core._step(carry, x, start)


class CellStack(MemoryCore):
    """`L` stacked cells of `cell_cls`, input `D` to the first, `H` to the others."""

    config: CoreConfig
    cell_cls: ClassVar[type[nn.Module]]

    def setup(self):
        self.cells = [self.make_cell() for _ in range(self.config.num_layers)]

    def make_cell(self) -> nn.Module:
        """One cell of the stack (`cell_cls` of width H unless a subclass says otherwise)."""
        return self.cell_cls(features=self.config.hidden_size)

    def cell_carry(self, batch_size: int) -> Carry:
        """Zero carry of one layer."""
        raise NotImplementedError

    def initialize_carry(self, batch_size: int) -> tuple[Carry, ...]:
        return tuple(self.cell_carry(batch_size) for _ in range(self.config.num_layers))

    def _step(self, carry, x, start):
        carry = reset_where(start, carry, self.initialize_carry(x.shape[0]))
        new_carry, y = [], x
        for cell, layer_carry in zip(self.cells, carry, strict=True):
            layer_carry, y = cell(layer_carry, y)
            new_carry.append(layer_carry)
        return tuple(new_carry), y

    def _sequence(self, carry, x, start):
        scan = nn.scan(_scan_body, variable_broadcast="params", split_rngs={"params": False})
        return scan(self, carry, (x, start))
