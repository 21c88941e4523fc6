"""MineSweeper with a hidden board (POPGym).

Mines lie under a hidden `H x W` grid. Each step the agent clicks one cell (action `row * W + col`)
and observes only the number of mines in the 3x3 block around it, itself included (a one-hot of
length `min(M + 1, 10)` for `M` mines; 0 after a reset), so it must remember where it clicked (use a
previous-action wrapper). With `T = H * W - M` free cells (the episode length):
- a free cell clicked for the first time earns `1/T`;
- a cell clicked before earns `-0.5/(T - 2)`;
- a mine earns `-0.5 - 1/T` and terminates the episode.
The episode also terminates once every free cell was clicked (return 1.0), and is truncated after
`T` clicks unless it terminated on that click, as in the original.

Mines are `M` distinct cells drawn uniformly with Floyd's algorithm (one random integer per mine,
never rejected). Boards are bit masks, one uint32 word per row (bit `c` of word `r` is cell
`(r, c)`), which keeps the reset cheap; hence `W <= 31`.

Difficulties as in POPGym: Easy 4x4 with 2 mines, Medium 6x6 with 6, Hard 8x8 with 10.
"""

import functools
from collections.abc import Callable

import jax
import jax.numpy as jnp
from flax import struct
from gymnax.environments import environment, spaces

MAX_WIDTH = 31


@struct.dataclass
class EnvState(environment.EnvState):
    """State of one episode; boards are `[H]` uint32 row bit masks.

    Attributes:
        time: number of clicks so far.
        mines: `[H]` uint32, mine cells.
        clicked: `[H]` uint32, cells clicked so far (a clicked mine ended the episode).
    """

    mines: jax.Array
    clicked: jax.Array


@struct.dataclass
class EnvParams(environment.EnvParams):
    """Numeric options.

    Attributes:
        max_steps_in_episode: episode length `T` (POPGym: the number of free cells); also sets the
            reward scales.
    """

    max_steps_in_episode: int = 14


class MineSweeper(environment.Environment[EnvState, EnvParams]):
    """MineSweeper where the agent only sees the mine count around the clicked cell.

    Args:
        height: rows `H`.
        width: columns `W`, at most 31.
        num_mines: mines `M`, fewer than the cells.
    """

    def __init__(self, height: int = 4, width: int = 4, num_mines: int = 2):
        super().__init__()
        if not (1 <= width <= MAX_WIDTH and height >= 1 and 0 <= num_mines < height * width):
            raise ValueError(
                f"Need height >= 1, 1 <= width <= {MAX_WIDTH} and 0 <= num_mines < cells, got "
                f"height={height}, width={width}, num_mines={num_mines}."
            )
        self.height = height
        self.width = width
        self.num_mines = num_mines
        self.num_counts = min(num_mines + 1, 10)

    @property
    def default_params(self) -> EnvParams:
        return EnvParams(max_steps_in_episode=self.height * self.width - self.num_mines)

    @property
    def name(self) -> str:
        return "MineSweeper"

    @property
    def num_actions(self) -> int:
        return self.height * self.width

    def reset_env(self, key: jax.Array, params: EnvParams) -> tuple[jax.Array, EnvState]:
        """Lays the mines; the first observation reads a count of 0."""
        mines = lay_mines(key, self.height, self.width, self.num_mines)
        state = EnvState(time=jnp.int32(0), mines=mines, clicked=jnp.zeros_like(mines))
        return self.encode_count(jnp.int32(0)), state

    def step_env(
        self, key: jax.Array, state: EnvState, action: jax.Array, params: EnvParams
    ) -> tuple[jax.Array, EnvState, jax.Array, jax.Array, dict]:
        """Clicks cell `action` and observes the mine count of its 3x3 block."""
        row, col = jnp.divmod(jnp.asarray(action, jnp.int32), self.width)
        bit = jnp.left_shift(jnp.uint32(1), col.astype(jnp.uint32))
        is_mine = (state.mines[row] & bit) != 0
        clicked_before = (state.clicked[row] & bit) != 0
        num_steps = jnp.asarray(params.max_steps_in_episode, jnp.float32)
        reward = jnp.where(
            is_mine,
            -0.5 - 1.0 / num_steps,
            jnp.where(clicked_before, -0.5 / (num_steps - 2.0), 1.0 / num_steps),
        )
        state = state.replace(
            time=state.time + 1, clicked=state.clicked.at[row].set(state.clicked[row] | bit)
        )
        count = count_mines_around(state.mines, row, col)
        return self.encode_count(count), state, reward, self.is_terminated(state, params), {}

    def is_terminated(self, state: EnvState, params: EnvParams) -> jax.Array:
        """A mine was clicked, or every free cell was."""
        exploded = jnp.any((state.clicked & state.mines) != 0)
        full = jnp.uint32((1 << self.width) - 1)
        cleared = jnp.all((state.clicked | state.mines) == full)
        return exploded | cleared

    def is_truncated(self, state: EnvState, params: EnvParams) -> jax.Array:
        """Out of time, unless the last click ended the game (the original's rule)."""
        out_of_time = state.time >= params.max_steps_in_episode
        return out_of_time & ~self.is_terminated(state, params)

    def encode_count(self, count: jax.Array) -> jax.Array:
        """One-hot `[min(M + 1, 10)]` float32 observation of a mine count."""
        return jax.nn.one_hot(count, self.num_counts, dtype=jnp.float32)

    def observation_space(self, params: EnvParams) -> spaces.Box:
        """One-hot mine count of the clicked cell's 3x3 block, `[min(M + 1, 10)]`."""
        return spaces.Box(0.0, 1.0, (self.num_counts,), jnp.float32)

    def action_space(self, params: EnvParams) -> spaces.Discrete:
        """The cell to click, `row * W + col`."""
        return spaces.Discrete(self.height * self.width)


