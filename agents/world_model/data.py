"""Training batches from a dataset of episodes: random windows, some with a blind query phase.

Axis names: `E` dataset episodes, `T` records per episode, `W` window, `B` batch. A dataset is
the dict of `envs.memory.dataset` arrays `[E, T, ...]` (uint8 images), episode-major; batches
are `rlssm.world_models.Batch`es, time-major `[W, B, ...]`.
"""

from typing import NamedTuple

import jax
import jax.numpy as jnp
from jaxtyping import Array, Bool, Int, Key, Shaped

from rlssm.world_models import Batch
from rlssm.world_models.evaluate import episodes_to_batch

TRAINING_FIELDS = ("obs", "action", "reward", "terminated", "start")
"""Dataset arrays a training batch is made of."""

Dataset = dict[str, Shaped[Array, "E T ..."]]
"""Dataset arrays by name (at least `TRAINING_FIELDS`), each `[E, T, ...]`."""


class BlindQuery(NamedTuple):
    """Which training sequences observe their query phase blind (see `Batch.blind`)."""

    share: float = 0.0
    """Share of the sequences drawn blind (0: none, the plain teacher-forced objective)."""
    context_length: int = 0
    """`C`: records of the context phase; steps from `C + 1` on read no previous latent."""


NO_BLIND = BlindQuery()
"""Every sequence observed with plain teacher forcing."""


def blind_mask(
    key: Key[Array, ""], offsets: Int[Array, " B"], window: int, blind: BlindQuery
) -> Bool[Array, "W B"] | None:
    """`[W, B]` bool: True at the query steps (episode record `> C`) of the sequences drawn blind.

    Step `C` (the first query record) still reads the context's last latent, as imagination
    does; from `C + 1` on the backbone reads only actions. None when `blind.share` is 0.
    """
    if blind.share <= 0.0:
        return None
    drawn = jax.random.bernoulli(key, blind.share, offsets.shape)
    record = offsets[None, :] + jnp.arange(window)[:, None]
    return (record > blind.context_length) & drawn[None, :]


def sample_windows(
    data: Dataset, key: Key[Array, ""], batch_size: int, window: int, blind: BlindQuery = NO_BLIND
) -> Batch:
    """`B` windows of `W` records from random episodes at random offsets, time-major.

    Args:
        data: dataset arrays `[E, T, ...]`.
        key: PRNG key.
        batch_size: `B`.
        window: `W <= T`; `W = T` takes whole episodes.
        blind: which sequences observe their query phase blind (default: none).

    Raises:
        ValueError: (while tracing) `window` is not in `[1, T]`.
    """
    num_episodes, length = data["obs"].shape[:2]
    if not 1 <= window <= length:
        raise ValueError(f"window={window} must be in [1, T={length}], the records of an episode.")
    episode_key, offset_key, blind_key = jax.random.split(key, 3)
    episodes = jax.random.randint(episode_key, (batch_size,), 0, num_episodes)
    offsets = jax.random.randint(offset_key, (batch_size,), 0, length - window + 1)

    def cut(array: Shaped[Array, "E T ..."]) -> Shaped[Array, "B W ..."]:
        def one(episode, offset):
            return jax.lax.dynamic_slice_in_dim(array[episode], offset, window)

        return jax.vmap(one)(episodes, offsets)

    batch = episodes_to_batch({name: cut(data[name]) for name in TRAINING_FIELDS})
    return batch._replace(blind=blind_mask(blind_key, offsets, window, blind))
