"""What the actor and the critic read from the world model's carry (`DreamerConfig.features`).

- "output" (DreamerV3): `concat(z, h)[B, S + H]`, the latent and the backbone's output (of its
  last layer), as the world model's heads read them.
- "full" (R2I's full-state policy): also the backbone's recurrent state of every layer, its
  carry flattened (a complex SSM state as its real and imaginary parts), `[B, S + H + X]`. A
  core without a carry (`none`) gives the same features as "output".

Both are functions of a `WorldModelCarry` alone, so acting (the carry after `observe_step`),
imagination (the carry after each prior step) and the start states (the filter's carries) read
them the same way. `DreamerConfig.first_flag` appends one more column, 1 on an episode's first
step (`reader`): the acting step of a reset and an imagination start that opens an episode;
imagined steps never open one.
"""

from collections.abc import Callable

import jax
import jax.numpy as jnp
from jaxtyping import Array, Bool, Float

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


def reader(kind: str, first_flag: bool) -> Callable[..., Float[Array, "B F"]]:
    """`read(carry, first=None)`: `features_of(kind, carry)`, with `first_flag` followed by the
    0/1 column `first[B]` (None: no row opens an episode, as in imagination)."""

    def read(carry: WorldModelCarry, first: Bool[Array, " B"] | None = None):
        features = features_of(kind, carry)
        if not first_flag:
            return features
        flag = jnp.zeros(features.shape[:1]) if first is None else first
        return jnp.concatenate([features, flag.astype(features.dtype)[:, None]], -1)

    return read
