"""Gated DeltaNet (and Gated DeltaProduct): a matrix-state linear RNN updated by the delta rule.

Yang, Kautz & Hatamizadeh, "Gated Delta Networks: Improving Mamba2 with Delta Rule" (2025);
Siems et al., "DeltaProduct: Improving State-Tracking in Linear RNNs via Householder Products"
(2025) for `num_householder > 1`; Grazzi et al., "Unlocking State-Tracking in Linear RNNs Through
Negative Eigenvalues" (2025) for `negative_eigenvalues`.

Per head (of `num_heads`) the state is a matrix `S[K, V]` (`K = V = head_dim`), keys along its
rows, so `S^T k` reads the value stored under key `k`. With one Householder step per token:

    S_t = alpha_t (I - beta_t k_t k_t^T) S_{t-1} + beta_t k_t v_t^T,        o_t = S_t^T q_t

i.e. the linear recurrence `S_t = A_t S_{t-1} + B_t` with the matrix transition
`A_t = alpha_t (I - beta_t k_t k_t^T)` (`[K, K]`, multiplied from the left) and
`B_t = beta_t k_t v_t^T`. Equivalently `S <- alpha S`, then the delta rule
`S <- S + beta k (v - S^T k)^T` (the value under `k` moves a fraction `beta` towards `v`). With
`num_householder = n`, each token makes `n` such delta-rule steps (keys `k_{t,j}`, values `v_{t,j}`,
rates `beta_{t,j}`) after the one decay: `A_t = alpha_t prod_{j=n..1} (I - beta_{t,j} k k^T)`.

From the input `x[..., H]` of the layer (the short causal convolution of the papers is left out,
as in S6, so that the carry is the state alone; `W_q, W_k, W_v, W_b, W_g` are one projection):
- `q = l2norm(silu(W_q x))`, `k_j = l2norm(silu(W_k x)_j)`, `v_j = silu(W_v x)_j`, per head;
- `alpha = exp(-exp(A_log) softplus(W_a x + dt_bias))` in (0, 1) per head (Mamba-2's decay);
- `beta_j = sigmoid(W_b x)_j` in (0, 1); with `negative_eigenvalues`, `2 sigmoid(.)` in (0, 2),
  so the eigenvalue `1 - beta` of `I - beta k k^T` along `k` ranges over (-1, 1) instead of (0, 1)
  (the others are 1); every eigenvalue of `A_t` has modulus at most `alpha_t < 1`;
- `y = W_o (rmsnorm(o) * silu(W_g x))`, the norm per head over `V`.

`start[t]` zeroes `S` before step `t`. Three forms compute the same states (`scan_mode`):
`sequential` (a `lax.scan` of the delta-rule steps, `O(K V)` per step, the same function as
`step`), `parallel` (`lax.associative_scan` over the pairs `(A_t, B_t)` with dense `[K, K]`
transitions `[T, B, heads, K, K]` and `_reset_compose`, `O(K^2 (K + V))` per combine, depth
`O(log T)`; for small heads), and `chunked` (parallel inside chunks of `chunk_size`, sequential
across). `auto` is sequential on the CPU. Gradients are JAX's autodiff of each form.
State `S[B, num_heads, K, V]` float32 per layer.
"""

import dataclasses
import itertools
import math
from typing import ClassVar

import flax.linen as nn
import jax
import jax.numpy as jnp
from jaxtyping import Array, Bool, Float

from rlssm.cores.base import LinearConfig, require
from rlssm.cores.layers import BlockStack
from rlssm.cores.scan import resolve_scan_mode

DT_MIN, DT_MAX = 1e-3, 1e-1
"""Range of the initial decay time steps `softplus(dt_bias)` (as S6's defaults)."""
EPSILON = 1e-6


@dataclasses.dataclass(frozen=True)
class GatedDeltaNetConfig(LinearConfig):
    """Gated DeltaNet stack: input projection D->H, then num_layers residual delta-rule blocks."""

    num_heads: int = 4
    """Heads; each holds a head_dim x head_dim state (the carry: num_heads * head_dim^2 reals)."""
    head_dim: int = 16
    """Key and value width K = V of a head."""
    num_householder: int = 1
    """Delta-rule (Householder) steps per token: 1 is Gated DeltaNet, more is Gated DeltaProduct."""
    negative_eigenvalues: bool = False
    """beta in (0, 2) instead of (0, 1): transition eigenvalues in (-1, 1), for state tracking."""
    activation: str = "identity"
    """After the mixer (the layer already has its own silu output gate)."""

    name: ClassVar[str] = "gated_deltanet"

    def __post_init__(self) -> None:
        super().__post_init__()
        cls = type(self).__name__
        for field in ("num_heads", "head_dim", "num_householder"):
            value = getattr(self, field)
            require(value >= 1, f"{cls}.{field} must be >= 1, got {value}.")

    def build(self) -> "GatedDeltaNetCore":
        return GatedDeltaNetCore(config=self)


