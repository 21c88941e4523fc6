"""The model-based agent's training loop (agents/dreamer/train.py) end to end: replay rows against
a hand-written Catch, stored carries against `observe_step`, one jitted iteration of the s4wm and
the rssm on discrete and continuous tasks, tracing once, vmap over seeds, the skipped training
before the ring holds a window, config validation and checkpointability.

Each program is compiled once (module fixtures share them), with the agent's own compiler options
(`agents.common.compile.jit`).
"""

import dataclasses
import math

import chex
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from agents.common import no_split
from agents.common.compile import jit
from agents.dreamer.config import DreamerConfig
from agents.dreamer.features import reader
from agents.dreamer.replay import ReplayConfig
from agents.dreamer.return_norm import init_return_scale
from agents.dreamer.train import (
    Acting,
    Branches,
    Imagined,
    action_values,
    backbone_actions,
    branch_weights,
    explore_first,
    first_row_weights,
    first_rows_mean,
    imagine,
    imagine_branches,
    make_act,
    make_agent,
    make_heads,
    make_train_step,
    next_rows,
    on_rows,
    policy_of,
    replay_returns,
    replayed_terms,
)
from agents.world_model import make_optimizer
from rlssm.world_models import Batch, TwoHotReward
from rlssm.world_models.latents import reward_for

TINY = {
    "num_envs": 2,
    "act_steps": 8,
    "total_timesteps": 64,
    "train_ratio": 0.5,
    "core_size": 8,
    "state_size": 4,
    "hidden_size": 8,
    "latent_groups": 2,
    "latent_classes": 4,
    "head_layers": 1,
    "value_bins": 15,
    "replay": ReplayConfig(capacity=32, length=4, context="stored"),
    "batch_size": 2,
    "horizon": 3,
}

# Metrics of the training phase (NaN while the ring holds no window).
TRAINING = (
    "wm_loss",
    "wm_grad_norm",
    "actor_loss",
    "actor_grad_norm",
    "entropy",
    "critic_loss",
    "critic_grad_norm",
    "value",
    "return_scale",
    "imagined_return",
)


def tiny(env_name: str, **overrides) -> DreamerConfig:
    return DreamerConfig(env_name=env_name, **{**TINY, **overrides})


def compiled(fn):
    return jit(fn)


def host(tree):
    """`tree` as NumPy arrays (PRNG keys as their data)."""

    def to_numpy(x):
        if jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key):
            x = jax.random.key_data(x)
        return np.asarray(x)

    return jax.tree.map(to_numpy, tree)


def leaves_equal(a, b) -> bool:
    return all(
        np.array_equal(x, y)
        for x, y in zip(jax.tree.leaves(host(a)), jax.tree.leaves(host(b)), strict=True)
    )


def avals(tree) -> list:
    """`(shape, dtype, weak_type)` of every leaf (arrays or `jax.ShapeDtypeStruct`s)."""

    def aval(x):
        weak = x.weak_type if isinstance(x, jax.ShapeDtypeStruct) else jax.typeof(x).weak_type
        return x.shape, str(x.dtype), weak

    return [aval(leaf) for leaf in jax.tree.leaves(tree)]


# ---------------------------------------------------------------------------------------------
# Catch: episodes of exactly 9 steps ending by termination with reward +-1, fully observable, so
# a few lines of NumPy replay every transition. 3 envs x 6 iterations x 8 steps fill the ring
# of 48 rows exactly; windows of 4 burn-in + 8 steps make the first iteration skip training.

CATCH = tiny(
    "Catch-bsuite",
    num_envs=3,
    replay=ReplayConfig(capacity=48, length=8, burn_in=4, context="stored"),
    total_timesteps=3 * 8 * 6,
    reward_scale=2.0,  # the replay holds 2x the rewards; the episode statistics stay unscaled
)
ROWS, COLUMNS = 10, 5


@pytest.fixture(scope="module")
def catch():
    """The agent, its jitted update (traced at most once) and the states and metrics of six
    iterations from init (`states[i]` after `i` iterations)."""
    assert CATCH.num_iterations == 6 and CATCH.updates_per_iteration == 1
    agent = make_agent(CATCH)
    update = jit(chex.assert_max_traces(agent.update, n=1))
    states = [compiled(agent.init)(jax.random.key(0))]
    metrics = []
    for _ in range(CATCH.num_iterations):
        state, iteration_metrics = update(states[-1])
        states.append(state)
        metrics.append(jax.device_get(iteration_metrics))
    return agent, update, states, metrics


def time_order(ring, state):
    """Ring rows `[capacity, B, ...]` in time order, oldest first."""
    count, position = int(state.replay.count), int(state.replay.position)
    capacity = ring.shape[0]
    return np.asarray(ring)[(position - count + np.arange(count)) % capacity]


def rows_with_next(state):
    """Every written row in time order plus the row waiting in `acting` (not yet filtered):
    `(obs [T+1, B, D], action, reward, terminated, start [T+1, B])`."""
    data, acting = state.replay.data, state.acting
    fields = ("obs", "action", "reward", "terminated", "start")
    return tuple(
        np.concatenate([time_order(getattr(data, f), state), np.asarray(getattr(acting, f))[None]])
        for f in fields
    )


def catch_grid(ball_x, ball_y, paddle_x):
    grid = np.zeros((ROWS, COLUMNS), np.float32)
    grid[ball_y, ball_x] = 1.0
    grid[ROWS - 1, paddle_x] = 1.0
    return grid.reshape(-1)


def catch_state(obs):
    """`(ball_x, ball_y, paddle_x)` of a Catch observation whose ball is above the paddle row."""
    grid = obs.reshape(ROWS, COLUMNS)
    ball_y, ball_x = np.argwhere(grid[: ROWS - 1] == 1.0)[0]
    return int(ball_x), int(ball_y), int(np.argmax(grid[ROWS - 1]))


