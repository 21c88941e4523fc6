"""rlssm.world_models.register: a user's world model by name, built by make and the agents."""

from typing import ClassVar

import pytest

import rlssm.world_models as wm


class MyModel(wm.S4WM):
    """S4WM under another name (a user's subclass would change a part)."""

    name: ClassVar[str] = "my-s4wm"


@pytest.fixture
def registered():
    wm.register("my-s4wm", MyModel)
    yield
    del wm.MODELS["my-s4wm"]


def test_a_registered_model_is_built_by_name(registered):
    assert "my-s4wm" in wm.registered()
    model = wm.make("my-s4wm", core_options={"hidden_size": 8}, obs_shape=(8, 8, 1), action_dim=2)
    assert type(model) is MyModel and model.config.core.hidden_size == 8


def test_taken_names_and_bad_types_are_refused(registered):
    with pytest.raises(ValueError, match="already registered"):
        wm.register("my-s4wm", MyModel)
    wm.register("my-s4wm", MyModel, overwrite=True)
    with pytest.raises(ValueError, match="name: ClassVar"):
        wm.register("other", MyModel)
    with pytest.raises(TypeError, match="must be a subclass"):
        wm.register("my-s4wm", MyModel(wm.WorldModelConfig()))


def test_the_trainers_configs_accept_a_registered_model(registered):
    from agents.dreamer import DreamerConfig
    from experiments.world_model.config import Experiment

    assert Experiment(model="my-s4wm").model == DreamerConfig(model="my-s4wm").model == "my-s4wm"
    with pytest.raises(ValueError, match="unknown"):
        Experiment(model="s5wm")
