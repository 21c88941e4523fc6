"""Contract sweep over every registered environment, and the registry's error messages.

Each environment is compiled once: one jitted function resets a small batch and scans a few
random-action steps with a short time limit; the assertions then run on its outputs.
"""

from __future__ import annotations

import functools

import gymnax
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import envs
from envs import registry
from envs.registry import _registry

NUM_ENVS = 2
TIME_LIMIT = 4
NUM_STEPS = 3 * TIME_LIMIT
# Tasks the default sweep leaves out, with the reason.
SKIPPED = {"MNISTBandit-bsuite": "downloads MNIST on construction (no network in tests)"}
# Heavy tasks (brax physics, `envs.is_heavy`) compile for minutes on a CPU: the default sweep
# takes none (the brax adapter test runs one brax task against brax), the slow sweep all.
HEAVY_IN_DEFAULT_SWEEP = ()  # brax: tests/envs/test_brax_adapter.py runs one task by default


def _factory_key(factory) -> tuple:
    """Identifies aliases: names whose factories are the same function with the same options."""
    if isinstance(factory, functools.partial):
        key = (factory.func, factory.args, tuple(sorted(factory.keywords.items())))
        try:
            hash(key)
        except TypeError:  # unhashable options: treat the name as distinct
            return (id(factory),)
        return key
    return (factory,)


def _canonical_names() -> tuple[list[str], dict[str, str]]:
    """Returns the names to sweep and a map alias -> the swept name with the same factory."""
    first_by_key: dict[tuple, str] = {}
    aliases: dict[str, str] = {}
    for name, factory in _registry().items():
        key = _factory_key(factory)
        if key in first_by_key:
            aliases[name] = first_by_key[key]
        else:
            first_by_key[key] = name
    return list(first_by_key.values()), aliases


SWEPT, ALIASES = _canonical_names()


def _param(name: str):
    if name in SKIPPED:
        return pytest.param(name, marks=pytest.mark.skip(reason=SKIPPED[name]))
    return name


LARGER_THAN_EASY = tuple(
    name
    for name in SWEPT
    for size in ("Medium", "Hard")
    if name.endswith(size) and name.replace(size, "Easy") in SWEPT
)
SLOW_IN_SWEEP = (
    "MetaControl-heldout",
    *LARGER_THAN_EASY,
    *("Asterix-MinAtar", "Freeway-MinAtar", "Seaquest-MinAtar", "SpaceInvaders-MinAtar"),
    *("Memory/TenRooms", "Memory/Teleport-TenRooms"),
)
"""Light tasks swept by the slow run only, each the same code as a task of the default sweep:
MetaControl-heldout is -train's factory on other tasks (its own rules are tested in
tests/envs/test_meta.py); a family's Medium and Hard sizes are its Easy size's code with larger
options (the families' own test files cover their sizes); gymnax's
MinAtar games pass through the same adapter as Breakout-MinAtar; the ten-room layouts are the
two- and four-room ones' code on a bigger map."""
DEFAULT_SWEEP = [
    _param(name) for name in SWEPT if not envs.is_heavy(name) and name not in SLOW_IN_SWEEP
]
DEFAULT_SWEEP += list(HEAVY_IN_DEFAULT_SWEEP)
SLOW_SWEEP = [
    name
    for name in SWEPT
    if (envs.is_heavy(name) and name not in HEAVY_IN_DEFAULT_SWEEP) or name in SLOW_IN_SWEEP
]


def rollout(env, params, key: jax.Array):
    """Resets ``NUM_ENVS`` envs and takes ``NUM_STEPS`` random steps, all under one jit.

    Returns:
        ``(obs0 [B, D], (obs [T, B, D], reward [T, B], terminated [T, B], truncated [T, B],
        info with [T, B, ...] leaves))``.
    """
    space = env.action_space(params)
    key_reset, key_steps = jax.random.split(key)
    obs0, state = jax.vmap(env.reset, in_axes=(0, None))(
        jax.random.split(key_reset, NUM_ENVS), params
    )

    def one_step(state, step_key):
        key_action, key_env = jax.random.split(step_key)
        action = jax.vmap(space.sample)(jax.random.split(key_action, NUM_ENVS))
        obs, state, reward, terminated, truncated, info = jax.vmap(
            env.step, in_axes=(0, 0, 0, None)
        )(jax.random.split(key_env, NUM_ENVS), state, action, params)
        return state, (obs, reward, terminated, truncated, info)

    _, steps = jax.lax.scan(one_step, state, jax.random.split(key_steps, NUM_STEPS))
    return obs0, steps


