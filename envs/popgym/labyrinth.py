"""Mazes for POPGym's LabyrinthEscape and LabyrinthExplore: generation, movement and the local view.

Grid (as in popgym): a maze of `h x w` cells (`maze_dims = (2h, 2w)`) lives on an `H x W` grid,
`H = 2h + 1`, `W = 2w + 1`. Cell `(i, j)` sits at grid square `(2i + 1, 2j + 1)`, the squares
between two neighbouring cells are passages or walls, every square on an even row and an even
column is a wall, and the border is wall except two entrances on opposite sides: the start and the
goal (popgym's `generate_entrances(start_outer=True)`). The agent moves on grid squares.

Squares are coded like popgym's `Cell`: FREE 0, OBSTACLE 1, START 2, GOAL 3 (HIDDEN 4 never appears
in an observation); actions like popgym's `Actions`: LEFT 0, RIGHT 1, UP 2, DOWN 3, and NONE 4, the
"previous action" shown at reset.

Generation. popgym draws mazes with mazelib's hunt-and-kill, a sequential random walk. Here every
reset draws a perfect maze (a random spanning tree of the cell grid) with the sidewinder algorithm,
which has a closed form per cell: each row is cut into runs of cells joined east-west at random
(the first row is one run), and each run opens north at one uniformly chosen cell. A random
up-down flip and a random transposition then put its straight first-row corridor on any side.
Under a vectorised auto-reset a reset is computed at every step, so cost matters: with each row a
bitmask, the draw is a few elementwise passes over the cells, with 32-bit hashes of two random
words as its randomness (one threefry draw per cell would cost more than everything else), where a
sequential generator costs tens of times more. The distribution of mazes differs from
hunt-and-kill's (one straight corridor along a side, and every cell has a path to it that never
turns away from it); the rules, sizes, codes and rewards do not.

Storage. The walls of the grid are a `uint32 [H]` vector of row bitmasks (bit `c` of row `r` set
when square `(r, c)` is an obstacle), which keeps the state small for the per-step auto-reset
select; it limits mazes to 30 squares a side (`H, W <= 31`).

Step. `MazeEnv.step` returns what gymnax's auto-resetting `Environment.step` returns, but observes
the state after the reset's select instead of selecting between two observations, which XLA
compiles into a far slower kernel (see `MazeEnv.step`).

popgym itself warns that these mazes can be solved without memory (a feed-forward policy beats a
recurrent one), so they are weak memory benchmarks; they are here for completeness.
"""

import functools

import jax
import jax.numpy as jnp
from flax import struct
from gymnax.environments import environment, spaces

FREE, OBSTACLE, START, GOAL, HIDDEN = 0, 1, 2, 3, 4
NUM_CELL_CODES = 5
"""popgym's `Cell` codes; each view square is one-hot encoded over all five."""

LEFT, RIGHT, UP, DOWN, NONE = 0, 1, 2, 3, 4
NUM_MOVES = 4
"""Actions are the four moves; NONE (4) only appears as the previous action after a reset."""

_MOVE_DELTAS = ((0, -1), (0, 1), (-1, 0), (1, 0))
"""`(dy, dx)` of LEFT, RIGHT, UP, DOWN; y grows downwards."""

VIEW_SIZE = 3
OBS_SIZE = VIEW_SIZE * VIEW_SIZE * NUM_CELL_CODES + NUM_CELL_CODES
"""Nine one-hot view squares and the one-hot previous action (five values each)."""

MAX_MAZE_DIM = 30
"""Largest `maze_dims` entry: a grid row (at most 31 squares) is one uint32 bitmask."""

_GOLDEN = 0x9E3779B9
_EXTRA_INDEX = 1 << 20


