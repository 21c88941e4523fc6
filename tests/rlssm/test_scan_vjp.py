"""The resettable scan's custom VJP against JAX's own autodiff of the recurrence written as a loop.

The reference, `loop_recurrence`, is plain `jax.numpy` in a Python loop, so `jax.grad` of it is
JAX's autodiff with JAX's complex convention; `linear_scan` must give the same gradients for
every scan mode, real and complex states, time-varying and time-invariant transitions and the
complex-pairs layout.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rlssm.cores.scan import complex_to_pairs, linear_scan, pairs_to_complex
from tests.rlssm.test_scan import random_problem

MODES = ("parallel", "sequential", "chunked")
CPU_MODE_FIRST = (
    pytest.param("parallel", marks=pytest.mark.slow),
    "sequential",
    pytest.param("chunked", marks=pytest.mark.slow),
)
"""Modes of the checks that repeat what `test_gradients_match_autodiff_of_loop` already covers
in every mode (the same custom VJP): only the CPU's sequential form runs by default."""
CHUNK = 8


def loop_recurrence(a, b, start, h0):
    """`(h_last, h)` of the recurrence, one `jax.numpy` step per time step (autodiff reference)."""
    h, states = h0, []
    for t in range(b.shape[0]):
        a_t = a[t] if a.ndim == b.ndim else a
        h = a_t * jnp.where(start[t].reshape(-1, *([1] * (h.ndim - 1))), 0.0, h) + b[t]
        states.append(h)
    return h, jnp.stack(states)


def loop_in_pairs(a, b, start, h0):
    """`loop_recurrence` with `b` and the states in the complex-pairs layout."""
    h_last, h = loop_recurrence(a, pairs_to_complex(b), start, h0)
    return h_last, complex_to_pairs(h)


def weighted_loss(scan, a, b, start, h0, weights):
    """A real loss that reaches every state and the returned carry, non-linearly."""
    h_last, h = scan(a, b, start, h0)
    return jnp.sum(jnp.abs(h * weights) ** 2) + jnp.sum(jnp.real((1.5 - 0.5j) * h_last))


def problem(complex_state, time_varying, pairs=False, a_shape=None, seed=0):
    a, b, start, h0 = random_problem(jax.random.key(seed), complex_state, time_varying)
    if a_shape is not None:
        a = jnp.broadcast_to(a, a_shape) * jnp.linspace(0.9, 1.0, a_shape[0]).reshape(-1, 1)
    if pairs:
        b = complex_to_pairs(b)
    weights = jax.random.normal(jax.random.key(seed + 1), b.shape)
    return a, b, start, h0, weights


def assert_trees_close(actual, expected, rtol=2e-5):
    for u, v in zip(jax.tree.leaves(actual), jax.tree.leaves(expected), strict=True):
        assert u.shape == v.shape and u.dtype == v.dtype
        scale = float(jnp.max(jnp.abs(v)))
        np.testing.assert_allclose(u, v, rtol=0, atol=rtol * max(scale, 1.0))


CASES = [
    pytest.param(False, False, False, id="real-invariant"),
    pytest.param(False, True, False, id="real-varying"),
    pytest.param(True, False, False, id="complex-invariant"),
    pytest.param(True, True, False, id="complex-varying"),
    pytest.param(True, False, True, id="pairs-invariant"),
    pytest.param(True, True, True, id="pairs-varying"),
]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(("complex_state", "time_varying", "pairs"), CASES)
def test_gradients_match_autodiff_of_loop(mode, complex_state, time_varying, pairs):
    a, b, start, h0, weights = problem(complex_state, time_varying, pairs)
    assert bool(start.any()) and not bool(start[0].all())

    def scan(*args):
        return linear_scan(*args, scan_mode=mode, chunk_size=CHUNK, complex_pairs=pairs)

    reference = loop_in_pairs if pairs else loop_recurrence
    expected = jax.grad(weighted_loss, (1, 2, 4))(reference, a, b, start, h0, weights)
    grad_fn = jax.jit(jax.grad(weighted_loss, (1, 2, 4)), static_argnums=0)
    assert_trees_close(grad_fn(scan, a, b, start, h0, weights), expected)