def test_rows_follow_the_world_model_convention_on_catch(catch):
    _, _, states, metrics = catch
    final = states[-1]
    assert int(final.replay.count) == CATCH.replay.capacity  # nothing overwritten yet
    obs, action, reward, terminated, start = rows_with_next(final)
    first_obs = np.asarray(states[0].acting.obs)
    ends = 0
    for env in range(CATCH.num_envs):
        # The first row: init's reset observation, an episode start.
        np.testing.assert_array_equal(obs[0, env], first_obs[env])
        assert start[0, env] and not terminated[0, env]
        assert action[0, env] == 0 and reward[0, env] == 0.0
        ball_x, ball_y, paddle_x = catch_state(obs[0, env])
        for t in range(1, obs.shape[0]):
            where = f"env {env}, row {t}"
            if terminated[t - 1, env]:
                # The auto-reset observation, as a row of its own: ball on top, paddle centred.
                assert start[t, env], where
                assert action[t, env] == 0 and reward[t, env] == 0.0, where
                assert not terminated[t, env], where
                ball_x, ball_y, paddle_x = catch_state(obs[t, env])
                assert (ball_y, paddle_x) == (0, COLUMNS // 2), where
                np.testing.assert_array_equal(obs[t, env], catch_grid(ball_x, 0, paddle_x), where)
                continue
            # A step of the environment with the row's action, from the row before.
            paddle_x = int(np.clip(paddle_x + int(action[t, env]) - 1, 0, COLUMNS - 1))
            ball_y += 1
            done = ball_y == ROWS - 1
            expected_reward = (2.0 if ball_x == paddle_x else -2.0) if done else 0.0
            assert not start[t, env], where
            np.testing.assert_array_equal(obs[t, env], catch_grid(ball_x, ball_y, paddle_x), where)
            assert reward[t, env] == expected_reward, where
            assert terminated[t, env] == done, where
            ends += done
    assert ends == 4 * CATCH.num_envs  # rows 9, 19, 29 and 39 of each env: 9-step episodes

    # Episode statistics: iteration i produced rows i*K+1 .. (i+1)*K (the last one in acting).
    K = CATCH.act_steps
    for i, iteration in enumerate(metrics):
        produced = slice(i * K + 1, (i + 1) * K + 1)
        ended = terminated[produced]
        assert iteration["episodes"] == ended.sum(), i
        if ended.any():
            returns = reward[produced][ended] / CATCH.reward_scale
            np.testing.assert_allclose(iteration["return_mean"], returns.mean())
            assert iteration["length_mean"] == ROWS - 1


def test_next_rows_ends_an_episode_then_writes_the_reset_row():
    # Env 0 terminates, env 1 is truncated, env 2 steps on.
    B = 3
    acting = Acting(
        env_state=jnp.arange(B) * 10,
        obs=jnp.zeros((B, 2)),
        action=jnp.zeros((B,), jnp.int32),
        reward=jnp.zeros((B,)),
        terminated=jnp.zeros((B,), bool),
        start=jnp.zeros((B,), bool),
        ended=jnp.zeros((B,), bool),
        reset_obs=jnp.zeros((B, 2)),
        carry=jnp.zeros((B,)),
    )
    final_obs = jnp.array([[1.0, 1.0], [2.0, 2.0], [3.0, 3.0]])
    reset_obs = jnp.array([[-1.0, -1.0], [-2.0, -2.0], [3.0, 3.0]])
    action = jnp.array([1, 2, 1], jnp.int32)
    terminated = jnp.array([True, False, False])
    truncated = jnp.array([False, True, False])
    info = {"final_observation": final_obs}
    after = next_rows(
        acting, jnp.ones((B,)), action, reset_obs, jnp.arange(B) + 1, jnp.array([5.0, 6.0, 7.0]),
        terminated, truncated, info,
    )  # fmt: skip
    np.testing.assert_array_equal(after.obs, final_obs)  # the last observations, not the resets
    np.testing.assert_array_equal(after.reward, [5.0, 6.0, 7.0])
    np.testing.assert_array_equal(after.terminated, [True, False, False])  # truncation is no end
    np.testing.assert_array_equal(after.start, [False, False, False])
    np.testing.assert_array_equal(after.ended, [True, True, False])
    np.testing.assert_array_equal(after.action, action)
    np.testing.assert_array_equal(after.env_state, [1, 2, 3])
    np.testing.assert_array_equal(after.carry, 1.0)

    # The next step: envs 0 and 1 hold (their step is discarded) and write the reset rows.
    step_obs = jnp.array([[9.0, 9.0], [9.0, 9.0], [4.0, 4.0]])
    again = next_rows(
        after, jnp.full((B,), 2.0), jnp.array([2, 2, 2], jnp.int32), step_obs,
        jnp.arange(B) + 100, jnp.array([8.0, 8.0, 8.0]), jnp.zeros((B,), bool),
        jnp.zeros((B,), bool), {"final_observation": step_obs},
    )  # fmt: skip
    np.testing.assert_array_equal(again.obs, [[-1.0, -1.0], [-2.0, -2.0], [4.0, 4.0]])
    np.testing.assert_array_equal(again.start, [True, True, False])
    np.testing.assert_array_equal(again.action, [0, 0, 2])
    np.testing.assert_array_equal(again.reward, [0.0, 0.0, 8.0])
    np.testing.assert_array_equal(again.terminated, [False, False, False])
    np.testing.assert_array_equal(again.ended, [False, False, False])
    np.testing.assert_array_equal(again.env_state, [1, 2, 102])  # held, held, stepped
    np.testing.assert_array_equal(again.carry, 2.0)


def test_stored_carry_is_the_filters_carry_before_each_row(catch):
    # The carry stored with row t must be the one the filter held before obs[t]: the initial
    # carry at the first row, and at row t + 1 observe_step's output on row t from the stored
    # carry of row t, with the parameters that acted in that iteration (the last row's output is
    # the carry in `acting`). The latent sample of a step depends on the acting key, so only
    # the backbone carry and `deter` are recomputed; the stored `stoch` of row t + 1 enters the
    # backbone input of row t + 1, so a wrong one shows in `deter` of row t + 2.
    agent, _, states, _ = catch
    final = states[-1]
    K, B = CATCH.act_steps, CATCH.num_envs
    stored = jax.tree.map(lambda ring: time_order(ring, final), final.replay.carry)
    after_last = jax.tree.map(lambda x: np.asarray(x)[None], final.acting.carry)
    stored_next = jax.tree.map(lambda s, a: np.concatenate([s[1:], a]), stored, after_last)
    data = final.replay.data
    obs, action, start = (time_order(getattr(data, f), final) for f in ("obs", "action", "start"))
    initial = agent.model.initial_carry(B)
    assert leaves_equal(jax.tree.map(lambda x: x[0], stored), initial)

    def flat(x):
        return jnp.asarray(x).reshape(K * B, *x.shape[2:])

    @compiled
    def filtered(params, carry, obs, action, start):
        carry, _, _ = agent.model.observe_step(params, carry, obs, action, start, jax.random.key(0))
        return carry

    for i in range(CATCH.num_iterations):
        rows = slice(i * K, (i + 1) * K)
        carry, expected = (
            jax.tree.map(lambda x, r=rows: flat(x[r]), c) for c in (stored, stored_next)
        )
        out = filtered(
            states[i].world_model.params,
            carry,
            flat(obs[rows]),
            flat(action[rows]),
            flat(start[rows]),
        )
        for got, want in zip(
            jax.tree.leaves(out.core), jax.tree.leaves(expected.core), strict=True
        ):
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5, err_msg=f"iteration {i}")
        np.testing.assert_allclose(
            out.state.deter, expected.state.deter, rtol=1e-5, atol=1e-5, err_msg=f"iteration {i}"
        )


