"""HigherLower (POPGym): guess whether the next card is higher or lower than the one shown.

Rules (as in popgym): a deck of `N = 52 * num_decks` cards is shuffled and its first card is shown
at reset. Each step the agent guesses higher (action 0) or lower (action 1), the next card is
dealt and shown, and the guess is rewarded `+1/N` if right, `-1/N` if wrong and 0 if the two
ranks are equal. Ranks run from ace (lowest) to king. The episode terminates when the deck is
empty, after `N - 1` steps, so returns lie in (-1, 1). Counting the cards already dealt tells
which guess is more likely right.

Observation: float32 `[13]`, the one-hot rank of the card just dealt. Action: Discrete(2).
"""

import functools
from collections.abc import Callable

import jax
import jax.numpy as jnp
from flax import struct
from gymnax.environments import environment

from envs.popgym import cards

HIGHER = 0
LOWER = 1


@struct.dataclass
class EnvState(environment.EnvState):
    """HigherLower state.

    Attributes:
        time: steps taken in the episode.
        rank: int32 `[]`, rank of the card shown last.
        counts: int32 `[13]`, cards left in the deck by rank.
    """

    rank: jax.Array
    counts: jax.Array


EnvParams = cards.EnvParams


class HigherLower(cards.CardGame):
    """HigherLower over `num_decks` decks; see the module docstring for the rules."""

    def __init__(self, num_decks: int = 1):
        """Builds the game.

        Args:
            num_decks: number of 52-card decks shuffled together (sets the episode length).
        """
        self.num_decks = num_decks
        self.num_categories = cards.NUM_RANKS
        self.num_cards = cards.deck_size(num_decks)
        self.episode_length = self.num_cards - 1
        self.obs_size = cards.NUM_RANKS
        self._num_actions = 2

    def start(self, card: jax.Array, counts: jax.Array) -> EnvState:
        """Shows the first card's rank."""
        return EnvState(time=0, rank=card, counts=counts)

    def play(
        self, state: EnvState, action: jax.Array, card: jax.Array
    ) -> tuple[jax.Array, EnvState]:
        """Scores the guess (int `[]`, 0 higher, 1 lower) on the rank just dealt (`card`)."""
        correct = (card > state.rank) == (action == HIGHER)
        reward = jnp.where(
            card == state.rank, 0.0, cards.signed_reward(correct, 1.0 / self.num_cards)
        )
        return reward, state.replace(rank=card)


def higher_lower(
    num_decks: int = 1, max_steps_in_episode: int | None = None
) -> tuple[HigherLower, EnvParams]:
    """Builds HigherLower and its parameters.

    Args:
        num_decks: number of 52-card decks (episode length `52 * num_decks - 1`).
        max_steps_in_episode: optional time limit (truncation); None keeps popgym's rules, where
            every episode terminates when the deck is empty.

    Returns:
        `(env, params)`.
    """
    env = HigherLower(num_decks=num_decks)
    return env, env.make_params(max_steps_in_episode)


ENTRIES: dict[str, Callable[..., tuple[HigherLower, EnvParams]]] = {
    "HigherLowerEasy": functools.partial(higher_lower, num_decks=1),
    "HigherLowerMedium": functools.partial(higher_lower, num_decks=2),
    "HigherLowerHard": functools.partial(higher_lower, num_decks=3),
}
