"""minGRU: a GRU whose gates ignore the state, so the recurrence is linear and scans in parallel.

Feng et al., "Were RNNs All We Needed?" (2024): `z = sigmoid(W_z x)`, `h_tilde = W_h x`,
`h_t = (1 - z) * h_{t-1} + z * h_tilde`, i.e. `a = 1 - z` in (0, 1), `b = z * h_tilde`.
With `negative_eigenvalues`, `a = 1 - 2z` in (-1, 1) (Grazzi et al., 2025), for state tracking.
State `h[B, H]` float32.
"""

import dataclasses
from typing import ClassVar

import flax.linen as nn
import jax.numpy as jnp

from rlssm.cores.base import LinearConfig
from rlssm.cores.layers import BlockStack, LinearMixer


@dataclasses.dataclass(frozen=True)
class MinGRUConfig(LinearConfig):
    """minGRU stack: input projection D->H, then num_layers residual minGRU blocks."""

    negative_eigenvalues: bool = False
    """Let the transition range over (-1, 1) instead of (0, 1), for state tracking (parity)."""
    activation: str = "identity"
    """After the mixer."""

    name: ClassVar[str] = "mingru"

    def build(self) -> "MinGRUCore":
        return MinGRUCore(config=self)


class MinGRULayer(LinearMixer):
    """One minGRU, `x[..., H] -> y[..., H]`."""

    config: MinGRUConfig

    def state_shape(self) -> tuple[int, ...]:
        return (self.config.hidden_size,)

    def setup(self):
        self.gates = nn.Dense(2 * self.config.hidden_size)

    def coefficients(self, x):
        z_logit, h_tilde = jnp.split(self.gates(x), 2, axis=-1)
        z = nn.sigmoid(z_logit)
        a = 1.0 - 2.0 * z if self.config.negative_eigenvalues else 1.0 - z
        return a, z * h_tilde

    def readout(self, h, x):
        return h


class MinGRUCore(BlockStack):
    """The minGRU memory core: `x[T, B, D] -> y[T, B, H]`."""

    config: MinGRUConfig
    mixer_cls: ClassVar = MinGRULayer
