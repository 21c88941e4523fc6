"""Distributions of the world models: stochastic latents, KL balancing, symlog and two-hot rewards.

Latent distributions are described by plain arrays (`stats`) so that they pass through scans and
jit as ordinary pytrees; `distribution(stats)` turns them into distrax distributions when needed.
- `DiscreteLatent`: `G` independent `K`-way categoricals; `stats` are logits `[..., G, K]` with
  `unimix` of the uniform distribution mixed in; samples are straight-through one-hot vectors
  flattened to `[..., G * K]` (DreamerV3).
- `GaussianLatent`: a diagonal Gaussian of width `S`; `stats[..., 2, S]` hold mean and standard
  deviation; samples are reparameterised.
`balanced_kl` gives DreamerV3's two KL terms with free nats. `symlog`/`symexp` compress large
magnitudes; `TwoHotReward` and `SymlogMSEReward` are the two reward heads' losses and means;
`log_softmax` and `expectation` (a categorical's mean) compute jax.nn's softmax over the last
axis in a form that XLA's CPU backend runs faster (`max_last`).

Axis names: `T` time, `B` batch, `G` categorical variables, `K` classes or bins, `S` Gaussian width;
`*batch` any leading axes. In the jaxtyping annotations (documentation: nothing checks them at run
time), a shape string that would parse as a Python expression gets a leading space (" K"), which
jaxtyping strips, so that linters do not read it as a forward reference.
"""

import dataclasses

import distrax
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, Int, PRNGKeyArray

from rlssm.world_models.config import WorldModelConfig

TWOHOT_LIMIT = 20.0


def symlog(x: Float[Array, "*batch"]) -> Float[Array, "*batch"]:
    """`sign(x) * log(1 + |x|)`: compresses large magnitudes, identity-like near zero."""
    return jnp.sign(x) * jnp.log1p(jnp.abs(x))


def symexp(x: Float[Array, "*batch"]) -> Float[Array, "*batch"]:
    """Inverse of `symlog`: `sign(x) * (exp(|x|) - 1)`."""
    return jnp.sign(x) * jnp.expm1(jnp.abs(x))


def max_last(x: Float[Array, "*batch K"]) -> Float[Array, "*batch"]:
    """`x.max(-1)`, exactly, as a tree of element-wise maxima of the axis' halves.

    XLA's CPU backend runs a max-reduction over a long minor axis (the 255 bins of a two-hot
    head) as a reduce-window, slower than this tree; the result is the same number.
    """
    while x.shape[-1] > 1:
        half = x.shape[-1] // 2
        pairs = jnp.maximum(x[..., :half], x[..., half : 2 * half])
        x = jnp.concatenate([pairs, x[..., 2 * half :]], -1) if x.shape[-1] % 2 else pairs
    return x[..., 0]


def log_softmax(x: Float[Array, "*batch K"]) -> Float[Array, "*batch K"]:
    """`jax.nn.log_softmax(x, -1)` (the same values and gradient up to float rounding), with the
    max taken by `max_last` and the sum as a product with ones, which XLA's CPU backend runs
    faster than a sum-reduction over 255 bins: the two-hot heads' and the critic's log-probs."""
    shifted = x - jax.lax.stop_gradient(max_last(x))[..., None]
    total = jnp.exp(shifted) @ jnp.ones(x.shape[-1], x.dtype)
    return shifted - jnp.log(total)[..., None]


def expectation(x: Float[Array, "*batch K"], values: Float[Array, " K"]) -> Float[Array, "*batch"]:
    """`sum(softmax(x) * values, -1)`: the mean of `values` under the categorical of logits `x`,
    as two products with the unnormalised probabilities (see `log_softmax`)."""
    weights = jnp.exp(x - jax.lax.stop_gradient(max_last(x))[..., None])
    return (weights @ values) / (weights @ jnp.ones_like(values))


def inverse_cdf_sample(
    probs: Float[Array, "*batch K"], u: Float[Array, "*batch"]
) -> Int[Array, "*batch"]:
    """The class `k` whose CDF interval `(cdf[k - 1], cdf[k]]` holds `u`: with `u` uniform on
    `[0, 1)`, a draw of the categorical `probs` (a zero-probability class is never drawn).

    The CDF is a product with a triangular matrix of ones: XLA's CPU backend runs a cumulative
    sum over a short axis as a slow reduce-window.
    """
    classes = probs.shape[-1]
    cdf = probs @ jnp.triu(jnp.ones((classes, classes), probs.dtype))
    return jnp.minimum(jnp.sum(cdf < u[..., None], -1), classes - 1)


