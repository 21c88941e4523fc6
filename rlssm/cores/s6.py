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
from rlssm.cores.scan import linear_scan, linear_step, resolve_scan_mode

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


def _transition(delta, a_diag, negative_eigenvalues: bool):
    """`a[..., H, N] = exp(Delta A)` (or `2 exp(Delta A) - 1`) from `delta[..., H]`, `A[H, N]`."""
    a = jnp.exp(delta[..., None] * a_diag)
    return 2.0 * a - 1.0 if negative_eigenvalues else a


def _input_term(delta, b_x, x):
    """`b[..., H, N] = Delta[..., H] * B(x)[..., N] * x[..., H]`."""
    return delta[..., None] * b_x[..., None, :] * x[..., None]


def _step(h, inputs, a_diag, negative_eigenvalues):
    delta, b_x, c_x, x, start = inputs
    a = _transition(delta, a_diag, negative_eigenvalues)
    h = linear_step(a, _input_term(delta, b_x, x), start, h)
    return h, jnp.einsum("...hn,...n->...h", h, c_x)


def _chunk(h0, inputs, a_diag, negative_eigenvalues, scan_mode, chunk_size):
    """One chunk: `(h_last[B, H, N], C(x) . s [K, B, H])` from the state before it."""
    if scan_mode == "sequential":
        step = functools.partial(_step, a_diag=a_diag, negative_eigenvalues=negative_eigenvalues)
        return jax.lax.scan(step, h0, inputs)
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
    body = jax.checkpoint(
        functools.partial(
            _chunk,
            a_diag=a_diag,
            negative_eigenvalues=negative_eigenvalues,
            scan_mode=resolve_scan_mode(scan_mode),
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
