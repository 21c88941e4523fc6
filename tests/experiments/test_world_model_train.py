"""Jitted training pieces of `experiments.world_model`: blind query phases in sampled batches."""

import jax
import jax.numpy as jnp
import numpy as np

from experiments.world_model_train import (
    BlindQuery,
    blind_mask,
    init_state,
    make_optimizer,
    make_train_step,
    sample_windows,
)
from tests.rlssm.test_world_models import tiny_model

E, T, C = 4, 12, 5


def fake_data(seed: int = 0) -> dict:
    """`E` episodes of `T` records of 16x16 RGB frames, one start each."""
    rng = np.random.default_rng(seed)
    start = np.zeros((E, T), bool)
    start[:, 0] = True
    return {
        "obs": jnp.asarray(rng.integers(0, 256, (E, T, 16, 16, 3), np.uint8)),
        "action": jnp.asarray(rng.integers(0, 3, (E, T)), jnp.int32),
        "reward": jnp.zeros((E, T), jnp.float32),
        "terminated": jnp.zeros((E, T), bool),
        "start": jnp.asarray(start),
    }


def test_blind_mask_covers_the_query_after_its_first_step_of_drawn_sequences():
    offsets = jnp.array([0, 3, 6])
    assert blind_mask(jax.random.key(0), offsets, 6, BlindQuery(0.0, C)) is None
    every = np.asarray(blind_mask(jax.random.key(0), offsets, 6, BlindQuery(1.0, C)))
    record = np.asarray(offsets)[None, :] + np.arange(6)[:, None]
    np.testing.assert_array_equal(every, record > C)  # records 0..C-1 context, C first query
    draws = np.asarray(blind_mask(jax.random.key(1), jnp.zeros(4000, int), T, BlindQuery(0.3, C)))
    drawn = draws.any(0)
    np.testing.assert_array_equal(draws, (np.arange(T)[:, None] > C) & drawn[None, :])
    assert abs(drawn.mean() - 0.3) < 0.03


def test_sampled_batches_carry_the_mask_and_a_blind_update_trains():
    data = fake_data()
    batch = sample_windows(data, jax.random.key(2), 3, T, BlindQuery(1.0, C))
    assert batch.blind.shape == (T, 3) and bool(batch.blind[C + 1 :].all())
    assert not bool(batch.blind[: C + 1].any())
    assert sample_windows(data, jax.random.key(2), 3, T).blind is None
    model = tiny_model("s4wm-s5", obs_shape=(16, 16, 3), cnn_depth=4)
    optimizer = make_optimizer(1e-3, 100.0)
    step = jax.jit(make_train_step(model, optimizer, 2, T, BlindQuery(0.5, C)))
    state, metrics = step(init_state(model, optimizer, jax.random.key(3)), data)
    assert int(state.update) == 1 and np.isfinite(float(metrics["loss"]))
