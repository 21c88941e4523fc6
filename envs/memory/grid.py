"""Worlds of rooms on a grid for the memory benchmarks: geometry, movement and rendering.

Geometry. A world is a `rows x cols` arrangement of square rooms of `S x S` floor cells, divided by
walls one cell thick. The map has `(rows * (S + 1) + 1) x (cols * (S + 1) + 1)` cells: every row
and column whose index is a multiple of `S + 1` (the period `P`) is a wall line, and room
`(i, j)` (numbered `i * cols + j`) has its floor at rows `i * P + 1 ... i * P + S` and columns
`j * P + 1 ... j * P + S`. Two neighbouring rooms share one wall; a doorway is one gap in it, at an
offset `0 ... S - 1` along the wall. Cells are `(y, x)`, y growing downwards.

Movement. Actions are LEFT 0, RIGHT 1, UP 2, DOWN 3: the agent moves one cell unless the target
cell blocks (a wall, or whatever else the task says); the map's border is all wall. A task may add
action 4, which does not move the agent (KeysDoors' PICKUP).

Rendering. An observation shows the agent's room from above with its four walls: `V x V` tiles,
`V = S + 2`, each `t x t` pixels. A tile is a sprite pattern (a binary mask, `PATTERNS`) drawn in
a foreground colour over a background colour, both indices into `PALETTE`; the image is one
gather of masks and colours, with no loop over pixels. Patterns are drawn at 4 x 4 pixels and
scaled to the tile size (`tile_size` 2 keeps colours but merges most shapes into squares).
"""

from __future__ import annotations

import dataclasses
import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from envs.popgym.labyrinth import hashed_words

LEFT, RIGHT, UP, DOWN = 0, 1, 2, 3
NUM_ACTIONS = 4
MOVES = np.array([[0, -1], [0, 1], [-1, 0], [1, 0], [0, 0]], np.int32)
"""`(dy, dx)` of LEFT, RIGHT, UP, DOWN, and of any task-specific action 4 (no move)."""

# ----------------------------------------------------------------------------------- colours

BLACK, WHITE, GRAY, DARK_GRAY = 0, 1, 2, 3
_BASE_COLOURS = ((0, 0, 0), (255, 255, 255), (128, 128, 128), (64, 64, 64))
_FLOOR_COLOURS = (
    (40, 40, 90),
    (40, 90, 40),
    (90, 40, 40),
    (90, 90, 40),
    (40, 90, 90),
    (90, 40, 90),
    (110, 75, 40),
    (70, 70, 70),
)
_WALL_COLOURS = (
    (170, 170, 225),
    (170, 225, 170),
    (225, 170, 170),
    (225, 225, 150),
    (150, 225, 225),
    (225, 150, 225),
    (235, 195, 140),
    (195, 195, 195),
)
_ITEM_COLOURS = (
    (230, 40, 40),
    (40, 200, 40),
    (50, 80, 240),
    (240, 220, 30),
    (220, 40, 220),
    (30, 220, 220),
    (250, 140, 20),
    (140, 60, 230),
)
FIRST_FLOOR = len(_BASE_COLOURS)
FIRST_WALL = FIRST_FLOOR + len(_FLOOR_COLOURS)
FIRST_ITEM = FIRST_WALL + len(_WALL_COLOURS)
NUM_FLOOR_COLOURS = len(_FLOOR_COLOURS)
NUM_WALL_COLOURS = len(_WALL_COLOURS)
NUM_ITEM_COLOURS = len(_ITEM_COLOURS)
PALETTE = np.array(
    _BASE_COLOURS + _FLOOR_COLOURS + _WALL_COLOURS + _ITEM_COLOURS, np.uint8
).reshape(-1, 3)
"""uint8 `[K, 3]` RGB colours: black, white, grays, then floor, wall and item colours."""

# ---------------------------------------------------------------------------------- sprites

SOLID, AGENT, BOX, KEY, DOOR, CROSS = range(6)
_ART = (
    ("####", "####", "####", "####"),
    (".##.", "####", "####", ".##."),
    ("####", "#..#", "#..#", "####"),
    ("##..", "##..", ".#..", ".##."),
    ("####", "#..#", "####", "#..#"),
    ("#..#", ".##.", ".##.", "#..#"),
)
ART_SIZE = 4
TILE_SIZES = (2, 4, 8)


