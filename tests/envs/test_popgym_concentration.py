"""Concentration: API, lazy dealing law, hand-checked rules, oracle and random returns, reference.

The reference comparison runs the original `popgym` package (see
`tests.envs.popgym_helpers.popgym_python`); it is skipped when popgym is not installed. The
same memory-based oracle (plain numpy, below) plays both implementations.
"""

import inspect

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from envs.popgym.concentration import ENTRIES, EnvState, concentration, deal
from tests.envs.popgym_helpers import (
    assert_jit_vmap_step,
    assert_same_mean,
    first_episode,
    policy_rollout,
    run_script,
)

NUM_EPISODES = 512
NUM_ORACLE_EPISODES = 128


def oracle_action(known, matched, first):
    """Perfect-memory play from the observation history alone.

    Args:
        known: `[N]` values seen at each position, -1 where never seen.
        matched: `[N]` bool, positions this player matched.
        first: position flipped first in the current pair, -1 when none.

    Returns:
        The position to flip: a known unmatched partner when one exists, else an unseen card.
    """
    unmatched = (known >= 0) & ~matched
    if first < 0:
        values, counts = np.unique(known[unmatched], return_counts=True)
        if np.any(counts >= 2):
            return int(np.flatnonzero(unmatched & (known == values[counts >= 2][0]))[0])
    else:
        partner = unmatched & (known == known[first])
        partner[first] = False
        if partner.any():
            return int(np.flatnonzero(partner)[0])
    return int(np.flatnonzero(known < 0)[0])


def oracle_update(known, matched, first, action, shown, face_down):
    """Folds in the observation `shown` (`[N]` values, `face_down` where hidden) after `action`.

    Returns:
        `(known, matched, first, mismatched)`, mismatched when a pair just failed.
    """
    known = np.where(shown != face_down, shown, known)
    if first < 0:
        return known, matched, action, False
    if known[first] == known[action] and first != action:
        matched = matched.copy()
        matched[[first, action]] = True
        return known, matched, -1, False
    return known, matched, -1, True


@pytest.fixture(scope="module")
def easy():
    return ENTRIES["ConcentrationEasy"]()


def decode(env, obs):
    """`[..., (V + 1) * N]` value-major one-hot observations -> `[..., N]` values (V: face down)."""
    obs = np.asarray(obs)
    return np.argmax(obs.reshape(*obs.shape[:-1], env.num_values + 1, env.num_cards), axis=-2)


def play_oracle(env, params, key, num_envs):
    """Oracle returns, episode ends and mismatch counts of each env's first episode, `[B]` each."""
    step = jax.jit(jax.vmap(env.step, (0, 0, 0, None)))
    obs, state = jax.vmap(env.reset, (0, None))(jax.random.split(key, num_envs), params)
    shown = decode(env, obs)
    known = np.full((num_envs, env.num_cards), -1)
    matched = np.zeros((num_envs, env.num_cards), bool)
    first = np.full(num_envs, -1)
    returns, mismatches = np.zeros(num_envs), np.zeros(num_envs, int)
    ended = np.full(num_envs, "", dtype=object)
    for t in range(params.max_steps_in_episode):
        live = np.flatnonzero(ended == "")
        if live.size == 0:
            break
        action = np.zeros(num_envs, int)
        for b in live:
            action[b] = oracle_action(known[b], matched[b], first[b])
        keys = jax.random.split(jax.random.fold_in(key, t), num_envs)
        obs, state, reward, terminated, truncated, info = step(keys, state, action, params)
        shown = decode(env, info["final_observation"])
        for b in live:
            known[b], matched[b], first[b], failed = oracle_update(
                known[b], matched[b], first[b], action[b], shown[b], env.num_values
            )
            returns[b] += float(reward[b])
            mismatches[b] += failed
            ended[b] = "terminated" if terminated[b] else "truncated" if truncated[b] else ""
    return returns, ended, mismatches


def uniform_action(env, state, key):
    """`[1]`: a uniformly random card."""
    return jax.random.randint(key, (1,), 0, env.num_actions)


def random_rollout(env, params, key, num_envs):
    """`(rewards, terminated, truncated)`, `[T, B]` numpy, of a uniform policy."""
    num_steps = params.max_steps_in_episode
    result, _ = policy_rollout(env, params, key, num_envs, num_steps, uniform_action)
    return tuple(np.asarray(x) for x in result)


