"""Tests of envs.meta: trials, projections, the meta observation, Meta CartPole, MetaControl."""

import functools
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import struct
from gymnax.environments import environment, spaces
from gymnax.environments.classic_control import acrobot, cartpole, continuous_mountain_car, pendulum
from gymnax.environments.misc import reacher, swimmer

from envs import meta

# ---------------------------------------------------------------------------------------------
# Toy tasks with hand-checkable dynamics
# ---------------------------------------------------------------------------------------------


@struct.dataclass
class ToyState(environment.EnvState):
    tag: jax.Array


class Toy(environment.Environment):
    """obs `[time, tag]` (tag drawn at reset); action 2 terminates; reward `action + 0.5`."""

    @property
    def default_params(self) -> environment.EnvParams:
        return environment.EnvParams(max_steps_in_episode=4)

    def reset_env(self, key, params):
        tag = jax.random.uniform(key)
        return jnp.stack([0.0, tag]), ToyState(time=0, tag=tag)

    def step_env(self, key, state, action, params):
        state = state.replace(time=state.time + 1)
        obs = jnp.stack([jnp.float32(state.time), state.tag])
        return obs, state, jnp.float32(action) + 0.5, action == 2, {}

    def observation_space(self, params):
        return spaces.Box(jnp.zeros(2), jnp.array([100.0, 1.0]), (2,), jnp.float32)

    def action_space(self, params=None):
        return spaces.Discrete(3)


class Echo(environment.Environment):
    """Observes the action it received, in `[-2, 2]^2`."""

    @property
    def default_params(self) -> environment.EnvParams:
        return environment.EnvParams(max_steps_in_episode=100)

    def reset_env(self, key, params):
        return jnp.zeros(2), environment.EnvState(time=0)

    def step_env(self, key, state, action, params):
        state = state.replace(time=state.time + 1)
        return action, state, jnp.float32(0.0), jnp.bool_(False), {}

    def observation_space(self, params):
        return spaces.Box(-2 * jnp.ones(2), 2 * jnp.ones(2), (2,), jnp.float32)

    def action_space(self, params=None):
        return spaces.Box(-2 * jnp.ones(2), 2 * jnp.ones(2), (2,), jnp.float32)


class Step(NamedTuple):
    action: Any
    obs: Any
    state: Any
    reward: Any
    terminated: Any
    truncated: Any
    info: Any


@functools.partial(jax.jit, static_argnums=0)
def play(env, params, key, actions):
    """Plays `actions[T]` from a reset (auto-reset on). Returns (obs0, state0, Step[T])."""
    obs0, state0 = env.reset(key, params)

    def one(state, inputs):
        key, action = inputs
        obs, state, reward, terminated, truncated, info = env.step(key, state, action, params)
        return state, Step(action, obs, state, reward, terminated, truncated, info)

    keys = jax.random.split(jax.random.fold_in(key, 1), actions.shape[0])
    return obs0, state0, jax.lax.scan(one, state0, (keys, actions))[1]


@functools.partial(jax.jit, static_argnums=(0, 3, 4))
def rollout(env, params, key, num_envs, num_steps):
    """Random actions in `num_envs` envs for `num_steps` (auto-reset on); leaves `[T, B, ...]`.

    Continuous actions are drawn from 1.5 times their Box, so that clipping is exercised.
    """
    obs0, state0 = jax.vmap(env.reset, in_axes=(0, None))(jax.random.split(key, num_envs), params)
    space = env.action_space(params)
    stretch = 1.5 if isinstance(space, spaces.Box) else 1
    batched_step = jax.vmap(env.step, in_axes=(0, 0, 0, None))

    def one(state, key):
        key_action, key_step = jax.random.split(key)
        actions = stretch * jax.vmap(space.sample)(jax.random.split(key_action, num_envs))
        out = batched_step(jax.random.split(key_step, num_envs), state, actions, params)
        return out[1], Step(actions, *out)

    steps = jax.lax.scan(one, state0, jax.random.split(jax.random.fold_in(key, 1), num_steps))[1]
    return obs0, state0, steps


# ---------------------------------------------------------------------------------------------
# Trials and the meta observation, on the toy task
# ---------------------------------------------------------------------------------------------

