"""Wrapper tests on tiny deterministic environments with hand-computed values."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import struct
from gymnax.environments import environment, spaces

from envs import wrappers


@struct.dataclass
class CounterState(environment.EnvState):
    time: jax.Array


class Counter(environment.Environment):
    """Observation ``[t, 100 + t, -t]``; reward ``action + 0.5``; action 2 terminates."""

    @property
    def default_params(self) -> environment.EnvParams:
        return environment.EnvParams(max_steps_in_episode=3)

    def _obs(self, time: jax.Array) -> jax.Array:
        return jnp.stack([time, 100.0 + time, -time]).astype(jnp.float32)

    def reset_env(self, key: jax.Array, params: Any) -> tuple[jax.Array, CounterState]:
        time = jnp.zeros((), jnp.int32)
        return self._obs(time), CounterState(time=time)

    def step_env(self, key, state, action, params):
        time = state.time + 1
        reward = jnp.asarray(action, jnp.float32) + 0.5
        return self._obs(time), CounterState(time=time), reward, action == 2, {}

    @property
    def num_actions(self) -> int:
        return 3

    def action_space(self, params=None) -> spaces.Discrete:
        return spaces.Discrete(3)

    def observation_space(self, params) -> spaces.Box:
        return spaces.Box(
            jnp.array([0.0, 100.0, -10.0]), jnp.array([10.0, 110.0, 0.0]), (3,), jnp.float32
        )


class Echo(environment.Environment):
    """Continuous actions in ``[-2, 3] x [0, 1]``; the observation is the action received."""

    @property
    def default_params(self) -> environment.EnvParams:
        return environment.EnvParams(max_steps_in_episode=10)

    def reset_env(self, key, params):
        return jnp.zeros(2, jnp.float32), CounterState(time=jnp.zeros((), jnp.int32))

    def step_env(self, key, state, action, params):
        obs = jnp.asarray(action, jnp.float32)
        return obs, CounterState(time=state.time + 1), jnp.float32(0.0), jnp.array(False), {}

    @property
    def num_actions(self) -> int:
        return 2

    def action_space(self, params=None) -> spaces.Box:
        return spaces.Box(jnp.array([-2.0, 0.0]), jnp.array([3.0, 1.0]), (2,), jnp.float32)

    def observation_space(self, params) -> spaces.Box:
        return spaces.Box(-jnp.inf, jnp.inf, (2,), jnp.float32)


def play(env, actions: list[Any], key: jax.Array | None = None):
    """Resets and applies ``actions`` in turn; returns the reset obs and each step's outputs."""
    key = jax.random.key(0) if key is None else key
    params = env.default_params
    obs, state = env.reset(key, params)
    steps = []
    for action in actions:
        key, step_key = jax.random.split(key)
        result = env.step(step_key, state, action, params)
        state = result[1]
        steps.append(jax.device_get(result))
    return np.asarray(obs), steps


def test_mask_keeps_chosen_entries_and_final_observation() -> None:
    env = wrappers.MaskObservation(Counter(), (2, 0))
    obs0, steps = play(env, [0, 0, 0])
    np.testing.assert_array_equal(obs0, [0.0, 0.0])
    np.testing.assert_array_equal(steps[0][0], [-1.0, 1.0])
    obs, _, _, terminated, truncated, info = steps[2]
    assert truncated and not terminated
    np.testing.assert_array_equal(obs, [0.0, 0.0])  # auto-reset
    np.testing.assert_array_equal(info["final_observation"], [-3.0, 3.0])
    space = env.observation_space(env.default_params)
    np.testing.assert_array_equal(space.low, [-10.0, 0.0])
    np.testing.assert_array_equal(space.high, [0.0, 10.0])
    with pytest.raises(ValueError):
        wrappers.MaskObservation(Counter(), (3,))


def test_affine_reward_with_horizon() -> None:
    env = wrappers.AffineReward(Counter(), scale=2.0, shift=-1.0, divide_by_horizon=True)
    _, steps = play(env, [0, 1, 2])
    rewards = [float(step[2]) for step in steps]
    # (2 * (a + 0.5) - 1) / 3 for a = 0, 1, 2.
    np.testing.assert_allclose(rewards, [0.0, 2.0 / 3.0, 4.0 / 3.0], rtol=1e-6)
    assert steps[2][3]  # action 2 terminates