@struct.dataclass
class MazeState(environment.EnvState):
    """State shared by the maze tasks.

    Attributes:
        time: steps taken in the episode.
        walls: uint32 `[H]`, row bitmasks of the obstacles (entrances that can be entered cleared).
        position: int32 `[2]`, the agent's square `(y, x)`.
        start: int32 `[2]`, the start square `(y, x)` on the border.
        goal: int32 `[2]`, the goal square `(y, x)` on the opposite border.
        last_action: int32 `[]`, the previous action (NONE after a reset).
    """

    walls: jax.Array
    position: jax.Array
    start: jax.Array
    goal: jax.Array
    last_action: jax.Array


@struct.dataclass
class MazeParams(environment.EnvParams):
    """Numeric options shared by the maze tasks.

    Attributes:
        max_steps_in_episode: time limit (truncation). popgym's `episode_length` `T` truncates after
            `T - 1` steps and charges `1/T` per step, so the default 1023 is popgym's `T = 1024`;
            the step penalty is `1 / (max_steps_in_episode + 1)`.
    """

    max_steps_in_episode: int = 1023


def step_penalty(params: MazeParams) -> jax.Array:
    """Reward charged per step, `1 / (max_steps_in_episode + 1)` (popgym's `1 / episode_length`)."""
    return 1.0 / (jnp.asarray(params.max_steps_in_episode, jnp.float32) + 1.0)


def _mix(x: jax.Array) -> jax.Array:
    """A bijective 32-bit integer hash (Wellons' "lowbias32" finaliser), elementwise on uint32."""
    x = x ^ (x >> 16)
    x = x * jnp.uint32(0x7FEB352D)
    x = x ^ (x >> 15)
    x = x * jnp.uint32(0x846CA68B)
    return x ^ (x >> 16)


def hashed_words(seed: jax.Array, index: jax.Array) -> jax.Array:
    """Pseudo-random 32-bit words, one per index, from a seed of two random words.

    Args:
        seed: uint32 `[2]`, random words (from the PRNG key).
        index: int `[...]`, distinct non-negative indices, one per word wanted.

    Returns:
        uint32 `[...]`: the words.
    """
    index = index.astype(jnp.uint32)
    return _mix(_mix(index * jnp.uint32(_GOLDEN) + seed[0]) ^ seed[1])


def _uniform_below(word: jax.Array, n: jax.Array | int) -> jax.Array:
    """Maps random uint32 words to uint32 integers in `[0, n)` (n <= 2**15; bias below n/2**16)."""
    return ((word >> 16) * jnp.asarray(n, jnp.uint32)) >> 16


def _count_trailing_zeros(x: jax.Array) -> jax.Array:
    """Trailing zero bits of non-zero uint32 words."""
    lowest = x & (~x + jnp.uint32(1))
    return jax.lax.population_count(lowest - jnp.uint32(1))


def _u32(value) -> jax.Array:
    """`value` as uint32."""
    return jnp.asarray(value, jnp.uint32)


