"""S6: a selective (input-dependent) diagonal state-space layer in the style of Mamba.

Gu & Dao, "Mamba: Linear-Time Sequence Modeling with Selective State Spaces" (2023), without the
short causal convolution (which would add a window of past inputs to the carry). Per channel `h` of
`H` and state `n` of `N`:
- `Delta[..., H] = softplus(W_dt x + dt_bias)`, `A[H, N] = -exp(A_log)` (S4D-real init:
  `A = -(n+1)`);
- `a = exp(Delta A)` in (0, 1); with `negative_eigenvalues`, `a -> 2a - 1` in (-1, 1)
  (Grazzi et al., "Unlocking State-Tracking in Linear RNNs Through Negative Eigenvalues", 2025);
- `b = Delta * B(x) * x`, state `s[B, H, N]`, `y = (C(x) . s + D x) * silu(W_z x)`.

Memory: like Mamba's selective scan, a whole sequence never holds the `[T, B, H, N]` coefficients
or states. `selective_scan` runs over chunks of `SEQUENCE_CHUNK` steps; each chunk builds its
`a`, `b` (`[K, B, H, N]`), runs the resettable scan in the configured mode and reads out
`C(x) . s` before the next chunk. The chunk is rematerialised (`jax.checkpoint`), so the backward
pass keeps only the state at each chunk boundary (`[T / K, B, H, N]`) and recomputes the rest.
"""

import dataclasses
import functools
import math
from typing import ClassVar

import flax.linen as nn
import jax
import jax.numpy as jnp
from jaxtyping import Array, Bool, Float

from rlssm.cores.base import LinearConfig, require
from rlssm.cores.layers import BlockStack, LinearMixer
from rlssm.cores.scan import linear_scan, resolve_scan_mode

SEQUENCE_CHUNK = 16
"""Steps `K` per rematerialised chunk of `selective_scan`: the backward pass stores one state
`[B, H, N]` per chunk and recomputes one chunk's `[K, B, H, N]` states at a time."""


@dataclasses.dataclass(frozen=True)
class S6Config(LinearConfig):
    """Selective SSM stack: input projection D->H, then num_layers residual S6 blocks."""

    state_size: int = 16
    """State size N per channel (the carry holds H * N reals per layer)."""
    dt_min: float = 1e-3
    """Smallest initial time step."""
    dt_max: float = 1e-1
    """Largest initial time step."""
    negative_eigenvalues: bool = False
    """Let the transition range over (-1, 1) instead of (0, 1), for state tracking (parity)."""
    activation: str = "identity"
    """After the mixer (the S6 layer already has its own silu gate)."""

    name: ClassVar[str] = "s6"

    def __post_init__(self) -> None:
        super().__post_init__()
        require(self.state_size >= 1, "S6Config.state_size must be >= 1.")
        require(0 < self.dt_min <= self.dt_max, "S6Config needs 0 < dt_min <= dt_max.")

    def build(self) -> "S6Core":
        return S6Core(config=self)


def _eigenvalues(exponent, negative_eigenvalues: bool):
    """`exp(Delta A)`, or `2 exp(Delta A) - 1` in (-1, 1), from `exponent = Delta A` (any
    layout)."""
    a = jnp.exp(exponent)
    return 2.0 * a - 1.0 if negative_eigenvalues else a


def _transition(delta, a_diag, negative_eigenvalues: bool):
    """`a[..., H, N]` from `delta[..., H]`, `A[H, N]` (see `_eigenvalues`)."""
    return _eigenvalues(delta[..., None] * a_diag, negative_eigenvalues)


def _input_term(delta, b_x, x):
    """`b[..., H, N] = Delta[..., H] * B(x)[..., N] * x[..., H]`."""
    return delta[..., None] * b_x[..., None, :] * x[..., None]


# The fused sequential path keeps the state transposed, `s[B, N, H]`, so that the width `H`
# is the minor axis of every elementwise operation and the sums over `N` are not minor-axis
# reductions of length N (both several times slower in XLA's CPU code for a short `N`).


def _zero_at(start, x):
    """`0 if start else x` per batch row of `x[B, ...]`, `start[B]`."""
    return jnp.where(start.reshape(start.shape + (1,) * (x.ndim - 1)), 0.0, x)


def _step_t(h, inputs, a_t, negative_eigenvalues):
    """One step in the `[B, N, H]` layout: `(s[t], C(x[t]) . s[t] [B, H])`; `a_t = A^T[N, H]`."""
    delta, b_x, c_x, x, start = inputs
    a = _eigenvalues(delta[:, None, :] * a_t, negative_eigenvalues)
    h = a * _zero_at(start, h) + delta[:, None, :] * b_x[..., None] * x[:, None, :]
    return h, jnp.einsum("bnh,bn->bh", h, c_x)


