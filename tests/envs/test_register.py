"""envs.register (a user's task by name), option type checks, and brax's accepted options."""

from __future__ import annotations

import inspect
from typing import Literal

import pytest

import envs
from envs import registry


def cartpole(
    max_steps_in_episode: int = 200, label: str | None = None, mode: Literal["a", "b"] = "a"
):
    """A user factory: gymnax CartPole with typed options (`label`, `mode` only check types)."""
    env, params = envs.make("CartPole-v1")
    return env, params.replace(max_steps_in_episode=max_steps_in_episode)


@pytest.fixture
def cleanup():
    """Names registered by a test, removed after it (restoring any entry they replaced)."""
    names: list[str] = []
    saved = dict(registry._registry())
    yield names
    for name in names:
        registry._USER_HEAVY.pop(name, None)
        if name in saved:
            registry._registry()[name] = saved[name]
        else:
            registry._registry().pop(name, None)


def test_registered_task_is_made_by_name(cleanup):
    cleanup.append("MyCartPole")
    envs.register("MyCartPole", cartpole)
    assert envs.registered()[-1] == "MyCartPole"
    assert not envs.is_heavy("MyCartPole")
    accepted = {"max_steps_in_episode": 200, "label": None, "mode": "a"}
    assert envs.accepted_options("MyCartPole") == accepted
    _, params = envs.make("MyCartPole", max_steps_in_episode=7)
    assert params.max_steps_in_episode == 7
    with pytest.raises(TypeError, match=r"\['steps'\]; accepted: max_steps_in_episode=200"):
        envs.make("MyCartPole", steps=3)
    with pytest.raises(TypeError, match=r"option label must be str \| None, got 3 \(int\)"):
        envs.make("MyCartPole", label=3)
    with pytest.raises(TypeError, match=r"option mode must be Literal\['a', 'b'\], got 'c'"):
        envs.make("MyCartPole", mode="c")
    envs.make("MyCartPole", mode="b", label="mine")


def test_taken_names_need_overwrite(cleanup):
    cleanup.extend(["MyCartPole", "CartPole-v1"])
    envs.register("MyCartPole", cartpole)
    with pytest.raises(ValueError, match="'MyCartPole' is already registered; pass overwrite=True"):
        envs.register("MyCartPole", cartpole)
    with pytest.raises(ValueError, match="'CartPole-v1' is already registered"):
        envs.register("CartPole-v1", cartpole)
    envs.register("CartPole-v1", cartpole, heavy=True, overwrite=True)
    assert envs.is_heavy("CartPole-v1")
    assert "max_steps_in_episode" in envs.accepted_options("CartPole-v1")


def test_bad_registration_arguments_name_the_fix(cleanup):
    with pytest.raises(TypeError, match="name must be a non-empty string"):
        envs.register("", cartpole)
    with pytest.raises(TypeError, match="pass the function, not its result"):
        envs.register("MyCartPole", cartpole())
    with pytest.raises(TypeError, match="heavy must be a bool"):
        envs.register("MyCartPole", cartpole, heavy="yes")
    assert "MyCartPole" not in envs.registered()
    cleanup.append("Broken")
    envs.register("Broken", lambda: envs.make("CartPole-v1")[0])
    with pytest.raises(TypeError, match=r"must return \(env, params\)"):
        envs.make("Broken")


def test_option_of_the_wrong_type_is_one_line_naming_it():
    with pytest.raises(TypeError) as error:
        envs.make("RepeatPreviousEasy", num_decks="two")
    message = str(error.value)
    assert "\n" not in message
    assert message == (
        "RepeatPreviousEasy: option num_decks must be int, got 'two' (str); pass a value of "
        "type int, e.g. num_decks=1 (default)."
    )
    with pytest.raises(TypeError, match=r"max_steps_in_episode must be int \| None"):
        envs.make("RepeatPreviousEasy", max_steps_in_episode="10")
    with pytest.raises(TypeError, match="k must be int, got True"):
        envs.make("RepeatPreviousEasy", k=True)
    with pytest.raises(TypeError, match="rows must be int"):  # gymnax: string annotations
        envs.make("Catch-bsuite", rows=6.0)


def test_options_of_the_right_type_pass():
    envs.make("RepeatPreviousEasy", num_decks=2, max_steps_in_episode=None)
    envs.make("StatelessCartPoleEasy", noise_std=1)  # an int is a float
    envs.make("Catch-bsuite", rows=6, columns=3)
    for name in ("RepeatPreviousMedium", "StatelessCartPoleEasy", "DeepSea-bsuite"):
        defaults = envs.accepted_options(name).items()
        envs.make(name, **{k: v for k, v in defaults if v is not inspect.Parameter.empty})


def test_brax_tasks_list_their_options():
    accepted = envs.accepted_options("brax/ant")
    assert accepted["reset_noise_scale"] == 0.1
    assert accepted["backend"] == envs.brax_adapter.DEFAULT_BACKEND
    assert accepted["n_frames"] == 1 and accepted["debug"] is False
    assert set(accepted) == set(envs.brax_adapter.accepted_options("ant"))
