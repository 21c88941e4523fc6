"""Decks of playing cards and the skeleton of the POPGym card games (`CardGame`).

POPGym's card games (RepeatFirst, RepeatPrevious, Autoencode, CountRecall, HigherLower) shuffle a
deck of `52 * num_decks` cards and deal it one card at a time, and each game only ever looks at one
attribute of a card: its suit, its rank or its colour. For one attribute, dealing from a shuffled
deck is the same random sequence as drawing every card from the counts of the cards left (sampling
without replacement), so a deck here is a `[C]` vector of counts, one per category of the
attribute. A reset then costs one draw instead of a permutation of the whole deck, which matters
because a vectorised auto-reset computes a reset at every step.

Category order follows popgym: suits spades, diamonds, clubs, hearts; ranks ace (lowest), 2, ...,
10, jack, queen, king; colours black, red.

Every game deals one card at reset and one after each step and ends after a fixed number of steps:
`CardGame` holds that loop, the spaces and the time limit, and a game module keeps only its rule.
"""

from typing import Any

import jax
import jax.numpy as jnp
from flax import struct
from gymnax.environments import environment, spaces

DECK_SIZE = 52
NUM_SUITS = 4
NUM_RANKS = 13
NUM_COLORS = 2
NUM_CATEGORIES = {"colors": NUM_COLORS, "suits": NUM_SUITS, "ranks": NUM_RANKS}
"""Number of categories of each card attribute, by popgym's attribute names."""


def deck_size(num_decks: int) -> int:
    """Number of cards `N = 52 * num_decks` in `num_decks` decks; fails unless `num_decks >= 1`."""
    if num_decks < 1:
        raise ValueError(f"num_decks must be >= 1, got {num_decks}")
    return DECK_SIZE * num_decks


