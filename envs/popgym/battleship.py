"""Battleship with a hidden board (POPGym).

Ships of the given sizes lie on a hidden `S x S` board. Each step the agent fires at one cell
(action `row * S + col`) and observes only whether that shot was a hit (a one-hot of length 2;
"miss" after a reset), so it must remember where it already fired (use a previous-action wrapper). A
hit is a ship cell not fired at before: it earns `1/K`, with `K` the number of ship cells. Anything
else (a miss, or any repeated shot) earns `-1/(T - K)`, with `T` the episode length. The episode
terminates when every ship cell was hit and is truncated after `T = S^2` shots, so an episode of
hits only returns 1.0 and one that never fires twice at a cell returns at least 0.0. The same cell
is never rewarded twice.

Placement follows the original: ships are placed one after another in the given order, each
uniformly among the straight segments (horizontal or vertical, inside the board) that overlap no
earlier ship. Here this is sampled directly, so the reset cannot fail and has no rejection loop: one
random integer per ship picks the k-th free segment. Boards are kept as bit masks, one uint32 word
per row (bit `c` of word `r` is cell `(r, c)`), which keeps the reset cheap enough for a vectorised
auto-reset; hence `S <= 31`.

Difficulties as in POPGym: ships of sizes (2, 3, 3, 4) on boards of 8 (Easy), 10 (Medium) and 12
(Hard) cells a side.
"""

import functools
from collections.abc import Callable

import jax
import jax.numpy as jnp
from flax import struct
from gymnax.environments import environment, spaces

MAX_BOARD_SIZE = 31


@struct.dataclass
class EnvState(environment.EnvState):
    """State of one episode; boards are `[S]` uint32 row bit masks.

    Attributes:
        time: number of shots so far.
        ship: `[S]` uint32, cells covered by a ship.
        fired: `[S]` uint32, cells fired at so far.
        hits: number of distinct ship cells hit.
    """

    ship: jax.Array
    fired: jax.Array
    hits: jax.Array


@struct.dataclass
class EnvParams(environment.EnvParams):
    """Numeric options.

    Attributes:
        max_steps_in_episode: episode length `T` (POPGym: `S^2`); also sets the miss penalty
            `-1/(T - K)`.
    """

    max_steps_in_episode: int = 64


class Battleship(environment.Environment[EnvState, EnvParams]):
    """Battleship where the agent only sees hit or miss.

    Args:
        board_size: side `S` of the square board, at most 31.
        ship_sizes: length of each ship, placed in this order.
    """

    def __init__(self, board_size: int = 8, ship_sizes: tuple[int, ...] = (2, 3, 3, 4)):
        super().__init__()
        check_ships_fit(board_size, tuple(ship_sizes))
        self.board_size = board_size
        self.ship_sizes = tuple(ship_sizes)
        self.num_ship_cells = sum(self.ship_sizes)

    @property
    def default_params(self) -> EnvParams:
        return EnvParams(max_steps_in_episode=self.board_size**2)

    @property
    def name(self) -> str:
        return "Battleship"

    @property
    def num_actions(self) -> int:
        return self.board_size**2

    def reset_env(self, key: jax.Array, params: EnvParams) -> tuple[jax.Array, EnvState]:
        """Places the ships; the first observation reads "miss"."""
        ship = place_ships(key, self.board_size, self.ship_sizes)
        state = EnvState(
            time=jnp.int32(0),
            ship=ship,
            fired=jnp.zeros_like(ship),
            hits=jnp.int32(0),
        )
        return encode_hit(jnp.bool_(False)), state

    def step_env(
        self, key: jax.Array, state: EnvState, action: jax.Array, params: EnvParams
    ) -> tuple[jax.Array, EnvState, jax.Array, jax.Array, dict]:
        """Fires at cell `action`; only a ship cell never fired at before is a hit."""
        row, col = jnp.divmod(jnp.asarray(action, jnp.int32), self.board_size)
        bit = jnp.left_shift(jnp.uint32(1), col.astype(jnp.uint32))
        hit = (state.ship[row] & ~state.fired[row] & bit) != 0
        hits = state.hits + hit.astype(jnp.int32)
        misses_allowed = jnp.asarray(params.max_steps_in_episode - self.num_ship_cells, jnp.float32)
        reward = jnp.where(hit, 1.0 / self.num_ship_cells, -1.0 / misses_allowed)
        state = EnvState(
            time=state.time + 1,
            ship=state.ship,
            fired=state.fired.at[row].set(state.fired[row] | bit),
            hits=hits,
        )
        terminated = hits == self.num_ship_cells
        return encode_hit(hit), state, reward.astype(jnp.float32), terminated, {}

    def observation_space(self, params: EnvParams) -> spaces.Box:
        """One-hot `[2]`: index 1 means the last shot was a hit."""
        return spaces.Box(0.0, 1.0, (2,), jnp.float32)

    def action_space(self, params: EnvParams) -> spaces.Discrete:
        """The cell to fire at, `row * S + col`."""
        return spaces.Discrete(self.board_size**2)


