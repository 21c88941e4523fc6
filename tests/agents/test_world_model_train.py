"""World-model training as an agent (`agents.world_model`): blind query phases in sampled batches,
the non-finite guard, one trace of the jitted update, `run` = repeated updates, config errors and
a tiny training run that lowers the loss."""

import functools

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import rlssm.world_models as wm
from agents.common import map_seeds
from agents.world_model import (
    BlindQuery,
    TrainConfig,
    blind_mask,
    init_train_state,
    make_agent,
    make_optimizer_step,
    sample_windows,
    update_seeds,
)
from tests.rlssm.test_world_models import key, tiny_model

E, T, C = 4, 12, 5


def fake_data(seed: int = 0) -> dict:
    """`E` episodes of `T` records of 16x16 RGB frames, one start each."""
    rng = np.random.default_rng(seed)
    start = np.zeros((E, T), bool)
    start[:, 0] = True
    return {
        "obs": jnp.asarray(rng.integers(0, 256, (E, T, 16, 16, 3), np.uint8)),
        "action": jnp.asarray(rng.integers(0, 3, (E, T)), jnp.int32),
        "reward": jnp.zeros((E, T), jnp.float32),
        "terminated": jnp.zeros((E, T), bool),
        "start": jnp.asarray(start),
    }


@pytest.fixture(scope="module")
def agent():
    model = tiny_model("s4wm-s5", obs_shape=(16, 16, 3), cnn_depth=4)
    return make_agent(model, TrainConfig(context_length=C, batch_size=2, blind_query=0.5))


@pytest.fixture(scope="module")
def update(agent):
    """The agent's update, jitted once for the module (at most one trace)."""
    return jax.jit(chex.assert_max_traces(agent.update, n=1))


def test_blind_mask_covers_the_query_after_its_first_step_of_drawn_sequences():
    offsets = jnp.array([0, 3, 6])
    assert blind_mask(jax.random.key(0), offsets, 6, BlindQuery(0.0, C)) is None
    every = np.asarray(blind_mask(jax.random.key(0), offsets, 6, BlindQuery(1.0, C)))
    record = np.asarray(offsets)[None, :] + np.arange(6)[:, None]
    np.testing.assert_array_equal(every, record > C)  # records 0..C-1 context, C first query
    draws = np.asarray(blind_mask(jax.random.key(1), jnp.zeros(4000, int), T, BlindQuery(0.3, C)))
    drawn = draws.any(0)
    np.testing.assert_array_equal(draws, (np.arange(T)[:, None] > C) & drawn[None, :])
    assert abs(drawn.mean() - 0.3) < 0.03


def test_sampled_batches_carry_the_mask():
    data = fake_data()
    batch = sample_windows(data, jax.random.key(2), 3, T, BlindQuery(1.0, C))
    assert batch.blind.shape == (T, 3) and bool(batch.blind[C + 1 :].all())
    assert not bool(batch.blind[: C + 1].any())
    assert sample_windows(data, jax.random.key(2), 3, T).blind is None
    with pytest.raises(ValueError, match="window=13 must be in"):
        sample_windows(data, jax.random.key(2), 3, T + 1)


def test_jitted_update_traces_once_and_trains_blind(agent, update):
    data = fake_data()
    state = agent.init(key(3))
    for step in range(1, 4):
        state, metrics = update(state, data)
        assert int(state.update) == step and int(state.train_state.step) == step
        assert np.isfinite(float(metrics["loss"])) and int(metrics["env_steps"]) == step * 2 * T


def test_non_finite_update_keeps_the_train_state_and_counts_the_streak(agent, update):
    data = fake_data()
    poisoned = {**data, "reward": jnp.full((E, T), jnp.nan, jnp.float32)}
    start = agent.init(key(4))
    state = start
    for streak in (1, 2):
        state, metrics = update(state, poisoned)
        assert not np.isfinite(float(metrics["loss"]))
        assert int(state.nonfinite_streak) == streak and int(state.update) == streak
    chex.assert_trees_all_equal(state.train_state, start.train_state)  # params, Adam, step
    state, metrics = update(state, data)
    assert int(state.nonfinite_streak) == 0 and int(metrics["nonfinite_streak"]) == 0
    assert int(state.train_state.step) == 1 and int(state.update) == 3


