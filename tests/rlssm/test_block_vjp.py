"""The residual block's hand-written VJPs (LayerNorm, half GLUs) against flax and JAX autodiff."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rlssm.cores.layers import GeluGate, gelu_gate
from rlssm.nn import LayerNorm, layer_norm


def assert_trees_close(actual, expected, atol=1e-5):
    for u, v in zip(jax.tree.leaves(actual), jax.tree.leaves(expected), strict=True):
        assert u.shape == v.shape
        np.testing.assert_allclose(u, v, atol=atol * max(float(jnp.max(jnp.abs(v))), 1.0))


def random(seed, shape, scale=1.0, shift=0.0):
    return jax.random.normal(jax.random.key(seed), shape) * scale + shift


def test_layer_norm_matches_flax_values_and_gradients():
    x = random(0, (6, 3, 16), scale=3.0, shift=1.0)
    scale, bias = random(1, (16,), 0.5, 1.0), random(2, (16,))
    weights = random(3, x.shape)

    def flax_norm(x, scale, bias):
        return nn.LayerNorm().apply({"params": {"scale": scale, "bias": bias}}, x)

    def loss(norm, x, scale, bias):
        return jnp.sum(jnp.sin(norm(x, scale, bias)) * weights)

    def ours(x, scale, bias):
        return layer_norm(x, scale, bias, 1e-6)

    assert_trees_close(ours(x, scale, bias), flax_norm(x, scale, bias))
    grads = jax.jit(jax.grad(loss, (1, 2, 3)), static_argnums=0)(ours, x, scale, bias)
    assert_trees_close(grads, jax.grad(loss, (1, 2, 3))(flax_norm, x, scale, bias))


def test_layer_norm_module_has_flax_parameters():
    x = random(0, (4, 8))
    ours = LayerNorm().init(jax.random.key(0), x)
    theirs = nn.LayerNorm().init(jax.random.key(0), x)
    assert jax.tree.structure(ours) == jax.tree.structure(theirs)
    assert_trees_close(ours, theirs)


@pytest.mark.parametrize("value_is_gelu", [True, False], ids=["half_glu1", "half_glu2"])
def test_gelu_gate_matches_autodiff(value_is_gelu):
    y = random(0, (7, 3, 16), scale=2.0)
    kernel, bias = random(1, (16, 16), 0.25), random(2, (16,))
    weights = random(3, y.shape)

    def reference(y, kernel, bias, value_is_gelu):
        q = nn.gelu(y)
        return (q if value_is_gelu else y) * nn.sigmoid(q @ kernel + bias)

    def loss(gate, y, kernel, bias):
        return jnp.sum(jnp.tanh(gate(y, kernel, bias, value_is_gelu)) * weights)

    assert_trees_close(
        gelu_gate(y, kernel, bias, value_is_gelu), reference(y, kernel, bias, value_is_gelu)
    )
    grads = jax.jit(jax.grad(loss, (1, 2, 3)), static_argnums=0)(gelu_gate, y, kernel, bias)
    assert_trees_close(grads, jax.grad(loss, (1, 2, 3))(reference, y, kernel, bias))


def test_gelu_gate_module_initialises_like_dense():
    y = random(0, (5, 12))
    ours = GeluGate(features=12).init(jax.random.key(4), y)
    dense = nn.Dense(12).init(jax.random.key(4), y)
    assert jax.tree.structure(ours) == jax.tree.structure(dense)
    assert_trees_close(ours, dense, atol=0)
