"""GRU baseline core: stacked GRU cells with per-step resets; carry `L x [B, H]`.

The cell computes flax's `GRUCell` equations (Cho et al. 2014, reset gate applied after the
recurrent matmul as in cuDNN):

    r = sigmoid(W_ir x + b_ir + W_hr h)          z = sigmoid(W_iz x + b_iz + W_hz h)
    n = tanh(W_in x + b_in + r * (W_hn h + b_hn))  h' = (1 - z) * n + z * h

with the three input projections fused into one `[D, 3H]` kernel and the three recurrent ones
into one `[H, 3H]` kernel (each `H x H` block orthogonal, as flax initialises them). A whole
sequence runs layer by layer: the input projection of all `T` steps is one matmul outside the
scan, and the scan only does `h @ W_h` and the gates (what cuDNN does). On the 2-core CPU this
took GRU PPO at purejaxrl's setting (one-env minibatches of 128 steps) from 6.8k to 13.4k env
steps/s (`python -m benchmarks.ppo --cases gru-cartpole-speed`, before and after).
"""

import dataclasses
import functools
from typing import ClassVar

import flax.linen as nn
import jax
import jax.numpy as jnp
from jaxtyping import Array, Bool, Float

from rlssm.cores.base import CoreConfig
from rlssm.cores.rnn import CellStack


@dataclasses.dataclass(frozen=True)
class GRUConfig(CoreConfig):
    """Stack of num_layers GRU cells of width hidden_size."""

    update_bias: float = 0.0
    """Initial bias `b_iz` of the update gate (flax: 0). Positive values start the cell closer
    to keeping its state (`z` near 1), which carries gradients over longer gaps, like the
    LSTM's forget bias."""

    name: ClassVar[str] = "gru"

    def build(self) -> "GRUCore":
        return GRUCore(config=self)


