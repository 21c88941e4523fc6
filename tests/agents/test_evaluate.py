"""Policy evaluation against a host-side loop that sums rewards itself."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import rlssm.cores as cores
from agents.ppo import NetworkConfig, PPOConfig, make_agent
from agents.ppo import environment as ppo_env
from agents.ppo.evaluate import EvalResult, first_episode_trials, first_episodes, make_evaluate
from agents.ppo.network import initialize_carry

NUM_ENVS, NUM_STEPS, EPISODE = 3, 110, 51  # RepeatFirstEasy episodes last 51 steps


@pytest.fixture(scope="module")
def agent():
    config = PPOConfig(
        env_name="RepeatFirstEasy",
        core=cores.GRUConfig(hidden_size=8),
        network=NetworkConfig(encoder_sizes=(8,), head_sizes=(8,)),
        num_envs=NUM_ENVS,
        num_minibatches=1,
    )
    agent = make_agent(config)
    return agent, jax.jit(agent.init)(jax.random.key(3))


def host_play(agent, state, key, num_steps, num_trials=1):
    """Greedy play step by step on the host: the first episode's summed reward per env, and
    its rewards split by trial where `info["trial_start"]` marks a new trial: `[B], [B, K]`."""
    config, spec, network = agent.config, agent.spec, agent.network
    params = state.train_state.params
    key, reset_key = jax.random.split(key)
    obs, env_state = ppo_env.reset(spec, reset_key, NUM_ENVS)
    carry = initialize_carry(config.network, config.core, NUM_ENVS)
    start = jnp.ones((NUM_ENVS,), bool)
    totals, first = np.zeros(NUM_ENVS), [None] * NUM_ENVS
    by_trial, trial = np.zeros((NUM_ENVS, num_trials)), np.zeros(NUM_ENVS, int)
    step_net = jax.jit(lambda c, o, s: network.apply(params, c, o, s, method="step"))
    step_env = jax.jit(lambda k, e, a: ppo_env.step(spec, k, e, a))
    for _ in range(num_steps):
        key, _, step_key = jax.random.split(key, 3)
        carry, out = step_net(carry, obs, start)
        action = np.argmax(np.asarray(out.logits), axis=-1)
        obs, env_state, reward, terminated, truncated, info = step_env(step_key, env_state, action)
        totals += np.asarray(reward)
        for b in range(NUM_ENVS):
            if first[b] is None:
                by_trial[b, trial[b]] += float(reward[b])
        trial += np.asarray(info.get("trial_start", np.zeros(NUM_ENVS, bool)), int)
        start = jnp.logical_or(terminated, truncated)
        for b in np.nonzero(np.asarray(start))[0]:
            first[b] = totals[b] if first[b] is None else first[b]
            totals[b] = 0.0
    return np.array(first), by_trial


def test_greedy_first_episodes_match_the_host_loop(agent):
    agent, state = agent
    evaluate = make_evaluate(agent.config, agent.spec, agent.network, greedy=True)
    evaluate = jax.jit(evaluate, static_argnames=("num_envs", "num_steps"))
    key = jax.random.key(11)
    result = evaluate(state.train_state.params, state.obs_stats, key, NUM_ENVS, NUM_STEPS)
    returns, lengths, done = first_episodes(result)
    assert np.all(done) and np.all(lengths == EPISODE)
    expected, _ = host_play(agent, state, key, NUM_STEPS)
    assert len(set(np.round(expected, 4))) > 1  # the environments' episodes differ
    np.testing.assert_allclose(returns, expected, atol=1e-5)


def test_sampled_policy_reports_every_completed_episode(agent):
    agent, state = agent
    evaluate = jax.jit(
        make_evaluate(agent.config, agent.spec, agent.network),
        static_argnames=("num_envs", "num_steps"),
    )
    result = evaluate(
        state.train_state.params, state.obs_stats, jax.random.key(0), NUM_ENVS, NUM_STEPS
    )
    assert result.completed.shape == (NUM_STEPS, NUM_ENVS)
    # Episodes end at steps 51 and 102 of every environment (indices 50 and 101).
    ends = np.nonzero(np.asarray(result.completed).any(axis=1))[0]
    np.testing.assert_array_equal(ends, [EPISODE - 1, 2 * EPISODE - 1])
    returns = np.asarray(result.returns)[np.asarray(result.completed)]
    assert returns.shape == (2 * NUM_ENVS,) and np.all(np.abs(returns) <= 1.0)
    # Each return is a multiple of the per-step reward 1/51 between -1 and 1.
    np.testing.assert_allclose(returns * EPISODE, np.round(returns * EPISODE), atol=1e-4)


def test_first_episodes_marks_environments_that_never_finished():
    completed = jnp.array([[False, False], [True, False], [True, False]])
    values = jnp.array([[0.0, 0.0], [0.5, 0.0], [0.7, 0.0]])
    zeros = jnp.zeros((3, 2))
    result = EvalResult(completed, values, jnp.ones((3, 2), int), zeros, zeros.astype(int))
    returns, lengths, done = first_episodes(result)
    np.testing.assert_array_equal(done, [True, False])
    np.testing.assert_allclose(returns, [0.5, 0.0])
    np.testing.assert_array_equal(lengths, [1, 0])


def test_first_episode_trials_hand_computed():
    # env 0: trials 0,0,1,1 then the episode ends at step 3 (a second episode follows);
    # env 1: never finishes within the 5 steps.
    completed = jnp.array([[0, 0], [0, 0], [0, 0], [1, 0], [0, 0]], bool)
    rewards = jnp.array([[1.0, 2.0], [2.0, 3.0], [4.0, 5.0], [8.0, 6.0], [16.0, 7.0]])
    trial = jnp.array([[0, 0], [0, 1], [1, 1], [1, 2], [0, 2]])
    zeros = jnp.zeros((5, 2))
    result = EvalResult(completed, zeros, zeros.astype(int), rewards, trial)
    by_trial, done = first_episode_trials(result, 3)
    np.testing.assert_array_equal(done, [True, False])
    np.testing.assert_allclose(by_trial, [[3.0, 12.0, 0.0], [2.0, 8.0, 13.0]])


def test_trial_returns_match_a_host_loop_on_meta_cartpole():
    """Per-trial returns of the jitted evaluation against a host loop that splits trials at
    the wrapper's `trial_start` flags."""
    config = PPOConfig(
        env_name="MetaCartPole",
        env_options={"num_trials": 3, "trial_length": 20},
        core=cores.GRUConfig(hidden_size=8),
        network=NetworkConfig(encoder_sizes=(8,), head_sizes=(8,)),
        num_envs=NUM_ENVS,
        num_minibatches=1,
    )
    agent = make_agent(config)
    state = jax.jit(agent.init)(jax.random.key(0))
    evaluate = jax.jit(
        make_evaluate(config, agent.spec, agent.network, greedy=True),
        static_argnames=("num_envs", "num_steps"),
    )
    key = jax.random.key(1)
    result = evaluate(state.train_state.params, state.obs_stats, key, NUM_ENVS, 70)
    by_trial, done = first_episode_trials(result, 3)
    returns, _, first_done = first_episodes(result)
    assert np.all(done) and np.all(first_done)
    np.testing.assert_allclose(by_trial.sum(axis=1), returns, atol=1e-5)
    expected_returns, expected = host_play(agent, state, key, 70, num_trials=3)
    np.testing.assert_allclose(returns, expected_returns, atol=1e-5)
    np.testing.assert_allclose(by_trial, expected, atol=1e-5)
    # Each trial happened and returned at most 1 (reward 1/trial_length per step).
    assert np.all(by_trial <= 1.0 + 1e-6) and np.all(by_trial > 0)
