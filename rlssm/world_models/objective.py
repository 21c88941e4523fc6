"""The world-model objective: the ELBO terms with KL balancing, as named metrics.

Per time step (`[T, B]`), then averaged over `T` and `B`:
- `recon`: squared error summed over the observation (vector observations in symlog space when
  `symlog_obs`), i.e. a unit-variance Gaussian log-likelihood up to a constant;
- `reward`: two-hot cross-entropy or symlog squared error of `reward[t]`;
- `continue`: binary cross-entropy of `not terminated[t]`;
- `kl_dyn`, `kl_rep`: the balanced KL terms of `rlssm.world_models.latents.balanced_kl`.
`loss = recon_scale recon + reward_scale reward + continue_scale continue + kl_dyn_scale kl_dyn
+ kl_rep_scale kl_rep`.
"""

import jax
import jax.numpy as jnp
import optax

from rlssm.world_models.config import WorldModelConfig
from rlssm.world_models.latents import balanced_kl, latent_for, reward_for, symlog
from rlssm.world_models.state import Batch, ObserveOutputs, Predictions


def reconstruction_loss(config: WorldModelConfig, decoded: jax.Array, obs: jax.Array) -> jax.Array:
    """Squared error summed over the observation axes: `decoded, obs[T, B, ...]` -> `[T, B]`."""
    target = jnp.asarray(obs, jnp.float32)
    if not config.is_image and config.symlog_obs:
        target = symlog(target)
    axes = tuple(range(2, target.ndim))
    return jnp.sum(jnp.square(decoded - target), axis=axes)


def continue_loss(logit: jax.Array, terminated: jax.Array) -> jax.Array:
    """Binary cross-entropy of `not terminated`: `[T, B]`."""
    return optax.sigmoid_binary_cross_entropy(logit, 1.0 - terminated.astype(jnp.float32))


def world_model_loss(
    config: WorldModelConfig, predictions: Predictions, outputs: ObserveOutputs, batch: Batch
) -> tuple[jax.Array, dict[str, jax.Array]]:
    """`(scalar loss, metrics)` from the model's predictions on `batch`."""
    latent, reward_dist = latent_for(config), reward_for(config)
    recon = reconstruction_loss(config, predictions.obs, batch.obs)
    reward = reward_dist.loss(predictions.reward, batch.reward.astype(jnp.float32))
    cont = continue_loss(predictions.continue_logit, batch.terminated)
    kl_dyn, kl_rep, kl = balanced_kl(latent, outputs.posterior, outputs.prior, config.kl_free)
    total = (
        config.recon_scale * recon
        + config.reward_scale * reward
        + config.continue_scale * cont
        + config.kl_dyn_scale * kl_dyn
        + config.kl_rep_scale * kl_rep
    )
    sg = jax.lax.stop_gradient
    reward_error = jnp.abs(reward_dist.mean(sg(predictions.reward)) - batch.reward)
    metrics = {
        "loss": total,
        "recon": recon,
        "reward": reward,
        "continue": cont,
        "kl_dyn": kl_dyn,
        "kl_rep": kl_rep,
        "kl": kl,
        "prior_entropy": sg(latent.entropy(outputs.prior)),
        "posterior_entropy": sg(latent.entropy(outputs.posterior)),
        "reward_mae": reward_error,
    }
    metrics = {name: jnp.mean(value) for name, value in metrics.items()}
    return metrics["loss"], metrics
