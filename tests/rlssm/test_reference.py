"""S5 and LRU layers (parallel scan) against the recurrence written out independently in NumPy."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rlssm.cores.lru import LRUConfig, LRULayer
from rlssm.cores.s5 import S5SSM, S5Config

T, B, H = 30, 2, 6


def run_layer(layer, seed=0):
    x = jax.random.normal(jax.random.key(seed), (T, B, H))
    start = jnp.zeros((T, B), bool).at[0].set(True).at[17, 1].set(True)
    params = layer.init(jax.random.key(1), layer.initialize_carry(B), x, start)
    _, y = jax.jit(layer.apply)(params, layer.initialize_carry(B), x, start)
    p = jax.tree.map(lambda v: np.asarray(v, np.float64), params["params"])
    return p, np.asarray(x, np.float64), np.asarray(start), np.asarray(y)


def loop(lam_bar, b_bar, c, d, x, start, scale):
    """x_t = Lambda_bar x_{t-1} + B_bar u_t (reset at starts), y_t = scale Re(C x_t) + D u_t."""
    ys = np.zeros_like(x)
    for b in range(x.shape[1]):
        state = np.zeros(lam_bar.shape, np.complex128)
        for t in range(x.shape[0]):
            if start[t, b]:
                state[:] = 0
            state = lam_bar * state + b_bar @ x[t, b]
            ys[t, b] = scale * (c @ state).real + d * x[t, b]
    return ys


@pytest.mark.parametrize("discretization", ["zoh", "bilinear"])
@pytest.mark.parametrize("conj_sym", [True, pytest.param(False, marks=pytest.mark.slow)])
def test_s5_layer_matches_numpy_recurrence(discretization, conj_sym):
    cfg = S5Config(
        hidden_size=H,
        state_size=8,
        discretization=discretization,
        conj_sym=conj_sym,
        scan_mode="parallel",
    )
    p, x, start, y = run_layer(S5SSM(config=cfg))
    lam = np.minimum(p["lambda_re"], -1e-4) + 1j * p["lambda_im"]
    b_tilde = p["B"][..., 0] + 1j * p["B"][..., 1]
    c_tilde = p["C"][..., 0] + 1j * p["C"][..., 1]
    delta = np.exp(p["log_step"])
    if discretization == "zoh":
        lam_bar = np.exp(lam * delta)
        b_bar = ((lam_bar - 1) / lam)[:, None] * b_tilde
    else:
        lam_bar = (1 + delta / 2 * lam) / (1 - delta / 2 * lam)
        b_bar = (delta / (1 - delta / 2 * lam))[:, None] * b_tilde
    expected = loop(lam_bar, b_bar, c_tilde, p["D"], x, start, 2.0 if conj_sym else 1.0)
    np.testing.assert_allclose(y, expected, atol=2e-4, rtol=1e-4)


def test_lru_layer_matches_numpy_recurrence():
    cfg = LRUConfig(hidden_size=H, state_size=8, scan_mode="parallel")
    p, x, start, y = run_layer(LRULayer(config=cfg))
    lam = np.exp(-np.exp(p["nu_log"]) + 1j * np.exp(p["theta_log"]))
    b = (p["B"][..., 0] + 1j * p["B"][..., 1]) * np.exp(p["gamma_log"])[:, None]
    c = p["C"][..., 0] + 1j * p["C"][..., 1]
    np.testing.assert_allclose(y, loop(lam, b, c, p["D"], x, start, 1.0), atol=2e-4, rtol=1e-4)
