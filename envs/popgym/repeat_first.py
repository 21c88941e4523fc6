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


@struct.dataclass
class EnvParams(environment.EnvParams):
    """RepeatFirst parameters.

    Attributes:
        max_steps_in_episode: time limit (truncation); by default one step past the game's end.
    """

    max_steps_in_episode: int = 52


class RepeatFirst(cards.CardGame):
    """RepeatFirst over `num_decks` decks; see the module docstring for the rules."""

    def __init__(self, num_decks: int = 1):
        """Builds the game.

        Args:
            num_decks: number of 52-card decks shuffled together (sets the episode length).
        """
        self.num_decks = num_decks
        self.episode_length = cards.deck_size(num_decks) - 1
        self.obs_size = cards.NUM_SUITS
        self._num_actions = cards.NUM_SUITS

    @property
    def default_params(self) -> EnvParams:
        return EnvParams(max_steps_in_episode=cards.time_limit(self.episode_length, None))

    def reset_env(self, key: jax.Array, params: EnvParams) -> tuple[jax.Array, EnvState]:
        """Deals the first card. Returns its one-hot suit, float32 `[4]`, and the state."""
        first_suit, counts = cards.draw(key, cards.full_counts(cards.NUM_SUITS, self.num_decks))
        state = EnvState(time=0, first_suit=first_suit, counts=counts)
        return cards.one_hot(first_suit, cards.NUM_SUITS), state

    def step_env(
        self, key: jax.Array, state: EnvState, action: jax.Array, params: EnvParams
    ) -> tuple[jax.Array, EnvState, jax.Array, jax.Array, dict]:
        """Scores the named suit (int `[]`) against the first card, then deals the next card."""
        reward = cards.signed_reward(action == state.first_suit, 1.0 / self.episode_length)
        suit, counts = cards.draw(key, state.counts)
        state = state.replace(time=state.time + 1, counts=counts)
        terminated = state.time >= self.episode_length
        return cards.one_hot(suit, cards.NUM_SUITS), state, reward, terminated, {}


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
    limit = cards.time_limit(env.episode_length, max_steps_in_episode)
    return env, EnvParams(max_steps_in_episode=limit)


ENTRIES: dict[str, Callable[..., tuple[RepeatFirst, EnvParams]]] = {
    "RepeatFirstEasy": functools.partial(repeat_first, num_decks=1),
    "RepeatFirstMedium": functools.partial(repeat_first, num_decks=8),
    "RepeatFirstHard": functools.partial(repeat_first, num_decks=16),
}
