"""Shared neural-network pieces: the one table that maps CLI strings to activation callables, and
the layer normalisation of the cores and the world models' networks (`LayerNorm`).

Axis names: `H` the normalised (last) axis; `...` any leading axes.
"""

import functools
from collections.abc import Callable

import flax.linen as nn
import jax
import jax.numpy as jnp

ACTIVATIONS: dict[str, Callable[[jax.Array], jax.Array]] = {
    "relu": nn.relu,
    "gelu": nn.gelu,
    "silu": nn.silu,
    "tanh": jnp.tanh,
    "elu": nn.elu,
    "leaky_relu": nn.leaky_relu,
    "identity": lambda x: x,
}


def activation(name: str) -> Callable[[jax.Array], jax.Array]:
    """Returns the activation called `name`; unknown names fail with the known ones."""
    try:
        return ACTIVATIONS[name]
    except KeyError:
        raise ValueError(f"Unknown activation {name!r}; known: {sorted(ACTIVATIONS)}.") from None


def _row_statistics(x: jax.Array, epsilon: float) -> tuple[jax.Array, jax.Array]:
    """`(mean[..., 1], 1 / std[..., 1])` of `x[..., H]` over `H` (variance as `E[x^2] - E[x]^2`).

    The barrier keeps XLA's CPU reduction fusions from absorbing the broadcasts that consume the
    statistics (which made them write `[..., H]` copies of the broadcasts).
    """
    mean = jnp.mean(x, axis=-1, keepdims=True)
    mean_sq = jnp.mean(jnp.square(x), axis=-1, keepdims=True)
    inv_std = jax.lax.rsqrt(jnp.maximum(mean_sq - jnp.square(mean), 0.0) + epsilon)
    return jax.lax.optimization_barrier((mean, inv_std))


@functools.partial(jax.custom_vjp, nondiff_argnums=(3,))
def layer_norm(x: jax.Array, scale: jax.Array, bias: jax.Array, epsilon: float) -> jax.Array:
    """`(x - mean) / std * scale + bias` over the last axis `H` of `x[..., H]`.

    The VJP keeps `x` and two numbers per row (not the normalised `[..., H]` copies and
    broadcasts that autodiff of the same expression stores) and recomputes the rest.
    """
    return _layer_norm_forward(x, scale, bias, epsilon)[0]


def _layer_norm_forward(x, scale, bias, epsilon):
    mean, inv_std = _row_statistics(x, epsilon)
    return (x - mean) * inv_std * scale + bias, (x, mean, inv_std, scale)


def _layer_norm_backward(epsilon, residuals, g_y):
    x, mean, inv_std, scale = residuals
    width = x.shape[-1]
    x_hat = (x - mean) * inv_std
    g_y_x_hat = g_y * x_hat
    # Row sums as matrix-vector products: XLA's CPU reduction fusions would instead take
    # `[..., H]` broadcasts of `scale` and `inv_std` as inputs and keep them alive.
    mean_g_hat = (g_y @ scale)[..., None] / width
    mean_g_hat_x_hat = (g_y_x_hat @ scale)[..., None] / width
    g_x = inv_std * (g_y * scale - mean_g_hat - x_hat * mean_g_hat_x_hat)
    rows = tuple(range(x.ndim - 1))
    return g_x, jnp.sum(g_y_x_hat, axis=rows), jnp.sum(g_y, axis=rows)


layer_norm.defvjp(_layer_norm_forward, _layer_norm_backward)


class LayerNorm(nn.Module):
    """Layer normalisation of `x[..., H]` over `H`, with the parameters of `flax.linen.LayerNorm`
    (`scale` ones, `bias` zeros) and a VJP that stores less (`layer_norm`)."""

    epsilon: float = 1e-6

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        width = x.shape[-1]
        scale = self.param("scale", nn.initializers.ones, (width,))
        bias = self.param("bias", nn.initializers.zeros, (width,))
        return layer_norm(x, scale, bias, self.epsilon)
