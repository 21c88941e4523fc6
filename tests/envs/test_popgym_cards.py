"""Decks stored as counts per category (envs/popgym/cards.py): draws, full deals, suit memory."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from envs.popgym import cards


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
