"""The world-model command line end to end on a tiny config (TwoRooms of 8 + 8 steps, width 8).

One uninterrupted run is shared by the tests; the others use the same experiment, so the compiled
programs (update, evaluation, dataset) are reused within the process, and one dataset folder, so
the dataset is generated once.
"""

import json
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from envs.memory import dataset
from experiments import world_model_eval
from experiments.run import checkpoint, lifecycle
from experiments.run.run_dir import RunDir
from experiments.run.serialize import ConfigError
from experiments.world_model import cli as world_model
from experiments.world_model.data import DatasetError, DataSpec, load_or_generate
from experiments.world_model.trainer import TRAINER

UPDATES = 6
TIMING = ("wall_time", "updates_per_second")


def tiny(run_dir: Path, data_dir: Path, **changes) -> world_model.TrainArgs:
    """cpu-small shrunk: 6 updates of 2 episodes of 17 records, a checkpoint every 2 updates."""
    return world_model.presets()["cpu-small"][1].replace(
        task="Memory/TwoRooms",
        context_length=8,
        query_length=8,
        train_episodes=8,
        eval_episodes=4,
        shown_episodes=2,
        core_size=8,
        state_size=4,
        hidden_size=8,
        latent_groups=2,
        latent_classes=4,
        cnn_depth=4,
        reward_bins=7,
        steps=UPDATES,
        batch_size=2,
        chunk_updates=2,
        checkpoint_every=1,
        keep_checkpoints=0,
        progress=False,
        run_dir=run_dir,
        dataset_dir=data_dir,
        **changes,
    )


@pytest.fixture(scope="module")
def folders(tmp_path_factory) -> tuple[Path, Path]:
    return tmp_path_factory.mktemp("runs"), tmp_path_factory.mktemp("data")


@pytest.fixture(scope="module")
def straight(folders) -> lifecycle.TrainResult:
    runs, data = folders
    return world_model.main(tiny(runs / "straight", data))


def raw(leaf):
    return jax.random.key_data(leaf) if jnp.issubdtype(leaf.dtype, jax.dtypes.prng_key) else leaf


def untimed(run_dir: Path) -> list[dict]:
    """Metrics rows without the host timings (which differ between runs)."""
    return [{k: v for k, v in r.items() if k not in TIMING} for r in RunDir(run_dir).read_metrics()]


