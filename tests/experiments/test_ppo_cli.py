"""The PPO command line end to end on a tiny config (2 envs x 8 steps, GRU of width 8).

One uninterrupted run is shared by the tests; every other run uses the same PPO config, so its
compiled programs are reused within the process (see experiments.ppo.trainer.build).
"""

import copy as copy_module
import dataclasses
import json
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from rich.console import Console

import rlssm.cores as cores
from agents.ppo import PPOConfig
from experiments import evaluate, suite
from experiments.ppo import cli as ppo
from experiments.ppo.trainer import TRAINER, build, ppo_config
from experiments.run import checkpoint, lifecycle, scores
from experiments.run.checkpoint import CheckpointError
from experiments.run.run_dir import RunDir, RunDirError
from experiments.run.serialize import ConfigError
from tests.experiments.test_evaluate_dreamer import DREAMER_OPTIONS as OPTIONS
from tests.experiments.test_evaluate_dreamer import ITERATIONS, trained_args, unoptimised

UPDATES = 8
TIMING = ("wall_time", "steps_per_second")


def tiny(run_dir: Path, **changes) -> ppo.TrainArgs:
    """cpu-small shrunk: 8 updates in chunks of 2, a checkpoint after every chunk."""
    base = ppo.presets()["cpu-small"][1]
    return base.replace(
        core=cores.GRUConfig(hidden_size=8),
        num_envs=2,
        num_steps=8,
        total_timesteps=2 * 8 * UPDATES,
        update_epochs=1,
        num_minibatches=1,
        chunk_updates=2,
        checkpoint_every=1,
        keep_checkpoints=0,
        progress=False,
        run_dir=run_dir,
        **changes,
    )


def resume(run_dir: Path, **changes) -> ppo.TrainArgs:
    return ppo.presets()["cpu-small"][1].replace(resume=run_dir, progress=False, **changes)


@pytest.fixture(scope="module")
def straight(tmp_path_factory) -> lifecycle.TrainResult:
    return ppo.main(tiny(tmp_path_factory.mktemp("runs") / "straight"))


def raw(leaf):
    return jax.random.key_data(leaf) if jnp.issubdtype(leaf.dtype, jax.dtypes.prng_key) else leaf


def assert_same_run(a: lifecycle.TrainResult, b: lifecycle.TrainResult) -> None:
    """Every leaf of the final states and every metric (but timings) bitwise equal."""
    leaves_a, leaves_b = jax.tree.leaves(a.state), jax.tree.leaves(b.state)
    assert len(leaves_a) == len(leaves_b)
    for x, y in zip(leaves_a, leaves_b, strict=True):
        assert x.dtype == y.dtype and np.array_equal(raw(x), raw(y))
    rows_a, rows_b = untimed(a.run_dir), untimed(b.run_dir)
    assert rows_a == rows_b and len(rows_a) == 2 * UPDATES


def untimed(run_dir: Path) -> list[dict]:
    """Metrics rows without the host timings (which differ between runs)."""
    return [{k: v for k, v in r.items() if k not in TIMING} for r in RunDir(run_dir).read_metrics()]


def test_tiny_run_leaves_every_run_dir_file(straight):
    path = straight.run_dir
    assert straight.status == "finished"
    rows = RunDir(path).read_metrics()
    assert [(r["update"], r["seed"]) for r in rows] == [
        (u, s) for u in range(1, UPDATES + 1) for s in (0, 1)
    ]
    expected = {"env_steps", "return_mean", "return_min", "return_max", "loss", "policy_loss"}
    expected |= {"value_loss", "entropy", "approx_kl", "clip_fraction", "grad_norm", *TIMING}
    assert expected <= set(rows[0])
    csv_lines = (path / "metrics.csv").read_text().splitlines()
    assert len(csv_lines) == 1 + len(rows) and csv_lines[0].startswith("update,seed,env_steps")
    summary = json.loads((path / "summary.json").read_text())
    assert summary["updates"] == UPDATES and summary["env_steps_per_seed"] == 16 * UPDATES
    assert summary["last_checkpoint"] == "checkpoints/000000008"
    # RepeatFirstEasy episodes last 51 steps: the first ones end in update 7.
    assert all(-1.0 <= m <= 1.0 for m in summary["mmer_per_seed"])
    for name in ("returns.png", "training.png"):
        assert (path / "plots" / name).stat().st_size > 1000
    assert [p.name for p in checkpoint.available(path / "checkpoints")] == [
        f"{u:09d}" for u in (2, 4, 6, 8)
    ]