TOY_PARAMS = meta.TrialsParams(
    env_params=environment.EnvParams(max_steps_in_episode=4), num_trials=3, max_steps_in_episode=99
)
# Trial 1 terminates on its third step, trial 2 on its first, trial 3 is truncated after four
# steps, which ends the outer episode; the ninth step belongs to the next outer episode.
TOY_ACTIONS = jnp.array([0, 0, 2, 2, 0, 1, 0, 0, 1])


def test_trials_count_and_end_the_outer_episode():
    _, _, out = play(meta.Trials(Toy()), TOY_PARAMS, jax.random.key(0), TOY_ACTIONS)
    np.testing.assert_array_equal(out.info["trial"], [0, 0, 1, 2, 2, 2, 2, 3, 0])
    np.testing.assert_array_equal(out.info["trial_start"], [0, 0, 1, 1, 0, 0, 0, 0, 0])
    np.testing.assert_array_equal(out.truncated, [0, 0, 0, 0, 0, 0, 0, 1, 0])
    np.testing.assert_array_equal(out.terminated, np.zeros(9))
    np.testing.assert_allclose(out.reward, np.asarray(TOY_ACTIONS) + 0.5)
    # Inner time in the observation: trials restart at 0; step 8 shows the next episode's reset.
    np.testing.assert_array_equal(out.obs[:, 0], [1, 2, 0, 0, 1, 2, 3, 0, 1])
    np.testing.assert_array_equal(out.info["final_observation"][7, 0], 4)
    np.testing.assert_array_equal(out.state.trial, [0, 0, 1, 2, 2, 2, 2, 0, 0])


def test_last_trial_terminating_terminates_the_outer_episode():
    actions = jnp.array([2, 0, 2, 2, 0])
    _, _, out = play(meta.Trials(Toy()), TOY_PARAMS, jax.random.key(0), actions)
    np.testing.assert_array_equal(out.terminated, [0, 0, 0, 1, 0])
    np.testing.assert_array_equal(out.truncated, [0, 0, 0, 1, 0])
    np.testing.assert_array_equal(out.info["discount"], [1, 1, 1, 0, 1])


def test_outer_time_limit_truncates():
    params = TOY_PARAMS.replace(max_steps_in_episode=5)
    _, _, out = play(meta.Trials(Toy()), params, jax.random.key(0), TOY_ACTIONS)
    np.testing.assert_array_equal(out.truncated, [0, 0, 0, 0, 1, 0, 0, 0, 0])


@pytest.mark.parametrize("repeat_start", [False, True])
def test_trial_starts_fresh_or_repeated(repeat_start):
    env = meta.Trials(Toy(), repeat_start=repeat_start)
    obs0, _, out = play(env, TOY_PARAMS, jax.random.key(3), TOY_ACTIONS)
    tags = np.asarray([obs0[1], out.obs[2, 1], out.obs[3, 1]])  # the three trials' tags
    assert np.all(np.isclose(tags, tags[0])) == repeat_start
    assert np.all(out.obs[:7, 1][np.asarray(out.info["trial"][:7]) == 2] == tags[2])


def test_meta_observation_hand_checked():
    env = meta.MetaObservation(meta.Trials(Toy()))
    obs0, _, out = play(env, TOY_PARAMS, jax.random.key(1), TOY_ACTIONS)
    assert env.observation_space(TOY_PARAMS).shape == (8,)
    np.testing.assert_allclose(obs0, [0, obs0[1], 0, 0, 0, 0, 1, 1])
    tags = np.asarray(out.obs[:, 1])
    np.testing.assert_array_equal(tags[[0, 1]], obs0[1])  # one tag per trial
    np.testing.assert_array_equal(tags[4:7], tags[3])
    expected = []
    for t, (action, time) in enumerate(
        zip([0, 0, 2, 2, 0, 1, 0, 0, 1], [1, 2, 0, 0, 1, 2, 3, 0, 1], strict=True)
    ):
        trial_start = float(t in (2, 3))
        expected.append([time, tags[t], *np.eye(3)[action], action + 0.5, trial_start, 0])
    expected[7] = [0, tags[7], 0, 0, 0, 0, 1, 1]  # the next outer episode's reset observation
    np.testing.assert_allclose(out.obs, expected, rtol=1e-6)
    final = out.info["final_observation"][7]
    np.testing.assert_allclose(final, [4, tags[6], 1, 0, 0, 0.5, 0, 0], rtol=1e-6)


# ---------------------------------------------------------------------------------------------
# Projections
# ---------------------------------------------------------------------------------------------