def test_previous_action_reward_start_flag() -> None:
    env = wrappers.PreviousActionReward(Counter())
    obs0, steps = play(env, [1, 0, 1, 2])
    np.testing.assert_array_equal(obs0, [0, 100, 0, 0, 0, 0, 0, 1])
    np.testing.assert_array_equal(steps[0][0], [1, 101, -1, 0, 1, 0, 1.5, 0])
    np.testing.assert_array_equal(steps[1][0], [2, 102, -2, 1, 0, 0, 0.5, 0])
    obs, _, _, _, truncated, info = steps[2]
    assert truncated
    np.testing.assert_array_equal(obs, [0, 100, 0, 0, 0, 0, 0, 1])
    np.testing.assert_array_equal(info["final_observation"], [3, 103, -3, 0, 1, 0, 1.5, 0])
    obs, _, _, terminated, _, info = steps[3]
    assert terminated
    np.testing.assert_array_equal(info["final_observation"], [1, 101, -1, 0, 0, 1, 2.5, 0])
    space = env.observation_space(env.default_params)
    assert space.shape == (8,)
    assert all(bool(space.contains(o)) for o in (obs0, *(step[0] for step in steps)))


def test_previous_action_reward_continuous_action() -> None:
    env = wrappers.PreviousActionReward(Echo())
    _, steps = play(env, [jnp.array([0.5, -0.25])])
    np.testing.assert_array_equal(steps[0][0], [0.5, -0.25, 0.5, -0.25, 0.0, 0.0])


def test_episode_statistics_hand_computed() -> None:
    env = wrappers.EpisodeStatistics(Counter())
    # Episode 1: actions 1, 1, 0 -> truncated after 3 steps, return 1.5 + 1.5 + 0.5 = 3.5.
    # Episode 2: action 2 -> terminated after 1 step, return 2.5. Then one unfinished step.
    _, steps = play(env, [1, 1, 0, 2, 1])
    info = [step[5] for step in steps]
    assert [int(i["episode_count"]) for i in info] == [0, 0, 1, 2, 2]
    assert [bool(i["returned_episode"]) for i in info] == [False, False, True, True, False]
    returned = [float(i["returned_episode_return"]) for i in info]
    np.testing.assert_allclose(returned, [0.0, 0.0, 3.5, 2.5, 2.5])
    lengths = [int(i["returned_episode_length"]) for i in info]
    assert lengths == [0, 0, 3, 1, 1]
    np.testing.assert_allclose([float(i["episode_return"]) for i in info], [1.5, 3, 0, 0, 1.5])
    assert [int(i["episode_length"]) for i in info] == [1, 2, 0, 0, 1]


def test_episode_statistics_no_episode_ends_in_rollout() -> None:
    """A rollout shorter than an episode keeps reporting the last completed episode."""
    env = wrappers.EpisodeStatistics(Counter())
    params = env.default_params
    _, state = env.reset(jax.random.key(0), params)
    state = state.replace(returned_episode_return=jnp.float32(7.0), episode_count=jnp.int32(4))
    rollout = jax.jit(
        lambda state: jax.lax.scan(
            lambda s, k: (env.step(k, s, 0, params)[1], None),
            state,
            jax.random.split(jax.random.key(1), 2),
        )[0]
    )
    state = rollout(state)
    assert float(state.returned_episode_return) == 7.0 and int(state.episode_count) == 4
    assert float(state.episode_return) == 1.0 and int(state.episode_length) == 2