def test_config_json_round_trips_to_the_same_configs(straight):
    stored_ppo, stored_run, preset = lifecycle.load_config(TRAINER, RunDir(straight.run_dir))
    expected = tiny(straight.run_dir)
    expected_ppo, expected_run = ppo_config(expected), expected.run
    assert stored_ppo == expected_ppo and preset == "cpu-small"
    assert stored_run == expected_run


def test_resume_equals_uninterrupted(straight, tmp_path):
    paused = ppo.main(tiny(tmp_path / "split", stop_after=3))
    assert paused.status == "paused" and int(paused.state.update[0]) == 4
    resumed = ppo.main(resume(tmp_path / "split"))
    assert resumed.status == "finished"
    assert_same_run(straight, resumed)


def test_killed_run_resumes_from_its_last_checkpoint(straight, tmp_path, monkeypatch):
    save = checkpoint.save
    calls = []

    def save_then_die(*args, **kwargs):
        calls.append(args[1])
        if len(calls) == 2:  # killed after writing update 4's metrics, before its checkpoint
            raise KeyboardInterrupt
        return save(*args, **kwargs)

    monkeypatch.setattr(checkpoint, "save", save_then_die)
    with pytest.raises(KeyboardInterrupt):
        ppo.main(tiny(tmp_path / "killed"))
    monkeypatch.setattr(checkpoint, "save", save)
    run_dir = RunDir(tmp_path / "killed")
    assert max(r["update"] for r in run_dir.read_metrics()) == 4
    assert checkpoint.latest(run_dir.checkpoints).name == "000000002"
    assert_same_run(straight, ppo.main(resume(tmp_path / "killed")))


def copy_run(straight, tmp_path) -> Path:
    copy = tmp_path / "copy"
    shutil.copytree(straight.run_dir, copy)
    summary = json.loads((copy / "summary.json").read_text())
    (copy / "summary.json").write_text(json.dumps({**summary, "status": "paused"}))
    return copy


def test_corrupted_checkpoint_is_refused(straight, tmp_path):
    copy = copy_run(straight, tmp_path)
    latest = checkpoint.latest(copy / "checkpoints")
    files = [p for p in (latest / "state").rglob("*") if p.is_file()]
    victim = max(files, key=lambda p: p.stat().st_size)
    data = bytearray(victim.read_bytes())
    data[-1] ^= 0x01
    victim.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="checksum mismatch"):
        ppo.main(resume(copy))
    with pytest.raises(CheckpointError, match="checksum mismatch"):
        evaluate.evaluate_run(evaluate.EvalArgs(copy))


def test_checkpoint_of_another_config_is_refused(straight, tmp_path):
    copy = copy_run(straight, tmp_path)
    record = json.loads((copy / "config.json").read_text())
    record["ppo"]["lr"] = 0.5
    (copy / "config.json").write_text(json.dumps(record))
    with pytest.raises(CheckpointError, match=r"other metadata.*config_sha256"):
        ppo.main(resume(copy))


def test_resume_refuses_flags_it_would_ignore(straight):
    args = resume(straight.run_dir).replace(lr=0.1, num_envs=4)
    with pytest.raises(ConfigError, match="drop --num-envs, --lr"):
        ppo.main(args)


def test_existing_run_dir_and_unknown_env_are_refused_before_training(straight, tmp_path):
    with pytest.raises(RunDirError, match="--resume"):
        ppo.main(tiny(straight.run_dir))
    with pytest.raises(ConfigError, match="Did you mean"):
        ppo.main(tiny(tmp_path / "bad", env_name="RepeatFirstEasi"))
    assert not (tmp_path / "bad").exists()


# After a failure, only hints that work; --from branches; --resume with a larger budget extends.
DIVERGING = ("--lr", "1e30", "--max-grad-norm", "1e30", "--max-nonfinite-streak", "2")
"""Updates 3 and 4 of a fresh tiny run are non-finite (one compiled config for every test)."""


