"""S5: a multi-input multi-output diagonal state-space layer on the resettable scan.

Smith, Warrington, Linderman, "Simplified State Space Layers for Sequence Modeling" (ICLR 2023), and
its resettable RL variant, Lu et al., "Structured State Space Models for In-Context Reinforcement
Learning" (NeurIPS 2023). Paper symbols, per layer (`P'` = `P / 2` under conjugate symmetry):
- `Lambda[P']` continuous-time eigenvalues (HiPPO-LegS normal part, `rlssm.cores.ssm_init`);
- `B_tilde[P', H] = V^-1 B`, `C_tilde[H, P'] = C V`, `D[H]` feed-through;
- `Delta[P'] = step_rescale * exp(log_step)`; `Lambda_bar`, `B_bar` (ZOH or bilinear);
- recurrence `x_t = Lambda_bar * x_{t-1} + B_bar u_t`, output `y_t = Re(C_tilde x_t) (x2) + D u_t`.
Stability by construction: `Re(Lambda) < 0` always (clipped at `-1e-4`, or `-exp(.)`), so
`|Lambda_bar| < 1` for both discretisations.
"""

import dataclasses
import math
from typing import ClassVar, Literal

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from rlssm.cores.base import LinearConfig, require
from rlssm.cores.layers import BlockStack, LinearMixer
from rlssm.cores.ssm_init import block_diagonal_hippo

C_INITS = ("trunc_standard_normal", "lecun_normal", "complex_normal")


