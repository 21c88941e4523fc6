"""PPO learns: a memory probe (RepeatFirstEasy needs the first card for a whole episode)."""

import jax
import numpy as np
import pytest

import rlssm.cores as cores
from agents.ppo import NetworkConfig, PPOConfig, make_train


@pytest.mark.slow  # ~22 s; tests/test_custom_example.py's PPO learns Recall in the default suite
def test_gru_ppo_learns_repeat_first_easy():
    # A memoryless policy scores about -0.5 on RepeatFirstEasy (one suit in four is right).
    config = PPOConfig(
        env_name="RepeatFirstEasy",
        core=cores.GRUConfig(hidden_size=32),
        network=NetworkConfig(encoder_sizes=(32,), head_sizes=(32,)),
        num_envs=32,
        num_steps=128,
        total_timesteps=600_000,
        lr=1e-3,
    )
    _, metrics = jax.jit(make_train(config))(jax.random.key(0))
    returns = np.asarray(metrics["return_mean"])
    assert returns[:5].mean() < -0.3
    assert returns[-5:].mean() > 0.5, returns[::10]
