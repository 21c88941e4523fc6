"""CountRecall: rules, returns and the comparison with the original popgym package."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from envs.popgym.count_recall import ENTRIES, CountRecall
from tests.envs.popgym_helpers import (
    assert_independent_uniform_deals,
    assert_jit_vmap_step,
    assert_replay_matches,
    assert_same_statistics,
    rollout,
    run_reference,
)

NAMES = ("CountRecallEasy", "CountRecallMedium", "CountRecallHard")


@functools.cache
def make(name):
    """One env per name for the whole file, so that jitted rollouts compile once."""
    return ENTRIES[name]()


@functools.cache
def policies(num_categories, num_actions):
    """The oracle (counts the value cards seen) and a random policy, as (init, act) pairs."""

    def init(obs):
        return jnp.zeros((num_categories,), jnp.int32)

    def count(seen, obs, key):
        seen = seen + obs[:num_categories].astype(jnp.int32)
        return seen, seen[jnp.argmax(obs[num_categories:])]

    def random_action(seen, obs, key):
        return seen, jax.random.randint(key, (), 0, num_actions)

    return (init, count), (init, random_action)


def run(name, policy, key, num_episodes, params=None):
    env, default_params = make(name)
    oracle, random_policy = policies(env.num_categories, env.num_actions)
    init, act = oracle if policy == "oracle" else random_policy
    params = params or default_params
    return rollout(env, params, init, act, jax.random.key(key), num_episodes, env.episode_length)


def test_entries_match_popgym_difficulties():
    settings = {
        name: (env.num_decks, env.deck_type, env.num_actions, env.obs_size, env.episode_length)
        for name in NAMES
        for env in [ENTRIES[name]()[0]]
    }
    assert settings == {
        "CountRecallEasy": (1, "colors", 27, 4, 51),
        "CountRecallMedium": (2, "suits", 27, 8, 103),
        "CountRecallHard": (4, "ranks", 17, 26, 207),
    }
    with pytest.raises(ValueError, match="deck_type"):
        CountRecall(deck_type="faces")


@pytest.mark.parametrize("name", NAMES)
def test_jit_vmap_shapes_and_spaces(name):
    assert_jit_vmap_step(*make(name))


@pytest.mark.parametrize("name", NAMES)
def test_oracle_reaches_one_and_both_decks_are_dealt_once(name):
    env, _ = make(name)
    first_obs, steps = run(name, "oracle", 1, 8)
    np.testing.assert_allclose(steps.reward.sum(1), 1.0, rtol=1e-5)
    assert steps.terminated[:, -1].all() and not steps.terminated[:, :-1].any()
    assert not steps.truncated.any()
    obs = np.concatenate([first_obs[:, None], steps.final_obs], axis=1)
    per_category = 52 * env.num_decks // env.num_categories
    np.testing.assert_array_equal(obs.sum(1), per_category)


@pytest.mark.parametrize("name", ["CountRecallEasy", "CountRecallHard"])
def test_random_policy_mean_return(name):
    # Every answer lies in [0, A - 1]: a uniform guess is right with probability 1/A.
    env, _ = make(name)
    p, steps = 1 / env.num_actions, env.episode_length
    returns = run(name, "random", 2, 1024)[1].reward.sum(1)
    std = np.sqrt(4 * p * (1 - p) / steps)
    assert abs(returns.mean() - (2 * p - 1)) < 5 * std / np.sqrt(1024)
    assert abs(returns.std() - std) < 0.1 * std


def test_hand_made_actions():
    """Counts right except off by one at steps 5 and 6: return (49 - 2) / 51."""
    env, params = make("CountRecallEasy")
    obs, state = env.reset(jax.random.key(4), params)
    seen = np.zeros(2, int)
    total = 0.0
    for step in range(1, 52):
        seen += np.asarray(obs[:2], int)
        answer = seen[int(obs[2:].argmax())]
        action = answer + 1 if step in (5, 6) else answer
        obs, state, reward, terminated, truncated, _ = env.step(
            jax.random.key(100 + step), state, action, params
        )
        assert float(reward) == pytest.approx(-1 / 51 if step in (5, 6) else 1 / 51)
        assert bool(terminated) == (step == 51) and not truncated
        total += float(reward)
    assert total == pytest.approx(47 / 51)


def test_the_count_includes_the_card_shown_with_the_query():
    env, params = make("CountRecallEasy")
    # v_0 = red (1), q_0 = red: one red card dealt so far, so 1 is right and 0 wrong.
    state = env.reset(jax.random.key(0), params)[1].replace(
        query=jnp.int32(1), value_seen=jnp.array([0, 1], jnp.int32)
    )
    assert env.step_env(jax.random.key(1), state, 1, params)[2] == pytest.approx(1 / 51)
    assert env.step_env(jax.random.key(1), state, 0, params)[2] == pytest.approx(-1 / 51)


def test_time_limit_truncates():
    params = make("CountRecallEasy")[1]
    _, steps = run("CountRecallEasy", "random", 3, 1024, params.replace(max_steps_in_episode=20))
    np.testing.assert_array_equal(steps.truncated[0], np.arange(1, 52) % 20 == 0)
    assert not steps.terminated.any()


def test_every_key_deals_an_independent_uniform_shuffle():
    # Value and query cards come from two decks of two colours: as one pair, four categories.
    deals = []
    for key in (6, 7):
        first_obs, steps = run("CountRecallEasy", "random", key, 1024)
        obs = np.concatenate([first_obs[:, None], steps.final_obs], axis=1)
        deals.append(2 * obs[..., :2].argmax(-1) + obs[..., 2:].argmax(-1))
    assert_independent_uniform_deals(*deals, 4)


# ---------------------------------------------------------------- reference: the popgym package

ORACLE_SOURCE = """
def oracle(history):
    query = history[-1][1]
    return sum(1 for value, _ in history if value == query)
"""


@pytest.fixture(scope="module")
def reference():
    return run_reference("popgym.envs.count_recall", NAMES, ORACLE_SOURCE)


@pytest.mark.parametrize("name", NAMES)
def test_reference_replays_match(reference, name):
    """popgym's deals, replayed here with its actions, give its observations and rewards."""
    env, params = make(name)
    one_hot = np.eye(env.num_categories, dtype=np.int32)
    for episode in reference[name]["replays"]:
        value, query = np.asarray(episode["obs"]).T
        obs = np.concatenate([one_hot[value], one_hot[query]], axis=1).astype(np.float32)
        deals = np.stack([one_hot[value[1:]], one_hot[query[1:]]], axis=1)
        assert_replay_matches(env, params, obs[0], deals, episode, obs[1:])


@pytest.mark.parametrize("name", ["CountRecallEasy", "CountRecallHard"])
def test_reference_returns_agree(reference, name):
    ours = run(name, "random", 2, 1024)[1].reward.sum(1)
    assert_same_statistics(ours, reference[name]["random_returns"])
    np.testing.assert_allclose(reference[name]["oracle_returns"], 1.0, rtol=1e-6)
