"""Run in a subprocess with 4 fake CPU devices (tests/experiments/test_devices.py): one PPO
update on 1, 2 and 4 devices from the same state; prints the largest parameter difference
from the 1-device update and how the state's leaves are laid out, as JSON."""

import json
import os
import sys

import jax
import numpy as np

from agents.ppo import NetworkConfig, PPOConfig
from experiments.ppo.trainer import TRAINER, build
from experiments.run.config import RunConfig
from experiments.run.serialize import ConfigError
from rlssm import cores


def main() -> None:
    assert "xla_force_host_platform_device_count=4" in os.environ.get("XLA_FLAGS", "")
    config = PPOConfig(
        env_name="RepeatFirstEasy",
        core=cores.GRUConfig(hidden_size=8),
        network=NetworkConfig(encoder_sizes=(8,), head_sizes=(8,)),
        num_envs=8,
        num_steps=8,
        num_minibatches=2,
        update_epochs=2,
        total_timesteps=8 * 8 * 4,
    )
    programs = build(config).programs
    state = programs.init(jax.random.split(jax.random.key(0), 2))
    params, layouts = {}, {}
    for devices in (1, 2, 4):
        placement = TRAINER.placement(config, RunConfig(devices=devices))
        _, compile_chunk, run_chunk = programs.on(placement)
        compile_chunk(state, [1])
        after, _ = run_chunk(state, 1)
        params[devices] = jax.tree.leaves(jax.device_get(after.train_state.params))
        obs, params_leaf = after.obs, jax.tree.leaves(after.train_state.params)[0]
        carry = jax.tree.leaves(after.carry)[0]
        layouts[devices] = {
            "obs_devices": len(obs.sharding.device_set),
            "obs_shard_rows": obs.addressable_shards[0].data.shape[1],
            "carry_shard_rows": carry.addressable_shards[0].data.shape[1],
            "env_replicated": all(
                leaf.sharding.is_fully_replicated for leaf in jax.tree.leaves(after.env_state)
            ),
            "params_replicated": params_leaf.sharding.is_fully_replicated,
        }
    difference = {
        devices: max(float(np.max(np.abs(a - b))) for a, b in zip(leaves, params[1], strict=True))
        for devices, leaves in params.items()
    }
    moved = max(
        float(np.max(np.abs(a - b)))
        for a, b in zip(params[1], jax.tree.leaves(state.train_state.params), strict=True)
    )
    try:
        TRAINER.placement(config, RunConfig(devices=3))
        refused = ""
    except ConfigError as err:
        refused = str(err)
    result = {"difference": difference, "moved": moved, "layouts": layouts, "refused": refused}
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    main()
