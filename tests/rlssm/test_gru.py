"""The GRU core against flax's `GRUCell` stepped in a Python loop (what it re-implements)."""

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


def test_gru_core_equals_flax_cell_loop_with_resets():
    width, depth, length, batch, features = 6, 2, 9, 3, 4
    core = cores.make("gru", hidden_size=width, num_layers=depth, update_bias=0.5)
    x = jax.random.normal(jax.random.key(0), (length, batch, features))
    start = jnp.zeros((length, batch), bool).at[0].set(True).at[4, 1].set(True).at[6].set(True)
    carry = tuple(jax.random.normal(jax.random.key(i + 1), (batch, width)) for i in range(depth))
    params = core.init(jax.random.key(9), carry, x, start)
    carry_out, y = core.apply(params, carry, x, start)

    cell = nn.GRUCell(width)
    layers = [flax_params(params["params"][f"cells_{i}"], width) for i in range(depth)]
    h = list(carry)
    reference = []
    for t in range(length):
        inp = x[t]
        for i in range(depth):
            h[i] = jnp.where(start[t][:, None], 0.0, h[i])
            h[i], inp = cell.apply(layers[i], h[i], inp)
        reference.append(inp)
    np.testing.assert_allclose(y, jnp.stack(reference), atol=1e-5)
    for got, want in zip(carry_out, h, strict=True):
        np.testing.assert_allclose(got, want, atol=1e-5)


def test_update_bias_initialises_only_the_update_gate():
    core = cores.make("gru", hidden_size=4, update_bias=2.0)
    x, start = jnp.zeros((2, 1, 3)), jnp.ones((2, 1), bool)
    bias = core.init(jax.random.key(0), core.initialize_carry(1), x, start)["params"]["cells_0"]
    np.testing.assert_array_equal(bias["input"]["bias"], [0.0] * 4 + [2.0] * 4 + [0.0] * 4)
