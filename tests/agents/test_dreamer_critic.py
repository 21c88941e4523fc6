"""The critic's loss against a NumPy two-hot cross-entropy and its hand-computed minimum; its
closed-form gradient against autodiff of the loss; the slow target's EMA against a plain loop."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from agents.dreamer.critic import critic_loss, critic_loss_grad, ema_update
from rlssm.world_models.latents import TwoHotReward, symexp

VALUE = TwoHotReward(255)
STEP = 40.0 / 254.0  # bins are evenly spaced over [-20, 20] in symlog space


def numpy_twohot(target):
    """Two-hot labels of `symlog(target)` over the bins, by arithmetic on the bin index."""
    x = np.clip(np.sign(target) * np.log1p(np.abs(target)), -20.0, 20.0)
    position = (x + 20.0) / STEP
    below = np.clip(np.floor(position).astype(int), 0, 253)
    frac = position - below
    labels = np.zeros((*np.shape(target), 255))
    np.put_along_axis(labels, below[..., None], (1 - frac)[..., None], -1)
    np.put_along_axis(labels, below[..., None] + 1, frac[..., None], -1)
    return labels


def numpy_loss(logits, returns, slow_value, weight, slow_reg):
    log_probs = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    ce_return = -(numpy_twohot(returns) * log_probs).sum(-1)
    ce_slow = -(numpy_twohot(slow_value) * log_probs).sum(-1)
    return (weight * (ce_return + slow_reg * ce_slow)).mean()


def between_bins(index, frac, shape=(2, 3)):
    """A value whose symlog lies `frac` of the way from bin `index` to the next."""
    return jnp.full(shape, symexp(jnp.float32(-20.0 + (index + frac) * STEP)))


def random_case(seed):
    """Logits `[4, 3, 255]`, returns and slow values spread over many bins, and weights with
    some zeros."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(4, 3, 255)).astype(np.float32)
    returns = (rng.normal(size=(4, 3)) * 30.0).astype(np.float32)
    slow_value = (rng.normal(size=(4, 3)) * 30.0).astype(np.float32)
    weight = rng.uniform(size=(4, 3)).astype(np.float32)
    weight[2:, 0] = 0.0
    return logits, returns, slow_value, weight


@pytest.mark.parametrize("slow_reg", [0.0, 1.0, 0.3])
def test_matches_numpy_cross_entropy(slow_reg):
    logits, returns, slow_value, weight = random_case(0)
    loss, metrics = jax.jit(critic_loss, static_argnums=0)(
        VALUE, logits, returns, slow_value, weight, slow_reg
    )
    expected = numpy_loss(logits, returns, slow_value, weight, slow_reg)
    np.testing.assert_allclose(loss, expected, rtol=1e-5)
    np.testing.assert_allclose(metrics["critic_loss"], expected, rtol=1e-5)