def per_episode(values: np.ndarray, first: np.ndarray, done: np.ndarray) -> list[list]:
    """Splits `values[T, B, ...]` (with the reset values `first[B, ...]`) by outer episode.

    Returns, per env, a list of arrays `[steps, ...]`, one per episode, in order.
    """
    values = np.concatenate([first[None], values])
    episode = np.concatenate([np.zeros((1, done.shape[1]), int), np.cumsum(done, axis=0)])
    return [
        [values[episode[:, b] == e, b] for e in range(episode[-1, b] + 1)]
        for b in range(done.shape[1])
    ]


def fixed_per_episode(values, first, done) -> np.ndarray:
    """Asserts that each outer episode holds one value; returns them all, `[episodes, ...]`."""
    episodes = per_episode(np.asarray(values), np.asarray(first), np.asarray(done))
    assert all(len(env_episodes) >= 2 for env_episodes in episodes)
    drawn = []
    for env_episodes in episodes:
        for steps in env_episodes:
            np.testing.assert_array_equal(steps, np.broadcast_to(steps[0], steps.shape))
            drawn.append(steps[0])
    return np.stack(drawn)


def assert_all_different(values: np.ndarray) -> None:
    """No two entries of `values[N, ...]` are equal (to 5 decimals)."""
    rounded = {tuple(np.round(np.ravel(v), 5)) for v in values}
    assert len(rounded) == len(values)


def test_observation_projection_fixed_within_episode_and_redrawn_between():
    _, _, (_, state0, out) = entry_rollout("MetaCartPole")
    done = out.terminated | out.truncated
    assert_all_different(fixed_per_episode(out.state.matrix, state0.matrix, done))
    matrix = np.asarray(out.state.matrix)  # [T, B, 4, 2], orthogonal columns of norm sqrt(2)
    gram = np.einsum("tbij,tbik->tbjk", matrix, matrix)
    np.testing.assert_allclose(gram, np.broadcast_to(2 * np.eye(2), gram.shape), atol=1e-5)
    # The observation is the projection of the hidden CartPole's [x, theta].
    inner = out.state.env_state.env_state
    position = np.stack([inner.x, inner.theta], axis=-1)
    expected = np.einsum("tbij,tbj->tbi", matrix, position)
    np.testing.assert_allclose(out.obs[..., :4], expected, atol=1e-6)


@pytest.mark.parametrize("shape", [(4, 2), (5, 8)])
def test_orthogonal_projection_is_orthogonal_and_uniform(shape):
    draw = jax.jit(jax.vmap(lambda key: meta.draw_projection(key, shape, "orthogonal", 1.5)))
    matrices = np.asarray(draw(jax.random.split(jax.random.key(0), 2000)), np.float64)
    small = min(shape)
    gram = (
        matrices.swapaxes(1, 2) @ matrices
        if shape[0] >= shape[1]
        else matrices @ matrices.swapaxes(1, 2)
    )
    np.testing.assert_allclose(gram, np.broadcast_to(2.25 * np.eye(small), gram.shape), atol=1e-4)
    # Uniform (Haar) law: every entry has mean 0 and variance scale^2 / max(shape).
    np.testing.assert_allclose(matrices.mean(0), 0.0, atol=5 * 1.5 / np.sqrt(2000 * max(shape)))
    np.testing.assert_allclose(matrices.var(0), 2.25 / max(shape), rtol=0.2)


def test_action_projection_maps_actions_through_the_episode_matrix():
    env = meta.ActionProjection(Echo(), size=3)
    params = env.default_params
    actions = jax.random.uniform(jax.random.key(5), (6, 3), minval=-1.5, maxval=1.5)
    _, state0, out = play(env, params, jax.random.key(2), actions)
    matrix = np.asarray(state0.matrix)
    assert matrix.shape == (2, 3)
    np.testing.assert_array_equal(out.state.matrix, np.broadcast_to(matrix, (6, 2, 3)))
    expected = np.clip(np.clip(actions, -1, 1) @ matrix.T, -2, 2)
    np.testing.assert_allclose(out.obs, expected, atol=1e-6)
    assert env.action_space(params).shape == (3,)


# ---------------------------------------------------------------------------------------------
# MetaControl task sets
# ---------------------------------------------------------------------------------------------