def orthogonal_blocks(key: jax.Array, shape: tuple[int, int], dtype=jnp.float32) -> jax.Array:
    """`[H, k H]`: `k` independent orthogonal `H x H` blocks side by side."""
    rows, cols = shape
    keys = jax.random.split(key, cols // rows)
    init = nn.initializers.orthogonal()
    return jnp.concatenate([init(k, (rows, rows), dtype) for k in keys], axis=-1)


class GRUCell(nn.Module):
    """One GRU cell, `(h[..., H], x[..., D]) -> (h, h)`; gate order r, z, n."""

    features: int
    update_bias: float = 0.0

    def setup(self):
        width = self.features

        def bias_init(key, shape, dtype=jnp.float32):
            return jnp.zeros(shape, dtype).at[width : 2 * width].set(self.update_bias)

        self.input = nn.Dense(3 * width, bias_init=bias_init, name="input")
        self.recurrent = self.param("recurrent", orthogonal_blocks, (width, 3 * width))
        self.recurrent_bias = self.param("recurrent_bias", nn.initializers.zeros, (width,))

    def project(self, x: jax.Array) -> jax.Array:
        """Input projections `[..., 3H]` of `x[..., D]` (any leading axes: all steps at once)."""
        return self.input(x)

    def recur(self, h: jax.Array, projected: jax.Array) -> jax.Array:
        """The next `h[B, H]` from `h` and the input projections `projected[B, 3H]` of `x[t]`."""
        _, z, n, _ = _gates(projected, h @ self.recurrent, self.recurrent_bias)
        return (1.0 - z) * n + z * h

    def __call__(self, h: jax.Array, x: jax.Array) -> tuple[jax.Array, jax.Array]:
        h = self.recur(h, self.project(x))
        return h, h


def _sigmoid(x):
    """`sigmoid(x)` as `(1 + tanh(x / 2)) / 2`: one `tanh`, cheaper than XLA's CPU `logistic`."""
    return 0.5 + 0.5 * jnp.tanh(0.5 * x)


def _gates(projected, hidden, recurrent_bias):
    """`(r, z, n, W_hn h + b_hn)`, each `[..., H]`, from the input and recurrent projections."""
    p_r, p_z, p_n = jnp.split(projected, 3, axis=-1)
    h_r, h_z, h_n = jnp.split(hidden, 3, axis=-1)
    h_n = h_n + recurrent_bias
    r = _sigmoid(p_r + h_r)
    return r, _sigmoid(p_z + h_z), jnp.tanh(p_n + r * h_n), h_n


def _forward_step(h, inputs, recurrent, recurrent_bias, slopes: bool = False):
    """One step `(h[B, H], (projected[B, 3H], start[B])) -> (h', outputs)`: `outputs = h'`, or
    with `slopes` `(h', _slopes(...))` for the backward pass."""
    projected, start = inputs
    h = jnp.where(start[:, None], 0.0, h)
    r, z, n, h_n = _gates(projected, h @ recurrent, recurrent_bias)
    h_new = (1.0 - z) * n + z * h
    if not slopes:
        return h_new, h_new
    return h_new, (h_new, _slopes(r, z, n, h_n, h))


def _slopes(r, z, n, h_n, h_kept):
    """`(d(W_h h)/dh'[..., 3H], dn_pre/dh'[..., H], dh'/dh_kept = z)`: the derivatives of a step's
    output `h'` that the backward loop multiplies its cotangent with (`n_pre` the input of
    `tanh`, `W_h h` the recurrent projections of the gates r, z, n)."""
    slope_n = (1.0 - z) * (1.0 - n * n)
    hidden = jnp.concatenate(
        [slope_n * h_n * r * (1.0 - r), (h_kept - n) * z * (1.0 - z), slope_n * r], axis=-1
    )
    return hidden, slope_n, z


@jax.custom_vjp
def gru_layer(
    h0: Float[Array, "B H"],
    projected: Float[Array, "T B 3H"],
    start: Bool[Array, "T B"],
    recurrent: Float[Array, "H 3H"],
    recurrent_bias: Float[Array, " H"],
) -> tuple[Float[Array, "B H"], Float[Array, "T B H"]]:
    """`(h_last, h[T, B, H])` of the GRU recurrence over input projections `projected[T, B, 3H]`,
    the state zeroed before every step `t` with `start[t]`.

    The VJP's forward loop also stores each step's local derivatives (`_slopes`, `[T, B, 5H]`),
    so the backward loop does one matmul per step (`dL/dh[t-1]`) and a few products, and
    `dL/dW_h` is one `[H, T B] x [T B, 3H]` matmul after it, where autodiff of the scan does a
    small matmul per step for each and recomputes the gates.
    """
    step = functools.partial(_forward_step, recurrent=recurrent, recurrent_bias=recurrent_bias)
    return jax.lax.scan(step, h0, (projected, start))


def _gru_forward(h0, projected, start, recurrent, recurrent_bias):
    step = functools.partial(
        _forward_step, recurrent=recurrent, recurrent_bias=recurrent_bias, slopes=True
    )
    h_last, (h, slopes) = jax.lax.scan(step, h0, (projected, start))
    return (h_last, h), (h0, start, recurrent, h, slopes)


def _backward_step(g_next, inputs, recurrent_t):
    """From `g_next` (the part of `dL/dh[t]` from later steps) to that of `dL/dh[t-1]`; also
    `g[t] = dL/dh[t]`."""
    slope_hidden, z, start, g_y = inputs
    g = g_next + g_y
    g_hidden = jnp.tile(g, 3) * slope_hidden
    g_h = jnp.where(start[:, None], 0.0, g * z + g_hidden @ recurrent_t)
    return g_h, g


def _gru_backward(residuals, cotangents):
    h0, start, recurrent, h, (slope_hidden, slope_n, z) = residuals
    g_last, g_y = cotangents
    # W_h^T laid out once (row-major), not transposed inside every step's matmul.
    recurrent_t = jax.lax.optimization_barrier(jnp.transpose(recurrent))
    step = functools.partial(_backward_step, recurrent_t=recurrent_t)
    g_h0, g = jax.lax.scan(step, g_last, (slope_hidden, z, start, g_y), reverse=True)
    width = h0.shape[-1]
    g_hidden = jnp.tile(g, 3) * slope_hidden
    g_projected = jnp.concatenate([g_hidden[..., : 2 * width], g * slope_n], axis=-1)
    h_kept = jnp.where(start[..., None], 0.0, jnp.concatenate([h0[None], h[:-1]]))
    # Contracted in place over `T, B`: a reshape to `[T * B, ...]` would gather the
    # environments `B` whole when they are split over devices.
    g_recurrent = jnp.tensordot(h_kept, g_hidden, axes=((0, 1), (0, 1)))
    g_bias = jnp.sum(g_hidden[..., 2 * width :], axis=(0, 1))
    return g_h0, g_projected, None, g_recurrent, g_bias


gru_layer.defvjp(_gru_forward, _gru_backward)


class GRUCore(CellStack):
    """GRU memory core: `x[T, B, D] -> y[T, B, H]`."""

    config: GRUConfig
    cell_cls: ClassVar = GRUCell

    def make_cell(self) -> GRUCell:
        return GRUCell(features=self.config.hidden_size, update_bias=self.config.update_bias)

    def cell_carry(self, batch_size: int):
        return jnp.zeros((batch_size, self.config.hidden_size), jnp.float32)

    def _sequence(self, carry, x, start):
        """Layer by layer: one input matmul over `[T, B]`, then a scan of the recurrence."""
        new_carry, y = [], x
        for cell, h in zip(self.cells, carry, strict=True):
            h, y = gru_layer(h, cell.project(y), start, cell.recurrent, cell.recurrent_bias)
            new_carry.append(h)
        return tuple(new_carry), y
