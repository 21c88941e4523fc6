"""docs/CUSTOM.md's worked example runs: the user's core keeps the core contract, the user's
task keeps the environment contract, and PPO trains on both by name."""

import re
from pathlib import Path

import numpy as np
import pytest

import envs
import rlssm.cores as cores
from docs.examples import custom
from envs import registry
from tests.envs.test_registry import check_contract
from tests.rlssm import test_core_contract as contract

ROOT = Path(__file__).resolve().parents[1]
# The contract tests of tests/rlssm that take a core name: step = sequence and the reset semantics
# by default, the rest (chunks, shapes, vmap, gradients, 10^4 steps) in the slow suite.
CORE_CONTRACT = [
    contract.test_step_loop_equals_sequence,
    contract.test_packed_episodes_equal_separate_runs,
    contract.test_zero_gradient_across_start,
]
CORE_CONTRACT_SLOW = [
    contract.test_chunks_with_carry_handover_equal_whole,
    contract.test_shapes_dtypes_and_carry_structure_under_jit,
    contract.test_vmap_over_seeds_matches_loop,
    contract.test_grad_wrt_params_is_finite_and_nonzero,
]


@pytest.fixture(scope="module", autouse=True)
def example_registered():
    """Registers the example's core and task for this module only."""
    custom.register()
    yield
    cores.CONFIGS.pop("leaky")
    registry._registry().pop("Recall")
    registry._USER_HEAVY.pop("Recall")


@pytest.mark.parametrize("check", CORE_CONTRACT, ids=lambda check: check.__name__[5:])
def test_user_core_keeps_the_core_contract(check):
    check("leaky")


@pytest.mark.slow
@pytest.mark.parametrize("check", CORE_CONTRACT_SLOW, ids=lambda check: check.__name__[5:])
def test_user_core_keeps_the_rest_of_the_core_contract(check):
    check("leaky")


@pytest.mark.slow
def test_user_core_stays_finite_over_long_sequences():
    contract.test_long_sequences_stay_finite("leaky", 10_000)


def test_user_env_keeps_the_env_contract():
    assert not envs.is_heavy("Recall")
    check_contract("Recall")


def test_ppo_trains_on_the_user_core_and_task_by_name():
    metrics = custom.main()
    assert metrics["loss"].shape == (2, 2)  # [seeds, updates]
    assert np.isfinite(metrics["loss"]).all()
    assert int(metrics["nonfinite"].sum()) == 0
    assert int(metrics["env_steps"][0, -1]) == 64


@pytest.mark.slow
def test_ppo_solves_the_user_task_with_the_user_core():
    metrics = custom.main(custom.learning_config())
    assert np.all(metrics["return_mean"][:, :3].mean(axis=1) < 0.8)  # chance is 0.5
    assert np.all(metrics["return_mean"][:, -10:].mean(axis=1) > 0.9)


def test_registering_again_needs_overwrite():
    with pytest.raises(ValueError, match="overwrite=True"):
        custom.register()
    custom.register(overwrite=True)


def test_docs_page_quotes_the_example_verbatim():
    page = (ROOT / "docs" / "CUSTOM.md").read_text()
    source = (ROOT / "docs" / "examples" / "custom.py").read_text()
    marker = "<!-- from docs/examples/custom.py -->\n```python\n(.*?)```"
    blocks = re.findall(marker, page, flags=re.DOTALL)
    assert len(blocks) >= 8
    for block in blocks:
        assert block in source, f"docs/CUSTOM.md quotes code not in the example:\n{block}"
    assert "docs/CUSTOM.md" in (ROOT / "README.md").read_text()
