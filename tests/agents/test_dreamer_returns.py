"""Lambda-returns and loss weights of an imagined trajectory against a hand-computed case, the
closed forms at lambda = 0 and 1, and a plain Python loop; under jit and vmap."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from agents.dreamer.returns import discount_weights, lambda_returns


def python_returns(reward, value, continues, gamma, lambda_):
    horizon, batch = reward.shape
    out = np.zeros((horizon, batch))
    for b in range(batch):
        later = value[horizon, b]
        for t in reversed(range(horizon)):
            blend = (1 - lambda_) * value[t + 1, b] + lambda_ * later
            later = reward[t, b] + gamma * continues[t, b] * blend
            out[t, b] = later
    return out


def trajectory(horizon=6, batch=4, seed=0):
    rng = np.random.default_rng(seed)
    reward = rng.normal(size=(horizon, batch)).astype(np.float32)
    value = rng.normal(size=(horizon + 1, batch)).astype(np.float32)
    continues = rng.uniform(size=(horizon, batch)).astype(np.float32)
    continues[2, 0] = 0.0  # an episode ends inside the horizon
    continues[horizon - 1, 1] = 0.0  # ... and at its last step
    return reward, value, continues


def test_hand_computed_three_steps_with_an_end():
    # v(s_0..s_3) = 10, 20, 30, 40; s_2 is terminal (continues[1] = 0); gamma = lambda = 0.5.
    reward = jnp.array([[1.0], [2.0], [3.0]])
    value = jnp.array([[10.0], [20.0], [30.0], [40.0]])
    continues = jnp.array([[1.0], [0.0], [1.0]])
    out = lambda_returns(reward, value, continues, 0.5, 0.5)
    r2 = 3.0 + 0.5 * (0.5 * 40.0 + 0.5 * 40.0)  # 23: bootstraps from v(s_3)
    r1 = 2.0  # the reward of reaching the terminal s_2, nothing after it
    r0 = 1.0 + 0.5 * (0.5 * 20.0 + 0.5 * r1)  # 6.5
    np.testing.assert_allclose(out[:, 0], [r0, r1, r2])


def test_lambda_zero_is_one_step_td():
    reward, value, continues = trajectory()
    out = lambda_returns(reward, value, continues, 0.9, 0.0)
    np.testing.assert_allclose(out, reward + 0.9 * continues * value[1:], rtol=1e-5, atol=1e-6)


def test_lambda_one_is_discounted_monte_carlo_with_bootstrap():
    reward, value, continues = trajectory()
    gamma, horizon = 0.9, reward.shape[0]
    out = lambda_returns(reward, value, continues, gamma, 1.0)
    expected = np.zeros_like(reward)
    for t in range(horizon):
        discount = np.ones(reward.shape[1])  # prod_{t <= j < k} gamma * continues[j]
        for k in range(t, horizon):
            expected[t] += discount * reward[k]
            discount = discount * gamma * continues[k]
        expected[t] += discount * value[horizon]
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(("gamma", "lambda_"), [(0.997, 0.95), (0.9, 0.5), (1.0, 1.0)])
def test_matches_python_loop(gamma, lambda_):
    reward, value, continues = trajectory()
    out = lambda_returns(reward, value, continues, gamma, lambda_)
    assert out.shape == reward.shape
    expected = python_returns(reward, value, continues, gamma, lambda_)
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(out[2, 0], reward[2, 0], rtol=1e-6)  # continues[2, 0] = 0


def test_jit_and_vmap_over_seeds_and_batch():
    seeds = [trajectory(seed=s) for s in range(3)]
    reward, value, continues = (np.stack(x) for x in zip(*seeds, strict=True))
    fn = jax.jit(jax.vmap(lambda_returns, in_axes=(0, 0, 0, None, None)))
    out = fn(reward, value, continues, 0.99, 0.95)
    for n in range(3):
        expected = python_returns(reward[n], value[n], continues[n], 0.99, 0.95)
        np.testing.assert_allclose(out[n], expected, rtol=1e-5, atol=1e-5)
    # Mapping over the batch axis (each column alone) gives the same columns.
    by_column = jax.vmap(lambda_returns, in_axes=(1, 1, 1, None, None), out_axes=1)
    columns = (x[0][:, :, None] for x in (reward, value, continues))
    out = by_column(*columns, 0.99, 0.95)
    np.testing.assert_allclose(out[..., 0], python_returns(*seeds[0], 0.99, 0.95), rtol=1e-5)


def test_discount_weights_hand_computed():
    # continues of s_1, s_2, s_3 = 1, 0.5, 0 -> weights of s_0, s_1, s_2.
    continues = jnp.array([[1.0], [0.5], [0.0]])
    weight = discount_weights(continues, 0.9)
    np.testing.assert_allclose(weight[:, 0], [1.0, 0.9, 0.9 * 0.9 * 0.5], rtol=1e-6)


def test_discount_weights_match_a_cumulative_product():
    _, _, continues = trajectory()
    weight = jax.jit(discount_weights)(continues, 0.99)
    expected = np.ones_like(continues)
    for t in range(1, continues.shape[0]):
        expected[t] = expected[t - 1] * 0.99 * continues[t - 1]
    np.testing.assert_allclose(weight, expected, rtol=1e-5)
    assert float(weight[3:, 0].max()) == 0.0  # after the end at continues[2, 0]
