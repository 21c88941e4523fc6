"""What the actor and the critic read from the world model's carry (`DreamerConfig.features`).

- "output" (DreamerV3): `concat(z, h)[B, S + H]`, the latent and the backbone's output (of its
  last layer), as the world model's heads read them.
- "full" (R2I's full-state policy): also the backbone's recurrent state of every layer, its
  carry flattened (a complex SSM state as its real and imaginary parts), `[B, S + H + X]`. A
  core without a carry (`none`) gives the same features as "output".

Both are functions of a `WorldModelCarry` alone, so acting (the carry after `observe_step`),
imagination (the carry after each prior step) and the start states (the filter's carries) read
them the same way.
"""

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from rlssm.world_models import WorldModelCarry

FEATURES = ("output", "full")


def features_of(kind: str, carry: WorldModelCarry) -> Float[Array, "B F"]:
    """The features of kind `kind` (one of `FEATURES`) of `carry` (every leaf leads with `B`)."""
    if kind == "output":
        return carry.state.features
    parts = [carry.state.features]
    for leaf in jax.tree.leaves(carry.core):
        flat = leaf.reshape(leaf.shape[0], -1)
        parts += [flat.real, flat.imag] if jnp.iscomplexobj(flat) else [flat]
    return jnp.concatenate([p.astype(jnp.float32) for p in parts], -1)
