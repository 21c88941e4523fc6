"""Meta-RL tasks: trials, random projections, Meta CartPole, MetaControl and MetaBrax.

Meta-RL here is composition over existing tasks, never copied physics. The pieces:
- `Trials(env)`: one outer episode holds several inner episodes ("trials") of `env`; when a trial
  terminates or truncates, the next one starts in the same outer episode. After
  `params.num_trials` trials the outer episode ends as a truncation (and is also `terminated` when
  the last trial ended by termination, so that no value is bootstrapped past a true end).
- `ObservationProjection(env, size)` and `ActionProjection(env, size)`: a random linear map
  `obs' = M obs` (`M[size, D]`) or `action_inner = clip(M clip(action))` (`M[A_inner, size]`),
  drawn from the reset key once per outer episode and fixed within it.
- `MetaObservation(env)`: appends the previous action (one-hot if discrete), the previous reward, a
  trial-start flag and an episode-start flag to the observation.
- `MultiTask(tasks)`: each outer episode draws one task from a fixed set of continuous-control
  tasks (task families of different native sizes, each with several EnvParams variants), padded
  to one observation and action size. Under `Trials` the task is kept across trials
  (`Trials` calls an inner `reset_trial(key, state, params)` where the inner env defines one).

Wrapper order matters: projections go outside `Trials` (drawn once per outer episode), and
`MetaObservation` outermost (it shows the agent's own action). The projection, augmentation and
noise wrappers pass their inner task's params through unchanged (their options are fixed by
construction, they are the law of the observation, not a task parameter to sample); `Trials` and
`MultiTask` have their own params (`num_trials`; the stacked task parameters).

Registered tasks (`ENTRIES`):
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
  authors did not release; its exact sets and sizes are ours), on cheap gymnax control tasks.
  Each outer episode draws a task family uniformly, then one of its variants uniformly, and
  Gaussian random projections of observations (to `obs_size=16`) and actions (from
  `action_size=3`), all fixed over 4 trials of at most 200 steps. Observation `[22]`: projected
  obs `[16]`, previous action `[3]`, previous reward, trial start, episode start. Families
  (native obs/action sizes; rewards scaled so that a step's reward lies in about [-1, 1],
  observations scaled to O(1)): `pendulum` (Pendulum-v1, 3/1), `cartpole` (CartPole-v1 pushed with
  a continuous force `u * force_mag`, 4/1), `mountaincar` (MountainCarContinuous-v0, 2/1),
  `reacher` (Reacher-misc, 8/2), `acrobot` (Acrobot-v1 with a continuous torque in [-1, 1], 6/1),
  `swimmer` (Swimmer-misc, 16/2).
  Training set, 32 tasks: pendulum `g x m` in `{8, 10, 12} x {0.8, 1, 1.25}` and `max_torque` in
  `{1.5, 2.5}`; cartpole `masspole x length` in `{0.05, 0.1, 0.2} x {0.4, 0.5, 0.6}` and
  `force_mag` in `{5, 15}`; mountaincar `power` in `{0.0013, 0.0015, 0.0017, 0.002}`; reacher
  `torque_scale x dt` in `{0.5, 1, 2} x {0.04, 0.05}`.
  Held-out set, 12 tasks, disjoint from training (parameters outside the training ranges, and two
  families never seen in training): pendulum `g x m` in `{6, 14} x {0.6, 1.5}`; cartpole
  `masspole x length` in `{0.3} x {0.3, 0.8}`; mountaincar `power` in `{0.0011, 0.0025}`; acrobot
  `link_mass_2` in `{0.8, 1.2}`; swimmer `dt` in `{0.04, 0.06}`.
  (Unlisted parameters keep the gymnax defaults.)
- `MetaBrax-train` / `MetaBrax-heldout`: the same over brax tasks, one variant each (`BRAX_SETS`:
  train inverted_pendulum, hopper, halfcheetah, reacher; held-out inverted_double_pendulum,
  walker2d), observations projected to 32, actions from 6. Costly on a CPU: under `vmap` every
  step runs every task of the set, and resets them all twice (trial and outer auto-reset).
"""

import dataclasses
import functools
import itertools
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct
from gymnax.environments import environment, spaces
from gymnax.environments.classic_control import (
    acrobot,
    cartpole,
    continuous_mountain_car,
    pendulum,
)
from gymnax.environments.misc import reacher, swimmer

from envs.brax_adapter import BraxEnv
from envs.popgym.stateless import stateless_cartpole
from envs.wrappers import StepWrapper, box_bounds

