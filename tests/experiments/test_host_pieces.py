"""Host-side pieces without an agent: config round trip, chunk plan, non-finite stop, scores."""

import dataclasses
import json
import math
from pathlib import Path
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import rlssm.cores as cores
from agents.common import compiler_options
from agents.dreamer import DreamerConfig
from agents.ppo import NetworkConfig, PPOConfig
from experiments.dreamer.trainer import build as build_dreamer
from experiments.ppo.trainer import build as build_ppo
from experiments.run import checkpoint, loop, scores
from experiments.run.loop import LoopPlan, auto_chunk, chunk_sizes, run_loop
from experiments.run.programs import ChunkPrograms
from experiments.run.progress import TrainingProgress
from experiments.run.run_dir import RunDir
from experiments.run.serialize import ConfigError, from_dict, to_dict


@pytest.mark.parametrize("name", cores.registered())
def test_config_json_round_trip_for_every_core(name):
    core = cores.config_for(name, hidden_size=24, num_layers=2)
    config = PPOConfig(
        env_name="CartPole-v1",
        env_options={"max_steps_in_episode": 100},
        core=core,
        network=NetworkConfig(encoder_sizes=(32, 16), head_sizes=(), activation="relu"),
        num_envs=8,
        num_minibatches=2,
        lr=3e-4,
        gae_lambda=1.0,
    )
    back = from_dict(PPOConfig, json.loads(json.dumps(to_dict(config))))
    assert back == config and type(back.core) is type(core)
    assert isinstance(back.network.encoder_sizes, tuple)


def test_stored_config_with_unknown_field_or_core_is_refused():
    data = to_dict(PPOConfig())
    with pytest.raises(ConfigError, match="has no field"):
        from_dict(PPOConfig, {**data, "learning_rate": 1.0})
    with pytest.raises(ConfigError, match="unknown core 's7'"):
        from_dict(PPOConfig, {**data, "core": {"name": "s7"}})
    with pytest.raises(ConfigError, match="num_minibatches"):
        from_dict(PPOConfig, {**data, "num_minibatches": 3})


def test_checkpoints_of_a_config_file_that_lacks_a_later_field_still_restore(tmp_path):
    """A run written before a config field was added: its config.json lacks the field (read back
    at the default) and its checkpoints hold the fingerprint of the file as written. They
    restore; a file that reads back as another config, or a foreign fingerprint, does not."""
    from experiments.dreamer.trainer import TRAINER
    from experiments.run.config import RunConfig
    from experiments.run.lifecycle import checkpoint_meta, digest, fingerprint

    config, run = DreamerConfig(), RunConfig(num_seeds=2)
    written = to_dict(config)
    del written["recon_scale"]  # a field added after the run was written, at its default
    record = {"agent": "dreamer", "dreamer": written}
    path = tmp_path / "000000004"
    path.mkdir()

    def saved_with(sha: str, config=config) -> dict:
        manifest = {"format": checkpoint.FORMAT, "meta": {"config_sha256": sha}}
        (path / checkpoint.MANIFEST).write_text(json.dumps(manifest))
        return checkpoint_meta(TRAINER, record, config, run, path)

    old = digest(TRAINER, written, run)
    assert old != fingerprint(TRAINER, config, run)
    assert saved_with(old) == {"config_sha256": old}
    assert saved_with("f" * 64) == {"config_sha256": fingerprint(TRAINER, config, run)}
    other = dataclasses.replace(config, recon_scale=10.0)
    assert saved_with(old, other) == {"config_sha256": fingerprint(TRAINER, other, run)}


def test_chunks_always_break_at_the_same_updates():
    assert chunk_sizes(0, 10, 4) == [4, 4, 2]
    assert chunk_sizes(4, 10, 4) == [4, 2]
    assert chunk_sizes(8, 10, 4) == [2]
    assert chunk_sizes(10, 10, 4) == []


def test_automatic_chunks_have_one_size_where_a_divisor_is_near():
    # purejaxrl's CartPole run: 976 updates; 976 // 50 = 19 would leave a last chunk of 7
    # (a second compile), 16 divides 976.
    assert auto_chunk(976) == 16
    assert set(chunk_sizes(0, 976, auto_chunk(976))) == {16}
    assert auto_chunk(1000) == 20
    assert auto_chunk(10) == 1
    assert auto_chunk(0) == 1
    # A prime total has no divisor near 1009 // 50 = 20: the plain quotient.
    assert auto_chunk(1009) == 20


def fake_chunk(streaks: list[int]):
    """A `run_chunk` over a numpy state whose non-finite streak follows `streaks`."""

    def run_chunk(state, size):
        start = int(state["update"][0])
        updates = np.arange(start + 1, start + size + 1)[None].repeat(2, axis=0)
        metrics = {
            "update": updates,
            "env_steps": updates * 10,
            "return_mean": np.full((2, size), 0.5),
            "nonfinite_streak": np.array([[0] * size, streaks[start : start + size]]),
        }
        return {"update": updates[:, -1]}, metrics

    return run_chunk


