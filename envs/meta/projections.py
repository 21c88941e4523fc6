"""Random linear projections of observations and actions, drawn once per outer episode.

`ObservationProjection(env, size)` observes `obs' = M obs` (`M[size, D]`); `ActionProjection(env,
size)` acts through `action_inner = clip(M clip(action))` (`M[A_inner, size]`). The map is drawn
from the reset key, so it is fixed within an episode; put the projections outside `Trials` to keep
it over all the trials of an outer episode. Both pass their inner task's params through unchanged:
their options are fixed by construction (the law of the observation, not a task parameter).
"""

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct
from gymnax.environments import spaces
from gymnax.environments.environment import Environment

from envs.meta.boxes import FLOAT_MAX, require_flat_box
from envs.wrappers import StepWrapper, box_bounds

PROJECTIONS = ("orthogonal", "gaussian")
UNROLL_COLUMNS = 4


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


class _Projection(StepWrapper):
    """What both projections share: the map's options and `ProjectionState`."""

    def __init__(self, env: Environment, size: int, kind: str = "orthogonal", scale: float = 1.0):
        """Wraps `env`.

        Args:
            env: the wrapped env.
            size: the projected observation size, or the agent's action size.
            kind: "orthogonal" or "gaussian" (see `draw_projection`).
            scale: gain of the map.
        """
        super().__init__(env)
        if kind not in PROJECTIONS:
            raise ValueError(f"Unknown projection {kind!r}; known: {PROJECTIONS}.")
        self.size, self.kind, self.scale = size, kind, scale

    def inner_state(self, state: ProjectionState) -> Any:
        return state.env_state


class ObservationProjection(_Projection):
    """Observes `M obs` with a random `M[size, D]` drawn per outer episode at reset.

    The wrapped env's observations must be 1-D (`[D]`).
    """

    def _in_size(self, params: Any) -> int:
        space = require_flat_box(self.env.observation_space(params), "The observation space")
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


class ActionProjection(_Projection):
    """Acts through a random `M[A_inner, size]` drawn per outer episode at reset.

    The agent's action lies in `[-1, 1]^size` (clipped there); the wrapped env receives
    `clip(M action, low, high)` in its own Box, which must be 1-D.
    """

    @property
    def num_actions(self) -> int:
        return self.size

    def action_space(self, params: Any) -> spaces.Box:
        return spaces.Box(
            -jnp.ones((self.size,)), jnp.ones((self.size,)), (self.size,), jnp.float32
        )

    def reset_env(self, key: jax.Array, params: Any) -> tuple[Any, ProjectionState]:
        """Resets the wrapped env and draws the episode's action map."""
        key_env, key_matrix = jax.random.split(key)
        obs, env_state = self.env.reset_env(key_env, params)
        inner = require_flat_box(self.env.action_space(params), "The action space")
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