Environment = environment.Environment
FLOAT_MAX = float(np.finfo(np.float32).max)
PROJECTIONS = ("orthogonal", "gaussian")
UNROLL_COLUMNS = 4


def reset_trial(env: Environment, key: jax.Array, state: Any, params: Any) -> tuple[Any, Any]:
    """Starts a new trial of `env`: its own `reset_trial` if it keeps per-episode context, else a
    plain reset.

    Args:
        env: the inner task.
        key: PRNG key.
        state: the inner state at the end of the previous trial.
        params: the inner task's params.

    Returns:
        `(obs, state)` of the new trial.
    """
    method = getattr(env, "reset_trial", None)
    if method is None:
        return env.reset_env(key, params)
    return method(key, state, params)


def _where(pred: jax.Array, on_true: Any, on_false: Any) -> Any:
    """Selects between two pytrees of the same structure with a scalar predicate."""
    return jax.tree.map(lambda a, b: jnp.where(pred, a, b), on_true, on_false)


def _require_flat_box(space: Any, what: str) -> spaces.Box:
    """Returns `space` if it is a 1-D Box, else raises a TypeError naming `what`."""
    if not isinstance(space, spaces.Box) or len(space.shape) != 1:
        raise TypeError(f"{what} must be a 1-D spaces.Box, got {space!r}.")
    return space


def _haar_orthonormal(key: jax.Array, shape: tuple[int, int]) -> jax.Array:
    """A uniformly random `[out, in]` matrix with orthonormal columns (rows if `out < in`).

    Gram-Schmidt (each step done twice, for stability) on Gaussian vectors: the same law as the
    QR-based draw of `jax.nn.initializers.orthogonal`, but far cheaper on a CPU under `vmap`,
    where a reset (hence a draw) is computed at every step.
    """
    rows, cols = max(shape), min(shape)
    gaussian = jax.random.normal(key, (rows, cols), jnp.float32)

    def add_column(j: int | jax.Array, basis: jax.Array) -> jax.Array:
        column = gaussian[:, j]
        column = column - basis @ (basis.T @ column)
        column = column - basis @ (basis.T @ column)
        return basis.at[:, j].set(column / jnp.linalg.norm(column))

    basis = jnp.zeros((rows, cols), jnp.float32)
    if cols <= UNROLL_COLUMNS:  # a loop of a few tiny steps costs more than their arithmetic
        for j in range(cols):
            basis = add_column(j, basis)
    else:  # unrolling many columns compiles slowly
        basis = jax.lax.fori_loop(0, cols, add_column, basis)
    return basis if shape[0] >= shape[1] else basis.T


def draw_projection(key: jax.Array, shape: tuple[int, int], kind: str, scale: float) -> jax.Array:
    """Draws a random linear map.

    Args:
        key: PRNG key.
        shape: `(out, in)`.
        kind: "orthogonal" (orthonormal columns, or rows when `out < in`, times `scale`: norms are
            scaled by exactly `scale` when `out >= in`) or "gaussian" (i.i.d. normal entries with
            variance `scale**2 / in`, cheaper to draw).
        scale: gain of the map.

    Returns:
        float32 `[out, in]`.
    """
    if kind == "orthogonal":
        return scale * _haar_orthonormal(key, shape)
    if kind == "gaussian":
        return jax.random.normal(key, shape, jnp.float32) * (scale / np.sqrt(shape[1]))
    raise ValueError(f"Unknown projection {kind!r}; known: {PROJECTIONS}.")


# ---------------------------------------------------------------------------------------------
# Trials
# ---------------------------------------------------------------------------------------------


@struct.dataclass
class TrialsParams(environment.EnvParams):
    """Params of `Trials`.

    Attributes:
        env_params: the inner task's params.
        num_trials: trials per outer episode.
        max_steps_in_episode: an outer time limit on top of the trial count (truncation).
    """

    env_params: Any = None
    num_trials: int = 4
    max_steps_in_episode: int = 2**30


@struct.dataclass
class TrialsState(environment.EnvState):
    """State of `Trials`.

    Attributes:
        time: steps taken in the outer episode.
        env_state: the inner task's state.
        trial: int32 `[]`, trials completed in this outer episode.
        start_obs: the first observation of the episode (only with `repeat_start`, else None).
        start_state: the first inner state of the episode (only with `repeat_start`, else None).
    """

    env_state: Any
    trial: jax.Array
    start_obs: Any = None
    start_state: Any = None