def full_counts(num_categories: int, num_decks: int) -> jax.Array:
    """Counts of a full deck of `num_decks` standard decks, split by one attribute.

    Args:
        num_categories: categories of the attribute (4 suits, 13 ranks or 2 colours).
        num_decks: number of 52-card decks shuffled together.

    Returns:
        int32 `[C]`: `52 * num_decks / C` cards of each category.
    """
    return jnp.full((num_categories,), DECK_SIZE * num_decks // num_categories, jnp.int32)


def draw(key: jax.Array, counts: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Deals one card uniformly from each deck of cards left (up to a bias below `N / 2**32`).

    Args:
        key: PRNG key.
        counts: int32 `[..., C]`, cards left of each category, for any number of decks.

    Returns:
        `(card, counts)`: each deck's card category (int32 `[...]`) and the counts without it.
        An empty deck deals the last category and stays empty (no game deals from one).
    """
    num_categories = counts.shape[-1]
    total = jnp.sum(counts, axis=-1)
    # 32 random bits modulo the cards left: a relative bias below N / 2**32 (5e-8 for the 208
    # cards of the largest deck used), and several times cheaper than `jax.random.randint`
    # (which draws twice to be exact) inside every vectorised step.
    bits = jax.random.bits(key, total.shape, jnp.uint32)
    position = (bits % jnp.maximum(total, 1).astype(jnp.uint32)).astype(jnp.int32)
    # The card at `position` in a deck sorted by category.
    card = jnp.sum(jnp.cumsum(counts, axis=-1) <= position[..., None], axis=-1)
    card = jnp.minimum(card, num_categories - 1).astype(jnp.int32)
    # A one-hot update rather than a scatter: scatters are slow under vmap on a CPU.
    dealt = jax.nn.one_hot(card, num_categories, dtype=jnp.int32) * (total > 0)[..., None]
    return card, counts - dealt


def one_hot(card: jax.Array, num_categories: int) -> jax.Array:
    """float32 `[..., C]` one-hot encoding of card categories (int `[...]`)."""
    return jax.nn.one_hot(card, num_categories, dtype=jnp.float32)


def signed_reward(correct: jax.Array, scale: float) -> jax.Array:
    """float32 `[]`: `scale` for a correct answer, `-scale` for a wrong one."""
    return jnp.where(correct, scale, -scale).astype(jnp.float32)


SUITS_PER_WORD = 16
"""Suits packed in one uint32 word of a suit memory (2 bits each)."""


def empty_suit_memory(length: int) -> jax.Array:
    """A memory for `length` suits, all 0: uint32 `[W]`, `W = ceil(length / 16)`.

    Games that must remember a sequence of suits keep them packed, 2 bits each: the state is 16
    times smaller, so the per-step select between the stepped and the reset state that a
    vectorised auto-reset does is cheap even for long memories.
    """
    return jnp.zeros((-(-length // SUITS_PER_WORD),), jnp.uint32)


def _word_and_shift(slot: jax.Array) -> tuple[jax.Array, jax.Array]:
    """The word index (int32 `[]`) and bit shift (uint32 `[]`) of memory slot `slot`."""
    slot = jnp.asarray(slot, jnp.int32)
    return slot // SUITS_PER_WORD, (2 * (slot % SUITS_PER_WORD)).astype(jnp.uint32)


def read_suit(memory: jax.Array, slot: jax.Array) -> jax.Array:
    """The suit (int32 `[]`) at `slot` (int `[]`) of a suit memory, uint32 `[W]`."""
    word, shift = _word_and_shift(slot)
    return ((memory[word] >> shift) & 3).astype(jnp.int32)


def write_suit(memory: jax.Array, slot: jax.Array, suit: jax.Array) -> jax.Array:
    """A suit memory (uint32 `[W]`) with `suit` (int `[]`, 0 to 3) written at `slot` (int `[]`)."""
    word, shift = _word_and_shift(slot)
    cleared = memory[word] & ~(jnp.uint32(3) << shift)
    updated = cleared | (jnp.asarray(suit).astype(jnp.uint32) << shift)
    # A select rather than a scatter: scatters are slow under vmap on a CPU.
    return jnp.where(jnp.arange(memory.shape[0]) == word, updated, memory)


@struct.dataclass
class EnvParams(environment.EnvParams):
    """Parameters of a card game.

    Attributes:
        max_steps_in_episode: time limit (truncation); a game's `default_params` put it one step
            past the game's end, so that only the rules end an episode (as in popgym).
    """

    max_steps_in_episode: int = DECK_SIZE


class CardGame(environment.Environment):
    """The skeleton every card game shares: deal at reset and after each step, score by a rule.

    At reset a card is dealt from `full_deck()` and shown; at every step the next card is dealt
    from the cards left, the game's rule scores the action, and the new card is shown. The game
    terminates after `episode_length` steps. Observations are float32 `[D]` in [0, 1] (one-hot
    cards and flags), actions Discrete(`A`).

    A game sets `num_decks`, `num_categories` (`C`, categories of the attribute it deals: see
    `NUM_CATEGORIES`), `obs_size` (`D`), `_num_actions` (`A`) and `episode_length` in its
    constructor, and defines its rule with
    - `start(card, counts) -> state`: the state after the first deal (time 0);
    - `play(state, action, card) -> (reward, state)`: scores `action` in `state`, whose `time`
      and `counts` already include the card just dealt (int32 `[]`, or `[R]` from an `[R, C]`
      deck) while every other field is still the previous step's; returns the reward (float32
      `[]`) and the state with those fields updated.
    It may override `full_deck()` (one deck of `num_decks` decks, by default) and `observe(card,
    state)` (the one-hot card, by default).
    """

    num_decks: int
    num_categories: int
    obs_size: int
    episode_length: int
    _num_actions: int

    @property
    def num_actions(self) -> int:
        """Number of discrete actions `A`."""
        return self._num_actions

    @property
    def default_params(self) -> EnvParams:
        return self.make_params()

    def make_params(self, max_steps_in_episode: int | None = None) -> EnvParams:
        """The game's parameters with a time limit (see `time_limit`; None: popgym's rules)."""
        return EnvParams(max_steps_in_episode=time_limit(self.episode_length, max_steps_in_episode))

    def observation_space(self, params: EnvParams) -> spaces.Box:
        """Box of float32 `[D]` in [0, 1] (one-hot encoded cards and flags)."""
        return spaces.Box(0.0, 1.0, (self.obs_size,), jnp.float32)

    def action_space(self, params: EnvParams) -> spaces.Discrete:
        """Discrete(`A`)."""
        return spaces.Discrete(self._num_actions)

    def full_deck(self) -> jax.Array:
        """The counts before the first deal: int32 `[C]` (or `[R, C]` for `R` decks)."""
        return full_counts(self.num_categories, self.num_decks)

    def observe(self, card: jax.Array, state: Any) -> jax.Array:
        """float32 `[D]`: the one-hot card(s) just dealt, given the state after the deal."""
        return one_hot(card, self.num_categories).reshape(-1)

    def start(self, card: jax.Array, counts: jax.Array) -> Any:
        """The state after the first deal of `card`, with `counts` left."""
        raise NotImplementedError

    def play(self, state: Any, action: jax.Array, card: jax.Array) -> tuple[jax.Array, Any]:
        """Scores `action` and updates the game's own fields (see the class docstring)."""
        raise NotImplementedError

    def deal(self, key: jax.Array, counts: jax.Array) -> tuple[jax.Array, jax.Array]:
        """Deals one card from the cards left (`draw`); a game with replacement overrides it."""
        return draw(key, counts)

    def reset_env(self, key: jax.Array, params: EnvParams) -> tuple[jax.Array, Any]:
        """Deals the first card. Returns the observation, float32 `[D]`, and the state."""
        card, counts = self.deal(key, self.full_deck())
        state = self.start(card, counts)
        return self.observe(card, state), state

    def step_env(
        self, key: jax.Array, state: Any, action: jax.Array, params: EnvParams
    ) -> tuple[jax.Array, Any, jax.Array, jax.Array, dict]:
        """Deals the next card and scores `action` (int `[]`) by the game's rule."""
        card, counts = self.deal(key, state.counts)
        reward, state = self.play(state.replace(time=state.time + 1, counts=counts), action, card)
        terminated = state.time >= self.episode_length
        return self.observe(card, state), state, reward, terminated, {}


def time_limit(episode_length: int, max_steps_in_episode: int | None) -> int:
    """The time limit (truncation) for a game that terminates after `episode_length` steps.

    Args:
        episode_length: steps until the game terminates by its own rules.
        max_steps_in_episode: a time limit, or None for none: as in popgym, the game then always
            terminates (one step past its length, the limit can never truncate it).

    Returns:
        The `max_steps_in_episode` to put in the game's EnvParams.
    """
    if max_steps_in_episode is None:
        return episode_length + 1
    if max_steps_in_episode < 1:
        raise ValueError(f"max_steps_in_episode must be >= 1, got {max_steps_in_episode}")
    return max_steps_in_episode
