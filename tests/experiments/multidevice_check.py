"""Run in a subprocess with 4 fake CPU devices (tests/experiments/test_devices.py): one PPO
update on 1, 2 and 4 devices from the same state; prints the largest parameter difference
from the 1-device update and how the state's leaves are laid out, as JSON."""

import json
import os
import re
import sys
import tempfile
from pathlib import Path

import jax
import numpy as np

from agents.ppo import NetworkConfig, PPOConfig
from benchmarks.scaling import random_dataset
from experiments.ppo.trainer import TRAINER, build
from experiments.run import checkpoint
from experiments.run.config import RunConfig
from experiments.run.programs import place
from experiments.run.serialize import ConfigError
from experiments.world_model import trainer as wm_trainer
from experiments.world_model.config import Experiment
from rlssm import cores


def main() -> None:
    assert "xla_force_host_platform_device_count=4" in os.environ.get("XLA_FLAGS", "")
    checks = {"ppo": ppo_updates, "world_model": world_model_updates, "dreamer": dreamer_updates}
    json.dump(checks[(sys.argv[1:] or ["ppo"])[0]](), sys.stdout)


def dreamer_updates() -> dict:
    """One iteration of the model-based agent (acting, then a world-model and an actor-critic
    step on replayed windows; tiny S4WM, 4 envs) on 1, 2 and 4 devices: the largest parameter
    difference from 1 device and each program's cross-device operations."""
    from agents.dreamer import DreamerConfig
    from agents.dreamer.replay import ReplayConfig
    from experiments.dreamer import trainer

    config = DreamerConfig(
        env_name="RepeatFirstEasy", num_envs=4, act_steps=8, total_timesteps=64,
        train_ratio=2.0, core_size=8, state_size=4, hidden_size=8, latent_groups=2,
        latent_classes=4, head_layers=1, value_bins=15, batch_size=4, horizon=3,
        replay=ReplayConfig(capacity=32, length=4, context="stored"),
    )  # fmt: skip
    state = trainer.build(config).programs.init(jax.random.split(jax.random.key(0), 1))
    params, collectives, losses = {}, {}, {}
    for devices in (1, 2, 4):
        placement = trainer.TRAINER.placement(config, trainer.DreamerRunConfig(devices=devices))
        programs = trainer.build(config, placement).programs
        _, compile_chunk, run_chunk = programs.on(placement)
        compile_chunk(state, [1])
        after, metrics = run_chunk(state, 1)
        learnt = (after.world_model.params, after.actor.params, after.critic.params)
        params[devices] = jax.tree.leaves(jax.device_get(learnt))
        program = programs.chunks[(1, 1, placement and placement.key)].as_text()
        collectives[devices] = collective_shapes(program)
        names = ("wm_loss", "actor_loss", "critic_loss")
        losses[devices] = [float(np.asarray(metrics[k]).reshape(-1)[0]) for k in names]
    before = (state.world_model.params, state.actor.params, state.critic.params)
    shapes = [list(leaf.shape) for leaf in jax.tree.leaves(before)]
    return {
        "largest_kernel": max(shapes, key=lambda shape: int(np.prod(shape))),
        "difference": largest_differences(params),
        "moved": largest_difference(params[1], jax.tree.leaves(jax.device_get(before))),
        "collectives": collectives,
        "losses": losses,
    }