class Trials(StepWrapper):
    """Several trials (inner episodes) of a task inside one outer episode.

    Each step of the outer episode is a step of the current trial. When the trial terminates or
    truncates, the next trial starts at once: the returned observation is the new trial's first
    one, and `info["trial_start"]` is True. After `params.num_trials` trials the outer episode is
    truncated; it is also terminated when its last trial ended by termination. Intermediate trial
    ends are neither. `info["trial"]` counts completed trials.
    """

    def __init__(self, env: Environment, repeat_start: bool = False):
        """Wraps `env`.

        Args:
            env: the inner task (gymnax API; its `step_env`, `reset_env`, `is_truncated` are used).
            repeat_start: every trial restarts from the episode's first inner state and
                observation (as popjaxrl's meta CartPole does); also saves the inner reset per
                step. Otherwise each trial starts with a fresh inner reset (`reset_trial`).
        """
        super().__init__(env)
        self.repeat_start = repeat_start

    @property
    def default_params(self) -> TrialsParams:
        inner = self.env.default_params
        num_trials = TrialsParams().num_trials
        return TrialsParams(
            env_params=inner,
            num_trials=num_trials,
            max_steps_in_episode=num_trials * inner.max_steps_in_episode,
        )

    def inner_state(self, state: TrialsState) -> Any:
        return state.env_state

    def observation_space(self, params: TrialsParams) -> Any:
        return self.env.observation_space(params.env_params)

    def action_space(self, params: TrialsParams) -> Any:
        return self.env.action_space(params.env_params)

    def is_truncated(self, state: TrialsState, params: TrialsParams) -> jax.Array:
        """The outer episode ends after `num_trials` trials or at the outer time limit."""
        return jnp.logical_or(
            state.trial >= params.num_trials, state.time >= params.max_steps_in_episode
        )

    def reset_env(self, key: jax.Array, params: TrialsParams) -> tuple[Any, TrialsState]:
        """Starts the first trial."""
        obs, env_state = self.env.reset_env(key, params.env_params)
        state = TrialsState(
            time=0,
            env_state=env_state,
            trial=jnp.int32(0),
            start_obs=obs if self.repeat_start else None,
            start_state=env_state if self.repeat_start else None,
        )
        return obs, state

    def _next_trial(
        self, key: jax.Array, state: TrialsState, env_state: Any, params: TrialsParams
    ) -> tuple[Any, Any]:
        """First observation and inner state of the next trial."""
        if self.repeat_start:
            return state.start_obs, state.start_state
        return reset_trial(self.env, key, env_state, params.env_params)

    def step_env(
        self, key: jax.Array, state: TrialsState, action: Any, params: TrialsParams
    ) -> tuple[Any, TrialsState, jax.Array, jax.Array, dict]:
        """Steps the current trial; starts the next one when it ends (see the class docstring)."""
        key_step, key_trial = jax.random.split(key)
        obs, env_state, reward, terminated, info = self.env.step_env(
            key_step, state.env_state, action, params.env_params
        )
        truncated = self.env.is_truncated(env_state, params.env_params)
        trial_over = jnp.logical_or(terminated, truncated)
        trial = state.trial + trial_over.astype(jnp.int32)
        episode_over = trial >= params.num_trials
        # On the episode's last step keep the trial's final observation: the outer auto-reset
        # replaces it and reports it as info["final_observation"].
        new_trial = jnp.logical_and(trial_over, jnp.logical_not(episode_over))
        start_obs, start_state = self._next_trial(key_trial, state, env_state, params)
        state = state.replace(
            time=state.time + 1,
            env_state=_where(new_trial, start_state, env_state),
            trial=trial,
        )
        terminated = jnp.logical_and(episode_over, terminated)
        info = {
            **info,
            "discount": 1.0 - terminated.astype(jnp.float32),
            "trial": trial,
            "trial_start": new_trial,
        }
        return _where(new_trial, start_obs, obs), state, reward, terminated, info


# ---------------------------------------------------------------------------------------------
# Random projections and the meta observation
# ---------------------------------------------------------------------------------------------


@struct.dataclass
class ProjectionState:
    """State of a projection wrapper.

    Attributes:
        env_state: the wrapped env's state.
        matrix: float32 `[out, in]`, the episode's linear map.
    """

    env_state: Any
    matrix: jax.Array

    @property
    def time(self) -> Any:
        """The wrapped env's step count."""
        return self.env_state.time


