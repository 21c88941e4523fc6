"""Return normalisation against NumPy percentiles and a plain EMA loop with bias correction."""

import jax
import jax.numpy as jnp
import numpy as np

from agents.dreamer.return_norm import init_return_scale, scale, update_return_scale


def batches(count=5, seed=0):
    rng = np.random.default_rng(seed)
    return [(rng.normal(size=(8, 6)) * 10.0 * (i + 1)).astype(np.float32) for i in range(count)]


def test_first_update_takes_the_batch_percentiles():
    returns = np.arange(101, dtype=np.float32).reshape(1, 101)  # percentiles are the values
    state = update_return_scale(init_return_scale(), jnp.asarray(returns))
    np.testing.assert_allclose([state.low, state.high], [5.0, 95.0], rtol=1e-6)
    np.testing.assert_allclose(scale(state), 90.0, rtol=1e-6)


def test_matches_numpy_percentiles_and_an_ema_loop():
    decay = 0.99
    state = init_return_scale()
    update = jax.jit(update_return_scale, static_argnames="decay")
    low = high = 0.0  # a plain EMA from zero, then divided by the weight it has seen
    for n, returns in enumerate(batches(), start=1):
        state = update(state, jnp.asarray(returns), decay=decay)
        p5, p95 = np.percentile(returns, [5, 95])
        low = decay * low + (1 - decay) * p5
        high = decay * high + (1 - decay) * p95
        debias = 1 - decay**n
        np.testing.assert_allclose(state.low, low / debias, rtol=1e-4)
        np.testing.assert_allclose(state.high, high / debias, rtol=1e-4)
        np.testing.assert_allclose(scale(state), (high - low) / debias, rtol=1e-4)
    assert int(state.count) == 5


def test_scale_is_floored_at_one():
    assert float(scale(init_return_scale())) == 1.0
    narrow = jnp.linspace(3.0, 3.5, 40).reshape(8, 5)  # p95 - p5 < 1
    assert float(scale(update_return_scale(init_return_scale(), narrow))) == 1.0
    wide = update_return_scale(init_return_scale(), 10.0 * narrow)
    expected = 10.0 * np.subtract(*np.percentile(narrow, [95, 5]))
    np.testing.assert_allclose(scale(wide), expected, rtol=1e-5)


def test_vmaps_over_seeds():
    data = jnp.stack([jnp.asarray(b) for b in batches(3)])
    states = jax.vmap(update_return_scale, in_axes=(None, 0))(init_return_scale(), data)
    for n in range(3):
        np.testing.assert_allclose(states.low[n], np.percentile(data[n], 5), rtol=1e-5)
        expected = np.ptp(np.percentile(data[n], [5, 95]))
        np.testing.assert_allclose(scale(states)[n], expected, rtol=1e-5)