def ppo_updates() -> dict:
    """One PPO update (GRU 8, 8 envs) on 1, 2 and 4 devices."""
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
    state = build(config).programs.init(jax.random.split(jax.random.key(0), 2))
    params, layouts, collectives = {}, {}, {}
    for devices in (1, 2, 4):
        placement = TRAINER.placement(config, RunConfig(devices=devices))
        programs = build(config, placement).programs
        _, compile_chunk, run_chunk = programs.on(placement)
        compile_chunk(state, [1])
        after, _ = run_chunk(state, 1)
        program = programs.chunks[(1, 2, placement and placement.key)].as_text()
        collectives[devices] = collective_shapes(program)
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
    difference = largest_differences(params)
    moved = largest_difference(params[1], jax.tree.leaves(state.train_state.params))
    with tempfile.TemporaryDirectory() as folder:  # saved split over 4 devices, restored on 1
        saved = checkpoint.save(Path(folder), 1, after)
        restored = checkpoint.restore(saved, jax.eval_shape(lambda: after))
    same = all(
        np.array_equal(jax.device_get(a), jax.device_get(b))
        for a, b in zip(jax.tree.leaves(after), jax.tree.leaves(restored), strict=True)
        if not jax.dtypes.issubdtype(a.dtype, jax.dtypes.prng_key)
    )
    on_one = {len(leaf.sharding.device_set) for leaf in jax.tree.leaves(restored)} == {1}
    try:
        TRAINER.placement(config, RunConfig(devices=3))
        refused = ""
    except ConfigError as err:
        refused = str(err)
    restore = {"same": same, "on_one_device": on_one}
    return {
        "difference": difference,
        "moved": moved,
        "collectives": collectives,
        "largest_kernel": max(
            (list(leaf.shape) for leaf in jax.tree.leaves(state.train_state.params)),
            key=lambda shape: int(np.prod(shape)),
        ),
        "layouts": layouts,
        "refused": refused,
        "restore": restore,
    }


def world_model_updates() -> dict:
    """One world-model update (S4WM, one seed, 4 sequences of 12 records) on 1, 2 and 4
    devices (several seeds' image convolutions are gathered: docs/ARCHITECTURE.md): the
    largest parameter difference from 1 device, and the program's cross-device operations."""
    experiment = Experiment(
        context_length=5, query_length=6, hidden_size=16, core_size=8, state_size=8,
        latent_groups=4, latent_classes=4, cnn_depth=4, reward_bins=15, batch_size=4,
    )  # fmt: skip
    data = random_dataset(experiment, 8)
    run = wm_trainer.WorldModelRunConfig
    params, collectives = {}, {}
    for devices in (1, 2, 4):
        placement = wm_trainer.TRAINER.placement(experiment, run(devices=devices))
        built = wm_trainer.build(experiment, placement)
        state = place(built.init(jax.random.split(jax.random.key(0, impl="rbg"), 1)), placement)
        where = None if placement is None else placement.replicated
        placed = jax.device_put({k: jax.numpy.asarray(v) for k, v in data.items()}, where)
        built.compile(state, placed)
        after, _ = built.run_chunk(state, placed, 1)
        params[devices] = jax.tree.leaves(jax.device_get(after.train_state.params))
        program = next(iter(built.steps.values())).as_text()
        collectives[devices] = collective_shapes(program)
    before = jax.tree.leaves(jax.device_get(state.train_state.params))
    return {
        "difference": largest_differences(params),
        "moved": largest_difference(params[1], before),
        "collectives": collectives,
    }


def collective_shapes(program: str) -> dict:
    """`{collective: [operand shapes]}` of a compiled program's cross-device operations."""
    found: dict[str, list] = {}
    for line in program.splitlines():
        match = re.search(r"= (.*?) (all-reduce|all-gather|all-to-all)\(", line)
        if match:
            shapes = re.findall(r"\[([\d,]*)\]", match.group(1))
            found.setdefault(match.group(2), []).extend(
                [int(n) for n in shape.split(",") if n] for shape in shapes
            )
    return found


def largest_difference(a: list, b: list) -> float:
    return max(float(np.max(np.abs(x - y))) for x, y in zip(a, b, strict=True))


def largest_differences(params: dict) -> dict:
    """`{devices: largest difference of its parameters from the 1-device ones}`."""
    return {devices: largest_difference(leaves, params[1]) for devices, leaves in params.items()}


if __name__ == "__main__":
    main()
