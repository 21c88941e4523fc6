"""The registered meta-RL tasks (`ENTRIES`) and the factories that build them.

- `MetaCartPole`: popjaxrl's `NoisyStatelessMetaCartPole` (Lu et al. 2023, "Structured State Space
  Models for In-Context Reinforcement Learning"): POPGym's stateless CartPole
  (`envs.popgym.stateless.stateless_cartpole`: CartPole-v1 physics observed through cart position
  and pole angle only, reward `1/200` per step, so a trial returns at most 1), 16 trials of at most
  200 steps per outer episode (3200 steps), each trial restarting from the same initial state (as
  popjaxrl does), the 2-D observation projected to 4-D by an orthogonal matrix with scale
  `sqrt(2)` drawn per episode. popjaxrl's noise level is 0 despite the name; `noise_sigma` adds
  Gaussian noise to the stateless observation (clipped to its bounds, as in POPGym). Final
  observation `[9]`: projected obs `[4]`, one-hot previous action `[2]`, previous reward, trial
  start, episode start.
- `MetaControl-train` / `MetaControl-heldout`: the meta-RL task of Lu et al. 2023 (which its
  authors did not release; its exact sets and sizes are ours), on cheap gymnax control tasks
  (`task_sets.CONTROL_SETS`). Each outer episode draws a task family uniformly, then one of its
  variants uniformly, and Gaussian random projections of observations (to `obs_size=16`) and
  actions (from `action_size=3`), all fixed over 4 trials of at most 200 steps. Observation
  `[22]`: projected obs `[16]`, previous action `[3]`, previous reward, trial start, episode start.
- `MetaBrax-train` / `MetaBrax-heldout`: the same over brax tasks, one variant each
  (`task_sets.BRAX_SETS`), observations projected to 32, actions from 6. Costly on a CPU: under
  `vmap` every step runs every task of the set, and resets them all twice (trial and outer
  auto-reset).

MetaControl and MetaBrax are two `MetaSuite`s: one factory, given what differs (the task sets,
the families and their options, the default sizes).
"""

import dataclasses
import functools
import inspect
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
from gymnax.environments.environment import Environment

from envs.meta.multitask import MultiTask
from envs.meta.observation import MetaObservation
from envs.meta.projections import ActionProjection, ObservationProjection
from envs.meta.task_sets import (
    BRAX_TASK_SETS,
    CONTROL_SETS,
    FAMILIES,
    ControlTask,
    TaskFamily,
    brax_families,
    control_families,
)
from envs.meta.trials import Trials, TrialsParams
from envs.popgym.stateless import stateless_cartpole


def meta_cartpole(
    num_trials: int = 16,
    trial_length: int = 200,
    obs_size: int = 4,
    noise_sigma: float = 0.0,
    projection: str = "orthogonal",
    repeat_start: bool = True,
) -> tuple[MetaObservation, TrialsParams]:
    """Builds Meta CartPole (popjaxrl's `NoisyStatelessMetaCartPole`; see the module docstring).

    Args:
        num_trials: trials per outer episode.
        trial_length: time limit of one trial (also sets the reward `1/trial_length` per step).
        obs_size: size of the random projection of `[x, theta]`.
        noise_sigma: standard deviation of Gaussian observation noise on `[x, theta]` (0 in
            popjaxrl), fixed at construction.
        projection: "orthogonal" (popjaxrl, scale `sqrt(2)`) or "gaussian".
        repeat_start: every trial restarts from the episode's first state (popjaxrl).

    Returns:
        `(env, params)`; observation `[obs_size + 5]`, actions Discrete(2).
    """
    inner, inner_params = stateless_cartpole(
        max_steps_in_episode=trial_length, noise_std=noise_sigma
    )
    trials = Trials(inner, repeat_start=repeat_start)
    env = MetaObservation(ObservationProjection(trials, obs_size, projection, float(np.sqrt(2))))
    params = TrialsParams(
        env_params=inner_params,
        num_trials=num_trials,
        max_steps_in_episode=num_trials * trial_length,
    )
    return env, params