def test_training_waits_for_a_window_then_changes_the_parameters(catch):
    _, _, states, metrics = catch
    learnt = ("world_model", "actor", "critic", "slow_critic", "return_scale")
    # Iteration 1: 8 rows per env, windows need 12: the skip branch.
    assert int(states[1].replay.count) < CATCH.replay.window
    for name in TRAINING:
        assert np.isnan(metrics[0][name]), name
    assert metrics[0]["nonfinite"] == 0 and metrics[0]["nonfinite_streak"] == 0
    for name in learnt:
        assert leaves_equal(getattr(states[0], name), getattr(states[1], name)), name
    assert not leaves_equal(states[0].replay, states[1].replay)
    # Iteration 2 on: trained on replayed windows, every update finite.
    for i in range(1, CATCH.num_iterations):
        for name in TRAINING:
            assert np.isfinite(metrics[i][name]), (i, name)
        assert metrics[i]["nonfinite"] == 0
        # Catch's episodes are shorter than a window: every update has first rows.
        assert 0 < metrics[i]["reset_entropy"] <= np.log(3) + 1e-6, i
        for name in ("world_model", "actor", "critic"):
            before, after = getattr(states[i], name), getattr(states[i + 1], name)
            assert not leaves_equal(before.params, after.params), (i, name)
            assert int(after.step) == i * CATCH.updates_per_iteration, (i, name)


def test_the_reset_entropy_is_the_mean_over_the_first_rows_only():
    entropy = jnp.array([1.0, 2.0, 4.0, 8.0])
    assert first_rows_mean(entropy, jnp.array([1.0, 0.0, 1.0, 0.0])) == 2.5
    assert np.isnan(first_rows_mean(entropy, jnp.zeros(4)))


def loop_replay_returns(value, reward, terminated, start, gamma, lambda_):
    """`replay_returns` by a backward Python loop over one column of rows."""
    count = len(value)
    returns = [0.0] * count
    returns[-1] = value[-1]
    for t in reversed(range(count - 1)):
        if start[t + 1]:  # row t is its episode's last: the return is its value
            returns[t] = value[t]
        elif terminated[t + 1]:
            returns[t] = reward[t + 1]
        else:
            later = (1 - lambda_) * value[t + 1] + lambda_ * returns[t + 1]
            returns[t] = reward[t + 1] + gamma * later
    return returns[:-1], [0.0 if start[t + 1] else 1.0 for t in range(count - 1)]


def test_replayed_returns_follow_the_rows_against_a_python_loop():
    # Two columns of 7 rows: a terminal row 2 then a reset row 3; a truncated episode (row 4
    # not terminal, row 5 a reset); and an episode running through.
    value = np.array([[0.5, 1.0], [0.2, -0.3], [0.9, 0.4], [0.1, 0.0], [0.7, 0.6], [0.3, 0.2],
                      [0.4, -0.5]], np.float32)  # fmt: skip
    reward = np.array([[0, 0], [1, 0.5], [2, -1], [0, 2], [3, 1], [0, 0], [1, 4]], np.float32)
    terminated = np.zeros((7, 2), bool)
    terminated[2, 0] = True
    start = np.zeros((7, 2), bool)
    start[[3, 5], 0] = True
    batch = Batch(reward, reward, reward, terminated, start)  # obs and action are not read
    returns, weight = replay_returns(jnp.asarray(value), batch, 0.9, 0.8)
    for column in range(2):
        want = loop_replay_returns(
            value[:, column], reward[:, column], terminated[:, column], start[:, column], 0.9, 0.8
        )
        np.testing.assert_allclose(returns[:, column], want[0], rtol=1e-6)
        np.testing.assert_allclose(weight[:, column], want[1])
    assert weight[:, 0].tolist() == [1, 1, 0, 1, 0, 1]


def test_the_first_rows_weight_scales_their_start_states_only():
    weight = jnp.array([[1.0, 1.0, 0.0], [0.9, 0.5, 0.0]])
    got = first_row_weights(weight, jnp.array([1.0, 0.0, 1.0]), 15.0)
    np.testing.assert_allclose(got, [[15.0, 1.0, 0.0], [0.9, 0.5, 0.0]])
    np.testing.assert_array_equal(first_row_weights(weight, jnp.ones(3), 1.0), weight)


