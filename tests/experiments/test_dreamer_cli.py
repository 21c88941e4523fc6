"""The model-based agent's command line end to end on a tiny config, through the shared run
lifecycle: run directory, checkpoint with the replay ring, resume equal to an uninterrupted run,
checkpoints without the replay (--no-checkpoint-replay) and their resume, presets, help and bad
input. Runs of one config share one compiled program (same process)."""

import io
import json
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from rich.console import Console

from benchmarks.dreamer import agent_name
from experiments.dreamer import cli as dreamer
from experiments.dreamer.presets import presets
from experiments.dreamer.trainer import TRAINER, DreamerRunConfig, build
from experiments.run import checkpoint, lifecycle
from experiments.run.run_dir import RunDir
from experiments.run.serialize import ConfigError

TINY = [
    "--num-envs",
    "2",
    "--act-steps",
    "4",
    "--total-timesteps",
    "48",
    "--core-size",
    "8",
    "--state-size",
    "4",
    "--hidden-size",
    "8",
    "--latent-groups",
    "2",
    "--latent-classes",
    "4",
    "--head-layers",
    "1",
    "--value-bins",
    "15",
    "--replay.capacity",
    "32",
    "--replay.length",
    "4",
    "--batch-size",
    "2",
    "--horizon",
    "3",
    "--train-ratio",
    "4",
    "--num-seeds",
    "2",
    "--chunk-updates",
    "2",
    "--checkpoint-every",
    "1",
    "--no-progress",
]
TIMING = ("wall_time", "steps_per_second")


def untimed(run_dir: Path) -> list[dict]:
    return [{k: v for k, v in r.items() if k not in TIMING} for r in RunDir(run_dir).read_metrics()]


def raw(leaf):
    return jax.random.key_data(leaf) if jnp.issubdtype(leaf.dtype, jax.dtypes.prng_key) else leaf


@pytest.mark.slow  # about a minute of compiling; the lifecycle's resume is tested on PPO and WM
def test_tiny_run_then_resume_equals_uninterrupted(tmp_path):
    straight = dreamer.main(dreamer.parse([*TINY, "--run-dir", str(tmp_path / "straight")]))
    assert straight.status == "finished" and straight.summary["updates"] == 6
    summary = json.loads((tmp_path / "straight" / "summary.json").read_text())
    assert summary["replay_in_checkpoint"] and summary["last_checkpoint"].endswith("000000006")
    for name in ("returns.png", "training.png"):
        assert (tmp_path / "straight" / "plots" / name).stat().st_size > 5000
    rows = untimed(tmp_path / "straight")
    assert [r["update"] for r in rows] == [u for u in range(1, 7) for _ in range(2)]
    trained = [r for r in rows if r["wm_loss"] is not None]
    assert trained and all(np.isfinite(r["wm_loss"]) for r in trained)
    split = tmp_path / "split"
    paused = dreamer.main(dreamer.parse([*TINY, "--run-dir", str(split), "--stop-after", "3"]))
    assert paused.status == "paused"
    resumed = dreamer.main(dreamer.parse(["--resume", str(split), "--no-progress"]))
    assert resumed.status == "finished" and untimed(split) == rows
    for x, y in zip(jax.tree.leaves(straight.state), jax.tree.leaves(resumed.state), strict=True):
        assert np.array_equal(raw(x), raw(y))


def with_flag(argv: list[str], flag: str, value: str) -> list[str]:
    i = argv.index(flag)
    return [*argv[: i + 1], value, *argv[i + 2 :]]


