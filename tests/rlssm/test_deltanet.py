"""Gated DeltaNet / DeltaProduct beyond the contract suite: its three scan forms agree (values and
gradients of the parallel one), `step` agrees with them for several Householder steps per token,
and the states
match a NumPy loop over the dense transitions `A_t = alpha_t prod_j (I - beta_j k_j k_j^T)`."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import rlssm.cores as cores
from rlssm.cores.deltanet import GatedDeltaNetConfig, GatedDeltaNetLayer
from tests.rlssm.helpers import random_inputs

T, B, D = 21, 2, 5
SMALL = {"hidden_size": 8, "num_heads": 2, "head_dim": 4, "num_layers": 1}


def _loss_and_grads(core, params, carry, x, start):
    def loss(params, carry, x):
        carry_out, y = core.apply(params, carry, x, start)
        return jnp.sum(jnp.sin(y)) + jnp.sum(jnp.cos(carry_out[0])), (carry_out, y)

    return jax.jit(jax.value_and_grad(loss, argnums=(0, 1, 2), has_aux=True))(params, carry, x)


@pytest.mark.parametrize(
    "options",
    [
        # One Householder step is the second's first step: the default suite runs only the
        # DeltaProduct case, which covers the same code.
        pytest.param({}, id="deltanet", marks=pytest.mark.slow),
        pytest.param({"num_householder": 2, "negative_eigenvalues": True}, id="deltaproduct"),
    ],
)
def test_scan_modes_and_step_agree(options):
    x, start = random_inputs(jax.random.key(0), T, B, D, start_rate=0.15)
    start = start.at[0, 0].set(False)  # row 0 continues from the incoming carry

    def make(mode):
        # chunk_size 8 does not divide T = 21: the padding is exercised too.
        return cores.make("gated_deltanet", **SMALL, **options, scan_mode=mode, chunk_size=8)

    core = make("sequential")
    # The params do not depend on the scan mode; `step` is the cheapest to trace.
    carry_in = (jax.random.normal(jax.random.key(2), core.initialize_carry(B)[0].shape),)
    params = jax.jit(functools.partial(core.init, method="step"))(
        jax.random.key(1), carry_in, x[0], start[0]
    )
    (_, (carry, y)), grads = _loss_and_grads(core, params, carry_in, x, start)
    # Values and gradients of the associative scan; the chunked form (the same scan inside
    # chunks, a lax.scan across them) compares values only.
    (_, parallel), parallel_grads = _loss_and_grads(make("parallel"), params, carry_in, x, start)
    chunked = jax.jit(make("chunked").apply)(params, carry_in, x, start)
    found, expected = (parallel, chunked, parallel_grads), ((carry, y), (carry, y), grads)
    for u, v in zip(jax.tree.leaves(found), jax.tree.leaves(expected), strict=True):
        np.testing.assert_allclose(u, v, atol=1e-4, rtol=1e-4)
    step = jax.jit(lambda c, x_t, s_t: core.apply(params, c, x_t, s_t, method="step"))
    step_carry, ys = carry_in, []
    for t in range(T):
        step_carry, y_t = step(step_carry, x[t], start[t])
        ys.append(y_t)
    np.testing.assert_allclose(jnp.stack(ys), y, atol=1e-5, rtol=1e-5)
    np.testing.assert_allclose(step_carry[0], carry[0], atol=1e-5, rtol=1e-5)


def _reference_states(inputs, start, state):
    """NumPy loop of `S_t = A_t (0 if start_t else S_{t-1}) + B_t` with dense Householder maps."""
    _, k, v, alpha, beta, _ = (np.asarray(u, np.float64) for u in inputs)
    eye = np.eye(k.shape[-1])
    states = []
    for t in range(k.shape[0]):
        state = np.where(start[t, :, None, None, None], 0.0, state)
        state = alpha[t][..., None, None] * state
        for j in range(k.shape[2]):
            k_j, v_j, beta_j = k[t, :, j], v[t, :, j], beta[t, :, j][..., None, None]
            householder = eye - beta_j * k_j[..., :, None] * k_j[..., None, :]
            state = householder @ state + beta_j * k_j[..., :, None] * v_j[..., None, :]
        states.append(state)
    return np.stack(states)


def test_states_match_dense_householder_reference():
    # Two Householder steps per token (the first is Gated DeltaNet's one), beta in (0, 2).
    options = {"num_householder": 2, "negative_eigenvalues": True}
    layer = GatedDeltaNetLayer(config=GatedDeltaNetConfig(**SMALL, **options))
    x, start = random_inputs(jax.random.key(1), T, B, 8, start_rate=0.15)
    carry = jax.random.normal(jax.random.key(2), (B, 2, 4, 4))
    params = jax.jit(layer.init)(jax.random.key(3), carry, x, start)
    inputs = layer.apply(params, x, method=lambda m, x: m.inputs(x))
    expected = _reference_states(inputs, np.asarray(start), np.asarray(carry, np.float64))
    last, y = jax.jit(layer.apply)(params, carry, x, start)
    np.testing.assert_allclose(last, expected[-1], atol=1e-5, rtol=1e-4)
    outputs = np.einsum("tbhkv,tbhk->tbhv", expected, np.asarray(inputs[0], np.float64))
    y_expected = layer.apply(
        params, outputs.astype(np.float32), inputs[-1], method=lambda m, o, g: m.readout(o, g)
    )
    np.testing.assert_allclose(y, y_expected, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("field", ["num_heads", "head_dim", "num_householder"])
def test_config_validation(field):
    with pytest.raises(ValueError, match=f"GatedDeltaNetConfig.{field} must be >= 1"):
        GatedDeltaNetConfig(**{field: 0})
