"""Decks stored as counts per category (envs/popgym/cards.py): draws, full deals, suit memory,
and the card-game skeleton every game shares."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import envs
from envs.popgym import cards

CARD_GAMES = ("RepeatFirst", "RepeatPrevious", "Autoencode", "CountRecall", "HigherLower")


def test_full_counts_and_deck_size():
    np.testing.assert_array_equal(cards.full_counts(cards.NUM_SUITS, 3), [39] * 4)
    np.testing.assert_array_equal(cards.full_counts(cards.NUM_RANKS, 4), [16] * 13)
    np.testing.assert_array_equal(cards.full_counts(cards.NUM_COLORS, 1), [26] * 2)
    assert cards.deck_size(3) == 156
    with pytest.raises(ValueError, match="num_decks"):
        cards.deck_size(0)


def test_draw_frequencies_follow_the_counts():
    counts = jnp.array([3, 0, 5, 2], jnp.int32)
    keys = jax.random.split(jax.random.key(0), 20_000)
    card, left = jax.jit(jax.vmap(cards.draw, (0, None)))(keys, counts)
    frequency = np.bincount(np.asarray(card), minlength=4) / card.size
    np.testing.assert_allclose(frequency, counts / 10, atol=5 * np.sqrt(0.25 / card.size))
    np.testing.assert_array_equal(left, counts - jax.nn.one_hot(card, 4, dtype=jnp.int32))


def test_dealing_a_deck_to_the_end_deals_every_card_once():
    counts = cards.full_counts(cards.NUM_RANKS, 2)

    def deal(counts, key):
        card, counts = cards.draw(key, counts)
        return counts, card

    left, dealt = jax.lax.scan(deal, counts, jax.random.split(jax.random.key(1), 104))
    np.testing.assert_array_equal(left, 0)
    np.testing.assert_array_equal(np.bincount(np.asarray(dealt), minlength=13), 8)
    # An empty deck stays empty.
    _, empty = cards.draw(jax.random.key(2), left)
    np.testing.assert_array_equal(empty, 0)


def test_draw_handles_a_batch_of_decks():
    counts = jnp.array([[0, 0, 1, 0], [1, 0, 0, 0]], jnp.int32)
    card, left = cards.draw(jax.random.key(3), counts)
    np.testing.assert_array_equal(card, [2, 0])
    np.testing.assert_array_equal(left, 0)


def test_suit_memory_round_trip_with_overwrites():
    rng = np.random.default_rng(0)
    length = 37
    slots = rng.integers(0, length, 300)
    suits = rng.integers(0, 4, 300)
    expected = np.zeros(length, int)
    for slot, suit in zip(slots, suits, strict=True):
        expected[slot] = suit

    def write(memory, slot_and_suit):
        return cards.write_suit(memory, *slot_and_suit), None

    memory = cards.empty_suit_memory(length)
    assert memory.shape == (3,) and memory.dtype == jnp.uint32
    memory, _ = jax.lax.scan(write, memory, (jnp.asarray(slots), jnp.asarray(suits)))
    read = jax.vmap(cards.read_suit, (None, 0))(memory, jnp.arange(length))
    np.testing.assert_array_equal(read, expected)


def test_time_limit():
    assert cards.time_limit(51, None) == 52
    assert cards.time_limit(51, 10) == 10
    with pytest.raises(ValueError, match="max_steps_in_episode"):
        cards.time_limit(51, 0)


@functools.partial(jax.jit, static_argnums=(0, 2))
def play_without_reset(env, params, num_steps, key):
    """Resets, then `num_steps` random `step_env` calls (no auto-reset): obs, counts, flags."""
    obs, state = env.reset_env(key, params)

    def body(state, key):
        action = env.action_space(params).sample(key)
        obs, state, reward, terminated, _ = env.step_env(key, state, action, params)
        return state, (obs, state.time, state.counts, reward, terminated)

    return obs, state.counts, jax.lax.scan(body, state, jax.random.split(key, num_steps))[1]


@pytest.mark.parametrize("game", CARD_GAMES)
def test_skeleton_deals_one_card_per_step_and_terminates_on_time(game):
    env, params = envs.make(f"{game}Medium")
    assert isinstance(env, cards.CardGame)
    assert params == env.default_params == env.make_params(None)
    assert params.max_steps_in_episode == env.episode_length + 1
    length = env.episode_length
    obs0, counts0, (obs, time, counts, reward, terminated) = play_without_reset(
        env, params, length + 2, jax.random.key(0)
    )
    deck = cards.deck_size(env.num_decks)
    # One card dealt at reset and one per step from every deck, until the deck is empty.
    np.testing.assert_array_equal(counts0.sum(-1), np.full(counts0.shape[:-1], deck - 1))
    left = np.maximum(deck - 2 - np.arange(length + 2), 0)
    per_deck = np.asarray(counts.sum(-1)).reshape(length + 2, -1)  # [T, decks]
    np.testing.assert_array_equal(per_deck, np.repeat(left[:, None], per_deck.shape[1], axis=1))
    np.testing.assert_array_equal(time, np.arange(1, length + 3))
    np.testing.assert_array_equal(terminated, np.arange(1, length + 3) >= length)
    space = env.observation_space(params)
    assert space.shape == (env.obs_size,) and env.action_space(params).n == env.num_actions
    assert all(bool(space.contains(o)) for o in [obs0, *obs[:length]])
    assert reward.dtype == jnp.float32 and np.all(np.abs(reward) <= 1.0)
