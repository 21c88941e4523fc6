"""RepeatFirst (POPGym): at every step, name the suit of the first card of the episode.

Rules (as in popgym): a deck of `52 * num_decks` cards is shuffled and the first card is shown at
reset. Each step the agent names a suit and is rewarded `+1/(52 * num_decks - 1)` if it is the suit
of the first card, `-1/(52 * num_decks - 1)` otherwise; then the next card is shown. The episode
terminates when the deck is empty, after `52 * num_decks - 1` steps, so returns lie in [-1, 1].

Observation: float32 `[4]`, the one-hot suit of the card just dealt. Action: Discrete(4), a suit.
"""

import functools
from collections.abc import Callable

import jax
from flax import struct
from gymnax.environments import environment

from envs.popgym import cards


@struct.dataclass
class EnvState(environment.EnvState):
    """RepeatFirst state.

    Attributes:
        time: steps taken in the episode.
        first_suit: int32 `[]`, suit of the first card (the answer at every step).
        counts: int32 `[4]`, cards left in the deck by suit.
    """

    first_suit: jax.Array
    counts: jax.Array


EnvParams = cards.EnvParams


class RepeatFirst(cards.CardGame):
    """RepeatFirst over `num_decks` decks; see the module docstring for the rules."""

    def __init__(self, num_decks: int = 1):
        """Builds the game.

        Args:
            num_decks: number of 52-card decks shuffled together (sets the episode length).
        """
        self.num_decks = num_decks
        self.num_categories = cards.NUM_SUITS
        self.episode_length = cards.deck_size(num_decks) - 1
        self.obs_size = cards.NUM_SUITS
        self._num_actions = cards.NUM_SUITS

    def start(self, card: jax.Array, counts: jax.Array) -> EnvState:
        """The first card's suit is the answer of the whole episode."""
        return EnvState(time=0, first_suit=card, counts=counts)

    def play(
        self, state: EnvState, action: jax.Array, card: jax.Array
    ) -> tuple[jax.Array, EnvState]:
        """Scores the named suit (int `[]`) against the first card."""
        return cards.signed_reward(action == state.first_suit, 1.0 / self.episode_length), state


def repeat_first(
    num_decks: int = 1, max_steps_in_episode: int | None = None
) -> tuple[RepeatFirst, EnvParams]:
    """Builds RepeatFirst and its parameters.

    Args:
        num_decks: number of 52-card decks (episode length `52 * num_decks - 1`).
        max_steps_in_episode: optional time limit (truncation); None keeps popgym's rules, where
            every episode terminates when the deck is empty.

    Returns:
        `(env, params)`.
    """
    env = RepeatFirst(num_decks=num_decks)
    return env, env.make_params(max_steps_in_episode)


ENTRIES: dict[str, Callable[..., tuple[RepeatFirst, EnvParams]]] = {
    "RepeatFirstEasy": functools.partial(repeat_first, num_decks=1),
    "RepeatFirstMedium": functools.partial(repeat_first, num_decks=8),
    "RepeatFirstHard": functools.partial(repeat_first, num_decks=16),
}
