"""Actor-critic: observation encoder -> memory core -> policy and value heads.

Axis names: `T` time, `B` environments, `D` observation features, `H` core width, `A` action
size. `__call__` runs whole rollout rows `[T, B, D]` (training); `step` runs one step `[B, D]`
(acting). Both go through the same core, so training and acting see the same recurrence.
"""

from typing import NamedTuple

import distrax
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from agents.ppo.config import NetworkConfig
from rlssm.cores import Carry, CoreConfig
from rlssm.nn import activation


class PolicyOutput(NamedTuple):
    """Network outputs, `[T, B, ...]` from `__call__` or `[B, ...]` from `step`."""

    logits: jax.Array
    """Categorical logits `[..., A]`, or the Gaussian mean `[..., A]` for continuous actions."""
    log_std: jax.Array
    """Gaussian log standard deviation `[A]` (unused, zeros, for discrete actions)."""
    value: jax.Array
    """State value `[...]` (normalised when the agent normalises values)."""


def distribution(out: PolicyOutput, discrete: bool) -> distrax.Distribution:
    """The policy distribution over raw actions (before squashing or clipping)."""
    if discrete:
        return distrax.Categorical(logits=out.logits)
    scale = jnp.broadcast_to(jnp.exp(out.log_std), out.logits.shape)
    return distrax.MultivariateNormalDiag(out.logits, scale)


class MLP(nn.Module):
    """Dense layers with an activation after each; orthogonal init as in purejaxrl."""

    sizes: tuple[int, ...]
    activation: str

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        for size in self.sizes:
            x = nn.Dense(size, kernel_init=nn.initializers.orthogonal(np.sqrt(2)))(x)
            x = activation(self.activation)(x)
        return x


class Trunk(nn.Module):
    """Encoder MLP then the memory core."""

    network: NetworkConfig
    core: CoreConfig

    def setup(self) -> None:
        self.encoder = MLP(self.network.encoder_sizes, self.network.activation)
        self.memory = self.core.build()

    def __call__(self, carry: Carry, obs: jax.Array, start: jax.Array) -> tuple[Carry, jax.Array]:
        return self.memory(carry, self.encoder(obs), start)

    def step(self, carry: Carry, obs: jax.Array, start: jax.Array) -> tuple[Carry, jax.Array]:
        return self.memory.step(carry, self.encoder(obs), start)


def initialize_carry(network: NetworkConfig, core: CoreConfig, batch_size: int) -> tuple:
    """Zero carry of `ActorCritic` for `batch_size` environments: one entry per trunk.

    A function rather than a module method, so it can be called outside `apply`.
    """
    count = 1 if network.shared_trunk else 2
    memory = core.build()
    return tuple(memory.initialize_carry(batch_size) for _ in range(count))


class ActorCritic(nn.Module):
    """Policy and value over any memory core; the carry is a tuple with one entry per trunk."""

    network: NetworkConfig
    core: CoreConfig
    action_dim: int
    """Number of discrete actions, or the size of a continuous action."""
    discrete: bool

    def setup(self) -> None:
        count = 1 if self.network.shared_trunk else 2
        self.trunks = [Trunk(self.network, self.core) for _ in range(count)]
        self.actor = MLP(self.network.head_sizes, self.network.activation)
        self.critic = MLP(self.network.head_sizes, self.network.activation)
        self.policy_out = nn.Dense(self.action_dim, kernel_init=nn.initializers.orthogonal(0.01))
        self.value_out = nn.Dense(1, kernel_init=nn.initializers.orthogonal(1.0))
        if not self.discrete:
            init = nn.initializers.constant(self.network.init_log_std)
            self.log_std = self.param("log_std", init, (self.action_dim,))

    def heads(self, features: tuple[jax.Array, ...]) -> PolicyOutput:
        actor_features, critic_features = features[0], features[-1]
        logits = self.policy_out(self.actor(actor_features))
        value = self.value_out(self.critic(critic_features))[..., 0]
        log_std = self.log_std if not self.discrete else jnp.zeros((self.action_dim,))
        return PolicyOutput(logits, log_std, value)

    def __call__(
        self, carry: tuple[Carry, ...], obs: jax.Array, start: jax.Array
    ) -> tuple[tuple[Carry, ...], PolicyOutput]:
        """Whole rows: `obs[T, B, D]`, `start[T, B]` -> `(carry, PolicyOutput[T, B])`."""
        outs = [trunk(c, obs, start) for trunk, c in zip(self.trunks, carry, strict=True)]
        return tuple(o[0] for o in outs), self.heads(tuple(o[1] for o in outs))

    def step(
        self, carry: tuple[Carry, ...], obs: jax.Array, start: jax.Array
    ) -> tuple[tuple[Carry, ...], PolicyOutput]:
        """One step: `obs[B, D]`, `start[B]` -> `(carry, PolicyOutput[B])`."""
        outs = [trunk.step(c, obs, start) for trunk, c in zip(self.trunks, carry, strict=True)]
        return tuple(o[0] for o in outs), self.heads(tuple(o[1] for o in outs))
