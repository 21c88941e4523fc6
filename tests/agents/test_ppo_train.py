"""PPO end to end: every core on a discrete and a continuous task, replay alignment, batch targets
against a NumPy GAE and normalisation, tracing."""

import dataclasses

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import agents.ppo.train as ppo_train
import rlssm.cores as cores
from agents.ppo import NetworkConfig, PPOConfig, make_agent, make_train
from agents.ppo.network import distribution
from agents.ppo.rollout import make_rollout

TINY = {"hidden_size": 8}
STATE = {"s5": {"state_size": 8}, "lru": {"state_size": 8}}


def tiny_config(env_name: str, core: str, **overrides) -> PPOConfig:
    fields = {
        "env_name": env_name,
        "core": cores.config_for(core, **TINY, **STATE.get(core, {})),
        "network": NetworkConfig(encoder_sizes=(8,), head_sizes=(8,)),
        "num_envs": 4,
        "num_steps": 8,
        "total_timesteps": 64,
        "update_epochs": 1,
        "num_minibatches": 2,
    }
    return PPOConfig(**{**fields, **overrides})


DEFAULT_UPDATE_CORES = ("s5", "gru", "none")
"""Cores whose PPO update runs in the default suite: a complex linear scan, a nonlinear cell
and no memory; the others share their code paths (the contract suite checks every core)."""


@pytest.mark.parametrize(
    "core",
    [
        n if n in DEFAULT_UPDATE_CORES else pytest.param(n, marks=pytest.mark.slow)
        for n in cores.registered()
    ],
)
@pytest.mark.parametrize(
    "env_name", ["RepeatFirstEasy", pytest.param("Pendulum-v1", marks=pytest.mark.slow)]
)
def test_every_core_inits_and_updates(core, env_name):
    agent = make_agent(tiny_config(env_name, core))
    state = jax.jit(agent.init)(jax.random.key(0))
    new_state, metrics = jax.jit(agent.update)(state)
    assert int(new_state.update) == 1
    for name in ("loss", "policy_loss", "value_loss", "entropy", "grad_norm", "approx_kl"):
        assert np.isfinite(metrics[name]), name
    assert int(metrics["nonfinite"]) == 0
    changed = jax.tree.map(
        lambda a, b: bool(jnp.any(a != b)), state.train_state.params, new_state.train_state.params
    )
    assert any(jax.tree.leaves(changed)), "one update must change the params"
    assert int(new_state.train_state.step) == 2  # one epoch of two minibatches


def test_squashed_gaussian_actions_stay_in_bounds():
    config = tiny_config("Pendulum-v1", "gru", network=NetworkConfig(squash=True, init_log_std=1))
    agent = make_agent(config)
    state = agent.init(jax.random.key(1))
    _, rollout = jax.jit(make_rollout(config, agent.spec, agent.network))(state)
    assert rollout.transitions.action.shape == (8, 4, 1)
    assert float(jnp.abs(rollout.transitions.action).max()) > 1.0  # raw samples exceed the box
    assert np.isfinite(rollout.transitions.log_prob).all()


@pytest.mark.parametrize(
    "core",
    # s5 (18 s) is slow: the core contract tests check its step-by-step and sequence paths agree
    [
        "gru",
        pytest.param("s5", marks=pytest.mark.slow),
        pytest.param("lstm", marks=pytest.mark.slow),
    ],
)
def test_update_replays_the_recurrence_the_policy_acted_with(core):
    # Episodes of CartPole under a random policy end inside a 64-step rollout, so rows hold
    # several episodes joined by start flags; replaying them from the stored carry must give
    # back the rollout's log-probs and values exactly (up to float error).
    config = tiny_config("CartPole-v1", core, num_steps=64, total_timesteps=256)
    agent = make_agent(config)
    state = agent.init(jax.random.key(2))
    state, _ = jax.jit(agent.update)(state)  # so the stored carry is not all zeros
    state, rollout = jax.jit(make_rollout(config, agent.spec, agent.network))(state)
    tr = rollout.transitions
    assert int(tr.start[1:].sum()) >= 4
    _, out = agent.network.apply(state.train_state.params, rollout.initial_carry, tr.obs, tr.start)
    log_prob = distribution(out, agent.spec.discrete).log_prob(tr.action)
    np.testing.assert_allclose(log_prob, tr.log_prob, atol=2e-5)
    np.testing.assert_allclose(out.value, tr.value, atol=2e-5)