def sidewinder(seed: jax.Array, height: int, width: int) -> jax.Array:
    """Draws a perfect maze on `height x width` cells with the sidewinder algorithm.

    Cells of each row are joined east-west at random into runs (the first row is one run); each
    run below the first opens north at one uniformly chosen cell. Every cell then has one path to
    the first row, and the open passages form a spanning tree of the cells. Each row of cells is
    one bitmask, so the whole draw is a few elementwise passes over the cells.

    Args:
        seed: uint32 `[2]`, random words.
        height: `h`, rows of cells.
        width: `w`, columns of cells (at most 15).

    Returns:
        uint32 `[2h + 1]`: row bitmasks of the obstacles of the `(2h + 1) x (2w + 1)` grid, whose
        border is all wall.
    """
    full = (1 << width) - 1
    # Two words per row: which cells join their east neighbour, and a seed for the run choices.
    row_words = hashed_words(seed, jnp.arange(2 * height)).reshape(height, 2)
    rows = jnp.arange(height)[:, None]
    cols = jnp.arange(width, dtype=jnp.uint32)[None, :]
    joined = jnp.where(rows == 0, _u32(full >> 1), row_words[:, :1] & _u32(full >> 1))
    run_ends = ~joined & _u32(full)  # bit j: the run ends at cell j
    ends_from_here = run_ends >> cols
    run_end = cols + _count_trailing_zeros(ends_from_here)
    run_start = _u32(32) - jax.lax.clz(run_ends & ((_u32(1) << cols) - _u32(1)))
    # Every cell of a run mixes the run's end into the row's seed, so they agree on the choice.
    mixed = (row_words[:, 1:] ^ (run_end * _u32(_GOLDEN))) * _u32(0x85EBCA6B)
    chosen = run_start + _uniform_below(mixed ^ (mixed >> 13), run_end - run_start + 1)
    north_wall = ((cols != chosen) | (rows == 0)).astype(jnp.uint32)
    # Grid columns: 2j + 1 is cell j, 2j + 2 the passage east of it, even ones are corners.
    cell_rows = _u32(1) + jnp.sum((ends_from_here & 1) << (2 * cols + 2), axis=1, dtype=jnp.uint32)
    corners = _u32(1) << (2 * cols)
    passage_rows = jnp.sum(corners | (north_wall << (2 * cols + 1)), axis=1, dtype=jnp.uint32)
    passage_rows = passage_rows | _u32(1 << (2 * width))
    grid = jnp.stack([passage_rows, cell_rows], axis=1).reshape(2 * height)
    return jnp.concatenate([grid, _u32([(1 << (2 * width + 1)) - 1])])


def transpose_rows(bitmasks: jax.Array, width: int) -> jax.Array:
    """Transposes a bit matrix: uint32 `[H]` row bitmasks of width `W` to `[W]` of width `H`."""
    cols = jnp.arange(width, dtype=jnp.uint32)[None, :]
    rows = jnp.arange(bitmasks.shape[0], dtype=jnp.uint32)[:, None]
    return jnp.sum(((bitmasks[:, None] >> cols) & 1) << rows, axis=0, dtype=jnp.uint32)


def pack_rows(grid: jax.Array) -> jax.Array:
    """A bool `[H, W]` grid (W <= 32) as uint32 `[H]` row bitmasks (bit c is column c)."""
    shifts = jnp.arange(grid.shape[1], dtype=jnp.uint32)
    return jnp.sum(grid.astype(jnp.uint32) << shifts, axis=1, dtype=jnp.uint32)


def unpack_rows(bitmasks: jax.Array, width: int) -> jax.Array:
    """uint32 `[H]` row bitmasks to a bool `[H, width]` grid (bit c is column c)."""
    shifts = jnp.arange(width, dtype=jnp.uint32)
    return ((bitmasks[:, None] >> shifts) & 1) == 1


def random_entrances(words: jax.Array, height: int, width: int) -> tuple[jax.Array, jax.Array]:
    """Draws the start and goal squares as popgym's mazes do (mazelib's outer entrances).

    A side is drawn uniformly among north, south, west and east; the start is a uniformly drawn
    border square in front of a cell on that side, the goal one on the opposite side.

    Args:
        words: uint32 `[3]`, random words (side, start, goal).
        height: `h`, rows of cells.
        width: `w`, columns of cells.

    Returns:
        `(start, goal)`, int32 `[2]` squares `(y, x)`.
    """
    side = (words[0] >> 16) & 3
    along_rows = side < 2  # north or south: the entrances lie on the first and last grid rows
    near = (side == 0) | (side == 2)  # the start is on the first row or column
    cells_along = jnp.where(along_rows, width, height)
    last = jnp.where(along_rows, 2 * height, 2 * width)
    start_along = 2 * _uniform_below(words[1], cells_along).astype(jnp.int32) + 1
    goal_along = 2 * _uniform_below(words[2], cells_along).astype(jnp.int32) + 1
    start_across = jnp.where(near, 0, last)
    goal_across = jnp.where(near, last, 0)
    start = jnp.where(
        along_rows, jnp.stack([start_across, start_along]), jnp.stack([start_along, start_across])
    )
    goal = jnp.where(
        along_rows, jnp.stack([goal_across, goal_along]), jnp.stack([goal_along, goal_across])
    )
    return start.astype(jnp.int32), goal.astype(jnp.int32)


