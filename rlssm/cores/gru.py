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
        width = self.features
        hidden = h @ self.recurrent
        r = jax.nn.sigmoid(projected[..., :width] + hidden[..., :width])
        z = jax.nn.sigmoid(projected[..., width : 2 * width] + hidden[..., width : 2 * width])
        n = jnp.tanh(
            projected[..., 2 * width :] + r * (hidden[..., 2 * width :] + self.recurrent_bias)
        )
        return (1.0 - z) * n + z * h

    def __call__(self, h: jax.Array, x: jax.Array) -> tuple[jax.Array, jax.Array]:
        h = self.recur(h, self.project(x))
        return h, h


def _gates(projected, hidden, recurrent_bias):
    """`(r, z, n, W_hn h + b_hn)`, each `[..., H]`, from the input and recurrent projections."""
    p_r, p_z, p_n = jnp.split(projected, 3, axis=-1)
    h_r, h_z, h_n = jnp.split(hidden, 3, axis=-1)
    h_n = h_n + recurrent_bias
    r = jax.nn.sigmoid(p_r + h_r)
    return r, jax.nn.sigmoid(p_z + h_z), jnp.tanh(p_n + r * h_n), h_n


def _forward_step(h, inputs, recurrent, recurrent_bias):
    """One step `(h[B, H], (projected[B, 3H], start[B])) -> (h', (h', W_h h_kept))`."""
    projected, start = inputs
    h = jnp.where(start[:, None], 0.0, h)
    hidden = h @ recurrent
    _, z, n, _ = _gates(projected, hidden, recurrent_bias)
    h = (1.0 - z) * n + z * h
    return h, (h, hidden)


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

    The VJP stores the recurrent projections `W_h h[t-1]` (`[T, B, 3H]`), so its loop does one
    matmul per step (`dL/dh[t-1]`), and forms `dL/dW_h` after the loop as one `[H, T B] x
    [T B, 3H]` matmul, where autodiff of the scan does a small matmul per step for each.
    """
    return _gru_forward(h0, projected, start, recurrent, recurrent_bias)[0]


def _gru_forward(h0, projected, start, recurrent, recurrent_bias):
    step = functools.partial(_forward_step, recurrent=recurrent, recurrent_bias=recurrent_bias)
    h_last, (h, hidden) = jax.lax.scan(step, h0, (projected, start))
    return (h_last, h), (h0, projected, start, recurrent, recurrent_bias, h, hidden)


def _backward_step(g_next, inputs, recurrent, recurrent_bias):
    """From `g_next = dL/dh[t]` (later steps' part) to `dL/dh[t-1]`; also `dL/dprojected[t]` and
    `dL/d(W_h h)[t]` for the `n` gate (the `r`, `z` parts equal those of `projected`)."""
    projected, hidden, h_kept, start, g_y = inputs
    r, z, n, h_n = _gates(projected, hidden, recurrent_bias)
    g = g_next + g_y
    g_n = g * (1.0 - z) * (1.0 - n * n)
    g_r = g_n * h_n * r * (1.0 - r)
    g_z = g * (h_kept - n) * z * (1.0 - z)
    g_hidden_n = g_n * r
    g_hidden = jnp.concatenate([g_r, g_z, g_hidden_n], axis=-1)
    g_h = g * z + g_hidden @ recurrent.T
    g_h = jnp.where(start[:, None], 0.0, g_h)
    return g_h, (jnp.concatenate([g_r, g_z, g_n], axis=-1), g_hidden_n)


def _gru_backward(residuals, cotangents):
    h0, projected, start, recurrent, recurrent_bias, h, hidden = residuals
    g_last, g_y = cotangents
    h_kept = jnp.where(start[..., None], 0.0, jnp.concatenate([h0[None], h[:-1]]))
    step = functools.partial(_backward_step, recurrent=recurrent, recurrent_bias=recurrent_bias)
    g_h0, (g_projected, g_hidden_n) = jax.lax.scan(
        step, g_last, (projected, hidden, h_kept, start, g_y), reverse=True
    )
    width = h0.shape[-1]
    g_hidden = jnp.concatenate([g_projected[..., : 2 * width], g_hidden_n], axis=-1)
    g_recurrent = h_kept.reshape(-1, width).T @ g_hidden.reshape(-1, 3 * width)
    g_bias = jnp.sum(g_hidden_n, axis=(0, 1))
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