def _l2norm(x: jax.Array) -> jax.Array:
    return x * jax.lax.rsqrt(jnp.sum(jnp.square(x), axis=-1, keepdims=True) + EPSILON)


def _heads_first(x: jax.Array) -> jax.Array:
    """`s[T, B, ...]` or `[B, ...]` -> broadcastable against `[..., heads, K, V]`."""
    return x[..., None, None, None]


def delta_update(state, k, v, alpha, beta, start):
    """One token: `S <- alpha (0 if start else S)`, then for each j `S += beta k (v - S^T k)^T`.

    Args:
        state: `S[B, heads, K, V]`.
        k: `[B, n, heads, K]` unit keys; v: `[B, n, heads, V]`; beta: `[B, n, heads]`.
        alpha: `[B, heads]` decay; start: `[B]`.
    """
    state = jnp.where(_heads_first(start), 0.0, state) * alpha[..., None, None]
    for j in range(k.shape[-3]):
        k_j, v_j, beta_j = k[..., j, :, :], v[..., j, :, :], beta[..., j, :]
        error = v_j - jnp.einsum("...kv,...k->...v", state, k_j)
        state = state + beta_j[..., None, None] * k_j[..., :, None] * error[..., None, :]
    return state


def transition_pairs(k, v, alpha, beta):
    """Each token's affine map `S -> A S + B` as dense `(A[..., heads, K, K], B[..., heads, K, V])`.

    `A = alpha prod_j (I - beta_j k_j k_j^T)`, `B` the state the token writes from `S = 0`.
    """
    width = k.shape[-1]
    a = alpha[..., None, None] * jnp.eye(width, dtype=k.dtype)
    b = jnp.zeros((*v.shape[:-3], v.shape[-2], width, v.shape[-1]), v.dtype)
    for j in range(k.shape[-3]):
        k_j, v_j, beta_j = k[..., j, :, :], v[..., j, :, :], beta[..., j, :, None, None]
        a = a - beta_j * k_j[..., :, None] * jnp.einsum("...k,...kl->...l", k_j, a)[..., None, :]
        error = v_j - jnp.einsum("...kv,...k->...v", b, k_j)
        b = b + beta_j * k_j[..., :, None] * error[..., None, :]
    return a, b


def _reset_compose(earlier, later):
    """Associative composition of `(A, B, start)` elements (`S -> A S + B`, zeroing S at a start);
    `later` follows `earlier`: `(A_l A_e, A_l B_e + B_l)` unless `later` starts an episode."""
    a_e, b_e, start_e = earlier
    a_l, b_l, start_l = later
    a = jnp.where(start_l, a_l, a_l @ a_e)
    b = jnp.where(start_l, b_l, a_l @ b_e + b_l)
    return a, b, jnp.logical_or(start_e, start_l)


def parallel_states(a, b, start, state):
    """States `S[T, B, heads, K, V]` of the resettable recurrence by an associative scan.

    Args:
        a: `[T, B, heads, K, K]`; b: `[T, B, heads, K, V]`; start: `[T, B]`; state: `[B, ...]`.
    """
    start = _heads_first(start)
    # Fold the incoming carry into the first element (equivalent to prepending it).
    b = b.at[0].add(a[0] @ jnp.where(start[0], 0.0, state))
    _, states, _ = jax.lax.associative_scan(_reset_compose, (a, b, start))
    return states


def chunked_states(a, b, start, state, chunk_size: int):
    """`parallel_states` inside chunks of `chunk_size` steps, a `lax.scan` across chunks."""
    length = b.shape[0]
    pad = -length % chunk_size
    # The padding (identity maps) goes after the end, so it never feeds a state that is kept.
    eye = jnp.broadcast_to(jnp.eye(a.shape[-1], dtype=a.dtype), (pad, *a.shape[1:]))
    a = jnp.concatenate([a, eye])
    b = jnp.pad(b, [(0, pad)] + [(0, 0)] * (b.ndim - 1))
    start = jnp.pad(start, [(0, pad), (0, 0)])
    n_chunks = b.shape[0] // chunk_size

    def body(state, chunk):
        states = parallel_states(*chunk, state)
        return states[-1], states

    chunks = tuple(u.reshape(n_chunks, chunk_size, *u.shape[1:]) for u in (a, b, start))
    _, states = jax.lax.scan(body, state, chunks)
    return states.reshape(-1, *states.shape[2:])[:length]