def _assert_in_space(obs: np.ndarray, space, what: str) -> None:
    assert obs.shape[-len(space.shape) :] == tuple(space.shape), (what, obs.shape, space.shape)
    assert obs.dtype == np.dtype(space.dtype), (what, obs.dtype, space.dtype)
    assert not np.isnan(obs).any(), what
    low = np.broadcast_to(np.asarray(space.low, np.float32), space.shape)
    high = np.broadcast_to(np.asarray(space.high, np.float32), space.shape)
    assert np.all(obs >= low) and np.all(obs <= high), f"{what} leaves the observation space"


def _episode_lengths(done: np.ndarray) -> np.ndarray:
    """Length ``[T, B]`` of the episode each step belongs to, counted up to that step."""
    lengths = np.zeros(done.shape, np.int64)
    running = np.zeros(done.shape[1], np.int64)
    for t in range(done.shape[0]):
        running = running + 1
        lengths[t] = running
        running = np.where(done[t], 0, running)
    return lengths


def check_contract(name: str) -> None:
    """Builds ``name`` and checks the environment contract on a jitted, vmapped rollout."""
    env, params = envs.make(name)
    # Keep the limit's Python type: some gymnax tasks mix it with floats in lax.select.
    limit_dtype = np.asarray(params.max_steps_in_episode).dtype
    params = params.replace(max_steps_in_episode=np.asarray(TIME_LIMIT, limit_dtype).item())
    obs_space = env.observation_space(params)
    assert len(obs_space.shape) == 1, f"{name}: observations must be vectors, got {obs_space}"
    assert np.dtype(obs_space.dtype) == np.float32

    key = jax.random.key(0)
    run = jax.jit(functools.partial(rollout, env))
    obs0, (obs, reward, terminated, truncated, info) = jax.device_get(run(params, key))
    again = jax.device_get(run(params, key))
    first_leaves = jax.tree.leaves((obs0, obs, reward, terminated, truncated, info))
    for first, second in zip(first_leaves, jax.tree.leaves(again), strict=True):
        np.testing.assert_array_equal(first, second, err_msg=f"{name} is not deterministic")

    _assert_in_space(obs0, obs_space, f"{name} reset obs")
    _assert_in_space(obs, obs_space, f"{name} step obs")
    assert {"final_observation", "terminated", "truncated"} <= set(info), sorted(info)
    final_obs = info["final_observation"]
    _assert_in_space(final_obs, obs_space, f"{name} final_observation")
    assert reward.shape == (NUM_STEPS, NUM_ENVS) and reward.dtype == np.float32
    assert np.isfinite(reward).all()
    for flag in (terminated, truncated):
        assert flag.shape == (NUM_STEPS, NUM_ENVS) and flag.dtype == np.bool_
    np.testing.assert_array_equal(info["terminated"], terminated)
    np.testing.assert_array_equal(info["truncated"], truncated)

    done = terminated | truncated
    # Auto-reset restarts the clock: an episode not terminated before is truncated exactly
    # TIME_LIMIT steps after its reset (a task may or may not flag truncation when both coincide).
    at_limit = _episode_lengths(done) == TIME_LIMIT
    np.testing.assert_array_equal(truncated[~terminated], at_limit[~terminated], err_msg=name)
    assert not np.any(truncated & ~at_limit), f"{name} truncates before the time limit"
    # Between episodes final_observation is the step's own observation (up to float rounding:
    # the compiler may compute the two in different fusions).
    np.testing.assert_allclose(final_obs[~done], obs[~done], rtol=1e-6, atol=1e-6, err_msg=name)


@pytest.mark.parametrize("name", DEFAULT_SWEEP)
def test_contract(name: str) -> None:
    check_contract(name)


@pytest.mark.parametrize("alias", sorted(ALIASES))
def test_alias_builds_the_same_task(alias: str) -> None:
    env, params = envs.make(alias)
    twin_env, twin_params = envs.make(ALIASES[alias])
    assert type(env) is type(twin_env)
    assert type(params) is type(twin_params)
    for leaf, twin_leaf in zip(jax.tree.leaves(params), jax.tree.leaves(twin_params), strict=True):
        np.testing.assert_array_equal(leaf, twin_leaf)
    space, twin_space = env.observation_space(params), twin_env.observation_space(twin_params)
    assert space.shape == twin_space.shape


