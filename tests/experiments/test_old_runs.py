"""Run directories written before the run-lifecycle redesign still resume, to the same result.

The fixtures were written by the code before experiments/run existed: a PPO run (GRU of width 8,
2 envs x 8 steps, 2 seeds) and a world-model run (S4WM, TwoRooms 8 + 8 steps) paused half way,
each with the metrics of the same run trained without a pause (`expected_full_metrics.jsonl`).
Resuming the paused copy with today's code must reproduce those rows: the config.json format
and the checkpoint's state layout exactly, the training computation up to float rounding (the
GRU's hand-written backward pass, Dec 2026, sums its gradients in another order: the losses moved
in the 8th digit, 1e-7 relative).
"""

import json
import math
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


def same_rows(got: list[dict], want: list[dict], rel: float = 1e-5) -> bool:
    """The same rows, keys and integers exactly, floats up to rounding (`rel` relative, 1e-6
    absolute: a policy loss of 4e-8 is zero up to rounding)."""

    def same(a, b) -> bool:
        if isinstance(a, float) and isinstance(b, float):
            return math.isclose(a, b, rel_tol=rel, abs_tol=1e-6)
        return a == b

    return len(got) == len(want) and all(
        g.keys() == w.keys() and all(same(g[k], w[k]) for k in g)
        for g, w in zip(got, want, strict=True)
    )


def test_rows_compare_up_to_rounding_only():
    row = {"update": 1, "loss": 0.0016696280799806118}
    assert same_rows([row], [{**row, "loss": 0.0016696278471499681}])
    assert not same_rows([row], [{**row, "loss": 0.0017}])
    assert not same_rows([row], [{**row, "update": 2}])


def copy(name: str, tmp_path: Path) -> Path:
    run_dir = tmp_path / name
    shutil.copytree(FIXTURES / name, run_dir)
    return run_dir


def test_old_ppo_run_resumes_to_the_uninterrupted_result(tmp_path):
    run_dir = copy("ppo-paused", tmp_path)
    result = ppo.main(ppo.presets()["cpu-small"][1].replace(resume=run_dir, progress=False))
    assert result.status == "finished"
    got = untimed(run_dir / "metrics.jsonl")
    assert same_rows(got, untimed(run_dir / "expected_full_metrics.jsonl"))


@pytest.mark.parametrize(
    "broken",
    # the resume itself is slow (24 s): the PPO case above resumes an old run in the default suite
    [pytest.param(False, marks=pytest.mark.slow), True],
)
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
    got = untimed(run_dir / "metrics.jsonl")
    assert same_rows(got, untimed(run_dir / "expected_full_metrics.jsonl"))