class ObservationProjection(StepWrapper):
    """Observes `M obs` with a random `M[size, D]` drawn per outer episode at reset."""

    def __init__(self, env: Environment, size: int, kind: str = "orthogonal", scale: float = 1.0):
        """Wraps `env`, whose observations must be 1-D (`[D]`).

        Args:
            env: the wrapped env.
            size: projected observation size.
            kind: "orthogonal" or "gaussian" (see `draw_projection`).
            scale: gain of the map.
        """
        super().__init__(env)
        if kind not in PROJECTIONS:
            raise ValueError(f"Unknown projection {kind!r}; known: {PROJECTIONS}.")
        self.size, self.kind, self.scale = size, kind, scale

    def inner_state(self, state: ProjectionState) -> Any:
        return state.env_state

    def _in_size(self, params: Any) -> int:
        space = _require_flat_box(self.env.observation_space(params), "The observation space")
        return space.shape[0]

    def observation_space(self, params: Any) -> spaces.Box:
        """Bounded by `scale * |bound of obs|_2` for orthogonal maps, unbounded for gaussian."""
        bound = jnp.float32(FLOAT_MAX)
        if self.kind == "orthogonal":
            low, high = box_bounds(self.env.observation_space(params))
            extent = jnp.maximum(jnp.abs(low), jnp.abs(high))
            finite = jnp.all(extent < 1e18)  # so that the squared norm cannot overflow
            norm = jnp.linalg.norm(jnp.where(finite, extent, 0.0))
            bound = jnp.where(finite, self.scale * norm, bound)
        high = jnp.full((self.size,), bound, jnp.float32)
        return spaces.Box(-high, high, (self.size,), jnp.float32)

    def reset_env(self, key: jax.Array, params: Any) -> tuple[jax.Array, ProjectionState]:
        """Resets the wrapped env and draws the episode's projection."""
        key_env, key_matrix = jax.random.split(key)
        obs, env_state = self.env.reset_env(key_env, params)
        shape = (self.size, self._in_size(params))
        matrix = draw_projection(key_matrix, shape, self.kind, self.scale)
        return matrix @ obs, ProjectionState(env_state=env_state, matrix=matrix)

    def step_env(
        self, key: jax.Array, state: ProjectionState, action: Any, params: Any
    ) -> tuple[jax.Array, ProjectionState, jax.Array, jax.Array, dict]:
        """Steps the wrapped env and projects its observation with the episode's map."""
        obs, env_state, reward, terminated, info = self.env.step_env(
            key, state.env_state, action, params
        )
        return state.matrix @ obs, state.replace(env_state=env_state), reward, terminated, info


class ActionProjection(StepWrapper):
    """Acts through a random `M[A_inner, size]` drawn per outer episode at reset.

    The agent's action lies in `[-1, 1]^size` (clipped there); the wrapped env receives
    `clip(M action, low, high)` in its own Box.
    """

    def __init__(self, env: Environment, size: int, kind: str = "orthogonal", scale: float = 1.0):
        """Wraps `env`, whose action space must be a 1-D Box.

        Args:
            env: the wrapped env.
            size: the agent's action size.
            kind: "orthogonal" or "gaussian" (see `draw_projection`).
            scale: gain of the map.
        """
        super().__init__(env)
        if kind not in PROJECTIONS:
            raise ValueError(f"Unknown projection {kind!r}; known: {PROJECTIONS}.")
        self.size, self.kind, self.scale = size, kind, scale

    @property
    def num_actions(self) -> int:
        return self.size

    def inner_state(self, state: ProjectionState) -> Any:
        return state.env_state

    def action_space(self, params: Any) -> spaces.Box:
        return spaces.Box(
            -jnp.ones((self.size,)), jnp.ones((self.size,)), (self.size,), jnp.float32
        )

    def reset_env(self, key: jax.Array, params: Any) -> tuple[Any, ProjectionState]:
        """Resets the wrapped env and draws the episode's action map."""
        key_env, key_matrix = jax.random.split(key)
        obs, env_state = self.env.reset_env(key_env, params)
        inner = _require_flat_box(self.env.action_space(params), "The action space")
        matrix = draw_projection(key_matrix, (inner.shape[0], self.size), self.kind, self.scale)
        return obs, ProjectionState(env_state=env_state, matrix=matrix)

    def inner_action(self, state: ProjectionState, action: jax.Array, params: Any) -> jax.Array:
        """The wrapped env's action for the agent's `action[size]`: float32 `[A_inner]`."""
        low, high = box_bounds(self.env.action_space(params))
        return jnp.clip(state.matrix @ jnp.clip(action, -1.0, 1.0), low, high)

    def step_env(
        self, key: jax.Array, state: ProjectionState, action: jax.Array, params: Any
    ) -> tuple[Any, ProjectionState, jax.Array, jax.Array, dict]:
        """Maps the action through the episode's matrix and steps the wrapped env."""
        obs, env_state, reward, terminated, info = self.env.step_env(
            key, state.env_state, self.inner_action(state, action, params), params
        )
        return obs, state.replace(env_state=env_state), reward, terminated, info