@dataclasses.dataclass(frozen=True)
class DiscreteLatent:
    """`G` independent `K`-way one-hot categoricals with a uniform mixture of weight `unimix`."""

    groups: int
    """G: number of categorical variables."""
    classes: int
    """K: classes of each variable."""
    unimix: float = 0.01
    """Share of the uniform distribution in every categorical."""

    @property
    def size(self) -> int:
        """Width `G * K` of a (flattened) sample."""
        return self.groups * self.classes

    @property
    def raw_size(self) -> int:
        """Width of the network output that `stats` turns into a distribution."""
        return self.groups * self.classes

    def stats(self, raw: Float[Array, "*batch G*K"]) -> Float[Array, "*batch G K"]:
        """`raw[..., G * K]` -> logits `[..., G, K]` of the mixed distribution."""
        logits = raw.reshape(*raw.shape[:-1], self.groups, self.classes)
        if self.unimix == 0.0:
            return jax.nn.log_softmax(logits, -1)
        probs = (1.0 - self.unimix) * jax.nn.softmax(logits, -1) + self.unimix / self.classes
        return jnp.log(probs)

    def distribution(self, stats: Float[Array, "*batch G K"]) -> distrax.Distribution:
        """The distrax distribution with event shape `[G, K]`."""
        return distrax.Independent(distrax.OneHotCategorical(logits=stats), 1)

    def sample(
        self, stats: Float[Array, "*batch G K"], key: PRNGKeyArray
    ) -> Float[Array, "*batch G*K"]:
        """Straight-through one-hot sample `[..., G * K]`: one-hot forward, probs' gradient back.

        Each variable is drawn by inverting its CDF at one uniform number: `K` times fewer random
        bits than the Gumbel-max trick of `distribution(stats).sample` (the same distribution).
        """
        probs = jax.nn.softmax(stats, -1)
        u = jax.random.uniform(key, probs.shape[:-1], probs.dtype)
        one_hot = jax.nn.one_hot(inverse_cdf_sample(probs, u), self.classes, dtype=stats.dtype)
        return self._flat(one_hot + probs - jax.lax.stop_gradient(probs))

    def mode(self, stats: Float[Array, "*batch G K"]) -> Float[Array, "*batch G*K"]:
        """The most likely class of every variable, one-hot `[..., G * K]`."""
        return self._flat(jax.nn.one_hot(jnp.argmax(stats, -1), self.classes, dtype=stats.dtype))

    def kl(
        self, lhs: Float[Array, "*batch G K"], rhs: Float[Array, "*batch G K"]
    ) -> Float[Array, "*batch"]:
        """`KL(lhs || rhs)` summed over the `G` variables: `[...]`."""
        return self.distribution(lhs).kl_divergence(self.distribution(rhs))

    def entropy(self, stats: Float[Array, "*batch G K"]) -> Float[Array, "*batch"]:
        """Entropy summed over the `G` variables: `[...]`."""
        return self.distribution(stats).entropy()

    def _flat(self, x: jax.Array) -> jax.Array:
        return x.reshape(*x.shape[:-2], self.size)


@dataclasses.dataclass(frozen=True)
class GaussianLatent:
    """A diagonal Gaussian of width `S`; std is `softplus(raw) + min_std`."""

    size: int
    """S: width of a sample."""
    min_std: float = 0.1
    """Smallest standard deviation."""

    @property
    def raw_size(self) -> int:
        """Width `2 S` of the network output (mean and pre-softplus std)."""
        return 2 * self.size

    def stats(self, raw: Float[Array, "*batch 2*S"]) -> Float[Array, "*batch 2 S"]:
        """`raw[..., 2 S]` -> `[..., 2, S]` holding mean and standard deviation."""
        mean, std = jnp.split(raw, 2, axis=-1)
        return jnp.stack([mean, jax.nn.softplus(std) + self.min_std], axis=-2)

    def distribution(self, stats: Float[Array, "*batch 2 S"]) -> distrax.Distribution:
        """The distrax distribution with event shape `[S]`."""
        return distrax.MultivariateNormalDiag(stats[..., 0, :], stats[..., 1, :])

    def sample(
        self, stats: Float[Array, "*batch 2 S"], key: PRNGKeyArray
    ) -> Float[Array, "*batch S"]:
        """A reparameterised sample `mean + std * noise`: `[..., S]`."""
        noise = jax.random.normal(key, stats[..., 0, :].shape, stats.dtype)
        return stats[..., 0, :] + stats[..., 1, :] * noise

    def mode(self, stats: Float[Array, "*batch 2 S"]) -> Float[Array, "*batch S"]:
        """The mean `[..., S]`."""
        return stats[..., 0, :]

    def kl(
        self, lhs: Float[Array, "*batch 2 S"], rhs: Float[Array, "*batch 2 S"]
    ) -> Float[Array, "*batch"]:
        """`KL(lhs || rhs)` summed over the `S` dimensions: `[...]`."""
        return self.distribution(lhs).kl_divergence(self.distribution(rhs))

    def entropy(self, stats: Float[Array, "*batch 2 S"]) -> Float[Array, "*batch"]:
        """Entropy `[...]`."""
        return self.distribution(stats).entropy()


