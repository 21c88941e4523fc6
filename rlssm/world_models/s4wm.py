"""S4WM: the world model whose backbone runs in parallel over time.

Deng, Park, Ahn, "Facing Off World Model Backbones: RNNs, Transformers, and S4" (NeurIPS 2023).
The paper's symbols, with its action `a_t` (the one that led to `x_t`) = our `action[t]`:
- posterior `q(z_t | x_t)` from the current observation alone (`posterior_sees_backbone=False`),
  so all latents of a sequence are drawn before the backbone runs;
- `g_t = MLP(concat(z_{t-1}, a_t))` (the backbone input `u[t]`);
- `h_{1:T}, s_T = S4Blocks(g_{1:T}, s_0)`: here any memory core (`config.core`, S5 by default),
  run over the whole sequence at once (a parallel scan for the linear cores);
- prior `p(z_t | h_t)`; decoder `p(x_t | z_t, h_t)`, reward and continue heads on `(z_t, h_t)`.
Imagination steps the core with `step`. The paper's S4 blocks are replaced by the project's cores
(S5, LRU, ...); its KL balancing is available as `kl_dyn_scale=0.8, kl_rep_scale=0.2, kl_free=0`.
"""

from typing import ClassVar

from rlssm.world_models.base import WorldModel


class S4WM(WorldModel):
    """S4WM: posterior from the observation alone, backbone over the sequence in parallel."""

    name: ClassVar[str] = "s4wm"
    posterior_sees_backbone: ClassVar[bool] = False
    default_core: ClassVar[str] = "s5"