@pytest.mark.slow  # about a minute: XLA compiles the scan over updates slowly on the CPU
def test_run_equals_repeated_updates_and_seeds_init_one_at_a_time(agent):
    data = fake_data()
    keys = jax.random.split(key(5), 2)
    states = jax.jit(map_seeds(agent.init))(keys)
    chex.assert_trees_all_equal(jax.vmap(agent.init)(keys), states)  # seed_by_seed's vmap rule
    run = jax.vmap(functools.partial(agent.run, num_updates=2), (0, None))
    scanned, metrics = jax.jit(run)(states, data)
    stepped = states
    step = jax.jit(update_seeds(agent))
    for _ in range(2):
        stepped, last = step(stepped, data)
    assert metrics["loss"].shape == (2, 2)
    # Adam amplifies rounding in tiny gradients, and the decoder's sums over pixels round
    # differently in the two programs.
    close = {"rtol": 1e-4, "atol": 5e-5}
    chex.assert_trees_all_close(scanned.train_state, stepped.train_state, **close)
    chex.assert_trees_all_equal(
        scanned._replace(train_state=None), stepped._replace(train_state=None)
    )
    np.testing.assert_allclose(metrics["loss"][:, -1], last["loss"], rtol=1e-5)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"lr": 0.0}, "lr must be > 0"),
        ({"batch_size": 0}, "batch_size must be >= 1"),
        ({"blind_query": 1.5}, r"blind_query is a share of sequences in \[0, 1\]"),
        ({"blind_query": 0.5, "context_length": 0}, "set context_length >= 1"),
    ],
)
def test_bad_config_fails_with_the_fix(changes, message):
    with pytest.raises(ValueError, match=message):
        TrainConfig(**{"context_length": C, **changes})


def moving_dot_batch(batch_key, length=10, batch=8, size=8) -> wm.Batch:
    """A 2x2 dot on a `size` x `size` torus moved by the action (right, left, down, up).

    `action[t]` moves the dot from `obs[t - 1]` to `obs[t]`; the reward is 1 while the dot's corner
    is in the top-left quadrant. A blank frame has a squared error of 4.
    """
    k_pos, k_act = jax.random.split(batch_key)
    moves = jnp.array([[0, 1], [0, -1], [1, 0], [-1, 0]])
    action = jax.random.randint(k_act, (length, batch), 0, 4)
    delta = moves[action].at[0].set(0)
    pos = (jax.random.randint(k_pos, (batch, 2), 0, size) + jnp.cumsum(delta, 0)) % size

    def band(p):
        return jax.nn.one_hot(p, size) + jax.nn.one_hot((p + 1) % size, size)

    obs = (band(pos[..., 0])[..., :, None] * band(pos[..., 1])[..., None, :])[..., None]
    reward = jnp.all(pos < size // 2, -1).astype(jnp.float32)
    start = jnp.zeros((length, batch), bool).at[0].set(True)
    return wm.Batch(obs, action, reward, jnp.zeros((length, batch), bool), start)


@pytest.mark.slow  # ~20 s of training; the world-model CLI's tiny run trains the same agent
def test_tiny_training_run_lowers_the_loss():
    model = wm.make(
        "s4wm",
        core="s5",
        core_options={"hidden_size": 32, "state_size": 16},
        obs_shape=(8, 8, 1),
        action_dim=4,
        hidden_size=32,
        cnn_depth=8,
        latent_groups=4,
        latent_classes=4,
        reward_bins=15,
    )
    optimizer = optax.adam(3e-3)
    update = make_optimizer_step(model, optimizer)
    steps = 300

    @jax.jit
    def train(train_state, train_key):
        def body(train_state, step_key):
            batch_key, loss_key = jax.random.split(step_key)
            return update(train_state, moving_dot_batch(batch_key), loss_key)

        return jax.lax.scan(body, train_state, jax.random.split(train_key, steps))

    train_state, metrics = train(init_train_state(model, optimizer, key(0)), key(1))
    assert int(train_state.step) == steps
    first = {name: float(value[:5].mean()) for name, value in metrics.items()}
    last = {name: float(value[-20:].mean()) for name, value in metrics.items()}
    assert last["loss"] < 0.5 * first["loss"]
    assert last["recon"] < 3.0  # well below a blank frame's 4: the dot is reconstructed
    assert last["reward"] < 0.25 * first["reward"]
