"""Concentration, the card game of matching pairs (POPGym).

A shuffled deck of `N = 52 * num_decks` cards lies face down. Each step the agent flips one card
(action: its position). Flips come in pairs: after the second flip of a pair, two different cards
of the same value (the same colour, or the same rank) stay face up; otherwise both turn face down
again.
Rewards, with `P = N / 2` pairs and `T` the episode length:
- a matching second flip earns `1/P`, a mismatching one (or flipping the same card twice) `-2/T`;
- flipping a card that is already face up earns `-1/T` as the first flip of a pair and `-2/T` as
  the second, and ends the pair;
- a valid first flip earns 0.
The episode terminates when every card is face up (return 1.0 for a perfect game) and is truncated
after `T = ceil(2N - N / (2N - 1))` flips.

The observation shows, for every position, the card's value if it is face up or was flipped in the
current pair (the pair just resolved included), else "face down": a value-major one-hot `[V + 1, N]`
flattened to `[(V + 1) * N]`, with `V` values and row `V` meaning face down (value-major is several
times faster to build on a CPU than `[N, V + 1]`).

The deck is dealt lazily: a position's value is drawn, from the cards not dealt yet, the first
time it is flipped. The values revealed then have exactly the law of a deck shuffled at reset (a
uniform shuffle is exchangeable), while the reset draws nothing and stays cheap under a vectorised
auto-reset.

Difficulties as in POPGym: Easy matches colours with one deck, Medium colours with two decks, Hard
ranks with one deck.
"""

import functools
import math
from collections.abc import Callable

import jax
import jax.numpy as jnp
from flax import struct
from gymnax.environments import environment, spaces

DECK_SIZE = 52
NUM_RANKS = 13
NUM_COLORS = 2


@struct.dataclass
class EnvState(environment.EnvState):
    """State of one episode (`N` positions, `V` values).

    Attributes:
        time: number of flips so far.
        value: `[N]` int32, the card value at each position, -1 while not dealt yet.
        undealt: `[V]` int32, how many cards of each value are not dealt yet.
        face_up: `[N]` bool, positions matched and face up.
        first: int32, the position flipped first in the current pair, -1 when none.
    """

    value: jax.Array
    undealt: jax.Array
    face_up: jax.Array
    first: jax.Array


@struct.dataclass
class EnvParams(environment.EnvParams):
    """Numeric options.

    Attributes:
        max_steps_in_episode: episode length `T`; also sets the penalty scale `1/T`.
    """

    max_steps_in_episode: int = 104


