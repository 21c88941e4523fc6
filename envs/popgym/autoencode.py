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


EnvParams = cards.EnvParams


class Autoencode(cards.CardGame):
    """Autoencode over `num_decks` decks; see the module docstring for the rules.

    While playing, the skeleton's draw finds the deck empty (see `cards.draw`) and is not shown.
    """

    def __init__(self, num_decks: int = 1):
        """Builds the game.

        Args:
            num_decks: number of 52-card decks shuffled together (sets the episode length).
        """
        self.num_decks = num_decks
        self.num_categories = cards.NUM_SUITS
        self.num_cards = cards.deck_size(num_decks)
        self.episode_length = 2 * self.num_cards - 1
        self.obs_size = 2 + cards.NUM_SUITS
        self._num_actions = cards.NUM_SUITS

    def observe(self, card: jax.Array, state: EnvState) -> jax.Array:
        """float32 `[6]`: one-hot phase, then the one-hot suit of `card` (suit 0 while playing)."""
        phase = jnp.where(state.time < self.num_cards - 1, WATCH, PLAY)
        suit = jnp.where(state.time < self.num_cards, card, 0)
        return jnp.concatenate([cards.one_hot(phase, 2), cards.one_hot(suit, cards.NUM_SUITS)])

    def start(self, card: jax.Array, counts: jax.Array) -> EnvState:
        """Remembers `c_0` in slot 0, in the watch phase."""
        suits = cards.write_suit(cards.empty_suit_memory(self.num_cards), 0, card)
        return EnvState(time=0, suits=suits, counts=counts)

    def play(
        self, state: EnvState, action: jax.Array, card: jax.Array
    ) -> tuple[jax.Array, EnvState]:
        """Watching: remembers the card dealt. Playing: scores the named suit (int `[]`)."""
        watching = state.time < self.num_cards
        # While watching, `time` indexes the card dealt now; while playing, the card to name.
        recalled = cards.read_suit(
            state.suits, jnp.clip(2 * self.num_cards - 1 - state.time, 0, self.num_cards - 1)
        )
        reward = jnp.where(
            watching, 0.0, cards.signed_reward(action == recalled, 1.0 / self.num_cards)
        )
        suits = jnp.where(watching, cards.write_suit(state.suits, state.time, card), state.suits)
        return reward, state.replace(suits=suits)


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
    return env, env.make_params(max_steps_in_episode)


ENTRIES: dict[str, Callable[..., tuple[Autoencode, EnvParams]]] = {
    "AutoencodeEasy": functools.partial(autoencode, num_decks=1),
    "AutoencodeMedium": functools.partial(autoencode, num_decks=2),
    "AutoencodeHard": functools.partial(autoencode, num_decks=3),
}
