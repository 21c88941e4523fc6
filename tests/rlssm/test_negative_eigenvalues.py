"""The negative-eigenvalue option widens the transition range from (0, 1) to (-1, 1), on every
input-dependent linear core: s6, mingru and the delta-rule core (gated_deltanet)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rlssm.cores.deltanet import GatedDeltaNetConfig, GatedDeltaNetLayer, transition_pairs
from rlssm.cores.mingru import MinGRUConfig, MinGRULayer
from rlssm.cores.s6 import S6Config, S6Layer


@pytest.mark.parametrize(
    ("layer_cls", "config_cls"), [(MinGRULayer, MinGRUConfig), (S6Layer, S6Config)]
)
@pytest.mark.parametrize("negative", [False, True])
def test_transition_range(layer_cls, config_cls, negative):
    layer = layer_cls(config=config_cls(hidden_size=16, negative_eigenvalues=negative))
    x = 3.0 * jax.random.normal(jax.random.key(0), (512, 16))
    params = layer.init(
        jax.random.key(1), layer.initialize_carry(1), x[:2, None], jnp.zeros((2, 1), bool)
    )
    a, _ = layer.apply(params, x, method=lambda m, x: m.coefficients(x))
    a = np.asarray(a)
    assert np.all(a >= -1) and np.all(a <= 1)  # closed only through float32 rounding
    assert (a.min() < -0.2) == negative


@pytest.mark.parametrize(("num_householder", "negative"), [(1, False), (1, True), (2, True)])
def test_delta_rule_transition_eigenvalues(num_householder, negative):
    """The eigenvalues of `A_t = alpha_t prod_j (I - beta_j k_j k_j^T)` (Gated DeltaNet for one
    Householder step, DeltaProduct for two): inside the unit disc, and below zero only with the
    option (for one step, `alpha (1 - beta)` along `k_t`)."""
    config = GatedDeltaNetConfig(
        hidden_size=16,
        num_heads=2,
        head_dim=4,
        num_householder=num_householder,
        negative_eigenvalues=negative,
    )
    layer = GatedDeltaNetLayer(config=config)
    x = 3.0 * jax.random.normal(jax.random.key(0), (512, 16))
    params = layer.init(
        jax.random.key(1), layer.initialize_carry(1), x[:2, None], jnp.zeros((2, 1), bool)
    )
    _, k, v, alpha, beta, _ = layer.apply(params, x, method=lambda m, x: m.inputs(x))
    a, _ = transition_pairs(k, v, alpha, beta)
    eigenvalues = np.linalg.eigvals(np.asarray(a, np.float64))
    assert np.all(np.abs(eigenvalues) <= 1 + 1e-5)
    assert (eigenvalues.real.min() < -0.2) == negative
