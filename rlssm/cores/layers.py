"""Building blocks shared by the cores: linear mixers, residual blocks and the layer stack.

A *mixer* is a single-layer core of width `H -> H` with the same `initialize_carry` / `__call__` /
`step` signature as a core. `LinearMixer` turns a recurrence `h[t] = a[t] * h[t-1] + b[t]`,
`y[t] = readout(h[t], x[t])` into a mixer running on the resettable scan (`rlssm.cores.scan`).
`ResidualBlock` wraps a mixer as norm -> mixer -> activation/GLU -> residual, and `BlockStack`
is the core made of an input projection `D -> H` and `L` such blocks.

Axis names: `T` time, `B` batch, `D` input features, `H` width, `P` state size.
"""

import functools
import math
from typing import Any, ClassVar

import flax.linen as nn
import jax
import jax.numpy as jnp
from jaxtyping import Array, Bool, Float, Inexact

from rlssm.cores.base import GLU_VARIANTS, BlockConfig, Carry, LinearConfig, MemoryCore
from rlssm.cores.scan import complex_to_pairs, linear_scan, linear_step, pairs_to_complex
from rlssm.nn import LayerNorm, activation


def _gelu_and_slope(y: jax.Array) -> tuple[jax.Array, jax.Array]:
    """`nn.gelu(y)` (tanh approximation) and its derivative, via `(1 + tanh(u)) / 2 = sigmoid(2u)`.

    The backward pass of `gelu_gate` recomputes `gelu(y)` in this form: XLA then does not merge
    it with the forward pass's `nn.gelu(y)` and keep that `[..., H]` array alive in between.
    """
    k = math.sqrt(2.0 / math.pi)
    cdf = jax.nn.sigmoid(2.0 * k * (y + 0.044715 * y**3))
    slope = cdf + y * 2.0 * cdf * (1.0 - cdf) * k * (1.0 + 3.0 * 0.044715 * y**2)
    return y * cdf, slope


@functools.partial(jax.custom_vjp, nondiff_argnums=(3,))
def gelu_gate(y: jax.Array, kernel: jax.Array, bias: jax.Array, value_is_gelu: bool) -> jax.Array:
    """`v * sigmoid(gelu(y) @ kernel + bias)` over `y[..., H]`, `v = gelu(y)` or `v = y`.

    The half-GLU activations (`half_glu1`: `v = gelu(y)`, `half_glu2`: `v = y`). The VJP keeps
    `y` and the gate's pre-activation and recomputes the rest, where autodiff keeps four
    `[..., H]` arrays (`y`, `tanh`, `gelu(y)`, `sigmoid`).
    """
    return _gelu_gate_forward(y, kernel, bias, value_is_gelu)[0]


def _gelu_gate_forward(y, kernel, bias, value_is_gelu):
    q = nn.gelu(y)
    z = q @ kernel + bias
    return (q if value_is_gelu else y) * nn.sigmoid(z), (y, z, kernel)


def _gelu_gate_backward(value_is_gelu, residuals, g_out):
    y, z, kernel = residuals
    q, slope = _gelu_and_slope(y)
    gate = nn.sigmoid(z)
    g_z = g_out * (q if value_is_gelu else y) * gate * (1.0 - gate)
    g_q = g_z @ kernel.T
    g_value = g_out * gate
    g_y = (g_q + g_value) * slope if value_is_gelu else g_q * slope + g_value
    # Contracted over every leading axis in place: a reshape to `[-1, H]` would merge an axis
    # split over devices (the environments `B`) into one that is not, and gather it whole.
    leading = tuple(range(y.ndim - 1))
    g_kernel = jnp.tensordot(q, g_z, axes=(leading, leading))
    return g_y, g_kernel, jnp.sum(g_z, axis=leading)


gelu_gate.defvjp(_gelu_gate_forward, _gelu_gate_backward)


class GeluGate(nn.Module):
    """A half GLU, `gelu_gate`, with the parameters of `nn.Dense(features)` (`kernel`, `bias`)."""

    features: int
    value_is_gelu: bool = True

    @nn.compact
    def __call__(self, y: jax.Array) -> jax.Array:
        kernel = self.param("kernel", nn.initializers.lecun_normal(), (y.shape[-1], self.features))
        bias = self.param("bias", nn.initializers.zeros_init(), (self.features,))
        return gelu_gate(y, kernel, bias, self.value_is_gelu)


