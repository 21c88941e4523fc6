"""Rooms: long-term imagination and context-dependent recall in worlds of rooms.

Rules. The world is a grid of rooms (`envs.memory.grid`: two rooms side by side, 2 x 2 or 2 x 5),
each of `S x S` floor cells, with one doorway in every wall that two rooms share. Each episode
draws the world: doorway positions, a floor and wall colour pair per room (distinct between
rooms) and `num_objects` coloured boxes on each room's floor (decoration; they do not block), and
the agent's start on a random floor cell of a random room. The agent sees its room from above
(walls, floor, boxes, itself); a room's look is only known from having been in it, and nothing
can be learned about it across episodes. Each step moves the agent one cell (walls block; the
view changes room once the agent steps onto the other room's floor). Entering a room not visited
before pays `1 / num_rooms`; there is no other reward and no termination: episodes are truncated
after `context_length + query_length` steps.

- Long-term imagination (`Memory/TwoRooms`, `Memory/FourRooms`, `Memory/TenRooms`): the context
  phase explores the world; in the query phase the agent goes on from where it is, and a model
  fed only the query's actions must generate the rooms it revisits from the context.
- Context-dependent recall (`Memory/Teleport-*`): the same, but on the transition into the query
  phase the agent is teleported back to its start cell (from wherever it is: usually another
  room), so the first query frame already shows the start room, seen only at the context's
  beginning; the world being new in each episode, only the context can tell what to generate.
  The teleport happens whatever the agent does, so the datasets a world model trains on mark
  it as an action of its own (`MemoryEnv.model_actions`: id `num_actions`, one more in all):
  a model fed the query's actions is told when the jump happens, and must recall from the
  context only what the start room looks like.

Observation: the rendered view (see `envs.memory.base`), 32 x 32 RGB with the defaults
(`room_size=6`, `tile_size=4`). Action: Discrete(4). `info["phase"]`: CONTEXT or QUERY.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import jax
import jax.numpy as jnp
from flax import struct
from gymnax.environments import environment

from envs.memory import base, grid

MAX_ROOMS = grid.NUM_FLOOR_COLOURS * grid.NUM_WALL_COLOURS
"""Rooms get distinct (floor, wall) colour pairs, which bounds their number."""


@struct.dataclass
class EnvState(environment.EnvState):
    """Rooms state.

    Attributes:
        time: steps taken in the episode.
        position: int32 `[2]`, the agent's cell `(y, x)`.
        room: int32 `[]`, the room shown (the last one whose floor the agent stood on).
        start: int32 `[2]`, the start cell (the teleport's destination).
        walls: bool `[H, W]`, the map's walls (doorways open).
        doorways: int32 `[E, 2]`, the doorway cell of each shared wall (`grid.Layout` order).
        objects: uint8 `[H, W]`, the palette colour of the box on each cell, 0 for none.
        floor_colours: int32 `[R]`, palette colour of each room's floor.
        wall_colours: int32 `[R]`, palette colour of each room's walls.
        visited: bool `[R]`, the rooms entered so far (the start room included).
    """

    position: jax.Array
    room: jax.Array
    start: jax.Array
    walls: jax.Array
    doorways: jax.Array
    objects: jax.Array
    floor_colours: jax.Array
    wall_colours: jax.Array
    visited: jax.Array


@struct.dataclass
class EnvParams(base.MemoryParams):
    """Rooms parameters (see `MemoryParams`)."""


class Rooms(base.MemoryEnv):
    """A world of rooms with a context and a query phase; see the module docstring.

    Args:
        layout: the arrangement of rooms.
        teleport: teleport the agent to its start when the query phase begins.
        num_objects: boxes per room (at most `room_size ** 2`).
        tile_size: pixels per tile side (2, 4 or 8).
        flat_obs: observations as float32 vectors, or `[h, w, 3]` images.
        show_phase: draw a white frame during the query phase.
    """

    def __init__(
        self,
        layout: grid.Layout,
        teleport: bool = False,
        num_objects: int = 2,
        tile_size: int = 4,
        flat_obs: bool = True,
        show_phase: bool = False,
    ):
        super().__init__(layout, tile_size, flat_obs, show_phase)
        if layout.num_rooms > MAX_ROOMS:
            raise ValueError(f"at most {MAX_ROOMS} rooms, got {layout.num_rooms}")
        if not 0 <= num_objects <= layout.room_size**2:
            raise ValueError(f"num_objects must be in [0, room_size**2], got {num_objects}")
        self.teleport = teleport
        self.num_objects = num_objects

    @property
    def default_params(self) -> EnvParams:
        return EnvParams()

    def _room_colours(self, words: jax.Array) -> tuple[jax.Array, jax.Array]:
        """Distinct (floor, wall) palette colours, int32 `[R]` each, from words `[R]`."""
        pairs = grid.distinct_below(words, MAX_ROOMS)
        floor = grid.FIRST_FLOOR + pairs // grid.NUM_WALL_COLOURS
        wall = grid.FIRST_WALL + pairs % grid.NUM_WALL_COLOURS
        return floor, wall

    def _objects(self, cell_words: jax.Array, colour_words: jax.Array) -> jax.Array:
        """uint8 `[H, W]`: `num_objects` boxes of random item colours on each room's floor.

        Args:
            cell_words: uint32 `[R, num_objects]`, random words for the cells.
            colour_words: uint32 `[R * num_objects]`, random words for the colours.
        """
        rooms = jnp.arange(self.layout.num_rooms)
        cells = jax.vmap(self.layout.random_floor_cells)(cell_words, rooms).reshape(-1, 2)
        colours = grid.FIRST_ITEM + grid.below(colour_words, grid.NUM_ITEM_COLOURS)
        empty = jnp.zeros(self.layout.shape, jnp.uint8)
        return empty.at[cells[:, 0], cells[:, 1]].set(colours.astype(jnp.uint8))

    def reset_env(self, key: jax.Array, params: EnvParams) -> tuple[jax.Array, EnvState]:
        """Draws a world and a start. Returns the first observation and the state."""
        layout = self.layout
        cells = layout.room_size**2
        start_words, door_words, colour_words, cell_words, object_words = grid.word_chunks(
            key,
            2,
            layout.num_doorways,
            layout.num_rooms,
            (layout.num_rooms, self.num_objects),
            layout.num_rooms * self.num_objects,
        )
        room = grid.below(start_words[0], layout.num_rooms)
        start = layout.floor_cell(room, grid.below(start_words[1], cells))
        doorways = layout.random_doorways(door_words)
        floor_colours, wall_colours = self._room_colours(colour_words)
        state = EnvState(
            time=0,
            position=start,
            room=room,
            start=start,
            walls=layout.walls(doorways),
            doorways=doorways,
            objects=self._objects(cell_words, object_words),
            floor_colours=floor_colours,
            wall_colours=wall_colours,
            visited=jnp.zeros(layout.num_rooms, bool).at[room].set(True),
        )
        return self.get_obs(state, params), state

    @property
    def moves_at_query(self) -> bool:
        """The teleport variants move the agent to its start on entering the query phase."""
        return self.teleport

    def step_env(
        self, key: jax.Array, state: EnvState, action: jax.Array, params: EnvParams
    ) -> tuple[jax.Array, EnvState, jax.Array, jax.Array, dict]:
        """Moves the agent (action int `[]`), teleports it on entering the query phase."""
        target = grid.step_target(state.position, action, self.layout.shape)
        position = jnp.where(state.walls[target[0], target[1]], state.position, target)
        time = state.time + 1
        if self.teleport:
            position = jnp.where(time == params.context_length, state.start, position)
        room = jnp.where(self.layout.is_floor(position), self.layout.room_at(position), state.room)
        new_room = ~state.visited[room]
        reward = new_room.astype(jnp.float32) / self.layout.num_rooms
        state = state.replace(
            time=time, position=position, room=room, visited=state.visited.at[room].set(True)
        )
        return self.get_obs(state, params), state, reward, jnp.bool_(False), {}

    def tiles(self, state: EnvState, params: EnvParams) -> grid.Tiles:
        """The view of the agent's room: walls, floor, boxes and the agent."""
        room, size = state.room, self.layout.view_size
        floor = state.floor_colours[room]
        tiles = self.layout.base_tiles(state.walls, room, floor, state.wall_colours[room])
        origin = self.layout.room_origin(room)
        boxes = jax.lax.dynamic_slice(state.objects, origin, (size, size)).astype(jnp.int32)
        has_box = boxes > 0
        tiles = grid.Tiles(
            pattern=jnp.where(has_box, grid.BOX, tiles.pattern),
            fg=jnp.where(has_box, boxes, tiles.fg),
            bg=tiles.bg,
        )
        agent = (state.position - origin)[None]
        return grid.paint(tiles, agent, jnp.ones(1, bool), grid.AGENT, grid.WHITE, floor)


def rooms(
    room_grid: tuple[int, int] = (2, 2),
    teleport: bool = False,
    context_length: int = 500,
    query_length: int = 500,
    room_size: int = 6,
    num_objects: int = 2,
    tile_size: int = 4,
    flat_obs: bool = True,
    show_phase: bool = False,
) -> tuple[Rooms, EnvParams]:
    """Builds a world of rooms and its parameters.

    Args:
        room_grid: `(rows, cols)` of rooms.
        teleport: teleport the agent back to its start when the query phase begins.
        context_length: steps of the context phase.
        query_length: steps of the query phase (the episode is truncated after both).
        room_size: floor cells per room side.
        num_objects: boxes per room.
        tile_size: pixels per tile side (the image is `(room_size + 2) * tile_size` square).
        flat_obs: observations as float32 vectors (default), or `[h, w, 3]` images.
        show_phase: draw a white frame during the query phase.

    Returns:
        `(env, params)`.
    """
    base.check_lengths(context_length, query_length)
    layout = grid.Layout(*room_grid, room_size=room_size)
    env = Rooms(layout, teleport, num_objects, tile_size, flat_obs, show_phase)
    params = EnvParams(
        max_steps_in_episode=context_length + query_length, context_length=context_length
    )
    return env, params


_VARIANTS = {
    "TwoRooms": ((1, 2), 500, 500),
    "FourRooms": ((2, 2), 500, 500),
    "TenRooms": ((2, 5), 1100, 900),
}

ENTRIES: dict[str, Callable[..., tuple[Rooms, EnvParams]]] = {
    f"Memory/{prefix}{name}": functools.partial(
        rooms,
        room_grid=room_grid,
        teleport=teleport,
        context_length=context_length,
        query_length=query_length,
    )
    for teleport, prefix in ((False, ""), (True, "Teleport-"))
    for name, (room_grid, context_length, query_length) in _VARIANTS.items()
}
