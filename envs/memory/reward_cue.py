"""RewardCue: reward prediction from a cue shown long before, through distractors.

Rules. One room of `S x S` floor cells (`envs.memory.grid`). Each episode draws a cue, one of
`num_cues` item colours, and a random order of those colours over the room's corners. For the
first `cue_length` steps the floor shows the cue colour; afterwards it is dark gray. Every step
(the first included) `num_distractors` boxes are drawn anew on random cells, each in a random cue
colour, so they carry no information about the cue. In the query phase (from step
`context_length`) the corners show goals in their colours; entering a goal's cell during the
query phase pays +1 if its colour is the cue and -1 otherwise (standing on it, or stepping onto a
corner during the context, pays nothing). A model must remember the cue over the whole context
to predict the rewards of the query; an agent must remember it to collect them. No termination:
episodes are truncated after `context_length + query_length` steps.

Observation: the rendered view (see `envs.memory.base`). Action: Discrete(4). `info["phase"]`:
CONTEXT or QUERY.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct
from gymnax.environments import environment

from envs.memory import base, grid

MAX_CUES = 4
"""Goals sit on the room's four corners."""
FLOOR, WALL = grid.DARK_GRAY, grid.GRAY


@struct.dataclass
class EnvState(environment.EnvState):
    """RewardCue state.

    Attributes:
        time: steps taken in the episode.
        position: int32 `[2]`, the agent's cell `(y, x)`.
        cue: int32 `[]`, palette colour of the cue.
        goal_colours: int32 `[num_cues]`, palette colour of the goal on each corner (`goal_cells`).
        distractor_cells: int32 `[num_distractors, 2]`, cells of the distractor boxes.
        distractor_colours: int32 `[num_distractors]`, their palette colours.
    """

    position: jax.Array
    cue: jax.Array
    goal_colours: jax.Array
    distractor_cells: jax.Array
    distractor_colours: jax.Array


@struct.dataclass
class EnvParams(base.MemoryParams):
    """RewardCue parameters (see `MemoryParams`).

    Attributes:
        cue_length: steps (from the first observation on) whose floor shows the cue.
    """

    cue_length: int = 4


