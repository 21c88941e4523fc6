"""The negative-eigenvalue option widens the transition range from (0, 1) to (-1, 1)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

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