def _leaves(params):
    return np.concatenate(
        [np.ravel(np.asarray(leaf, np.float64)) for leaf in jax.tree.leaves(params)]
    )


def test_training_and_heldout_sets_are_disjoint():
    train, heldout = meta.CONTROL_SETS["train"], meta.CONTROL_SETS["heldout"]
    assert len(train) == 32 and len(heldout) == 12
    assert not {t.name for t in train} & {t.name for t in heldout}
    for task in heldout:
        for other in train:
            if other.family == task.family:
                a, b = _leaves(meta.task_params(task)), _leaves(meta.task_params(other))
                assert not np.allclose(a, b), (task.name, other.name)
    assert {"acrobot", "swimmer"} <= {t.family for t in heldout} - {t.family for t in train}


# ---------------------------------------------------------------------------------------------
# Registered entries: spaces under jit + vmap, and full episodes
# ---------------------------------------------------------------------------------------------

ROLLOUT_STEPS = {"MetaCartPole": 1200, "MetaControl-train": 820, "MetaControl-heldout": 820}


@functools.cache
def entry_rollout(name):
    env, params = meta.ENTRIES[name]()
    num_envs = 4 if name == "MetaCartPole" else 16
    steps = rollout(env, params, jax.random.key(7), num_envs, ROLLOUT_STEPS[name])
    return env, params, jax.device_get(steps)  # numpy: eager jax indexing compiles per op


ROLLOUT_NAMES = [
    pytest.param(name, marks=pytest.mark.slow) if name == "MetaControl-heldout" else name
    for name in sorted(ROLLOUT_STEPS)
]
"""Entries of the rollout checks; MetaControl-heldout is slow-marked (the same factory and
wrappers as MetaControl-train, another task set)."""


@pytest.mark.parametrize("name", ROLLOUT_NAMES)
def test_entry_spaces_under_jit_and_vmap(name):
    env, params, (obs0, _, out) = entry_rollout(name)
    space = env.observation_space(params)
    for obs in (
        obs0,
        out.obs.reshape(-1, *space.shape),
        out.info["final_observation"].reshape(-1, *space.shape),
    ):
        assert obs.dtype == jnp.float32 and obs.shape[1:] == space.shape
        assert bool(jnp.all(jax.vmap(space.contains)(obs)))
    assert out.reward.dtype == jnp.float32
    assert out.terminated.dtype == jnp.bool_ and out.truncated.dtype == jnp.bool_
    assert np.all(np.isfinite(out.reward))


@pytest.mark.parametrize("name", ROLLOUT_NAMES)
def test_first_and_last_trials_are_played(name):
    """Every env finishes its first outer episode: all trials played, rewards in first and last."""
    _, params, (_, _, out) = entry_rollout(name)
    done = np.asarray(out.terminated | out.truncated)
    trial_start = np.asarray(out.info["trial_start"])
    reward = np.asarray(out.reward)
    for b in range(done.shape[1]):
        end = int(np.argmax(done[:, b]))
        assert done[end, b], "the first outer episode did not end"
        starts = np.flatnonzero(trial_start[: end + 1, b])
        assert len(starts) == params.num_trials - 1
        assert out.info["trial"][end, b] == params.num_trials
        first, last = reward[: starts[0] + 1, b], reward[starts[-1] + 1 : end + 1, b]
        assert len(last) > 0 and np.any(first != 0) and np.any(last != 0)


def test_meta_cartpole_matches_popjaxrl_settings():
    env, params = meta.ENTRIES["MetaCartPole"]()
    assert params.num_trials == 16 and params.env_params.max_steps_in_episode == 200
    assert env.observation_space(params).shape == (9,) and env.action_space(params).n == 2
    _, _, (_, _, out) = entry_rollout("MetaCartPole")
    np.testing.assert_allclose(out.reward, 1.0 / 200)  # every step of every trial pays 1/200


@pytest.mark.parametrize(
    "name", ["MetaControl-train", pytest.param("MetaControl-heldout", marks=pytest.mark.slow)]
)
def test_task_and_projections_fixed_per_episode_and_resampled(name):
    env, _, (_, state0, out) = entry_rollout(name)
    assert isinstance(env.env.env.env.env, meta.MultiTask)  # Meta > Obs > Action > Trials > tasks
    done = out.terminated | out.truncated
    obs_proj, act_proj = out.state, out.state.env_state
    tasks = out.state.env_state.env_state.env_state.task
    first_tasks = state0.env_state.env_state.env_state.task
    assert_all_different(fixed_per_episode(obs_proj.matrix, state0.matrix, done))
    assert_all_different(fixed_per_episode(act_proj.matrix, state0.env_state.matrix, done))
    assert len(np.unique(fixed_per_episode(tasks, first_tasks, done))) > 1


