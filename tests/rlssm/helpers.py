"""Shared helpers of the memory-core tests: small cores and random inputs."""

import jax
import jax.numpy as jnp

import rlssm.cores as cores

STATE_SIZED = {"s5": 8, "lru": 8, "s6": 4}
LINEAR = ("s5", "lru", "s6", "mingru")
DELTA = ("gated_deltanet",)
"""Matrix-state delta-rule cores: two heads of width 4, one layer (they compile slower; the
layer stack is the same `BlockStack` the two-layer s6 and mingru cases check)."""


def small_core(name: str, **overrides):
    """A two-layer, width-8 core of `name` (state size 8 where it has one)."""
    kwargs = {"hidden_size": 8, "num_layers": 2}
    if name in STATE_SIZED:
        kwargs["state_size"] = STATE_SIZED[name]
    if name in DELTA:
        kwargs.update(num_heads=2, head_dim=4, num_layers=1)
    return cores.make(name, **{**kwargs, **overrides})


def random_inputs(key, length: int, batch: int, dim: int = 5, start_rate: float = 0.1):
    """`x[T, B, D]` normal and `start[T, B]` Bernoulli(start_rate) with `start[0] = True`."""
    kx, ks = jax.random.split(key)
    x = jax.random.normal(kx, (length, batch, dim))
    start = jax.random.bernoulli(ks, start_rate, (length, batch)).at[0].set(True)
    return x, start


def init(core, x, start, seed: int = 0):
    """Params of `core` for inputs shaped like `x`, `start` (jitted: eager init is slow)."""
    return jax.jit(core.init)(jax.random.key(seed), core.initialize_carry(x.shape[1]), x, start)


def jitted_apply(core):
    """`core.apply` under jit, with `method` static (`"step"` or None for `__call__`)."""
    return jax.jit(core.apply, static_argnames=("method",))


def tree_allclose(a, b, atol=1e-5, rtol=1e-5) -> bool:
    leaves = jax.tree.leaves(
        jax.tree.map(lambda u, v: jnp.allclose(u, v, atol=atol, rtol=rtol), a, b)
    )
    return all(bool(leaf) for leaf in leaves)