class MetaObservation(StepWrapper):
    """Appends the previous action, previous reward, trial start and episode start to the obs.

    Observation `[D + A' + 3]`: the wrapped observation `[D]`, the previous action `[A']`
    (one-hot for Discrete actions, clipped to the Box for continuous ones; zeros at reset), the
    previous reward (0 at reset), a trial-start flag (1 on the first observation of every trial:
    at reset and where the wrapped env's `info["trial_start"]` is set) and an episode-start flag
    (1 only at reset).
    """

    def _action_size(self, params: Any) -> int:
        space = self.env.action_space(params)
        if isinstance(space, spaces.Discrete):
            return space.n
        return _require_flat_box(space, "The action space").shape[0]

    def _encode_action(self, action: Any, params: Any) -> jax.Array:
        space = self.env.action_space(params)
        if isinstance(space, spaces.Discrete):
            return jax.nn.one_hot(action, space.n, dtype=jnp.float32)
        low, high = box_bounds(space)
        return jnp.clip(jnp.asarray(action, jnp.float32).reshape(space.shape), low, high)

    def observation_space(self, params: Any) -> spaces.Box:
        obs_low, obs_high = box_bounds(
            _require_flat_box(self.env.observation_space(params), "The observation space")
        )
        space = self.env.action_space(params)
        if isinstance(space, spaces.Discrete):
            act_low, act_high = jnp.zeros((space.n,)), jnp.ones((space.n,))
        else:
            act_low, act_high = box_bounds(space)
        low = jnp.concatenate([obs_low, act_low, jnp.array([-FLOAT_MAX, 0.0, 0.0])])
        high = jnp.concatenate([obs_high, act_high, jnp.array([FLOAT_MAX, 1.0, 1.0])])
        return spaces.Box(low, high, low.shape, jnp.float32)

    def reset_env(self, key: jax.Array, params: Any) -> tuple[jax.Array, Any]:
        """Resets the wrapped env; no previous action or reward yet, both flags set."""
        obs, state = self.env.reset_env(key, params)
        extra = jnp.concatenate([jnp.zeros((self._action_size(params) + 1,)), jnp.ones((2,))])
        return jnp.concatenate([obs.astype(jnp.float32), extra]), state

    def step_env(
        self, key: jax.Array, state: Any, action: Any, params: Any
    ) -> tuple[jax.Array, Any, jax.Array, jax.Array, dict]:
        """Steps the wrapped env and appends this step's action, reward and trial start."""
        obs, state, reward, terminated, info = self.env.step_env(key, state, action, params)
        trial_start = jnp.asarray(info.get("trial_start", False), jnp.float32)
        extra = jnp.stack([jnp.asarray(reward, jnp.float32), trial_start, jnp.float32(0.0)])
        obs = jnp.concatenate([obs.astype(jnp.float32), self._encode_action(action, params), extra])
        return obs, state, reward, terminated, info


# ---------------------------------------------------------------------------------------------
# Meta CartPole
# ---------------------------------------------------------------------------------------------


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


# ---------------------------------------------------------------------------------------------
# MetaControl: a task drawn per episode from a set of control tasks
# ---------------------------------------------------------------------------------------------


class UnitBoxAction:
    """Mixin for a gymnax task re-driven by one continuous action `u[1]` in [-1, 1]."""

    @property
    def name(self) -> str:
        return type(self).__name__

    @property
    def num_actions(self) -> int:
        return 1

    def action_space(self, params: Any = None) -> spaces.Box:
        return spaces.Box(-jnp.ones((1,)), jnp.ones((1,)), (1,), jnp.float32)


class ContinuousCartPole(UnitBoxAction, cartpole.CartPole):
    """gymnax CartPole-v1 pushed with a continuous force `force_mag * u`, `u[1]` in [-1, 1]."""

    def step_env(
        self, key: jax.Array, state: cartpole.EnvState, action: jax.Array, params: Any
    ) -> tuple[jax.Array, cartpole.EnvState, jax.Array, jax.Array, dict]:
        """Steps CartPole-v1's physics with force `force_mag * clip(action, -1, 1)`."""
        force = jnp.clip(jnp.reshape(action, ()), -1.0, 1.0)
        # gymnax pushes with force_mag * (2 a - 1); a = (u + 1) / 2 gives force_mag * u.
        return super().step_env(key, state, (force + 1.0) / 2.0, params)