def _square_bit(bitmasks: jax.Array, square: jax.Array) -> tuple[jax.Array, jax.Array]:
    """The row mask `[H]` (true on the square's row) and the square's column bit (uint32 `[]`)."""
    on_row = jnp.arange(bitmasks.shape[0]) == square[0]
    return on_row, jnp.uint32(1) << square[1].astype(jnp.uint32)


def open_square(bitmasks: jax.Array, square: jax.Array) -> jax.Array:
    """Clears one square's bit (int `[2]`, `(y, x)`) in uint32 `[H]` row bitmasks."""
    on_row, bit = _square_bit(bitmasks, square)
    return jnp.where(on_row, bitmasks & ~bit, bitmasks)


def mark_square(bitmasks: jax.Array, square: jax.Array) -> jax.Array:
    """Sets one square's bit (int `[2]`, `(y, x)`) in uint32 `[H]` row bitmasks."""
    on_row, bit = _square_bit(bitmasks, square)
    return jnp.where(on_row, bitmasks | bit, bitmasks)


def generate(key: jax.Array, height: int, width: int) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Draws a random perfect maze, in a random orientation, and its entrances.

    The sidewinder's distribution is symmetric under a left-right mirror, so a random up-down
    flip and a random transposition give every orientation the same chance.

    Args:
        key: PRNG key.
        height: `h`, rows of cells.
        width: `w`, columns of cells.

    Returns:
        `(walls, start, goal)`: uint32 `[H]` row bitmasks of the obstacles (every entrance still a
        wall), and the int32 `[2]` start and goal squares.
    """
    seed = jax.random.bits(key, (2,), jnp.uint32)
    # orientation, side, start, goal, and a seed for a second maze; far from the sidewinder's
    # indices, which are below h + h * w.
    extra = hashed_words(seed, _EXTRA_INDEX + jnp.arange(6))
    flip, transpose = (extra[0] & 1) == 1, (extra[0] & 2) == 2
    grid = sidewinder(seed, height, width)
    grid = jnp.where(flip, grid[::-1], grid)
    if height == width:
        other = grid
    else:
        other = sidewinder(extra[4:], width, height)
        other = jnp.where(flip, other[::-1], other)
    grid = jnp.where(transpose, transpose_rows(other, 2 * height + 1), grid)
    start, goal = random_entrances(extra[1:4], height, width)
    return grid, start, goal


def has_square(bitmasks: jax.Array, square: jax.Array) -> jax.Array:
    """Whether a square's bit (int `[2]`, `(y, x)`, inside the grid) is set in row bitmasks."""
    row = bitmasks[square[0]]
    return ((row >> square[1].astype(jnp.uint32)) & 1) == 1


def move(walls: jax.Array, position: jax.Array, action: jax.Array, width: int) -> jax.Array:
    """The square reached by a move (popgym's `MazeEnv.move`).

    The target square is clipped to the grid; the agent stays put if it is an obstacle.

    Args:
        walls: uint32 `[H]`, row bitmasks of the obstacles.
        position: int32 `[2]`, the agent's square `(y, x)`.
        action: int `[]`, LEFT, RIGHT, UP or DOWN.
        width: `W`, grid columns.

    Returns:
        int32 `[2]`, the new square.
    """
    delta = jnp.asarray(_MOVE_DELTAS, jnp.int32)[action]
    upper = jnp.asarray([walls.shape[0] - 1, width - 1], jnp.int32)
    target = jnp.clip(position + delta, 0, upper)
    return jnp.where(has_square(walls, target), position, target)


