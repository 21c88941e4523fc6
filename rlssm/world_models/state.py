"""Named containers that flow through the world models (all pytrees, time-major).

Axis names: `T` time, `B` batch, `H` deterministic width, `S` stochastic width, `A` actions;
`...` after `B` is the observation shape. Time convention (DreamerV3's): `action[t]` is the action
that led to `obs[t]` (taken after `obs[t - 1]`), `reward[t]` and `terminated[t]` came with `obs[t]`,
and `start[t]` says that `obs[t]` opens an episode (its action is ignored).
"""

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp


class LatentState(NamedTuple):
    """The model state at one (or every) time step."""

    stoch: jax.Array
    """Stochastic latent sample `z[..., S]` (straight-through one-hot or Gaussian)."""
    deter: jax.Array
    """Backbone output `h[..., H]` (the deterministic state)."""

    @property
    def features(self) -> jax.Array:
        """`concat(stoch, deter)[..., S + H]`: what the decoder, heads and agents read."""
        return jnp.concatenate([self.stoch, self.deter], -1)


class WorldModelCarry(NamedTuple):
    """Everything a world model needs to continue a sequence; every leaf leads with `B`."""

    core: Any
    """The backbone's carry (state after the last consumed input)."""
    state: LatentState
    """The last latent state `[B, ...]` (its `stoch` feeds the next backbone input)."""


class ObserveOutputs(NamedTuple):
    """Distribution statistics from `observe` (see `rlssm.world_models.latents`)."""

    prior: jax.Array
    """Prior stats `[T, B, ...]`: the latent predicted from the backbone output alone."""
    posterior: jax.Array
    """Posterior stats `[T, B, ...]`: the latent inferred with the observation."""


class Predictions(NamedTuple):
    """Raw decoder and head outputs for a sequence of states."""

    obs: jax.Array
    """Reconstruction `[T, B, ...]` (in symlog space for vector observations when symlog_obs)."""
    reward: jax.Array
    """Reward head output `[T, B, K]` (two-hot logits, or `K = 1` for symlog MSE)."""
    continue_logit: jax.Array
    """Logit of `not terminated` `[T, B]`."""


class Batch(NamedTuple):
    """A training batch of sequences, time-major."""

    obs: jax.Array
    """Observations `[T, B, ...]` (float; images in [0, 1])."""
    action: jax.Array
    """Action that led to `obs[t]`: integers `[T, B]` or floats `[T, B, A]`."""
    reward: jax.Array
    """Reward that came with `obs[t]` `[T, B]`."""
    terminated: jax.Array
    """Whether `obs[t]` is terminal `[T, B]` (bool)."""
    start: jax.Array
    """Whether `obs[t]` opens an episode `[T, B]` (bool)."""
    blind: jax.Array | None = None
    """Optional `[T, B]` bool: where True, the backbone input of step `t` does not read the
    previous latent `z[t - 1]` (zeroed; the action still counts). Training some sequences blind
    over their query phase makes the backbone predict those frames from the context and the
    actions alone, as imagination must, instead of from the frame before (observation
    dropout). None: every step reads it."""


class Imagination(NamedTuple):
    """A rollout of the prior, `[horizon, B, ...]`; step `i` follows `action[i]`."""

    state: LatentState
    """Predicted latent states."""
    action: jax.Array
    """Encoded actions `[horizon, B, A]` (one-hot for integer actions)."""
    obs: jax.Array
    """Decoded observation means `[horizon, B, ...]`."""
    reward: jax.Array
    """Predicted reward means `[horizon, B]`."""
    continue_prob: jax.Array
    """Predicted probability of not terminating `[horizon, B]`."""
    features: jax.Array | None = None
    """What the policy read, after every step `[horizon, B, F]` (`imagine`'s
    `policy_features`), or None."""
