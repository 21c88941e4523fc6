"""--devices: a host's devices split the environments; the updates equal one device's."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from agents.ppo import PPOConfig
from experiments.ppo.trainer import TRAINER
from experiments.run.config import RunConfig
from experiments.run.serialize import ConfigError
from tests.experiments import fake_devices_env

ROOT = Path(__file__).resolve().parents[2]


def on_four_devices(*args: str) -> dict:
    """What tests/experiments/multidevice_check.py prints, run with 4 fake CPU devices."""
    env = fake_devices_env(4)
    done = subprocess.run(
        [sys.executable, "-m", "tests.experiments.multidevice_check", *args],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=ROOT,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.splitlines()[-1])


@pytest.fixture(scope="module")
def four_devices() -> dict:
    return on_four_devices()


def test_one_update_on_2_and_4_devices_equals_one_device(four_devices):
    # The updates are the same up to float32 rounding of the gradients' sums across devices.
    assert four_devices["moved"] > 1e-4  # the update changed the parameters
    for devices in ("2", "4"):
        assert four_devices["difference"][devices] < 1e-5, four_devices["difference"]


def test_every_device_computes_its_share_of_each_gradient_step(four_devices):
    # Each device takes its rows of every minibatch and the gradients are summed across the
    # devices (an all-reduce of the largest kernel's shape); no device gathers the whole
    # minibatch's activations.
    for devices in ("2", "4"):
        collectives = four_devices["collectives"][devices]
        assert four_devices["largest_kernel"] in collectives["all-reduce"], collectives
        assert "all-gather" not in collectives, collectives


def test_environments_and_carries_are_split_and_parameters_replicated(four_devices):
    for devices, layout in four_devices["layouts"].items():
        rows = 8 // int(devices)
        assert layout["obs_devices"] == int(devices)
        assert layout["obs_shard_rows"] == layout["carry_shard_rows"] == rows
        assert layout["env_replicated"] == (devices == "1") and layout["params_replicated"]


def test_a_state_saved_on_4_devices_restores_on_one(four_devices):
    assert four_devices["restore"] == {"same": True, "on_one_device": True}


def test_envs_that_do_not_split_are_refused_before_compiling(four_devices):
    assert four_devices["refused"] == (
        "--num-envs 8 does not split over 3 device(s) x 2 minibatches; pass a multiple of 6 "
        "(or fewer --devices)."
    )
    with pytest.raises(ConfigError, match="this machine has 1 cpu device"):
        TRAINER.placement(PPOConfig(), RunConfig(devices=2))
    assert TRAINER.placement(PPOConfig(), RunConfig(devices=1)) is None


@pytest.mark.slow  # compiles S4WM's update three times (about a minute on 2 idle cores)
def test_one_world_model_update_on_2_and_4_devices_equals_one_device():
    result = on_four_devices("world_model")
    assert result["moved"] > 1e-4
    # Adam's normalised step amplifies the summation order's rounding a little more here.
    assert max(result["difference"].values()) < 1e-4, result["difference"]
    # The sequences are split: the gradients are summed across devices and no device gathers
    # the whole batch (the encoder and decoder merge `[T, B]` with `B` outermost).
    collectives = result["collectives"]
    assert collectives["1"] == {} and all("all-reduce" in collectives[d] for d in ("2", "4"))
    assert not any("all-gather" in collectives[d] for d in ("2", "4")), collectives


@pytest.mark.slow  # compiles the model-based agent's iteration three times (about a minute)
def test_one_model_based_iteration_on_2_and_4_devices_equals_one_device():
    result = on_four_devices("dreamer")
    one = result["losses"]["1"]
    for devices in ("2", "4"):  # world-model, actor and critic losses of the same update
        assert result["losses"][devices] == pytest.approx(one, rel=1e-5, abs=1e-6)
        # The replayed rows and imagination starts are split: the gradients are summed across
        # devices (the largest kernel's among them), not computed whole on every device.
        summed = [sorted(shape) for shape in result["collectives"][devices]["all-reduce"]]
        assert sorted(result["largest_kernel"]) in summed  # XLA may sum it transposed
    # Adam's first steps turn the rounding of near-zero gradients into parameter differences
    # of up to a fraction of the learning rate (1e-3), against a change of about 4e-3.
    assert result["moved"] > 1e-3
    assert max(result["difference"].values()) < 5e-4, result["difference"]