def _view_rows(walls: jax.Array, y: jax.Array) -> list[jax.Array]:
    """The three row bitmasks of the view, with popgym's border quirk (see `view_codes`)."""
    height = walls.shape[0]
    first = jnp.where(y == 0, 0, y - 1)
    beyond = (y == 0) | (y == height - 1)
    third = jnp.where(beyond, _u32(0xFFFFFFFF), walls[jnp.minimum(y + 1, height - 1)])
    return [walls[first], walls[first + 1], third]


def _view_triple(row: jax.Array, x: jax.Array, width: int) -> jax.Array:
    """Three obstacle bits of a row around column `x` (bit 0 left), with the border quirk."""
    row = row | _u32(1 << width)  # the column past the grid is wall
    shifted = row >> jnp.maximum(x - 1, 0).astype(jnp.uint32)
    return jnp.where(x == 0, (row & _u32(3)) | _u32(4), shifted & _u32(7))


def _view_index(square: jax.Array, position: jax.Array) -> jax.Array:
    """Index `3 * row + column` of a square (int `[2]`) in the view, or -1 outside it."""
    delta = square - position
    line = jnp.where(position == 0, delta, delta + 1)
    last_line = jnp.where(position == 0, 1, 2)
    inside = jnp.all((line >= 0) & (line <= last_line))
    return jnp.where(inside, 3 * line[0] + line[1], -1)


def view_codes(state: MazeState, width: int, goal_visible: bool) -> jax.Array:
    """The 3x3 squares around the agent as popgym shows them (`MazeEnv.local_view`).

    popgym cuts the rows from `max(y - 1, 0)` to `y + 1` (and the columns likewise) and appends
    walls for the lines it is short of: an agent on the first row (column) sees lines 0, 1 and a
    line of walls, its own line first; everywhere else the view is centred, walls past the grid.

    Args:
        state: the maze state.
        width: `W`, grid columns.
        goal_visible: whether the goal square shows as GOAL (LabyrinthEscape) or stays a wall.

    Returns:
        int32 `[9]` codes (FREE, OBSTACLE, START or GOAL), row-major.
    """
    y, x = state.position[0], state.position[1]
    triples = [_view_triple(row, x, width) for row in _view_rows(state.walls, y)]
    walls9 = triples[0] | (triples[1] << 3) | (triples[2] << 6)
    squares = jnp.arange(VIEW_SIZE * VIEW_SIZE)
    codes = ((walls9 >> squares.astype(jnp.uint32)) & 1).astype(jnp.int32)
    codes = jnp.where(squares == _view_index(state.start, state.position), START, codes)
    if goal_visible:
        codes = jnp.where(squares == _view_index(state.goal, state.position), GOAL, codes)
    return codes


def encode_observation(codes: jax.Array, last_action: jax.Array) -> jax.Array:
    """One-hot encodes popgym's observation (nine view codes, then the previous action).

    Args:
        codes: int `[9]`, square codes.
        last_action: int `[]`, the previous action (NONE after a reset).

    Returns:
        float32 `[50]`: `[9, 5]` one-hot view squares (row-major), then the `[5]` one-hot action.
    """
    squares = jax.nn.one_hot(codes, NUM_CELL_CODES, dtype=jnp.float32).reshape(-1)
    action = jax.nn.one_hot(last_action, NUM_CELL_CODES, dtype=jnp.float32)
    return jnp.concatenate([squares, action])