def test_gaussian_noise_statistics_and_clipping() -> None:
    clean = wrappers.MaskObservation(Counter(), (0, 1, 2))
    noisy = wrappers.GaussianObservationNoise(clean, std=0.5, clip=False)
    keys = jax.random.split(jax.random.key(3), 20000)
    obs, _ = jax.jit(jax.vmap(noisy.reset, in_axes=(0, None)))(keys, noisy.default_params)
    noise = np.asarray(obs) - np.array([0.0, 100.0, 0.0])
    np.testing.assert_allclose(noise.mean(axis=0), 0.0, atol=0.02)
    np.testing.assert_allclose(noise.std(axis=0), 0.5, rtol=0.03)
    assert noisy.observation_space(noisy.default_params).high[0] == np.inf

    clipped = wrappers.GaussianObservationNoise(clean, std=50.0, clip=True)
    obs, _ = jax.jit(jax.vmap(clipped.reset, in_axes=(0, None)))(keys, clipped.default_params)
    space = clipped.observation_space(clipped.default_params)
    obs = np.asarray(obs)
    assert np.all(obs >= space.low) and np.all(obs <= space.high)
    assert np.any(obs[:, 0] == 10.0) and np.any(obs[:, 0] == 0.0)


def test_noise_final_observation_matches_obs_between_episodes() -> None:
    env = wrappers.GaussianObservationNoise(Counter(), std=0.1, clip=False)
    _, steps = play(env, [0, 0, 0])
    for obs, _, _, terminated, truncated, info in steps[:2]:
        assert not (terminated or truncated)
        np.testing.assert_array_equal(info["final_observation"], obs)
    obs, _, _, _, truncated, info = steps[2]
    assert truncated
    np.testing.assert_allclose(info["final_observation"], [3.0, 103.0, -3.0], atol=0.6)
    np.testing.assert_allclose(obs, [0.0, 100.0, 0.0], atol=0.6)


def test_rescale_and_clip_action() -> None:
    env = wrappers.RescaleAction(Echo())
    assert env.action_space(env.default_params).shape == (2,)
    actions = [jnp.array([-1.0, 1.0]), jnp.array([0.0, 0.0]), jnp.array([5.0, -7.0])]
    _, steps = play(env, actions)
    np.testing.assert_allclose(steps[0][0], [-2.0, 1.0])
    np.testing.assert_allclose(steps[1][0], [0.5, 0.5])
    np.testing.assert_allclose(steps[2][0], [3.0, 0.0])
    _, steps = play(wrappers.ClipAction(Echo()), [jnp.array([-9.0, 0.25])])
    np.testing.assert_allclose(steps[0][0], [-2.0, 0.25])
    with pytest.raises(TypeError):
        wrappers.ClipAction(Counter())


def test_flatten_and_conform() -> None:
    import gymnax

    catch, params = gymnax.make("Catch-bsuite")
    flat = wrappers.FlattenObservation(catch)
    key_reset, key_step = jax.random.key(0), jax.random.key(1)
    obs, state = flat.reset(key_reset, params)
    raw_obs, _ = catch.reset(key_reset, params)  # a deterministic wrapper passes the key on
    assert obs.shape == (50,) and flat.observation_space(params).shape == (50,)
    np.testing.assert_array_equal(obs, np.reshape(raw_obs, -1))
    obs = flat.step(key_step, state, 0, params)[0]
    raw_obs = catch.step(key_step, state, 0, params)[0]
    np.testing.assert_array_equal(obs, np.reshape(raw_obs, -1))

    lake, params = gymnax.make("FrozenLake-misc")
    conformed = wrappers.ConformToContract(lake)
    obs, state = conformed.reset(jax.random.key(0), params)
    assert obs.dtype == jnp.float32 and obs.shape == (16,) and float(obs[0]) == 1.0
    umbrella, params = gymnax.make("UmbrellaChain-bsuite")
    conformed = wrappers.ConformToContract(umbrella, obs_low=-5.0)
    _, state = conformed.reset(jax.random.key(0), params)
    reward = conformed.step(jax.random.key(1), state, 0, params)[2]
    assert reward.dtype == jnp.float32
    assert np.all(conformed.observation_space(params).low == -5.0)


