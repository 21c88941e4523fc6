"""LRU: the Linear Recurrent Unit on the resettable scan.

Orvieto et al., "Resurrecting Recurrent Neural Networks for Long Sequences" (ICML 2023). Symbols:
- `lambda_j = exp(-exp(nu_log_j) + i exp(theta_log_j))` (exponential parameterisation:
  `|lambda| < 1` for every parameter value, so stable by construction);
- ring initialisation: `|lambda|^2 ~ U[r_min^2, r_max^2]`, phase `~ U[0, max_phase]`;
- `gamma_j = sqrt(1 - |lambda_j|^2)` normalises the input, `B, C` complex, `D` real;
- `h_t = lambda * h_{t-1} + gamma * (B x_t)`, `y_t = Re(C h_t) + D * x_t`.
With `max_phase >= pi` the eigenvalues can reach the negative real axis (needed for state tracking
such as parity), so no extra option is needed for that here. `P` state size, `H` width.
"""

import dataclasses
import math
from typing import ClassVar

import flax.linen as nn
import jax
import jax.numpy as jnp

from rlssm.cores.base import LinearConfig, require
from rlssm.cores.layers import BlockStack, LinearMixer


@dataclasses.dataclass(frozen=True)
class LRUConfig(LinearConfig):
    """LRU stack: input projection D->H, then num_layers residual LRU blocks."""

    state_size: int = 128
    """Complex state size P."""
    r_min: float = 0.9
    """Smallest initial eigenvalue modulus."""
    r_max: float = 0.999
    """Largest initial eigenvalue modulus."""
    max_phase: float = 2 * math.pi
    """Initial phases are drawn from [0, max_phase]."""

    name: ClassVar[str] = "lru"

    def __post_init__(self) -> None:
        super().__post_init__()
        require(self.state_size >= 1, "LRUConfig.state_size must be >= 1.")
        require(
            0 <= self.r_min < self.r_max < 1,
            f"LRUConfig needs 0 <= r_min < r_max < 1, got {self.r_min}, {self.r_max}.",
        )
        require(self.max_phase > 0, "LRUConfig.max_phase must be > 0.")

    def build(self) -> "LRUCore":
        return LRUCore(config=self)


def ring_init(r_min: float, r_max: float, max_phase: float):
    """Initialisers of `(nu_log[P], theta_log[P])` for eigenvalues uniform on a ring."""

    def nu_log(key, shape):
        u = jax.random.uniform(key, shape)
        return jnp.log(-0.5 * jnp.log(u * (r_max**2 - r_min**2) + r_min**2))

    def theta_log(key, shape):
        return jnp.log(max_phase * jax.random.uniform(key, shape, minval=1e-6))

    return nu_log, theta_log


class LRULayer(LinearMixer):
    """One LRU, `x[..., H] -> y[..., H]`, state `h[B, P]` complex64 (pairs in sequences)."""

    config: LRUConfig
    state_dtype: ClassVar = jnp.complex64
    complex_pairs: ClassVar = True

    def state_shape(self) -> tuple[int, ...]:
        return (self.config.state_size,)

    def setup(self):
        cfg = self.config
        h, p = cfg.hidden_size, cfg.state_size
        nu_init, theta_init = ring_init(cfg.r_min, cfg.r_max, cfg.max_phase)
        self.nu_log = self.param("nu_log", nu_init, (p,))
        self.theta_log = self.param("theta_log", theta_init, (p,))
        self.gamma_log = self.param(
            "gamma_log", lambda _: jnp.log(jnp.sqrt(1.0 - jnp.abs(self.eigenvalues()) ** 2))
        )
        self.b = self.param("B", nn.initializers.normal(1.0 / math.sqrt(2 * h)), (p, h, 2))
        self.c = self.param("C", nn.initializers.normal(1.0 / math.sqrt(p)), (h, p, 2))
        self.d = self.param("D", nn.initializers.normal(1.0), (h,))

    def eigenvalues(self) -> jax.Array:
        """`lambda[P]`, modulus below one for every parameter value."""
        return jnp.exp(-jnp.exp(self.nu_log) + 1j * jnp.exp(self.theta_log))

    def coefficients(self, x):
        """`(lambda[P], gamma * B x[..., 2, P])`, the latter as (real, imaginary) pairs."""
        gamma = jnp.exp(self.gamma_log)[:, None]
        # x is real: one real matmul [H, 2P] writes the pairs the scan reads.
        kernel = jnp.concatenate([self.b[..., 0] * gamma, self.b[..., 1] * gamma]).T
        bx = (x @ kernel).reshape(*x.shape[:-1], 2, self.config.state_size)
        return self.eigenvalues().astype(jnp.complex64), bx

    def readout(self, h, x):
        """`y = Re(C h) + D x` from the pairs `h[..., 2, P]`: one matmul [2P, H]."""
        kernel = jnp.concatenate([self.c[..., 0], -self.c[..., 1]], axis=1).T
        return h.reshape(*h.shape[:-2], -1) @ kernel + self.d * x


class LRUCore(BlockStack):
    """The LRU memory core: `x[T, B, D] -> y[T, B, H]` through `L` residual LRU blocks."""

    config: LRUConfig
    mixer_cls: ClassVar = LRULayer
