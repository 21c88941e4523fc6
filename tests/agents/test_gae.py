"""GAE against a hand-computed case and a plain Python loop, with termination and truncation."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from agents.ppo.gae import gae


def python_gae(reward, value, terminated, truncated, final_value, last_value, gamma, lam):
    T, B = reward.shape
    adv = np.zeros((T, B))
    for b in range(B):
        running = 0.0
        for t in reversed(range(T)):
            if terminated[t, b]:
                next_v, running = 0.0, 0.0
            elif truncated[t, b]:
                next_v, running = final_value[t, b], 0.0
            else:
                next_v = value[t + 1, b] if t + 1 < T else last_value[b]
            delta = reward[t, b] + gamma * next_v - value[t, b]
            running = delta + gamma * lam * running
            adv[t, b] = running
    return adv


def test_hand_computed_three_steps():
    # Step 0 continues, step 1 is truncated (bootstrap 10), step 2 continues to last_value 4.
    reward = jnp.array([[1.0], [2.0], [3.0]])
    value = jnp.array([[0.5], [1.0], [2.0]])
    terminated = jnp.zeros((3, 1), bool)
    truncated = jnp.array([[False], [True], [False]])
    final_value = jnp.array([[0.0], [10.0], [0.0]])
    out = gae(reward, value, terminated, truncated, final_value, jnp.array([4.0]), 0.5, 0.5)
    d2 = 3.0 + 0.5 * 4.0 - 2.0  # 3.0
    d1 = 2.0 + 0.5 * 10.0 - 1.0  # 6.0, trace cut after it
    d0 = 1.0 + 0.5 * 1.0 - 0.5  # 1.0
    expected = [d0 + 0.25 * d1, d1, d2]
    np.testing.assert_allclose(out.advantage[:, 0], expected)
    np.testing.assert_allclose(out.target[:, 0], np.array(expected) + value[:, 0])


def test_termination_bootstraps_nothing():
    out = gae(
        jnp.ones((2, 1)),
        jnp.zeros((2, 1)),
        jnp.array([[True], [False]]),
        jnp.zeros((2, 1), bool),
        jnp.full((2, 1), 99.0),
        jnp.array([5.0]),
        0.9,
        0.95,
    )
    np.testing.assert_allclose(out.advantage[:, 0], [1.0, 1.0 + 0.9 * 5.0])


@pytest.mark.parametrize(("gamma", "lam"), [(0.99, 0.95), (0.9, 1.0), (0.5, 0.0)])
def test_matches_python_loop(gamma, lam):
    keys = jax.random.split(jax.random.key(0), 6)
    T, B = 40, 5
    reward = jax.random.normal(keys[0], (T, B))
    value = jax.random.normal(keys[1], (T, B))
    terminated = jax.random.bernoulli(keys[2], 0.05, (T, B))
    truncated = jax.random.bernoulli(keys[3], 0.05, (T, B)) & ~terminated
    final_value = jax.random.normal(keys[4], (T, B))
    last_value = jax.random.normal(keys[5], (B,))
    out = jax.jit(gae, static_argnums=(6, 7))(
        reward, value, terminated, truncated, final_value, last_value, gamma, lam
    )
    expected = python_gae(
        *map(np.asarray, (reward, value, terminated, truncated, final_value, last_value)),
        gamma,
        lam,
    )
    np.testing.assert_allclose(out.advantage, expected, rtol=1e-5, atol=1e-5)
