"""The memory-core contract (DESIGN.md), checked for every registered core."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import rlssm.cores as cores
from tests.rlssm.helpers import init, jitted_apply, random_inputs, small_core, tree_allclose

T, B, D = 24, 3, 5
SLOW_CORES = {"gated_deltanet"}
"""Cores whose generic checks (vmap, parameter gradients) are slow-marked to keep the default
suite short; their recurrence checks (step, chunking, packing, isolation, length) always run."""
SLOW_FOR_SOME = pytest.mark.parametrize(
    "core_name",
    [pytest.param(n, marks=pytest.mark.slow) if n in SLOW_CORES else n for n in cores.registered()],
)


def test_registry_lists_every_core():
    expected = {"s5", "lru", "s6", "mingru", "gated_deltanet", "gru", "lstm", "none"}
    assert set(cores.registered()) >= expected
    for name in cores.registered():
        assert cores.make(name).config.name == name


def test_shapes_dtypes_and_carry_structure_under_jit(core_name):
    core = small_core(core_name)
    apply = jitted_apply(core)
    x, start = random_inputs(jax.random.key(0), T, B, D)
    carry = core.initialize_carry(B)
    for leaf in jax.tree.leaves(carry):
        assert leaf.shape[0] == B
        assert not np.any(np.asarray(leaf))
    params = init(core, x, start)
    new_carry, y = apply(params, carry, x, start)
    assert y.shape == (T, B, 8) and y.dtype == jnp.float32
    assert jax.tree.structure(new_carry) == jax.tree.structure(carry)
    for new, old in zip(jax.tree.leaves(new_carry), jax.tree.leaves(carry), strict=True):
        assert new.shape == old.shape and new.dtype == old.dtype
    step_carry, y_t = apply(params, carry, x[0], start[0], method="step")
    assert y_t.shape == (B, 8) and y_t.dtype == jnp.float32
    assert jax.tree.structure(step_carry) == jax.tree.structure(carry)


@SLOW_FOR_SOME
def test_vmap_over_seeds_matches_loop(core_name):
    core = small_core(core_name)
    apply = jitted_apply(core)
    xs, starts = jax.vmap(lambda k: random_inputs(k, 12, B, D))(
        jax.random.split(jax.random.key(1), 2)
    )
    params = jax.vmap(lambda k, x, s: core.init(k, core.initialize_carry(B), x, s))(
        jax.random.split(jax.random.key(2), 2), xs, starts
    )
    carry = core.initialize_carry(B)
    _, ys = jax.jit(jax.vmap(core.apply, in_axes=(0, None, 0, 0)))(params, carry, xs, starts)
    for n in range(2):
        _, y = apply(jax.tree.map(lambda p, n=n: p[n], params), carry, xs[n], starts[n])
        np.testing.assert_allclose(ys[n], y, atol=1e-5, rtol=1e-5)


def test_step_loop_equals_sequence(core_name):
    core = small_core(core_name)
    apply = jitted_apply(core)
    x, start = random_inputs(jax.random.key(3), T, B, D, start_rate=0.2)
    params = init(core, x, start)
    carry = core.initialize_carry(B)
    whole_carry, y = apply(params, carry, x, start)

    def step(c, x_t, s_t):
        return apply(params, c, x_t, s_t, method="step")

    ys = []
    for t in range(T):
        carry, y_t = step(carry, x[t], start[t])
        ys.append(y_t)
    np.testing.assert_allclose(jnp.stack(ys), y, atol=1e-5, rtol=1e-5)
    assert tree_allclose(carry, whole_carry)


def test_chunks_with_carry_handover_equal_whole(core_name):
    core = small_core(core_name)
    apply = jitted_apply(core)
    x, start = random_inputs(jax.random.key(4), T, B, D, start_rate=0.15)
    params = init(core, x, start)
    carry = core.initialize_carry(B)
    whole_carry, y = apply(params, carry, x, start)
    mid_carry, y1 = apply(params, carry, x[:10], start[:10])
    end_carry, y2 = apply(params, mid_carry, x[10:], start[10:])
    np.testing.assert_allclose(jnp.concatenate([y1, y2]), y, atol=1e-5, rtol=1e-5)
    assert tree_allclose(end_carry, whole_carry)


def test_packed_episodes_equal_separate_runs(core_name):
    core = small_core(core_name)
    apply = jitted_apply(core)
    x, _ = random_inputs(jax.random.key(5), T, B, D)
    lengths = (7, 11, 6)
    start = np.zeros((T, B), bool)
    start[np.cumsum((0, *lengths[:-1]))] = True
    params = init(core, x, jnp.asarray(start))
    # A non-zero incoming carry must be forgotten at the first start too.
    junk_carry, _ = apply(params, core.initialize_carry(B), x[::-1], jnp.asarray(start))
    _, packed = apply(params, junk_carry, x, jnp.asarray(start))
    t0 = 0
    for length in lengths:
        seg = slice(t0, t0 + length)
        seg_start = jnp.zeros((length, B), bool).at[0].set(True)
        _, alone = apply(params, core.initialize_carry(B), x[seg], seg_start)
        np.testing.assert_allclose(packed[seg], alone, atol=1e-5, rtol=1e-5)
        t0 += length


def test_zero_gradient_across_start(core_name):
    core = small_core(core_name)
    apply = jitted_apply(core)
    x, _ = random_inputs(jax.random.key(6), T, B, D)
    cut = 9
    start = jnp.zeros((T, B), bool).at[0].set(True).at[cut].set(True)
    params = init(core, x, start)
    carry = core.initialize_carry(B)

    def after_cut(x, carry):
        _, y = apply(params, carry, x, start)
        return jnp.sum(jnp.sin(y[cut:]))

    grad_x, grad_carry = jax.grad(after_cut, argnums=(0, 1))(x, carry)
    assert np.all(np.asarray(grad_x[:cut]) == 0.0)
    assert np.any(np.asarray(grad_x[cut:]) != 0.0)
    for leaf in jax.tree.leaves(grad_carry):
        assert np.all(np.asarray(leaf) == 0.0)


@pytest.mark.parametrize("length", [10_000])
def test_long_sequences_stay_finite(core_name, length):
    core = small_core(core_name, num_layers=1)
    apply = jitted_apply(core)
    x, start = random_inputs(jax.random.key(7), length, 2, D, start_rate=0.0)
    params = init(core, x[:4], start[:4])
    carry = core.initialize_carry(2)

    def loss(params, x):
        return jnp.mean(apply(params, carry, x, start)[1] ** 2)

    value, grads = jax.jit(jax.value_and_grad(loss))(params, x)
    assert np.isfinite(value)
    assert all(np.all(np.isfinite(np.asarray(g))) for g in jax.tree.leaves(grads))


@SLOW_FOR_SOME
def test_grad_wrt_params_is_finite_and_nonzero(core_name):
    core = small_core(core_name)
    apply = jitted_apply(core)
    x, start = random_inputs(jax.random.key(8), T, B, D)
    params = init(core, x, start)
    carry = core.initialize_carry(B)
    grads = jax.grad(lambda p: jnp.sum(apply(p, carry, x, start)[1] ** 2))(params)
    leaves = jax.tree.leaves(grads)
    assert leaves and all(np.all(np.isfinite(np.asarray(g))) for g in leaves)
    assert any(np.any(np.asarray(g) != 0) for g in leaves)