def _step_adjoint(carry, inputs, a_t, negative_eigenvalues):
    """One step of the backward loop of `_fused_sequential`, from step `t` to `t - 1`.

    `carry = (m, g_a_rows)`: `m[B, N, H]` the cotangent of `s[t]` from later steps and
    `g_a_rows[B, N, H]` the gradient of `A^T` summed over time (not yet over `B`).
    """
    m, g_a_rows = carry
    (delta, b_x, c_x, x, start), h_prev, h, g_y = inputs
    e = jnp.exp(delta[:, None, :] * a_t)
    g = m + c_x[..., None] * g_y[:, None, :]
    # The cotangent of the exponent Delta A, zero at a start (the state it scales is zero).
    u = _zero_at(start, g * h_prev * (2.0 * e if negative_eigenvalues else e))
    q = jnp.sum(g * b_x[..., None], axis=1)
    g_delta = jnp.sum(u * a_t, axis=1) + q * x
    g_b_x = jnp.einsum("bnh,bh->bn", g, delta * x)
    g_c_x = jnp.einsum("bnh,bh->bn", h, g_y)
    m = _zero_at(start, (2.0 * e - 1.0 if negative_eigenvalues else e) * g)
    return (m, g_a_rows + u * delta[:, None, :]), (g_delta, g_b_x, g_c_x, q * delta)


@functools.partial(jax.custom_vjp, nondiff_argnums=(3,))
def _fused_sequential(h0, a_t, inputs, negative_eigenvalues):
    """`selective_scan`'s sequential mode on chunked inputs `[C, K, B, ...]`, one step at a time,
    in the transposed layout (`h0[B, N, H]`, `a_t = A^T[N, H]`).

    Returns `(h_last[B, N, H], y[C, K, B, H])`. The VJP stores the state at each chunk's start
    (`[C, B, N, H]`), recomputes one chunk's states at a time and runs the adjoint recurrence
    `m[t - 1] = a[t] * (0 if start[t] else g[t])`, `g[t] = m[t] + C(x[t]) dL/dy[t]` over them.
    """
    return _fused_forward(h0, a_t, inputs, negative_eigenvalues)[0]


def _fused_forward(h0, a_t, inputs, negative_eigenvalues):
    step = functools.partial(_step_t, a_t=a_t, negative_eigenvalues=negative_eigenvalues)

    def chunk(h, chunk_inputs):
        h_last, y = jax.lax.scan(step, h, chunk_inputs)
        return h_last, (y, h)

    h_last, (y, chunk_starts) = jax.lax.scan(chunk, h0, inputs)
    return (h_last, y), (a_t, inputs, chunk_starts)


def _fused_backward(negative_eigenvalues, residuals, cotangents):
    a_t, inputs, chunk_starts = residuals
    g_last, g_y = cotangents
    adjoint = functools.partial(_step_adjoint, a_t=a_t, negative_eigenvalues=negative_eigenvalues)

    def states(h, step_inputs):
        h = _step_t(h, step_inputs, a_t, negative_eigenvalues)[0]
        return h, h

    def chunk(carry, xs):
        chunk_inputs, h0, g_y_chunk = xs
        _, h = jax.lax.scan(states, h0, chunk_inputs)
        h_prev = jnp.concatenate([h0[None], h[:-1]])
        return jax.lax.scan(adjoint, carry, (chunk_inputs, h_prev, h, g_y_chunk), reverse=True)

    init = (g_last, jnp.zeros_like(g_last))
    (g_h0, g_a_rows), grads = jax.lax.scan(chunk, init, (inputs, chunk_starts, g_y), reverse=True)
    g_delta, g_b_x, g_c_x, g_x = grads
    return g_h0, jnp.sum(g_a_rows, axis=0), (g_delta, g_b_x, g_c_x, g_x, None)


_fused_sequential.defvjp(_fused_forward, _fused_backward)


def _chunk(h0, inputs, a_diag, negative_eigenvalues, scan_mode, chunk_size):
    """One chunk: `(h_last[B, H, N], C(x) . s [K, B, H])` from the state before it."""
    delta, b_x, c_x, x, start = inputs
    a = _transition(delta, a_diag, negative_eigenvalues)
    b = _input_term(delta, b_x, x)
    h_last, h = linear_scan(a, b, start, h0, scan_mode, chunk_size=chunk_size)
    return h_last, jnp.einsum("...hn,...n->...h", h, c_x)