@pytest.mark.parametrize("mode", MODES)
def test_transition_broadcast_along_batch_gets_summed_gradient(mode):
    a, b, start, h0, weights = problem(True, False, a_shape=(1, 4))
    assert a.shape == (1, 4) and b.shape[1] == 3

    def scan(*args):
        return linear_scan(*args, scan_mode=mode, chunk_size=CHUNK)

    expected = jax.grad(weighted_loss, (1, 2, 4))(loop_recurrence, a, b, start, h0, weights)
    grad_fn = jax.jit(jax.grad(weighted_loss, (1, 2, 4)), static_argnums=0)
    assert_trees_close(grad_fn(scan, a, b, start, h0, weights), expected)


@pytest.mark.parametrize("mode", CPU_MODE_FIRST)
def test_gradient_of_the_returned_carry_alone(mode):
    a, b, start, h0, _ = problem(True, False)
    start = start.at[-5:].set(False)

    def loss(scan, a, b, h0):
        return jnp.sum(jnp.abs(scan(a, b, start, h0)[0]) ** 2)

    def scan(*args):
        return linear_scan(*args, scan_mode=mode, chunk_size=CHUNK)

    expected = jax.grad(loss, (1, 2, 3))(loop_recurrence, a, b, h0)
    assert_trees_close(jax.grad(loss, (1, 2, 3))(scan, a, b, h0), expected)


def test_real_transition_of_a_complex_recurrence_gets_a_real_gradient():
    a, b, start, h0, weights = problem(True, False)
    a = jnp.abs(a)

    def scan(*args):
        return linear_scan(*args, scan_mode="sequential")

    grad = jax.grad(weighted_loss, 1)(scan, a, b, start, h0, weights)
    assert grad.dtype == jnp.float32
    assert_trees_close(grad, jax.grad(weighted_loss, 1)(loop_recurrence, a, b, start, h0, weights))


@pytest.mark.parametrize("mode", CPU_MODE_FIRST)
@pytest.mark.parametrize("pairs", [False, True])
def test_second_order_gradients_match_autodiff_of_loop(mode, pairs):
    a, b, start, h0, weights = problem(True, False, pairs)

    def gradient_norm(scan, a, b, h0):
        grads = jax.grad(weighted_loss, (1, 2, 4))(scan, a, b, start, h0, weights)
        return sum(jnp.sum(jnp.abs(g) ** 2) for g in grads)

    def scan(*args):
        return linear_scan(*args, scan_mode=mode, chunk_size=CHUNK, complex_pairs=pairs)

    reference = loop_in_pairs if pairs else loop_recurrence
    expected = jax.grad(gradient_norm, (1, 2, 3))(reference, a, b, h0)
    actual = jax.jit(jax.grad(gradient_norm, (1, 2, 3)), static_argnums=0)(scan, a, b, h0)
    assert_trees_close(actual, expected, rtol=1e-4)


@pytest.mark.parametrize("mode", CPU_MODE_FIRST)
def test_vmap_of_grad_equals_grad_per_problem(mode):
    problems = [problem(True, True, seed=seed) for seed in (0, 3, 6)]
    stacked = jax.tree.map(lambda *xs: jnp.stack(xs), *problems)

    def scan(*args):
        return linear_scan(*args, scan_mode=mode, chunk_size=CHUNK)

    grad_fn = jax.grad(weighted_loss, (1, 2, 4))
    batched = jax.jit(jax.vmap(lambda *p: grad_fn(scan, *p)))(*stacked)
    for i, single in enumerate(problems):
        assert_trees_close(jax.tree.map(lambda x, i=i: x[i], batched), grad_fn(scan, *single))


def test_forward_mode_fails_clearly():
    a, b, start, h0, _ = problem(False, False)
    with pytest.raises(TypeError, match="forward-mode"):
        jax.jvp(lambda b: linear_scan(a, b, start, h0, "sequential")[1], (b,), (b,))


def test_complex_pairs_need_a_pair_axis():
    a, b, start, h0, _ = problem(True, False)
    with pytest.raises(ValueError, match="complex_pairs"):
        linear_scan(a, b.real, start, h0, complex_pairs=True)


@pytest.mark.parametrize("mode", MODES)
def test_complex_pairs_forward_matches_complex_layout(mode):
    a, b, start, h0, _ = problem(True, True)
    last, h = linear_scan(a, b, start, h0, mode, CHUNK)
    last_p, h_p = linear_scan(a, complex_to_pairs(b), start, h0, mode, CHUNK, complex_pairs=True)
    assert h_p.shape == (*b.shape[:-1], 2, b.shape[-1]) and h_p.dtype == jnp.float32
    np.testing.assert_allclose(pairs_to_complex(h_p), h, atol=1e-6)
    np.testing.assert_allclose(last_p, last, atol=1e-6)