def test_composition_under_jit_and_vmap() -> None:
    env = wrappers.EpisodeStatistics(
        wrappers.PreviousActionReward(
            wrappers.GaussianObservationNoise(wrappers.MaskObservation(Counter(), (0, 2)), 0.01)
        )
    )
    params = env.default_params
    num_envs = 3
    obs, state = jax.vmap(env.reset, in_axes=(0, None))(
        jax.random.split(jax.random.key(0), num_envs), params
    )
    step = jax.jit(jax.vmap(env.step, in_axes=(0, 0, 0, None)))
    for t in range(4):
        keys = jax.random.split(jax.random.key(t + 1), num_envs)
        obs, state, _, _, _, info = step(keys, state, jnp.zeros(3, int), params)
    assert obs.shape == (num_envs, 7) and info["final_observation"].shape == (num_envs, 7)
    np.testing.assert_array_equal(info["episode_count"], [1, 1, 1])
    np.testing.assert_allclose(info["returned_episode_return"], [1.5, 1.5, 1.5])
    np.testing.assert_array_equal(obs[:, -1], [0.0, 0.0, 0.0])  # one step into episode 2
    assert env.observation_space(params).shape == (7,)


def test_step_env_path_matches_public_step() -> None:
    """Stateless wrappers give the same transitions when driven through reset_env/step_env."""
    env = wrappers.PreviousActionReward(
        wrappers.MaskObservation(wrappers.AffineReward(Counter(), scale=2.0), (2, 0))
    )
    params = env.default_params
    public = play(env, [1, 0, 1, 2, 0])
    _, state = env.reset_env(jax.random.key(0), params)
    np.testing.assert_array_equal(env.reset_env(jax.random.key(0), params)[0], public[0])
    for action, expected in zip([1, 0, 1, 2, 0], public[1], strict=True):
        result = environment.Environment.step(env, jax.random.key(1), state, action, params)
        state = result[1]
        for got, want in zip(result[:5], expected[:5], strict=True):
            np.testing.assert_array_equal(got, want)
        np.testing.assert_array_equal(
            result[5]["final_observation"], expected[5]["final_observation"]
        )
    with pytest.raises(NotImplementedError):
        wrappers.EpisodeStatistics(Counter()).step_env(jax.random.key(0), state, 0, params)


@struct.dataclass
class TallyState:
    env_state: Any
    total: jax.Array


class Tally(wrappers.StepWrapper):
    """Appends the sum of the rewards since its own reset to the observation."""

    def inner_state(self, state: TallyState) -> Any:
        return state.env_state

    def reset_env(self, key, params):
        obs, env_state = self.env.reset_env(key, params)
        return jnp.append(obs, 0.0), TallyState(env_state, jnp.float32(0.0))

    def step_env(self, key, state, action, params):
        obs, env_state, reward, terminated, info = self.env.step_env(
            key, state.env_state, action, params
        )
        total = state.total + reward
        return jnp.append(obs, total), TallyState(env_state, total), reward, terminated, info


def test_step_wrapper_auto_resets_around_its_own_step_env() -> None:
    """A StepWrapper's state restarts with every auto-reset; truncation comes from the task."""
    tally = Tally(wrappers.AffineReward(Counter(), scale=2.0))
    env = wrappers.EpisodeStatistics(tally)
    assert tally.name == "Tally(Counter)" and env.num_actions == 3
    _, steps = play(env, [1, 1, 0, 2, 1])
    # Rewards 2 (a + 0.5): 3, 3, 1 (truncated by Counter's limit of 3), 5 (terminated), 3.
    np.testing.assert_allclose([step[0][-1] for step in steps], [3, 6, 0, 0, 3])
    assert [bool(step[4]) for step in steps] == [False, False, True, False, False]
    assert [bool(step[3]) for step in steps] == [False, False, False, True, False]
    np.testing.assert_allclose(steps[2][5]["final_observation"][-1], 7)
    np.testing.assert_allclose(steps[3][5]["final_observation"][-1], 5)
    np.testing.assert_allclose(steps[3][5]["returned_episode_return"], 5)
    # Truncation is read through both wrappers' inner states, down to Counter's clock.
    params, state = env.default_params, steps[1][1]
    assert steps[1][1].env_state.env_state.time == 2 and not env.is_truncated(state, params)
    at_limit = TallyState(CounterState(time=jnp.int32(3)), jnp.float32(0.0))
    assert env.is_truncated(state.replace(env_state=at_limit), params)
