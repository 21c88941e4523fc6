"""KeysDoors: memory-based reasoning, where which doors open depends on keys collected long ago.

Rules. Two rooms of `S x S` floor cells side by side with no doorway between them
(`envs.memory.grid`): the key room (left) and the door room (right). Each episode draws
`num_keys` keys, one per item colour `0 ... num_keys - 1`, on distinct floor cells of the key room,
the agent's start on another of them, one door per key colour on distinct cells of the door room's
outer walls (top, right and bottom), and the cell where the query phase starts in the door room.
During the context phase the agent walks the key room; the PICKUP action on a key's cell collects
it (the key disappears; nothing shows which keys are held; walking over a key leaves it). On the
transition into the query phase the agent is moved to the door room's start cell (a world model
reads that step as an action of its own, `MemoryEnv.model_actions`). A door is a
wall unless the agent holds the key of its colour: stepping into a door with its key opens it for
good (the agent enters the doorway) and pays +1; without it the agent stays put. No other reward,
no termination: episodes are truncated after `context_length + query_length` steps. What the
query phase shows (which doors open) thus depends on which keys were collected, long before, in
another room.

Observation: the rendered view (see `envs.memory.base`). Action: Discrete(5): LEFT, RIGHT, UP,
DOWN, PICKUP (which does not move the agent). `info["phase"]`: CONTEXT or QUERY.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct
from gymnax.environments import environment

from envs.memory import base, grid

KEY_ROOM, DOOR_ROOM = 0, 1
PICKUP = grid.NUM_ACTIONS
NUM_ACTIONS = grid.NUM_ACTIONS + 1
ROOM_FLOORS = np.array([grid.FIRST_FLOOR, grid.FIRST_FLOOR + 1], np.int32)
ROOM_WALLS = np.array([grid.FIRST_WALL, grid.FIRST_WALL + 1], np.int32)


@struct.dataclass
class EnvState(environment.EnvState):
    """KeysDoors state.

    Attributes:
        time: steps taken in the episode.
        position: int32 `[2]`, the agent's cell `(y, x)`.
        room: int32 `[]`, the room shown (KEY_ROOM or DOOR_ROOM).
        query_start: int32 `[2]`, the door room cell where the query phase starts.
        keys: int32 `[K, 2]`, cell of the key of each colour.
        key_present: bool `[K]`, which keys still lie in the key room.
        held: bool `[K]`, which keys the agent holds.
        doors: int32 `[K, 2]`, cell of the door of each colour.
        door_open: bool `[K]`, which doors are open.
    """

    position: jax.Array
    room: jax.Array
    query_start: jax.Array
    keys: jax.Array
    key_present: jax.Array
    held: jax.Array
    doors: jax.Array
    door_open: jax.Array


@struct.dataclass
class EnvParams(base.MemoryParams):
    """KeysDoors parameters (see `MemoryParams`)."""


class KeysDoors(base.MemoryEnv):
    """Keys collected in one room open doors in another; see the module docstring.

    Args:
        room_size: floor cells per room side.
        num_keys: keys and doors, one per colour (1 to 8).
        tile_size: pixels per tile side (2, 4 or 8).
        flat_obs: observations as float32 vectors, or `[h, w, 3]` images.
        show_phase: draw a white frame during the query phase.
    """

    def __init__(
        self,
        room_size: int = 6,
        num_keys: int = 4,
        tile_size: int = 4,
        flat_obs: bool = True,
        show_phase: bool = False,
    ):
        super().__init__(grid.Layout(1, 2, room_size), tile_size, flat_obs, show_phase)
        limit = min(grid.NUM_ITEM_COLOURS, room_size**2 - 1, 3 * room_size)
        if not 1 <= num_keys <= limit:
            raise ValueError(f"num_keys must be in [1, {limit}], got {num_keys}")
        self.num_keys = num_keys

    @property
    def default_params(self) -> EnvParams:
        return EnvParams()

    @property
    def num_actions(self) -> int:
        return NUM_ACTIONS

    @property
    def moves_at_query(self) -> bool:
        """Entering the query phase puts the agent in the door room whatever it does."""
        return True

    @property
    def key_colours(self) -> np.ndarray:
        """int32 `[K]`: the palette colour of each key (and of its door)."""
        return grid.FIRST_ITEM + np.arange(self.num_keys, dtype=np.int32)

    @property
    def door_candidates(self) -> np.ndarray:
        """int32 `[3S, 2]`: the door room's outer wall cells, corners excluded."""
        size, period = self.layout.room_size, self.layout.period
        along = np.arange(1, size + 1)
        top = np.stack([np.zeros(size, int), period + along], axis=1)
        bottom = np.stack([np.full(size, period), period + along], axis=1)
        right = np.stack([along, np.full(size, 2 * period)], axis=1)
        return np.concatenate([top, right, bottom]).astype(np.int32)

    def _walls(self) -> jax.Array:
        return self.layout.walls(jnp.zeros((0, 2), jnp.int32))

    def reset_env(self, key: jax.Array, params: EnvParams) -> tuple[jax.Array, EnvState]:
        """Draws keys, doors, the start and the query start."""
        floor_cells = self.layout.room_size**2
        cell_words, door_words, query_word = grid.word_chunks(
            key, self.num_keys + 1, self.num_keys, 1
        )
        cells = self.layout.random_floor_cells(cell_words, KEY_ROOM)
        candidates = jnp.asarray(self.door_candidates)
        doors = candidates[grid.distinct_below(door_words, len(candidates))]
        query_index = grid.below(query_word[0], floor_cells)
        state = EnvState(
            time=0,
            position=cells[0],
            room=jnp.int32(KEY_ROOM),
            query_start=self.layout.floor_cell(DOOR_ROOM, query_index),
            keys=cells[1:],
            key_present=jnp.ones(self.num_keys, bool),
            held=jnp.zeros(self.num_keys, bool),
            doors=doors,
            door_open=jnp.zeros(self.num_keys, bool),
        )
        return self.get_obs(state, params), state

    def step_env(
        self, key: jax.Array, state: EnvState, action: jax.Array, params: EnvParams
    ) -> tuple[jax.Array, EnvState, jax.Array, jax.Array, dict]:
        """Moves the agent or picks up a key (action int `[]`); doors open with their keys."""
        target = grid.step_target(state.position, action, self.layout.shape)
        door_here = jnp.all(state.doors == target, axis=-1)
        passable_door = jnp.any(door_here & (state.door_open | state.held))
        passable = ~self._walls()[target[0], target[1]] | passable_door
        position = jnp.where(passable, target, state.position)
        opened = door_here & state.held & ~state.door_open & passable
        on_key = jnp.all(state.keys == position, axis=-1)
        picked = state.key_present & on_key & (action == PICKUP)
        time = state.time + 1
        position = jnp.where(time == params.context_length, state.query_start, position)
        room = jnp.where(self.layout.is_floor(position), self.layout.room_at(position), state.room)
        state = state.replace(
            time=time,
            position=position,
            room=room,
            key_present=state.key_present & ~picked,
            held=state.held | picked,
            door_open=state.door_open | opened,
        )
        reward = jnp.sum(opened).astype(jnp.float32)
        return self.get_obs(state, params), state, reward, jnp.bool_(False), {}

    def tiles(self, state: EnvState, params: EnvParams) -> grid.Tiles:
        """The agent's room: keys still lying there, doors (closed or open), the agent."""
        floor = jnp.asarray(ROOM_FLOORS)[state.room]
        wall = jnp.asarray(ROOM_WALLS)[state.room]
        tiles = self.layout.base_tiles(self._walls(), state.room, floor, wall)
        origin = self.layout.room_origin(state.room)
        colours = jnp.asarray(self.key_colours)
        keys = state.keys - origin
        tiles = grid.paint(tiles, keys, state.key_present, grid.KEY, colours, floor)
        doors = state.doors - origin
        tiles = grid.paint(tiles, doors, ~state.door_open, grid.DOOR, colours, wall)
        tiles = grid.paint(tiles, doors, state.door_open, grid.SOLID, floor, floor)
        agent = (state.position - origin)[None]
        return grid.paint(tiles, agent, jnp.ones(1, bool), grid.AGENT, grid.WHITE, floor)


def keys_doors(
    context_length: int = 500,
    query_length: int = 500,
    num_keys: int = 4,
    room_size: int = 6,
    tile_size: int = 4,
    flat_obs: bool = True,
    show_phase: bool = False,
) -> tuple[KeysDoors, EnvParams]:
    """Builds KeysDoors and its parameters.

    Args:
        context_length: steps of the context phase (in the key room).
        query_length: steps of the query phase (in the door room; truncated after both).
        num_keys: keys and doors, one per colour.
        room_size: floor cells per room side.
        tile_size: pixels per tile side.
        flat_obs: observations as float32 vectors (default), or `[h, w, 3]` images.
        show_phase: draw a white frame during the query phase.

    Returns:
        `(env, params)`.
    """
    base.check_lengths(context_length, query_length)
    env = KeysDoors(room_size, num_keys, tile_size, flat_obs, show_phase)
    params = EnvParams(
        max_steps_in_episode=context_length + query_length, context_length=context_length
    )
    return env, params


ENTRIES: dict[str, Callable[..., tuple[KeysDoors, EnvParams]]] = {
    "Memory/KeysDoors": keys_doors,
}
