"""What every memory benchmark shares: phases, parameters, spaces and the rendered observation.

An episode has a context phase (steps `0 ... context_length - 1`) and a query phase (the rest, up
to the time limit `max_steps_in_episode = context_length + query_length`). A world model is fed the
context and asked to generate the query from its actions; an agent just plays the whole episode.
`MemoryEnv.step` adds `info["phase"]`, the phase of the observation it returns (CONTEXT 0 or QUERY
1: the phase in which the next action is taken, CONTEXT again after an auto-reset); with
`show_phase` the observation also shows it, as a white frame of pixels during the query phase.

Observations are RGB images of the agent's room rendered in JAX (see `envs.memory.grid`): float32
in [0, 1], exact multiples of 1/255 (so `round(obs * 255)` recovers the uint8 image), flattened to
`[V * t * V * t * 3]` like every observation of the registry, or `[V * t, V * t, 3]` with
`flat_obs=False`. Actions are Discrete(4): LEFT, RIGHT, UP, DOWN (KeysDoors adds PICKUP).
"""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct
from gymnax.environments import environment, spaces

from envs.memory import grid

CONTEXT, QUERY = 0, 1


@struct.dataclass
class MemoryParams(environment.EnvParams):
    """Numeric options shared by the memory benchmarks.

    Attributes:
        max_steps_in_episode: time limit (truncation): the context and query lengths together.
        context_length: steps of the context phase; the query phase follows.
    """

    max_steps_in_episode: int = 1000
    context_length: int = 500


def phase_at(time: jax.Array, params: MemoryParams) -> jax.Array:
    """int32 `[]`: the phase (CONTEXT or QUERY) of the observation at step `time`."""
    return (jnp.asarray(time) >= params.context_length).astype(jnp.int32)


MAX_EPISODE_STEPS = 2000
"""The longest episode (context and query together): S4WM's longest tasks."""


def check_lengths(context_length: int, query_length: int) -> None:
    """Fails unless the lengths make an episode with a context (query may be empty) of at most
    `MAX_EPISODE_STEPS` steps."""
    if context_length < 1 or query_length < 0:
        raise ValueError(
            f"need context_length >= 1 and query_length >= 0, got {context_length}, {query_length}"
        )
    if context_length + query_length > MAX_EPISODE_STEPS:
        raise ValueError(
            f"context_length + query_length = {context_length} + {query_length} exceeds the "
            f"{MAX_EPISODE_STEPS} steps a memory task allows; shorten them to at most "
            f"{MAX_EPISODE_STEPS} together."
        )


class MemoryEnv(environment.Environment):
    """Base of the memory benchmarks: spaces, rendering and the phase in `info`.

    A subclass defines `reset_env`, `step_env` and `tiles(state, params)`, the view of a state.

    Args:
        layout: the world's rooms.
        tile_size: pixels per tile side (2, 4 or 8).
        flat_obs: observations as float32 vectors (the registry's contract) or `[h, w, 3]` images.
        show_phase: draw a white frame around the image during the query phase.
    """

    def __init__(
        self,
        layout: grid.Layout,
        tile_size: int = 4,
        flat_obs: bool = True,
        show_phase: bool = False,
    ):
        super().__init__()
        grid.sprites(tile_size)  # validates the tile size
        self.layout = layout
        self.tile_size = tile_size
        self.flat_obs = flat_obs
        self.show_phase = show_phase

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """`(h, w, 3)`: the rendered image, `h = w = V * tile_size`."""
        side = self.layout.view_size * self.tile_size
        return side, side, 3

    @property
    def default_params(self) -> MemoryParams:
        return MemoryParams()

    @property
    def num_actions(self) -> int:
        return grid.NUM_ACTIONS

    def action_space(self, params: Any | None = None) -> spaces.Discrete:
        """Discrete(num_actions): LEFT, RIGHT, UP, DOWN (and a task's own actions)."""
        return spaces.Discrete(self.num_actions)

    @property
    def moves_at_query(self) -> bool:
        """Whether entering the query phase moves the agent whatever it does (a teleport)."""
        return False

    @property
    def model_action_dim(self) -> int:
        """Action ids a world model of the task reads (see `model_actions`): `num_actions`, plus
        one for the move into the query phase where the task makes one."""
        return self.num_actions + int(self.moves_at_query)

    def model_actions(self, action: np.ndarray, phase: np.ndarray) -> np.ndarray:
        """The actions a world model reads, from a dataset's int `action` and `phase` `[..., T]`.

        The agent's own actions, except where entering the query phase moves the agent by itself
        (`moves_at_query`): that record, whatever the agent chose, gets the id `num_actions`,
        so a model fed only the query's actions knows when the jump happens.
        """
        if not self.moves_at_query:
            return action
        action, phase = np.asarray(action), np.asarray(phase)
        opens = np.zeros(action.shape, bool)
        opens[..., 1:] = (phase[..., 1:] == QUERY) & (phase[..., :-1] == CONTEXT)
        return np.where(opens, self.num_actions, action).astype(action.dtype)

    def observation_space(self, params: Any | None = None) -> spaces.Box:
        """Box of float32 in [0, 1]: `[h * w * 3]`, or `[h, w, 3]` with `flat_obs=False`."""
        shape = (int(np.prod(self.image_shape)),) if self.flat_obs else self.image_shape
        return spaces.Box(0.0, 1.0, shape, jnp.float32)

    def phase(self, state: Any, params: MemoryParams) -> jax.Array:
        """int32 `[]`: the phase of a state's observation (CONTEXT or QUERY)."""
        return phase_at(state.time, params)

    def tiles(self, state: Any, params: MemoryParams) -> grid.Tiles:
        """The `[V, V]` tiles of a state's view."""
        raise NotImplementedError

    def render_image(self, state: Any, params: MemoryParams) -> jax.Array:
        """uint8 `[h, w, 3]`: the image of a state's view (with the phase frame if shown)."""
        image = grid.render(self.tiles(state, params), self.tile_size)
        if self.show_phase:
            query = self.phase(state, params) == QUERY
            ring = jnp.asarray(grid.frame_mask(image.shape[0]))
            white = jnp.asarray(grid.PALETTE[grid.WHITE])
            image = jnp.where(ring & query, white, image)
        return image

    def get_obs(self, state: Any, params: MemoryParams | None = None, key=None) -> jax.Array:
        """The observation of a state: its image as float32 in [0, 1], flat unless asked not."""
        params = self.default_params if params is None else params
        obs = self.render_image(state, params).astype(jnp.float32) / 255.0
        return obs.reshape(-1) if self.flat_obs else obs

    @functools.partial(jax.jit, static_argnames=("self",))
    def step(
        self, key: jax.Array, state: Any, action: Any, params: MemoryParams | None = None
    ) -> tuple[jax.Array, Any, jax.Array, jax.Array, jax.Array, dict[str, Any]]:
        """gymnax's auto-resetting step, with `info["phase"]` the phase of the returned `obs`."""
        params = self.default_params if params is None else params
        obs, state, reward, terminated, truncated, info = super().step(key, state, action, params)
        info = {**info, "phase": self.phase(state, params)}
        return obs, state, reward, terminated, truncated, info
