"""benchmarks.scaling: the cost column and the table, on made-up rows."""

from benchmarks.scaling import random_dataset, row, table, with_costs


def test_cost_is_time_per_step_against_one_device_at_the_same_global_batch():
    rows = with_costs(
        [
            row("ppo", "strong", 1, 32, 1000, [1.0, 2.0, 1.0], 3.0),
            row("ppo", "strong", 4, 32, 1000, [1.25, 1.25, 1.5], 3.0),
            row("ppo", "weak", 4, 64, 1000, [1.0], 3.0),
        ]
    )
    assert [r["steps_per_s"] for r in rows] == [1000, 800, 1000]
    assert (rows[0]["min"], rows[0]["max"]) == (500, 1000)
    assert [r["cost"] for r in rows] == [1.0, 1.25, None]
    text = table(rows)
    assert "| ppo | strong | 4 | 32 | 800 (667-800) | 1.25x | 3.0 s |" in text
    assert "| ppo | weak | 4 | 64 | 1,000 (1,000-1,000) | - | 3.0 s |" in text


def test_random_dataset_has_the_tasks_shapes():
    from experiments.world_model.presets import presets

    experiment = presets()["cpu-small"][1].experiment
    data = random_dataset(experiment, 2)
    assert data["obs"].shape[:2] == data["start"].shape == (2, experiment.episode_length)
    assert data["start"][:, 0].all() and not data["start"][:, 1:].any()