def encode_hit(hit: jax.Array) -> jax.Array:
    """One-hot `[2]` float32 observation of a hit flag."""
    return jax.nn.one_hot(hit.astype(jnp.int32), 2, dtype=jnp.float32)


def unpack_board(rows: jax.Array, board_size: int) -> jax.Array:
    """Turns `[..., S]` uint32 row bit masks into a `[..., S, S]` bool board."""
    cols = jnp.arange(board_size, dtype=jnp.uint32)
    return (jnp.right_shift(rows[..., None], cols) & 1) == 1


def check_ships_fit(board_size: int, ship_sizes: tuple[int, ...]) -> None:
    """Raises unless every ship always finds a free segment, whatever the earlier placements.

    Each occupied cell rules out at most `2 * size` of the `2 * S * (S - size + 1)` segments of a
    ship, so a positive bound below guarantees a free segment whatever the earlier ships did.
    """
    if not 1 <= board_size <= MAX_BOARD_SIZE or not ship_sizes or min(ship_sizes) < 1:
        raise ValueError(
            f"Need 1 <= board_size <= {MAX_BOARD_SIZE} and ship sizes >= 1, got "
            f"board_size={board_size}, ship_sizes={ship_sizes}."
        )
    occupied = 0
    for size in ship_sizes:
        segments = 2 * board_size * (board_size - size + 1)
        if size > board_size or segments - 2 * size * occupied <= 0:
            raise ValueError(
                f"Ships {ship_sizes} may not fit on a {board_size}x{board_size} board "
                f"(ship of size {size} after {occupied} occupied cells)."
            )
        occupied += size


def free_starts(lines: jax.Array, board_size: int, size: int) -> jax.Array:
    """Free segment starts along each line of a bit-mask board.

    Args:
        lines: `[L]` uint32, bit `i` of word `j` is cell `i` of line `j` (rows or columns).
        board_size: side `S`.
        size: segment length.

    Returns:
        `[L]` uint32: bit `i` of word `j` is set when cells `i .. i + size - 1` of line `j` are
        inside the board and all free.
    """
    blocked = lines
    for shift in range(1, size):
        blocked = blocked | jnp.right_shift(lines, jnp.uint32(shift))
    inside = jnp.uint32((1 << (board_size - size + 1)) - 1)
    return ~blocked & inside


def select_bit(words: jax.Array, rank: jax.Array, width: int) -> tuple[jax.Array, jax.Array]:
    """Finds the `rank`-th set bit (0-based) over a list of words, word by word, low bits first.

    Args:
        words: `[W]` uint32.
        rank: int32 scalar, below the total number of set bits.
        width: bits per word that may be set.

    Returns:
        `(word_index, bit_index)`, int32 scalars.
    """
    num_words = words.shape[0]
    counts = jax.lax.population_count(words).astype(jnp.int32)
    # Inclusive prefix sums as a product with a triangular matrix: faster than a cumsum on a CPU.
    upper = jnp.triu(jnp.ones((num_words, num_words), jnp.int32))
    before = counts @ upper <= rank
    word_index = jnp.sum(before, dtype=jnp.int32)
    offset = rank - jnp.sum(jnp.where(before, counts, 0))
    word = jnp.sum(jnp.where(jnp.arange(num_words) == word_index, words, 0), dtype=jnp.uint32)
    prefixes = jnp.left_shift(jnp.uint32(2), jnp.arange(width, dtype=jnp.uint32)) - 1
    below = jax.lax.population_count(word & prefixes).astype(jnp.int32)
    return word_index, jnp.sum(below <= offset, dtype=jnp.int32)


