"""TSSM: the world model with a causal Transformer backbone, and that backbone as a memory core.

Chen et al., "TransDreamer: Reinforcement Learning with Transformer World Models" (2022), as
compared in S4WM (Deng et al. 2023): the same structure as S4WM (posterior from the observation
alone, prior from the backbone output), with a causal Transformer over the inputs `u[<=t]`.

`TransformerCore` keeps the memory-core contract (`rlssm.cores.base`): its carry is a key/value
cache of the last `W = window` inputs of every layer, which of them belong to the current episode,
and the time since the episode started. In every layer, input `t` attends to itself and to the `W`
inputs before it that are in its episode (a start masks everything earlier), so an output reads up
to `L * W` inputs back; `step` (one input against the cache) equals `__call__` over a sequence, and
a sequence split in chunks equals the whole. Positions are sinusoidal encodings of the time since
the episode started. Axis names: `T`, `B`, `D`, `H`, `L`, `W` cache length.
"""

import dataclasses
import math
from typing import ClassVar, NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp
from jaxtyping import Array, Bool, Float, Int

from rlssm.cores import CoreConfig, MemoryCore
from rlssm.world_models.base import WorldModel
from rlssm.world_models.config import require

MASKED = -1e30


@dataclasses.dataclass(frozen=True)
class TransformerConfig(CoreConfig):
    """Pre-norm causal Transformer: input projection D->H, then num_layers attention blocks."""

    num_heads: int = 4
    """Attention heads; hidden_size must be divisible by it."""
    window: int = 64
    """W: past inputs each input attends to in every layer (the key/value cache length)."""
    mlp_ratio: int = 4
    """Width of the feed-forward layer relative to hidden_size."""

    name: ClassVar[str] = "transformer"

    def __post_init__(self) -> None:
        super().__post_init__()
        h, heads = self.hidden_size, self.num_heads
        require(heads >= 1 and h % heads == 0, f"hidden_size={h} must divide by num_heads={heads}.")
        require(h % 2 == 0, f"TransformerConfig.hidden_size must be even, got {h}.")
        require(self.window >= 1, f"TransformerConfig.window must be >= 1, got {self.window}.")
        require(self.mlp_ratio >= 1, "TransformerConfig.mlp_ratio must be >= 1.")

    def build(self) -> "TransformerCore":
        return TransformerCore(config=self)


class TransformerCarry(NamedTuple):
    """Key/value cache and episode bookkeeping; every leaf leads with `B`."""

    keys: tuple[Float[Array, "B W H"], ...]
    """`L` x `[B, W, H]` keys of the last `W` inputs."""
    values: tuple[Float[Array, "B W H"], ...]
    """`L` x `[B, W, H]` values of the last `W` inputs."""
    valid: Bool[Array, "B W"]
    """`[B, W]` bool: the cached input belongs to the current episode."""
    time: Int[Array, " B"]
    """`[B]` int32: inputs consumed since the current episode started."""


