"""Initialisations against their closed forms: HiPPO-LegS eigenvalues, LRU rings, S5 options."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rlssm.cores.lru import LRUConfig, LRULayer
from rlssm.cores.s5 import S5SSM, S5Config, discretize
from rlssm.cores.ssm_init import block_diagonal_hippo, hippo_legs, hippo_legs_normal


def test_hippo_legs_matrix_entries():
    a = hippo_legs(4)
    assert a[2, 1] == pytest.approx(-math.sqrt(5) * math.sqrt(3))
    assert a[3, 3] == -4.0 and a[1, 2] == 0.0


@pytest.mark.parametrize("n", [4, 16, 64])
def test_hippo_normal_part_eigendecomposition(n):
    lam, v = hippo_legs_normal(n)
    p = np.sqrt(np.arange(n) + 0.5)
    normal = hippo_legs(n) + np.outer(p, p)
    np.testing.assert_allclose(lam.real, -0.5)  # closed form: S = -I/2 + skew-symmetric
    dense = np.linalg.eigvals(normal)
    dense = dense[np.argsort(dense.imag)]
    np.testing.assert_allclose(lam[np.argsort(lam.imag)], dense, atol=1e-6 * n)
    np.testing.assert_allclose(v @ np.diag(lam) @ v.conj().T, normal, atol=1e-8 * n**2)
    np.testing.assert_allclose(v.conj().T @ v, np.eye(n), atol=1e-10 * n)
    # Conjugate pairs: the first half are the negative-imaginary partners of the second.
    np.testing.assert_allclose(np.sort(lam.imag[: n // 2]), np.sort(-lam.imag[n // 2 :]))


def test_block_diagonal_init_repeats_blocks_and_halves_under_conj_sym():
    lam, v = block_diagonal_hippo(16, 4, conj_sym=True)
    assert lam.shape == (8,) and v.shape == (16, 8)
    np.testing.assert_allclose(lam[:2], lam[2:4])
    assert np.all(v[4:, :2] == 0) and np.all(v[:4, 2:] == 0)
    lam_full, v_full = block_diagonal_hippo(16, 1, conj_sym=False)
    assert lam_full.shape == (16,) and v_full.shape == (16, 16)


@pytest.mark.parametrize("method", ["zoh", "bilinear"])
def test_discretization_closed_forms(method):
    lam = jnp.array([-0.5 + 2.0j, -1e-4 + 0.1j])
    b = jnp.ones((2, 3), jnp.complex64)
    delta = jnp.array([0.1, 0.01])
    lam_bar, b_bar = discretize(lam, b, delta, method)
    lam_np, d = np.asarray(lam), np.asarray(delta)
    if method == "zoh":
        expected = np.exp(lam_np * d)
        expected_b = (expected - 1) / lam_np
    else:
        expected = (1 + d / 2 * lam_np) / (1 - d / 2 * lam_np)
        expected_b = d / (1 - d / 2 * lam_np)
    np.testing.assert_allclose(lam_bar, expected, rtol=1e-5)
    np.testing.assert_allclose(b_bar[:, 0], expected_b, rtol=1e-5)
    assert np.all(np.abs(np.asarray(lam_bar)) < 1)


def s5_bound(cfg, method="discrete"):
    layer = S5SSM(config=cfg)
    params = layer.init(
        jax.random.key(0), layer.initialize_carry(1), jnp.zeros((2, 1, 8)), jnp.zeros((2, 1), bool)
    )
    return params, layer.apply(params, method=lambda m: getattr(m, method)())


@pytest.mark.parametrize("param", ["clip", "exp"])
def test_s5_eigenvalues_start_at_hippo_and_stay_stable(param):
    cfg = S5Config(hidden_size=8, state_size=16, eigenvalue_param=param)
    params, lam = s5_bound(cfg, "eigenvalues")
    expected, _ = block_diagonal_hippo(16, 1, True)
    np.testing.assert_allclose(lam, expected, rtol=1e-5)
    # Push the real parts to the unstable side: the model still sees Re(Lambda) < 0.
    name = "lambda_re" if param == "clip" else "lambda_log_neg_re"
    bad = jax.tree_util.tree_map_with_path(
        lambda path, x: x + 10.0 if name in jax.tree_util.keystr(path) else x, params
    )
    lam_bad = S5SSM(config=cfg).apply(bad, method=lambda m: m.eigenvalues())
    assert np.all(np.asarray(lam_bad).real < 0)


def test_s5_log_step_range_and_step_rescale():
    cfg = S5Config(hidden_size=8, state_size=64, dt_min=1e-3, dt_max=1e-1)
    params, _ = s5_bound(cfg)
    log_step = np.asarray(params["params"]["log_step"])
    assert log_step.shape == (32,)
    assert np.all(log_step >= math.log(1e-3)) and np.all(log_step <= math.log(1e-1))
    _, (lam_bar, _) = s5_bound(cfg)
    _, (lam_bar2, _) = s5_bound(S5Config(hidden_size=8, state_size=64, step_rescale=2.0))
    np.testing.assert_allclose(lam_bar2, np.asarray(lam_bar) ** 2, rtol=1e-4)  # exp(2 L d)


@pytest.mark.parametrize("c_init", ["trunc_standard_normal", "lecun_normal", "complex_normal"])
def test_s5_c_initialisations_have_expected_shapes(c_init):
    params, _ = s5_bound(S5Config(hidden_size=8, state_size=16, c_init=c_init))
    c = np.asarray(params["params"]["C"])
    assert c.shape == (8, 8, 2) and np.all(np.isfinite(c)) and np.std(c) > 0


def test_lru_ring_initialisation():
    cfg = LRUConfig(hidden_size=4, state_size=4096, r_min=0.4, r_max=0.9, max_phase=math.pi / 2)
    layer = LRULayer(config=cfg)
    params = layer.init(
        jax.random.key(0), layer.initialize_carry(1), jnp.zeros((2, 1, 4)), jnp.zeros((2, 1), bool)
    )
    lam = np.asarray(layer.apply(params, method=lambda m: m.eigenvalues()))
    radius = np.abs(lam)
    assert radius.min() >= 0.4 - 1e-6 and radius.max() <= 0.9 + 1e-6
    # |lambda|^2 ~ U[r_min^2, r_max^2]: mean and variance of the uniform law.
    sq = radius**2
    assert sq.mean() == pytest.approx((0.16 + 0.81) / 2, abs=0.01)
    assert sq.var() == pytest.approx((0.81 - 0.16) ** 2 / 12, rel=0.1)
    phase = np.angle(lam)
    assert phase.min() >= 0 and phase.max() <= math.pi / 2 + 1e-6
    gamma = np.exp(np.asarray(params["params"]["gamma_log"]))
    np.testing.assert_allclose(gamma, np.sqrt(1 - radius**2), rtol=1e-4)