class RewardCue(base.MemoryEnv):
    """A cue, distractors, then goals whose reward depends on the cue; see the module docstring.

    Args:
        room_size: floor cells per room side.
        num_cues: number of cue colours and goals (2 to 4).
        num_distractors: distractor boxes drawn each step (at most `room_size ** 2`).
        tile_size: pixels per tile side (2, 4 or 8).
        flat_obs: observations as float32 vectors, or `[h, w, 3]` images.
        show_phase: draw a white frame during the query phase.
    """

    def __init__(
        self,
        room_size: int = 6,
        num_cues: int = 2,
        num_distractors: int = 3,
        tile_size: int = 4,
        flat_obs: bool = True,
        show_phase: bool = False,
    ):
        super().__init__(grid.Layout(1, 1, room_size), tile_size, flat_obs, show_phase)
        if not 2 <= num_cues <= MAX_CUES:
            raise ValueError(f"num_cues must be in [2, {MAX_CUES}], got {num_cues}")
        if not 0 <= num_distractors <= room_size**2:
            raise ValueError(f"num_distractors must be in [0, room_size**2], got {num_distractors}")
        self.num_cues = num_cues
        self.num_distractors = num_distractors

    @property
    def default_params(self) -> EnvParams:
        return EnvParams()

    @property
    def goal_cells(self) -> np.ndarray:
        """int32 `[num_cues, 2]`: the corners holding the goals (top-left, top-right, ...)."""
        near, far = 1, self.layout.room_size
        corners = ((near, near), (near, far), (far, near), (far, far))
        return np.array(corners[: self.num_cues], np.int32)

    @property
    def cue_colours(self) -> np.ndarray:
        """int32 `[num_cues]`: the palette colours a cue can take."""
        return grid.FIRST_ITEM + np.arange(self.num_cues, dtype=np.int32)

    def _walls(self) -> jax.Array:
        return self.layout.walls(jnp.zeros((0, 2), jnp.int32))

    def _distractors(self, cell_words: jax.Array, colour_words: jax.Array):
        """Distinct random cells `[M, 2]` and random cue colours `[M]` for the distractors.

        Args:
            cell_words: uint32 `[M]`, random words for the cells.
            colour_words: uint32 `[M]`, random words for the colours.
        """
        cells = self.layout.random_floor_cells(cell_words, 0)
        colours = jnp.asarray(self.cue_colours)[grid.below(colour_words, self.num_cues)]
        return cells, colours

    def _distractor_words(self) -> tuple[int, int]:
        return self.num_distractors, self.num_distractors

    def reset_env(self, key: jax.Array, params: EnvParams) -> tuple[jax.Array, EnvState]:
        """Draws the cue, the goals' order, the distractors and the start."""
        words, order_words, cell_words, colour_words = grid.word_chunks(
            key, 2, self.num_cues, *self._distractor_words()
        )
        colours = jnp.asarray(self.cue_colours)
        cells, distractor_colours = self._distractors(cell_words, colour_words)
        state = EnvState(
            time=0,
            position=self.layout.floor_cell(0, grid.below(words[0], self.layout.room_size**2)),
            cue=colours[grid.below(words[1], self.num_cues)],
            goal_colours=colours[grid.distinct_below(order_words, self.num_cues)],
            distractor_cells=cells,
            distractor_colours=distractor_colours,
        )
        return self.get_obs(state, params), state

    def reward(self, state: EnvState, position: jax.Array, params: EnvParams) -> jax.Array:
        """float32 `[]`: +1 or -1 for entering a goal's cell in the query phase, else 0."""
        moved = jnp.any(position != state.position)
        on_goal = jnp.all(jnp.asarray(self.goal_cells) == position, axis=-1)
        sign = jnp.where(state.goal_colours == state.cue, 1.0, -1.0)
        query = base.phase_at(state.time, params) == base.QUERY
        return jnp.where(moved & query, jnp.sum(jnp.where(on_goal, sign, 0.0)), 0.0)

    def step_env(
        self, key: jax.Array, state: EnvState, action: jax.Array, params: EnvParams
    ) -> tuple[jax.Array, EnvState, jax.Array, jax.Array, dict]:
        """Moves the agent (action int `[]`), scores goals and redraws the distractors."""
        target = grid.step_target(state.position, action, self.layout.shape)
        position = jnp.where(self._walls()[target[0], target[1]], state.position, target)
        reward = self.reward(state, position, params).astype(jnp.float32)
        cells, colours = self._distractors(*grid.word_chunks(key, *self._distractor_words()))
        state = state.replace(
            time=state.time + 1,
            position=position,
            distractor_cells=cells,
            distractor_colours=colours,
        )
        return self.get_obs(state, params), state, reward, jnp.bool_(False), {}

    def tiles(self, state: EnvState, params: EnvParams) -> grid.Tiles:
        """The room: cue-coloured floor early on, distractors, goals in the query, the agent."""
        floor = jnp.where(state.time < params.cue_length, state.cue, FLOOR)
        tiles = self.layout.base_tiles(self._walls(), 0, floor, WALL)
        every = jnp.ones(self.num_distractors, bool)
        tiles = grid.paint(
            tiles, state.distractor_cells, every, grid.BOX, state.distractor_colours, floor
        )
        query = jnp.full(self.num_cues, self.phase(state, params) == base.QUERY)
        goals = jnp.asarray(self.goal_cells)
        tiles = grid.paint(tiles, goals, query, grid.CROSS, state.goal_colours, floor)
        agent = state.position[None]
        return grid.paint(tiles, agent, jnp.ones(1, bool), grid.AGENT, grid.WHITE, floor)


def reward_cue(
    context_length: int = 300,
    query_length: int = 200,
    cue_length: int = 4,
    num_cues: int = 2,
    num_distractors: int = 3,
    room_size: int = 6,
    tile_size: int = 4,
    flat_obs: bool = True,
    show_phase: bool = False,
) -> tuple[RewardCue, EnvParams]:
    """Builds RewardCue and its parameters.

    Args:
        context_length: steps of the context phase (the cue is shown at its start).
        query_length: steps of the query phase (the episode is truncated after both).
        cue_length: steps whose floor shows the cue (at most `context_length`).
        num_cues: cue colours and goals (2 to 4).
        num_distractors: distractor boxes drawn each step.
        room_size: floor cells per room side.
        tile_size: pixels per tile side.
        flat_obs: observations as float32 vectors (default), or `[h, w, 3]` images.
        show_phase: draw a white frame during the query phase.

    Returns:
        `(env, params)`.
    """
    base.check_lengths(context_length, query_length)
    if not 1 <= cue_length <= context_length:
        raise ValueError(f"cue_length must be in [1, context_length], got {cue_length}")
    env = RewardCue(room_size, num_cues, num_distractors, tile_size, flat_obs, show_phase)
    params = EnvParams(
        max_steps_in_episode=context_length + query_length,
        context_length=context_length,
        cue_length=cue_length,
    )
    return env, params


ENTRIES: dict[str, Callable[..., tuple[RewardCue, EnvParams]]] = {
    "Memory/RewardCue": reward_cue,
}
