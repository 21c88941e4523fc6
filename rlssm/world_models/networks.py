"""Encoders, decoders and heads of the world models (flax linen).

Every module takes any number of leading axes (`[T, B, ...]` or `[B, ...]`). Images are
`[..., H, W, C]` with `H = W = min_resolution * 2^stages`: the encoder halves the resolution with
stride-2 convolutions (channels `depth, 2 depth, ...`) and flattens; the decoder mirrors it with
transposed convolutions. Vectors `[..., D]` go through MLPs. Hidden layers are
Dense -> LayerNorm -> activation (DreamerV3), with `rlssm.nn.LayerNorm` (flax's parameters, a
leaner backward pass).
"""

from collections.abc import Callable

import flax.linen as nn
import jax
import jax.numpy as jnp

from rlssm.nn import LayerNorm, activation
from rlssm.world_models.config import WorldModelConfig


class MLP(nn.Module):
    """`layers` x (Dense(width) -> LayerNorm -> act), then an optional Dense(out) output layer."""

    width: int
    layers: int
    act: Callable[[jax.Array], jax.Array]
    out: int | None = None
    """Output width; None returns the last hidden layer."""
    zero_out: bool = False
    """Initialise the output layer to zero (DreamerV3 does so for the reward head)."""

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        for _ in range(self.layers):
            x = self.act(LayerNorm()(nn.Dense(self.width)(x)))
        if self.out is None:
            return x
        init = nn.initializers.zeros if self.zero_out else nn.initializers.lecun_normal()
        return nn.Dense(self.out, kernel_init=init)(x)


def merge_leading(x: jax.Array, keep: int) -> tuple[jax.Array, tuple[int, ...]]:
    """Flattens every axis before the last `keep` into one, the last leading axis outermost
    (`[T, B, ...]` -> `[B * T, ...]`); returns the permuted leading shape for `split_leading`.

    The environments `B` go first because they are what data parallelism splits over devices:
    a merge keeps a split only on its outermost axis, and `[T * B]` would gather `B` whole
    (on one device, the `B`-major layout also ran the cpu-small update 15% faster).
    """
    lead = x.ndim - keep
    if lead > 1:
        x = jnp.moveaxis(x, lead - 1, 0)
    return x.reshape(-1, *x.shape[lead:]), x.shape[:lead]


def split_leading(x: jax.Array, lead: tuple[int, ...]) -> jax.Array:
    """Inverse of `merge_leading` on `x[lead..., *rest]` (rest: any trailing shape)."""
    x = x.reshape(*lead, *x.shape[1:])
    return jnp.moveaxis(x, 0, len(lead) - 1) if len(lead) > 1 else x


class ImageEncoder(nn.Module):
    """`[..., H, W, C]` -> `[..., F]`: `stages` x (Conv 4x4 stride 2 -> LayerNorm -> act)."""

    depth: int
    stages: int
    act: Callable[[jax.Array], jax.Array]

    @nn.compact
    def __call__(self, obs: jax.Array) -> jax.Array:
        x, lead = merge_leading(obs, 3)
        for stage in range(self.stages):
            x = nn.Conv(self.depth * 2**stage, (4, 4), strides=(2, 2), padding="SAME")(x)
            x = self.act(LayerNorm()(x))
        return split_leading(x.reshape(x.shape[0], -1), lead)


class ImageDecoder(nn.Module):
    """`[..., F]` -> `[..., H, W, C]`: Dense to the lowest resolution, then transposed convs."""

    obs_shape: tuple[int, int, int]
    depth: int
    stages: int
    act: Callable[[jax.Array], jax.Array]

    @nn.compact
    def __call__(self, features: jax.Array) -> jax.Array:
        x, lead = merge_leading(features, 1)
        low = self.obs_shape[0] // 2**self.stages
        channels = self.depth * 2 ** (self.stages - 1)
        x = nn.Dense(low * low * channels)(x).reshape(-1, low, low, channels)
        x = self.act(LayerNorm()(x))
        for stage in reversed(range(1, self.stages)):
            x = nn.ConvTranspose(self.depth * 2 ** (stage - 1), (4, 4), strides=(2, 2))(x)
            x = self.act(LayerNorm()(x))
        x = nn.ConvTranspose(self.obs_shape[-1], (4, 4), strides=(2, 2))(x)
        return split_leading(x.reshape(-1, *self.obs_shape), lead)


def make_encoder(config: WorldModelConfig) -> nn.Module:
    """The observation encoder `obs[..., *obs_shape] -> embed[..., F]` for a config."""
    act = activation(config.activation)
    if config.is_image:
        return ImageEncoder(config.cnn_depth, config.cnn_stages, act)
    return MLP(config.hidden_size, max(config.mlp_layers, 1), act)


def make_decoder(config: WorldModelConfig) -> nn.Module:
    """The observation decoder `features[..., S + H] -> obs[..., *obs_shape]` for a config."""
    act = activation(config.activation)
    if config.is_image:
        return ImageDecoder(tuple(config.obs_shape), config.cnn_depth, config.cnn_stages, act)
    return MLP(config.hidden_size, config.mlp_layers, act, out=config.obs_shape[0])


def encode_action(action: jax.Array, action_dim: int) -> jax.Array:
    """Integer actions `[...]` -> one-hot `[..., A]`; float actions `[..., A]` pass unchanged.

    An integer outside `[0, action_dim)` encodes as all zeros (`jax.nn.one_hot`), silently:
    the world model's `check_inputs` refuses such actions when they are concrete values, but
    not traced ones (under jit, vmap or grad nothing is checked at run time)."""
    action = jnp.asarray(action)
    if jnp.issubdtype(action.dtype, jnp.integer):
        return jax.nn.one_hot(action, action_dim)
    if action.shape[-1:] != (action_dim,):
        raise ValueError(
            f"float actions must end with action_dim={action_dim} features, got {action.shape}; "
            "pass integer actions to have them one-hot encoded."
        )
    return action.astype(jnp.float32)