def test_the_replay_term_reads_the_starts_in_row_order():
    # The starts are the windows' rows flattened time-major (`N = T b`): row t of window j is
    # start t * b + j, and its action is row t + 1's.
    time, windows = 3, 2
    value = jnp.arange(6.0)
    features = jnp.stack([value, -value], -1)
    action = jnp.arange(6).reshape(time, windows)
    no = jnp.zeros((time, windows), bool)
    batch = Batch(jnp.zeros((time, windows, 1)), action, jnp.zeros((time, windows)), no, no)
    config = tiny("RepeatPreviousEasy", lambda_=0.0, gamma=1.0)
    got = replayed_terms(config, features, value, batch, init_return_scale())
    np.testing.assert_array_equal(got.features[..., 0], [[0, 1], [2, 3]])
    np.testing.assert_array_equal(got.action, [[2, 3], [4, 5]])
    # One-step returns without rewards: R_t = v(s_{t+1}), so the advantage is v(t+1) - v(t).
    np.testing.assert_allclose(got.advantage, [[2, 2], [2, 2]])
    assert replayed_terms(config, features, value, None, init_return_scale()) is None


@pytest.mark.parametrize("overrides", [{"actor_replay_scale": 1.0}, {"first_row_weight": 15.0}])
def test_the_actors_own_options_train_the_actor_alone(catch, overrides):
    """One iteration from the same state with and without the replay term or the first rows'
    weight: the same world model and critic, another actor."""
    _, _, states, _ = catch
    with_term = make_agent(dataclasses.replace(CATCH, **overrides))
    new, metrics = compiled(with_term.update)(states[1])
    check_iteration(with_term.config, states[1], new, jax.device_get(metrics))
    for name in ("world_model", "critic"):
        assert leaves_equal(getattr(new, name).params, getattr(states[2], name).params), name
    assert not leaves_equal(new.actor.params, states[2].actor.params)


def test_update_is_traced_once(catch):
    _, update, states, _ = catch
    # The fixture ran six iterations under chex.assert_max_traces(n=1): three more, from the
    # state of init, of the skip branch and of the last one, neither trace nor compile again.
    for state in (states[0], states[1], states[-1]):
        jax.block_until_ready(update(state))
    assert update._cache_size() == 1
    assert avals(states[0]) == avals(states[-1])


@pytest.mark.slow
def test_imagination_from_terminal_states_gets_no_weight(catch):
    # Windows of terminal rows only: every imagined trajectory starts past an episode's end,
    # which the world model never saw, so the actor and critic losses (weighted means) are 0
    # and so are their gradients; the world model still trains. The ring as it is: not 0.
    agent, _, states, _ = catch
    config = agent.config
    optimizers = tuple(
        make_optimizer(lr, config.grad_clip)
        for lr in (config.model_lr, config.actor_lr, config.critic_lr)
    )
    actor, critic = make_heads(config, agent.spec)
    train_step = compiled(
        make_train_step(config, agent.spec, agent.model, actor, critic, optimizers, no_split)
    )
    state = states[-1]
    terminal = state._replace(
        replay=state.replay._replace(
            data=state.replay.data._replace(terminated=jnp.ones_like(state.replay.data.terminated))
        )
    )
    key = jax.random.key(5)
    _, metrics = jax.device_get(train_step(terminal, key))
    for name in ("actor_loss", "actor_grad_norm", "critic_loss", "critic_grad_norm"):
        assert metrics[name] == 0.0, name
    assert metrics["wm_grad_norm"] > 0
    _, metrics = jax.device_get(train_step(state, key))
    for name in ("actor_loss", "critic_loss", "critic_grad_norm"):
        assert metrics[name] != 0.0, name


def noisy(params, seed=0):
    """`params` plus N(0, 0.3) on every leaf."""
    leaves, tree = jax.tree.flatten(params)
    keys = jax.random.split(jax.random.key(seed), len(leaves))
    noise = [
        0.3 * jax.random.normal(k, x.shape, x.dtype) for k, x in zip(keys, leaves, strict=True)
    ]
    return jax.tree.unflatten(tree, [x + n for x, n in zip(leaves, noise, strict=True)])


def test_action_values_imagine_every_action_one_step(catch):
    # q[n, a] = reward + gamma * continue * v(next state) after one prior step under action a
    # from start n, against a loop over the actions through the net's own step and heads (the
    # same latent draw for every action: the step's key, as `imagine` splits it).
    agent, _, states, _ = catch
    config, model, spec = agent.config, agent.model, agent.spec
    _, critic = make_heads(config, spec)
    # Parameters moved off their (zero-output) initial heads, so rewards and values are not ~0.
    params, critic_params = (
        noisy(p) for p in (states[-1].world_model.params, states[-1].critic.params)
    )
    starts, key = states[-1].acting.carry, jax.random.key(7)
    q = action_values(config, spec, model, critic, params, critic_params, starts, key)
    assert q.shape == (config.num_envs, spec.action_dim)
    draw = jax.random.split(key, 1)[0]
    values = TwoHotReward(config.value_bins)
    for a in range(spec.action_dim):
        action = jax.nn.one_hot(jnp.full((config.num_envs,), a), spec.action_dim)
        _, latent, _ = model.net().apply(params, starts, action, draw, method="imagine_step")
        heads = model.predict(params, latent)
        reward = reward_for(model.config).mean(heads.reward)
        continues = jax.nn.sigmoid(heads.continue_logit)
        value = values.mean(critic.apply(critic_params, latent.features))
        assert np.abs(reward).min() > 0.01 and np.abs(value).min() > 0.01
        np.testing.assert_allclose(q[:, a], reward + config.gamma * continues * value, rtol=1e-5)
    assert not np.allclose(q[:, 0], q[:, 1])  # the actions differ where the paddle moves


def updated_with(catch, **overrides):
    """The catch fixture's last state after one train step of its config with `overrides`."""
    agent, _, states, _ = catch
    config = dataclasses.replace(agent.config, **overrides)
    optimizers = tuple(
        make_optimizer(lr, config.grad_clip)
        for lr in (config.model_lr, config.actor_lr, config.critic_lr)
    )
    actor, critic = make_heads(config, agent.spec)
    step = make_train_step(config, agent.spec, agent.model, actor, critic, optimizers, no_split)
    return jax.device_get(compiled(step)(states[-1], jax.random.key(5)))


def branch_args(catch, first, slots):
    """`imagine_branches`' arguments on the catch fixture's last acting carries (3 starts)."""
    agent, _, states, _ = catch
    config = dataclasses.replace(agent.config, actor_gradient="target", first_branches=slots)
    state = states[-1]
    params = (noisy(state.world_model.params), state.actor.params, state.acting.carry)
    return config, agent, (*params, jnp.asarray(first), jax.random.key(3))