class LinearMixer(nn.Module):
    """Base of mixers whose state follows a linear recurrence; subclasses define the maps.

    Subclasses implement `state_shape()`, `state_dtype`, `coefficients(x[..., H]) -> (a, b)` and
    `readout(h, x) -> y[..., H]`; both take any leading axes, so `__call__` (`[T, B]`) and `step`
    (`[B]`) share them. With `complex_pairs`, the state is complex but `b` and the `h` that
    `readout` sees hold it as real (real, imaginary) pairs `[..., 2, P]`, so that one real
    matmul writes `b` and one reads `h` (the carry stays complex).
    """

    config: LinearConfig
    state_dtype: ClassVar[Any] = jnp.float32
    complex_pairs: ClassVar[bool] = False

    def state_shape(self) -> tuple[int, ...]:
        raise NotImplementedError

    def coefficients(self, x: jax.Array) -> tuple[jax.Array, jax.Array]:
        raise NotImplementedError

    def readout(self, h: jax.Array, x: jax.Array) -> jax.Array:
        raise NotImplementedError

    def initialize_carry(self, batch_size: int) -> Inexact[Array, " B *state"]:
        return jnp.zeros((batch_size, *self.state_shape()), self.state_dtype)

    def __call__(
        self,
        carry: Inexact[Array, " B *state"],
        x: Float[Array, "T B H"],
        start: Bool[Array, "T B"],
    ) -> tuple[Inexact[Array, " B *state"], Float[Array, "T B H"]]:
        a, b = self.coefficients(x)
        carry, h = linear_scan(
            a,
            b,
            start,
            carry,
            self.config.scan_mode,
            chunk_size=self.config.chunk_size,
            complex_pairs=self.complex_pairs,
        )
        return carry, self.readout(h, x)

    def step(
        self, carry: Inexact[Array, " B *state"], x: Float[Array, "B H"], start: Bool[Array, " B"]
    ) -> tuple[Inexact[Array, " B *state"], Float[Array, "B H"]]:
        a, b = self.coefficients(x)
        if self.complex_pairs:
            b = pairs_to_complex(b)
        carry = linear_step(a, b, start, carry.astype(jnp.result_type(a, b)))
        h = complex_to_pairs(carry) if self.complex_pairs else carry
        return carry, self.readout(h, x)


class ResidualBlock(nn.Module):
    """norm -> mixer -> activation (or GLU) -> residual; `x[..., H] -> y[..., H]`."""

    config: BlockConfig
    mixer_cls: type[nn.Module]

    def setup(self):
        cfg = self.config
        self.mixer = self.mixer_cls(config=cfg)
        self.norm = LayerNorm() if cfg.norm == "layer" else (lambda x: x)
        if cfg.activation == "full_glu":
            self.gate = nn.Dense(cfg.hidden_size)
            self.value = nn.Dense(cfg.hidden_size)
        elif cfg.activation in GLU_VARIANTS:
            self.gate = GeluGate(cfg.hidden_size, value_is_gelu=cfg.activation == "half_glu1")

    def initialize_carry(self, batch_size: int) -> Carry:
        return self.mixer_cls(config=self.config, parent=None).initialize_carry(batch_size)

    def _activate(self, y: jax.Array) -> jax.Array:
        kind = self.config.activation
        if kind == "full_glu":
            y = nn.gelu(y)
            return self.value(y) * nn.sigmoid(self.gate(y))
        if kind in GLU_VARIANTS:
            return self.gate(y)
        return activation(kind)(y)

    def _run(self, carry, x, start, method: str):
        prenorm = self.config.prenorm
        carry, y = getattr(self.mixer, method)(carry, self.norm(x) if prenorm else x, start)
        y = x + self._activate(y)
        return carry, y if prenorm else self.norm(y)

    def __call__(
        self, carry: Carry, x: Float[Array, "T B H"], start: Bool[Array, "T B"]
    ) -> tuple[Carry, Float[Array, "T B H"]]:
        return self._run(carry, x, start, "__call__")

    def step(
        self, carry: Carry, x: Float[Array, "B H"], start: Bool[Array, " B"]
    ) -> tuple[Carry, Float[Array, "B H"]]:
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
