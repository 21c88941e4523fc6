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
