"""LSTM baseline core: stacked LSTM cells with per-step resets; carry `L` x `(c[B, H], h[B, H])`.

The cell computes the four gates with two matmuls (`x` and `h` each against a `[*, 4H]` kernel),
like flax's `OptimizedLSTMCell`, and initialises the forget-gate bias to `forget_bias` (1 by
default, Jozefowicz et al. 2015): with flax's zero bias the forget gate starts at 0.5 and gradients
vanish within a few dozen steps (our copy-the-first-input probe fails at length 32).
"""

import dataclasses
from typing import ClassVar

import flax.linen as nn
import jax
import jax.numpy as jnp

from rlssm.cores.base import CoreConfig
from rlssm.cores.rnn import CellStack


@dataclasses.dataclass(frozen=True)
class LSTMConfig(CoreConfig):
    """Stack of num_layers LSTM cells of width hidden_size."""

    forget_bias: float = 1.0
    """Initial bias of the forget gate."""

    name: ClassVar[str] = "lstm"

    def build(self) -> "LSTMCore":
        return LSTMCore(config=self)


class LSTMCell(nn.Module):
    """One LSTM cell, `((c, h), x[..., D]) -> ((c, h), h[..., H])`; gate order i, f, g, o."""

    features: int
    forget_bias: float = 1.0

    @nn.compact
    def __call__(self, carry, x):
        c, h = carry
        width = self.features

        def bias_init(key, shape, dtype=jnp.float32):
            return jnp.zeros(shape, dtype).at[width : 2 * width].set(self.forget_bias)

        gates = nn.Dense(4 * width, use_bias=False, name="input")(x) + nn.Dense(
            4 * width,
            kernel_init=nn.initializers.orthogonal(),
            bias_init=bias_init,
            name="recurrent",
        )(h)
        i, f, g, o = jnp.split(gates, 4, axis=-1)
        c = jax.nn.sigmoid(f) * c + jax.nn.sigmoid(i) * jnp.tanh(g)
        h = jax.nn.sigmoid(o) * jnp.tanh(c)
        return (c, h), h


class LSTMCore(CellStack):
    """LSTM memory core: `x[T, B, D] -> y[T, B, H]`."""

    config: LSTMConfig
    cell_cls: ClassVar = LSTMCell

    def make_cell(self) -> nn.Module:
        return LSTMCell(self.config.hidden_size, self.config.forget_bias)

    def cell_carry(self, batch_size: int):
        zeros = jnp.zeros((batch_size, self.config.hidden_size), jnp.float32)
        return zeros, zeros
