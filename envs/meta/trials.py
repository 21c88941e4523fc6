"""`Trials`: several trials (inner episodes) of a task inside one outer episode.

When a trial terminates or truncates, the next one starts in the same outer episode. After
`params.num_trials` trials the outer episode ends as a truncation (and is also `terminated` when
the last trial ended by termination, so that no value is bootstrapped past a true end). A task
that keeps per-episode context across trials (`MultiTask` keeps its task) defines
`reset_trial(key, state, params)`; any other task restarts with a plain reset.
"""

from typing import Any

import jax
import jax.numpy as jnp
from flax import struct
from gymnax.environments import environment
from gymnax.environments.environment import Environment

from envs.wrappers import StepWrapper


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