def meta_tasks(
    tasks: Sequence[ControlTask],
    families: Mapping[str, TaskFamily] = FAMILIES,
    num_trials: int = 4,
    trial_length: int = 200,
    obs_size: int = 16,
    action_size: int = 3,
    projection: str = "gaussian",
) -> tuple[MetaObservation, TrialsParams]:
    """Builds the meta-RL task of Lu et al. 2023 over a set of tasks.

    Args:
        tasks: the task set.
        families: the task families, by name.
        num_trials: trials per outer episode (the task and projections are fixed across them).
        trial_length: time limit of one trial.
        obs_size: size of the projected observation.
        action_size: size of the agent's action, in [-1, 1].
        projection: "orthogonal" or "gaussian" (see `draw_projection`).

    Returns:
        `(env, params)`: observation `[obs_size + action_size + 3]` (projected obs, previous
        action, previous reward, trial start, episode start), action Box `[-1, 1]^action_size`.
    """
    multi = MultiTask(tasks, families)
    trials = Trials(multi)
    projected = ActionProjection(trials, action_size, projection)
    env = MetaObservation(ObservationProjection(projected, obs_size, projection))
    params = TrialsParams(
        env_params=multi.default_params.replace(max_steps_in_episode=trial_length),
        num_trials=num_trials,
        max_steps_in_episode=num_trials * trial_length,
    )
    return env, params


@dataclasses.dataclass(frozen=True)
class MetaSuite:
    """The factory of a meta-RL task over one kind of task families (MetaControl, MetaBrax).

    Calling a suite builds its task with `meta_tasks`. Suites differ only in these fields; the
    signature a suite shows (which the registry checks options against) is `__call__`'s with the
    suite's default sizes, plus the keyword options of its `families` (brax's `backend`).

    Attributes:
        task_sets: the task sets, by name ("train", "heldout").
        families: builds the task families; its keyword options are options of the suite.
        obs_size: default size of the projected observation.
        action_size: default size of the agent's action.
    """

    task_sets: Mapping[str, tuple[ControlTask, ...]]
    families: Callable[..., Mapping[str, TaskFamily]]
    obs_size: int
    action_size: int

    def __call__(
        self,
        task_set: str = "train",
        num_trials: int = 4,
        trial_length: int = 200,
        obs_size: int | None = None,
        action_size: int | None = None,
        projection: str = "gaussian",
        **family_options: Any,
    ) -> tuple[MetaObservation, TrialsParams]:
        """Builds the task over one of the suite's sets (see the module docstring).

        Args:
            task_set: "train" or "heldout".
            num_trials: trials per outer episode.
            trial_length: time limit of one trial.
            obs_size: size of the projected observation (None for the suite's).
            action_size: size of the agent's action (None for the suite's).
            projection: "orthogonal" or "gaussian".
            **family_options: options of `families`; MetaBrax's `backend` is the brax physics
                pipeline (see `envs.brax_adapter.BACKENDS`), None for the adapter's default.

        Returns:
            `(env, params)`, see `meta_tasks`.
        """
        if task_set not in self.task_sets:
            raise ValueError(f"Unknown task_set {task_set!r}; known: {sorted(self.task_sets)}.")
        return meta_tasks(
            self.task_sets[task_set],
            self.families(**family_options),
            num_trials,
            trial_length,
            self.obs_size if obs_size is None else obs_size,
            self.action_size if action_size is None else action_size,
            projection,
        )

    @property
    def __signature__(self) -> inspect.Signature:
        """`__call__`'s signature with the suite's default sizes and its families' options."""
        call = inspect.signature(self.__call__)
        sizes = {"obs_size": self.obs_size, "action_size": self.action_size}
        options = [
            option.replace(default=sizes[option.name], annotation=int)
            if option.name in sizes
            else option
            for option in call.parameters.values()
            if option.kind is not option.VAR_KEYWORD
        ]
        family_options = inspect.signature(self.families).parameters.values()
        extra = [option.replace(kind=option.KEYWORD_ONLY) for option in family_options]
        return call.replace(parameters=[*options, *extra])


# MetaControl over gymnax tasks, MetaBrax over brax tasks.
meta_control = MetaSuite(CONTROL_SETS, control_families, obs_size=16, action_size=3)
meta_brax = MetaSuite(BRAX_TASK_SETS, brax_families, obs_size=32, action_size=6)


ENTRIES: dict[str, Callable[..., tuple[Environment, Any]]] = {
    "MetaCartPole": meta_cartpole,
    "MetaControl-train": functools.partial(meta_control, task_set="train"),
    "MetaControl-heldout": functools.partial(meta_control, task_set="heldout"),
    "MetaBrax-train": functools.partial(meta_brax, task_set="train"),
    "MetaBrax-heldout": functools.partial(meta_brax, task_set="heldout"),
}
# Entries that run brax physics (minutes of compilation on a CPU); see `envs.registry.is_heavy`.
HEAVY: frozenset[str] = frozenset({"MetaBrax-train", "MetaBrax-heldout"})
