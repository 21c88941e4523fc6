"""Meta-RL tasks: composition over existing tasks, never copied physics.

Public API (every name below is re-exported here; the modules are private):
- `Trials(env)` (`trials.py`): one outer episode holds several inner episodes ("trials") of
  `env`; `TrialsParams` (`num_trials`, the inner params), `TrialsState`, `reset_trial`.
- `ObservationProjection(env, size)`, `ActionProjection(env, size)` (`projections.py`): a
  random linear map of observations or actions, drawn once per outer episode;
  `draw_projection`, `PROJECTIONS`, `ProjectionState`.
- `MetaObservation(env)` (`observation.py`): appends the previous action, the previous reward,
  a trial-start and an episode-start flag to the observation.
- `MultiTask(tasks)` (`multitask.py`): one task per outer episode, drawn from a set of
  continuous-control tasks padded to one size, kept across trials; `MultiTaskParams`,
  `MultiTaskState`.
- Task families and sets (`task_sets.py`): `TaskFamily`, `ControlTask`, `task_params`,
  `task_grid`, `FAMILIES`, `CONTROL_SETS`, `BRAX_SETS`, `BRAX_REWARD_SCALES`, `brax_families`,
  over the continuous-action gymnax variants of `continuous.py` (`ContinuousCartPole`,
  `ContinuousAcrobot`, `UnitBoxAction`).
- Registered tasks (`tasks.py`): `ENTRIES` (`MetaCartPole`, `MetaControl-*`, `MetaBrax-*`) and
  `HEAVY` for `envs.registry`; the factories `meta_cartpole`, `meta_tasks` and the two
  `MetaSuite`s `meta_control` and `meta_brax`.

Wrapper order matters: projections go outside `Trials` (drawn once per outer episode), and
`MetaObservation` outermost (it shows the agent's own action). The projection, augmentation and
noise wrappers pass their inner task's params through unchanged (their options are fixed by
construction, they are the law of the observation, not a task parameter to sample); `Trials` and
`MultiTask` have their own params (`num_trials`; the stacked task parameters).
"""

from envs.meta.continuous import ContinuousAcrobot, ContinuousCartPole, UnitBoxAction
from envs.meta.multitask import MultiTask, MultiTaskParams, MultiTaskState
from envs.meta.observation import MetaObservation
from envs.meta.projections import (
    PROJECTIONS,
    ActionProjection,
    ObservationProjection,
    ProjectionState,
    draw_projection,
)
from envs.meta.task_sets import (
    BRAX_REWARD_SCALES,
    BRAX_SETS,
    CONTROL_SETS,
    FAMILIES,
    ControlTask,
    TaskFamily,
    brax_families,
    task_grid,
    task_params,
)
from envs.meta.tasks import (
    ENTRIES,
    HEAVY,
    MetaSuite,
    meta_brax,
    meta_cartpole,
    meta_control,
    meta_tasks,
)
from envs.meta.trials import Trials, TrialsParams, TrialsState, reset_trial

__all__ = [
    "BRAX_REWARD_SCALES",
    "BRAX_SETS",
    "CONTROL_SETS",
    "ENTRIES",
    "FAMILIES",
    "HEAVY",
    "PROJECTIONS",
    "ActionProjection",
    "ContinuousAcrobot",
    "ContinuousCartPole",
    "ControlTask",
    "MetaObservation",
    "MetaSuite",
    "MultiTask",
    "MultiTaskParams",
    "MultiTaskState",
    "ObservationProjection",
    "ProjectionState",
    "TaskFamily",
    "Trials",
    "TrialsParams",
    "TrialsState",
    "UnitBoxAction",
    "brax_families",
    "draw_projection",
    "meta_brax",
    "meta_cartpole",
    "meta_control",
    "meta_tasks",
    "reset_trial",
    "task_grid",
    "task_params",
]
