"""StatelessCartPole / StatelessPendulum families: rules, levels, and the original package.

The reference comparison runs POPGym (numpy/gymnasium) in a subprocess on the same initial state
and actions; it is skipped when popgym is not installed (`tests.envs.popgym_helpers`).
"""

from __future__ import annotations

import json
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from gymnax.environments.classic_control import pendulum

import envs
from envs.popgym import stateless
from envs.wrappers import GaussianObservationNoise
from tests.envs.popgym_helpers import run_script

TAU = 0.02  # CartPole's Euler time step
LEVELS = ("Easy", "Medium", "Hard")
# name -> (POPGym class prefix, episode lengths, noise levels) per level, from POPGym's source.
EXPECTED = {
    "StatelessCartPole": ("PositionOnlyCartPole", (200, 400, 600), (0.0, 0.0, 0.0)),
    "NoisyStatelessCartPole": ("NoisyPositionOnlyCartPole", (200, 200, 200), (0.1, 0.2, 0.3)),
    "VelocityOnlyCartPole": ("VelocityOnlyCartPole", (200, 400, 600), (0.0, 0.0, 0.0)),
    "StatelessPendulum": ("PositionOnlyPendulum", (200, 150, 100), (0.0, 0.0, 0.0)),
    "NoisyStatelessPendulum": ("NoisyPositionOnlyPendulum", (200, 200, 200), (0.1, 0.2, 0.3)),
}


def noise_std(env) -> float:
    """The std of the first GaussianObservationNoise in a wrapper chain (0 if none)."""
    while env is not None:
        if isinstance(env, GaussianObservationNoise):
            return env.std
        env = getattr(env, "env", None)
    return 0.0


@pytest.mark.parametrize("family", sorted(EXPECTED))
def test_levels_match_popgym(family: str) -> None:
    popgym_name, lengths, noises = EXPECTED[family]
    for level, length, noise in zip(LEVELS, lengths, noises, strict=True):
        env, params = envs.make(family + level)
        assert params.max_steps_in_episode == length
        assert noise_std(env) == noise
        assert env.observation_space(params).shape == (2,)
        alias, ours = stateless.ENTRIES[popgym_name + level], stateless.ENTRIES[family + level]
        assert (alias.func, alias.keywords) == (ours.func, ours.keywords)
        assert popgym_name + level in envs.registered()


def _history_oracle(env, params, key: jax.Array, num_steps: int):
    """Balances a position-only CartPole from observations alone.

    Velocities are finite differences of consecutive positions (exact for the previous step
    under Euler integration); the policy is a linear state feedback on the estimate.
    """
    obs, state = env.reset(key, params)

    def one_step(carry, step_key):
        state, obs, previous_obs = carry
        x, theta = obs[0], obs[1]
        x_dot, theta_dot = (obs - previous_obs) / TAU
        action = (0.1 * x + 0.5 * x_dot + 10.0 * theta + 1.0 * theta_dot > 0).astype(jnp.int32)
        new_obs, state, reward, terminated, truncated, _ = env.step(step_key, state, action, params)
        return (state, new_obs, obs), (reward, terminated, truncated)

    carry = (state, obs, obs)
    _, outputs = jax.lax.scan(one_step, carry, jax.random.split(key, num_steps))
    return jax.device_get(outputs)


def test_history_oracle_survives_every_level() -> None:
    for level, length in zip(LEVELS, (200, 400, 600), strict=True):
        env, params = envs.make("StatelessCartPole" + level)
        reward, terminated, truncated = _history_oracle(env, params, jax.random.key(1), length)
        assert not terminated.any(), level
        assert truncated.tolist() == [False] * (length - 1) + [True], level
        np.testing.assert_allclose(reward, 1.0 / length, rtol=1e-6)
        np.testing.assert_allclose(reward.sum(), 1.0, rtol=1e-5)


