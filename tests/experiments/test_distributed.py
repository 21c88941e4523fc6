"""--distributed: two processes on 127.0.0.1 train one PPO run; only process 0 writes it."""

import json
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import jax
import pytest

from experiments.run.config import RunConfig
from experiments.run.devices import check_distributed
from experiments.run.lifecycle import DIGEST_VARIABLE
from experiments.run.run_dir import RunDir
from experiments.run.serialize import ConfigError
from tests.experiments import fake_devices_env

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT = 300
"""Seconds any one process may take."""
TINY = [
    "--total-timesteps",
    "256",
    "--num-envs",
    "8",
    "--num-minibatches",
    "2",
    "--num-steps",
    "8",
    "--no-progress",
    "core:gru",
    "--core.hidden-size",
    "8",
]


def test_overrides_need_distributed():
    with pytest.raises(ValueError, match="--num-processes, --process-id only apply with"):
        RunConfig(num_processes=2, process_id=0)
    RunConfig(distributed=True, num_processes=2, process_id=1, coordinator_address="h:1")


def test_distributed_takes_every_device():
    count = len(jax.devices())
    check_distributed(0)
    check_distributed(count)
    with pytest.raises(ConfigError, match="pass --devices 0"):
        check_distributed(count + 1)


def test_only_the_writer_writes(tmp_path):
    run = RunDir.create(tmp_path / "run", {"agent": "ppo"})
    other = RunDir(run.path, writer=False)
    other.append_metrics([{"update": 1, "seed": 0}])
    other.write_summary({"status": "finished"})
    other.write_config({"agent": "other"})
    other.truncate_metrics(0)
    assert sorted(p.name for p in run.path.iterdir()) == ["config.json"]
    assert other.read_config() == {"agent": "ppo"}
    scratch = other.plots
    assert scratch.is_dir() and not scratch.is_relative_to(run.path)
    other.drop_scratch()
    assert not scratch.exists()
    run.append_metrics([{"update": 1, "seed": 0}])
    assert other.read_metrics() == [{"update": 1, "seed": 0}]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def environment() -> dict:
    return {**fake_devices_env(2), DIGEST_VARIABLE: "1"}


def digest(output: str) -> str:
    lines = [line for line in output.splitlines() if line.startswith("state digest: ")]
    assert len(lines) == 1, output[-3000:]
    return lines[0].removeprefix("state digest: ")


def two_processes(
    module: str, args: list[str], logs: Path, codes: tuple[int, int] = (0, 0), meanwhile=None
) -> list[str]:
    """The outputs of `python -m module ARGS --distributed ...` in two processes on this
    machine (2 fake CPU devices each), after asserting that they exited with `codes`;
    `meanwhile(processes)` runs once both started. The outputs go to files in `logs` (a pipe
    read only at the end could fill up and stall a process)."""
    command = [sys.executable, "-m", module, *args, "--distributed", "--devices", "0"]
    command += ["--coordinator-address", f"127.0.0.1:{free_port()}", "--num-processes", "2"]
    files = [logs / f"process{index}.log" for index in range(2)]
    processes = []
    try:
        for index, file in enumerate(files):
            with open(file, "w") as out:
                processes.append(
                    subprocess.Popen(
                        [*command, "--process-id", str(index)],
                        cwd=ROOT,
                        env=environment(),
                        stdout=out,
                        stderr=subprocess.STDOUT,
                    )
                )
        if meanwhile is not None:
            meanwhile(processes)
        exits = [p.wait(timeout=TIMEOUT) for p in processes]
    except subprocess.TimeoutExpired:
        tails = "\n".join(f"process {i}: ...{f.read_text()[-2000:]}" for i, f in enumerate(files))
        raise AssertionError(f"a process ran past {TIMEOUT} s; their logs:\n{tails}") from None
    finally:
        for p in processes:
            if p.poll() is None:
                p.kill()
                p.wait()
    outputs = [file.read_text() for file in files]
    for code, expected, output in zip(exits, codes, outputs, strict=True):
        assert code == expected, output[-3000:]
    return outputs


