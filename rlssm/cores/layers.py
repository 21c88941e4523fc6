"""Building blocks shared by the cores: linear mixers, residual blocks and the layer stack.

A *mixer* is a single-layer core of width `H -> H` with the same `initialize_carry` / `__call__` /
`step` signature as a core. `LinearMixer` turns a recurrence `h[t] = a[t] * h[t-1] + b[t]`,
`y[t] = readout(h[t], x[t])` into a mixer running on the resettable scan (`rlssm.cores.scan`).
`ResidualBlock` wraps a mixer as norm -> mixer -> activation/GLU -> residual, and `BlockStack`
is the core made of an input projection `D -> H` and `L` such blocks.

Axis names: `T` time, `B` batch, `D` input features, `H` width, `P` state size.
"""

from typing import Any, ClassVar

import flax.linen as nn
import jax
import jax.numpy as jnp

from rlssm.cores.base import GLU_VARIANTS, BlockConfig, Carry, LinearConfig, MemoryCore
from rlssm.cores.scan import linear_scan, linear_step
from rlssm.nn import activation


class LinearMixer(nn.Module):
    """Base of mixers whose state follows a linear recurrence; subclasses define the maps.

    Subclasses implement `state_shape()`, `state_dtype`, `coefficients(x[..., H]) -> (a, b)` and
    `readout(h, x) -> y[..., H]`; both take any leading axes, so `__call__` (`[T, B]`) and `step`
    (`[B]`) share them.
    """

    config: LinearConfig
    state_dtype: ClassVar[Any] = jnp.float32

    def state_shape(self) -> tuple[int, ...]:
        raise NotImplementedError

    def coefficients(self, x: jax.Array) -> tuple[jax.Array, jax.Array]:
        raise NotImplementedError

    def readout(self, h: jax.Array, x: jax.Array) -> jax.Array:
        raise NotImplementedError

    def initialize_carry(self, batch_size: int) -> jax.Array:
        return jnp.zeros((batch_size, *self.state_shape()), self.state_dtype)

    def __call__(self, carry, x, start):
        a, b = self.coefficients(x)
        carry, h = linear_scan(
            a, b, start, carry, self.config.scan_mode, chunk_size=self.config.chunk_size
        )
        return carry, self.readout(h, x)

    def step(self, carry, x, start):
        a, b = self.coefficients(x)
        carry = linear_step(a, b, start, carry.astype(jnp.result_type(a, b)))
        return carry, self.readout(carry, x)


class ResidualBlock(nn.Module):
    """norm -> mixer -> activation (or GLU) -> residual; `x[..., H] -> y[..., H]`."""

    config: BlockConfig
    mixer_cls: type[nn.Module]

    def setup(self):
        cfg = self.config
        self.mixer = self.mixer_cls(config=cfg)
        self.norm = nn.LayerNorm() if cfg.norm == "layer" else (lambda x: x)
        if cfg.activation in GLU_VARIANTS:
            self.gate = nn.Dense(cfg.hidden_size)
        if cfg.activation == "full_glu":
            self.value = nn.Dense(cfg.hidden_size)

    def initialize_carry(self, batch_size: int) -> Carry:
        return self.mixer_cls(config=self.config, parent=None).initialize_carry(batch_size)

    def _activate(self, y: jax.Array) -> jax.Array:
        kind = self.config.activation
        if kind == "full_glu":
            y = nn.gelu(y)
            return self.value(y) * nn.sigmoid(self.gate(y))
        if kind == "half_glu1":
            y = nn.gelu(y)
            return y * nn.sigmoid(self.gate(y))
        if kind == "half_glu2":
            return y * nn.sigmoid(self.gate(nn.gelu(y)))
        return activation(kind)(y)

    def _run(self, carry, x, start, method: str):
        prenorm = self.config.prenorm
        carry, y = getattr(self.mixer, method)(carry, self.norm(x) if prenorm else x, start)
        y = x + self._activate(y)
        return carry, y if prenorm else self.norm(y)

    def __call__(self, carry, x, start):
        return self._run(carry, x, start, "__call__")

    def step(self, carry, x, start):
        return self._run(carry, x, start, "step")


class BlockStack(MemoryCore):
    """Core made of a projection `D -> H` and `L` residual blocks of `mixer_cls`; carry: L-tuple."""

    config: BlockConfig
    mixer_cls: ClassVar[type[nn.Module]]

    def setup(self):
        self.encoder = nn.Dense(self.config.hidden_size)
        self.blocks = [
            ResidualBlock(self.config, self.mixer_cls) for _ in range(self.config.num_layers)
        ]

    def initialize_carry(self, batch_size: int) -> tuple[Carry, ...]:
        layer = self.mixer_cls(config=self.config, parent=None)
        return tuple(layer.initialize_carry(batch_size) for _ in range(self.config.num_layers))

    def _run(self, carry, x, start, method: str):
        y = self.encoder(x)
        new_carry = []
        for block, block_carry in zip(self.blocks, carry, strict=True):
            block_carry, y = getattr(block, method)(block_carry, y, start)
            new_carry.append(block_carry)
        return tuple(new_carry), y

    def _sequence(self, carry, x, start):
        return self._run(carry, x, start, "__call__")

    def _step(self, carry, x, start):
        return self._run(carry, x, start, "step")