@dataclasses.dataclass(frozen=True)
class S5Config(LinearConfig):
    """S5 stack: input projection D->H, then num_layers residual S5 blocks."""

    state_size: int = 128
    """State size P (before conjugate symmetry halves it)."""
    blocks: int = 1
    """J: the HiPPO initialisation is block-diagonal with J blocks of size P / J."""
    conj_sym: bool = True
    """Keep one eigenvalue of each conjugate pair (P / 2 complex states) and output 2 Re(C x)."""
    discretization: Literal["zoh", "bilinear"] = "zoh"
    """How Lambda, B are discretised with step Delta."""
    dt_min: float = 1e-3
    """Smallest initial time step."""
    dt_max: float = 1e-1
    """Largest initial time step."""
    step_rescale: float = 1.0
    """Multiplies every time step (for inputs sampled at another rate)."""
    c_init: Literal["trunc_standard_normal", "lecun_normal", "complex_normal"] = (
        "trunc_standard_normal"
    )
    """Initialisation of C (the first two are drawn in the original basis, then multiplied by V)."""
    eigenvalue_param: Literal["clip", "exp"] = "clip"
    """Re(Lambda): a free parameter clipped at -1e-4 (S5), or -exp(parameter)."""

    name: ClassVar[str] = "s5"

    def __post_init__(self) -> None:
        super().__post_init__()
        p, j = self.state_size, self.blocks
        require(j >= 1 and p % j == 0, f"S5Config.state_size={p} must be divisible by blocks={j}.")
        require(
            not self.conj_sym or (p // j) % 2 == 0,
            f"S5Config: with conj_sym, state_size / blocks = {p // j} must be even.",
        )
        require(0 < self.dt_min <= self.dt_max, "S5Config needs 0 < dt_min <= dt_max.")
        require(self.step_rescale > 0, "S5Config.step_rescale must be > 0.")
        require(
            self.discretization in ("zoh", "bilinear"), "S5Config.discretization: zoh|bilinear."
        )
        require(self.c_init in C_INITS, f"S5Config.c_init must be one of {C_INITS}.")
        require(self.eigenvalue_param in ("clip", "exp"), "S5Config.eigenvalue_param: clip|exp.")

    @property
    def states(self) -> int:
        """Number of complex states P' actually stored."""
        return self.state_size // 2 if self.conj_sym else self.state_size

    def build(self) -> "S5Core":
        return S5Core(config=self)


def discretize(lam, b_tilde, delta, method: str):
    """`(Lambda[P], B_tilde[P, H], Delta[P]) -> (Lambda_bar[P], B_bar[P, H])` (ZOH or bilinear)."""
    if method == "zoh":
        lam_bar = jnp.exp(lam * delta)
        return lam_bar, ((lam_bar - 1.0) / lam)[:, None] * b_tilde
    bl = 1.0 / (1.0 - delta / 2.0 * lam)
    return bl * (1.0 + delta / 2.0 * lam), (bl * delta)[:, None] * b_tilde


def _as_complex(pair: jax.Array) -> jax.Array:
    return pair[..., 0] + 1j * pair[..., 1]


def _stack(z: jax.Array) -> jax.Array:
    return jnp.stack([z.real, z.imag], -1).astype(jnp.float32)


class S5SSM(LinearMixer):
    """One S5 layer, `u[..., H] -> y[..., H]`, state `x[B, P']` complex64 (pairs in sequences)."""

    config: S5Config
    state_dtype: ClassVar = jnp.complex64
    complex_pairs: ClassVar = True

    def state_shape(self) -> tuple[int, ...]:
        return (self.config.states,)

    def setup(self):
        cfg = self.config
        h, p = cfg.hidden_size, cfg.state_size
        lam, v = block_diagonal_hippo(p, cfg.blocks, cfg.conj_sym)
        v_inv = v.conj().T
        if cfg.eigenvalue_param == "clip":
            self.lambda_re = self.param("lambda_re", lambda _: jnp.asarray(lam.real, jnp.float32))
        else:
            log_neg = np.log(-lam.real)
            self.lambda_re = self.param(
                "lambda_log_neg_re", lambda _: jnp.asarray(log_neg, jnp.float32)
            )
        self.lambda_im = self.param("lambda_im", lambda _: jnp.asarray(lam.imag, jnp.float32))

        v_j, v_inv_j = jnp.asarray(v, jnp.complex64), jnp.asarray(v_inv, jnp.complex64)

        def init_b(key):
            return _stack(v_inv_j @ nn.initializers.lecun_normal()(key, (p, h)))

        def init_c(key):
            if cfg.c_init == "complex_normal":
                return jax.random.normal(key, (h, cfg.states, 2)) * math.sqrt(0.5)
            if cfg.c_init == "lecun_normal":
                c = nn.initializers.lecun_normal(in_axis=1, out_axis=0)(key, (h, p, 2))
            else:
                c = jax.random.truncated_normal(key, -2.0, 2.0, (h, p, 2))
            return _stack(_as_complex(c) @ v_j)

        def init_log_step(key):
            lo, hi = math.log(cfg.dt_min), math.log(cfg.dt_max)
            return jax.random.uniform(key, (cfg.states,), minval=lo, maxval=hi)

        self.b_tilde = self.param("B", init_b)
        self.c_tilde = self.param("C", init_c)
        self.d = self.param("D", nn.initializers.normal(1.0), (h,))
        self.log_step = self.param("log_step", init_log_step)

    def eigenvalues(self) -> jax.Array:
        """Continuous-time `Lambda[P']`, real part negative by construction."""
        if self.config.eigenvalue_param == "clip":
            re = jnp.minimum(self.lambda_re, -1e-4)
        else:
            re = -jnp.exp(self.lambda_re)
        return re + 1j * self.lambda_im

    def discrete(self) -> tuple[jax.Array, jax.Array]:
        """`(Lambda_bar[P'], B_bar[P', H])`."""
        delta = self.config.step_rescale * jnp.exp(self.log_step)
        return discretize(
            self.eigenvalues(), _as_complex(self.b_tilde), delta, self.config.discretization
        )

    def coefficients(self, x):
        """`(Lambda_bar[P'], B_bar u[..., 2, P'])`, the latter as (real, imaginary) pairs."""
        lam_bar, b_bar = self.discrete()
        # u is real: one real matmul [H, 2P'] writes the pairs the scan reads.
        kernel = jnp.concatenate([b_bar.real, b_bar.imag]).T.astype(jnp.float32)
        bu = (x @ kernel).reshape(*x.shape[:-1], 2, self.config.states)
        return lam_bar.astype(jnp.complex64), bu

    def readout(self, h, x):
        """`y = Re(C_tilde x) (x2 under conj_sym) + D u` from the pairs `h[..., 2, P']`."""
        scale = 2.0 if self.config.conj_sym else 1.0
        c_re, c_im = self.c_tilde[..., 0], self.c_tilde[..., 1]
        # Re(C x) = C_re Re(x) - C_im Im(x): one matmul [2P', H] over the pairs.
        kernel = scale * jnp.concatenate([c_re, -c_im], axis=1).T
        return h.reshape(*h.shape[:-2], -1) @ kernel + self.d * x


class S5Core(BlockStack):
    """The S5 memory core: `x[T, B, D] -> y[T, B, H]` through `L` residual S5 blocks."""

    config: S5Config
    mixer_cls: ClassVar = S5SSM