def test_terminal_and_truncated_values_are_bootstrapped_apart():
    config = tiny_config("CartPole-v1", "gru", num_steps=32, total_timesteps=128)
    agent = make_agent(config)
    _, rollout = jax.jit(make_rollout(config, agent.spec, agent.network))(
        agent.init(jax.random.key(4))
    )
    tr = rollout.transitions
    assert bool(tr.terminated.any())
    assert np.all(np.isfinite(tr.final_value))
    off = dataclasses.replace(config, bootstrap_truncated=False)
    _, rollout_off = jax.jit(make_rollout(off, agent.spec, agent.network))(
        agent.init(jax.random.key(4))
    )
    np.testing.assert_array_equal(rollout_off.transitions.final_value, 0.0)


@pytest.mark.slow  # ~25 s; test_jitted_update_traces_once and the CLI's vmapped chunks cover it
def test_train_traces_the_update_once_and_vmaps_over_seeds(monkeypatch):
    traces = []
    original = ppo_train.make_batch

    def counting(*args):
        traces.append(1)
        return original(*args)

    monkeypatch.setattr(ppo_train, "make_batch", counting)
    config = tiny_config("RepeatFirstEasy", "s5", total_timesteps=4 * 8 * 3)
    train = jax.jit(jax.vmap(make_train(config)))
    _, metrics = train(jax.random.split(jax.random.key(0), 2))
    assert len(traces) == 1
    assert metrics["loss"].shape == (2, 3)
    np.testing.assert_array_equal(metrics["update"][0], [1, 2, 3])
    assert not np.allclose(metrics["loss"][0], metrics["loss"][1])  # seeds differ
    _, single = jax.jit(make_train(config))(jax.random.split(jax.random.key(0), 2)[1])
    np.testing.assert_allclose(single["loss"], metrics["loss"][1], rtol=1e-4, atol=1e-6)


def test_non_finite_minibatch_is_skipped_and_counted():
    config = tiny_config("RepeatFirstEasy", "gru")
    agent = make_agent(config)
    state = agent.init(jax.random.key(0))
    state, rollout = make_rollout(config, agent.spec, agent.network)(state)
    batch, _ = ppo_train.make_batch(config, state, rollout)
    batch = batch._replace(advantage=batch.advantage.at[0, 0].set(jnp.nan))
    step = jax.jit(ppo_train.make_minibatch_step(config, agent.spec, agent.network))
    new_train_state, terms = step(state.train_state, batch)
    assert int(terms["nonfinite"]) == 1
    for old, new in zip(
        jax.tree.leaves(state.train_state), jax.tree.leaves(new_train_state), strict=True
    ):
        np.testing.assert_array_equal(old, new)
    good = batch._replace(advantage=jnp.nan_to_num(batch.advantage))
    _, terms = step(state.train_state, good)
    assert int(terms["nonfinite"]) == 0


# MineSweeper with a 6-step limit: random play both terminates (mines) and truncates (time) inside
# a 32-step rollout, so the batch sees all three cases of GAE.
GAE_OVERRIDES = {
    "env_options": {"max_steps_in_episode": 6},
    "num_steps": 32,
    "total_timesteps": 4 * 32,
    "gamma": 0.9,
    "gae_lambda": 0.8,
}


def numpy_gae(tr, last_value, gamma, lam):
    """GAE as the explicit sum `A[t] = sum_k (gamma lam)^k delta[t + k]` up to the episode's end."""
    reward, value, final_value = (
        np.asarray(x, np.float64) for x in (tr.reward, tr.value, tr.final_value)
    )
    terminated, truncated = np.asarray(tr.terminated), np.asarray(tr.truncated)
    num_steps, num_envs = reward.shape
    next_value = np.concatenate([value[1:], np.asarray(last_value, np.float64)[None]])
    next_value = np.where(truncated, final_value, next_value)
    next_value = np.where(terminated, 0.0, next_value)
    delta = reward + gamma * next_value - value
    advantage = np.zeros((num_steps, num_envs))
    for b in range(num_envs):
        for t in range(num_steps):
            for k in range(num_steps - t):
                advantage[t, b] += (gamma * lam) ** k * delta[t + k, b]
                if terminated[t + k, b] or truncated[t + k, b]:
                    break
    return advantage