def test_registry_holds_every_required_task() -> None:
    import gymnax

    names = set(envs.registered())
    assert set(gymnax.registered_envs) <= names
    assert "MemoryChain-bsuite" in names
    brax = {f"brax/{task}" for task in ("ant", "halfcheetah", "hopper", "humanoid", "reacher")}
    assert brax <= names
    for family in ("StatelessCartPole", "NoisyStatelessCartPole", "StatelessPendulum"):
        for level in ("Easy", "Medium", "Hard"):
            assert f"{family}{level}" in names
    assert len(names) == len(envs.registered()), "duplicate names"


def test_heavy_entries_are_the_brax_ones() -> None:
    heavy = {name for name in envs.registered() if envs.is_heavy(name)}
    brax = {f"brax/{task}" for task in registry.BRAX_TASKS}
    assert heavy == brax | {"MetaBrax-train", "MetaBrax-heldout"}
    assert not envs.is_heavy("MetaControl-train") and not envs.is_heavy("CartPole-v1")
    with pytest.raises(ValueError, match="Did you mean: CartPole-v1"):
        envs.is_heavy("cartpole-v1")


def test_unknown_name_suggests_close_matches() -> None:
    with pytest.raises(ValueError, match="Did you mean: CartPole-v1"):
        envs.make("cartpole-v1")
    with pytest.raises(ValueError, match="StatelessCartPoleEasy"):
        envs.make("StatelesCartPoleEasy")
    with pytest.raises(ValueError, match="registered"):
        envs.make("NoSuchTaskAnywhere")


def test_wrong_option_lists_accepted_ones() -> None:
    with pytest.raises(TypeError, match=r"max_steps_in_episode=200.*noise_std=0\.0"):
        envs.make("StatelessCartPoleEasy", noise_sigma=0.1)
    with pytest.raises(TypeError, match=r"\['colums'\].*rows=10, columns=5"):
        envs.make("Catch-bsuite", colums=3)
    with pytest.raises(TypeError, match=r"\['gravit'\].*max_steps_in_episode=500.*gravity=9\.8"):
        envs.make("CartPole-v1", gravit=3.0)
    with pytest.raises(TypeError, match="reset_noise_scale"):
        envs.make("brax/ant", reset_noise=0.1)


def test_options_reach_the_task() -> None:
    env, params = envs.make("Catch-bsuite", rows=6, columns=3)
    assert env.observation_space(params).shape == (18,)
    env, params = envs.make("StatelessCartPoleEasy", max_steps_in_episode=50)
    assert params.max_steps_in_episode == 50
    accepted = envs.accepted_options("DeepSea-bsuite")
    assert list(accepted)[:2] == ["size", "action_mapping_key"]  # the constructor's, then
    assert accepted["deterministic"] is True  # the EnvParams fields with their defaults


def episode_length(env, params, limit: int = 200) -> int:
    """Steps until the first episode ends (terminated or, under the envs contract, truncated),
    always taking action 0."""
    _, state = env.reset(jax.random.key(0), params)
    for t in range(1, limit + 1):
        out = env.step(jax.random.key(t), state, 0, params)
        state = out[1]
        if out[3] or (len(out) == 6 and out[4]):
            return t
    return limit + 1


def test_gymnax_params_fields_are_options() -> None:
    # bsuite's memory-length sweep: the option replaces the field of gymnax's default params.
    env, params = envs.make("MemoryChain-bsuite", memory_length=30)
    reference, default = gymnax.make("MemoryChain-bsuite")
    assert params == default.replace(memory_length=30)
    assert episode_length(env, params) == episode_length(reference, params) > 30
    assert episode_length(*envs.make("MemoryChain-bsuite")) <= 6
    env, params = envs.make("CartPole-v1", max_steps_in_episode=7)
    assert episode_length(env, params) <= 7
    with pytest.raises(TypeError, match="memory_length must be int"):
        envs.make("MemoryChain-bsuite", memory_length=3.5)


def test_gymnax_conformed_observations() -> None:
    env, params = envs.make("FrozenLake-misc")
    obs, _ = env.reset(jax.random.key(0), params)
    assert obs.shape == (16,) and obs.dtype == jnp.float32 and float(obs.sum()) == 1.0


@pytest.mark.slow
@pytest.mark.parametrize("name", SLOW_SWEEP)
def test_contract_brax(name: str) -> None:
    check_contract(name)
