"""HigherLower: rules, returns and the comparison with the original popgym package."""

import functools
import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from envs.popgym import cards
from envs.popgym.higher_lower import ENTRIES, HIGHER, LOWER
from tests.envs.popgym_helpers import (
    assert_independent_uniform_deals,
    assert_jit_vmap_step,
    assert_replay_matches,
    assert_same_statistics,
    rollout,
    run_reference,
)

NAMES = ("HigherLowerEasy", "HigherLowerMedium", "HigherLowerHard")


@functools.cache
def make(name):
    """One env per name for the whole file, so that jitted rollouts compile once."""
    return ENTRIES[name]()


@functools.cache
def policies(num_decks):
    """Card counting (the optimal policy), a fixed guess and a random guess: (init, act) pairs.

    Actions never change the deal, so the optimal policy is the greedy one: guess the side that
    holds more of the cards left, counted from the observations.
    """

    def init(obs):
        return jnp.zeros((cards.NUM_RANKS,), jnp.int32)

    def count(seen, obs, key):
        seen = seen + obs.astype(jnp.int32)
        left = 4 * num_decks - seen
        rank, ranks = jnp.argmax(obs), jnp.arange(cards.NUM_RANKS)
        higher = jnp.sum(jnp.where(ranks > rank, left, 0))
        lower = jnp.sum(jnp.where(ranks < rank, left, 0))
        return seen, jnp.where(higher >= lower, HIGHER, LOWER)

    def fixed_guess(seen, obs, key):
        return seen, jnp.where(jnp.argmax(obs) < 6, HIGHER, LOWER)

    def random_guess(seen, obs, key):
        return seen, jax.random.randint(key, (), 0, 2)

    return {"count": (init, count), "fixed": (init, fixed_guess), "random": (init, random_guess)}


def run(name, policy, key, num_episodes, params=None):
    env, default_params = make(name)
    init, act = policies(env.num_decks)[policy]
    params = params or default_params
    return rollout(env, params, init, act, jax.random.key(key), num_episodes, env.episode_length)


def simulate_counting(num_decks, num_episodes, seed):
    """Card counting on shuffled decks in plain numpy: an independent model of the rules."""
    rng = np.random.default_rng(seed)
    returns = []
    for _ in range(num_episodes):
        deck = rng.permutation(np.repeat(np.arange(13), 4 * num_decks))
        left = np.bincount(deck[1:], minlength=13)
        score = 0
        for rank, next_rank in itertools.pairwise(deck):
            guess_higher = left[rank + 1 :].sum() >= left[:rank].sum()
            if next_rank != rank:
                score += 1 if (next_rank > rank) == guess_higher else -1
            left[next_rank] -= 1
        returns.append(score / deck.size)
    return np.asarray(returns)


def test_entries_match_popgym_difficulties():
    settings = {
        name: (ENTRIES[name]()[0].num_decks, ENTRIES[name]()[0].episode_length) for name in NAMES
    }
    assert settings == {
        "HigherLowerEasy": (1, 51),
        "HigherLowerMedium": (2, 103),
        "HigherLowerHard": (3, 155),
    }
    env, params = ENTRIES["HigherLowerEasy"]()
    assert env.num_actions == 2 and env.observation_space(params).shape == (13,)


@pytest.mark.parametrize("name", NAMES)
def test_jit_vmap_shapes_and_spaces(name):
    assert_jit_vmap_step(*make(name))


@pytest.mark.parametrize("name", NAMES)
def test_whole_deck_is_dealt_once_and_episodes_terminate(name):
    env, _ = make(name)
    first_obs, steps = run(name, "count", 1, 8)
    obs = np.concatenate([first_obs[:, None], steps.final_obs], axis=1)
    np.testing.assert_array_equal(obs.sum(1), 4 * env.num_decks)
    assert steps.terminated[:, -1].all() and not steps.terminated[:, :-1].any()
    assert not steps.truncated.any()
    # Rewards: 0 on equal ranks, else +-1/N.
    ranks = obs.argmax(-1)
    np.testing.assert_array_equal(steps.reward == 0, ranks[:, 1:] == ranks[:, :-1])
    np.testing.assert_allclose(np.abs(steps.reward[steps.reward != 0]), 1 / (52 * env.num_decks))