def test_two_processes_train_one_run_and_one_process_resumes_it(tmp_path):  # 33-41 s
    run_dir = tmp_path / "run"
    outputs = two_processes("experiments.ppo", [*TINY, "--run-dir", str(run_dir)], tmp_path)
    assert "finished: finished 4 updates." in outputs[0]
    assert "finished" not in outputs[1]  # its console is quiet
    assert digest(outputs[0]) == digest(outputs[1])  # the same parameters in both
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "finished"
    assert summary["last_checkpoint"] == "checkpoints/000000004"
    assert {p.name for p in run_dir.iterdir()} == {
        "config.json",
        "metrics.jsonl",
        "metrics.csv",
        "summary.json",
        "plots",
        "checkpoints",
    }
    assert [p.name for p in (run_dir / "checkpoints").iterdir()] == ["000000004"]
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [r["update"] for r in rows] == [u for u in range(1, 5) for _ in range(2)]  # 2 seeds

    resume = ["--resume", str(run_dir), "--total-timesteps", "512", "--no-progress"]
    resumed = subprocess.run(
        [sys.executable, "-m", "experiments.ppo", *resume],
        cwd=ROOT,
        env=environment(),
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    assert "resuming from" in resumed.stdout and "(update 4)" in resumed.stdout
    assert "finished: finished 8 updates." in resumed.stdout
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [r["update"] for r in rows] == [u for u in range(1, 9) for _ in range(2)]


@pytest.mark.slow  # 30 s: the PPO test above covers the distributed lifecycle in the default suite
def test_two_processes_train_one_world_model(tmp_path):
    run_dir = tmp_path / "run"
    tiny = "--task Memory/TwoRooms --context-length 8 --query-length 8 --train-episodes 8"
    tiny += " --eval-episodes 4 --shown-episodes 2 --core-size 8 --state-size 4 --hidden-size 8"
    tiny += " --latent-groups 2 --latent-classes 4 --cnn-depth 4 --reward-bins 7 --steps 4"
    tiny += " --batch-size 4 --chunk-updates 2 --no-progress"
    args = [*tiny.split(), "--run-dir", str(run_dir), "--dataset-dir", str(tmp_path / "data")]
    outputs = two_processes("experiments.world_model", args, tmp_path)
    assert "finished: finished 4 updates." in outputs[0]
    assert "finished" not in outputs[1]
    assert digest(outputs[0]) == digest(outputs[1])
    assert json.loads((run_dir / "summary.json").read_text())["status"] == "finished"
    assert (run_dir / "plots").is_dir()


@pytest.mark.slow  # 20 s; kept out of a default suite near its 15-minute budget
def test_ctrl_c_in_one_process_stops_both_at_one_checkpoint(tmp_path):
    # Ctrl-C reaches the process it was typed in (here process 1, which writes nothing); the
    # stop flag is shared, so both stop after the same chunk and process 0 checkpoints it.
    run_dir = tmp_path / "run"
    args = ["--chunk-updates", "4", *TINY]
    args[args.index("--total-timesteps") + 1] = str(8 * 8 * 2000)

    def interrupt_after_the_first_rows(processes):
        metrics, deadline = run_dir / "metrics.jsonl", time.monotonic() + TIMEOUT
        while not (metrics.exists() and metrics.stat().st_size) and time.monotonic() < deadline:
            if any(p.poll() is not None for p in processes):
                return  # one ended early: its exit code tells
            time.sleep(0.05)
        processes[1].send_signal(signal.SIGINT)

    outputs = two_processes(
        "experiments.ppo",
        [*args, "--run-dir", str(run_dir)],
        tmp_path,
        codes=(130, 130),
        meanwhile=interrupt_after_the_first_rows,
    )
    summary = json.loads((run_dir / "summary.json").read_text())
    stopped_at = int(summary["updates"])
    assert summary["status"] == "interrupted" and 0 < stopped_at < 2000, summary
    assert summary["last_checkpoint"] == f"checkpoints/{stopped_at:09d}"
    assert digest(outputs[0]) == digest(outputs[1])
    assert f"--resume {run_dir}" in " ".join(outputs[0].split())


LATE_PROCESS = """
import sys, time
import jax
from experiments.run.devices import any_process, barrier, initialize
from experiments.run.run_dir import RunDir
initialize(sys.argv[1], 2, int(sys.argv[2]))
if jax.process_index() == 1:
    time.sleep(35)  # compiling slower, say: CPU collectives give up on a peer after 30 s
RunDir.create(sys.argv[3], {"agent": "late"})  # the late process looks before it is created
barrier("late")
print("any:", any_process(jax.process_index() == 1), flush=True)
"""


@pytest.mark.slow  # 45 s: waits out gloo's 30 s
def test_a_barrier_lets_a_late_process_join_the_next_collective(tmp_path):
    address = f"127.0.0.1:{free_port()}"
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", LATE_PROCESS, address, str(index), str(tmp_path / "run")],
            cwd=ROOT,
            env=environment(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for index in range(2)
    ]
    try:
        outputs = [p.communicate(timeout=120)[0] for p in processes]
    finally:
        for p in processes:
            p.kill()
    for p, output in zip(processes, outputs, strict=True):
        assert p.returncode == 0 and "any: True" in output, output[-3000:]