@functools.cache
def sprites(tile_size: int) -> np.ndarray:
    """The sprite masks scaled to a tile size.

    Args:
        tile_size: pixels per tile side, one of `TILE_SIZES`.

    Returns:
        bool `[num_patterns, t, t]`.
    """
    if tile_size not in TILE_SIZES:
        raise ValueError(f"tile_size must be one of {TILE_SIZES}, got {tile_size}")
    art = np.array([[[c == "#" for c in row] for row in sprite] for sprite in _ART])
    if tile_size >= ART_SIZE:
        scale = tile_size // ART_SIZE
        return art.repeat(scale, axis=1).repeat(scale, axis=2)
    block = ART_SIZE // tile_size
    blocks = art.reshape(len(_ART), tile_size, block, tile_size, block)
    return blocks.mean(axis=(2, 4)) >= 0.5


class Tiles(NamedTuple):
    """A view as tiles, each int32 `[V, V]`: sprite pattern, foreground and background colour."""

    pattern: jax.Array
    fg: jax.Array
    bg: jax.Array


def render(tiles: Tiles, tile_size: int) -> jax.Array:
    """Draws tiles into an image.

    Args:
        tiles: the `[V, V]` tiles.
        tile_size: pixels per tile side `t`.

    Returns:
        uint8 `[V * t, V * t, 3]` RGB image.
    """
    masks = jnp.asarray(sprites(tile_size))[tiles.pattern]  # [V, V, t, t]
    palette = jnp.asarray(PALETTE)
    fg = palette[tiles.fg][:, :, None, None, :]
    bg = palette[tiles.bg][:, :, None, None, :]
    pixels = jnp.where(masks[..., None], fg, bg)  # [V, V, t, t, 3]
    rows, cols = tiles.pattern.shape
    return pixels.transpose(0, 2, 1, 3, 4).reshape(rows * tile_size, cols * tile_size, 3)


def paint(
    tiles: Tiles,
    cells: jax.Array,
    visible: jax.Array,
    pattern: int | jax.Array,
    fg: int | jax.Array,
    bg: int | jax.Array,
) -> Tiles:
    """Draws `n` items onto tiles; hidden items and items outside the view leave them unchanged.

    Items are drawn in order only where their cells differ; callers keep cells distinct.

    Args:
        tiles: the `[V, V]` tiles.
        cells: int32 `[n, 2]`, the items' cells in view coordinates.
        visible: bool `[n]`, which items to draw.
        pattern: the items' sprite pattern, scalar or int `[n]`.
        fg: foreground colours, scalar or int `[n]`.
        bg: background colours, scalar or int `[n]`.

    Returns:
        The tiles with the items drawn.
    """
    size = tiles.pattern.shape[0]
    inside = jnp.all((cells >= 0) & (cells < size), axis=-1) & visible
    rows = jnp.where(inside, cells[:, 0], size)  # out of range: dropped by the scatter
    cols = cells[:, 1]
    count = cells.shape[0]

    def draw(layer: jax.Array, value: int | jax.Array) -> jax.Array:
        values = jnp.broadcast_to(jnp.asarray(value, jnp.int32), (count,))
        return layer.at[rows, cols].set(values, mode="drop")

    return Tiles(draw(tiles.pattern, pattern), draw(tiles.fg, fg), draw(tiles.bg, bg))


def frame_mask(image_size: int) -> np.ndarray:
    """bool `[image_size, image_size, 1]`: the image's outermost ring of pixels."""
    ring = np.ones((image_size, image_size), bool)
    ring[1:-1, 1:-1] = False
    return ring[..., None]


# ------------------------------------------------------------------------------- randomness
# Resets run at every step under a vectorised auto-reset, and every threefry draw compiles into a
# long unrolled kernel (about half a second of compilation each, measured on a CPU), so a task
# hashes its key's words with counters instead, as the POPGym mazes do, and derives all it needs
# from one array of words.


def random_words(key: jax.Array, count: int) -> jax.Array:
    """uint32 `[count]`: pseudo-random words, the key's first two words hashed with `0..count-1`."""
    seed = jax.random.key_data(key).reshape(-1)[:2].astype(jnp.uint32)
    return hashed_words(seed, jnp.arange(count))


def word_chunks(key: jax.Array, *shapes: int | tuple[int, ...]) -> list[jax.Array]:
    """One array of `random_words` cut into uint32 arrays of the given shapes (int: a length)."""
    shapes = [(shape,) if isinstance(shape, int) else tuple(shape) for shape in shapes]
    sizes = [int(np.prod(shape)) for shape in shapes]
    words = random_words(key, sum(sizes))
    ends = np.cumsum(sizes)
    pieces = zip(ends, sizes, shapes, strict=True)
    return [words[end - size : end].reshape(shape) for end, size, shape in pieces]