def test_card_counting_matches_an_independent_simulation():
    ours = run("HigherLowerEasy", "count", 2, 1024)[1].reward.sum(1)
    theirs = simulate_counting(1, 2000, seed=0)
    assert_same_statistics(ours, theirs)
    assert 0.5 < ours.mean() < 0.56


def test_card_counting_beats_a_fixed_guess_and_random_scores_zero():
    # Same key, same deals (actions never change them): a paired comparison.
    counting = run("HigherLowerEasy", "count", 2, 1024)[1].reward.sum(1)
    fixed = run("HigherLowerEasy", "fixed", 2, 1024)[1].reward.sum(1)
    gain = np.asarray(counting - fixed)
    assert gain.mean() > 0.02 and gain.mean() > 5 * gain.std() / np.sqrt(gain.size)
    random_returns = run("HigherLowerEasy", "random", 2, 1024)[1].reward.sum(1)
    assert abs(random_returns.mean()) < 5 * random_returns.std() / np.sqrt(1024)


def test_hand_made_deal_and_guesses():
    """Ace, king, king, 4, 8, ace (forced deals) with guesses H, L, H, L, L: +1, 0, -1, -1, +1."""
    env, params = make("HigherLowerEasy")
    _, state = env.reset(jax.random.key(0), params)
    state = state.replace(rank=jnp.int32(0))
    deal = [12, 12, 3, 7, 0]
    guesses = [HIGHER, LOWER, HIGHER, LOWER, LOWER]
    expected = [1, 0, -1, -1, 1]
    for next_rank, guess, sign in zip(deal, guesses, expected, strict=True):
        forced = jax.nn.one_hot(next_rank, 13, dtype=jnp.int32)
        obs, state, reward, terminated, _ = env.step_env(
            jax.random.key(1), state.replace(counts=forced), guess, params
        )
        assert int(obs.argmax()) == next_rank and float(reward) == pytest.approx(sign / 52)
        assert not terminated


def test_time_limit_truncates():
    params = make("HigherLowerEasy")[1].replace(max_steps_in_episode=25)
    _, steps = run("HigherLowerEasy", "random", 3, 1024, params)
    np.testing.assert_array_equal(steps.truncated[0], np.arange(1, 52) % 25 == 0)
    assert not steps.terminated.any()


def test_every_key_deals_an_independent_uniform_shuffle():
    deals = [
        np.concatenate([first_obs[:, None], steps.final_obs], axis=1).argmax(-1)
        for first_obs, steps in (run("HigherLowerEasy", "random", key, 1024) for key in (6, 7))
    ]
    assert_independent_uniform_deals(*deals, cards.NUM_RANKS)


# ---------------------------------------------------------------- reference: the popgym package

ORACLE_SOURCE = """
def oracle(history):
    rank = history[-1]
    left = [4 * env.num_decks - history.count(r) for r in range(13)]
    return 0 if sum(left[rank + 1:]) >= sum(left[:rank]) else 1
"""


@pytest.fixture(scope="module")
def reference():
    return run_reference("popgym.envs.higher_lower", NAMES, ORACLE_SOURCE, episodes=300)


@pytest.mark.parametrize("name", NAMES)
def test_reference_replays_match(reference, name):
    """popgym's deals, replayed here with its actions, give its observations and rewards."""
    env, params = make(name)
    for episode in reference[name]["replays"]:
        ranks = np.asarray(episode["obs"])
        obs = np.eye(13, dtype=np.float32)[ranks]
        deals = np.eye(13, dtype=np.int32)[ranks[1:]]
        assert_replay_matches(env, params, obs[0], deals, episode, obs[1:])


def test_reference_returns_agree(reference):
    theirs = reference["HigherLowerEasy"]
    assert_same_statistics(
        run("HigherLowerEasy", "random", 2, 1024)[1].reward.sum(1), theirs["random_returns"]
    )
    assert_same_statistics(
        run("HigherLowerEasy", "count", 2, 1024)[1].reward.sum(1), theirs["oracle_returns"]
    )
