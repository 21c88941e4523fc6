"""The world-model benchmark's bookkeeping: budgets (updates x training episodes) and targets."""

import pytest

import benchmarks.world_models as bench


def row(task, model, mse, steps="3000", episodes="2048", preset="cpu-small"):
    return {
        "task": task,
        "model": model,
        "preset": preset,
        "steps": steps,
        "episodes": episodes,
        "mse": mse,
    }


def test_memoryless_ratio_compares_only_runs_of_the_same_budget():
    rows = [
        row("Memory/Teleport-FourRooms", "memoryless", "0.0400"),
        row("Memory/Teleport-FourRooms", "s4wm", "0.0300"),
        row("Memory/Teleport-FourRooms", "s4wm", "0.0350", episodes="256"),
        row("Memory/Teleport-FourRooms", "s4wm", "0.0200", preset="cpu-recall"),
    ]
    bench.add_memoryless_ratio(rows)
    assert [r["vs_memoryless"] for r in rows] == ["1.00", "0.75", "", ""]


def test_recall_target_needs_both_models_ten_percent_below_memoryless_per_budget():
    task = "Memory/Teleport-FourRooms"
    quality = [
        row(task, "memoryless", "0.0400"),
        row(task, "s4wm", "0.0350"),
        row(task, "rssm", "0.0361"),  # 0.9025 of the baseline: not 10% lower
        row(task, "memoryless", "0.0400", episodes="256"),
        row(task, "s4wm", "0.0300", episodes="256"),
        row(task, "memoryless", "0.0400", steps="1500", preset="cpu-recall"),
        row(task, "s4wm", "0.0300", steps="1500", preset="cpu-recall"),
        row(task, "rssm", "0.0359", steps="1500", preset="cpu-recall"),
    ]
    lines = [line for line in bench.targets([], quality) if "recall" in line]
    assert lines == [
        "- S4WM and RSSM clearly better (MSE at least 10% lower) than the memoryless baseline on "
        f"{task} (recall), cpu-small, 3000 updates on 256 episodes: partly measured, met so "
        "far (s4wm 0.0300; memoryless 0.0400).",
        "- S4WM and RSSM clearly better (MSE at least 10% lower) than the memoryless baseline on "
        f"{task} (recall), cpu-small, 3000 updates on 2048 episodes: not met "
        "(s4wm 0.0350, rssm 0.0361; memoryless 0.0400).",
        "- S4WM and RSSM clearly better (MSE at least 10% lower) than the memoryless baseline on "
        f"{task} (recall), cpu-recall, 1500 updates on 2048 episodes: met "
        "(s4wm 0.0300, rssm 0.0359; memoryless 0.0400).",
    ]


def test_imagination_target_reads_each_budget():
    quality = [
        row("Memory/FourRooms", "s4wm", "0.0300", steps="600", episodes="256"),
        row("Memory/FourRooms", "rssm", "0.0400", steps="600", episodes="256"),
    ]
    lines = bench.targets([], quality)
    assert (
        "- S4WM's imagination MSE below RSSM's on Memory/FourRooms, cpu-small, 600 updates on "
        "256 episodes: met (0.0300 vs 0.0400)." in lines
    )
    assert "- S4WM's imagination MSE below RSSM's on Memory/TenRooms: not measured." in lines


def test_training_episodes_of_summaries_written_before_they_recorded_them():
    old = {"dataset": {"rows": 288}, "eval": {"episodes": 32}}
    assert bench.train_episodes(old) == 256
    assert bench.train_episodes({**old, "train_episodes": 2048}) == 2048


def test_quality_row_reads_the_first_query_frame_the_budget_and_the_reconstruction():
    summary = {
        "task": "Memory/Teleport-TwoRooms",
        "dataset": {"tile_size": 2},
        "core": "s5",
        "updates": 3000,
        "train_episodes": 2048,
        "train_seconds": 12.3,
        "eval": {
            "mse_mean": 0.03,
            "mse_per_frame": [0.01, 0.04, 0.04],
            "mse_buckets": [0.02, 0.04],
            "reward_accuracy": 1.0,
            "reward_event_accuracy": float("nan"),
            "loss_terms": {"recon": 7.68},
        },
    }
    got = bench.quality_row(summary, "s4wm", "cpu-recall")
    assert got["recon_mse"] == "0.0100"  # 7.68 summed over a 16 x 16 x 3 frame
    assert (got["steps"], got["episodes"], got["mse_first"]) == (3000, 2048, "0.0100")
    assert got["preset"] == "cpu-recall"
    assert (got["mse_q1"], got["mse_q2"], got["reward_event_acc"]) == ("0.0200", "0.0400", "-")


def test_rows_stored_before_the_preset_column_read_as_cpu_small(monkeypatch):
    section = (
        "### Quality\n\n| task | model | steps | mse |\n|---|---|---|---|\n"
        "| Memory/TwoRooms | s4wm | 600 | 0.0300 |\n"
    )
    monkeypatch.setattr(bench, "read_section", lambda name: section)
    _, quality, _ = bench.stored_tables()
    assert bench.budget(quality[0]) == ("cpu-small", "600", "256")


def test_merge_keeps_rows_of_another_preset():
    old = [row("Memory/TwoRooms", "s4wm", "0.0300", steps="1500")]
    new = [row("Memory/TwoRooms", "s4wm", "0.0200", steps="1500", preset="cpu-recall")]
    assert len(bench.merge_rows(old, new, bench.QUALITY_KEY)) == 2
    assert bench.merge_rows(old, old[:], bench.QUALITY_KEY) == old


def test_the_benchmark_offers_the_cpu_presets_of_the_command_line():
    assert bench.PRESETS[:2] == ("cpu-small", "cpu-recall") and "gpu-paper" not in bench.PRESETS


def test_unknown_preset_is_refused():
    with pytest.raises(ValueError, match="gpu-paper"):
        bench.Args(quality=True, preset="gpu-paper")
