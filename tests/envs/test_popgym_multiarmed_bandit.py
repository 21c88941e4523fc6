"""MultiarmedBandit: API, hand-checked rewards, oracle and random returns, reference comparison.

The reference comparison runs the original `popgym` package with the interpreter of
`tests.envs.popgym_helpers.popgym_python` and is skipped when popgym is not installed.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from envs.popgym.multiarmed_bandit import ENTRIES, EnvState, multiarmed_bandit
from tests.envs.popgym_helpers import (
    assert_jit_vmap_step,
    assert_same_mean,
    first_episode,
    run_script,
)

NUM_EPISODES = 512


def remember(memory, action, obs):
    """Counts pulls (row 0) and payouts (row 1) per arm."""
    return memory.at[0, action].add(1.0).at[1, action].add(obs[1])


def policy_actions(state, memory, key, pulls_per_arm=4):
    """`[3]` actions of three policies, by POLICIES index.

    - random: a uniform arm;
    - best_arm (privileged): the arm with the highest payout probability;
    - explore_then_commit (observation history only): tries every arm `pulls_per_arm` times,
      then keeps the arm with the best payout rate.
    """
    pulls, payouts = memory
    random = jax.random.randint(key, (), 0, pulls.shape[0])
    exploring = jnp.min(pulls) < pulls_per_arm
    committed = jnp.argmax(payouts / jnp.maximum(pulls, 1.0))
    explore_then_commit = jnp.where(exploring, jnp.argmin(pulls), committed)
    return jnp.stack([random, jnp.argmax(state.payout_prob), explore_then_commit])


POLICIES = ("random", "best_arm", "explore_then_commit")


def first_episode_return_of_policies(env, params, key, num_envs):
    """`{policy name: [B] first-episode returns}` of the POLICIES, one compilation for all."""
    num_steps = params.max_steps_in_episode

    def rollout(key, policy):
        reset_key, key = jax.random.split(key)
        _, state = jax.vmap(env.reset, (0, None))(jax.random.split(reset_key, num_envs), params)
        memory = jnp.zeros((num_envs, 2, env.num_actions), jnp.float32)

        def step(carry, key):
            state, memory = carry
            act_key, step_key = jax.random.split(key)
            actions = jax.vmap(policy_actions)(state, memory, jax.random.split(act_key, num_envs))
            action = actions[:, policy]
            obs, state, reward, terminated, truncated, _ = jax.vmap(env.step, (0, 0, 0, None))(
                jax.random.split(step_key, num_envs), state, action, params
            )
            memory = jax.vmap(remember)(memory, action, obs)
            return (state, memory), (reward, terminated | truncated)

        _, (rewards, done) = jax.lax.scan(step, (state, memory), jax.random.split(key, num_steps))
        return rewards, done

    rollout = jax.jit(rollout)
    out = {}
    for index, name in enumerate(POLICIES):
        rewards, done = rollout(jax.random.fold_in(key, index), index)
        out[name] = first_episode(rewards, done)
    return out


@pytest.fixture(scope="module")
def easy():
    return ENTRIES["MultiarmedBanditEasy"]()


@pytest.fixture(scope="module")
def easy_returns(easy):
    env, params = easy
    return first_episode_return_of_policies(env, params, jax.random.key(2), NUM_EPISODES)


def test_entries_match_popgym_difficulties():
    for name, (arms, length) in {
        "MultiarmedBanditEasy": (10, 200),
        "MultiarmedBanditMedium": (20, 400),
        "MultiarmedBanditHard": (30, 600),
    }.items():
        env, params = ENTRIES[name]()
        assert env.num_actions == arms
        assert params.max_steps_in_episode == length


def test_factory_rejects_bad_options():
    with pytest.raises(ValueError, match="num_arms"):
        multiarmed_bandit(num_arms=0)
    with pytest.raises(ValueError, match="max_steps_in_episode"):
        multiarmed_bandit(max_steps_in_episode=0)


@pytest.mark.parametrize("name", sorted(ENTRIES))
def test_jit_vmap_shapes_and_spaces(name):
    env, params = ENTRIES[name]()
    action = jnp.arange(4) % env.num_actions
    _, steps = assert_jit_vmap_step(env, params, batch_size=4, action=action)
    assert np.allclose(steps[0][0].sum(-1), 1.0)


def test_payout_rewards_by_hand(easy):
    env, params = easy
    probs = jnp.zeros(env.num_arms).at[3].set(1.0)
    state = EnvState(time=jnp.int32(0), payout_prob=probs)
    key = jax.random.key(1)
    obs, state, reward, terminated, _ = env.step_env(key, state, 3, params)
    assert np.allclose(obs, [0.0, 1.0]) and np.isclose(reward, 1 / 200) and not terminated
    obs, state, reward, terminated, _ = env.step_env(key, state, 4, params)
    assert np.allclose(obs, [1.0, 0.0]) and np.isclose(reward, -1 / 200) and not terminated
    assert int(state.time) == 2


def test_truncates_after_episode_length_and_redraws(easy):
    env, params = easy
    obs, state = env.reset(jax.random.key(0), params)
    first_probs = state.payout_prob
    assert np.allclose(obs, [1.0, 0.0])

    def step(state, key):
        _, state, _, terminated, truncated, _ = env.step(key, state, 0, params)
        return state, (terminated, truncated, state.time)

    state, (terminated, truncated, time) = jax.lax.scan(
        step, state, jax.random.split(jax.random.key(1), 201)
    )
    assert not terminated.any()
    assert np.flatnonzero(truncated).tolist() == [199]
    assert int(time[199]) == 0 and int(time[200]) == 1
    assert not np.allclose(state.payout_prob, first_probs)


def test_random_policy_mean_return_is_zero(easy_returns):
    returns = easy_returns["random"]
    stderr = returns.std() / np.sqrt(returns.size)
    # Each pull pays with probability E[p] = 1/2, so the expected return is 0.
    assert abs(returns.mean()) < 4 * stderr
    assert returns.min() >= -1.0 and returns.max() <= 1.0


def test_best_arm_oracle_reaches_expected_maximum(easy, easy_returns):
    env, _ = easy
    returns = easy_returns["best_arm"]
    # E[2 max_a p_a - 1] for A uniform arms is (A - 1) / (A + 1).
    expected = (env.num_arms - 1) / (env.num_arms + 1)
    assert abs(returns.mean() - expected) < 4 * returns.std() / np.sqrt(returns.size)


def test_history_policy_beats_random_and_nears_oracle(easy, easy_returns):
    env, _ = easy
    oracle = (env.num_arms - 1) / (env.num_arms + 1)
    assert 0.5 < easy_returns["explore_then_commit"].mean() < oracle


REFERENCE_SCRIPT = """
import json, sys
import numpy as np
from popgym.envs.multiarmed_bandit import MultiarmedBanditEasy
env = MultiarmedBanditEasy()
rng = np.random.default_rng(0)
out = {}
for policy in ("random", "best_arm"):
    returns = []
    for episode in range(int(sys.argv[1])):
        env.reset(seed=episode)
        total, done = 0.0, False
        while not done:
            if policy == "random":
                action = rng.integers(env.num_bandits)
            else:
                action = int(np.argmax(env.bandits))
            _, reward, terminated, truncated, _ = env.step(action)
            total += reward
            done = terminated or truncated
        returns.append(total)
    out[policy] = returns
print(json.dumps(out))
"""


def test_return_statistics_match_reference(easy_returns):
    reference = run_script(REFERENCE_SCRIPT, NUM_EPISODES)
    for name in ("random", "best_arm"):
        ours, theirs = easy_returns[name], np.asarray(reference[name])
        assert_same_mean(ours, theirs, what=name)
        assert abs(ours.std() - theirs.std()) < 0.2 * theirs.std(), name