def test_nonfinite_streak_stops_without_checkpointing_the_bad_state(tmp_path):
    run_dir = RunDir.create(tmp_path / "run", {"agent": "test"})
    plan = LoopPlan(
        total_updates=8,
        chunk_updates=2,
        checkpoint_every=1,
        keep_checkpoints=0,
        max_nonfinite_streak=3,
        steps_per_update=10,
    )
    state = {"update": np.zeros(2, np.int32)}
    with TrainingProgress(80, enabled=False) as bar:
        result = run_loop(state, 0, plan, fake_chunk([0, 0, 1, 2, 3, 4, 5, 6]), run_dir, {}, bar)
    assert result.status == loop.NONFINITE and result.update == 6
    assert [p.name for p in checkpoint.available(run_dir.checkpoints)] == [
        "000000002",
        "000000004",
    ]
    assert "seed 1" in result.message and "000000004" in result.message
    assert [r["update"] for r in run_dir.read_metrics()][-1] == 6


def test_stop_after_pauses_at_the_end_of_a_chunk(tmp_path):
    run_dir = RunDir.create(tmp_path / "run", {"agent": "test"})
    plan = LoopPlan(8, 2, 10, 0, 3, 10, stop_after=3)
    with TrainingProgress(80, enabled=False) as bar:
        state = {"update": np.zeros(2, np.int32)}
        result = run_loop(state, 0, plan, fake_chunk([0] * 8), run_dir, {}, bar)
    assert result.status == loop.PAUSED and result.update == 4
    assert checkpoint.latest(run_dir.checkpoints).name == "000000004"


def test_metrics_truncation_drops_rows_after_the_checkpoint(tmp_path):
    run_dir = RunDir.create(tmp_path / "run", {"agent": "test"})
    rows = [{"update": u, "seed": s, "x": float(u)} for u in (1, 2, 3) for s in (0, 1)]
    run_dir.append_metrics(rows)
    run_dir.truncate_metrics(2)
    assert run_dir.read_metrics() == rows[:4]
    csv_lines = (run_dir.path / "metrics.csv").read_text().splitlines()
    assert csv_lines[0] == "update,seed,x" and len(csv_lines) == 5


def test_mmer_is_the_max_over_updates_of_the_batch_mean_return():
    rows = [
        {"update": u, "seed": s, "return_mean": r}
        for s, returns in enumerate([[None, -0.5, 0.25, 0.1], [None, None, None, None]])
        for u, r in enumerate(returns, start=1)
    ]
    per_seed = scores.mmer(rows)
    assert per_seed[0] == 0.25 and math.isnan(per_seed[1])
    assert scores.mean_std(per_seed) == (0.25, 0.0)
    assert scores.final_return(rows, fraction=0.5)[0] == pytest.approx((0.25 + 0.1) / 2)


def test_span_returns_weigh_each_update_by_its_episodes():
    # Spans of 100 env steps; an update belongs to the span of its last step (100 is in the
    # first); updates without an episode or a finite mean add nothing.
    rows = [
        {"seed": 0, "env_steps": 50, "episodes": 1, "return_mean": 1.0},
        {"seed": 0, "env_steps": 100, "episodes": 3, "return_mean": -1.0},
        {"seed": 0, "env_steps": 150, "episodes": 0, "return_mean": None},
        {"seed": 0, "env_steps": 250, "episodes": 2, "return_mean": 0.5},
        {"seed": 0, "env_steps": 300, "episodes": 2, "return_mean": float("nan")},
        {"seed": 1, "env_steps": 101, "episodes": 1, "return_mean": 0.25},
    ]
    assert scores.span_returns(rows, 100) == {0: [(100, -0.5), (300, 0.5)], 1: [(200, 0.25)]}


def test_span_returns_command_prints_each_seeds_spans(tmp_path, capsys):
    run_dir = RunDir.create(tmp_path / "run", {"agent": "test"})
    row = {"update": 1, "seed": 0, "env_steps": 10000, "episodes": 4, "return_mean": 0.125}
    run_dir.append_metrics([row, {**row, "update": 2, "env_steps": 20000, "return_mean": 0.5}])
    scores.main([str(run_dir.path), "--span", "10000"])
    assert capsys.readouterr().out == "seed 0, training return by span to: 10k 0.12, 20k 0.50\n"


def test_run_config_rejects_bad_values():
    from experiments.run.config import RunConfig

    with pytest.raises(ValueError, match="num_seeds must be >= 1"):
        RunConfig(num_seeds=0)
    with pytest.raises(ValueError, match="stop_after"):
        dataclasses.replace(RunConfig(), stop_after=0)


