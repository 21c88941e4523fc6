"""The brax adapter against brax itself: one cheap task by default, every backend when slow.

A single jitted probe returns the adapter's step next to brax's own step and reset on the same
inputs, so each backend compiles once.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import envs
from envs.brax_adapter import BACKENDS, DEFAULT_BACKEND, BraxEnv

NUM_ENVS = 2


def probe(env: BraxEnv, keys, state, action, params):
    """Adapter step, brax's step of the same state and action, and brax's reset (batched)."""
    adapter = jax.vmap(env.step, in_axes=(0, 0, 0, None))(keys, state, action, params)
    raw_step = jax.vmap(env.brax_env.step)(state.brax_state, action)
    reset_keys = jax.vmap(lambda key: jax.random.split(key)[1])(keys)  # gymnax's reset key
    raw_reset = jax.vmap(env.brax_env.reset)(reset_keys)
    return adapter, raw_step, raw_reset


def check_backend(backend: str | None) -> None:
    env, params = envs.make("brax/inverted_pendulum", backend=backend)
    assert env.backend == (backend or DEFAULT_BACKEND)
    assert env.name == "brax/inverted_pendulum"
    obs_space, action_space = env.observation_space(params), env.action_space(params)
    assert obs_space.shape == (4,) and action_space.shape == (1,)
    np.testing.assert_array_equal([action_space.low, action_space.high], [-1.0, 1.0])
    reset_keys = jax.random.split(jax.random.key(0), NUM_ENVS)
    obs, state = jax.jit(jax.vmap(env.reset, in_axes=(0, None)))(reset_keys, params)
    action = jnp.zeros((NUM_ENVS, 1))
    run = jax.jit(functools.partial(probe, env))
    assert obs.shape == (NUM_ENVS, 4) and obs.dtype == jnp.float32
    # Time limit 3: pushing gently, nothing falls; the third step truncates and auto-resets.
    short = params.replace(max_steps_in_episode=3)
    action = jnp.full((NUM_ENVS, 1), 0.05)
    for t in range(3):
        keys = jax.random.split(jax.random.key(t + 1), NUM_ENVS)
        (obs, state, reward, terminated, truncated, info), raw_step, raw_reset = run(
            keys, state, action, short
        )
        np.testing.assert_allclose(info["final_observation"], raw_step.obs, rtol=1e-6)
        np.testing.assert_allclose(reward, raw_step.reward)
        assert reward.dtype == jnp.float32 and not terminated.any()
        assert truncated.tolist() == [t == 2] * NUM_ENVS
    np.testing.assert_allclose(obs, raw_reset.obs, rtol=1e-6)
    np.testing.assert_array_equal(state.time, [0] * NUM_ENVS)

    # Full push: the pole passes 0.2 rad, brax says done, the adapter terminates and resets.
    action = jnp.full((NUM_ENVS, 1), 1.0)
    for t in range(200):
        keys = jax.random.split(jax.random.key(100 + t), NUM_ENVS)
        (obs, state, _, terminated, truncated, info), raw_step, raw_reset = run(
            keys, state, action, params
        )
        np.testing.assert_array_equal(terminated, raw_step.done > 0.5)
        if terminated.all():
            break
    assert terminated.all() and not truncated.any(), "the pole never fell"
    assert np.all(np.abs(info["final_observation"][:, 1]) > 0.2)
    np.testing.assert_allclose(obs, raw_reset.obs, rtol=1e-6)


def test_default_backend() -> None:
    check_backend(None)


@pytest.mark.slow
@pytest.mark.parametrize("backend", [b for b in BACKENDS if b != DEFAULT_BACKEND])
def test_other_backends(backend: str) -> None:
    check_backend(backend)


def test_bad_arguments_fail_before_building() -> None:
    with pytest.raises(ValueError, match="backend must be one of"):
        BraxEnv("ant", backend="warp")
    with pytest.raises(ValueError, match="unknown brax environment"):
        BraxEnv("antt")
    with pytest.raises(TypeError, match="ctrl_cost_weight"):
        envs.make("brax/ant", ctrl_cost=0.1)


def test_options_reach_brax() -> None:
    env, _ = envs.make("brax/ant", exclude_current_positions_from_observation=False)
    assert env.observation_space(env.default_params).shape == (29,)
    assert env.action_space().shape == (8,) and env.num_actions == 8