def diverging(run_dir: Path, **changes) -> ppo.TrainArgs:
    return tiny(run_dir).replace(lr=1e30, max_grad_norm=1e30, max_nonfinite_streak=2, **changes)


def recorded(args: ppo.TrainArgs) -> tuple[lifecycle.TrainResult, str]:
    """The outcome of a run and everything it printed."""
    console = Console(record=True, width=400)
    return ppo.main(args, console), console.export_text()


def hint(text: str, name: str) -> list[str]:
    """The arguments of the printed `name: python -m experiments.ppo ...` command."""
    (line,) = [line for line in text.splitlines() if line.startswith(f"{name}: ")]
    words = shlex.split(line.removeprefix(f"{name}: "))
    assert words[:3] == ["python", "-m", "experiments.ppo"]
    return words[3:]


def restored(path: Path) -> list:
    """Every leaf of checkpoint `path` of the tiny config."""
    template = jax.eval_shape(
        TRAINER.init_function(ppo_config(tiny(None))),
        lifecycle.seed_keys(TRAINER, tiny(None).run),
    )
    return [raw(leaf) for leaf in jax.tree.leaves(checkpoint.restore(path, template))]


def test_nonfinite_stop_offers_no_resume_and_no_evaluate_without_a_checkpoint(tmp_path):
    path = tmp_path / "none"
    result, text = recorded(diverging(path, checkpoint_every=5))  # no checkpoint before update 10
    assert result.status == "nonfinite" and result.summary["last_checkpoint"] is None
    assert "Last good checkpoint: none." in text
    assert "start a new run with lower --lr or --max-grad-norm" in text
    for dead_end in (f"--resume {path}", "evaluate:", "--from", "extend:"):
        assert dead_end not in text
    assert lifecycle.cli(TRAINER, diverging(tmp_path / "again", checkpoint_every=5)) == 1


def test_nonfinite_stop_offers_a_branch_from_its_last_good_checkpoint(tmp_path):
    path = tmp_path / "some"
    result, text = recorded(diverging(path))
    assert result.status == "nonfinite" and result.summary["last_checkpoint"] is not None
    assert f"--resume {path}" not in text and "evaluate: python -m experiments.evaluate" in text
    argv = hint(text, "branch")
    assert argv == ["--from", str(path), "--lr", "0.001", "--max-grad-norm", "0.5"]
    plan = lifecycle.start(TRAINER, ppo.parse([*argv, "--run-dir", str(tmp_path / "b")]))
    assert plan.branch.update == 2 and plan.run_dir is None  # the command is accepted
    assert ppo_config(plan.config) == ppo_config(tiny(path))  # the preset's lr and clip again


def test_branch_without_changes_continues_like_the_source(straight, tmp_path):
    # Another --seed: only a state restored from the checkpoint (keys included) continues alike.
    argv = ["--from", str(straight.run_dir), "--from-checkpoint", "checkpoints/000000004"]
    argv += ["--seed", "7", "--run-dir", str(tmp_path / "b"), "--no-progress"]
    branched = ppo.main(ppo.parse(argv))
    assert branched.status == "finished"
    assert_same_run(straight, branched)
    record = json.loads((tmp_path / "b" / "config.json").read_text())
    assert record["run"] == json.loads((straight.run_dir / "config.json").read_text())["run"] | {
        "run_dir": str(tmp_path / "b"),
        "seed": 7,
    }


def test_branch_with_another_lr_starts_from_the_checkpoint(straight, tmp_path):
    path = tmp_path / "b"
    source = straight.run_dir / "checkpoints" / "000000004"
    argv = ["--from", str(straight.run_dir), "--from-checkpoint", str(source), *DIVERGING]
    result, text = recorded(ppo.parse([*argv, "--run-dir", str(path), "--no-progress"]))
    assert f"branched from {source} (update 4)" in text
    record = json.loads((path / "config.json").read_text())
    assert record["branched_from"] == {
        "run_dir": str(straight.run_dir),
        "checkpoint": str(source),
        "update": 4,
        "changed": {"--lr": 1e30, "--max-grad-norm": 1e30, "--max-nonfinite-streak": 2},
    }
    assert record["ppo"]["lr"] == 1e30 and record["run"]["max_nonfinite_streak"] == 2
    assert "branch_from" not in record["run"]
    first = checkpoint.available(path / "checkpoints")[0]
    assert first.name == "000000004"
    for x, y in zip(restored(first), restored(source), strict=True):
        assert np.array_equal(x, y)
    rows, before = untimed(path), untimed(straight.run_dir)
    assert rows[:8] == before[:8] and rows[8:] != before[8 : len(rows)]
    assert result.status == "nonfinite" and f"--from {path} --lr 0.001" in text