def selective_scan(
    h0: Float[Array, "B H N"],
    delta: Float[Array, "T B H"],
    a_diag: Float[Array, "H N"],
    b_x: Float[Array, "T B N"],
    c_x: Float[Array, "T B N"],
    x: Float[Array, "T B H"],
    start: Bool[Array, "T B"],
    negative_eigenvalues: bool = False,
    scan_mode: str = "auto",
    chunk_size: int = 64,
    sequence_chunk: int = SEQUENCE_CHUNK,
) -> tuple[Float[Array, "B H N"], Float[Array, "T B H"]]:
    """`(s_last, y)` of `s[t] = a[t] * (0 if start[t] else s[t-1]) + b[t]`, `y[t] = C(x[t]) . s[t]`.

    `a = _transition(delta, a_diag)`, `b = _input_term(delta, b_x, x)`; the same numbers as
    `linear_scan` over the whole `[T, B, H, N]` coefficients followed by the readout, computed
    `sequence_chunk` steps at a time under `jax.checkpoint` (so neither pass stores `[T, B, H, N]`).
    The sequence is padded to whole chunks with `delta = 0` (`a = 1`, `b = 0`: the state is kept).
    """
    length = delta.shape[0]
    k = min(sequence_chunk, length)
    pad = -length % k
    inputs = (delta, b_x, c_x, x, start)
    if pad:
        inputs = tuple(jnp.pad(v, [(0, pad)] + [(0, 0)] * (v.ndim - 1)) for v in inputs)
    inputs = tuple(v.reshape(-1, k, *v.shape[1:]) for v in inputs)
    scan_mode = resolve_scan_mode(scan_mode)
    if scan_mode == "sequential":
        h_last, y = _fused_sequential(
            jnp.swapaxes(h0, -1, -2), a_diag.T, inputs, negative_eigenvalues
        )
        return jnp.swapaxes(h_last, -1, -2), y.reshape(-1, *y.shape[2:])[:length]
    body = jax.checkpoint(
        functools.partial(
            _chunk,
            a_diag=a_diag,
            negative_eigenvalues=negative_eigenvalues,
            scan_mode=scan_mode,
            chunk_size=chunk_size,
        )
    )
    h_last, y = jax.lax.scan(body, h0, inputs)
    return h_last, y.reshape(-1, *y.shape[2:])[:length]


def _dt_bias_init(dt_min: float, dt_max: float):
    def init(key, shape, dtype=jnp.float32):
        log_dt = jax.random.uniform(key, shape, dtype, math.log(dt_min), math.log(dt_max))
        dt = jnp.exp(log_dt)
        return dt + jnp.log(-jnp.expm1(-dt))  # inverse softplus

    return init


class S6Layer(LinearMixer):
    """One selective SSM, `x[..., H] -> y[..., H]`, state `s[B, H, N]` float32."""

    config: S6Config

    def state_shape(self) -> tuple[int, ...]:
        return (self.config.hidden_size, self.config.state_size)

    def setup(self):
        cfg = self.config
        h, n = cfg.hidden_size, cfg.state_size
        self.a_log = self.param(
            "A_log", lambda _: jnp.log(jnp.tile(jnp.arange(1.0, n + 1.0), (h, 1)))
        )
        self.dt = nn.Dense(h, bias_init=_dt_bias_init(cfg.dt_min, cfg.dt_max))
        self.bc = nn.Dense(2 * n, use_bias=False)
        self.gate = nn.Dense(h)
        self.d = self.param("D", nn.initializers.ones, (h,))

    def coefficients(self, x):
        delta = nn.softplus(self.dt(x))
        a = _transition(delta, -jnp.exp(self.a_log), self.config.negative_eigenvalues)
        b_x = self.bc(x)[..., : self.config.state_size]
        return a, _input_term(delta, b_x, x)

    def readout(self, h, x):
        c_x = self.bc(x)[..., self.config.state_size :]
        return self._output(jnp.einsum("...hn,...n->...h", h, c_x), x)

    def _output(self, c_s, x):
        """`(C(x) . s + D x) * silu(W_z x)` from `c_s = C(x) . s`."""
        return (c_s + self.d * x) * nn.silu(self.gate(x))

    def __call__(
        self, carry: Float[Array, "B H N"], x: Float[Array, "T B H"], start: Bool[Array, "T B"]
    ) -> tuple[Float[Array, "B H N"], Float[Array, "T B H"]]:
        """The whole sequence through `selective_scan` (no `[T, B, H, N]` array is stored)."""
        cfg = self.config
        b_x, c_x = jnp.split(self.bc(x), 2, axis=-1)
        carry, c_s = selective_scan(
            carry,
            nn.softplus(self.dt(x)),
            -jnp.exp(self.a_log),
            b_x,
            c_x,
            x,
            start,
            negative_eigenvalues=cfg.negative_eigenvalues,
            scan_mode=cfg.scan_mode,
            chunk_size=cfg.chunk_size,
        )
        return carry, self._output(c_s, x)


class S6Core(BlockStack):
    """The selective-SSM memory core: `x[T, B, D] -> y[T, B, H]`."""

    config: S6Config
    mixer_cls: ClassVar = S6Layer
