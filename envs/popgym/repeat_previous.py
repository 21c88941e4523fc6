"""RepeatPrevious (POPGym): name the suit of the card dealt `k` cards before the next one.

Rules (as in popgym): a deck of `N = 52 * num_decks` cards is shuffled; card `c_0` is shown at
reset and card `c_i` after step `i`. At step `i` the agent names a suit; from step `k` on it is
rewarded `+1/(N - k)` if that is the suit of `c_{i-k}` (so with `k = 1`, the card it has just
seen) and `-1/(N - k)` otherwise; steps before `k` give no reward. The episode terminates when the
deck is empty, after `N - 1` steps, so returns lie in [-1, 1].

Observation: float32 `[4]`, the one-hot suit of the card just dealt. Action: Discrete(4), a suit.
"""

import functools
from collections.abc import Callable

import jax
import jax.numpy as jnp
from flax import struct
from gymnax.environments import environment

from envs.popgym import cards


@struct.dataclass
class EnvState(environment.EnvState):
    """RepeatPrevious state.

    Attributes:
        time: steps taken in the episode (`i`); `c_i` is the card shown last.
        recent_suits: uint32 `[ceil(k / 16)]`, suit memory (see `cards.write_suit`) used as a
            ring buffer: the suit of `c_j` at slot `j % k`, for the last `k` cards.
        counts: int32 `[4]`, cards left in the deck by suit.
    """

    recent_suits: jax.Array
    counts: jax.Array


EnvParams = cards.EnvParams


class RepeatPrevious(cards.CardGame):
    """RepeatPrevious over `num_decks` decks with delay `k`; see the module docstring."""

    def __init__(self, num_decks: int = 1, k: int = 4):
        """Builds the game.

        Args:
            num_decks: number of 52-card decks shuffled together (sets the episode length).
            k: how many cards back the named suit must be; `1 <= k < 52 * num_decks`.
        """
        num_cards = cards.deck_size(num_decks)
        if not 1 <= k < num_cards:
            raise ValueError(f"k must be in [1, {num_cards}) for {num_decks} deck(s), got {k}")
        self.num_decks = num_decks
        self.k = k
        self.num_categories = cards.NUM_SUITS
        self.episode_length = num_cards - 1
        self.reward_scale = 1.0 / (num_cards - k)
        self.obs_size = cards.NUM_SUITS
        self._num_actions = cards.NUM_SUITS

    def start(self, card: jax.Array, counts: jax.Array) -> EnvState:
        """Remembers `c_0` in slot 0."""
        recent_suits = cards.write_suit(cards.empty_suit_memory(self.k), 0, card)
        return EnvState(time=0, recent_suits=recent_suits, counts=counts)

    def play(
        self, state: EnvState, action: jax.Array, card: jax.Array
    ) -> tuple[jax.Array, EnvState]:
        """Scores the named suit (int `[]`) against `c_{i-k}`, then remembers `c_i` (`card`)."""
        # `c_{i-k}` sits in the slot that `c_i` is about to overwrite.
        slot = state.time % self.k
        correct = action == cards.read_suit(state.recent_suits, slot)
        reward = jnp.where(
            state.time >= self.k, cards.signed_reward(correct, self.reward_scale), 0.0
        )
        return reward, state.replace(recent_suits=cards.write_suit(state.recent_suits, slot, card))


def repeat_previous(
    num_decks: int = 1, k: int = 4, max_steps_in_episode: int | None = None
) -> tuple[RepeatPrevious, EnvParams]:
    """Builds RepeatPrevious and its parameters.

    Args:
        num_decks: number of 52-card decks (episode length `52 * num_decks - 1`).
        k: how many cards back the named suit must be.
        max_steps_in_episode: optional time limit (truncation); None keeps popgym's rules, where
            every episode terminates when the deck is empty.

    Returns:
        `(env, params)`.
    """
    env = RepeatPrevious(num_decks=num_decks, k=k)
    return env, env.make_params(max_steps_in_episode)


ENTRIES: dict[str, Callable[..., tuple[RepeatPrevious, EnvParams]]] = {
    "RepeatPreviousEasy": functools.partial(repeat_previous, num_decks=1, k=4),
    "RepeatPreviousMedium": functools.partial(repeat_previous, num_decks=2, k=32),
    "RepeatPreviousHard": functools.partial(repeat_previous, num_decks=3, k=64),
}
