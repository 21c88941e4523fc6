"""The public signatures of the actor-critic pieces of agents.dreamer carry shape annotations in
DESIGN's axis names or the local ones their module docstrings define."""

import pytest

from agents.dreamer import (
    actor_loss,
    bounded_normal_policy,
    categorical_policy,
    critic_loss,
    critic_loss_grad,
    discount_weights,
    lambda_returns,
    update_return_scale,
)
from tests.rlssm.test_annotations import DESIGN_AXES, hints

# The imagination horizon (DESIGN's H is model width), value bins, any leading axes, and the
# imagined states on one row axis (agents.dreamer.critic).
LOCAL_AXES = {"horizon", "K", "batch", "rows"}


@pytest.mark.parametrize(
    "fn",
    [
        lambda_returns,
        discount_weights,
        update_return_scale,
        critic_loss,
        critic_loss_grad,
        actor_loss,
        categorical_policy,
        bounded_normal_policy,
    ],
)
def test_public_signatures_name_design_or_documented_axes(fn):
    found = {name for shapes in hints(fn).values() for _, axes in shapes for name in axes}
    assert found, f"{fn.__qualname__} has no shape annotations"
    assert found <= DESIGN_AXES | LOCAL_AXES, found - DESIGN_AXES - LOCAL_AXES


def test_horizon_axes_are_spelled_out():
    assert hints(lambda_returns)["reward"] == hints(lambda_returns)["return"]
    assert [axes for _, axes in hints(lambda_returns)["reward"]] == [("horizon", "B")]