def test_branches_open_every_first_action_from_the_first_rows(catch):
    # Every start opens an episode and there are as many slots: the branches' first step is
    # `action_values`' one step (the same draw), action-major, and the actor's steps follow.
    config, agent, args = branch_args(catch, [1.0, 1.0, 1.0], 3)
    actor, critic = make_heads(config, agent.spec)
    branches = imagine_branches(config, agent.spec, agent.model, actor, *args)
    np.testing.assert_array_equal(branches.index, [0, 1, 2])
    actions, slots, horizon = agent.spec.action_dim, 3, config.horizon
    traj = branches.traj
    assert traj.features.shape[:2] == (horizon + 1, actions * slots)
    assert traj.reward.shape == traj.continues.shape == traj.action.shape == (horizon, 9)
    np.testing.assert_array_equal(traj.action[0], np.repeat(np.arange(actions), slots))
    wm_params, _, starts, _, key = args
    step_key = jax.random.split(key)[0]
    critic_params = noisy(catch[2][-1].critic.params, 1)
    heads = (agent.model, critic, wm_params, critic_params, starts, step_key)
    q = action_values(config, agent.spec, *heads)
    value = TwoHotReward(config.value_bins).mean(on_rows(critic, critic_params, traj.features[1]))
    one_step = traj.reward[0] + config.gamma * traj.continues[0] * value
    np.testing.assert_allclose(one_step.reshape(actions, slots).T, q, rtol=1e-5)
    features = reader(config.features, config.first_flag)(starts)
    np.testing.assert_array_equal(traj.features[0], jnp.tile(features, (actions, 1)))


def test_branches_take_the_first_rows_in_order_and_mark_unused_slots(catch):
    config, agent, args = branch_args(catch, [0.0, 1.0, 0.0], 2)
    actor, _ = make_heads(config, agent.spec)
    branches = imagine_branches(config, agent.spec, agent.model, actor, *args)
    np.testing.assert_array_equal(branches.index, [1, 3])  # 3: no start, unused
    starts = reader(config.features, config.first_flag)(args[2])
    np.testing.assert_array_equal(branches.traj.features[0, 0::2], jnp.tile(starts[1], (3, 1)))


def test_branch_weights_drop_unused_slots_and_the_branches_starts():
    # N = 3 starts, A = 2 actions, M = 2 slots (start 2 branched, one slot unused), horizon 2:
    # columns 0-2 the starts' trajectories, then a M + m.
    weight = jnp.arange(1.0, 15.0).reshape(2, 7)
    traj = Imagined(jnp.zeros((3, 4, 1)), jnp.zeros((2, 4)), jnp.zeros((2, 4)), jnp.zeros((2, 4)))
    w = branch_weights(weight, 3, Branches(traj, jnp.array([2, 3])))
    np.testing.assert_array_equal(w, [[1, 2, 3, 0, 0, 0, 0], [8, 9, 10, 11, 0, 13, 0]])


def test_first_branches_train_the_critic_alone(catch):
    # The same state and key: the branches add rows to the critic's loss; the world model, the
    # starts' trajectories and the actor's update (from the critic before this step) stay.
    replayed_first = np.asarray(catch[2][-1].replay.data.start).any()
    assert replayed_first  # the ring holds episode starts, so some windows have first rows
    plain, _ = updated_with(catch, actor_gradient="target", start_gradient_rows="first")
    branched, metrics = updated_with(
        catch, actor_gradient="target", start_gradient_rows="first", first_branches=4
    )
    assert leaves_equal(plain.world_model.params, branched.world_model.params)
    assert leaves_equal(plain.actor.params, branched.actor.params)
    assert not leaves_equal(plain.critic.params, branched.critic.params)
    assert np.isfinite(metrics["critic_loss"]) and np.isfinite(metrics["actor_loss"])


def test_action_relabel_permutes_whole_windows_at_its_rate(catch):
    # 4,000 windows, each holding every action once: at rate 0.5 about half are relabelled
    # (a permutation other than the identity in 23 of 24), each by one permutation of its
    # own; the others, and the off switch, keep the taken actions.
    agent, *_ = catch
    actions, windows = agent.spec.action_dim, 4000
    taken = jax.vmap(lambda k: jax.random.permutation(k, actions))(
        jax.random.split(jax.random.key(1), windows)
    ).T.astype(jnp.int32)  # [T = A, windows]
    batch = Batch(jnp.zeros((actions, windows, 1)), taken, *(jnp.zeros((actions, windows)),) * 3)
    assert backbone_actions(agent.config, agent.spec, batch, jax.random.key(0)) is None
    config = dataclasses.replace(agent.config, action_relabel=0.5)
    fed = np.asarray(backbone_actions(config, agent.spec, batch, jax.random.key(0)))
    taken = np.asarray(taken)
    assert fed.shape == taken.shape and fed.dtype == taken.dtype
    changed = (fed != taken).any(0)
    expected = 0.5 * (1 - 1 / math.factorial(actions))
    assert abs(changed.mean() - expected) < 0.03, changed.mean()
    for column in range(50):  # a bijection per window: every action still once
        assert sorted(fed[:, column]) == list(range(actions))
    perms = {tuple(fed[np.argsort(taken[:, c]), c]) for c in np.flatnonzero(changed)}
    assert len(perms) == math.factorial(actions) - 1  # each window draws its own


def test_action_relabel_changes_the_world_models_update_and_the_starts(catch):
    # The same state and key: the backbone reads other actions, so the world model's update
    # differs, and the actor and critic (trained from the filter's starts) differ too.
    plain, _ = updated_with(catch)
    noisy, metrics = updated_with(catch, action_relabel=0.5)
    assert not leaves_equal(plain.world_model.params, noisy.world_model.params)
    assert not leaves_equal(plain.critic.params, noisy.critic.params)
    assert np.isfinite(metrics["wm_loss"]) and np.isfinite(metrics["critic_loss"])