@pytest.mark.parametrize("slow_reg", [0.0, 1.0, 0.3])
def test_closed_form_gradient_equals_autodiff_of_the_loss(slow_reg):
    """`critic_loss_grad` on rows gives `critic_loss` and its autodiff gradient; rows of
    weight 0 appended (the bootstrap states), with `count` the real rows, change neither."""
    logits, returns, slow_value, weight = random_case(1)

    def loss_of(logits):
        return critic_loss(VALUE, logits, returns, slow_value, weight, slow_reg)[0]

    expected, expected_grads = jax.value_and_grad(loss_of)(logits)
    padded = [np.concatenate([x.reshape(12, *x.shape[2:]), x[0]]) for x in (logits, returns)]
    slow_rows = np.concatenate([slow_value.reshape(12), slow_value[0]])
    weight_rows = np.concatenate([weight.reshape(12), np.zeros(3, np.float32)])
    loss, grads = jax.jit(critic_loss_grad, static_argnums=(0, 5, 6))(
        VALUE, *padded, slow_rows, weight_rows, slow_reg, 12
    )
    np.testing.assert_allclose(loss, expected, rtol=1e-5)
    np.testing.assert_allclose(grads[:12], expected_grads.reshape(12, 255), rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(grads[12:], 0.0)


def test_minimised_by_the_two_hot_of_the_return():
    returns = between_bins(130, 0.25)  # labels: 0.75 on bin 130, 0.25 on bin 131
    probs = jnp.zeros(255).at[130].set(0.75).at[131].set(0.25)
    logits = jnp.broadcast_to(jnp.log(probs + 1e-12), (2, 3, 255))
    weight = jnp.ones((2, 3))

    def loss(logits):
        return critic_loss(VALUE, logits, returns, returns, weight, slow_reg=0.0)[0]

    entropy = -(0.75 * np.log(0.75) + 0.25 * np.log(0.25))
    np.testing.assert_allclose(loss(logits), entropy, rtol=1e-4)
    assert float(jnp.abs(jax.grad(loss)(logits)).max()) < 1e-6
    np.testing.assert_allclose(VALUE.mean(logits), returns, rtol=1e-4)
    # Half-and-half on the same two bins is not the minimum: the gradient says so.
    off = jnp.broadcast_to(jnp.log(jnp.zeros(255).at[130:132].set(0.5) + 1e-12), (2, 3, 255))
    assert float(jnp.abs(jax.grad(loss)(off)).max()) > 1e-3


def test_slow_regulariser_moves_the_minimum_to_the_mixture():
    returns = between_bins(130, 0.25)  # 0.75 / 0.25 on bins 130, 131
    slow_value = between_bins(100, 0.5)  # 0.5 / 0.5 on bins 100, 101
    mixture = jnp.zeros(255).at[130].set(0.375).at[131].set(0.125).at[100:102].set(0.25)
    logits = jnp.broadcast_to(jnp.log(mixture + 1e-12), (2, 3, 255))

    def loss(logits):
        return critic_loss(VALUE, logits, returns, slow_value, jnp.ones((2, 3)), 1.0)[0]

    mixture_entropy = -(0.375 * np.log(0.375) + 0.125 * np.log(0.125) + 0.5 * np.log(0.25))
    np.testing.assert_allclose(loss(logits), 2.0 * mixture_entropy, rtol=1e-4)
    assert float(jnp.abs(jax.grad(loss)(logits)).max()) < 1e-6


def test_targets_get_no_gradient():
    logits = jax.random.normal(jax.random.key(0), (2, 3, 255))
    returns, slow_value = between_bins(130, 0.25), between_bins(100, 0.5)

    def loss(returns, slow_value):
        return critic_loss(VALUE, logits, returns, slow_value, jnp.ones((2, 3)))[0]

    grads = jax.grad(loss, argnums=(0, 1))(returns, slow_value)
    assert all(float(jnp.abs(g).max()) == 0.0 for g in grads)


def test_ema_update_matches_a_loop():
    rng = np.random.default_rng(0)
    target = {"dense": {"kernel": rng.normal(size=(3, 2)), "bias": np.zeros(2)}}
    expected = jax.tree.map(np.copy, target)
    update = jax.jit(ema_update)
    for _ in range(4):
        params = {"dense": {"kernel": rng.normal(size=(3, 2)), "bias": rng.normal(size=2)}}
        target = update(target, params, 0.98)
        for name in ("kernel", "bias"):
            old = expected["dense"][name]
            expected["dense"][name] = 0.98 * old + 0.02 * params["dense"][name]
        for name in ("kernel", "bias"):
            np.testing.assert_allclose(target["dense"][name], expected["dense"][name], rtol=1e-5)


def test_ema_update_approaches_fixed_params_geometrically():
    params = {"w": jnp.full((2,), 3.0)}
    target = {"w": jnp.zeros(2)}
    for _ in range(10):
        target = ema_update(target, params, 0.9)
    np.testing.assert_allclose(target["w"], 3.0 * (1 - 0.9**10), rtol=1e-5)
