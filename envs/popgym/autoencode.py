"""Autoencode (POPGym): watch a deck being dealt, then name its suits in reverse order.

Rules (as in popgym): a deck of `N = 52 * num_decks` cards is shuffled. Watch phase: card `c_0` is
shown at reset and card `c_i` after step `i`, for `i < N`; actions are ignored and rewards are 0.
The observation that shows the last card `c_{N-1}` already carries the play flag. Play phase:
at steps `N, ..., 2N - 1` the agent names the suits of `c_{N-1}, ..., c_0` (last dealt first),
each rewarded `+1/N` if right and `-1/N` if wrong. The episode terminates after `2N - 1` steps,
so returns lie in [-1, 1].

Observation: float32 `[6]`: a one-hot phase flag (`[1, 0]` play, `[0, 1]` watch, popgym's codes 0
and 1), then a one-hot suit: the card dealt while watching, and suit 0 during play (as popgym,
whose play observations always carry suit 0). Action: Discrete(4), a suit.
"""

import functools
from collections.abc import Callable

import jax
import jax.numpy as jnp
from flax import struct
from gymnax.environments import environment

from envs.popgym import cards

PLAY = 0
WATCH = 1


@struct.dataclass
class EnvState(environment.EnvState):
    """Autoencode state.

    Attributes:
        time: steps taken in the episode.
        suits: uint32 `[ceil(N / 16)]`, suit memory (see `cards.write_suit`): the suit of `c_j`
            at slot `j` for the cards dealt so far.
        counts: int32 `[4]`, cards left in the deck by suit.
    """

    suits: jax.Array
    counts: jax.Array


@struct.dataclass
class EnvParams(environment.EnvParams):
    """Autoencode parameters.

    Attributes:
        max_steps_in_episode: time limit (truncation); by default one step past the game's end.
    """

    max_steps_in_episode: int = 104


class Autoencode(cards.CardGame):
    """Autoencode over `num_decks` decks; see the module docstring for the rules."""

    def __init__(self, num_decks: int = 1):
        """Builds the game.

        Args:
            num_decks: number of 52-card decks shuffled together (sets the episode length).
        """
        self.num_decks = num_decks
        self.num_cards = cards.deck_size(num_decks)
        self.episode_length = 2 * self.num_cards - 1
        self.obs_size = 2 + cards.NUM_SUITS
        self._num_actions = cards.NUM_SUITS

    @property
    def default_params(self) -> EnvParams:
        return EnvParams(max_steps_in_episode=cards.time_limit(self.episode_length, None))

    def _obs(self, phase: jax.Array, suit: jax.Array) -> jax.Array:
        """float32 `[6]`: one-hot phase (int `[]`), then one-hot suit (int `[]`)."""
        return jnp.concatenate([cards.one_hot(phase, 2), cards.one_hot(suit, cards.NUM_SUITS)])

    def reset_env(self, key: jax.Array, params: EnvParams) -> tuple[jax.Array, EnvState]:
        """Deals `c_0` in the watch phase. Returns the observation, float32 `[6]`, and the state."""
        suit, counts = cards.draw(key, cards.full_counts(cards.NUM_SUITS, self.num_decks))
        suits = cards.write_suit(cards.empty_suit_memory(self.num_cards), 0, suit)
        state = EnvState(time=0, suits=suits, counts=counts)
        return self._obs(jnp.int32(WATCH), suit), state

    def step_env(
        self, key: jax.Array, state: EnvState, action: jax.Array, params: EnvParams
    ) -> tuple[jax.Array, EnvState, jax.Array, jax.Array, dict]:
        """Watching: deals the next card. Playing: scores the named suit (int `[]`)."""
        time = state.time + 1
        watching = time < self.num_cards
        # While watching, `time` indexes the card dealt now; while playing, the card to name.
        recalled = cards.read_suit(
            state.suits, jnp.clip(2 * self.num_cards - 1 - time, 0, self.num_cards - 1)
        )
        reward = jnp.where(
            watching, 0.0, cards.signed_reward(action == recalled, 1.0 / self.num_cards)
        )
        suit, counts = cards.draw(key, state.counts)
        suits = jnp.where(watching, cards.write_suit(state.suits, time, suit), state.suits)
        phase = jnp.where(time < self.num_cards - 1, WATCH, PLAY)
        obs = self._obs(phase, jnp.where(watching, suit, 0))
        state = state.replace(time=time, suits=suits, counts=counts)
        terminated = time >= self.episode_length
        return obs, state, reward, terminated, {}


def autoencode(
    num_decks: int = 1, max_steps_in_episode: int | None = None
) -> tuple[Autoencode, EnvParams]:
    """Builds Autoencode and its parameters.

    Args:
        num_decks: number of 52-card decks (episode length `2 * 52 * num_decks - 1`).
        max_steps_in_episode: optional time limit (truncation); None keeps popgym's rules, where
            every episode terminates when all cards have been named.

    Returns:
        `(env, params)`.
    """
    env = Autoencode(num_decks=num_decks)
    limit = cards.time_limit(env.episode_length, max_steps_in_episode)
    return env, EnvParams(max_steps_in_episode=limit)


ENTRIES: dict[str, Callable[..., tuple[Autoencode, EnvParams]]] = {
    "AutoencodeEasy": functools.partial(autoencode, num_decks=1),
    "AutoencodeMedium": functools.partial(autoencode, num_decks=2),
    "AutoencodeHard": functools.partial(autoencode, num_decks=3),
}