@pytest.fixture(scope="module")
def easy_oracle(easy):
    env, params = easy
    return play_oracle(env, params, jax.random.key(8), NUM_ORACLE_EPISODES)


@pytest.fixture(scope="module")
def easy_random(easy):
    env, params = easy
    return random_rollout(env, params, jax.random.key(9), NUM_EPISODES)


def test_entries_match_popgym_difficulties():
    for name, (cards, values, steps) in {
        "ConcentrationEasy": (52, 2, 104),
        "ConcentrationMedium": (104, 2, 208),
        "ConcentrationHard": (52, 13, 104),
    }.items():
        env, params = ENTRIES[name]()
        assert (env.num_cards, env.num_values) == (cards, values)
        assert params.max_steps_in_episode == steps and env.num_actions == cards
        assert env.observation_space(params).shape == ((values + 1) * cards,)


def test_factory_rejects_bad_options():
    with pytest.raises(ValueError, match="match"):
        concentration(match="suits")
    with pytest.raises(ValueError, match="num_decks"):
        concentration(num_decks=0)
    with pytest.raises(ValueError, match="max_steps_in_episode"):
        concentration(max_steps_in_episode=0)


@pytest.mark.parametrize("name", sorted(ENTRIES))
def test_jit_vmap_shapes_and_spaces(name):
    env, params = ENTRIES[name]()
    obs0, steps = assert_jit_vmap_step(env, params, batch_size=4, action=jnp.arange(4))
    assert np.all(decode(env, obs0) == env.num_values)  # every card face down
    obs, state = steps[0][:2]
    assert np.allclose(obs.reshape(4, -1, env.num_cards).sum(1), 1.0)
    assert np.array_equal(
        decode(env, obs)[np.arange(4), np.arange(4)], state.value[:, :4].diagonal()
    )


