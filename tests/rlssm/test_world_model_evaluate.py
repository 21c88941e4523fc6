"""Imagination metrics (rlssm.world_models.evaluate): hand-computed cases, shapes, the protocol.

The metric functions are checked against values worked out by hand; `evaluate` against a
step-by-step reference (a loop of `observe_step` over the context, then `imagine`) and by what it
may read: generated frames never depend on the query's observations, and the memoryless baseline
(the `none` core) forgets everything before the last context frame while S4WM (s5) does not.
Keys use the `rbg` implementation (threefry draws compile slowly on the CPU).
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import rlssm.world_models as wm
from rlssm.world_models import evaluate as ev
from tests.rlssm.helpers import tree_allclose

T, C, B, D, A = 10, 6, 3, 4, 3
VALUES = jnp.array([-1.0, 0.0, 1.0])


def key(seed: int) -> jax.Array:
    return jax.random.key(seed, impl="rbg")


@functools.cache
def model_and_params(core: str):
    """A width-16 S4WM on core `core`, vector observations `[D]`, `A` actions."""
    options = {"hidden_size": 16, **({"state_size": 8} if core == "s5" else {})}
    model = wm.make(
        "s4wm",
        core=core,
        core_options=options,
        obs_shape=(D,),
        action_dim=A,
        hidden_size=16,
        latent_groups=4,
        latent_classes=4,
        reward_bins=15,
    )
    return model, model.init(key(0))


def episodes(seed: int, length: int = T, batch: int = B) -> dict[str, jax.Array]:
    """Episode-major records `[B, T, ...]` like `envs.memory.dataset` (uint8 vectors here)."""
    k_obs, k_act, k_rew = jax.random.split(key(seed), 3)
    return {
        "obs": jax.random.randint(k_obs, (batch, length, D), 0, 256).astype(jnp.uint8),
        "action": jax.random.randint(k_act, (batch, length), 0, A),
        "reward": jax.random.randint(k_rew, (batch, length), -1, 2).astype(jnp.float32),
        "terminated": jnp.zeros((batch, length), bool),
        "start": jnp.zeros((batch, length), bool).at[:, 0].set(True),
    }


def test_episodes_to_batch_is_time_major_and_scaled():
    data = episodes(0)
    batch = ev.episodes_to_batch(data)
    assert batch.obs.shape == (T, B, D) and batch.obs.dtype == jnp.float32
    np.testing.assert_allclose(batch.obs[2, 1], np.asarray(data["obs"][1, 2]) / 255.0, rtol=1e-6)
    np.testing.assert_array_equal(batch.action[:, 2], data["action"][2])
    assert bool(batch.start[0].all()) and not bool(batch.start[1:].any())
    context, query = ev.split_phases(batch, C)
    assert context.obs.shape == (C, B, D) and query.reward.shape == (T - C, B)
    with pytest.raises(ValueError, match="context_length"):
        ev.split_phases(batch, T)


def test_perfect_imagination_scores_zero_error_and_full_accuracy():
    query = ev.episodes_to_batch(episodes(1))
    metrics = ev.query_metrics(query, query, VALUES, num_buckets=5)
    np.testing.assert_array_equal(metrics.mse, np.zeros(T))
    np.testing.assert_array_equal(metrics.mse_buckets, np.zeros(5))
    assert float(metrics.mse_mean) == 0.0 and float(metrics.reward_mae) == 0.0
    assert float(metrics.reward_accuracy) == 1.0 and float(metrics.reward_event_accuracy) == 1.0


def test_frame_errors_and_buckets_by_hand():
    """Frame `i` is off by `c_i` in every pixel, so its MSE is `c_i ** 2`."""
    offsets = jnp.array([0.0, 1.0, 2.0, 3.0, 0.5, 0.5, 1.0, 1.0])
    target = jnp.zeros((8, 2, 3, 3, 1))
    predicted = target + offsets[:, None, None, None, None]
    mse = ev.frame_mse(predicted, target)
    np.testing.assert_allclose(mse, offsets**2)
    np.testing.assert_allclose(ev.bucket_means(mse, 4), [0.5, 6.5, 0.25, 1.0])
    np.testing.assert_array_equal(ev.bucket_edges(10, 4), [0, 2, 5, 8, 10])
    with pytest.raises(ValueError, match="num_buckets"):
        ev.bucket_edges(3, 4)


def test_reward_accuracy_by_hand():
    predicted = jnp.array([[0.1, 0.9], [-0.6, 0.4]])
    target = jnp.array([[0.0, 1.0], [-1.0, 1.0]])
    accuracy, events = ev.reward_scores(predicted, target, VALUES)
    assert float(accuracy) == pytest.approx(3 / 4)  # only 0.4 -> 0 misses its 1
    assert float(events) == pytest.approx(2 / 3)  # three nonzero rewards, two hit
    _, none = ev.reward_scores(predicted, jnp.zeros_like(target), VALUES)
    assert np.isnan(float(none))


@pytest.mark.parametrize("core", ["s5", pytest.param("none", marks=pytest.mark.slow)])
def test_evaluate_shapes_and_step_by_step_reference(core):
    model, params = model_and_params(core)
    batch = ev.episodes_to_batch(episodes(2))
    result = jax.jit(ev.evaluate, static_argnums=(0, 3), static_argnames=("num_buckets",))(
        model, params, batch, C, key(3), VALUES, num_buckets=2
    )
    metrics = result.metrics
    assert metrics.mse.shape == (T - C,) and metrics.mse_buckets.shape == (2,)
    assert result.imagined_obs.shape == (T - C, B, D)
    assert result.imagined_reward.shape == (T - C, B)
    assert {"loss", "recon", "kl", "reward"} <= set(result.loss_terms)
    assert all(np.isfinite(v).all() for v in jax.tree.leaves(metrics))

    @jax.jit
    def reference(params):
        carry = model.initial_carry(B)
        observe_key, imagine_key = jax.random.split(jax.random.split(key(3))[0])
        step_keys = jax.random.split(observe_key, C)
        for t in range(C):
            carry, _, _ = model.observe_step(
                params, carry, batch.obs[t], batch.action[t], batch.start[t], step_keys[t], False
            )
        return model.imagine(params, carry, batch.action[C:], imagine_key, sample=False)[1]

    imagined = reference(params)
    assert tree_allclose(result.imagined_obs, imagined.obs, atol=1e-4, rtol=1e-4)
    expected = ev.query_metrics(imagined, ev.split_phases(batch, C)[1], VALUES, 2)
    assert tree_allclose(metrics, expected, atol=1e-4, rtol=1e-4)


def imagined_after_changes(core: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Imagined frames of one batch, of it with new query obs, and with new early context obs."""
    model, params = model_and_params(core)
    batch = ev.episodes_to_batch(episodes(4))
    other = ev.episodes_to_batch(episodes(5))
    new_query = batch._replace(obs=batch.obs.at[C:].set(other.obs[C:]))
    new_early = batch._replace(obs=batch.obs.at[: C - 1].set(other.obs[: C - 1]))
    imagine = jax.jit(ev.imagine_query, static_argnums=(0, 3))
    return tuple(
        np.asarray(imagine(model, params, b, C, key(6)).obs) for b in (batch, new_query, new_early)
    )


def test_imagination_reads_no_query_frame_and_only_a_memory_core_reads_the_early_context():
    base, new_query, new_early = imagined_after_changes("s5")
    np.testing.assert_array_equal(base, new_query)
    assert not np.allclose(base, new_early, atol=1e-4)
    base, new_query, new_early = imagined_after_changes("none")
    np.testing.assert_array_equal(base, new_query)
    np.testing.assert_allclose(base, new_early, atol=1e-6)  # memoryless: only the last frame