@pytest.mark.parametrize("task_set", ["train", "heldout"])
def test_tasks_are_sampled_by_family_then_variant(task_set):
    multi = meta.MultiTask(meta.CONTROL_SETS[task_set])
    keys = jax.random.split(jax.random.key(0), 8192)
    tasks = np.asarray(jax.jit(jax.vmap(multi.sample_task))(keys))
    counts = np.bincount(tasks, minlength=len(multi.tasks))
    family = np.asarray(multi.task_family(jnp.arange(len(multi.tasks))))
    num_families = len(multi.families)
    for g in range(num_families):
        share = counts[family == g]
        expected = len(tasks) / num_families
        assert abs(share.sum() - expected) < 5 * np.sqrt(expected)
        assert abs(share - expected / len(share)).max() < 5 * np.sqrt(expected / len(share))


REFERENCE = {  # family -> the gymnax task it is built on
    "pendulum": pendulum.Pendulum(),
    "cartpole": cartpole.CartPole(),
    "mountaincar": continuous_mountain_car.ContinuousMountainCar(),
    "reacher": reacher.Reacher(),
    "acrobot": acrobot.Acrobot(),
    "swimmer": swimmer.Swimmer(),
}


@pytest.mark.parametrize(
    ("continuous", "reference"), [("cartpole", "cartpole"), ("acrobot", "acrobot")]
)
def test_continuous_pushes_of_plus_minus_one_are_the_discrete_ones(continuous, reference):
    """Continuous CartPole / Acrobot with u = +1, -1 step like gymnax's actions 1, 0 / 2, 0."""
    env, ref = meta.FAMILIES[continuous].make_env(), REFERENCE[reference]
    params = ref.default_params
    right = {"cartpole": 1, "acrobot": 2}[reference]
    _, state = ref.reset_env(jax.random.key(0), params)
    ref_state = state
    for t, u in enumerate([1.0, 1.0, -1.0, 1.0, -1.0, -1.0]):
        key = jax.random.key(t)
        obs, state, reward, terminated, _ = env.step_env(key, state, jnp.array([u]), params)
        ref_obs, ref_state, ref_reward, ref_terminated, _ = ref.step_env(
            key, ref_state, right if u > 0 else 0, params
        )
        np.testing.assert_allclose(obs, ref_obs, rtol=1e-6)
        assert reward == ref_reward and terminated == ref_terminated


def _reference_inputs(family, members, variant, unit, params):
    """The gymnax task's actions and params `[N, ...]` for MultiTask's unit actions `unit[N, A]`
    in the tasks `members[variant[N]]`.

    Continuous families map `[-1, 1]` to their Box. CartPole pushes with `force_mag * (2 a - 1)`
    for a float `a`; Acrobot applies `params.available_torque[action]`, so it is offered the
    single torque `u` (both equivalences at u = +-1 are tested above).
    """
    if family == "cartpole":
        return (unit[:, 0] + 1) / 2, params
    if family == "acrobot":
        torque = unit[:, :1].astype(np.float32)
        return np.zeros(len(unit), np.int32), params.replace(available_torque=torque)
    bounds = [REFERENCE[family].action_space(meta.task_params(t)) for t in members]
    low = np.stack([np.broadcast_to(b.low, b.shape) for b in bounds])[variant]
    high = np.stack([np.broadcast_to(b.high, b.shape) for b in bounds])[variant]
    return low + (unit[:, : low.shape[1]] + 1) / 2 * (high - low), params