def add_segment(
    lines: jax.Array, line: jax.Array, start: jax.Array, size: int, board_size: int
) -> jax.Array:
    """Marks a ship on a board kept as rows and columns (see place_ships).

    Args:
        lines: `[2S]` uint32, the row masks then the column masks.
        line: int32 scalar, the row (`< S`) or column (`S + col`) the ship lies along.
        start: int32 scalar, its first cell along that line.
        size: ship length.
        board_size: side `S`.

    Returns:
        `[2S]` uint32 with the ship's cells set in both its line and the lines crossing it.
    """
    index = jnp.arange(lines.shape[0], dtype=jnp.int32)
    vertical = line >= board_size
    first_crossing = jnp.where(vertical, 0, board_size) + start
    crossing = (index >= first_crossing) & (index < first_crossing + size)
    along = jnp.left_shift(jnp.uint32((1 << size) - 1), start.astype(jnp.uint32))
    across = jnp.left_shift(jnp.uint32(1), (line % board_size).astype(jnp.uint32))
    return lines | jnp.where(index == line, along, 0) | jnp.where(crossing, across, 0)


def place_ships(key: jax.Array, board_size: int, ship_sizes: tuple[int, ...]) -> jax.Array:
    """Places ships in order, each uniformly among the segments free of earlier ships.

    The board is kept as `2S` lines, the `S` row masks then the `S` column masks (bit `r` of
    column word `c` is cell `(r, c)`), so that the free starts of horizontal and vertical segments
    come from the same bit operations. One random integer per ship picks the k-th free segment,
    so no draw is rejected.

    Args:
        key: PRNG key.
        board_size: side `S`.
        ship_sizes: ship lengths, placed in this order.

    Returns:
        `[S]` uint32 row bit masks of the ship cells.
    """
    num_lines = 2 * board_size
    draws = jax.random.bits(key, (len(ship_sizes),), jnp.uint32)
    # On the empty board every line has the same number of free starts.
    span = board_size - ship_sizes[0] + 1
    rank = (draws[0] % jnp.uint32(num_lines * span)).astype(jnp.int32)
    lines = jnp.zeros((num_lines,), jnp.uint32)
    lines = add_segment(lines, rank // span, rank % span, ship_sizes[0], board_size)
    for size, draw in zip(ship_sizes[1:], draws[1:], strict=True):
        starts = free_starts(lines, board_size, size)
        total = jnp.sum(jax.lax.population_count(starts), dtype=jnp.uint32)
        # Modulo bias is below total / 2**32 < 1e-6.
        rank = (draw % total).astype(jnp.int32)
        line, start = select_bit(starts, rank, board_size - size + 1)
        lines = add_segment(lines, line, start, size, board_size)
    return lines[:board_size]


def battleship(
    board_size: int = 8,
    ship_sizes: tuple[int, ...] = (2, 3, 3, 4),
    max_steps_in_episode: int | None = None,
) -> tuple[Battleship, EnvParams]:
    """Builds a Battleship and its params.

    Args:
        board_size: side `S` of the board, at most 31.
        ship_sizes: ship lengths, placed in this order.
        max_steps_in_episode: episode length `T`; `None` means `S^2` as in POPGym. Must exceed the
            number of ship cells.

    Returns:
        `(env, params)`.
    """
    env = Battleship(board_size=board_size, ship_sizes=tuple(ship_sizes))
    params = env.default_params
    if max_steps_in_episode is not None:
        params = params.replace(max_steps_in_episode=max_steps_in_episode)
    if params.max_steps_in_episode <= env.num_ship_cells:
        raise ValueError(
            f"max_steps_in_episode={params.max_steps_in_episode} must exceed the "
            f"{env.num_ship_cells} ship cells."
        )
    return env, params


ENTRIES: dict[str, Callable[..., tuple[Battleship, EnvParams]]] = {
    "BattleshipEasy": functools.partial(battleship, board_size=8, ship_sizes=(2, 3, 3, 4)),
    "BattleshipMedium": functools.partial(battleship, board_size=10, ship_sizes=(2, 3, 3, 4)),
    "BattleshipHard": functools.partial(battleship, board_size=12, ship_sizes=(2, 3, 3, 4)),
}
