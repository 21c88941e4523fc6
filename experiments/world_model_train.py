"""The jitted side of world-model training: batch sampling, updates and evaluation over seeds.

Everything here is pure JAX (no files, no printing); `experiments.world_model` drives it. Axis
names: `N` seeds, `E` dataset episodes, `T` records per episode, `W` training window, `B` batch,
`H` query horizon. A dataset is the dict of `envs.memory.dataset` arrays `[E, T, ...]` (uint8
images), kept on the device and passed to every compiled program as an argument (never baked in
as a constant). Every seed has its own parameters, optimiser state and key; all seeds share the
dataset and run under one `jax.vmap`.
"""

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

import rlssm.world_models as wm
from rlssm.world_models import evaluate as wm_eval

TRAINING_FIELDS = ("obs", "action", "reward", "terminated", "start")
"""Dataset arrays a training batch is made of."""


class LoopState(NamedTuple):
    """What one seed's training carries from update to update (checkpointed whole)."""

    train_state: wm.TrainState
    """Parameters, optimiser state and updates applied (skipped updates not counted)."""
    key: jax.Array
    """PRNG key of the next update."""
    update: jax.Array
    """Updates run so far, skipped ones included (int32 scalar)."""
    nonfinite_streak: jax.Array
    """Updates in a row whose loss or gradient was not finite (int32 scalar)."""


def make_optimizer(lr: float, grad_clip: float) -> optax.GradientTransformation:
    """Adam after global-norm gradient clipping (DreamerV3's world-model optimiser, simplified)."""
    return optax.chain(optax.clip_by_global_norm(grad_clip), optax.adam(lr, eps=1e-8))


def init_state(model: wm.WorldModel, optimizer, key: jax.Array) -> LoopState:
    """A fresh `LoopState` of one seed from its key."""
    init_key, loop_key = jax.random.split(key)
    train_state = wm.init_train_state(model, optimizer, init_key)
    zero = jnp.zeros((), jnp.int32)
    return LoopState(train_state, loop_key, zero, zero)


class BlindQuery(NamedTuple):
    """Which training sequences observe their query phase blind (see `wm.Batch.blind`)."""

    share: float = 0.0
    """Share of the sequences drawn blind (0: none, the plain teacher-forced objective)."""
    context_length: int = 0
    """`C`: records of the context phase; steps from `C + 1` on read no previous latent."""


NO_BLIND = BlindQuery()
"""Every sequence observed with plain teacher forcing."""


def blind_mask(
    key: jax.Array, offsets: jax.Array, window: int, blind: BlindQuery
) -> jax.Array | None:
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
    data: dict, key: jax.Array, batch_size: int, window: int, blind: BlindQuery = NO_BLIND
) -> wm.Batch:
    """`B` windows of `W` records from random episodes at random offsets, time-major.

    Args:
        data: dataset arrays `[E, T, ...]`.
        key: PRNG key.
        batch_size: `B`.
        window: `W <= T`; `W = T` takes whole episodes.
        blind: which sequences observe their query phase blind (default: none).
    """
    num_episodes, length = data["obs"].shape[:2]
    episode_key, offset_key, blind_key = jax.random.split(key, 3)
    episodes = jax.random.randint(episode_key, (batch_size,), 0, num_episodes)
    offsets = jax.random.randint(offset_key, (batch_size,), 0, length - window + 1)

    def cut(array: jax.Array) -> jax.Array:
        def one(episode, offset):
            return jax.lax.dynamic_slice_in_dim(array[episode], offset, window)

        return jax.vmap(one)(episodes, offsets)

    batch = wm_eval.episodes_to_batch({name: cut(data[name]) for name in TRAINING_FIELDS})
    return batch._replace(blind=blind_mask(blind_key, offsets, window, blind))


def make_train_step(
    model: wm.WorldModel, optimizer, batch_size: int, window: int, blind: BlindQuery = NO_BLIND
) -> Callable:
    """`step(state, data) -> (state, metrics)`: one update of one seed on a sampled batch.

    An update whose loss or gradient norm is not finite is skipped (the state is kept) and
    counted in `nonfinite_streak`. Metrics: the loss terms of `model.loss`, `grad_norm`,
    `update`, `env_steps` (records trained on so far) and `nonfinite_streak`.
    """
    update = wm.make_update(model, optimizer)

    def step(state: LoopState, data: dict) -> tuple[LoopState, dict]:
        key, batch_key, loss_key = jax.random.split(state.key, 3)
        batch = sample_windows(data, batch_key, batch_size, window, blind)
        train_state, metrics = update(state.train_state, batch, loss_key)
        finite = jnp.isfinite(metrics["loss"]) & jnp.isfinite(metrics["grad_norm"])
        train_state = jax.tree.map(
            lambda new, old: jnp.where(finite, new, old), train_state, state.train_state
        )
        streak = jnp.where(finite, 0, state.nonfinite_streak + 1)
        count = state.update + 1
        state = LoopState(train_state, key, count, streak)
        records = count * batch_size * window
        return state, {**metrics, "update": count, "env_steps": records, "nonfinite_streak": streak}

    return step


def make_seeds_step(
    model: wm.WorldModel, optimizer, batch_size: int, window: int, blind: BlindQuery = NO_BLIND
) -> Callable:
    """`step(states, data) -> (states, metrics [N])`: one update of every seed (`jax.vmap`).

    The host calls it once per update rather than scanning over updates inside one program: on
    the CPU, XLA ran the model's convolutions several times slower inside a `lax.scan` over
    updates than as separate calls (1.1 s vs 0.14-0.28 s per update, S4WM cpu-small, measured).
    """
    step = make_train_step(model, optimizer, batch_size, window, blind)
    return jax.vmap(step, (0, None))


class SeedEvaluation(NamedTuple):
    """`rlssm.world_models.evaluate` results of every seed, trimmed for the host."""

    metrics: wm_eval.QueryMetrics
    """Each field leads with `N`: `mse [N, H]`, `mse_buckets [N, K]`, scalars `[N]`."""
    loss_terms: dict
    """Teacher-forced loss terms on the evaluation episodes, each `[N]`."""
    imagined_obs: jax.Array
    """`[N, H, S, ...]`: generated query frames of the first `S` episodes (for plots)."""


def make_evaluate(
    model: wm.WorldModel,
    context_length: int,
    num_buckets: int,
    sample: bool,
    shown_episodes: int,
) -> Callable:
    """`evaluate(params [N], episodes, key, reward_values) -> SeedEvaluation`, jittable.

    Args:
        model: the trained model.
        context_length: `C`, records observed before imagining the rest.
        num_buckets: slices of the horizon for the bucketed MSE.
        sample: draw latents (else modes) while observing and imagining.
        shown_episodes: `S`, episodes whose generated frames are returned.
    """

    def one_seed(params, batch: wm.Batch, key: jax.Array, reward_values: jax.Array):
        result = wm_eval.evaluate(
            model, params, batch, context_length, key, reward_values, num_buckets, sample
        )
        shown = result.imagined_obs[:, :shown_episodes]
        return SeedEvaluation(result.metrics, result.loss_terms, shown)

    def evaluate(params, episodes: dict, key: jax.Array, reward_values: jax.Array):
        batch = wm_eval.episodes_to_batch({name: episodes[name] for name in TRAINING_FIELDS})
        return jax.vmap(one_seed, (0, None, None, None))(params, batch, key, reward_values)

    return evaluate
