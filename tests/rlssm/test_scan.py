"""The resettable scan: every mode against a plain Python loop, associativity, reset semantics."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import rlssm.cores as cores
from rlssm.cores.scan import linear_scan, reset_operator
from tests.rlssm.helpers import LINEAR, init, jitted_apply, random_inputs, small_core

MODES = ("parallel", "sequential", "chunked")


def reference_recurrence(a, b, start, h0):
    """The recurrence written out as a loop over time, in NumPy float64/complex128."""
    a, b, start = np.asarray(a, np.complex128), np.asarray(b, np.complex128), np.asarray(start)
    h = np.asarray(h0, np.complex128)
    out = []
    for t in range(b.shape[0]):
        a_t = a[t] if a.ndim == b.ndim else a
        keep = ~start[t].reshape(start[t].shape + (1,) * (h.ndim - 1))
        h = a_t * (h * keep) + b[t]
        out.append(h)
    return np.stack(out)


def random_problem(key, complex_state: bool, time_varying: bool, length=37, batch=3, size=4):
    keys = jax.random.split(key, 6)
    if time_varying:
        a = jax.random.uniform(keys[0], (length, batch, size), minval=-0.99, maxval=0.99)
    else:
        a = jax.random.uniform(keys[0], (size,), minval=0.5, maxval=0.99)
    b = jax.random.normal(keys[1], (length, batch, size))
    h0 = jax.random.normal(keys[2], (batch, size))
    if complex_state:
        phase = jax.random.uniform(keys[3], a.shape, maxval=2 * np.pi)
        a = a * jnp.exp(1j * phase)
        b = b + 1j * jax.random.normal(keys[4], b.shape)
        h0 = h0 + 0j
    start = jax.random.bernoulli(keys[5], 0.15, (length, batch))
    return a, b, start, h0


@pytest.mark.parametrize(
    "mode", ("sequential", "chunked", pytest.param("parallel", marks=pytest.mark.slow))
)
@pytest.mark.parametrize("complex_state", [False, True])
@pytest.mark.parametrize("time_varying", [False, True])
def test_scan_matches_python_loop(mode, complex_state, time_varying):
    a, b, start, h0 = random_problem(jax.random.key(0), complex_state, time_varying)
    last, h = linear_scan(a, b, start, h0, scan_mode=mode, chunk_size=8)
    expected = reference_recurrence(a, b, start, h0)
    np.testing.assert_allclose(h, expected, atol=1e-5, rtol=1e-5)
    np.testing.assert_allclose(last, expected[-1], atol=1e-5, rtol=1e-5)


def test_auto_mode_is_sequential_on_cpu():
    assert jax.default_backend() != "cpu" or cores.scan.resolve_scan_mode("auto") == "sequential"
    with pytest.raises(ValueError, match="scan_mode"):
        cores.scan.resolve_scan_mode("fast")


@pytest.mark.parametrize("complex_state", [False, True])
def test_reset_operator_is_associative(complex_state):
    keys = jax.random.split(jax.random.key(1), 3)
    elems = []
    for k in keys:
        a, b, start, _ = random_problem(k, complex_state, True, length=64)
        elems.append((a, b, start[..., None]))
    x, y, z = elems
    left = reset_operator(reset_operator(x, y), z)
    right = reset_operator(x, reset_operator(y, z))
    for u, v in zip(left, right, strict=True):
        np.testing.assert_allclose(u, v, atol=1e-5, rtol=1e-5)


def test_reset_operator_forgets_everything_before_a_start():
    earlier = (jnp.array(0.5), jnp.array(3.0), jnp.array(False))
    later = (jnp.array(0.25), jnp.array(1.0), jnp.array(True))
    a, b, start = reset_operator(earlier, later)
    assert (float(a), float(b), bool(start)) == (0.25, 1.0, True)


@pytest.mark.parametrize("name", LINEAR)
def test_linear_cores_agree_across_scan_modes(name):
    x, start = random_inputs(jax.random.key(2), 45, 3, 5, start_rate=0.1)
    outputs = []
    for mode in MODES:
        core = small_core(name, scan_mode=mode, chunk_size=16)
        params = init(core, x, start)
        carry, y = jitted_apply(core)(params, core.initialize_carry(3), x, start)
        outputs.append((carry, y))
    for carry, y in outputs[1:]:
        np.testing.assert_allclose(y, outputs[0][1], atol=1e-5, rtol=1e-5)
        for u, v in zip(jax.tree.leaves(carry), jax.tree.leaves(outputs[0][0]), strict=True):
            np.testing.assert_allclose(u, v, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("name", ("s5", "lru"))
def test_parallel_scan_long_gradients_finite(name):
    core = small_core(name, num_layers=1, scan_mode="parallel")
    x, start = random_inputs(jax.random.key(3), 10_000, 2, 5, start_rate=0.0)
    params = init(core, x[:4], start[:4])
    carry = core.initialize_carry(2)
    grads = jax.jit(jax.grad(lambda p: jnp.mean(core.apply(p, carry, x, start)[1] ** 2)))(params)
    assert all(np.all(np.isfinite(np.asarray(g))) for g in jax.tree.leaves(grads))
