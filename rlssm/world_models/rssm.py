"""RSSM: the recurrent state-space model of Dreamer, as in DreamerV3 (Hafner et al. 2023).

`h_t = f(h_{t-1}, z_{t-1}, a_{t-1})` is the deterministic state (a GRU by default: `config.core`,
stepped with `step`), the prior is `p(z_t | h_t)` and the posterior `q(z_t | h_t, x_t)` reads the
deterministic state (`posterior_sees_backbone=True`). Because `z_t` feeds `h_{t+1}`, `observe` is a
scan over time whatever the core. DreamerV3's action `a_{t-1}` (taken after `x_{t-1}`) is our
`action[t]`; discrete straight-through latents with 1% unimix, free nats and KL balancing
(0.5 / 0.1), symlog observations and two-hot rewards are the config defaults.
"""

from typing import ClassVar

from rlssm.world_models.base import WorldModel


class RSSM(WorldModel):
    """RSSM: posterior conditioned on the deterministic state, run step by step."""

    name: ClassVar[str] = "rssm"
    posterior_sees_backbone: ClassVar[bool] = True
    default_core: ClassVar[str] = "gru"