class ContinuousAcrobot(UnitBoxAction, acrobot.Acrobot):
    """gymnax Acrobot-v1 driven by a continuous torque `u[1]` in [-1, 1] (v1's torques are ±1)."""

    def step_env(
        self, key: jax.Array, state: acrobot.EnvState, action: jax.Array, params: Any
    ) -> tuple[jax.Array, acrobot.EnvState, jax.Array, jax.Array, dict]:
        """Steps Acrobot-v1's physics with torque `clip(action, -1, 1)`."""
        # gymnax looks the torque up in params.available_torque: offer the one chosen torque.
        torque = jnp.clip(jnp.reshape(action, (1,)), -1.0, 1.0)
        return super().step_env(key, state, 0, params.replace(available_torque=torque))


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


@struct.dataclass
class MultiTaskParams(environment.EnvParams):
    """Params of `MultiTask`.

    Attributes:
        group_params: per family, its variants' EnvParams stacked (every leaf leads with `V_g`).
        reward_scale: float32 `[K]`, reward multiplier per task.
        obs_scale: float32 `[G, D]`, observation multiplier per family and padded feature.
        max_steps_in_episode: time limit of one episode (one trial under `Trials`).
    """

    group_params: tuple = ()
    reward_scale: Any = None
    obs_scale: Any = None
    max_steps_in_episode: int = 200


@struct.dataclass
class MultiTaskState(environment.EnvState):
    """State of `MultiTask`.

    Attributes:
        time: steps taken in the episode.
        task: int32 `[]`, index of the episode's task in `MultiTask.tasks`.
        group_states: per family, its env's state (only the task's family is live).
    """

    task: jax.Array
    group_states: tuple


def _take(tree: Any, index: jax.Array) -> Any:
    """Entry `index` of every leaf of a stacked pytree."""
    return jax.tree.map(lambda leaf: leaf[index], tree)


def _strong(tree: Any) -> Any:
    """Gives every leaf a concrete (not weakly typed) dtype, so that switch branches agree."""
    return jax.tree.map(lambda x: jnp.asarray(x, dtype=jnp.asarray(x).dtype), tree)


