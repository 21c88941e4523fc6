"""rlssm.cores.register: a user's core config by name, here and as a world-model backbone."""

import dataclasses
from typing import ClassVar

import pytest

import rlssm.cores as cores
import rlssm.world_models as wm


@dataclasses.dataclass(frozen=True)
class TinyConfig(cores.CoreConfig):
    """A user core that is a GRU underneath (only registration is under test)."""

    gain: float = 1.0
    """An option of the user's own."""

    name: ClassVar[str] = "tiny"

    def build(self) -> cores.MemoryCore:
        return cores.GRUCore(cores.GRUConfig(self.hidden_size, self.num_layers))


@pytest.fixture
def tiny():
    """Registers TinyConfig as "tiny" for one test."""
    cores.register("tiny", TinyConfig)
    yield
    cores.CONFIGS.pop("tiny", None)


def test_registered_core_is_built_by_name(tiny):
    assert cores.registered()[-1] == "tiny"
    assert cores.config_for("tiny", gain=2.0) == TinyConfig(gain=2.0)
    assert isinstance(cores.make("tiny", hidden_size=8), cores.GRUCore)
    with pytest.raises(TypeError, match="has no option"):
        cores.config_for("tiny", gains=2.0)


def test_registered_core_is_a_world_model_backbone(tiny):
    assert "tiny" in wm.BACKBONES and wm.BACKBONES["tiny"] is TinyConfig
    assert "transformer" in wm.BACKBONES and len(wm.BACKBONES) == len(cores.CONFIGS) + 1
    assert wm.backbone_config("tiny", hidden_size=8) == TinyConfig(hidden_size=8)
    assert wm.make("s4wm", core="tiny", obs_shape=(4,), action_dim=2).config.core.name == "tiny"


def test_taken_names_need_overwrite(tiny):
    with pytest.raises(ValueError, match=r"'tiny' is already registered.*overwrite=True"):
        cores.register("tiny", TinyConfig)
    cores.register("tiny", TinyConfig, overwrite=True)
    with pytest.raises(ValueError, match="'gru' is already registered"):
        cores.register(
            "gru", dataclasses.make_dataclass("G", [], bases=(cores.GRUConfig,), frozen=True)
        )


def test_bad_registration_arguments_name_the_fix():
    with pytest.raises(TypeError, match="the class, not an instance"):
        cores.register("tiny", TinyConfig())
    with pytest.raises(ValueError, match="set `name: ClassVar\\[str\\] = 'other'`"):
        cores.register("other", TinyConfig)

    class Undecorated(TinyConfig):
        pass

    with pytest.raises(TypeError, match=r"decorate Undecorated with @dataclasses.dataclass"):
        cores.register("tiny", Undecorated)

    @dataclasses.dataclass(frozen=True)
    class NoBuild(cores.CoreConfig):
        name: ClassVar[str] = "nobuild"

    with pytest.raises(TypeError, match="must define build"):
        cores.register("nobuild", NoBuild)
    with pytest.raises(TypeError, match="overwrite must be a bool"):
        cores.register("tiny", TinyConfig, overwrite=1)
    assert "tiny" not in cores.registered() and "nobuild" not in cores.registered()