@pytest.mark.parametrize("name", ["ConcentrationEasy", "ConcentrationHard"])
def test_lazy_deal_uses_the_whole_deck_once(name):
    env, params = ENTRIES[name]()
    _, state = env.reset(jax.random.key(0), params)

    def flip(carry, position_and_key):
        position, key = position_and_key
        return deal(key, *carry, position), None

    order = jax.random.permutation(jax.random.key(1), env.num_cards)
    twice = jnp.concatenate([order, order])
    keys = jax.random.split(jax.random.key(2), twice.size)
    (value, undealt), _ = jax.lax.scan(flip, (state.value, state.undealt), (twice, keys))
    counts = np.bincount(np.asarray(value), minlength=env.num_values)
    assert np.all(undealt == 0) and np.all(counts == env.num_cards // env.num_values)


def test_lazy_deal_has_the_law_of_a_shuffled_deck():
    env, params = ENTRIES["ConcentrationHard"]()
    _, state = env.reset(jax.random.key(0), params)
    num_samples = 20000

    def two_cards(key):
        first_key, second_key = jax.random.split(key)
        value, undealt = deal(first_key, state.value, state.undealt, jnp.int32(5))
        value, _ = deal(second_key, value, undealt, jnp.int32(17))
        return value[5], value[17]

    keys = jax.random.split(jax.random.key(3), num_samples)
    first, second = (np.asarray(x) for x in jax.jit(jax.vmap(two_cards))(keys))
    chi2 = np.sum((np.bincount(first, minlength=13) - num_samples / 13) ** 2 / (num_samples / 13))
    assert chi2 < stats.chi2.ppf(0.9999, df=12)
    # Two cards of a shuffled deck share a rank with probability 3/51.
    same, p = np.mean(first == second), 3 / 51
    assert abs(same - p) < 4 * np.sqrt(p * (1 - p) / num_samples)


def dealt_state(env, value):
    """A state whose deck is fully dealt with the given `[N]` values."""
    return EnvState(
        time=jnp.int32(0),
        value=jnp.asarray(value, jnp.int32),
        undealt=jnp.zeros(env.num_values, jnp.int32),
        face_up=jnp.zeros(env.num_cards, bool),
        first=jnp.int32(-1),
    )


def test_rules_by_hand(easy):
    env, params = easy
    value = np.arange(52) % 2
    state = dealt_state(env, value)
    match, fail = 1 / 26, -1 / 104
    # (position, reward, positions shown afterwards)
    script = [
        (0, 0.0, {0}),
        (2, match, {0, 2}),  # same colour: stays face up
        (0, fail, {0, 2}),  # a face-up card as first flip
        (1, 0.0, {0, 1, 2}),
        (4, 2 * fail, {0, 1, 2, 4}),  # mismatch, shown once
        (6, 0.0, {0, 2, 6}),  # the mismatched cards are face down again
        (2, 2 * fail, {0, 2, 6}),  # a face-up card as second flip
        (8, 0.0, {0, 2, 8}),
        (8, 2 * fail, {0, 2, 8}),  # the same card twice
    ]
    step = jax.jit(env.step_env)
    for position, reward, shown in script:
        obs, state, r, terminated, _ = step(jax.random.key(0), state, position, params)
        visible = np.flatnonzero(decode(env, obs) != env.num_values)
        assert np.isclose(r, reward) and set(visible.tolist()) == shown and not terminated
        assert np.array_equal(decode(env, obs)[visible], value[visible])
    assert np.flatnonzero(state.face_up).tolist() == [0, 2]


def test_perfect_game_returns_one(easy):
    env, params = easy
    state = dealt_state(env, np.arange(52) % 2)
    total = 0.0
    # Pairs (0, 2), (1, 3), (4, 6), (5, 7), ...: equal colours, as value = position % 2.
    order = (4 * np.arange(13)[:, None] + np.array([0, 2, 1, 3])).reshape(-1)
    step = jax.jit(env.step_env)
    for t, position in enumerate(order):
        _, state, reward, terminated, _ = step(jax.random.key(0), state, position, params)
        total += float(reward)
        assert bool(terminated) == (t == 51)
    assert np.isclose(total, 1.0)


@pytest.mark.parametrize("name", ["ConcentrationEasy", "ConcentrationHard"])
def test_memory_oracle_always_finishes(name, easy_oracle):
    env, params = ENTRIES[name]()
    if name == "ConcentrationEasy":
        returns, ended, mismatches = easy_oracle
    else:
        returns, ended, mismatches = play_oracle(env, params, jax.random.key(10), 32)
    # At most N/2 mismatches (each reveals two new cards), so N + 2 * N/2 <= T flips suffice.
    assert np.all(ended == "terminated")
    steps = params.max_steps_in_episode
    assert np.allclose(returns, 1.0 - 2 * mismatches / steps, atol=1e-5)


def test_random_policy_never_finishes(easy_random):
    rewards, terminated, truncated = easy_random
    assert not terminated.any() and truncated[-1].all() and not truncated[:-1].any()
    returns = rewards.sum(0)
    assert returns.min() >= -1.0 - 1e-5 and returns.max() <= 1.0 and returns.mean() < 0.0


REFERENCE_SCRIPT = """
import json, sys
import numpy as np
from popgym.envs.concentration import ConcentrationEasy
ORACLE
env = ConcentrationEasy()
rng = np.random.default_rng(0)
out = {"random": [], "oracle": []}
for policy in out:
    episodes = int(sys.argv[1] if policy == "random" else sys.argv[2])
    for episode in range(episodes):
        shown, _ = env.reset(seed=episode)
        known, matched, first = np.full(52, -1), np.zeros(52, bool), -1
        total, done = 0.0, False
        while not done:
            if policy == "random":
                action = int(rng.integers(52))
            else:
                action = oracle_action(known, matched, first)
            shown, reward, terminated, truncated, _ = env.step(action)
            known, matched, first, _ = oracle_update(known, matched, first, action, shown, 2)
            total += reward
            done = terminated or truncated
        out[policy].append(total)
print(json.dumps(out))
"""


def test_return_statistics_match_reference(easy_oracle, easy_random):
    oracle_source = inspect.getsource(oracle_action) + inspect.getsource(oracle_update)
    script = REFERENCE_SCRIPT.replace("ORACLE", oracle_source)
    reference = run_script(script, 1000, 500)
    rewards, terminated, truncated = easy_random
    ours = {"random": first_episode(rewards, terminated | truncated), "oracle": easy_oracle[0]}
    for name, mine in ours.items():
        assert_same_mean(mine, reference[name], what=name)