Latent = DiscreteLatent | GaussianLatent


def latent_for(config: WorldModelConfig) -> Latent:
    """The latent distribution a config asks for."""
    if config.latent == "discrete":
        return DiscreteLatent(config.latent_groups, config.latent_classes, config.unimix)
    return GaussianLatent(config.latent_size, config.min_std)


def balanced_kl(
    latent: Latent, posterior: Float[Array, "T B ..."], prior: Float[Array, "T B ..."], free: float
) -> tuple[Float[Array, "T B"], Float[Array, "T B"], Float[Array, "T B"]]:
    """KL balancing with free nats (DreamerV3), per time step.

    Args:
        latent: the latent distribution family.
        posterior: posterior stats `[T, B, ...]`.
        prior: prior stats `[T, B, ...]`.
        free: each term is clipped from below at `free` nats (no gradient below it).

    Returns:
        `kl_dyn[T, B] = max(free, KL(sg(posterior) || prior))` (trains the prior),
        `kl_rep[T, B] = max(free, KL(posterior || sg(prior)))` (trains the posterior) and the
        unclipped `KL(posterior || prior)[T, B]` for logging.
    """
    sg = jax.lax.stop_gradient
    kl_dyn = latent.kl(sg(posterior), prior)
    kl_rep = latent.kl(posterior, sg(prior))
    return jnp.maximum(kl_dyn, free), jnp.maximum(kl_rep, free), sg(kl_rep)


def twohot(x: Float[Array, "*batch"], bins: Float[Array, " K"]) -> Float[Array, "*batch K"]:
    """Two-hot encoding of `x[...]` over increasing `bins[K]`: `[..., K]`.

    The weight is split between the two bins around `x` so that the encoding's mean over `bins`
    is `x`; values outside `[bins[0], bins[-1]]` go to the end bin.
    """
    num = bins.shape[0]
    below = jnp.clip(jnp.searchsorted(bins, x, side="right") - 1, 0, num - 2)
    low, high = bins[below], bins[below + 1]
    weight_high = jnp.clip((x - low) / (high - low), 0.0, 1.0)
    return (
        jax.nn.one_hot(below, num) * (1.0 - weight_high)[..., None]
        + jax.nn.one_hot(below + 1, num) * weight_high[..., None]
    )


@dataclasses.dataclass(frozen=True)
class TwoHotReward:
    """Reward as a categorical over `num_bins` bins evenly spaced in symlog space (DreamerV3)."""

    num_bins: int = 255
    """K: number of bins over `[-20, 20]` in symlog space."""

    @property
    def raw_size(self) -> int:
        """Width of the head's output (one logit per bin)."""
        return self.num_bins

    def bins(self) -> Float[Array, " K"]:
        """Bin centres in symlog space `[K]`."""
        return jnp.linspace(-TWOHOT_LIMIT, TWOHOT_LIMIT, self.num_bins)

    def loss(
        self, raw: Float[Array, "*batch K"], target: Float[Array, "*batch"]
    ) -> Float[Array, "*batch"]:
        """Cross-entropy of logits `raw[..., K]` against the two-hot of `symlog(target[...])`."""
        labels = twohot(symlog(target), self.bins())
        return -jnp.sum(labels * log_softmax(raw), -1)

    def mean(self, raw: Float[Array, "*batch K"]) -> Float[Array, "*batch"]:
        """Predicted reward `[...]`: `symexp` of the expected bin."""
        return symexp(expectation(raw, self.bins()))


@dataclasses.dataclass(frozen=True)
class SymlogMSEReward:
    """Reward regressed in symlog space with a squared error."""

    @property
    def raw_size(self) -> int:
        """Width of the head's output (one value)."""
        return 1

    def loss(
        self, raw: Float[Array, "*batch 1"], target: Float[Array, "*batch"]
    ) -> Float[Array, "*batch"]:
        """`(raw[..., 1] - symlog(target[...]))^2`: `[...]`."""
        return jnp.square(raw[..., 0] - symlog(target))

    def mean(self, raw: Float[Array, "*batch 1"]) -> Float[Array, "*batch"]:
        """Predicted reward `[...]`."""
        return symexp(raw[..., 0])


RewardDistribution = TwoHotReward | SymlogMSEReward


def reward_for(config: WorldModelConfig) -> RewardDistribution:
    """The reward distribution a config asks for."""
    if config.reward_loss == "twohot":
        return TwoHotReward(config.reward_bins)
    return SymlogMSEReward()
