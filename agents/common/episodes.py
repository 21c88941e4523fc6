"""Episode statistics of a rollout, from the `info` of `envs.EpisodeStatistics` (any agent).

Axis names: `T` steps of the rollout, `B` environments.
"""

import jax.numpy as jnp


def episode_metrics(info: dict) -> dict:
    """Returns of the episodes that ended in this rollout (`[T, B]` info of the rollout).

    When no episode ended, falls back to each environment's last completed episode (NaN when
    no environment has completed one yet).
    """
    ended = info["returned_episode"]
    count = ended.sum()
    seen = info["episode_count"][-1] > 0
    last_return = info["returned_episode_return"][-1]
    use_ended = count > 0
    mask = jnp.where(use_ended, ended, jnp.broadcast_to(seen, ended.shape))
    returns = jnp.where(use_ended, info["returned_episode_return"], last_return)
    lengths = jnp.where(
        use_ended, info["returned_episode_length"], info["returned_episode_length"][-1]
    )
    n = mask.sum()
    nan = jnp.asarray(jnp.nan, jnp.float32)
    return {
        "episodes": count,
        "return_mean": jnp.where(n > 0, jnp.where(mask, returns, 0.0).sum() / n, nan),
        "return_min": jnp.where(n > 0, jnp.where(mask, returns, jnp.inf).min(), nan),
        "return_max": jnp.where(n > 0, jnp.where(mask, returns, -jnp.inf).max(), nan),
        "length_mean": jnp.where(n > 0, jnp.where(mask, lengths, 0).sum() / n, nan),
    }