@pytest.mark.slow  # ~40 s; test_evaluate_dreamer's default run also checkpoints without replay
def test_run_without_replay_in_checkpoints_resumes_with_an_empty_replay(tmp_path):
    # Windows of 8 steps: the ring (4 rows per iteration) holds one from the 2nd iteration on.
    argv = [*with_flag(TINY, "--replay.length", "8"), "--no-checkpoint-replay"]
    run_dir = tmp_path / "run"
    paused = dreamer.main(dreamer.parse([*argv, "--run-dir", str(run_dir), "--stop-after", "2"]))
    assert paused.status == "paused" and paused.summary["replay_in_checkpoint"] is False
    record = json.loads((run_dir / "config.json").read_text())
    assert record["run"]["checkpoint_replay"] is False
    latest = checkpoint.latest(run_dir / "checkpoints")
    saved = [leaf["path"] for leaf in checkpoint.read_manifest(latest)["leaves"]]
    replay_leaves = jax.tree.leaves(paused.state.replay)
    assert len(saved) == len(jax.tree.leaves(paused.state)) - len(replay_leaves)
    assert saved and not [path for path in saved if "replay" in path]
    # The restored state: everything as saved, the replay as fresh zeros.
    config, run, _ = lifecycle.load_config(TRAINER, RunDir.open(run_dir))
    console = Console(file=io.StringIO())
    session = TRAINER.open(config, run, RunDir.open(run_dir), console)
    state, start = lifecycle.initial_state(
        TRAINER, session, config, run, RunDir.open(run_dir), console
    )
    assert start == 2 and int(paused.state.replay.count[0]) == 8
    for x, y in zip(
        jax.tree.leaves(state._replace(replay=None)),
        jax.tree.leaves(paused.state._replace(replay=None)),
        strict=True,
    ):
        assert np.array_equal(raw(x), raw(y))
    assert all(not np.asarray(leaf).any() for leaf in jax.tree.leaves(state.replay))
    console = Console(file=io.StringIO(), width=200)
    resumed = dreamer.main(dreamer.parse(["--resume", str(run_dir), "--no-progress"]), console)
    assert resumed.status == "finished" and resumed.summary["updates"] == 6
    assert json.loads((run_dir / "summary.json").read_text())["replay_in_checkpoint"] is False
    assert "not bitwise equal to an uninterrupted run" in console.file.getvalue()
    # The ring restarted empty at update 2: 4 iterations of 4 rows since, not 6.
    assert np.asarray(resumed.state.replay.count).tolist() == [16, 16]
    rows = untimed(run_dir)
    assert [r["update"] for r in rows] == [u for u in range(1, 7) for _ in range(2)]
    trained = sorted({r["update"] for r in rows if r["wm_loss"] is not None})
    assert trained == [2, 4, 5, 6]  # updates 1 and 3 waited for a window in the ring


def test_presets_validate_and_build():
    table = presets()
    assert {"cpu-small", "popgym-r2i", "memory", "brax"} <= set(table)
    for name, (description, args) in table.items():
        assert description and args.preset == name and isinstance(args.run, DreamerRunConfig)
        assert dreamer.parse([name]) == args
        agent = build(args.dreamer).agent  # environment, world model, heads; nothing compiled
        state = jax.eval_shape(agent.init, jax.random.key(0))
        assert state.replay.data.obs.shape[:2] == (
            args.dreamer.replay.capacity,
            args.dreamer.num_envs,
        )
    memory = table["memory"][1].dreamer
    assert memory.env_name == "Memory/RewardCue"
    # The benchmark row whose settings the preset carries (docs/BENCHMARKS.md, 200k steps).
    assert agent_name(memory).endswith(
        "lr 0.003/3e-05/3e-05 recon x10 reward loss x100 window 128x4"
    )
    assert memory.env_options == {"context_length": 32, "query_length": 16, "tile_size": 2}
    assert not build(table["brax"][1].dreamer).agent.spec.discrete


def test_help_and_bad_input(capsys, tmp_path):
    with pytest.raises(SystemExit) as exit_info:
        dreamer.parse(["--help"])
    assert exit_info.value.code == 0 and "--replay.context" in capsys.readouterr().out
    with pytest.raises(SystemExit) as exit_info:
        dreamer.parse(["--train-ratio", "0"])
    assert exit_info.value.code == 2 and "--train-ratio must be > 0" in capsys.readouterr().err
    with pytest.raises(ConfigError, match="Did you mean"):
        dreamer.main(
            dreamer.parse(
                [*TINY, "--env-name", "RepeatPreviousEasi", "--run-dir", str(tmp_path / "bad")]
            )
        )
    assert not (tmp_path / "bad").exists()
    with pytest.raises(ConfigError, match="drop --checkpoint-replay"):  # fixed for a run
        dreamer.main(dreamer.parse(["--resume", str(tmp_path), "--no-checkpoint-replay"]))


def test_a_checkpointed_run_hints_its_evaluation_and_an_empty_one_does_not():
    hint = TRAINER.next_steps({"last_checkpoint": "checkpoints/000000002"}, Path("R"))
    assert hint == ["evaluate: python -m experiments.evaluate R"]
    assert TRAINER.next_steps({"last_checkpoint": None}, Path("R")) == []
