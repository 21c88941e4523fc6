"""S6's sequence path (`selective_scan`, the readout inside the scan) against a plain loop.

The reference reads the layer's parameters and runs, one step at a time (a `lax.scan`),
`s[t] = exp(Delta[t] A) * (0 if start[t] else s[t-1]) + Delta[t] B(x[t]) x[t]`,
`y[t] = (C(x[t]) . s[t] + D x[t]) * silu(W_z x[t] + b_z)`, sharing no code with the layer.
"""

import jax
import jax.numpy as jnp
import pytest

from rlssm.cores.s6 import SEQUENCE_CHUNK, S6Config, S6Layer

WIDTH, STATE = 6, 4
LENGTH = 2 * SEQUENCE_CHUNK + 5  # three chunks, the last one padded


def reference(params, carry, x, start, negative_eigenvalues):
    """`(s_last[B, H, N], y[T, B, H])` by a `lax.scan` over `T`, one step at a time."""
    p = params["params"]
    a_diag = -jnp.exp(p["A_log"])

    def step(state, inputs):
        x_t, start_t = inputs
        delta = jax.nn.softplus(x_t @ p["dt"]["kernel"] + p["dt"]["bias"])
        bc = x_t @ p["bc"]["kernel"]
        b_x, c_x = bc[:, :STATE], bc[:, STATE:]
        a = jnp.exp(delta[:, :, None] * a_diag[None])
        if negative_eigenvalues:
            a = 2.0 * a - 1.0
        kept = jnp.where(start_t[:, None, None], 0.0, state)
        state = a * kept + delta[:, :, None] * b_x[:, None, :] * x_t[:, :, None]
        y = jnp.sum(state * c_x[:, None, :], axis=-1) + p["D"] * x_t
        return state, y * jax.nn.silu(x_t @ p["gate"]["kernel"] + p["gate"]["bias"])

    return jax.lax.scan(step, carry, (x, start))


def inputs(batch=3):
    kx, ks, kc = jax.random.split(jax.random.key(0), 3)
    x = jax.random.normal(kx, (LENGTH, batch, WIDTH))
    start = jax.random.bernoulli(ks, 0.1, (LENGTH, batch)).at[SEQUENCE_CHUNK + 3, 0].set(True)
    start = start.at[0].set(jnp.arange(batch) == batch - 1)  # the last row resets at once
    return x, start, jax.random.normal(kc, (batch, WIDTH, STATE))  # a nonzero carry


def loss_and_grads(run, params, carry, x):
    """`sum(y^2) + sum(s_last^3)` and its gradients w.r.t. params, carry and `x`."""

    def loss(params, carry, x):
        s_last, y = run(params, carry, x)
        return jnp.sum(y**2) + jnp.sum(s_last**3), (s_last, y)

    return jax.value_and_grad(loss, argnums=(0, 1, 2), has_aux=True)(params, carry, x)


@pytest.mark.parametrize(
    ("scan_mode", "negative"),
    [("sequential", False), ("sequential", True), ("parallel", False), ("chunked", True)],
)
def test_sequence_path_matches_loop(scan_mode, negative):
    config = S6Config(
        hidden_size=WIDTH,
        state_size=STATE,
        scan_mode=scan_mode,
        chunk_size=4,
        negative_eigenvalues=negative,
    )
    layer = S6Layer(config=config)
    x, start, carry = inputs()
    params = layer.init(jax.random.key(1), carry, x, start)
    # Larger time steps than the initialisation's, so the transitions (and resets) matter.
    p = params["params"]
    params = {"params": {**p, "dt": {**p["dt"], "bias": p["dt"]["bias"] + 2.0}}}

    def layer_run(params, carry, x):
        return layer.apply(params, carry, x, start)

    def reference_run(params, carry, x):
        return reference(params, carry, x, start, negative)

    (value, out), grads = jax.jit(lambda *a: loss_and_grads(layer_run, *a))(params, carry, x)
    (ref_value, ref_out), ref_grads = jax.jit(lambda *a: loss_and_grads(reference_run, *a))(
        params, carry, x
    )
    assert jnp.allclose(value, ref_value, rtol=1e-5)
    got_leaves, want_leaves = jax.tree.leaves((out, grads)), jax.tree.leaves((ref_out, ref_grads))
    for got, want in zip(got_leaves, want_leaves, strict=True):
        assert got.shape == want.shape
        assert jnp.allclose(got, want, rtol=1e-4, atol=1e-5), float(jnp.max(jnp.abs(got - want)))
    # The data exercise the resets and the carry: without them the reference changes.
    no_reset = reference(params, carry, x, jnp.zeros_like(start), negative)[1]
    assert not jnp.allclose(no_reset, ref_out[1], atol=1e-3)
    zero_carry = reference(params, jnp.zeros_like(carry), x, start, negative)[1]
    assert not jnp.allclose(zero_carry, ref_out[1], atol=1e-3)


def test_sequence_path_matches_steps():
    """`__call__` (the fused scan) equals `step` in a loop (`LinearMixer.step`)."""
    layer = S6Layer(config=S6Config(hidden_size=WIDTH, state_size=STATE, scan_mode="sequential"))
    x, start, carry = inputs()
    params = layer.init(jax.random.key(1), carry, x, start)
    s_last, y = layer.apply(params, carry, x, start)
    state, ys = carry, []
    for t in range(LENGTH):
        state, y_t = layer.apply(params, state, x[t], start[t], method="step")
        ys.append(y_t)
    assert jnp.allclose(s_last, state, atol=1e-5)
    assert jnp.allclose(y, jnp.stack(ys), atol=1e-5)
