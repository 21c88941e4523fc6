"""The command lines speak the user's flags: presets anywhere, config errors by flag name."""

from pathlib import Path

import pytest

from experiments.ppo import cli as ppo
from experiments.world_model import cli as world_model


def rejected(parse, argv: list[str], capsys) -> str:
    with pytest.raises(SystemExit) as exit_info:
        parse(argv)
    assert exit_info.value.code == 2
    return capsys.readouterr().err


@pytest.mark.parametrize("core", [[], ["core:gru"]])
def test_a_core_field_is_named_by_its_flag(core, capsys):
    err = rejected(ppo.parse, [*core, "--core.hidden-size", "0"], capsys)
    assert "--core.hidden-size must be >= 1, got 0" in err
    assert "tyro" not in err and "Config." not in err


def test_top_level_and_world_model_fields_are_named_by_their_flags(capsys):
    err = rejected(ppo.parse, ["--num-envs", "10", "--num-minibatches", "3"], capsys)
    assert "--num-minibatches" in err and "num_minibatches" not in err
    err = rejected(world_model.parse, ["--core-size", "0"], capsys)
    assert "--core-size must be >= 1" in err and "S5Config" not in err


def test_a_preset_may_follow_flags_but_not_as_a_flag_value():
    args = ppo.parse(["--lr", "1e-3", "cartpole", "--num-seeds", "3"])
    assert (args.preset, args.lr, args.num_seeds) == ("cartpole", 1e-3, 3)
    assert ppo.parse(["--no-progress", "cartpole"]).preset == "cartpole"
    kept = ppo.parse(["--run-dir", "cartpole"])
    assert kept.preset == "cpu-small" and kept.run_dir == Path("cartpole")


def test_a_misspelt_preset_names_the_presets(capsys):
    err = rejected(ppo.parse, ["cpu-smal"], capsys)
    assert "did you mean 'cpu-small'?" in err and "cartpole" in err


def test_suite_cores_carry_their_config_options():
    from experiments import suite
    from experiments.run.serialize import ConfigError

    spec = "mingru@negative_eigenvalues=true,hidden_size=16"
    cfg = suite.SuiteConfig(cores=(spec,), tasks=("ParityEasy",))
    core = suite.cell_args(cfg, spec, "ParityEasy").core
    assert core.negative_eigenvalues is True and core.hidden_size == 16
    assert suite.cell_dir(cfg, spec, "ParityEasy").parent.name == spec
    with pytest.raises(TypeError, match="no option"):
        suite.SuiteConfig(cores=("mingru@negative_eigenvalue=true",))
    with pytest.raises(ValueError, match="option=value"):
        suite.SuiteConfig(cores=("mingru@neg",))
    with pytest.raises(ConfigError, match="PPO cells only"):
        suite.dreamer_args(cfg, spec, "ParityEasy")