@pytest.mark.parametrize("start_gradient", ["expected", "target"])
def test_start_gradients_train_the_actor_differently(catch, start_gradient):
    # The same state and key: the start states' term changes the actor's update (and only
    # the actor's: the world model and the critic see the same data).
    reinforce, _ = updated_with(catch, actor_gradient="reinforce")
    changed, metrics = updated_with(catch, actor_gradient=start_gradient)
    assert leaves_equal(reinforce.world_model.params, changed.world_model.params)
    assert leaves_equal(reinforce.critic.params, changed.critic.params)
    assert not leaves_equal(reinforce.actor.params, changed.actor.params)
    assert np.isfinite(metrics["actor_loss"]) and metrics["actor_grad_norm"] > 0
    if start_gradient == "target":  # at the first rows only: unlike both
        first_rows, _ = updated_with(catch, actor_gradient="target", start_gradient_rows="first")
        assert not leaves_equal(first_rows.actor.params, changed.actor.params)
        assert not leaves_equal(first_rows.actor.params, reinforce.actor.params)


@pytest.mark.parametrize(
    "overrides",
    [
        {"actor_gradient": "expected"},
        {"actor_gradient": "target"},
        {"first_explore": 0.1},
        {"action_relabel": 0.25},
    ],
)
def test_discrete_only_options_on_continuous_actions_fail_before_compiling(overrides):
    with pytest.raises(ValueError, match="discrete") as error:
        make_agent(tiny("Pendulum-v1", **overrides))
    assert "\n" not in str(error.value)


# ---------------------------------------------------------------------------------------------
# One jitted iteration of each world-model family (s4wm on Catch above, rssm below) and action
# space; windows of 4 fit in the 8 steps of the first iteration, so it trains.


def check_iteration(config, state, new_state, metrics):
    """An iteration that trained: shapes kept, finite scalar metrics, parameters changed."""
    chex.assert_trees_all_equal_shapes_and_dtypes(state, new_state)
    assert int(new_state.update) == int(state.update) + 1
    assert int(new_state.replay.count) == int(state.replay.count) + config.act_steps
    for name in TRAINING:
        assert np.shape(metrics[name]) == (), name
        assert np.isfinite(metrics[name]), name
    assert int(metrics["nonfinite"]) == 0
    steps = int(state.world_model.step) + config.updates_per_iteration
    assert int(new_state.world_model.step) == steps
    for name in ("world_model", "actor", "critic"):
        before, after = getattr(state, name).params, getattr(new_state, name).params
        assert not leaves_equal(before, after), name


def test_catch_iterations_train_the_s4wm(catch):
    _, _, states, metrics = catch
    check_iteration(CATCH, states[1], states[2], metrics[1])


RSSM = tiny(
    "RepeatPreviousEasy",
    model="rssm",
    core="gru",
    replay=ReplayConfig(capacity=32, length=4, context="episode_start"),
)


@pytest.fixture(scope="module")
def rssm_seeds():
    """Two seeds of the rssm: init and one iteration, both vmapped."""
    agent = make_agent(RSSM)
    keys = jax.random.split(jax.random.key(2), 2)
    states = compiled(jax.vmap(agent.init))(keys)
    new_states, metrics = compiled(jax.vmap(agent.update))(states)
    return states, new_states, jax.device_get(metrics)


@pytest.mark.slow  # its own compile; vmap over seeds is also run by the command line's 2 seeds
def test_rssm_iterations_vmap_over_seeds(rssm_seeds):
    config = RSSM
    states, new_states, metrics = rssm_seeds
    for seed in range(2):
        state, new_state = (jax.tree.map(lambda x, s=seed: x[s], s) for s in (states, new_states))
        check_iteration(config, state, new_state, jax.tree.map(lambda x, s=seed: x[s], metrics))
    # The seeds differ: parameters, what they met and the losses.
    params = states.world_model.params
    assert not leaves_equal(*(jax.tree.map(lambda x, s=s: x[s], params) for s in range(2)))
    replayed = new_states.replay.data.obs
    assert not np.array_equal(replayed[0], replayed[1])
    for name in ("wm_loss", "actor_loss", "critic_loss"):
        assert metrics[name][0] != metrics[name][1], name


@pytest.fixture(scope="module")
def pendulum():
    """Pendulum with dynamics backpropagation and no entropy bonus: the actor's gradient comes
    from the returns alone; actor and critic read R2I's full state (Catch covers "output")."""
    config = tiny("Pendulum-v1", actor_gradient="backprop", entropy_coef=0.0, features="full")
    agent = make_agent(config)
    state = compiled(agent.init)(jax.random.key(3))
    new_state, metrics = compiled(agent.update)(state)
    return agent, state, new_state, jax.device_get(metrics)


def test_iteration_on_a_continuous_task_backpropagates_through_the_dynamics(pendulum):
    agent, state, new_state, metrics = pendulum
    check_iteration(agent.config, state, new_state, metrics)
    assert metrics["actor_grad_norm"] > 0  # no entropy bonus: only the returns' gradient
    assert metrics["entropy"] != 0


def test_full_state_features_feed_actor_and_critic(pendulum):
    # S5 (state size 4: 2 complex states per layer) adds real and imaginary parts to z and h.
    agent, state, _, _ = pendulum
    model = agent.model.config
    width = model.stoch_size + model.deter_size + 2 * 2 * agent.config.core_layers
    for name in ("actor", "critic"):
        kernels = [x for x in jax.tree.leaves(getattr(state, name).params) if x.ndim == 2]
        assert kernels[0].shape[0] == width, name


class FlagActor(nn.Module):
    """Logits `[100 * f, 0, 0]` of the last feature `f`: action 0 where it is 1, else uniform."""

    @nn.compact
    def __call__(self, x):
        zero = jnp.zeros(x.shape[:1])
        return jnp.stack([100.0 * x[:, -1], zero, zero], -1)


