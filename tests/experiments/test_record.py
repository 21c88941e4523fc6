"""Recording evaluation episodes (experiments.record, `experiments.evaluate --record`): the
writers on synthetic episodes, read back, and one `--record 1` on test_ppo_cli's tiny run."""

import json
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from PIL import Image

from agents.common.environment import make_env
from agents.common.evaluate import EvalResult, make_rollout
from experiments import evaluate, record
from tests.experiments.test_evaluate_dreamer import ITERATIONS, trained, unoptimised  # noqa: F401
from tests.experiments.test_ppo_cli import UPDATES, straight  # noqa: F401 (a fixture)


def result(obs: np.ndarray, action: np.ndarray, reward: np.ndarray, ends: list[int]) -> EvalResult:
    """A rollout with `record=R` by hand: `obs [T, R, D]`, `action`/`reward` `[T, R]`, and the
    step where each environment's first episode ends (-1: none within `T`)."""
    steps, count = reward.shape
    completed = np.zeros((steps, count), bool)
    for b, end in enumerate(ends):
        if end >= 0:
            completed[end, b] = True
            completed[min(end + 2, steps - 1), b] = True  # a later episode, not recorded
    zeros = np.zeros((steps, count))
    return EvalResult(completed, zeros, zeros, reward, zeros.astype(np.int32), action, obs)


def test_rollout_records_the_observations_each_action_was_taken_on():
    spec = make_env("RepeatFirstEasy")

    def act(params, carry, obs, start, key):  # names the suit it sees
        return carry, jnp.argmax(obs, axis=-1)

    rollout = jax.jit(make_rollout(spec, act, lambda n: ()), static_argnums=(2, 3, 4))
    plain = rollout(None, jax.random.key(1), 3, 60)
    recorded = rollout(None, jax.random.key(1), 3, 60, 2)
    assert plain.obs is None and recorded.obs.shape == (60, 2, 4)
    for a, b in zip(plain[:-1], recorded[:-1], strict=True):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(recorded.action[:, :2], np.argmax(recorded.obs, axis=-1))
    assert len(np.unique(recorded.obs[:, 0] @ np.arange(4) - recorded.obs[:, 1] @ np.arange(4))) > 1


def test_image_episodes_become_gifs_with_a_frame_per_step(tmp_path):
    spec = make_env("Memory/TwoRooms")
    shape = record.image_shape(spec)
    assert shape == spec.env.env.image_shape
    rng = np.random.default_rng(0)
    steps = 7
    obs = rng.integers(0, 256, (steps, 2, int(np.prod(shape)))) / 255.0
    action = rng.integers(0, 4, (steps, 2))
    out = result(obs, action, np.ones((steps, 2)), [4, -1])
    files = record.write_episodes(tmp_path, spec, out, "TwoRooms")
    assert [f.name for f in files] == ["episode0.gif", "episode1.gif"]
    for path, frames in zip(files, (5, steps), strict=True):
        with Image.open(path) as gif:
            assert gif.n_frames == frames
            assert min(gif.size) >= record.MIN_IMAGE_SIDE
            gif.seek(frames - 1)
            assert np.asarray(gif.convert("RGB")).std() > 0
    titles = record.frame_titles(record.episodes_of(out)[0], ("L", "R", "U", "D"), 3)
    assert titles[2].startswith("step 2/5 context  action ") and " query " in titles[3]
    assert record.context_length(spec) == spec.params.context_length
    assert record.context_length(make_env("RepeatFirstEasy")) is None
    # The upscaled image is in the frame, pixel for pixel.
    frames = record.to_frames(obs[:, 0], shape)
    scale = frames.shape[1] // shape[0]
    np.testing.assert_array_equal(
        frames[3, ::scale, ::scale], np.round(obs[3, 0].reshape(shape) * 255).astype(np.uint8)
    )