def below(words: jax.Array, n: int | jax.Array) -> jax.Array:
    """Maps random uint32 words to int32 in `[0, n)`, `n <= 2**16` (bias below `n / 2**16`)."""
    scaled = (words >> 16) * jnp.asarray(n, jnp.uint32)
    return (scaled >> 16).astype(jnp.int32)


def coin(words: jax.Array, probability: float | jax.Array) -> jax.Array:
    """bool: true with the given probability for each random uint32 word."""
    return (words >> 8).astype(jnp.float32) < jnp.asarray(probability, jnp.float32) * 2.0**24


def distinct_below(words: jax.Array, n: int) -> jax.Array:
    """Distinct random values of `[0, n)`: the first steps of a Fisher-Yates shuffle.

    A sort of `n` random keys would do too, but XLA's CPU sort made resets about nine times slower.

    Args:
        words: uint32 `[..., count]`, random words, `count <= n`.
        n: the number of values to draw from.

    Returns:
        int32 `[..., count]`: distinct values, in random order.
    """
    if words.shape[-1] > n:
        raise ValueError(f"cannot draw {words.shape[-1]} distinct values below {n}")
    values = jnp.arange(n, dtype=jnp.int32)
    order = jnp.broadcast_to(values, (*words.shape[:-1], n))
    for i in range(words.shape[-1]):
        j = i + below(words[..., i], n - i)[..., None]
        at_i, at_j = order[..., i : i + 1], jnp.take_along_axis(order, j, axis=-1)
        order = jnp.where(values == j, at_i, jnp.where(values == i, at_j, order))
    return order[..., : words.shape[-1]]


def uniform_among(words: jax.Array, mask: jax.Array) -> jax.Array:
    """int32 `[]`: an index drawn uniformly among the true entries of a bool `[n]` mask.

    Args:
        words: uint32 `[n]`, random words.
        mask: bool `[n]`; where none is true, index 0.
    """
    return jnp.argmax(jnp.where(mask, (words >> 1) + 1, 0)).astype(jnp.int32)


# ----------------------------------------------------------------------------------- layout