def acted_first_and_other(catch, actor: nn.Module, **overrides):
    """40 acting steps on Catch (9-step episodes, so first steps and others) with a parameterless
    `actor`, unimix 0: `(actions taken on first steps, actions taken on the other steps)`. The
    action taken in row t is row t + 1's (unless row t + 1 is a held reset row)."""
    agent, _, states, _ = catch
    config = dataclasses.replace(agent.config, actor_unimix=0.0, act_steps=40, **overrides)
    act = make_act(config, agent.spec, agent.model, actor)
    state = states[0]._replace(actor=states[0].actor._replace(params={}))
    _, rows, *_ = compiled(act)(state)
    start, action = np.asarray(rows.start), np.asarray(rows.action)
    return action[1:][start[:-1]], action[1:][~start[:-1] & ~start[1:]]


def test_the_first_flag_marks_the_acting_steps_that_open_an_episode(catch):
    after_first, after_other = acted_first_and_other(catch, FlagActor(), first_flag=True)
    assert after_first.size >= 6 and (after_first == 0).all()
    assert after_other.size > 60 and set(after_other.tolist()) == {0, 1, 2}


class SureActor(nn.Module):
    """Logits `[100, 0, 0]` on every row: action 0, whatever the features."""

    @nn.compact
    def __call__(self, x):
        return jnp.zeros((x.shape[0], 3)).at[:, 0].set(100.0)


@pytest.mark.parametrize("rate", [0.0, 1.0])
def test_first_explore_swaps_only_the_first_actions(catch, rate):
    # A sure actor answers 0 everywhere; with `first_explore` 1 every first step's action is a
    # uniform one (so some are 1 or 2 among Catch's 9-step episodes), and no other step's.
    after_first, after_other = acted_first_and_other(catch, SureActor(), first_explore=rate)
    assert after_first.size >= 6 and after_other.size > 60
    assert (after_other == 0).all()
    assert (after_first != 0).any() == (rate == 1.0)


def test_explore_first_swaps_at_its_rate_on_first_steps_alone():
    # 20,000 environments, half on a first step: there about rate x (A - 1) / A change, and the
    # swapped ones spread over every action; elsewhere none.
    envs, actions, rate = 20_000, 4, 0.3
    start = jnp.arange(envs) % 2 == 0
    action = jnp.full((envs,), 2, jnp.int32)
    out = np.asarray(explore_first(jax.random.key(0), action, start, actions, rate))
    start = np.asarray(start)
    assert out.dtype == np.int32 and (out[~start] == 2).all()
    changed = (out[start] != 2).mean()
    assert abs(changed - rate * (actions - 1) / actions) < 0.015, changed
    assert set(out[start].tolist()) == set(range(actions))


def test_the_first_flag_marks_the_imagination_starts_that_open_an_episode(catch):
    # The starts' features end with `first`, the imagined states' with 0; the rest as without.
    agent, _, states, _ = catch
    state, key = states[-1], jax.random.key(1)
    starts, params = state.acting.carry, state.world_model.params  # 3 carries, one per env
    config = dataclasses.replace(agent.config, first_flag=True)
    actor, _ = make_heads(config, agent.spec)
    actor_params = actor.init(key, reader(config.features, True)(starts))
    first = jnp.array([1.0, 0.0, 1.0])
    traj = imagine(config, agent.spec, agent.model, actor, params, actor_params, starts, key, first)
    np.testing.assert_array_equal(traj.features[0, :, -1], first)
    np.testing.assert_array_equal(traj.features[1:, :, -1], 0.0)
    plain_actor, _ = make_heads(agent.config, agent.spec)
    plain = imagine(agent.config, agent.spec, agent.model, plain_actor, params,
                    state.actor.params, starts, key)  # fmt: skip
    np.testing.assert_array_equal(traj.features[0, :, :-1], plain.features[0])


def test_the_first_step_head_trains_on_catch():
    # The actor of `first_head`, its first-step network at a rate of its own: the iterations
    # that train (all but the first, whose windows do not fit yet) move both networks, the
    # first step's from the replayed first rows (Catch's 9-step episodes put some in every
    # window).
    config = dataclasses.replace(CATCH, first_flag=True, first_head=True, first_head_lr=3e-3)
    agent = make_agent(config)
    state = compiled(agent.init)(jax.random.key(0))
    start = state
    for _ in range(3):
        state, metrics = compiled(agent.update)(state)
    assert int(jax.device_get(metrics)["nonfinite"]) == 0
    for network in ("later", "first"):
        before = jax.tree.leaves(start.actor.params["params"][network])
        after = jax.tree.leaves(state.actor.params["params"][network])
        kernels = [leaf for leaf in after if leaf.ndim == 2]
        assert kernels[-1].shape == (CATCH.hidden_size, agent.spec.action_dim)
        assert all(not np.array_equal(b, a) for b, a in zip(before, after, strict=True)), network


def test_continuous_actions_map_from_unit_box_to_the_task_bounds(pendulum):
    # The bounded normal's mean is in [-1, 1]; Pendulum's torque is in [-2, 2]: the replayed
    # action a drives the task with torque 2 clip(a, -1, 1) (the task keeps it as last_u).
    agent, _, new_state, _ = pendulum
    action = np.asarray(new_state.acting.action)[:, 0]
    (last_u,) = (
        leaf
        for path, leaf in jax.tree_util.tree_leaves_with_path(new_state.acting.env_state)
        if "last_u" in jax.tree_util.keystr(path)
    )
    assert agent.spec.action_dim == 1
    np.testing.assert_allclose(last_u, 2.0 * np.clip(action, -1.0, 1.0), rtol=1e-6)


# ---------------------------------------------------------------------------------------------
# Configuration and checkpoints.