def test_help_lists_the_options(capsys):
    with pytest.raises(SystemExit) as exit_info:
        world_model.cli(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for flag in ("--model", "--core", "--task", "--steps", "--resume", "gpu-paper"):
        assert flag in out


def test_objective_flags_reach_the_model_and_the_training_step():
    args = world_model.parse(["--recon-scale", "16", "--blind-query", "0.5"])
    experiment = args.experiment
    assert experiment.world_model().config.recon_scale == 16.0
    assert experiment.blind_query == 0.5


def test_recall_preset_is_the_sharp_blind_trained_short_teleport_run():
    args = world_model.parse(["cpu-recall", "--model", "rssm"])
    assert (args.preset, args.model, args.task) == (
        "cpu-recall",
        "rssm",
        "Memory/Teleport-TwoRooms",
    )
    assert (args.context_length, args.query_length, args.steps) == (30, 10, 1500)
    config = args.experiment.world_model().config
    assert (config.recon_scale, args.blind_query) == (16.0, 0.5)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--model", "lstm"], "model='lstm' is unknown; use one of ('s4wm', 'rssm', 'tssm')"),
        (["--core", "fooo"], "core='fooo' is unknown"),
        (["--task", "CartPole-v1"], "not a memory benchmark"),
        (["--core-options", '{"window": 8}'], "no option ['window']"),
        (["--sequence-length", "500"], "exceeds an episode"),
        (["--blind-query", "1.5"], "--blind-query is a share of sequences in [0, 1]"),
    ],
)
def test_bad_flags_exit_with_a_readable_message(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        world_model.parse(argv)
    assert exit_info.value.code == 2
    captured = capsys.readouterr()
    assert message in " ".join((captured.out + captured.err).split()).replace("│ ", "")


def test_tiny_run_leaves_every_run_dir_file(straight, folders):
    path = straight.run_dir
    assert straight.status == "finished"
    rows = RunDir(path).read_metrics()
    assert [r["update"] for r in rows] == list(range(1, UPDATES + 1))
    assert {"loss", "recon", "kl", "reward", "grad_norm", "env_steps", *TIMING} <= set(rows[0])
    assert rows[-1]["env_steps"] == UPDATES * 2 * 17
    csv_lines = (path / "metrics.csv").read_text().splitlines()
    assert len(csv_lines) == 1 + UPDATES and csv_lines[0].startswith("update,seed,env_steps")
    summary = json.loads((path / "summary.json").read_text())
    assert summary["last_checkpoint"] == f"checkpoints/{UPDATES:09d}"
    evaluation = summary["eval"]
    assert evaluation["horizon"] == 9 and len(evaluation["mse_per_frame"]) == 9
    assert len(evaluation["mse_buckets"]) == 4
    # mse_mean is a float32 mean on the device; numpy's is float64 over the same floats.
    np.testing.assert_allclose(
        np.mean(evaluation["mse_per_frame"]), evaluation["mse_mean"], rtol=1e-6
    )
    assert evaluation["reward_values"] == [0.0, 0.5]  # TwoRooms pays 1/2 for a new room
    assert 0.0 <= evaluation["reward_accuracy"] <= 1.0
    assert {"recon", "kl", "reward"} <= set(evaluation["loss_terms"])
    for name in ("frames.png", "mse_horizon.png", "training.png"):
        assert (path / "plots" / name).stat().st_size > 5000
    assert [p.name for p in checkpoint.available(path / "checkpoints")] == [
        f"{u:09d}" for u in (2, 4, 6)
    ]
    data_files = list(folders[1].glob("*.npz"))
    assert [p.name for p in data_files] == ["Memory-TwoRooms-c8-q8-t2-n12-seed0.npz"]
    experiment, run, preset = lifecycle.load_config(TRAINER, RunDir(path))
    expected = tiny(path, folders[1])
    assert experiment == expected.experiment and preset == "cpu-small"
    assert run == lifecycle.resolve(TRAINER, expected.experiment, expected.run, preset)


def test_resume_equals_uninterrupted(straight, folders):
    runs, data = folders
    paused = world_model.main(tiny(runs / "split", data, stop_after=3))
    assert paused.status == "paused" and int(paused.state.update[0]) == 4
    assert json.loads((runs / "split" / "summary.json").read_text())["eval"] is None
    resume = world_model.presets()["cpu-small"][1].replace(resume=runs / "split", progress=False)
    resumed = world_model.main(resume)
    assert resumed.status == "finished"
    leaves_a, leaves_b = jax.tree.leaves(straight.state), jax.tree.leaves(resumed.state)
    assert len(leaves_a) == len(leaves_b)
    for x, y in zip(leaves_a, leaves_b, strict=True):
        assert x.dtype == y.dtype and np.array_equal(raw(x), raw(y))
    assert untimed(straight.run_dir) == untimed(resumed.run_dir)
    summaries = [json.loads((r.run_dir / "summary.json").read_text()) for r in (straight, resumed)]
    assert summaries[0]["eval"] == summaries[1]["eval"]


def test_resume_refuses_changed_flags(straight):
    args = world_model.presets()["cpu-small"][1].replace(resume=straight.run_dir, steps=3)
    with pytest.raises(ConfigError, match="--steps"):
        world_model.main(args)


def test_compare_overlays_the_runs(straight, tmp_path, capsys):
    out = tmp_path / "compare.png"
    code = world_model_eval.cli([str(straight.run_dir), str(straight.run_dir), "--out", str(out)])
    assert code == 0 and out.stat().st_size > 5000
    out = capsys.readouterr().out
    assert "Memory/TwoRooms" in out
    assert f"{straight.summary['eval']['mse_mean']:.4f}" in out
    assert world_model_eval.cli([str(tmp_path), "--out", str(out)]) == 2


def test_cached_dataset_with_other_settings_is_refused(tmp_path):
    spec = DataSpec("Memory/TwoRooms", 8, 8, 2, 1, 1, 0)
    fake = {name: np.zeros((2, 17), np.int32) for name in dataset.FIELDS}
    fake["obs"] = np.zeros((2, 17, 16, 16, 3), np.uint8)
    dataset.save(tmp_path / spec.file_name, fake, {**spec.metadata, "seed": 1})
    with pytest.raises(DatasetError, match="expected"):
        load_or_generate(spec, tmp_path)