def test_wandb_logger_resumes_one_wandb_run_and_logs_seed_means(tmp_path, monkeypatch):
    import sys
    import types

    from experiments.run.loggers import WandbLogger

    calls = {"init": [], "log": [], "finish": 0}

    class FakeRun:
        def log(self, data, step):
            calls["log"].append((step, data))

        def finish(self):
            calls["finish"] += 1

    def init(**kwargs):
        calls["init"].append(kwargs)
        return FakeRun()

    fake = types.SimpleNamespace(init=init, util=types.SimpleNamespace(generate_id=lambda: "abc"))
    monkeypatch.setitem(sys.modules, "wandb", fake)
    rows = [
        {"update": 1, "seed": 0, "env_steps": 16, "loss": 1.0, "return_mean": None},
        {"update": 1, "seed": 1, "env_steps": 16, "loss": 3.0, "return_mean": 0.5},
    ]
    for _ in range(2):  # a resumed run continues the same wandb run
        logger = WandbLogger(tmp_path, "project", None, {"lr": 1.0})
        logger.log(rows)
        logger.close()
    assert [c["id"] for c in calls["init"]] == ["abc", "abc"]
    assert calls["init"][0]["dir"] == str(tmp_path) and calls["init"][0]["resume"] == "allow"
    assert calls["log"][0] == (16, {"train/loss": 2.0, "train/return_mean": 0.5})
    assert calls["finish"] == 2


def test_trial_stats_hand_computed():
    from experiments.evaluate import trial_stats

    # 2 seeds x 3 episodes x 2 trials; seed 1's last episode did not finish.
    returns = np.array([[[0.1, 0.3], [0.2, 0.2], [0.3, 0.7]], [[0.5, 0.5], [0.1, 0.5], [9, 9]]])
    done = np.array([[True, True, True], [True, True, False]])
    stats = trial_stats(returns, done)
    np.testing.assert_allclose(stats["trial_return_mean"], [0.24, 0.44])
    np.testing.assert_allclose(stats["trial_return_per_seed"], [[0.2, 0.4], [0.3, 0.5]])
    assert stats["last_minus_first"] == pytest.approx(0.2)
    rises = np.array([0.2, 0.0, 0.4, 0.0, 0.4])
    assert stats["last_minus_first_se"] == pytest.approx(rises.std(ddof=1) / np.sqrt(5))


def test_trial_report_with_one_episode_shows_no_standard_error():
    from rich.console import Console

    from experiments.evaluate import report, trial_stats

    stats = trial_stats(np.array([[[0.1, 0.4]]]), np.array([[True]]))
    assert stats["last_minus_first_se"] is None
    seed = dict.fromkeys(("return_mean", "return_std", "return_min", "return_max"), 0.5)
    seed.update(episodes=1, length_mean=2.0, unfinished=0)
    results = {
        "task": "MetaCartPole",
        "policy": "greedy",
        "update": 1,
        "max_steps": 2,
        "per_seed": [seed],
        "return_mean": 0.5,
        "return_std": 0.0,
        "episodes": 1,
        "output": "out.json",
        **stats,
    }
    console = Console(record=True, width=200)
    report(results, console)
    assert "last - first = +0.300 (s.e. -)" in console.export_text()


@pytest.mark.parametrize(
    ("status", "checkpointed", "expected", "absent"),
    [
        ("paused", True, ["--resume", "evaluate:"], ["diverge"]),
        ("interrupted", True, ["--resume", "evaluate:"], ["diverge"]),
        ("nonfinite", False, ["diverge again", "--lr"], ["--resume R", "evaluate:"]),
        ("finished", True, ["evaluate:"], ["--resume", "diverge"]),
    ],
)
def test_report_offers_only_next_steps_that_work(status, checkpointed, expected, absent):
    from rich.console import Console

    from experiments.ppo.trainer import TRAINER
    from experiments.run.lifecycle import TrainResult, report

    summary = {
        "message": "m",
        "final_return_mean": 0.0,
        "mmer_mean": 0.0,
        "num_seeds": 1,
        "last_checkpoint": "checkpoints/000000004" if checkpointed else None,
    }
    console = Console(record=True, width=200)
    report(TRAINER, TrainResult(Path("R"), status, None, summary), console)
    text = console.export_text()
    assert all(e in text for e in expected) and not any(a in text for a in absent)


class _Tiny(NamedTuple):
    x: jax.Array
    update: jax.Array


def test_chunk_programs_compile_with_their_trainers_xla_options():
    """The model-based agent's programs turn YNNPACK's fusions off on the CPU
    (agents.common.compiler_options); PPO's keep XLA's defaults."""

    def run(state, num_updates):
        return state._replace(x=jnp.tanh(state.x @ state.x.T)), {}

    def compiled_text(options):
        programs = ChunkPrograms(run, None, compiler_options=options)
        programs.compile(_Tiny(jnp.ones((1, 16, 16)), jnp.zeros((1,), jnp.int32)), [1])
        return programs.chunks[(1, 1, None)].as_text()

    assert "ynn" in compiled_text(None)  # XLA's default, which the option changes
    assert "ynn" not in compiled_text(compiler_options("cpu"))
    assert compiler_options("gpu") is None
    assert build_dreamer(DreamerConfig()).programs.compiler_options == compiler_options()
    assert build_ppo(PPOConfig()).programs.compiler_options is None