@dataclasses.dataclass(frozen=True)
class Layout:
    """A `rows x cols` arrangement of rooms with `room_size x room_size` floor cells each.

    Attributes:
        rows: rooms per column of the arrangement.
        cols: rooms per row of the arrangement.
        room_size: `S`, floor cells per room side.
    """

    rows: int
    cols: int
    room_size: int

    def __post_init__(self):
        if self.rows < 1 or self.cols < 1:
            raise ValueError(f"a layout needs at least one room, got {self.rows} x {self.cols}")
        if self.room_size < 2:
            raise ValueError(f"room_size must be >= 2, got {self.room_size}")

    @property
    def num_rooms(self) -> int:
        return self.rows * self.cols

    @property
    def period(self) -> int:
        """`P = S + 1`: the distance between wall lines."""
        return self.room_size + 1

    @property
    def shape(self) -> tuple[int, int]:
        """`(H, W)`, the map's cells."""
        return self.rows * self.period + 1, self.cols * self.period + 1

    @property
    def view_size(self) -> int:
        """`V = S + 2`, tiles per view side (a room with its walls)."""
        return self.room_size + 2

    @property
    def num_doorways(self) -> int:
        """`E`, the walls shared by neighbouring rooms (east-west pairs first)."""
        return self.rows * (self.cols - 1) + (self.rows - 1) * self.cols

    @functools.cached_property
    def _doorway_geometry(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per shared wall: its first cell, its direction, and the two rooms it separates."""
        base, along, rooms = [], [], []
        period = self.period
        for i in range(self.rows):
            for j in range(self.cols - 1):
                base.append((i * period + 1, (j + 1) * period))
                along.append((1, 0))
                rooms.append((i * self.cols + j, i * self.cols + j + 1))
        for i in range(self.rows - 1):
            for j in range(self.cols):
                base.append(((i + 1) * period, j * period + 1))
                along.append((0, 1))
                rooms.append((i * self.cols + j, (i + 1) * self.cols + j))
        shape = (len(base), 2)
        return (
            np.array(base, np.int32).reshape(shape),
            np.array(along, np.int32).reshape(shape),
            np.array(rooms, np.int32).reshape(shape),
        )

    @property
    def doorway_rooms(self) -> np.ndarray:
        """int32 `[E, 2]`: the rooms each shared wall separates (the lower number first)."""
        return self._doorway_geometry[2]

    @functools.cached_property
    def neighbour_doorway(self) -> np.ndarray:
        """int32 `[num_rooms, 4]`: the shared wall towards the LEFT/RIGHT/UP/DOWN room, or -1."""
        table = -np.ones((self.num_rooms, NUM_ACTIONS), np.int32)
        for edge, (first, second) in enumerate(self.doorway_rooms):
            horizontal = second == first + 1 and first // self.cols == second // self.cols
            table[first, RIGHT if horizontal else DOWN] = edge
            table[second, LEFT if horizontal else UP] = edge
        return table

    def doorway_cells(self, offsets: jax.Array) -> jax.Array:
        """The doorway cells, int32 `[E, 2]`, for offsets int `[E]` in `[0, S)` along each wall."""
        base, along, _ = self._doorway_geometry
        return jnp.asarray(base) + jnp.asarray(along) * jnp.asarray(offsets, jnp.int32)[:, None]

    def random_doorways(self, words: jax.Array) -> jax.Array:
        """Doorway cells, int32 `[E, 2]`, at random offsets along each wall (words `[E]`)."""
        return self.doorway_cells(below(words, self.room_size))

    def walls(self, doorways: jax.Array) -> jax.Array:
        """bool `[H, W]`: the wall lines, with the given doorway cells (int `[E, 2]`) open."""
        height, width = self.shape
        lines = (np.arange(height)[:, None] % self.period == 0) | (
            np.arange(width)[None, :] % self.period == 0
        )
        return jnp.asarray(lines).at[doorways[:, 0], doorways[:, 1]].set(False)

    def room_origin(self, room: jax.Array) -> jax.Array:
        """int32 `[2]`: the top-left wall corner of a room (the view's cell `(0, 0)`)."""
        room = jnp.asarray(room, jnp.int32)
        return jnp.stack([room // self.cols, room % self.cols]) * self.period

    def room_at(self, cell: jax.Array) -> jax.Array:
        """int32 `[]`: the room whose floor holds `cell` (a cell on a wall goes up/left)."""
        height, width = self.shape
        cell = jnp.clip(cell, 1, jnp.asarray([height - 2, width - 2]))
        grid = (cell - 1) // self.period
        return (grid[0] * self.cols + grid[1]).astype(jnp.int32)

    def is_floor(self, cell: jax.Array) -> jax.Array:
        """bool `[]`: whether `cell` (int `[2]`) lies on no wall line."""
        return jnp.all(cell % self.period != 0)

    def floor_cell(self, room: jax.Array, index: jax.Array) -> jax.Array:
        """int32 `[..., 2]`: floor cell number `index` (int `[...]` in `[0, S^2)`) of a room."""
        index = jnp.asarray(index, jnp.int32)
        offset = jnp.stack([index // self.room_size, index % self.room_size], axis=-1)
        return self.room_origin(room) + 1 + offset

    def random_floor_cells(self, words: jax.Array, room: jax.Array) -> jax.Array:
        """Distinct random floor cells of a room, int32 `[count, 2]`, from words `[count]`."""
        return self.floor_cell(room, distinct_below(words, self.room_size**2))

    def base_tiles(self, walls: jax.Array, room: jax.Array, floor: jax.Array, wall: jax.Array):
        """The tiles of a room's view before any item: walls and floor in the room's colours.

        Args:
            walls: bool `[H, W]`, the map's walls.
            room: int `[]`, the room shown.
            floor: int `[]`, the floor colour (also drawn in open doorways).
            wall: int `[]`, the wall colour.

        Returns:
            `Tiles` of `[V, V]`.
        """
        size = self.view_size
        view = jax.lax.dynamic_slice(walls, self.room_origin(room), (size, size))
        pattern = jnp.full((size, size), SOLID, jnp.int32)
        fg = jnp.where(view, jnp.asarray(wall, jnp.int32), jnp.asarray(floor, jnp.int32))
        return Tiles(pattern, fg, fg)


def step_target(cell: jax.Array, action: jax.Array, shape: tuple[int, int]) -> jax.Array:
    """int32 `[2]`: the cell a move leads to, clipped to a map of `shape` `(H, W)`."""
    target = cell + jnp.asarray(MOVES)[action]
    return jnp.clip(target, 0, jnp.asarray([shape[0] - 1, shape[1] - 1])).astype(jnp.int32)
