"""PPO pieces alone: loss terms by hand, running statistics vs NumPy, minibatch row alignment."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from agents.common import denormalize, init_stats, normalize, update_stats
from agents.ppo.config import PPOConfig
from agents.ppo.loss import Batch, normalize_advantage, policy_loss, value_loss
from agents.ppo.rollout import Transition
from agents.ppo.train import minibatches


def test_policy_loss_hand_computed():
    # ratios 1.5 (clipped to 1.2 for a positive advantage), 0.5 (clipped to 0.8 for a negative one:
    # min picks the unclipped -0.5*-1 = 0.5 vs 0.8*-1 = -0.8 -> -0.8), 1.0.
    ratio = jnp.array([1.5, 0.5, 1.0])
    advantage = jnp.array([2.0, -1.0, 3.0])
    loss, stats = policy_loss(jnp.log(ratio), jnp.zeros(3), advantage, clip_eps=0.2)
    expected = -np.mean([min(1.5 * 2, 1.2 * 2), min(0.5 * -1, 0.8 * -1), 3.0])
    np.testing.assert_allclose(loss, expected, rtol=1e-6)
    np.testing.assert_allclose(stats["clip_fraction"], 2 / 3)
    kl = np.mean((np.array([1.5, 0.5, 1.0]) - 1) - np.log([1.5, 0.5, 1.0]))
    np.testing.assert_allclose(stats["approx_kl"], kl, rtol=1e-6)


def test_policy_loss_unit_ratio_is_minus_mean_advantage():
    advantage = jnp.array([0.3, -1.2, 2.0, 0.1])
    loss, stats = policy_loss(jnp.zeros(4), jnp.zeros(4), advantage, clip_eps=0.1)
    np.testing.assert_allclose(loss, -advantage.mean(), rtol=1e-6)
    assert stats["clip_fraction"] == 0 and stats["approx_kl"] == 0


def test_value_loss_clipped_and_unclipped():
    value, old, target = jnp.array([2.0, 0.0]), jnp.array([1.0, 0.0]), jnp.array([3.0, 0.5])
    # unclipped errors 1, 0.25; clipped value = 1.2 -> error 3.24 > 1; second within the clip.
    np.testing.assert_allclose(value_loss(value, old, target, 0.2, False), 0.5 * (1 + 0.25) / 2)
    np.testing.assert_allclose(
        value_loss(value, old, target, 0.2, True), 0.5 * (3.24 + 0.25) / 2, rtol=1e-6
    )


def test_normalize_advantage():
    x = normalize_advantage(jnp.array([1.0, 2.0, 3.0, 6.0]))
    np.testing.assert_allclose([x.mean(), x.std()], [0.0, 1.0], atol=1e-5)


def test_running_stats_match_numpy_over_batches():
    rng = np.random.default_rng(0)
    batches = [rng.normal(3.0, 2.0, size=(n, 5)).astype(np.float32) for n in (7, 30, 1, 12)]
    stats = init_stats((5,))
    for batch in batches:
        stats = update_stats(stats, jnp.asarray(batch))
    every = np.concatenate(batches)
    np.testing.assert_allclose(stats.mean, every.mean(0), rtol=1e-4)
    np.testing.assert_allclose(stats.var, every.var(0), rtol=1e-3)
    x = jnp.asarray(every[:3])
    np.testing.assert_allclose(denormalize(stats, normalize(stats, x)), x, rtol=1e-5)


@pytest.mark.parametrize("num_minibatches", [1, 2, 4])
def test_minibatches_keep_rows_and_carries_aligned(num_minibatches):
    T, B = 5, 8
    config = PPOConfig(
        env_name="CartPole-v1", num_envs=B, num_steps=T, num_minibatches=num_minibatches
    )
    row_id = jnp.broadcast_to(jnp.arange(B, dtype=jnp.float32), (T, B))
    time_id = jnp.broadcast_to(jnp.arange(T, dtype=jnp.float32)[:, None], (T, B))
    transitions = Transition(
        obs=jnp.stack([row_id, time_id], -1),
        start=time_id == 0,
        action=row_id.astype(jnp.int32),
        log_prob=row_id,
        value=row_id,
        reward=row_id,
        terminated=row_id > 100,
        truncated=row_id > 100,
        final_value=row_id,
        info={"returned_episode": row_id > 100},
    )
    carry = ({"h": jnp.arange(B, dtype=jnp.float32)[:, None] * jnp.ones((B, 3))},)
    batch = Batch(transitions, row_id, row_id, row_id, carry)
    mb = minibatches(config, batch, jax.random.key(3))
    M, Bm = num_minibatches, B // num_minibatches
    assert mb.advantage.shape == (M, T, Bm)
    assert mb.transitions.obs.shape == (M, T, Bm, 2)
    assert mb.initial_carry[0]["h"].shape == (M, Bm, 3)
    rows = np.asarray(mb.advantage[:, 0, :])  # [M, Bm] env ids
    assert sorted(rows.ravel().tolist()) == list(range(B))  # a permutation of the rows
    tr = mb.transitions
    for leaf in (tr.obs[..., 0], tr.action, tr.log_prob, tr.value, tr.reward, mb.target):
        np.testing.assert_array_equal(leaf, np.broadcast_to(rows[:, None, :], leaf.shape))
    np.testing.assert_array_equal(tr.start, np.asarray(tr.obs[..., 1]) == 0)
    np.testing.assert_array_equal(mb.initial_carry[0]["h"][..., 0], rows)
    np.testing.assert_array_equal(
        mb.transitions.obs[..., 1], np.arange(T)[None, :, None] + 0 * rows[:, None, :]
    )