class MultiTask(Environment):
    """One task per episode, drawn from a fixed set of continuous-control tasks.

    A family is drawn uniformly, then one of its variants uniformly. Observations of every family
    are scaled and zero-padded to `[D]` (the largest native size); actions `[A]` in [-1, 1]
    (the largest native size) are truncated to the family's size and rescaled to its Box. Under
    `vmap` every family's step runs (a `lax.switch` on a batched index becomes a select).
    """

    def __init__(self, tasks: Sequence[ControlTask], families: Mapping[str, TaskFamily] = FAMILIES):
        """Builds the set.

        Args:
            tasks: the tasks, all distinct.
            families: the task families, by name (`ControlTask.family`).
        """
        super().__init__()
        unknown = sorted({t.family for t in tasks} - set(families))
        if not tasks or unknown:
            raise ValueError(f"Need tasks of known families {sorted(families)}, got {unknown}.")
        if len({t.name for t in tasks}) != len(tasks):
            raise ValueError("Tasks must be distinct.")
        self.families = tuple(dict.fromkeys(t.family for t in tasks))
        self.family_specs = tuple(families[f] for f in self.families)
        self.tasks = tuple(t for f in self.families for t in tasks if t.family == f)
        self.envs = tuple(spec.make_env() for spec in self.family_specs)
        group_sizes = [sum(t.family == f for t in self.tasks) for f in self.families]
        self._obs_sizes = tuple(e.observation_space(e.default_params).shape[0] for e in self.envs)
        self._action_sizes = tuple(e.action_space(e.default_params).shape[0] for e in self.envs)
        self.obs_size, self.action_size = max(self._obs_sizes), max(self._action_sizes)
        self._group_sizes = np.array(group_sizes, np.int32)
        self._offsets = np.cumsum([0, *group_sizes[:-1]]).astype(np.int32)
        self._task_group = np.repeat(np.arange(len(self.families), dtype=np.int32), group_sizes)
        self._task_variant = (np.arange(len(self.tasks)) - self._offsets[self._task_group]).astype(
            np.int32
        )

    @property
    def name(self) -> str:
        return f"MultiTask({len(self.tasks)} tasks: {', '.join(self.families)})"

    @property
    def num_actions(self) -> int:
        return self.action_size

    @property
    def default_params(self) -> MultiTaskParams:
        limit = MultiTaskParams().max_steps_in_episode
        specs = dict(zip(self.families, self.family_specs, strict=True))
        group_params = tuple(
            jax.tree.map(
                lambda *leaves: jnp.stack(leaves),
                *[task_params(t, limit, specs, env) for t in self.tasks if t.family == family],
            )
            for family, env in zip(self.families, self.envs, strict=True)
        )
        obs_scale = np.ones((len(self.families), self.obs_size), np.float32)
        for g, spec in enumerate(self.family_specs):
            obs_scale[g, : self._obs_sizes[g]] = 1.0 if spec.obs_scale is None else spec.obs_scale
        reward_scale = [specs[t.family].reward_scale for t in self.tasks]
        return MultiTaskParams(
            group_params=group_params,
            reward_scale=jnp.asarray(reward_scale, jnp.float32),
            obs_scale=jnp.asarray(obs_scale),
            max_steps_in_episode=limit,
        )

    def observation_space(self, params: MultiTaskParams) -> spaces.Box:
        high = jnp.full((self.obs_size,), FLOAT_MAX, jnp.float32)
        return spaces.Box(-high, high, (self.obs_size,), jnp.float32)

    def action_space(self, params: MultiTaskParams | None = None) -> spaces.Box:
        high = jnp.ones((self.action_size,), jnp.float32)
        return spaces.Box(-high, high, (self.action_size,), jnp.float32)

    def task_family(self, task: jax.Array) -> jax.Array:
        """int32 family index (into `families`) of a task index."""
        return jnp.asarray(self._task_group)[task]

    def sample_task(self, key: jax.Array) -> jax.Array:
        """A uniform family, then a uniform variant of it: int32 task index `[]`."""
        key_family, key_variant = jax.random.split(key)
        family = jax.random.randint(key_family, (), 0, len(self.families))
        variant = jax.random.randint(key_variant, (), 0, jnp.asarray(self._group_sizes)[family])
        return jnp.asarray(self._offsets)[family] + variant

    def _selected_params(self, params: MultiTaskParams, task: jax.Array) -> tuple:
        """Per family, the EnvParams of the task's variant (variant 0 for the other families)."""
        family = self.task_family(task)
        variant = jnp.asarray(self._task_variant)[task]
        return tuple(
            _take(stacked, jnp.where(family == g, variant, 0))
            for g, stacked in enumerate(params.group_params)
        )

    def _pad_obs(self, g: int, obs: jax.Array, params: MultiTaskParams) -> jax.Array:
        """Scales family `g`'s native observation and zero-pads it to `[D]`."""
        size = self._obs_sizes[g]
        obs = jnp.reshape(obs, (size,)).astype(jnp.float32) * params.obs_scale[g, :size]
        return jnp.pad(obs, (0, self.obs_size - size))

    def _native_action(self, g: int, action: jax.Array, params: Any) -> jax.Array:
        """Family `g`'s action: the first entries of `action[A]`, mapped from [-1, 1] to its Box."""
        low, high = box_bounds(self.envs[g].action_space(params))
        unit = jnp.clip(jnp.asarray(action, jnp.float32)[: self._action_sizes[g]], -1.0, 1.0)
        return low + (unit + 1.0) * 0.5 * (high - low)

    def reset_task(
        self, key: jax.Array, task: jax.Array, params: MultiTaskParams
    ) -> tuple[jax.Array, MultiTaskState]:
        """Starts an episode of a given task (int32 index `[]` into `tasks`).

        Every family's env is reset (only the task's is live), so that the state's structure does
        not depend on the task.
        """
        selected = self._selected_params(params, task)
        keys = jax.random.split(key, len(self.envs))
        resets = [env.reset_env(k, p) for env, k, p in zip(self.envs, keys, selected, strict=True)]
        obs = jnp.stack([self._pad_obs(g, o, params) for g, (o, _) in enumerate(resets)])
        states = _strong(tuple(s for _, s in resets))
        return obs[self.task_family(task)], MultiTaskState(time=0, task=task, group_states=states)

    def reset_env(
        self, key: jax.Array, params: MultiTaskParams
    ) -> tuple[jax.Array, MultiTaskState]:
        """Draws the episode's task and resets it."""
        key_task, key_start = jax.random.split(key)
        return self.reset_task(key_start, self.sample_task(key_task), params)

    def reset_trial(
        self, key: jax.Array, state: MultiTaskState, params: MultiTaskParams
    ) -> tuple[jax.Array, MultiTaskState]:
        """Resets the episode's task, keeping it (for `Trials`)."""
        return self.reset_task(key, state.task, params)

    def _step_family(
        self, g: int, key: jax.Array, state: MultiTaskState, action: jax.Array, params: Any
    ) -> tuple[jax.Array, tuple, jax.Array, jax.Array]:
        """Steps family `g`'s env; other families' states pass through."""
        selected = self._selected_params(params, state.task)[g]
        old = state.group_states[g]
        obs, new, reward, terminated, _ = self.envs[g].step_env(
            key, old, self._native_action(g, action, selected), selected
        )
        new = jax.tree.map(lambda n, o: jnp.reshape(n, jnp.shape(o)).astype(o.dtype), new, old)
        group_states = (*state.group_states[:g], new, *state.group_states[g + 1 :])
        reward = jnp.reshape(reward, ()).astype(jnp.float32)
        return self._pad_obs(g, obs, params), group_states, reward, jnp.reshape(terminated, ())

    def step_env(
        self, key: jax.Array, state: MultiTaskState, action: jax.Array, params: MultiTaskParams
    ) -> tuple[jax.Array, MultiTaskState, jax.Array, jax.Array, dict]:
        """Steps the episode's task; reward scaled by the task's `reward_scale`."""
        branches = [
            functools.partial(self._step_family, g, params=params) for g in range(len(self.envs))
        ]
        obs, group_states, reward, terminated = jax.lax.switch(
            self.task_family(state.task), branches, key, state, action
        )
        state = state.replace(time=state.time + 1, group_states=group_states)
        reward = reward * params.reward_scale[state.task]
        return obs, state, reward, terminated.astype(bool), {}


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


