"""Task families and the task sets that `MultiTask` draws from.

A `TaskFamily` is a continuous-control env whose EnvParams variants make tasks; a `ControlTask` is
one family with overrides of its default params. Rewards are scaled so that a step's reward lies
in about [-1, 1], observations scaled to O(1).

gymnax families (`FAMILIES`, native obs/action sizes): `pendulum` (Pendulum-v1, 3/1), `cartpole`
(CartPole-v1 pushed with a continuous force `u * force_mag`, 4/1), `mountaincar`
(MountainCarContinuous-v0, 2/1), `reacher` (Reacher-misc, 8/2), `acrobot` (Acrobot-v1 with a
continuous torque in [-1, 1], 6/1), `swimmer` (Swimmer-misc, 16/2). Their sets (`CONTROL_SETS`,
the sets of MetaControl; Lu et al. 2023 did not release theirs, so these are ours):
- training, 32 tasks: pendulum `g x m` in `{8, 10, 12} x {0.8, 1, 1.25}` and `max_torque` in
  `{1.5, 2.5}`; cartpole `masspole x length` in `{0.05, 0.1, 0.2} x {0.4, 0.5, 0.6}` and
  `force_mag` in `{5, 15}`; mountaincar `power` in `{0.0013, 0.0015, 0.0017, 0.002}`; reacher
  `torque_scale x dt` in `{0.5, 1, 2} x {0.04, 0.05}`.
- held-out, 12 tasks, disjoint from training (parameters outside the training ranges, and two
  families never seen in training): pendulum `g x m` in `{6, 14} x {0.6, 1.5}`; cartpole
  `masspole x length` in `{0.3} x {0.3, 0.8}`; mountaincar `power` in `{0.0011, 0.0025}`; acrobot
  `link_mass_2` in `{0.8, 1.2}`; swimmer `dt` in `{0.04, 0.06}`.
(Unlisted parameters keep the gymnax defaults.)

brax families (`brax_families`, `brax/<task>`), one variant each: train inverted_pendulum, hopper,
halfcheetah, reacher; held-out inverted_double_pendulum, walker2d (`BRAX_SETS` by task name,
`BRAX_TASK_SETS` as tasks).
"""

import dataclasses
import functools
import itertools
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
from gymnax.environments.classic_control import cartpole, continuous_mountain_car, pendulum
from gymnax.environments.environment import Environment
from gymnax.environments.misc import reacher, swimmer

from envs.brax_adapter import BraxEnv
from envs.meta.continuous import ContinuousAcrobot, ContinuousCartPole


def _cartpole_derived(params: cartpole.EnvParams) -> cartpole.EnvParams:
    """Recomputes CartPole's derived masses after masses or length changed."""
    return params.replace(
        total_mass=params.masscart + params.masspole,
        polemass_length=params.masspole * params.length,
    )


@dataclasses.dataclass(frozen=True)
class TaskFamily:
    """A continuous-control env whose EnvParams variants make tasks.

    Attributes:
        make_env: builds the env (its shape options fixed).
        reward_scale: multiplies every reward (so that a step's reward lies in about [-1, 1]).
        obs_scale: multiplies the native observation, per feature (so that it is O(1)).
        derive: recomputes derived params after overrides (identity if None).
    """

    make_env: Callable[[], Environment]
    reward_scale: float
    obs_scale: tuple[float, ...] | None = None
    derive: Callable[[Any], Any] | None = None


FAMILIES: dict[str, TaskFamily] = {
    "pendulum": TaskFamily(pendulum.Pendulum, 1.0 / 16.3, (1.0, 1.0, 1.0 / 8.0)),
    "cartpole": TaskFamily(
        ContinuousCartPole, 1.0, (1.0 / 2.4, 0.5, 1.0 / 0.21, 0.5), _cartpole_derived
    ),
    "mountaincar": TaskFamily(
        continuous_mountain_car.ContinuousMountainCar, 0.01, (1.0, 1.0 / 0.07)
    ),
    "reacher": TaskFamily(functools.partial(reacher.Reacher, num_joints=2), 1.0),
    "acrobot": TaskFamily(
        ContinuousAcrobot, 1.0, (1.0, 1.0, 1.0, 1.0, 1.0 / (4 * np.pi), 1.0 / (9 * np.pi))
    ),
    "swimmer": TaskFamily(swimmer.Swimmer, 1.0),
}


