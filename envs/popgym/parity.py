"""Parity (POPGym-style, not in popgym): announce the parity of the bits seen so far.

A state-tracking task (Grazzi et al., 2025): the answer is the running XOR of every bit, so a
policy must track a two-state group element over the whole episode; nothing can be forgotten.

Rules: a fair random bit `b_0` is shown at reset and a new one `b_i` after step `i`. At step `i`
(1 to `N`) the agent announces the parity of the bits shown before it, `b_0 xor ... xor
b_{i-1}`, and is rewarded `+1/N` if right and `-1/N` otherwise. The episode terminates after
`N` steps, so returns lie in [-1, 1]; a memoryless policy scores 0 in expectation (the bit it
sees is independent of the parity it must announce). Easy, Medium and Hard have `N` = 16, 64
and 256: train at 64 and evaluate at 4x with the probes' length rule (rlssm.probes).

Observation: float32 `[2]`, the one-hot bit just shown. Action: Discrete(2), the parity.
"""

import functools
from collections.abc import Callable

import jax
import jax.numpy as jnp
from flax import struct
from gymnax.environments import environment

from envs.popgym import cards

NUM_BITS = 2


@struct.dataclass
class EnvState(environment.EnvState):
    """Parity state.

    Attributes:
        time: steps taken in the episode (`i`); `b_i` is the bit shown last.
        parity: int32 `[]`, the XOR of the bits shown so far (`b_0, ..., b_i`).
        counts: int32 `[2]`, unused by the rule (bits are drawn with replacement).
    """

    parity: jax.Array
    counts: jax.Array


EnvParams = cards.EnvParams


class Parity(cards.CardGame):
    """Parity over `length` steps; see the module docstring. A bit is a two-colour card drawn
    with replacement."""

    def __init__(self, length: int = 16):
        """Builds the game.

        Args:
            length: steps `N` of an episode (the number of parities announced); `N >= 1`.
        """
        if length < 1:
            raise ValueError(f"length must be >= 1, got {length}")
        self.num_decks = 1
        self.num_categories = NUM_BITS
        self.episode_length = length
        self.obs_size = NUM_BITS
        self._num_actions = NUM_BITS

    def deal(self, key: jax.Array, counts: jax.Array) -> tuple[jax.Array, jax.Array]:
        """A fair bit (int32 `[]`); `counts` unchanged (with replacement)."""
        return jax.random.bernoulli(key).astype(jnp.int32), counts

    def start(self, card: jax.Array, counts: jax.Array) -> EnvState:
        """The parity of `b_0` alone."""
        return EnvState(time=0, parity=card, counts=counts)

    def play(
        self, state: EnvState, action: jax.Array, card: jax.Array
    ) -> tuple[jax.Array, EnvState]:
        """Scores the announced parity (int `[]`), then folds the new bit `b_i` in."""
        reward = cards.signed_reward(action == state.parity, 1.0 / self.episode_length)
        return reward, state.replace(parity=state.parity ^ card)


def parity(length: int = 16, max_steps_in_episode: int | None = None) -> tuple[Parity, EnvParams]:
    """Builds Parity and its parameters.

    Args:
        length: steps `N` of an episode.
        max_steps_in_episode: optional time limit (truncation); None: every episode terminates
            after `N` steps.

    Returns:
        `(env, params)`.
    """
    env = Parity(length=length)
    return env, env.make_params(max_steps_in_episode)


ENTRIES: dict[str, Callable[..., tuple[Parity, EnvParams]]] = {
    "ParityEasy": functools.partial(parity, length=16),
    "ParityMedium": functools.partial(parity, length=64),
    "ParityHard": functools.partial(parity, length=256),
}
