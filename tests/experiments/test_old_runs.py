"""Run directories written before the run-lifecycle redesign still resume, to the same result.

The fixtures were written by the code before experiments/run existed: a PPO run (GRU of width 8,
2 envs x 8 steps, 2 seeds) and a world-model run (S4WM, TwoRooms 8 + 8 steps) paused half way,
each with the metrics of the same run trained without a pause (`expected_full_metrics.jsonl`).
Resuming the paused copy with today's code must reproduce those rows exactly: the config.json
format, the checkpoint's state layout and the training computation are all unchanged.
"""

import json
import shutil
from pathlib import Path

import pytest

from experiments.ppo import cli as ppo
from experiments.world_model import cli as world_model

FIXTURES = Path(__file__).parent / "fixtures" / "old_runs"
TIMING = ("wall_time", "steps_per_second", "updates_per_second")


def untimed(path: Path) -> list[dict]:
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [{k: v for k, v in row.items() if k not in TIMING} for row in rows]


def copy(name: str, tmp_path: Path) -> Path:
    run_dir = tmp_path / name
    shutil.copytree(FIXTURES / name, run_dir)
    return run_dir


def test_old_ppo_run_resumes_to_the_uninterrupted_result(tmp_path):
    run_dir = copy("ppo-paused", tmp_path)
    result = ppo.main(ppo.presets()["cpu-small"][1].replace(resume=run_dir, progress=False))
    assert result.status == "finished"
    assert untimed(run_dir / "metrics.jsonl") == untimed(run_dir / "expected_full_metrics.jsonl")


@pytest.mark.parametrize("broken", [False, True])
def test_old_world_model_run_resumes_to_the_uninterrupted_result(tmp_path, broken):
    run_dir = copy("wm-paused", tmp_path)
    if broken:  # the check can fail: a changed learning rate changes the config fingerprint
        record = json.loads((run_dir / "config.json").read_text())
        record["experiment"]["lr"] = 2e-3
        (run_dir / "config.json").write_text(json.dumps(record))
    args = world_model.presets()["cpu-small"][1].replace(
        resume=run_dir, progress=False, dataset_dir=tmp_path / "data"
    )
    if broken:
        with pytest.raises(Exception, match="config_sha256"):
            world_model.main(args)
        return
    result = world_model.main(args)
    assert result.status == "finished"
    assert untimed(run_dir / "metrics.jsonl") == untimed(run_dir / "expected_full_metrics.jsonl")