def count_mines_around(mines: jax.Array, row: jax.Array, col: jax.Array) -> jax.Array:
    """Mines in the 3x3 block centred on `(row, col)`, clipped to the board.

    Args:
        mines: `[H]` uint32 row bit masks.
        row: int32 scalar.
        col: int32 scalar.

    Returns:
        int32 scalar count.
    """
    block = jnp.right_shift(jnp.left_shift(jnp.uint32(7), col.astype(jnp.uint32)), 1)
    rows = jnp.arange(mines.shape[0])
    near = jnp.abs(rows - row) <= 1
    return jnp.sum(jax.lax.population_count(jnp.where(near, mines & block, 0)), dtype=jnp.int32)


def lay_mines(key: jax.Array, height: int, width: int, num_mines: int) -> jax.Array:
    """Draws `num_mines` distinct cells uniformly with Floyd's algorithm.

    For `j = C - M, ..., C - 1` (with `C` cells and `M` mines) it draws `t` uniformly in `[0, j]`
    and adds cell `t`, or cell `j` when `t` is already a mine: every set of `M` cells is equally
    likely, and no draw is ever rejected.

    Args:
        key: PRNG key.
        height: rows `H`.
        width: columns `W`.
        num_mines: mines `M`.

    Returns:
        `[H]` uint32 row bit masks of the mines.
    """
    num_cells = height * width
    mines = jnp.zeros((height,), jnp.uint32)
    draws = jax.random.bits(key, (max(num_mines, 1),), jnp.uint32)
    for i, last in enumerate(range(num_cells - num_mines, num_cells)):
        # Modulo bias is below cells / 2**32 < 1e-6.
        cell = (draws[i] % jnp.uint32(last + 1)).astype(jnp.int32)
        cell = jnp.where(has_cell(mines, cell, width), last, cell)
        mines = mines | cell_mask(cell, height, width)
    return mines


def cell_mask(cell: jax.Array, height: int, width: int) -> jax.Array:
    """`[H]` uint32 row bit masks with only cell `row * W + col` set."""
    row, col = jnp.divmod(cell, width)
    bit = jnp.left_shift(jnp.uint32(1), col.astype(jnp.uint32))
    return jnp.where(jnp.arange(height) == row, bit, jnp.uint32(0))


def has_cell(rows: jax.Array, cell: jax.Array, width: int) -> jax.Array:
    """Whether cell `row * W + col` is set in the `[H]` uint32 row bit masks."""
    return jnp.any((rows & cell_mask(cell, rows.shape[0], width)) != 0)


def minesweeper(
    height: int = 4,
    width: int = 4,
    num_mines: int = 2,
    max_steps_in_episode: int | None = None,
) -> tuple[MineSweeper, EnvParams]:
    """Builds a MineSweeper and its params.

    Args:
        height: rows `H`.
        width: columns `W`, at most 31.
        num_mines: mines `M`.
        max_steps_in_episode: episode length `T`; `None` means `H * W - M` as in POPGym. Must be
            above 2 (the repeat penalty is `-0.5/(T - 2)`).

    Returns:
        `(env, params)`.
    """
    env = MineSweeper(height=height, width=width, num_mines=num_mines)
    params = env.default_params
    if max_steps_in_episode is not None:
        params = params.replace(max_steps_in_episode=max_steps_in_episode)
    if params.max_steps_in_episode <= 2:
        raise ValueError(f"max_steps_in_episode must be > 2, got {params.max_steps_in_episode}.")
    return env, params


ENTRIES: dict[str, Callable[..., tuple[MineSweeper, EnvParams]]] = {
    "MineSweeperEasy": functools.partial(minesweeper, height=4, width=4, num_mines=2),
    "MineSweeperMedium": functools.partial(minesweeper, height=6, width=6, num_mines=6),
    "MineSweeperHard": functools.partial(minesweeper, height=8, width=8, num_mines=10),
}
