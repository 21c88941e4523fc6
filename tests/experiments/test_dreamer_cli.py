"""The model-based agent's command line end to end on a tiny config, through the shared run
lifecycle: run directory, checkpoint with the replay ring, resume equal to an uninterrupted run,
help and bad input. Both runs share one compiled program (same config, same process)."""

import json
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from experiments.dreamer import cli as dreamer
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


def test_help_and_bad_input(capsys, tmp_path):
    with pytest.raises(SystemExit) as exit_info:
        dreamer.parse(["--help"])
    assert exit_info.value.code == 0 and "--replay.context" in capsys.readouterr().out
    with pytest.raises(SystemExit) as exit_info:
        dreamer.parse(["--train-ratio", "0"])
    assert exit_info.value.code == 2 and "train_ratio must be > 0" in capsys.readouterr().err
    with pytest.raises(ConfigError, match="Did you mean"):
        dreamer.main(
            dreamer.parse(
                [*TINY, "--env-name", "RepeatPreviousEasi", "--run-dir", str(tmp_path / "bad")]
            )
        )
    assert not (tmp_path / "bad").exists()
