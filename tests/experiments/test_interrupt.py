"""Ctrl-C and SIGTERM: the chunk in flight is checkpointed, the run says how to continue, and
resuming ends exactly where an uninterrupted run ends."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from experiments.ppo import cli as ppo
from experiments.run import checkpoint, loop
from experiments.run.interrupt import StopRequest
from experiments.run.loop import LoopPlan, run_loop
from experiments.run.progress import TrainingProgress
from experiments.run.run_dir import RunDir
from tests.experiments.test_host_pieces import fake_chunk

ROOT = Path(__file__).resolve().parents[2]
TIMING = ("wall_time", "steps_per_second")


def test_a_stop_request_checkpoints_the_chunk_just_run(tmp_path):
    run_dir = RunDir.create(tmp_path / "run", {"agent": "test"})
    plan = LoopPlan(12, 2, 10, 0, 3, 10)  # periodic checkpoints only every 10 chunks
    calls = []

    def stop() -> bool:
        calls.append(1)
        return len(calls) > 2  # asked during the second chunk

    state = {"update": np.zeros(2, np.int32)}
    with TrainingProgress(120, enabled=False) as bar:
        result = run_loop(state, 0, plan, fake_chunk([0] * 12), run_dir, {}, bar, stop=stop)
    assert result.status == loop.INTERRUPTED and result.update == 4
    assert checkpoint.latest(run_dir.checkpoints).name == "000000004"
    assert "interrupted at update 4" in result.message


def test_a_stop_before_the_first_chunk_runs_nothing(tmp_path):
    run_dir = RunDir.create(tmp_path / "run", {"agent": "test"})
    state = {"update": np.zeros(2, np.int32)}
    with TrainingProgress(80, enabled=False) as bar:
        result = run_loop(
            state,
            0,
            LoopPlan(8, 2, 1, 0, 3, 10),
            fake_chunk([0] * 8),
            run_dir,
            {},
            bar,
            stop=lambda: True,
        )
    assert result.status == loop.INTERRUPTED and result.update == 0
    assert checkpoint.latest(run_dir.checkpoints) is None and run_dir.read_metrics() == []


def test_the_first_signal_sets_the_flag_and_a_second_one_is_the_default_again():
    # Whatever handled SIGINT before comes back (Python's default_int_handler, or SIG_IGN in a
    # process started in the background by a non-interactive shell).
    before = signal.getsignal(signal.SIGINT)
    with StopRequest() as stop:
        assert not stop()
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(0.01)  # let the interpreter run the handler
        assert stop() and stop.signal == "SIGTERM"
        assert signal.getsignal(signal.SIGINT) is signal.SIG_DFL
    assert signal.getsignal(signal.SIGINT) is before


def ppo_command(run_dir: Path, *extra: str) -> list[str]:
    flags = "core:gru --core.hidden-size 8 --num-envs 2 --num-steps 8 --update-epochs 1"
    flags += " --num-minibatches 1 --chunk-updates 20 --checkpoint-every 100 --no-progress"
    return [
        sys.executable,
        "-m",
        "experiments.ppo",
        *flags.split(),
        *extra,
        "--run-dir",
        str(run_dir),
    ]


def untimed(run_dir: Path) -> list[dict]:
    return [{k: v for k, v in r.items() if k not in TIMING} for r in RunDir(run_dir).read_metrics()]


@pytest.mark.slow  # a subprocess and two compiles; the loop and handler cases above stay fast
def test_sigint_checkpoints_exits_130_and_resume_equals_an_uninterrupted_run(tmp_path):
    total = ["--total-timesteps", str(2 * 8 * 600)]  # 600 updates in chunks of 20
    interrupted, straight = tmp_path / "interrupted", tmp_path / "straight"
    process = subprocess.Popen(
        ppo_command(interrupted, *total), cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    try:
        metrics = interrupted / "metrics.jsonl"
        deadline = time.monotonic() + 120
        while not (metrics.exists() and metrics.stat().st_size) and time.monotonic() < deadline:
            time.sleep(0.05)
        process.send_signal(signal.SIGINT)
        out, _ = process.communicate(timeout=120)
    finally:
        process.kill()
    assert process.returncode == 130, out
    summary = json.loads((interrupted / "summary.json").read_text())
    assert summary["status"] == "interrupted" and summary["last_checkpoint"]
    assert f"--resume {interrupted}" in " ".join(out.split())
    stopped_at = int(summary["updates"])
    assert 0 < stopped_at < 600 and summary["last_checkpoint"].endswith(f"{stopped_at:09d}")
    # The resume and the uninterrupted run in this process share one compiled program.
    resumed = ppo.main(ppo.presets()["cpu-small"][1].replace(resume=interrupted, progress=False))
    assert resumed.status == "finished"
    straight_args = ppo.parse([*ppo_command(straight, *total)[3:]])
    assert untimed(interrupted) == untimed(ppo.main(straight_args).run_dir)
