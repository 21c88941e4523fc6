"""`MultiTask`: one task per episode, drawn from a fixed set of continuous-control tasks.

Task families of different native sizes (each with EnvParams variants, `envs.meta.task_sets`) are
padded to one observation and action size. Under `Trials` the task is kept across trials:
`MultiTask.reset_trial(key, state, params)` resets the episode's task without drawing another.
Its params are the stacked task parameters (`MultiTaskParams`), so variants are data, not code.
"""

import functools
from collections.abc import Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct
from gymnax.environments import environment, spaces
from gymnax.environments.environment import Environment

from envs.meta.boxes import FLOAT_MAX
from envs.meta.task_sets import FAMILIES, ControlTask, TaskFamily, task_params
from envs.wrappers import box_bounds


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