BAD_CONFIGS = [
    ({"train_ratio": 0.0}, "train_ratio"),
    ({"train_ratio": -1.0}, "train_ratio"),
    ({"replay": {"capacity": 8, "length": 8, "burn_in": 4}}, "capacity"),
    ({"horizon": 0}, "horizon"),
    ({"model": "dreamer"}, "model"),
    ({"core": "mamba"}, "core"),
    ({"total_timesteps": 15}, "total_timesteps"),
    ({"reward_scale": 0.0}, "reward_scale"),
    ({"recon_scale": -1.0}, "recon_scale"),
    ({"reward_loss_scale": 0.0}, "reward_loss_scale"),
    ({"actor_unimix": 1.0}, "actor_unimix"),
    ({"actor_unimix": -0.01}, "actor_unimix"),
    ({"actor_replay_scale": -1.0}, "actor_replay_scale"),
    ({"first_row_weight": -1.0}, "first_row_weight"),
    ({"target_temperature": 0.0}, "target_temperature"),
    ({"start_gradient_rows": "last"}, "start_gradient_rows"),
    ({"first_head": True}, "first_head"),
    ({"first_head_lr": 1e-3}, "first_head_lr"),
    ({"first_flag": True, "first_head": True, "first_head_lr": 0.0}, "first_head_lr"),
    ({"first_explore": 1.5}, "first_explore"),
    ({"first_explore": -0.1}, "first_explore"),
    ({"action_relabel": 1.5}, "action_relabel"),
    ({"action_relabel": -0.1}, "action_relabel"),
    ({"first_branches": -1}, "first_branches"),
    ({"first_branches": 4}, "first_branches"),  # needs the expected or target gradient
]


@pytest.mark.parametrize(("overrides", "field"), BAD_CONFIGS)
def test_bad_config_fails_with_a_one_line_message(overrides, field):
    with pytest.raises(ValueError) as error:
        if "replay" in overrides:  # the window is checked by ReplayConfig itself
            overrides = {"replay": ReplayConfig(**overrides["replay"])}
        tiny("RepeatPreviousEasy", **overrides)
    message = str(error.value)
    assert "\n" not in message
    assert field in message
    assert any(fix in message for fix in ("raise", "use", "shorten")), message


def test_recon_and_reward_loss_scales_weigh_the_world_models_terms():
    config = tiny("RepeatPreviousEasy", recon_scale=10.0, reward_loss_scale=100.0)
    model_config = make_agent(config).model.config
    assert (model_config.recon_scale, model_config.reward_scale) == (10.0, 100.0)


@pytest.mark.parametrize("unimix", [0.0, 0.01, 0.2])
def test_the_policy_mixes_in_the_configs_unimix(unimix):
    """A saturated actor (one logit far above the others) keeps `unimix x (A - 1) / A` on the
    other actions: the ceiling of a sampling policy's score."""
    agent = make_agent(tiny("RepeatPreviousEasy", actor_unimix=unimix))
    actor, _ = make_heads(agent.config, agent.spec)
    features = jnp.ones((2, 5))
    params = actor.init(jax.random.key(0), features)
    bias = jax.tree_util.tree_map_with_path(
        lambda path, leaf: leaf.at[0].set(1e4) if "bias" in jax.tree_util.keystr(path) else leaf,
        jax.tree.map(jnp.zeros_like, params),
    )
    probs = policy_of(agent.spec, actor, bias, agent.config.actor_unimix)(features).probs
    actions = agent.spec.action_dim
    np.testing.assert_allclose(probs[:, 0], 1.0 - unimix * (actions - 1) / actions, atol=1e-6)
    np.testing.assert_allclose(probs[:, 1:], unimix / actions, atol=1e-6)


def test_action_reward_head_runs_an_iteration_and_needs_discrete_actions():
    # One head per action (rlssm.world_models' reward_head='action'): the world model's
    # reward loss, imagination and the expected gradient's one-step values all read the
    # taken action's head; continuous actions are refused before anything compiles.
    agent = make_agent(tiny("RepeatPreviousEasy", reward_head="action", actor_gradient="expected"))
    assert agent.model.config.reward_head == "action"
    state = compiled(agent.init)(jax.random.key(0))
    new_state, metrics = compiled(agent.update)(state)
    kernels = [
        (path, leaf)
        for path, leaf in jax.tree_util.tree_leaves_with_path(state.world_model.params)
        if "reward_head" in jax.tree_util.keystr(path) and leaf.ndim == 2
    ]
    out_kernel = kernels[-1][1]
    assert out_kernel.shape[-1] == agent.spec.action_dim * agent.model.config.reward_bins
    metrics = jax.device_get(metrics)
    losses = [value for name, value in metrics.items() if "loss" in name]
    assert len(losses) >= 3 and np.all(np.isfinite(losses))  # returns: NaN, no episode ended
    assert not leaves_equal(state.world_model.params, new_state.world_model.params)
    with pytest.raises(ValueError, match="reward_head='state'") as error:
        make_agent(tiny("Pendulum-v1", reward_head="action"))
    assert "\n" not in str(error.value)


def test_backprop_on_discrete_actions_fails_before_compiling():
    config = tiny("RepeatPreviousEasy", actor_gradient="backprop")
    with pytest.raises(ValueError, match="reinforce") as error:
        make_agent(config)
    assert "\n" not in str(error.value)


def test_checkpoint_template_matches_the_live_state(catch, pendulum):
    # The command line restores a checkpoint through eval_shape(init): same tree, every leaf an
    # array, the same shapes, dtypes and weak types as the state init returns and update keeps
    # (Pendulum's reset leaves a weakly typed leaf that its step makes strong).
    for agent, state, after in ((catch[0], catch[2][0], catch[2][1]), pendulum[:3]):
        template = jax.eval_shape(agent.init, jax.random.key(0))
        assert jax.tree.structure(template) == jax.tree.structure(state)
        assert all(isinstance(leaf, jax.Array) for leaf in jax.tree.leaves(state))
        assert avals(template) == avals(state) == avals(after)


def test_heads_on_merged_rows_equal_heads_on_the_leading_axes():
    """`on_rows` (the actor and critic on one row axis) gives every state its own output and
    the same gradient as applying the head to `[horizon + 1, N, F]` directly."""
    agent = make_agent(CATCH)
    _, critic = make_heads(agent.config, agent.spec)
    features = jax.random.normal(jax.random.key(0), (3, 5, 7))
    params = critic.init(jax.random.key(1), features[0])
    np.testing.assert_allclose(
        on_rows(critic, params, features), critic.apply(params, features), atol=1e-6
    )
    grads = [
        jax.grad(lambda p, f=f: (f(p) * jnp.arange(features.size // 7)[..., None]).sum())(params)
        for f in (
            lambda p: on_rows(critic, p, features).reshape(15, -1),
            lambda p: critic.apply(p, features).reshape(15, -1),
        )
    ]
    chex.assert_trees_all_close(*grads, rtol=1e-5)