def first_rollout(config, key):
    """The jitted rollout function of `config` and its first rollout from init."""
    agent = make_agent(config)
    rollout_fn = jax.jit(make_rollout(config, agent.spec, agent.network))
    return rollout_fn, *rollout_fn(agent.init(jax.random.key(key)))


def test_batch_targets_are_the_gae_of_the_rollout():
    config = tiny_config("MineSweeperEasy", "gru", **GAE_OVERRIDES)
    _, state, rollout = first_rollout(config, 5)
    tr = rollout.transitions
    assert tr.terminated.any() and tr.truncated.any() and not (tr.terminated & tr.truncated).any()
    batch, return_stats = ppo_train.make_batch(config, state, rollout)
    expected = numpy_gae(tr, rollout.last_value, config.gamma, config.gae_lambda)
    np.testing.assert_allclose(batch.advantage, expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(batch.target, expected + np.asarray(tr.value), rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(batch.old_value, tr.value)
    jax.tree.map(np.testing.assert_array_equal, return_stats, state.return_stats)
    jax.tree.map(np.testing.assert_array_equal, batch.initial_carry, rollout.initial_carry)


def test_batch_targets_normalised_when_configured():
    # Two rollouts: the second batch's targets and old values are standardised with the running
    # statistics of every target so far (plus the initial pseudo-sample: mean 0, var 1, weight
    # 1e-4); the advantages stay in return units.
    config = tiny_config(
        "MineSweeperEasy", "gru", normalize_value=True, normalize_obs=True, **GAE_OVERRIDES
    )
    rollout_fn, state, first = first_rollout(config, 5)
    _, stats = ppo_train.make_batch(config, state, first)
    state, second = rollout_fn(state._replace(return_stats=stats))
    batch, stats = ppo_train.make_batch(config, state, second)

    def targets(rollout):
        adv = numpy_gae(rollout.transitions, rollout.last_value, config.gamma, config.gae_lambda)
        return adv, adv + np.asarray(rollout.transitions.value, np.float64)

    advantage, target = targets(second)
    seen = np.concatenate([targets(first)[1].ravel(), target.ravel()])
    weight = np.concatenate([[1e-4], np.ones(seen.size)])
    mean = np.sum(weight[1:] * seen) / weight.sum()
    var = (1e-4 * (1.0 + mean**2) + np.sum((seen - mean) ** 2)) / weight.sum()
    np.testing.assert_allclose(stats.count, weight.sum(), rtol=1e-6)
    np.testing.assert_allclose(stats.mean, mean, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(stats.var, var, rtol=1e-4)
    scale = np.sqrt(var + 1e-8)
    np.testing.assert_allclose(batch.target, (target - mean) / scale, rtol=1e-4, atol=1e-4)
    old_value = (np.asarray(second.transitions.value) - mean) / scale
    np.testing.assert_allclose(batch.old_value, old_value, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(batch.advantage, advantage, rtol=1e-5, atol=1e-5)
    assert abs(mean) > 0.1 or abs(var - 1.0) > 0.1  # the normalisation is not the identity
    # Observations are folded in once per step of every environment.
    np.testing.assert_allclose(state.obs_stats.count, 1e-4 + 2 * 32 * 4, rtol=1e-6)


def test_jitted_update_traces_once():
    config = tiny_config("RepeatFirstEasy", "gru", total_timesteps=4 * 8 * 3)
    agent = make_agent(config)
    chex.clear_trace_counter()
    update = jax.jit(chex.assert_max_traces(agent.update, n=1))
    state = jax.jit(agent.init)(jax.random.key(0))
    for _ in range(3):
        state, metrics = update(state)
    assert int(state.update) == 3 and np.isfinite(metrics["loss"])


def test_vmapped_init_equals_per_seed_init():
    # Batched over seeds, the orthogonal initialisers' QR could deadlock XLA's CPU runtime; the
    # params are made one seed at a time under vmap and must equal unbatched inits.
    config = PPOConfig(core=cores.GRUConfig(hidden_size=64), num_envs=16, total_timesteps=16 * 128)
    agent = make_agent(config)
    keys = jax.random.split(jax.random.key(0), 2)
    batched = jax.jit(jax.vmap(agent.init))(keys)
    for i in range(2):
        single = jax.jit(agent.init)(keys[i])
        for a, b in zip(
            jax.tree.leaves(batched.train_state.params),
            jax.tree.leaves(single.train_state.params),
            strict=True,
        ):
            np.testing.assert_allclose(a[i], b, rtol=1e-6, atol=1e-7)