def meta_control(
    task_set: str = "train",
    num_trials: int = 4,
    trial_length: int = 200,
    obs_size: int = 16,
    action_size: int = 3,
    projection: str = "gaussian",
) -> tuple[MetaObservation, TrialsParams]:
    """Builds MetaControl over gymnax tasks (`CONTROL_SETS`; see the module docstring).

    Args:
        task_set: "train" or "heldout".
        num_trials: trials per outer episode.
        trial_length: time limit of one trial.
        obs_size: size of the projected observation.
        action_size: size of the agent's action.
        projection: "orthogonal" or "gaussian".

    Returns:
        `(env, params)`, see `meta_tasks`.
    """
    if task_set not in CONTROL_SETS:
        raise ValueError(f"Unknown task_set {task_set!r}; known: {sorted(CONTROL_SETS)}.")
    return meta_tasks(
        CONTROL_SETS[task_set],
        FAMILIES,
        num_trials,
        trial_length,
        obs_size,
        action_size,
        projection,
    )


def brax_families(backend: str | None = None) -> dict[str, TaskFamily]:
    """The brax task families (`brax/<name>`), one EnvParams variant each.

    Args:
        backend: brax physics pipeline for every task; None for the adapter's default per task.
    """
    return {
        f"brax/{name}": TaskFamily(functools.partial(BraxEnv, name, backend=backend), scale)
        for name, scale in BRAX_REWARD_SCALES.items()
    }


def meta_brax(
    task_set: str = "train",
    num_trials: int = 4,
    trial_length: int = 200,
    obs_size: int = 32,
    action_size: int = 6,
    projection: str = "gaussian",
    backend: str | None = None,
) -> tuple[MetaObservation, TrialsParams]:
    """Builds MetaBrax over brax tasks (`BRAX_SETS`; see the module docstring).

    Args:
        task_set: "train" or "heldout".
        num_trials: trials per outer episode.
        trial_length: time limit of one trial.
        obs_size: size of the projected observation.
        action_size: size of the agent's action.
        projection: "orthogonal" or "gaussian".
        backend: brax physics pipeline (see `envs.brax_adapter.BACKENDS`); None for the
            adapter's default per task.

    Returns:
        `(env, params)`, see `meta_tasks`.
    """
    if task_set not in BRAX_SETS:
        raise ValueError(f"Unknown task_set {task_set!r}; known: {sorted(BRAX_SETS)}.")
    tasks = tuple(ControlTask(f"brax/{name}") for name in BRAX_SETS[task_set])
    families = brax_families(backend)
    return meta_tasks(tasks, families, num_trials, trial_length, obs_size, action_size, projection)


ENTRIES: dict[str, Callable[..., tuple[Environment, Any]]] = {
    "MetaCartPole": meta_cartpole,
    "MetaControl-train": functools.partial(meta_control, task_set="train"),
    "MetaControl-heldout": functools.partial(meta_control, task_set="heldout"),
    "MetaBrax-train": functools.partial(meta_brax, task_set="train"),
    "MetaBrax-heldout": functools.partial(meta_brax, task_set="heldout"),
}
# Entries that run brax physics (minutes of compilation on a CPU); see `envs.registry.is_heavy`.
HEAVY: frozenset[str] = frozenset({"MetaBrax-train", "MetaBrax-heldout"})