def test_random_policy_falls_early_with_partial_return() -> None:
    env, params = envs.make("StatelessCartPoleEasy")
    num_envs = 256

    def episode_return(key):
        def one_step(carry, step_key):
            state, alive, total = carry
            key_action, key_step = jax.random.split(step_key)
            action = jax.random.randint(key_action, (), 0, 2)
            _, state, reward, terminated, truncated, _ = env.step(key_step, state, action, params)
            total = total + alive * reward
            return (state, alive * (1.0 - (terminated | truncated)), total), None

        _, state = env.reset(key, params)
        carry = (state, jnp.float32(1.0), jnp.float32(0.0))
        return jax.lax.scan(one_step, carry, jax.random.split(key, 200))[0][2]

    returns = jax.jit(jax.vmap(episode_return))(jax.random.split(jax.random.key(0), num_envs))
    returns = np.asarray(returns)
    # Random pushes keep a CartPole up for about 22 steps on average (gymnasium's classic figure).
    assert returns.min() > 0.0 and returns.max() <= 1.0 + 1e-6
    assert 15 / 200 < returns.mean() < 30 / 200


def test_pendulum_reward_scale_hand_computed() -> None:
    env, params = envs.make("StatelessPendulumHard")
    horizon = 100
    upright = pendulum.EnvState(
        theta=jnp.float32(0.0), theta_dot=jnp.float32(0.0), last_u=jnp.float32(0.0), time=0
    )
    reward = env.step(jax.random.key(0), upright, jnp.array([0.0]), params)[2]
    np.testing.assert_allclose(reward, 1.0 / horizon, rtol=1e-6)
    # Worst case: hanging down, spinning at max speed, max torque: raw reward -16.2736044.
    worst = upright.replace(theta=jnp.float32(math.pi), theta_dot=jnp.float32(8.0))
    reward = env.step(jax.random.key(0), worst, jnp.array([2.0]), params)[2]
    np.testing.assert_allclose(reward, -1.0 / horizon, atol=1e-7)
    obs = env.step(jax.random.key(0), upright, jnp.array([0.0]), params)[0]
    assert obs.shape == (2,)


@pytest.mark.parametrize("name", ["NoisyStatelessCartPoleHard", "NoisyStatelessPendulumMedium"])
def test_noise_level_and_bounds(name: str) -> None:
    env, params = envs.make(name)
    sigma = noise_std(env)
    keys = jax.random.split(jax.random.key(2), 8192)
    obs, state = jax.jit(jax.vmap(env.reset, in_axes=(0, None)))(keys, params)
    obs = np.asarray(obs)
    if "CartPole" in name:
        clean = np.asarray(state.x)  # far from its bound 4.8: no clipping
        noise = obs[:, 0] - clean
    else:
        clean = np.cos(np.asarray(state.theta))
        noise = (obs[:, 0] - clean)[np.abs(clean) < 1 - 4 * sigma]  # away from the clip
    np.testing.assert_allclose(noise.std(), sigma, rtol=0.05)
    assert abs(noise.mean()) < 0.02
    space = env.observation_space(params)
    assert np.all(obs >= np.asarray(space.low)) and np.all(obs <= np.asarray(space.high))


def test_velocity_only_observes_velocities() -> None:
    env, params = envs.make("VelocityOnlyCartPoleEasy")
    obs, state = env.reset(jax.random.key(4), params)
    np.testing.assert_array_equal(obs, [state.x_dot, state.theta_dot])
    obs, state, *_ = env.step(jax.random.key(5), state, 1, params)
    np.testing.assert_array_equal(obs, [state.x_dot, state.theta_dot])


