"""CountRecall (POPGym): count how many cards of the queried kind have been dealt so far.

Rules (as in popgym): two decks of `N = 52 * num_decks` cards are shuffled, a value deck and a
query deck, and each card is seen through one attribute (`deck_type`: colours, suits or ranks,
`C` categories). At reset and after every step, one value card `v_i` and one query card `q_i` are
dealt and shown. At step `i` the agent answers how many value cards of category `q_{i-1}` have
been dealt so far (`v_0, ..., v_{i-1}`), and is rewarded `+1/(N - 1)` if exactly right and
`-1/(N - 1)` otherwise. The episode terminates when the decks are empty, after `N - 1` steps,
so returns lie in [-1, 1]. (popgym's `error_clamp` argument has no effect on its rewards and is
left out.)

Observation: float32 `[2C]`, the one-hot value card, then the one-hot query card.
Action: Discrete(`N/C + 1`), a count from 0 to the number of cards of one category.
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
    """CountRecall state.

    Attributes:
        time: steps taken in the episode (`i`); `v_i`, `q_i` are the cards shown last.
        query: int32 `[]`, category of the last query card `q_i`.
        value_seen: int32 `[C]`, value cards dealt so far (`v_0, ..., v_i`) by category.
        counts: int32 `[2, C]`, cards left by category in the value deck (row 0) and the query
            deck (row 1).
    """

    query: jax.Array
    value_seen: jax.Array
    counts: jax.Array


EnvParams = cards.EnvParams


class CountRecall(cards.CardGame):
    """CountRecall over `num_decks` decks of `deck_type` cards; see the module docstring.

    Each deal is two cards, int32 `[2]` (value, query), one from each row of the `[2, C]` decks;
    the observation is their one-hot encodings, concatenated.
    """

    def __init__(self, num_decks: int = 1, deck_type: str = "colors"):
        """Builds the game.

        Args:
            num_decks: number of 52-card decks in each of the two decks (sets the episode length).
            deck_type: the attribute that is counted: "colors", "suits" or "ranks".
        """
        if deck_type not in cards.NUM_CATEGORIES:
            raise ValueError(f"deck_type must be one of {sorted(cards.NUM_CATEGORIES)}")
        self.num_decks = num_decks
        self.deck_type = deck_type
        self.num_categories = cards.NUM_CATEGORIES[deck_type]
        num_cards = cards.deck_size(num_decks)
        self.episode_length = num_cards - 1
        self.obs_size = 2 * self.num_categories
        self._num_actions = num_cards // self.num_categories + 1

    def full_deck(self) -> jax.Array:
        """int32 `[2, C]`: the full value deck and the full query deck."""
        full = cards.full_counts(self.num_categories, self.num_decks)
        return jnp.stack([full, full])

    def _count(self, value: jax.Array) -> jax.Array:
        """int32 `[C]` one-hot of a value card's category (int `[]`), to add to the counts."""
        return jax.nn.one_hot(value, self.num_categories, dtype=jnp.int32)

    def start(self, card: jax.Array, counts: jax.Array) -> EnvState:
        """Counts `v_0` and keeps the query `q_0`."""
        return EnvState(time=0, query=card[1], value_seen=self._count(card[0]), counts=counts)

    def play(
        self, state: EnvState, action: jax.Array, card: jax.Array
    ) -> tuple[jax.Array, EnvState]:
        """Scores the count (int `[]`) of the last query's category, then counts the new cards."""
        answer = jnp.sum(state.value_seen * self._count(state.query))
        reward = cards.signed_reward(action == answer, 1.0 / self.episode_length)
        state = state.replace(query=card[1], value_seen=state.value_seen + self._count(card[0]))
        return reward, state


def count_recall(
    num_decks: int = 1, deck_type: str = "colors", max_steps_in_episode: int | None = None
) -> tuple[CountRecall, EnvParams]:
    """Builds CountRecall and its parameters.

    Args:
        num_decks: number of 52-card decks (episode length `52 * num_decks - 1`).
        deck_type: the attribute that is counted: "colors", "suits" or "ranks".
        max_steps_in_episode: optional time limit (truncation); None keeps popgym's rules, where
            every episode terminates when the decks are empty.

    Returns:
        `(env, params)`.
    """
    env = CountRecall(num_decks=num_decks, deck_type=deck_type)
    return env, env.make_params(max_steps_in_episode)


ENTRIES: dict[str, Callable[..., tuple[CountRecall, EnvParams]]] = {
    "CountRecallEasy": functools.partial(count_recall, num_decks=1, deck_type="colors"),
    "CountRecallMedium": functools.partial(count_recall, num_decks=2, deck_type="suits"),
    "CountRecallHard": functools.partial(count_recall, num_decks=4, deck_type="ranks"),
}