def test_resume_with_a_larger_budget_extends_a_finished_run(straight, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(straight.run_dir, copy)
    argv = hint(
        "\n".join(lifecycle.next_commands(TRAINER, dataclasses.replace(straight, run_dir=copy))),
        "extend",
    )
    assert argv == ["--resume", str(copy), "--total-timesteps", str(2 * 2 * 8 * UPDATES)]
    smaller = copy_module.copy(resume(copy).ppo)  # below the preset's one update: unparsable
    object.__setattr__(smaller, "total_timesteps", 2 * 8 * (UPDATES - 2))
    with pytest.raises(ConfigError, match="drop --total-timesteps"):
        ppo.main(dataclasses.replace(resume(copy), ppo=smaller))
    with pytest.raises(ConfigError, match=r"drop --lr \(only"):
        ppo.main(ppo.parse([*argv, "--lr", "1e-3"]))  # named at the preset's value: refused too
    extended = ppo.main(ppo.parse([*argv, "--no-progress"]))
    assert extended.status == "finished" and extended.summary["updates"] == 2 * UPDATES
    record = json.loads((copy / "config.json").read_text())
    assert record["ppo"]["total_timesteps"] == 2 * 2 * 8 * UPDATES
    assert [e["total_timesteps"] for e in record["extended"]] == [2 * 8 * UPDATES]
    rows = untimed(copy)
    assert rows[: 2 * UPDATES] == untimed(straight.run_dir) and len(rows) == 4 * UPDATES
    # Killed before the extension's first checkpoint: the older checkpoint still restores.
    for late in checkpoint.available(copy / "checkpoints"):
        if int(late.name) > UPDATES:
            shutil.rmtree(late)
    again = ppo.main(resume(copy))
    assert again.status == "finished" and untimed(copy) == rows


def test_evaluate_loads_the_run_and_saves_statistics(straight):
    results = evaluate.evaluate_run(evaluate.EvalArgs(straight.run_dir, episodes=3, greedy=True))
    assert results["update"] == UPDATES and results["max_steps"] == 52
    assert [s["episodes"] for s in results["per_seed"]] == [3, 3]
    returns = np.concatenate([s["returns"] for s in results["per_seed"]])
    assert np.all(np.abs(returns) <= 1.0) and results["per_seed"][0]["length_mean"] == 51
    saved = json.loads(Path(results["output"]).read_text())
    assert saved["return_mean"] == pytest.approx(returns.mean())
    other = evaluate.EvalArgs(straight.run_dir, env_name="CartPole-v1")
    with pytest.raises(ConfigError, match="does not fit the trained policy"):
        evaluate.evaluate_run(other)


def tiny_suite(tmp_path: Path, **changes) -> suite.SuiteConfig:
    """A suite whose PPO cells have the shared run's config (GRU of width 8 on RepeatFirstEasy)."""
    fields = {
        "cores": ("gru", "none"),
        "tasks": ("RepeatFirstEasy",),
        "hidden_size": 8,
        "num_seeds": 2,
        "total_timesteps": 2 * 8 * UPDATES,
        "num_envs": 2,
        "num_steps": 8,
        "update_epochs": 1,
        "num_minibatches": 1,
        "chunk_updates": 2,
        "out_dir": tmp_path / "suite",
        "progress": False,
    }
    return suite.SuiteConfig(**{**fields, **changes})


def test_suite_writes_the_mmer_table_and_plot(straight, tmp_path):
    cfg = tiny_suite(tmp_path)
    records = suite.run_suite(cfg)
    assert [(r["task"], r["core"]) for r in records] == [
        ("RepeatFirstEasy", "gru"),
        ("RepeatFirstEasy", "none"),
    ]
    gru = cfg.out_dir / "runs" / "gru" / "RepeatFirstEasy"
    assert untimed(gru) == untimed(straight.run_dir)  # the same config as the shared run
    assert records[0]["mmer"] == scores.mmer(RunDir(gru).read_metrics())
    table = (cfg.out_dir / "mmer.md").read_text()
    assert "| RepeatFirstEasy |" in table and "mean over tasks" in table
    assert (cfg.out_dir / "mmer.png").stat().st_size > 1000
    assert len((cfg.out_dir / "mmer.csv").read_text().splitlines()) == 3
    again = suite.run_suite(cfg)  # finished cells are read back, not trained again
    np.testing.assert_array_equal([r["mmer"] for r in again], [r["mmer"] for r in records])


@pytest.mark.slow  # compiles the model-based agent's iteration (~20 s) unless shared
def test_suite_compares_ppo_and_the_model_based_agent(straight, tmp_path):
    cfg = tiny_suite(tmp_path, agents=("ppo", "dreamer"), cores=("gru",), dreamer_options=OPTIONS)
    with unoptimised():
        records = suite.run_suite(cfg)
    assert [(r["agent"], r["core"]) for r in records] == [("ppo", "gru"), ("dreamer", "gru")]
    ppo_cell = cfg.out_dir / "runs" / "gru" / "RepeatFirstEasy"
    dreamer_cell = cfg.out_dir / "runs-dreamer" / "gru" / "RepeatFirstEasy"
    assert untimed(ppo_cell) == untimed(straight.run_dir)  # PPO's cells as without the axis
    record = RunDir(dreamer_cell).read_config()
    assert record["agent"] == "dreamer" and record["run"]["num_seeds"] == 2
    sizes = {k: record["dreamer"][k] for k in ("env_name", "core", "core_size", "total_timesteps")}
    expected = {"core": "gru", "core_size": 8, "total_timesteps": 2 * 8 * UPDATES}
    assert sizes == {"env_name": "RepeatFirstEasy", **expected}
    rows = RunDir(dreamer_cell).read_metrics()
    assert [r["update"] for r in rows[-2:]] == [ITERATIONS] * 2
    assert records[1]["mmer"] == scores.mmer(rows)
    table = (cfg.out_dir / "mmer.md").read_text()
    assert "| task | ppo gru | dreamer gru |" in table and "model-based agent preset" in table
    assert (cfg.out_dir / "mmer.png").stat().st_size > 1000
    lines = (cfg.out_dir / "mmer.csv").read_text().splitlines()
    assert len(lines) == 3 and lines[0].endswith(",agent") and lines[2].endswith(",dreamer")


def fake_main(trainer, args, console):
    """Stands in for training: a finished run directory whose every seed returned 0.5 (PPO) or
    0.25 (the model-based agent) in its one update."""
    config = args.parts()[trainer.config_field]
    record = lifecycle.config_record(trainer, config, args.run, args.preset)
    run_dir = RunDir.create(args.run.run_dir, record)
    value = 0.5 if trainer.agent == "ppo" else 0.25
    run_dir.append_metrics([{"update": 1, "seed": s, "return_mean": value} for s in (0, 1)])
    run_dir.write_summary({"status": "finished"})


def test_suite_agent_axis_cells_columns_and_bad_options(tmp_path, monkeypatch):
    cfg = tiny_suite(tmp_path, agents=("ppo", "dreamer"), dreamer_options=OPTIONS)
    args = suite.cell_args(cfg, "none", "RepeatFirstEasy", "dreamer")
    config = args.dreamer
    assert (config.core, config.core_size, config.state_size, config.model) == (
        "none",
        8,
        8,
        "s4wm",
    )
    assert (config.env_name, config.num_envs, config.total_timesteps) == ("RepeatFirstEasy", 2, 128)
    assert (config.replay.length, config.train_ratio, args.run.num_seeds) == (4, 4.0, 2)
    assert args.run.run_dir == cfg.out_dir / "runs-dreamer" / "none" / "RepeatFirstEasy"
    # The gru cell is the evaluate test's tiny run: a process running both compiles it once.
    assert (
        suite.cell_args(cfg, "gru", "RepeatFirstEasy", "dreamer").dreamer == trained_args().dreamer
    )
    bad = tiny_suite(tmp_path, agents=("dreamer",), dreamer_options={"replay.lenght": 4})
    with pytest.raises(ConfigError, match=r"dreamer-options.*lenght"):
        suite.run_suite(bad)
    assert not cfg.out_dir.exists()  # refused before any cell was written
    monkeypatch.setattr(suite, "main", fake_main)
    records = suite.run_suite(cfg)
    cells = [(r["agent"], r["core"], r["mmer_mean"]) for r in records]
    ppo_cells, dreamer_cells = (
        [("ppo", c, 0.5) for c in cfg.cores],
        [("dreamer", c, 0.25) for c in cfg.cores],
    )
    assert cells == [*ppo_cells, *dreamer_cells]
    for r in records:  # each agent's cells in its own folder, trained by its own trainer
        folder = suite.cell_dir(cfg, r["core"], r["task"], r["agent"])
        assert RunDir(folder).read_config()["agent"] == r["agent"]
    folders = {suite.cell_dir(cfg, r["core"], r["task"], r["agent"]) for r in records}
    assert len(folders) == 4 and not any(a in b.parents for a in folders for b in folders)
    table = (cfg.out_dir / "mmer.md").read_text()
    assert "| task | ppo gru | ppo none | dreamer gru | dreamer none |" in table
    assert "| mean over tasks | 0.500 | 0.500 | 0.250 | 0.250 |" in table
    assert (cfg.out_dir / "mmer.png").stat().st_size > 1000


def test_suite_reuses_only_cells_of_the_same_config(tmp_path, monkeypatch):
    trained = []
    monkeypatch.setattr(suite, "main", lambda *a: trained.append(a[1]) or fake_main(*a))
    cfg = tiny_suite(tmp_path)
    suite.run_suite(cfg)
    suite.run_suite(cfg)  # the same settings: read back, not trained again
    assert len(trained) == 2
    assert "seeds), 128 env steps per seed, 2 seeds, PPO" in (cfg.out_dir / "mmer.md").read_text()
    longer = dataclasses.replace(cfg, total_timesteps=256)
    with pytest.raises(ConfigError, match=r"ppo\.total_timesteps 128 -> 256.*retrain-mismatched"):
        suite.run_suite(longer)
    assert json.loads((cfg.out_dir / "suite.json").read_text())["total_timesteps"] == 128
    wider = dataclasses.replace(cfg, hidden_size=16, cores=("gru",))
    with pytest.raises(ConfigError, match=r"ppo\.core\.hidden_size 8 -> 16"):
        suite.run_suite(wider)
    suite.run_suite(dataclasses.replace(longer, retrain_mismatched=True))
    assert len(trained) == 4 and {a.total_timesteps for a in trained[2:]} == {256}
    cell = RunDir(suite.cell_dir(cfg, "gru", "RepeatFirstEasy")).read_config()
    assert cell["ppo"]["total_timesteps"] == 256
    assert "256 env steps per seed" in (cfg.out_dir / "mmer.md").read_text()
    assert "RepeatPreviousMedium" in suite.SUITES["cpu"][1].tasks


def test_suite_command_line_takes_agents_and_dreamer_options(monkeypatch):
    seen = []
    monkeypatch.setattr(suite, "run_suite", lambda cfg, console: seen.append(cfg))
    assert (
        suite.cli(["cpu", "--agents", "ppo", "dreamer", "--dreamer-options", "replay.length", "16"])
        == 0
    )
    assert suite.cli(["cpu"]) == 0
    assert seen[0].agents == ("ppo", "dreamer") and seen[0].dreamer_options == {"replay.length": 16}
    assert seen[1].agents == ("ppo",) and seen[1].dreamer_options == {}
    with pytest.raises(ValueError, match="dreamer_preset"):
        suite.SuiteConfig(dreamer_preset="gpu-huge")


def test_tensorboard_logging_when_switched_on(tmp_path):
    result = ppo.main(tiny(tmp_path / "tb", tensorboard=True))
    assert list((result.run_dir / "tensorboard").glob("events.out.tfevents.*"))


def run_module(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, timeout=300, check=False
    )


def test_help_lists_presets_cores_and_flags_without_optional_loggers():
    done = run_module("-m", "experiments.ppo", "--help")
    assert done.returncode == 0
    for text in ("cpu-small", "cartpole", "popgym-paper", "brax", "core:s5", "--lr", "--resume"):
        assert text in done.stdout
    check = "import sys, experiments.ppo; print(*(m in sys.modules for m in {}))"
    imported = run_module("-c", check.format(("tensorboardX", "wandb")))
    assert imported.stdout.split() == ["False", "False"]


def test_preset_help_lists_the_cores(capsys):
    with pytest.raises(SystemExit) as exit_info:
        ppo.parse(["cartpole", "--help"])
    out = capsys.readouterr().out
    assert exit_info.value.code == 0
    assert all(f"core:{name.replace('_', '-')}" in out for name in cores.registered())


def test_bad_flags_exit_non_zero_with_a_readable_message(capsys):
    with pytest.raises(SystemExit) as exit_info:
        ppo.parse(["--lrr", "3"])
    captured = capsys.readouterr()
    assert exit_info.value.code != 0 and "--lrr" in captured.out + captured.err
    with pytest.raises(SystemExit) as exit_info:
        ppo.parse(["--num-envs", "10", "--num-minibatches", "3"])
    captured = capsys.readouterr()
    assert exit_info.value.code != 0
    assert "--num-minibatches" in captured.out + captured.err


def test_parse_builds_the_core_and_flags_of_the_issue():
    args = ppo.parse(["core:s5", "--core.num-layers", "4", "--lr", "1e-3", "--num-seeds", "3"])
    assert isinstance(args.core, cores.S5Config) and args.core.num_layers == 4
    assert args.lr == 1e-3 and args.num_seeds == 3 and args.preset == "cpu-small"
    assert not ppo.parse(["--no-progress", "--lr", "1e-3"]).progress
    paper = ppo.parse(["popgym-paper"])
    assert paper.core.num_layers == 4 and paper.core.hidden_size == 256
    assert (paper.lr, paper.num_envs, paper.num_steps) == (5e-5, 64, 1024)
    assert (paper.update_epochs, paper.num_minibatches, paper.gae_lambda) == (30, 8, 1.0)


def test_the_default_preset_is_ppo_configs_own_defaults():
    # One source of defaults: Python's PPOConfig() trains what `python -m experiments.ppo` does.
    assert ppo_config(ppo.presets()["cpu-small"][1]) == PPOConfig()
    assert ppo.parse([]).ppo.core == PPOConfig().core


@pytest.mark.parametrize("name", list(ppo.presets()))
def test_every_preset_builds_its_agent_without_compiling(name):
    args = ppo.presets()[name][1]
    config, run = ppo_config(args), args.run
    spec = build(config).agent.spec
    assert spec.discrete == (name != "brax") and run.num_seeds >= 1


# Last: its builds (tried one flag at a time) would push the shared config out of the cache.
def test_branch_that_changes_the_state_shapes_is_refused_before_compiling(straight, tmp_path):
    base = ["--from", str(straight.run_dir), "--run-dir", str(tmp_path / "bad")]
    for flags, named in (
        (["--num-envs", "4", "--lr", "0.01"], r"--num-envs \(2 -> 4\) would change"),
        (["--no-anneal-lr"], r"--anneal-lr \(True -> False\) would change"),
        (["--num-seeds", "3"], r"--num-seeds \(2 -> 3\) would change"),
    ):
        with pytest.raises(ConfigError, match=named) as refused:
            lifecycle.start(TRAINER, ppo.parse([*base, *flags]))
        assert "\n" not in str(refused.value) and "--lr" not in str(refused.value)
    with pytest.raises(CheckpointError, match="not a checkpoint of"):
        ppo.main(ppo.parse([*base, "--from-checkpoint", "checkpoints/000000005"]))
    with pytest.raises(ConfigError, match="drop --from"):
        ppo.main(ppo.parse(["--resume", str(straight.run_dir), "--from", str(straight.run_dir)]))
    assert not (tmp_path / "bad").exists()
