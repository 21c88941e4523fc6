"""Autoencode: rules, returns and the comparison with the original popgym package."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from envs.popgym import cards
from envs.popgym.autoencode import ENTRIES
from tests.envs.popgym_helpers import (
    assert_independent_uniform_deals,
    assert_jit_vmap_step,
    assert_replay_matches,
    assert_same_statistics,
    rollout,
    run_reference,
)

NAMES = ("AutoencodeEasy", "AutoencodeMedium", "AutoencodeHard")
PLAY_FLAG = np.array([1.0, 0.0], np.float32)
WATCH_FLAG = np.array([0.0, 1.0], np.float32)


@functools.cache
def make(name):
    """One env per name for the whole file, so that jitted rollouts compile once."""
    return ENTRIES[name]()


@functools.cache
def oracle_policy(num_cards):
    """Oracle: records the first `num_cards` observed suits, then names them backwards."""

    def init(obs):
        return jnp.zeros((num_cards,), jnp.int32), jnp.int32(0)

    def act(memory, obs, key):
        history, seen = memory
        watching = seen < num_cards
        history = jnp.where(watching, history.at[seen].set(jnp.argmax(obs[2:])), history)
        seen = seen + 1
        # Step `seen` is about to be taken; from step N on, step i asks for card 2N - 1 - i.
        action = history[jnp.clip(2 * num_cards - 1 - seen, 0, num_cards - 1)]
        return (history, seen), action

    return init, act


def no_memory(obs):
    return jnp.int32(0)


def random_action(memory, obs, key):
    return memory, jax.random.randint(key, (), 0, cards.NUM_SUITS)


def oracle_rollout(name):
    """8 episodes of `name` played by the oracle."""
    env, params = make(name)
    init, act = oracle_policy(env.num_cards)
    return rollout(env, params, init, act, jax.random.key(1), 8, env.episode_length)


def random_rollout(key=2):
    """1024 random-policy episodes of AutoencodeEasy."""
    env, params = make("AutoencodeEasy")
    return rollout(env, params, no_memory, random_action, jax.random.key(key), 1024, 103)


def test_entries_match_popgym_difficulties():
    lengths = {name: ENTRIES[name]()[0].episode_length for name in NAMES}
    assert lengths == {"AutoencodeEasy": 103, "AutoencodeMedium": 207, "AutoencodeHard": 311}
    env, params = ENTRIES["AutoencodeEasy"]()
    assert params.max_steps_in_episode == 104
    assert env.num_actions == 4 and env.observation_space(params).shape == (6,)


@pytest.mark.parametrize("name", NAMES)
def test_jit_vmap_shapes_and_spaces(name):
    assert_jit_vmap_step(*make(name))


@pytest.mark.parametrize("name", NAMES)
def test_oracle_reaches_one_and_observations_follow_the_phases(name):
    env, _ = make(name)
    num_cards = env.num_cards
    first_obs, steps = oracle_rollout(name)
    np.testing.assert_allclose(steps.reward.sum(1), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(steps.reward[:, : num_cards - 1], 0.0)
    np.testing.assert_allclose(steps.reward[:, num_cards - 1 :], 1.0 / num_cards, rtol=1e-6)
    assert steps.terminated[:, -1].all() and not steps.terminated[:, :-1].any()
    assert not steps.truncated.any()
    obs = np.concatenate([first_obs[:, None], steps.final_obs], axis=1)
    # Observations 0 .. N-2 watch, N-1 (the last card) and later play; later ones show suit 0.
    flags = np.where(np.arange(2 * num_cards)[:, None] < num_cards - 1, WATCH_FLAG, PLAY_FLAG)
    np.testing.assert_array_equal(obs[:, :, :2], np.broadcast_to(flags, obs[..., :2].shape))
    np.testing.assert_array_equal(
        obs[:, num_cards:, 2:], np.broadcast_to(np.eye(4)[0], (8, num_cards, 4))
    )
    suits = obs[:, :num_cards, 2:].argmax(-1)
    counts = np.stack([np.bincount(s, minlength=4) for s in suits])
    np.testing.assert_array_equal(counts, 13 * env.num_decks)


def test_random_policy_mean_return():
    # 52 rewarded steps, each right with probability 1/4: mean -1/2, std sqrt(0.75 / 52).
    returns = random_rollout()[1].reward.sum(1)
    assert abs(returns.mean() + 0.5) < 5 * np.sqrt(0.75 / 52 / 1024)
    assert abs(returns.std() - np.sqrt(0.75 / 52)) < 0.1 * np.sqrt(0.75 / 52)


def test_hand_made_actions():
    """Names the cards backwards, wrong for the first and the last: return (52 - 4) / 52."""
    env, params = make("AutoencodeEasy")
    obs, state = env.reset(jax.random.key(4), params)
    seen = [int(obs[2:].argmax())]
    total = 0.0
    for step in range(1, 104):
        if step < 52:
            action, expected = (step * 7) % 4, 0.0
        else:
            target = seen[103 - step]
            wrong = step in (52, 103)
            action = (target + 2) % 4 if wrong else target
            expected = -1 / 52 if wrong else 1 / 52
        obs, state, reward, terminated, truncated, _ = env.step(
            jax.random.key(100 + step), state, action, params
        )
        assert float(reward) == pytest.approx(expected)
        assert bool(terminated) == (step == 103) and not truncated
        seen.append(int(obs[2:].argmax()))
        total += float(reward)
    assert total == pytest.approx(48 / 52)


def test_time_limit_truncates():
    env, params = make("AutoencodeEasy")
    params = params.replace(max_steps_in_episode=60)
    _, steps = rollout(env, params, no_memory, random_action, jax.random.key(3), 1024, 103)
    np.testing.assert_array_equal(steps.truncated[0], np.arange(1, 104) == 60)
    assert not steps.terminated.any()
    # 9 play steps were scored before the limit, then the new episode watches again.
    np.testing.assert_array_equal((steps.reward[:, :60] != 0).sum(1), 9)
    assert not steps.reward[:, 60:].any()


def test_every_key_deals_an_independent_uniform_shuffle():
    # The 52 cards are shown in the watch phase: the reset observation and the first 51 steps'.
    deals = [
        np.concatenate([first_obs[:, None], steps.final_obs[:, :51]], axis=1)[..., 2:].argmax(-1)
        for first_obs, steps in (random_rollout(key=6), random_rollout(key=7))
    ]
    assert_independent_uniform_deals(*deals, cards.NUM_SUITS)


# ---------------------------------------------------------------- reference: the popgym package

ORACLE_SOURCE = """
def oracle(history):
    num_cards = env.deck.num_cards
    if len(history) < num_cards:
        return 0
    return int(history[2 * num_cards - 1 - len(history)][1])
"""


@pytest.fixture(scope="module")
def reference():
    return run_reference("popgym.envs.autoencode", NAMES, ORACLE_SOURCE)


@pytest.mark.parametrize("name", NAMES)
def test_reference_replays_match(reference, name):
    """popgym's deals, replayed here with its actions, give its observations and rewards."""
    env, params = make(name)
    for episode in reference[name]["replays"]:
        phase, suit = np.asarray(episode["obs"]).T
        obs = np.concatenate([np.eye(2)[phase], np.eye(4)[suit]], axis=1).astype(np.float32)
        deals = np.eye(4, dtype=np.int32)[suit[1:]]
        assert_replay_matches(env, params, obs[0], deals, episode, obs[1:])


def test_reference_returns_agree(reference):
    ours = random_rollout()[1].reward.sum(1)
    assert_same_statistics(ours, reference["AutoencodeEasy"]["random_returns"])
    for name in NAMES:
        np.testing.assert_allclose(reference[name]["oracle_returns"], 1.0, rtol=1e-6)
