"""RepeatPrevious: rules, returns and the comparison with the original popgym package."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from envs.popgym import cards
from envs.popgym.repeat_previous import ENTRIES, RepeatPrevious
from tests.envs.popgym_helpers import (
    assert_independent_uniform_deals,
    assert_jit_vmap_step,
    assert_replay_matches,
    assert_same_statistics,
    rollout,
    run_reference,
)

NAMES = ("RepeatPreviousEasy", "RepeatPreviousMedium", "RepeatPreviousHard")


@functools.cache
def make(name):
    """One env per name for the whole file, so that jitted rollouts compile once."""
    return ENTRIES[name]()


@functools.cache
def oracle_policy(num_cards, k):
    """Oracle: remembers every suit seen and names the one `k` cards back."""

    def init(obs):
        return jnp.zeros((num_cards,), jnp.int32), jnp.int32(0)

    def act(memory, obs, key):
        history, seen = memory
        history = history.at[seen].set(jnp.argmax(obs))
        seen = seen + 1
        # The step about to be taken is step `seen`; it asks for card `seen - k`.
        return (history, seen), history[jnp.maximum(seen - k, 0)]

    return init, act


def no_memory(obs):
    return jnp.int32(0)


def random_action(memory, obs, key):
    return memory, jax.random.randint(key, (), 0, cards.NUM_SUITS)


def oracle_rollout(name):
    """8 episodes of `name` played by the oracle."""
    env, params = make(name)
    init, act = oracle_policy(env.episode_length + 1, env.k)
    return rollout(env, params, init, act, jax.random.key(1), 8, env.episode_length)


def random_rollout(key=2):
    """1024 random-policy episodes of RepeatPreviousEasy."""
    env, params = make("RepeatPreviousEasy")
    return rollout(env, params, no_memory, random_action, jax.random.key(key), 1024, 51)


def test_entries_match_popgym_difficulties():
    settings = {name: (ENTRIES[name]()[0].num_decks, ENTRIES[name]()[0].k) for name in NAMES}
    assert settings == {
        "RepeatPreviousEasy": (1, 4),
        "RepeatPreviousMedium": (2, 32),
        "RepeatPreviousHard": (3, 64),
    }
    env, params = ENTRIES["RepeatPreviousHard"]()
    assert env.episode_length == 155 and params.max_steps_in_episode == 156
    assert env.num_actions == 4 and env.observation_space(params).shape == (4,)
    with pytest.raises(ValueError, match="k must be"):
        RepeatPrevious(num_decks=1, k=52)
    with pytest.raises(ValueError, match="k must be"):
        RepeatPrevious(num_decks=1, k=0)


@pytest.mark.parametrize("name", NAMES)
def test_jit_vmap_shapes_and_spaces(name):
    assert_jit_vmap_step(*make(name))


@pytest.mark.parametrize("name", NAMES)
def test_oracle_reaches_one(name):
    env, _ = make(name)
    length, k = env.episode_length, env.k
    first_obs, steps = oracle_rollout(name)
    np.testing.assert_allclose(steps.reward.sum(1), 1.0, rtol=1e-5)
    # No reward before step k, then 1 / (N - k) at each step.
    np.testing.assert_array_equal(steps.reward[:, : k - 1], 0.0)
    np.testing.assert_allclose(steps.reward[:, k - 1 :], 1.0 / (length + 1 - k), rtol=1e-6)
    assert steps.terminated[:, -1].all() and not steps.terminated[:, :-1].any()
    assert not steps.truncated.any()
    suits = jnp.concatenate([first_obs[:, None], steps.final_obs], axis=1).argmax(-1)
    counts = jax.vmap(lambda s: jnp.bincount(s, length=4))(suits)
    np.testing.assert_array_equal(counts, 13 * env.num_decks)


def test_random_policy_mean_return():
    # 48 rewarded steps, each right with probability 1/4: mean -1/2, std sqrt(0.75 / 48).
    returns = random_rollout()[1].reward.sum(1)
    assert abs(returns.mean() + 0.5) < 5 * np.sqrt(0.75 / 48 / 1024)
    assert abs(returns.std() - np.sqrt(0.75 / 48)) < 0.1 * np.sqrt(0.75 / 48)


def test_hand_made_actions():
    """Answers the card k=4 back, except wrong at steps 10, 20, 30: return (48 - 6) / 48."""
    env, params = make("RepeatPreviousEasy")
    obs, state = env.reset(jax.random.key(4), params)
    seen = [int(obs.argmax())]
    total = 0.0
    for step in range(1, 52):
        target = seen[step - 4] if step >= 4 else 0
        action = (target + 1) % 4 if step in (10, 20, 30) else target
        obs, state, reward, terminated, truncated, _ = env.step(
            jax.random.key(100 + step), state, action, params
        )
        expected = 0.0 if step < 4 else (-1 / 48 if step in (10, 20, 30) else 1 / 48)
        assert float(reward) == pytest.approx(expected)
        assert bool(terminated) == (step == 51) and not truncated
        seen.append(int(obs.argmax()))
        total += float(reward)
    assert total == pytest.approx(42 / 48)


def test_k_one_repeats_the_card_just_seen():
    env = RepeatPrevious(num_decks=1, k=1)
    params = env.default_params
    obs, state = env.reset(jax.random.key(5), params)
    for step in range(51):
        obs, state, reward, *_ = env.step_env(jax.random.key(step), state, obs.argmax(), params)
        assert float(reward) == pytest.approx(1 / 51)


def test_time_limit_truncates():
    env, params = make("RepeatPreviousEasy")
    params = params.replace(max_steps_in_episode=3)
    _, steps = rollout(env, params, no_memory, random_action, jax.random.key(3), 1024, 51)
    np.testing.assert_array_equal(steps.truncated[0], np.arange(1, 52) % 3 == 0)
    # Episodes cut at 3 steps never reach step k = 4: no reward.
    assert not steps.terminated.any() and not steps.reward.any()


def test_every_key_deals_an_independent_uniform_shuffle():
    deals = [
        np.concatenate([first_obs[:, None], steps.final_obs], axis=1).argmax(-1)
        for first_obs, steps in (random_rollout(key=6), random_rollout(key=7))
    ]
    assert_independent_uniform_deals(*deals, cards.NUM_SUITS)


# ---------------------------------------------------------------- reference: the popgym package

ORACLE_SOURCE = """
def oracle(history):
    step = len(history)
    return int(history[step - env.k]) if step >= env.k else 0
"""


@pytest.fixture(scope="module")
def reference():
    return run_reference("popgym.envs.repeat_previous", NAMES, ORACLE_SOURCE)


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
    assert_same_statistics(ours, reference["RepeatPreviousEasy"]["random_returns"])
    for name in NAMES:
        np.testing.assert_allclose(reference[name]["oracle_returns"], 1.0, rtol=1e-6)