@dataclasses.dataclass(frozen=True)
class ControlTask:
    """One task: a family of `FAMILIES` and overrides of its default EnvParams.

    Attributes:
        family: key of `FAMILIES`.
        overrides: `(field, value)` pairs replacing the family's default params.
    """

    family: str
    overrides: tuple[tuple[str, float], ...] = ()

    @property
    def name(self) -> str:
        """e.g. `pendulum(g=8,m=1.25)`."""
        return f"{self.family}({','.join(f'{k}={v:g}' for k, v in self.overrides)})"


def task_params(
    task: ControlTask,
    trial_length: int = 200,
    families: Mapping[str, TaskFamily] = FAMILIES,
    env: Environment | None = None,
) -> Any:
    """The task's full EnvParams (family defaults, overrides, derived fields, time limit).

    Args:
        task: the task.
        trial_length: its time limit.
        families: where `task.family` is looked up.
        env: the family's env if already built (else built here).
    """
    family = families[task.family]
    env = family.make_env() if env is None else env
    params = env.default_params.replace(**dict(task.overrides))
    if family.derive is not None:
        params = family.derive(params)
    return params.replace(max_steps_in_episode=trial_length)


def task_grid(family: str, **values: Sequence[float]) -> tuple[ControlTask, ...]:
    """Tasks for every combination of the given param values, e.g. `g=(8, 10), m=(1, 2)`."""
    names = tuple(values)
    return tuple(
        ControlTask(family, tuple(zip(names, combo, strict=True)))
        for combo in itertools.product(*values.values())
    )


CONTROL_SETS: dict[str, tuple[ControlTask, ...]] = {
    "train": (
        *task_grid("pendulum", g=(8.0, 10.0, 12.0), m=(0.8, 1.0, 1.25)),
        *task_grid("pendulum", max_torque=(1.5, 2.5)),
        *task_grid("cartpole", masspole=(0.05, 0.1, 0.2), length=(0.4, 0.5, 0.6)),
        *task_grid("cartpole", force_mag=(5.0, 15.0)),
        *task_grid("mountaincar", power=(0.0013, 0.0015, 0.0017, 0.002)),
        *task_grid("reacher", torque_scale=(0.5, 1.0, 2.0), dt=(0.04, 0.05)),
    ),
    "heldout": (
        *task_grid("pendulum", g=(6.0, 14.0), m=(0.6, 1.5)),
        *task_grid("cartpole", masspole=(0.3,), length=(0.3, 0.8)),
        *task_grid("mountaincar", power=(0.0011, 0.0025)),
        *task_grid("acrobot", link_mass_2=(0.8, 1.2)),
        *task_grid("swimmer", dt=(0.04, 0.06)),
    ),
}


def control_families() -> dict[str, TaskFamily]:
    """The gymnax task families, `FAMILIES` (they take no options)."""
    return FAMILIES


# Brax tasks: one variant each (brax's physical constants are not EnvParams, and every variant
# would be one more simulator stepped at every step under vmap). Reward scales bring a good
# policy's per-step reward to about [-1, 1].
BRAX_REWARD_SCALES: dict[str, float] = {
    "inverted_pendulum": 1.0,
    "hopper": 0.3,
    "halfcheetah": 0.1,
    "reacher": 1.0,
    "inverted_double_pendulum": 0.1,
    "walker2d": 0.3,
}
BRAX_SETS: dict[str, tuple[str, ...]] = {
    "train": ("inverted_pendulum", "hopper", "halfcheetah", "reacher"),
    "heldout": ("inverted_double_pendulum", "walker2d"),
}


def brax_families(backend: str | None = None) -> dict[str, TaskFamily]:
    """The brax task families (`brax/<name>`), one EnvParams variant each.

    Args:
        backend: brax physics pipeline for every task; None for the adapter's default per task.
    """
    return {
        f"brax/{name}": TaskFamily(functools.partial(BraxEnv, name, backend=backend), scale)
        for name, scale in BRAX_REWARD_SCALES.items()
    }


# The brax sets as tasks of `brax_families`.
BRAX_TASK_SETS: dict[str, tuple[ControlTask, ...]] = {
    task_set: tuple(ControlTask(f"brax/{name}") for name in names)
    for task_set, names in BRAX_SETS.items()
}