@pytest.mark.parametrize(
    # Held-out tasks step through the same factory (suite time: the held-out case is slow).
    "name",
    ["MetaControl-train", pytest.param("MetaControl-heldout", marks=pytest.mark.slow)],
)
def test_meta_control_steps_follow_the_reference_tasks(name):
    """Every recorded step is the gymnax task's step seen through the episode's projections:
    `obs = M_obs pad(scale * obs_task)`, `action_task = clip(M_act clip(action))` mapped to the
    task's Box, `reward = scale * reward_task`; a trial ends iff the task terminates or reaches
    the trial length."""
    env, params, (_, state0, out) = entry_rollout(name)
    multi = env.env.env.env.env
    before = jax.tree.map(lambda s0, s: np.concatenate([s0[None], s[:-1]]), state0, out.state)
    task_state = before.env_state.env_state.env_state
    trial_end = np.asarray(out.terminated | out.truncated | out.info["trial_start"])
    tasks = np.asarray(task_state.task)
    family = np.array([multi.families.index(t.family) for t in multi.tasks])[tasks]
    action = np.clip(np.asarray(out.action), -1, 1)
    unit = np.clip(np.einsum("tbij,tbj->tbi", before.env_state.matrix, action), -1, 1)
    stepped = ~np.asarray(out.terminated | out.truncated)  # else obs is the next reset's
    np.testing.assert_allclose(out.obs[..., 16:19][stepped], action[stepped], atol=1e-6)
    np.testing.assert_allclose(out.obs[..., 19][stepped], out.reward[stepped])
    for g, family_name in enumerate(multi.families):
        rows = family == g
        members = [t for t in multi.tasks if t.family == family_name]
        stacked = jax.tree.map(lambda *x: np.stack(x), *[meta.task_params(t) for t in members])
        variant = tasks[rows] - multi.tasks.index(members[0])
        ref_step = jax.jit(jax.vmap(REFERENCE[family_name].step_env, in_axes=(None, 0, 0, 0)))
        ref_action, ref_params = _reference_inputs(
            family_name,
            members,
            variant,
            unit[rows],
            jax.tree.map(lambda x, variant=variant: x[variant], stacked),
        )
        ref_obs, _, ref_reward, ref_terminated, _ = ref_step(
            jax.random.key(0),
            jax.tree.map(lambda x, rows=rows: x[rows], task_state.group_states[g]),
            ref_action,
            ref_params,
        )
        spec, size = meta.FAMILIES[family_name], ref_obs.shape[1]
        scale = 1.0 if spec.obs_scale is None else np.array(spec.obs_scale)
        projected = np.einsum(
            "nij,nj->ni", np.asarray(before.matrix)[rows][..., :size], np.asarray(ref_obs) * scale
        )
        inside = ~trial_end[rows]
        assert inside.sum() > 100
        np.testing.assert_allclose(
            out.obs[rows][inside, :16], projected[inside], rtol=1e-4, atol=1e-5
        )
        np.testing.assert_allclose(
            out.reward[rows], ref_reward * spec.reward_scale, rtol=1e-5, atol=1e-7
        )
        time_limit = np.asarray(task_state.time)[rows] + 1 >= params.env_params.max_steps_in_episode
        np.testing.assert_array_equal(trial_end[rows], np.asarray(ref_terminated) | time_limit)


# ---------------------------------------------------------------------------------------------
# MetaBrax (slow: brax compiles for minutes on a CPU)
# ---------------------------------------------------------------------------------------------


def test_brax_sets_are_disjoint():
    train, heldout = set(meta.BRAX_SETS["train"]), set(meta.BRAX_SETS["heldout"])
    assert train and heldout and not train & heldout
    assert train | heldout <= set(meta.BRAX_REWARD_SCALES)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["MetaBrax-train", "MetaBrax-heldout"])
def test_meta_brax_trials_and_projections_under_jit_and_vmap(name):
    env, params = meta.ENTRIES[name](num_trials=2, trial_length=10)
    obs0, state0, out = jax.device_get(rollout(env, params, jax.random.key(0), 4, 50))
    space = env.observation_space(params)
    assert space.shape == (32 + 6 + 3,) and env.action_space(params).shape == (6,)
    for obs in (obs0, out.obs.reshape(-1, *space.shape)):
        assert obs.dtype == np.float32 and bool(jnp.all(jax.vmap(space.contains)(obs)))
    done = out.terminated | out.truncated
    assert np.all(done.sum(0) >= 2)  # episodes of at most 2 trials of 10 steps
    episode_trials = out.info["trial"][done]
    np.testing.assert_array_equal(episode_trials, 2)
    assert_all_different(fixed_per_episode(out.state.matrix, state0.matrix, done))
    tasks = fixed_per_episode(
        out.state.env_state.env_state.env_state.task,
        state0.env_state.env_state.env_state.task,
        done,
    )
    assert len(np.unique(tasks)) > 1