class MazeEnv(environment.Environment):
    """Shared shape, spaces and observation of the maze tasks.

    Args:
        maze_dims: popgym's `(height, width)` of the maze in squares, both even: the maze has
            `maze_dims[0] / 2 x maze_dims[1] / 2` cells on a `(maze_dims[0] + 1) x (maze_dims[1]
            + 1)` grid. Both are at most 30.
    """

    goal_visible = False
    """Whether the goal is an entrance that shows as GOAL and can be entered."""

    def __init__(self, maze_dims: tuple[int, int] = (10, 10)):
        super().__init__()
        height, width = (int(d) for d in maze_dims)
        if height < 2 or width < 2 or height % 2 or width % 2:
            raise ValueError(f"maze_dims must be even and >= 2, got {maze_dims}")
        if max(height, width) > MAX_MAZE_DIM:
            raise ValueError(f"maze_dims must be at most {MAX_MAZE_DIM}, got {maze_dims}")
        self.maze_dims = (height, width)
        self.cell_shape = (height // 2, width // 2)
        self.grid_shape = (height + 1, width + 1)

    @property
    def num_open_squares(self) -> int:
        """Squares inside the border that are not walls: `h * w` cells and `h * w - 1` passages."""
        cells = self.cell_shape[0] * self.cell_shape[1]
        return 2 * cells - 1

    def new_maze(self, key: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
        """Draws a maze with its entrances opened: `(walls uint32 [H], start [2], goal [2])`."""
        walls, start, goal = generate(key, *self.cell_shape)
        walls = open_square(walls, start)
        if self.goal_visible:
            walls = open_square(walls, goal)
        return walls, start, goal

    def start_fields(self, key: jax.Array) -> dict[str, jax.Array | int]:
        """The `MazeState` fields of a new episode: a fresh maze with the agent on its start."""
        walls, start, goal = self.new_maze(key)
        return {
            "time": 0,
            "walls": walls,
            "position": start,
            "start": start,
            "goal": goal,
            "last_action": jnp.int32(NONE),
        }

    @functools.partial(jax.jit, static_argnames=("self",))
    def step(
        self,
        key: jax.Array,
        state: MazeState,
        action: jax.Array,
        params: MazeParams | None = None,
    ) -> tuple[jax.Array, MazeState, jax.Array, jax.Array, jax.Array, dict]:
        """gymnax's auto-resetting step, with the observation read from the state it returns.

        The result equals gymnax's `Environment.step` (an observation is a function of its state).
        That step selects between the reset's and the step's observations, and XLA fuses the
        select with the reset, recomputing parts of the maze draw for each of the 50 entries of
        the one-hot observation; selecting the states first and observing the result made the
        whole vectorised step about three times faster on a CPU.

        Returns:
            `(obs, state, reward, terminated, truncated, info)`, with `info["final_observation"]`
            the observation before any reset.
        """
        if params is None:
            params = self.default_params
        key_step, key_reset = jax.random.split(key)
        obs_st, state_st, reward, terminated, info = self.step_env(key_step, state, action, params)
        truncated = self.is_truncated(state_st, params)
        done = jnp.logical_or(terminated, truncated)
        _, state_re = self.reset_env(key_reset, params)
        state = jax.tree.map(lambda x, y: jax.lax.select(done, x, y), state_re, state_st)
        info = {
            **info,
            "terminated": terminated,
            "truncated": truncated,
            "final_observation": obs_st,
        }
        return self.get_obs(state), state, reward, terminated, truncated, info

    def get_obs(self, state: MazeState, params=None, key=None) -> jax.Array:
        """The float32 `[50]` observation of a state (see `encode_observation`)."""
        codes = view_codes(state, self.grid_shape[1], self.goal_visible)
        return encode_observation(codes, state.last_action)

    @property
    def num_actions(self) -> int:
        return NUM_MOVES

    def action_space(self, params: MazeParams | None = None) -> spaces.Discrete:
        """Discrete(4): LEFT, RIGHT, UP, DOWN."""
        return spaces.Discrete(NUM_MOVES)

    def observation_space(self, params: MazeParams | None = None) -> spaces.Box:
        """Box of float32 `[50]` in [0, 1] (one-hot codes)."""
        return spaces.Box(0.0, 1.0, (OBS_SIZE,), jnp.float32)
