"""The PPO benchmark's in-context case on a tiny Meta CartPole: trial returns add up."""

import dataclasses

import numpy as np
import pytest

import benchmarks.ppo as bench
import rlssm.cores as cores
from agents.ppo import NetworkConfig


@pytest.mark.slow  # trains and evaluates (about 15 s); the trial split is tested in tests/agents
def test_in_context_case_splits_fresh_episodes_by_trial():
    config = dataclasses.replace(
        bench.meta_cartpole_config(),
        env_options={"num_trials": 3, "trial_length": 60},
        core=cores.GRUConfig(hidden_size=8),
        network=NetworkConfig(encoder_sizes=(8,), head_sizes=(8,)),
        num_envs=4,
        num_steps=8,
        total_timesteps=4 * 8 * 2,
        num_minibatches=2,
    )
    case = bench.Case(config, "in-context", "-", "-", seeds=2, eval_episodes=5)
    row = bench.measure_in_context("tiny", case)
    assert row["episodes"] == 2 * 5  # every fresh episode ends within the task's step limit
    trials = np.array(row["trial_return_mean"])
    assert trials.shape == (3,) and np.all((trials > 0) & (trials <= 1.0))
    np.testing.assert_allclose(row["rise"], row["last_trial"] - row["first_trial"], atol=2e-4)
    assert row["rise_se"] > 0 and len(row["final_return"]) == 2
    table = bench.table([row], {"tiny": case})
    assert "trial 1: " in table and "trial 3: " in table


def test_every_case_has_a_known_kind():
    assert {case.kind for case in bench.cases().values()} <= set(bench.MEASURE)


def one_update(config):
    """`config` shrunk to one update (the case's network and core kept)."""
    return dataclasses.replace(config, total_timesteps=config.steps_per_update)


def test_a_speed_row_times_whole_runs_of_every_seed():
    case = bench.cases()["ff-cartpole-speed"]
    case = dataclasses.replace(case, config=one_update(case.config), seeds=3)
    row = bench.measure_speed("ff", case)
    assert row["runs"] == 3 and row["compile_s"] > 0
    assert row["steps_per_s_min"] <= row["steps_per_s"] <= row["steps_per_s_max"]
    assert "3 whole runs" in bench.table([row], {"ff": case})


@pytest.mark.slow  # compiles every case (the S5 4x256 ones take about 30 s each)
@pytest.mark.parametrize("name", sorted(bench.cases()))
def test_every_case_builds_and_runs_one_update(name):
    case = bench.cases()[name]
    case = dataclasses.replace(case, config=one_update(case.config), seeds=1)
    if case.kind == "speed":
        assert bench.measure_speed(name, case)["steps_per_s"] > 0
    else:
        train = bench.make_train(case.config)
        _, metrics = train(bench.jax.random.key(0))
        assert metrics["update"].shape == (1,)