def _dt_bias_init(key, shape, dtype=jnp.float32):
    dt = jnp.exp(jax.random.uniform(key, shape, dtype, math.log(DT_MIN), math.log(DT_MAX)))
    return dt + jnp.log(-jnp.expm1(-dt))  # inverse softplus


class GatedDeltaNetLayer(nn.Module):
    """One Gated DeltaNet (DeltaProduct) mixer, `x[..., H] -> y[..., H]`."""

    config: GatedDeltaNetConfig

    def setup(self):
        cfg = self.config
        heads, width, n = cfg.num_heads, cfg.head_dim, cfg.num_householder
        # q, k, v, beta and the output gate from one matmul.
        self.project = nn.Dense((2 + 2 * n) * heads * width + n * heads)
        self.dt = nn.Dense(heads, bias_init=_dt_bias_init)
        self.a_log = self.param(
            "A_log", lambda key: jnp.log(jax.random.uniform(key, (heads,), minval=1, maxval=16))
        )
        self.norm_scale = self.param("norm_scale", nn.initializers.ones, (width,))
        self.output = nn.Dense(cfg.hidden_size)

    def initialize_carry(self, batch_size: int) -> Float[Array, "B heads K V"]:
        cfg = self.config
        return jnp.zeros((batch_size, cfg.num_heads, cfg.head_dim, cfg.head_dim), jnp.float32)

    def inputs(self, x: jax.Array):
        """`(q[..., heads, K], k[..., n, heads, K], v[..., n, heads, V], alpha[..., heads],
        beta[..., n, heads], gate[..., heads * V])` of `x[..., H]`."""
        cfg = self.config
        lead = x.shape[:-1]
        heads, width, n = cfg.num_heads, cfg.head_dim, cfg.num_householder
        sizes = (heads * width, n * heads * width, n * heads * width, n * heads)
        q, k, v, beta, gate = jnp.split(self.project(x), list(itertools.accumulate(sizes)), axis=-1)
        q = _l2norm(nn.silu(q).reshape(*lead, heads, width))
        k = _l2norm(nn.silu(k).reshape(*lead, n, heads, width))
        v = nn.silu(v).reshape(*lead, n, heads, width)
        alpha = jnp.exp(-jnp.exp(self.a_log) * nn.softplus(self.dt(x)))
        beta = nn.sigmoid(beta).reshape(*lead, n, heads)
        if cfg.negative_eigenvalues:
            beta = 2.0 * beta
        return q, k, v, alpha, beta, nn.silu(gate)

    def readout(self, o: jax.Array, gate: jax.Array) -> jax.Array:
        """`o[..., heads, V]` -> `y[..., H]`: per-head RMS norm, output gate, output projection."""
        o = o * jax.lax.rsqrt(jnp.mean(jnp.square(o), axis=-1, keepdims=True) + EPSILON)
        return self.output((o * self.norm_scale).reshape(gate.shape) * gate)

    def __call__(
        self,
        carry: Float[Array, "B heads K V"],
        x: Float[Array, "T B H"],
        start: Bool[Array, "T B"],
    ) -> tuple[Float[Array, "B heads K V"], Float[Array, "T B H"]]:
        cfg = self.config
        q, k, v, alpha, beta, gate = self.inputs(x)
        mode = resolve_scan_mode(cfg.scan_mode)
        if mode == "sequential":

            def body(state, inputs):
                q_t, *rest = inputs
                state = delta_update(state, *rest)
                return state, jnp.einsum("...kv,...k->...v", state, q_t)

            carry, o = jax.lax.scan(body, carry, (q, k, v, alpha, beta, start))
        else:
            a, b = transition_pairs(k, v, alpha, beta)
            if mode == "parallel":
                states = parallel_states(a, b, start, carry)
            else:
                states = chunked_states(a, b, start, carry, cfg.chunk_size)
            carry = states[-1]
            o = jnp.einsum("...kv,...k->...v", states, q)
        return carry, self.readout(o, gate)

    def step(
        self, carry: Float[Array, "B heads K V"], x: Float[Array, "B H"], start: Bool[Array, " B"]
    ) -> tuple[Float[Array, "B heads K V"], Float[Array, "B H"]]:
        q, k, v, alpha, beta, gate = self.inputs(x)
        carry = delta_update(carry, k, v, alpha, beta, start)
        return carry, self.readout(jnp.einsum("...kv,...k->...v", carry, q), gate)


class GatedDeltaNetCore(BlockStack):
    """The Gated DeltaNet (DeltaProduct) memory core: `x[T, B, D] -> y[T, B, H]`."""

    config: GatedDeltaNetConfig
    mixer_cls: ClassVar = GatedDeltaNetLayer
