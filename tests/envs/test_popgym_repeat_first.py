"""RepeatFirst: rules, returns and the comparison with the original popgym package."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from envs.popgym import cards
from envs.popgym.repeat_first import ENTRIES
from tests.envs.popgym_helpers import (
    assert_independent_uniform_deals,
    assert_jit_vmap_step,
    assert_replay_matches,
    assert_same_statistics,
    rollout,
    run_reference,
)

NAMES = ("RepeatFirstEasy", "RepeatFirstMedium", "RepeatFirstHard")


@functools.cache
def make(name):
    """One env per name for the whole file, so that jitted rollouts compile once."""
    return ENTRIES[name]()


def remember_first(obs):
    """Oracle memory: the first card's suit."""
    return jnp.argmax(obs)


def repeat_memory(memory, obs, key):
    return memory, memory


def no_memory(obs):
    return jnp.int32(0)


def random_action(memory, obs, key):
    return memory, jax.random.randint(key, (), 0, cards.NUM_SUITS)


def random_rollout(key=2, **param_changes):
    """1024 random-policy episodes of RepeatFirstEasy (one compilation shared by the tests)."""
    env, params = make("RepeatFirstEasy")
    params = params.replace(**param_changes)
    return rollout(env, params, no_memory, random_action, jax.random.key(key), 1024, 51)


def oracle_rollout(name):
    """8 episodes of `name` played by the oracle."""
    env, params = make(name)
    key = jax.random.key(1)
    return rollout(env, params, remember_first, repeat_memory, key, 8, env.episode_length)


def test_entries_match_popgym_difficulties():
    lengths = {name: ENTRIES[name]()[0].episode_length for name in NAMES}
    assert lengths == {"RepeatFirstEasy": 51, "RepeatFirstMedium": 415, "RepeatFirstHard": 831}
    env, params = ENTRIES["RepeatFirstEasy"]()
    assert params.max_steps_in_episode == 52 == env.default_params.max_steps_in_episode
    assert env.num_actions == 4 and env.observation_space(params).shape == (4,)
    assert ENTRIES["RepeatFirstEasy"](max_steps_in_episode=10)[1].max_steps_in_episode == 10
    with pytest.raises(ValueError, match="num_decks"):
        ENTRIES["RepeatFirstEasy"](num_decks=0)


@pytest.mark.parametrize("name", NAMES)
def test_jit_vmap_shapes_and_spaces(name):
    assert_jit_vmap_step(*make(name))


@pytest.mark.parametrize("name", NAMES)
def test_oracle_reaches_one_and_every_episode_terminates(name):
    length = make(name)[0].episode_length
    _, steps = oracle_rollout(name)
    np.testing.assert_allclose(steps.reward.sum(1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(steps.reward, 1.0 / length, rtol=1e-6)
    expected_terminated = np.zeros((8, length), bool)
    expected_terminated[:, -1] = True
    np.testing.assert_array_equal(steps.terminated, expected_terminated)
    assert not steps.truncated.any()
    # Auto-reset: the state after the last step starts a new episode.
    np.testing.assert_array_equal(steps.time[:, -1], 0)


@pytest.mark.parametrize("name", NAMES)
def test_whole_deck_is_dealt_once(name):
    first_obs, steps = oracle_rollout(name)
    suits = jnp.concatenate([first_obs[:, None], steps.final_obs], axis=1).argmax(-1)
    counts = jax.vmap(lambda s: jnp.bincount(s, length=4))(suits)
    np.testing.assert_array_equal(counts, 13 * make(name)[0].num_decks)


def test_random_policy_mean_return():
    # Each step is right with probability 1/4: mean return -1/2, std sqrt(0.75 / 51) per episode.
    returns = random_rollout()[1].reward.sum(1)
    assert abs(returns.mean() + 0.5) < 5 * np.sqrt(0.75 / 51 / 1024)
    assert abs(returns.std() - np.sqrt(0.75 / 51)) < 0.1 * np.sqrt(0.75 / 51)
    assert returns.min() >= -1.0 and returns.max() <= 1.0


def test_hand_made_actions():
    """Right for the first 10 steps, then always wrong: return (10 - 41) / 51."""
    env, params = make("RepeatFirstEasy")
    obs, state = env.reset(jax.random.key(4), params)
    first = int(obs.argmax())
    total = 0.0
    for t in range(51):
        action = first if t < 10 else (first + 1 + t % 3) % 4
        obs, state, reward, terminated, truncated, _ = env.step(
            jax.random.key(100 + t), state, action, params
        )
        assert float(reward) == pytest.approx(1 / 51 if t < 10 else -1 / 51)
        assert bool(terminated) == (t == 50) and not truncated
        total += float(reward)
    assert total == pytest.approx(-31 / 51)


def test_time_limit_truncates():
    _, steps = random_rollout(max_steps_in_episode=5)
    expected = np.zeros((1024, 51), bool)
    expected[:, 4::5] = True
    np.testing.assert_array_equal(steps.truncated, expected)
    assert not steps.terminated.any()
    np.testing.assert_array_equal(steps.time[:, 4::5], 0)
    np.testing.assert_array_equal(steps.time[:, 5], 1)


def test_every_key_deals_an_independent_uniform_shuffle():
    deals = [
        np.concatenate([first_obs[:, None], steps.final_obs], axis=1).argmax(-1)
        for first_obs, steps in (random_rollout(key=6), random_rollout(key=7))
    ]
    assert_independent_uniform_deals(*deals, cards.NUM_SUITS)


# ---------------------------------------------------------------- reference: the popgym package

ORACLE_SOURCE = """
def oracle(history):
    return int(history[0])
"""


@pytest.fixture(scope="module")
def reference():
    return run_reference("popgym.envs.repeat_first", NAMES, ORACLE_SOURCE)


@pytest.mark.parametrize("name", NAMES)
def test_reference_replays_match(reference, name):
    """popgym's deals, replayed here with its actions, give its observations and rewards."""
    env, params = make(name)
    for episode in reference[name]["replays"]:
        suits = np.asarray(episode["obs"])
        one_hot = np.eye(4, dtype=np.float32)[suits]
        deals = np.eye(4, dtype=np.int32)[suits[1:]]
        assert_replay_matches(env, params, one_hot[0], deals, episode, one_hot[1:])


def test_reference_returns_agree(reference):
    ours = random_rollout()[1].reward.sum(1)
    assert_same_statistics(ours, reference["RepeatFirstEasy"]["random_returns"])
    for name in NAMES:
        np.testing.assert_allclose(reference[name]["oracle_returns"], 1.0, rtol=1e-6)