def episode_positions(start: jax.Array, time: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Episode index and time since the episode started of every input.

    Args:
        start: `[T, B]` bool, input `t` opens an episode.
        time: `[B]` inputs consumed in the carry's episode.

    Returns:
        Episode index `[T, B]` (0 continues the carry's episode) and time since its start `[T, B]`.
    """
    steps = jnp.arange(start.shape[0])[:, None]
    last_start = jax.lax.cummax(jnp.where(start, steps, -1), axis=0)
    since = jnp.where(last_start >= 0, steps - last_start, time[None] + steps)
    return jnp.cumsum(start, axis=0), since.astype(jnp.int32)


def sinusoid(time: jax.Array, width: int) -> jax.Array:
    """Sinusoidal encoding `[..., width]` of integer positions `time[...]`."""
    half = width // 2
    freqs = jnp.exp(-math.log(10_000.0) * jnp.arange(half) / half)
    angles = time[..., None].astype(jnp.float32) * freqs
    return jnp.concatenate([jnp.sin(angles), jnp.cos(angles)], -1)


def attention_mask(
    episode: jax.Array, cached_valid: jax.Array, window: int
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Which of the `W + T` keys (cache, then the new inputs) each of the `T` queries may read.

    Args:
        episode: `[T, B]` episode index of the new inputs (0 = the carry's episode).
        cached_valid: `[B, W]` whether each cached input is in the carry's episode.
        window: `W`.

    Returns:
        `mask[B, T, W + T]`, and the keys' episode index and validity `[B, W + T]`.
    """
    length = episode.shape[0]
    key_episode = jnp.concatenate([jnp.zeros_like(cached_valid, episode.dtype), episode.T], 1)
    key_valid = jnp.concatenate([cached_valid, jnp.ones_like(episode.T, bool)], 1)
    query_pos = jnp.arange(length)[:, None]
    key_pos = jnp.arange(-window, length)[None, :]
    in_window = (key_pos <= query_pos) & (key_pos >= query_pos - window)
    same = key_episode[:, None, :] == episode.T[:, :, None]
    return in_window[None] & same & key_valid[:, None, :], key_episode, key_valid


class AttentionBlock(nn.Module):
    """Pre-norm block: causal multi-head attention over cache + inputs, then a feed-forward MLP."""

    config: TransformerConfig

    @nn.compact
    def __call__(self, h, cached_keys, cached_values, mask):
        """`h[T, B, H]`, cache `[B, W, H]`, `mask[B, T, W + T]` -> `(h, keys, values)`.

        Keys and values are `[B, W + T, H]` (the cache, then the new inputs)."""
        cfg = self.config
        width, heads = cfg.hidden_size, cfg.num_heads
        q, k, v = jnp.split(nn.Dense(3 * width)(nn.LayerNorm()(h)), 3, axis=-1)
        keys = jnp.concatenate([cached_keys, k.swapaxes(0, 1)], 1)
        values = jnp.concatenate([cached_values, v.swapaxes(0, 1)], 1)

        def split_heads(x):
            return x.reshape(*x.shape[:2], heads, width // heads)

        logits = jnp.einsum("tbnd,bsnd->bnts", split_heads(q), split_heads(keys))
        logits = jnp.where(mask[:, None], logits / math.sqrt(width // heads), MASKED)
        read = jnp.einsum("bnts,bsnd->tbnd", jax.nn.softmax(logits, -1), split_heads(values))
        h = h + nn.Dense(width)(read.reshape(*h.shape))
        y = nn.gelu(nn.Dense(cfg.mlp_ratio * width)(nn.LayerNorm()(h)))
        return h + nn.Dense(width)(y), keys, values


class TransformerCore(MemoryCore):
    """Causal Transformer memory core with a key/value cache: `x[T, B, D] -> y[T, B, H]`."""

    config: TransformerConfig

    def setup(self):
        self.encoder = nn.Dense(self.config.hidden_size)
        self.blocks = [AttentionBlock(self.config) for _ in range(self.config.num_layers)]
        self.norm = nn.LayerNorm()

    def initialize_carry(self, batch_size: int) -> TransformerCarry:
        cfg = self.config
        cache = jnp.zeros((batch_size, cfg.window, cfg.hidden_size), jnp.float32)
        layers = tuple(cache for _ in range(cfg.num_layers))
        return TransformerCarry(
            keys=layers,
            values=layers,
            valid=jnp.zeros((batch_size, cfg.window), bool),
            time=jnp.zeros((batch_size,), jnp.int32),
        )

    def _sequence(self, carry, x, start):
        window = self.config.window
        episode, since = episode_positions(start, carry.time)
        mask, key_episode, key_valid = attention_mask(episode, carry.valid, window)
        h = self.encoder(x) + sinusoid(since, self.config.hidden_size)
        keys, values = [], []
        for block, cached_k, cached_v in zip(self.blocks, carry.keys, carry.values, strict=True):
            h, k, v = block(h, cached_k, cached_v, mask)
            keys.append(k[:, -window:])
            values.append(v[:, -window:])
        valid = (key_valid & (key_episode == episode[-1][:, None]))[:, -window:]
        new_carry = TransformerCarry(tuple(keys), tuple(values), valid, since[-1] + 1)
        return new_carry, self.norm(h)

    def _step(self, carry, x, start):
        carry, y = self._sequence(carry, x[None], start[None])
        return carry, y[0]


class TSSM(WorldModel):
    """TSSM: S4WM's structure with the causal Transformer backbone."""

    name: ClassVar[str] = "tssm"
    posterior_sees_backbone: ClassVar[bool] = False
    default_core: ClassVar[str] = "transformer"
