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


@struct.dataclass
class EnvParams(environment.EnvParams):
    """CountRecall parameters.

    Attributes:
        max_steps_in_episode: time limit (truncation); by default one step past the game's end.
    """

    max_steps_in_episode: int = 52


class CountRecall(cards.CardGame):
    """CountRecall over `num_decks` decks of `deck_type` cards; see the module docstring."""

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

    @property
    def default_params(self) -> EnvParams:
        return EnvParams(max_steps_in_episode=cards.time_limit(self.episode_length, None))

    def _count(self, value: jax.Array) -> jax.Array:
        """int32 `[C]` one-hot of a value card's category (int `[]`), to add to the counts."""
        return jax.nn.one_hot(value, self.num_categories, dtype=jnp.int32)

    def _deal(self, key: jax.Array, counts: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
        """Deals a value card and a query card from the decks left, int32 `[2, C]`.

        Returns:
            `(obs, cards, counts)`: obs float32 `[2C]`, the cards' categories int32 `[2]`
            (value, query), and the decks left.
        """
        dealt, counts = cards.draw(key, counts)
        return cards.one_hot(dealt, self.num_categories).reshape(-1), dealt, counts

    def reset_env(self, key: jax.Array, params: EnvParams) -> tuple[jax.Array, EnvState]:
        """Deals `v_0` and `q_0`. Returns the observation, float32 `[2C]`, and the state."""
        full = cards.full_counts(self.num_categories, self.num_decks)
        obs, dealt, counts = self._deal(key, jnp.stack([full, full]))
        state = EnvState(time=0, query=dealt[1], value_seen=self._count(dealt[0]), counts=counts)
        return obs, state

    def step_env(
        self, key: jax.Array, state: EnvState, action: jax.Array, params: EnvParams
    ) -> tuple[jax.Array, EnvState, jax.Array, jax.Array, dict]:
        """Scores the count (int `[]`) of the last query's category, then deals the next cards."""
        answer = jnp.sum(state.value_seen * self._count(state.query))
        reward = cards.signed_reward(action == answer, 1.0 / self.episode_length)
        obs, dealt, counts = self._deal(key, state.counts)
        state = state.replace(
            time=state.time + 1,
            query=dealt[1],
            value_seen=state.value_seen + self._count(dealt[0]),
            counts=counts,
        )
        terminated = state.time >= self.episode_length
        return obs, state, reward, terminated, {}


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
    limit = cards.time_limit(env.episode_length, max_steps_in_episode)
    return env, EnvParams(max_steps_in_episode=limit)


ENTRIES: dict[str, Callable[..., tuple[CountRecall, EnvParams]]] = {
    "CountRecallEasy": functools.partial(count_recall, num_decks=1, deck_type="colors"),
    "CountRecallMedium": functools.partial(count_recall, num_decks=2, deck_type="suits"),
    "CountRecallHard": functools.partial(count_recall, num_decks=4, deck_type="ranks"),
}
