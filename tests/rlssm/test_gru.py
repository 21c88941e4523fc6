"""The GRU core against flax's `GRUCell` stepped in a Python loop (what it re-implements)."""

import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

import rlssm.cores as cores


def flax_params(cell_params: dict, width: int) -> dict:
    """Our fused kernels split into flax GRUCell's per-gate Dense parameters."""
    wi, bi = cell_params["input"]["kernel"], cell_params["input"]["bias"]
    wh, bhn = cell_params["recurrent"], cell_params["recurrent_bias"]
    part = {gate: slice(i * width, (i + 1) * width) for i, gate in enumerate("rzn")}
    params = {f"i{g}": {"kernel": wi[:, s], "bias": bi[s]} for g, s in part.items()}
    params |= {f"h{g}": {"kernel": wh[:, s]} for g, s in part.items()}
    params["hn"]["bias"] = bhn
    return {"params": params}


def flax_loop(params, carry, x, start, width: int):
    """`(carry_out, y)` of flax's `GRUCell` stepped in a Python loop, resets applied per layer."""
    cell = nn.GRUCell(width)
    layers = [flax_params(params["params"][f"cells_{i}"], width) for i in range(len(carry))]
    h = list(carry)
    reference = []
    for t in range(x.shape[0]):
        inp = x[t]
        for i, layer in enumerate(layers):
            h[i] = jnp.where(start[t][:, None], 0.0, h[i])
            h[i], inp = cell.apply(layer, h[i], inp)
        reference.append(inp)
    return tuple(h), jnp.stack(reference)


def gru_case(width=6, depth=2, length=9, batch=3, features=4):
    core = cores.make("gru", hidden_size=width, num_layers=depth, update_bias=0.5)
    x = jax.random.normal(jax.random.key(0), (length, batch, features))
    start = jnp.zeros((length, batch), bool).at[0, :2].set(True).at[4, 1].set(True).at[6].set(True)
    carry = tuple(jax.random.normal(jax.random.key(i + 1), (batch, width)) for i in range(depth))
    params = core.init(jax.random.key(9), carry, x, start)
    return core, params, carry, x, start


def test_gru_core_equals_flax_cell_loop_with_resets():
    core, params, carry, x, start = gru_case()
    carry_out, y = core.apply(params, carry, x, start)
    carry_ref, y_ref = flax_loop(params, carry, x, start, width=6)
    np.testing.assert_allclose(y, y_ref, atol=1e-5)
    for got, want in zip(carry_out, carry_ref, strict=True):
        np.testing.assert_allclose(got, want, atol=1e-5)


def test_gru_gradients_equal_flax_cell_loop():
    """The layer's custom VJP (`gru_layer`) against autodiff of flax's cell loop: gradients of
    the parameters, the inputs and a nonzero carry, through resets (row 2 never resets)."""
    core, params, carry, x, start = gru_case()

    def loss(run, params, carry, x):
        carry_out, y = run(params, carry, x)
        return jnp.sum(y**2) + sum(jnp.sum(jnp.sin(h)) for h in carry_out)

    def ours(params, carry, x):
        return core.apply(params, carry, x, start)

    def reference(params, carry, x):
        return flax_loop(params, carry, x, start, width=6)

    grads = jax.jit(jax.grad(functools.partial(loss, ours), argnums=(0, 1, 2)))(params, carry, x)
    want = jax.grad(functools.partial(loss, reference), argnums=(0, 1, 2))(params, carry, x)
    for got_leaf, want_leaf in zip(jax.tree.leaves(grads), jax.tree.leaves(want), strict=True):
        np.testing.assert_allclose(got_leaf, want_leaf, rtol=1e-4, atol=1e-5)


def test_update_bias_initialises_only_the_update_gate():
    core = cores.make("gru", hidden_size=4, update_bias=2.0)
    x, start = jnp.zeros((2, 1, 3)), jnp.ones((2, 1), bool)
    bias = core.init(jax.random.key(0), core.initialize_carry(1), x, start)["params"]["cells_0"]
    np.testing.assert_array_equal(bias["input"]["bias"], [0.0] * 4 + [2.0] * 4 + [0.0] * 4)
