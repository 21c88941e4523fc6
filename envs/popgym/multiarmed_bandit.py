"""MultiarmedBandit: episodic multi-armed bandits (POPGym).

Every episode draws a payout probability `p[a] ~ U[0, 1)` for each of the `A` arms. Pulling arm `a`
pays out with probability `p[a]`: the reward is `+1/T` on a payout and `-1/T` otherwise, where `T`
is the episode length, so episode returns lie in [-1, 1]. The episode never terminates; it is
truncated after `T` pulls. The observation only says whether the last pull paid out (a one-hot of
length 2, "no payout" after a reset): the agent must remember which arms it pulled and how they
paid, so it needs its previous action (use a previous-action wrapper).

Difficulties as in POPGym: Easy 10 arms / 200 steps, Medium 20 / 400, Hard 30 / 600.
"""

import functools
from collections.abc import Callable

import jax
import jax.numpy as jnp
from flax import struct
from gymnax.environments import environment, spaces


@struct.dataclass
class EnvState(environment.EnvState):
    """State of one episode.

    Attributes:
        time: number of pulls so far.
        payout_prob: `[A]` payout probability of each arm, fixed for the episode.
    """

    payout_prob: jax.Array


@struct.dataclass
class EnvParams(environment.EnvParams):
    """Numeric options.

    Attributes:
        max_steps_in_episode: episode length `T`; also sets the reward scale `1/T`.
    """

    max_steps_in_episode: int = 200


class MultiarmedBandit(environment.Environment[EnvState, EnvParams]):
    """Episodic Bernoulli bandit with arms redrawn every episode.

    Args:
        num_arms: number of arms `A` (the number of actions).
    """

    def __init__(self, num_arms: int = 10):
        super().__init__()
        if num_arms < 1:
            raise ValueError(f"MultiarmedBandit needs num_arms >= 1, got {num_arms}.")
        self.num_arms = num_arms

    @property
    def default_params(self) -> EnvParams:
        return EnvParams()

    @property
    def name(self) -> str:
        return "MultiarmedBandit"

    @property
    def num_actions(self) -> int:
        return self.num_arms

    def reset_env(self, key: jax.Array, params: EnvParams) -> tuple[jax.Array, EnvState]:
        """Draws the arms' payout probabilities; the first observation reads "no payout"."""
        payout_prob = jax.random.uniform(key, (self.num_arms,), dtype=jnp.float32)
        state = EnvState(time=jnp.int32(0), payout_prob=payout_prob)
        return encode_payout(jnp.bool_(False)), state

    def step_env(
        self, key: jax.Array, state: EnvState, action: jax.Array, params: EnvParams
    ) -> tuple[jax.Array, EnvState, jax.Array, jax.Array, dict]:
        """Pulls arm `action`; reward `+1/T` on a payout, `-1/T` otherwise."""
        paid = jax.random.uniform(key, dtype=jnp.float32) < state.payout_prob[action]
        scale = 1.0 / jnp.asarray(params.max_steps_in_episode, jnp.float32)
        reward = jnp.where(paid, scale, -scale)
        state = state.replace(time=state.time + 1)
        return encode_payout(paid), state, reward, jnp.bool_(False), {}

    def observation_space(self, params: EnvParams) -> spaces.Box:
        """One-hot `[2]`: index 1 means the last pull paid out."""
        return spaces.Box(0.0, 1.0, (2,), jnp.float32)

    def action_space(self, params: EnvParams) -> spaces.Discrete:
        """The arm to pull."""
        return spaces.Discrete(self.num_arms)


def encode_payout(paid: jax.Array) -> jax.Array:
    """One-hot `[2]` float32 observation of a payout flag."""
    return jax.nn.one_hot(paid.astype(jnp.int32), 2, dtype=jnp.float32)


def multiarmed_bandit(
    num_arms: int = 10, max_steps_in_episode: int = 200
) -> tuple[MultiarmedBandit, EnvParams]:
    """Builds a MultiarmedBandit and its params.

    Args:
        num_arms: number of arms `A`.
        max_steps_in_episode: episode length `T` (POPGym's `episode_length`).

    Returns:
        `(env, params)`.
    """
    if max_steps_in_episode < 1:
        raise ValueError(f"max_steps_in_episode must be >= 1, got {max_steps_in_episode}.")
    env = MultiarmedBandit(num_arms=num_arms)
    return env, EnvParams(max_steps_in_episode=max_steps_in_episode)


ENTRIES: dict[str, Callable[..., tuple[MultiarmedBandit, EnvParams]]] = {
    "MultiarmedBanditEasy": functools.partial(
        multiarmed_bandit, num_arms=10, max_steps_in_episode=200
    ),
    "MultiarmedBanditMedium": functools.partial(
        multiarmed_bandit, num_arms=20, max_steps_in_episode=400
    ),
    "MultiarmedBanditHard": functools.partial(
        multiarmed_bandit, num_arms=30, max_steps_in_episode=600
    ),
}
