"""The model-based agent's imagination plot: frame shapes of image tasks, open-loop guesses of
replayed windows, the frame strip written."""

import jax
import jax.numpy as jnp
import numpy as np
from matplotlib import image

import rlssm.world_models as wm
from agents.common.environment import make_env
from agents.dreamer import replay
from agents.dreamer.config import DreamerConfig
from agents.dreamer.diagnostics import open_loop
from agents.dreamer.replay import ReplayConfig
from agents.dreamer.train import make_agent
from experiments.dreamer import plots
from experiments.dreamer.trainer import DreamerRunConfig, DreamerSession, build
from experiments.run.run_dir import RunDir

CUE = {"context_length": 4, "query_length": 4, "tile_size": 2}


def test_frame_shape_reads_images_behind_the_flattening_wrapper():
    cue = make_env("Memory/RewardCue", CUE)
    assert plots.frame_shape(cue.env, cue.params) == (16, 16, 3)
    assert cue.obs_size == 16 * 16 * 3
    minatar = make_env("Breakout-MinAtar")
    assert plots.frame_shape(minatar.env, minatar.params) == (10, 10, 4)
    assert plots.frame_shape(make_env("RepeatPreviousEasy").env) is None


def test_open_loop_imagines_the_second_half_of_replayed_windows(tmp_path):
    config = DreamerConfig(
        env_name="Memory/RewardCue",
        env_options=CUE,
        num_envs=2,
        act_steps=8,
        total_timesteps=16,
        core_size=8,
        state_size=4,
        hidden_size=8,
        latent_groups=2,
        latent_classes=2,
        batch_size=2,
        replay=ReplayConfig(capacity=8, length=8, context="stored"),
    )
    agent = make_agent(config)
    state = jax.jit(agent.init)(jax.random.key(0))
    # Eight rows of random frames in both columns: every window is the whole ring.
    frames = jax.random.uniform(jax.random.key(1), (8, 2, agent.spec.obs_size))
    rows = wm.Batch(
        frames, jnp.zeros((8, 2), jnp.int32), jnp.zeros((8, 2)), jnp.zeros((8, 2), bool),
        jnp.zeros((8, 2), bool).at[0].set(True),
    )  # fmt: skip
    carries = jax.tree.map(lambda x: jnp.stack([x] * 8), agent.model.initial_carry(2))
    state = state._replace(replay=replay.add(state.replay, rows, carries))
    result = jax.jit(open_loop, static_argnums=(0, 1, 4))(
        config, agent.model, state, jax.random.key(2), 2
    )
    assert result.context == 4 and result.imagined.shape == (4, 2, agent.spec.obs_size)
    for window in np.moveaxis(np.asarray(result.batch.obs), 1, 0):  # a column of the ring each
        assert any(np.array_equal(window, frames[:, env]) for env in range(2))
    assert np.all(np.isfinite(result.imagined))
    # The run's finish draws it from the state of every seed (here one).
    run_dir = RunDir(tmp_path)
    run_dir.plots.mkdir(parents=True, exist_ok=True)
    session = DreamerSession(config, DreamerRunConfig(), build(config))
    path = session.imagination_plot(jax.tree.map(lambda x: x[None], state), run_dir)
    drawn = image.imread(path)
    assert path.name == "imagination.png" and drawn.ndim == 3 and drawn.shape[0] > 100