class Concentration(environment.Environment[EnvState, EnvParams]):
    """Concentration: flip cards two at a time and keep the matching pairs face up.

    Args:
        num_decks: number of 52-card decks.
        match: "colors" (2 values) or "ranks" (13 values), what two cards must share to match.
    """

    def __init__(self, num_decks: int = 1, match: str = "colors"):
        super().__init__()
        if num_decks < 1 or match not in ("colors", "ranks"):
            raise ValueError(
                f"Need num_decks >= 1 and match in ('colors', 'ranks'), got {num_decks}, {match!r}."
            )
        self.num_decks = num_decks
        self.match = match
        self.num_cards = DECK_SIZE * num_decks
        self.num_values = NUM_COLORS if match == "colors" else NUM_RANKS

    @property
    def default_params(self) -> EnvParams:
        return EnvParams(max_steps_in_episode=episode_length(self.num_cards))

    @property
    def name(self) -> str:
        return "Concentration"

    @property
    def num_actions(self) -> int:
        return self.num_cards

    def reset_env(self, key: jax.Array, params: EnvParams) -> tuple[jax.Array, EnvState]:
        """All cards face down and none dealt yet (dealing is lazy, see the module docstring)."""
        state = EnvState(
            time=jnp.int32(0),
            value=jnp.full((self.num_cards,), -1, jnp.int32),
            undealt=jnp.full((self.num_values,), self.num_cards // self.num_values, jnp.int32),
            face_up=jnp.zeros((self.num_cards,), bool),
            first=jnp.int32(-1),
        )
        return self.encode(state.value, jnp.zeros((self.num_cards,), bool)), state

    def step_env(
        self, key: jax.Array, state: EnvState, action: jax.Array, params: EnvParams
    ) -> tuple[jax.Array, EnvState, jax.Array, jax.Array, dict]:
        """Flips the card at position `action`, then resolves the pair if it is complete."""
        action = jnp.asarray(action, jnp.int32)
        value, undealt = deal(key, state.value, state.undealt, action)
        positions = jnp.arange(self.num_cards)
        in_pair = (positions == action) | (positions == state.first)
        obs = self.encode(value, state.face_up | in_pair)

        has_first = state.first >= 0
        already_up = state.face_up[action]
        second = has_first & ~already_up
        matched = second & (value[state.first] == value[action]) & (state.first != action)
        failure = 1.0 / jnp.asarray(params.max_steps_in_episode, jnp.float32)
        reward = jnp.where(
            already_up,
            jnp.where(has_first, -2.0 * failure, -failure),
            jnp.where(second, jnp.where(matched, 2.0 / self.num_cards, -2.0 * failure), 0.0),
        )
        face_up = state.face_up | (matched & in_pair)
        state = EnvState(
            time=state.time + 1,
            value=value,
            undealt=undealt,
            face_up=face_up,
            first=jnp.where(already_up | second, -1, action),
        )
        return obs, state, reward, jnp.all(face_up), {}

    def encode(self, value: jax.Array, visible: jax.Array) -> jax.Array:
        """Flattened value-major one-hot `[(V + 1) * N]` float32 (row `V`: face down)."""
        shown = jnp.where(visible, value, self.num_values)
        # One row per value, concatenated: the auto-reset's select over this 1-D layout is several
        # times faster on a CPU than over a reshaped 2-D one-hot.
        rows = [(shown == v).astype(jnp.float32) for v in range(self.num_values + 1)]
        return jnp.concatenate(rows)

    def observation_space(self, params: EnvParams) -> spaces.Box:
        """Value-major one-hot of each position's value or face down, flattened: `[(V + 1) * N]`."""
        return spaces.Box(0.0, 1.0, ((self.num_values + 1) * self.num_cards,), jnp.float32)

    def action_space(self, params: EnvParams) -> spaces.Discrete:
        """The position of the card to flip."""
        return spaces.Discrete(self.num_cards)


def episode_length(num_cards: int) -> int:
    """POPGym's episode length for `num_cards` cards, `ceil(2N - N / (2N - 1))`."""
    return math.ceil(2 * num_cards - num_cards / (2 * num_cards - 1))


def deal(
    key: jax.Array, value: jax.Array, undealt: jax.Array, position: jax.Array
) -> tuple[jax.Array, jax.Array]:
    """Deals the card at `position` if it was not dealt yet, uniformly among the undealt cards.

    Args:
        key: PRNG key.
        value: `[N]` int32 dealt values, -1 where not dealt.
        undealt: `[V]` int32 undealt cards per value.
        position: int32 scalar.

    Returns:
        `(value, undealt)` after the deal (unchanged when the position was dealt before).
    """
    total = jnp.maximum(jnp.sum(undealt), 1).astype(jnp.uint32)
    # Modulo bias is below N / 2**32 < 1e-7.
    rank = (jax.random.bits(key, (), jnp.uint32) % total).astype(jnp.int32)
    drawn = jnp.sum(jnp.cumsum(undealt) <= rank, dtype=jnp.int32)
    is_new = value[position] < 0
    card = jnp.where(is_new, drawn, value[position])
    taken = is_new & (jnp.arange(undealt.shape[0]) == drawn)
    return value.at[position].set(card), undealt - taken.astype(jnp.int32)


def concentration(
    num_decks: int = 1, match: str = "colors", max_steps_in_episode: int | None = None
) -> tuple[Concentration, EnvParams]:
    """Builds a Concentration and its params.

    Args:
        num_decks: number of 52-card decks.
        match: "colors" or "ranks" (POPGym's `deck_type`).
        max_steps_in_episode: episode length `T`; `None` means POPGym's `ceil(2N - N / (2N - 1))`.

    Returns:
        `(env, params)`.
    """
    env = Concentration(num_decks=num_decks, match=match)
    params = env.default_params
    if max_steps_in_episode is not None:
        if max_steps_in_episode < 1:
            raise ValueError(f"max_steps_in_episode must be >= 1, got {max_steps_in_episode}.")
        params = params.replace(max_steps_in_episode=max_steps_in_episode)
    return env, params


ENTRIES: dict[str, Callable[..., tuple[Concentration, EnvParams]]] = {
    "ConcentrationEasy": functools.partial(concentration, num_decks=1, match="colors"),
    "ConcentrationMedium": functools.partial(concentration, num_decks=2, match="colors"),
    "ConcentrationHard": functools.partial(concentration, num_decks=1, match="ranks"),
}