def test_minatar_channels_are_coloured_frames():
    spec = make_env("Breakout-MinAtar")
    shape = record.image_shape(spec)
    assert shape == (10, 10, 4)
    obs = np.zeros((2, 400))
    obs[1].reshape(shape)[3, 5, 2] = 1.0
    frames = record.to_frames(obs, shape)
    assert frames[0].max() == 0 and frames[1].max() > 0
    lit = np.argwhere(frames[1].max(axis=-1) > 0)
    scale = frames.shape[1] // 10
    assert (lit // scale == [3, 5]).all()


def test_vector_episodes_become_a_png_and_card_text(tmp_path):
    spec = make_env("RepeatFirstEasy")
    assert record.image_shape(spec) is None
    suits = np.array([[2, 0], [1, 0], [3, 0]])  # clubs, diamonds, hearts
    obs = np.eye(4)[suits]
    action = np.array([[2, 0], [0, 0], [2, 0]])
    reward = np.array([[1.0, 0.0], [-1.0, 0.0], [1.0, 0.0]]) / 51
    files = record.write_episodes(tmp_path, spec, result(obs, action, reward, [-1, -1]), "RF")
    names = sorted(f.name for f in files)
    assert names == ["episode0.png", "episode0.txt", "episode1.png", "episode1.txt"]
    with Image.open(tmp_path / "episode0.png") as png:
        assert png.format == "PNG" and min(png.size) > 100
    lines = (tmp_path / "episode0.txt").read_text(encoding="utf-8").splitlines()
    assert "obs ♣" in lines[2] and "action      ♣" in lines[2] and "+0.0196" in lines[2]
    assert "obs ♦" in lines[3] and "action      ♠" in lines[3]
    assert lines[-1] == "cut at the horizon after 3 steps, return +0.0196"
    # A second recording of fewer episodes leaves no file of the first.
    one = result(obs[:, :1], action[:, :1], reward[:, :1], [-1])
    record.write_episodes(tmp_path, spec, one, "RF")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["episode0.png", "episode0.txt"]
    # With the previous action, reward and start appended, the cards read the same.
    extended = make_env("RepeatFirstEasy", previous_action_reward=True)
    episode = record.Episode(np.pad(obs[:, 0], ((0, 0), (0, 6))), action[:, 0], reward[:, 0], False)
    assert extended.obs_size == 10
    assert record.episode_text(extended, episode, "RF").splitlines()[1:] == lines[1:]


def test_grid_tasks_render_their_boards_and_views():
    battleship = make_env("BattleshipEasy")
    episode = record.Episode(
        np.eye(2)[[0, 1, 0]], np.array([9, 10, 9]), np.array([0.1, -0.1, -0.1]), True
    )
    text = record.episode_text(battleship, episode, "Battleship")
    board = text.split("step    2")[1].splitlines()
    assert board[2] == ". X o . . . . ." and board[1] == ". . . . . . . ."
    maze = make_env("LabyrinthEscapeEasy")
    codes = np.array([1, 0, 1, 0, 2, 3, 1, 1, 1])  # wall above-left ..., start in the middle
    obs = np.concatenate([np.eye(5)[codes].reshape(-1), np.eye(5)[4]])
    episode = record.Episode(obs[None], np.array([1]), np.array([-0.001]), False)
    text = record.episode_text(maze, episode, "Maze")
    assert "action  RIGHT" in text and "#.#\n.SG\n###\n(previous action NONE)" in text
    assert record.episode_text(make_env("StatelessCartPoleEasy"), episode, "none") is None


def test_record_must_fit_the_episodes():
    with pytest.raises(ValueError, match="record must be"):
        evaluate.EvalArgs(Path("run"), episodes=2, record=3)


def test_evaluate_records_an_episode_of_a_ppo_run(straight, capsys):  # noqa: F811
    cli = ["--episodes", "3", "--greedy", "--record", "1"]
    assert evaluate.cli([str(straight.run_dir), *cli]) == 0
    folder = straight.run_dir / "eval" / "record" / f"RepeatFirstEasy-greedy-{UPDATES:09d}"
    assert sorted(p.name for p in folder.iterdir()) == ["episode0.png", "episode0.txt"]
    out = capsys.readouterr().out.replace("\n", "")
    assert "recorded" in out and "episode0.png, episode0.txt" in out
    lines = (folder / "episode0.txt").read_text(encoding="utf-8").splitlines()
    steps = [line for line in lines if line.startswith("step")]
    assert len(steps) == 51 and lines[-1].startswith("ended after 51 steps")
    # RepeatFirst pays for naming the first card's suit: the rendered cards explain the rewards.
    first = steps[0].split("obs ")[1]
    for line in steps:
        words = line.split()
        assert (words[3] == first) == (float(words[5]) > 0), line
    # The recorded episode is the evaluation's first one of seed 0 (the same keys).
    output = straight.run_dir / "eval" / f"RepeatFirstEasy-greedy-{UPDATES:09d}.json"
    results = json.loads(output.read_text())
    assert results["record"] == [str(folder / "episode0.png"), str(folder / "episode0.txt")]
    recorded = float(lines[-1].split("return ")[1])
    assert recorded == pytest.approx(results["per_seed"][0]["returns"][0], abs=1e-3)


@pytest.mark.slow
def test_evaluate_records_an_episode_of_a_dreamer_run(trained):  # noqa: F811
    with unoptimised():
        results = evaluate.evaluate_run(
            evaluate.EvalArgs(trained, episodes=2, greedy=True, record=2)
        )
    files = [Path(p) for p in results["record"]]
    expected = ["episode0.png", "episode0.txt", "episode1.png", "episode1.txt"]
    assert [p.name for p in files] == expected and all(p.stat().st_size for p in files)
    assert files[0].parent.name == f"RepeatFirstEasy-greedy-{ITERATIONS:09d}"
    lines = files[3].read_text(encoding="utf-8").splitlines()
    recorded = float(lines[-1].split("return ")[1])
    assert recorded == pytest.approx(results["per_seed"][0]["returns"][1], abs=1e-3)