REFERENCE_SCRIPT = """
import json, sys
import numpy as np
from popgym import envs as popgym_envs
request = json.load(sys.stdin)
answer = {"levels": {}}
for name in request["levels"]:
    env = getattr(popgym_envs, name)()
    sigma = getattr(env, "noise_sigma", np.zeros(1))
    answer["levels"][name] = [env.max_episode_length, float(np.ravel(sigma)[0])]
for run in request["runs"]:
    env = getattr(popgym_envs, run["name"])()
    env.reset(seed=0)
    trace = []
    for state, action in zip(run["states"], run["actions"]):
        env.unwrapped.state = np.array(state, dtype=np.float64)
        action = np.array(action, dtype=np.float32) if isinstance(action, list) else action
        obs, reward, terminated, truncated, _ = env.step(action)
        trace.append([np.asarray(obs, float).tolist(), reward, terminated, truncated])
        if terminated or truncated:
            break
    run["trace"] = trace
answer["runs"] = request["runs"]
print(json.dumps(answer))
"""


def _physical_state(state) -> list[float]:
    if hasattr(state, "x"):
        return [float(state.x), float(state.x_dot), float(state.theta), float(state.theta_dot)]
    return [float(state.theta), float(state.theta_dot)]


def _our_episode(name: str, key: jax.Array, policy) -> dict:
    """Plays one episode of ``name``, recording each step's state, action and outcome.

    The reference replays every transition from our state before it: an open-loop replay would
    drift apart (float32 here, float64 there, on unstable dynamics).
    """
    env, params = envs.make(name)
    _, state = env.reset(key, params)
    step = jax.jit(env.step)
    states, actions, trace = [], [], []
    for t in range(params.max_steps_in_episode):
        states.append(_physical_state(state))
        action = policy(state, jax.random.fold_in(key, t))
        step_key = jax.random.fold_in(key, 10_000 + t)
        _, state, reward, terminated, truncated, info = step(step_key, state, action, params)
        actions.append(np.asarray(action).tolist())
        final = np.asarray(info["final_observation"], float).tolist()
        trace.append([final, float(reward), bool(terminated), bool(truncated)])
        if terminated or truncated:
            break
    return {"name": name, "states": states, "actions": actions, "ours": trace}


def _balance(state, key):
    return int(0.1 * state.x + 0.5 * state.x_dot + 10 * state.theta + state.theta_dot > 0)


def _random_push(state, key):
    return int(jax.random.bernoulli(key))


def _random_torque(state, key):
    return jax.random.uniform(key, (1,), minval=-2.0, maxval=2.0)


def test_matches_original_popgym() -> None:
    runs = [
        _our_episode("PositionOnlyCartPoleEasy", jax.random.key(0), _balance),
        _our_episode("PositionOnlyCartPoleMedium", jax.random.key(1), _random_push),
        _our_episode("VelocityOnlyCartPoleEasy", jax.random.key(2), _random_push),
        _our_episode("PositionOnlyPendulumMedium", jax.random.key(3), _random_torque),
    ]
    levels = [EXPECTED[family][0] + level for family in EXPECTED for level in LEVELS]
    request = {"levels": levels, "runs": [dict(run, ours=None) for run in runs]}
    answer = run_script(REFERENCE_SCRIPT, stdin=json.dumps(request), timeout=120)

    for family, (popgym_name, lengths, noises) in EXPECTED.items():
        for level, length, noise in zip(LEVELS, lengths, noises, strict=True):
            assert answer["levels"][popgym_name + level] == pytest.approx([length, noise]), family
    for ours, theirs in zip(runs, answer["runs"], strict=True):
        assert len(ours["ours"]) == len(theirs["trace"]), ours["name"]
        for (obs, reward, terminated, truncated), (ref_obs, ref_reward, ref_term, ref_trunc) in zip(
            ours["ours"], theirs["trace"], strict=True
        ):
            np.testing.assert_allclose(obs, ref_obs, atol=1e-5, err_msg=ours["name"])
            np.testing.assert_allclose(reward, ref_reward, atol=2e-6, err_msg=ours["name"])
            assert (terminated, truncated) == (ref_term, ref_trunc), ours["name"]
    assert len(runs[0]["ours"]) == 200  # the balanced episode reached the time limit
