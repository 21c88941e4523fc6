"""The model-based agent's replay: a ring of transitions in device memory, inside the jitted loop.

Axis names: `B` environments (the ring's columns), `capacity` steps kept per environment (its
rows), `K` steps of a chunk written at once, `T` steps of a sampled window, `batch` windows per
sample. Transitions follow `rlssm.world_models.Batch`: `action[t]` led to `obs[t]`, `reward[t]` and
`terminated[t]` came with it, `start[t]` says `obs[t]` opens an episode. Windows come out
time-major, `[T, batch, ...]`, ready for the world model's `observe` and `loss`.

    state = init(capacity, B, example, carry_example)    # example: one env's transition
    state = add(state, transition, carry)                # transition [B] or a chunk [K, B]
    window = sample(state, key, batch_size, length)      # Window: batch [T, batch], carry [batch]
    replayed = sample_with_context(config, state, key, batch_size)

The ring. All `B` environments step together, so one write position serves every column: `add`
writes row `position` (and the rows after it, for a chunk) and advances it modulo `capacity`;
`count` is how many rows hold data (it stops at `capacity`, when the oldest row is overwritten
first). In time order the written rows of a column run from `oldest = position - count` to
`position - 1` (mod `capacity`): the seam between the newest and the oldest step is the write
head. A window is `T` consecutive steps of one column at an offset drawn uniformly from
`[0, count - T]` of that time order, so it never reads an unwritten row and never crosses the
head (which would splice the newest step onto the oldest one, a transition that never happened).
Before `T` steps are written (`can_sample` is False) the step indices are clamped to the newest
step: the windows then repeat written data, never unwritten rows; with nothing written at all
they are the zeros of `init`. A training loop samples only once `can_sample` holds.

Start flags are stored as the environment produced them, so they stay right across the ring's
wrap-around: a window that begins mid-episode (the oldest row after an overwrite included) has
`start[0]` False unless `obs[0]` truly opens an episode. `sample` returns these flags unchanged;
what a window's first step means to the world model is `ReplayConfig.context`'s choice, applied
by `sample_with_context`:

- `'episode_start'` (DreamerV3 without replay context): the window is observed from the model's
  initial carry (`carry` is None) and its first step is marked as an episode start
  (`start[0] = True`, as DreamerV3's replay sets `is_first[:, 0]`), so the model ignores the
  action into it and never reads a state it does not have. Context from before the window is
  lost: memory longer than the window cannot be learnt.
- `'stored'` (R2D2's stored state, DreamerV3's and R2I's replay context): the window is observed
  from the carry that the actor held when it met the window's first step, stored beside each
  transition; the start flags stay truthful. The stored carry was computed with older
  parameters; `burn_in` steps before the training window can refresh it (observe them without
  gradient, as R2D2 does).

Carry alignment: `carry[t]`, written with transition `t`, is the carry *before* `obs[t]` is
consumed, the one the actor passes to `observe_step(carry, obs[t], action[t], start[t])`, the
same convention as a memory core's `carry` argument. A window starting at row `t` is therefore
observed as `observe(params, carry[t], obs[t:t + T], ...)` with no shift. When `start[t]` is
True the stored carry belongs to the previous episode and the model resets it anyway. For the
rlssm world models the carry is a `WorldModelCarry` (backbone carry and last latent state), any
pytree works; the replay stores one per step, leaves `[capacity, B, ...]`.

Why not flashbax: its trajectory buffer (0.1.3, the newest, which runs on jax 0.10) keeps the
same ring (uniform windows between the oldest step and the write head), but it stores and
samples batch-major (`[B, capacity]`, windows `[batch, T]`), so time-major windows cost a
transpose; its `sample` returns neither the rows drawn nor anything aligned with a window's first
step, so a stored carry has to ride along as a field of every step and be gathered `T` times over
to use one; before `T` steps are written it reads unwritten rows (only `can_sample` guards); and
it rejects chunks longer than the ring. It was not faster either. On the CPU (2 cores; 16 envs x
4096 rows, 64-float observations, a 512-float carry; per iteration one 64-step chunk added and 16
windows of 64 steps sampled with the carry at their start, 200 iterations in one jitted
`lax.scan` with the state donated, compile apart, median over 5 alternating processes): this
ring 0.33 ms per iteration (0.29-0.47), flashbax 0.53 ms (0.46-0.95); adding the 64 steps one
at a time: 0.57 ms vs 0.65 ms. So it is not a dependency.
"""

import dataclasses
from typing import Literal, NamedTuple

import jax
import jax.numpy as jnp
from jaxtyping import Array, Bool, Int, Key, PyTree, Shaped

from agents.common import require
from rlssm.world_models import Batch

Carry = PyTree[Array]
"""A carry pytree: leaves `[B, ...]` per step, `[capacity, B, ...]` in the ring."""

CONTEXTS = ("stored", "episode_start")
"""The choices of `ReplayConfig.context`."""


@dataclasses.dataclass(frozen=True)
class ReplayConfig:
    """The replay's size and how its windows are sampled and started."""

    capacity: int = 100_000
    """Steps kept per environment (ring rows); the whole replay holds `capacity x B` steps."""
    length: int = 64
    """`T`: steps of a training window (the world-model loss sees these)."""
    context: Literal["stored", "episode_start"] = "episode_start"
    """What a window starts from: `'stored'`, the carry the actor stored at its first step (the
    replay stores carries); `'episode_start'`, the initial carry with the first step marked
    as an episode start (DreamerV3's default; no context from before the window)."""
    burn_in: int = 0
    """Steps observed before each training window to refresh its starting carry, without
    gradient (R2D2); they are sampled contiguously with the window and not trained on."""

    def __post_init__(self) -> None:
        for name, low in (("capacity", 1), ("length", 1), ("burn_in", 0)):
            value = getattr(self, name)
            require(value >= low, f"ReplayConfig.{name} must be >= {low}, got {value}; raise it.")
        require(
            self.context in CONTEXTS,
            f"ReplayConfig.context must be one of {CONTEXTS}, got {self.context!r}.",
        )
        require(
            self.window <= self.capacity,
            f"ReplayConfig: burn_in + length = {self.window} exceeds capacity = {self.capacity}; "
            "raise capacity or shorten the window.",
        )

    @property
    def window(self) -> int:
        """Steps sampled per window: `burn_in + length`."""
        return self.burn_in + self.length

    @property
    def stores_carry(self) -> bool:
        """Whether the replay must store a carry per step (`context == 'stored'`)."""
        return self.context == "stored"


class ReplayState(NamedTuple):
    """The ring (a pytree: lives in the loop state and in checkpoints)."""

    data: Batch
    """Transitions, every leaf `[capacity, B, ...]` (`blind` is None)."""
    carry: Carry | None
    """Carry before `obs[t]` of every stored step, leaves `[capacity, B, ...]`; None: not stored."""
    position: Int[Array, ""]
    """Row the next step is written to (int32)."""
    count: Int[Array, ""]
    """Rows that hold written steps, `<= capacity` (int32)."""


class Window(NamedTuple):
    """Sampled windows, time-major."""

    batch: Batch
    """Transitions `[T, batch, ...]`, start flags as stored."""
    carry: Carry | None
    """Stored carry before `batch.obs[0]`, leaves `[batch, ...]`; None when none is stored."""
    row: Int[Array, " batch"]
    """Ring row of each window's first step (to write refreshed carries back)."""
    env: Int[Array, " batch"]
    """Environment (ring column) of each window."""


class Replayed(NamedTuple):
    """Training windows with their starting context (see `sample_with_context`)."""

    burn_in: Batch | None
    """The `burn_in` steps before the training window `[burn_in, batch, ...]`; None when 0."""
    batch: Batch
    """The training window `[T, batch, ...]` (`T = length`)."""
    carry: Carry | None
    """Carry to observe from (before `burn_in`'s first step, else `batch`'s); None: the model's
    initial carry."""


def capacity_of(state: ReplayState) -> int:
    """Rows of the ring (static)."""
    return state.data.start.shape[0]


def init(capacity: int, num_envs: int, example: Batch, carry: Carry | None = None) -> ReplayState:
    """An empty ring of `capacity` steps for each of `num_envs` environments, filled with zeros.

    Args:
        capacity: rows of the ring (steps kept per environment).
        num_envs: `B`, columns of the ring.
        example: one transition of one environment (leaves `[...]`, arrays or
            `jax.ShapeDtypeStruct`s), giving each field's shape and dtype; `blind` is ignored.
        carry: one environment's carry (leaves `[...]`), e.g.
            `jax.tree.map(lambda x: x[0], model.initial_carry(1))`, to store a carry per step;
            None stores none.
    """
    require(capacity >= 1 and num_envs >= 1, "replay.init: capacity and num_envs must be >= 1.")

    def ring(leaf) -> Array:
        return jnp.zeros((capacity, num_envs, *jnp.shape(leaf)), jnp.result_type(leaf))

    data = jax.tree.map(ring, example._replace(blind=None))
    stored = None if carry is None else jax.tree.map(ring, carry)
    zero = jnp.zeros((), jnp.int32)
    return ReplayState(data, stored, zero, zero)


def _as_chunk(state: ReplayState, transition: Batch, carry: Carry | None):
    """`(transition, carry)` with a leading `K` axis (a single step becomes `K = 1`)."""
    if carry is None and state.carry is not None:
        raise ValueError("replay.add: this replay stores carries; pass carry= (before each obs).")
    if carry is not None and state.carry is None:
        raise ValueError("replay.add: this replay stores no carries; drop carry= or init with one.")
    transition = transition._replace(blind=None)
    if jnp.ndim(transition.start) == 1:
        transition, carry = jax.tree.map(lambda x: x[None], (transition, carry))
    for (path, ring), leaf in zip(
        jax.tree_util.tree_leaves_with_path((state.data, state.carry)),
        jax.tree.leaves((transition, carry)),
        strict=True,
    ):
        if leaf.shape[1:] != ring.shape[1:] or leaf.dtype != ring.dtype:
            raise ValueError(
                f"replay.add: {jax.tree_util.keystr(path)} is {leaf.dtype}{list(leaf.shape)}, "
                f"the ring stores {ring.dtype}[K]{list(ring.shape[1:])}; cast or reshape it."
            )
    return transition, carry


def _write_rows(
    ring: Shaped[Array, "capacity ..."], new: Shaped[Array, "K ..."], first: Int[Array, ""]
) -> Shaped[Array, "capacity ..."]:
    """`ring[(first + i) % capacity] = new[i]` for every `i < K <= capacity`.

    Two contiguous read-modify-writes of `K` rows, which XLA does in place: the block that ends
    at the ring's last row (or starts at `first` when the steps do not wrap) takes the steps up
    to the ring's end, the block at row 0 the wrapped ones; rows outside the steps keep their
    values. On the CPU add + sample ran ~1.5x faster than with one scatter of the rows (and
    ~4x faster than with `jnp.roll` by a traced shift in place of the index gathers).
    """
    capacity, steps = ring.shape[0], new.shape[0]
    index = jnp.arange(steps)

    def shifted(offset: Int[Array, ""]) -> Shaped[Array, "K ..."]:
        return new[
            jnp.clip(index + offset, 0, steps - 1)
        ]  # row j of the block takes new[j + offset]

    def rows(mask: Bool[Array, " K"]) -> Bool[Array, "K ..."]:
        return mask.reshape((steps,) + (1,) * (new.ndim - 1))

    block = jnp.minimum(first, capacity - steps)
    shift = first - block  # rows of the end block before `first`: kept as they were
    old = jax.lax.dynamic_slice_in_dim(ring, block, steps, 0)
    head = jnp.where(rows(index >= shift), shifted(-shift), old)
    ring = jax.lax.dynamic_update_slice_in_dim(ring, head, block, 0)
    wrapped = jnp.maximum(first + steps - capacity, 0)  # steps written to rows 0 .. wrapped - 1
    tail = jnp.where(rows(index < wrapped), shifted(steps - wrapped), ring[:steps])
    return ring.at[:steps].set(tail)


def add(state: ReplayState, transition: Batch, carry: Carry | None = None) -> ReplayState:
    """Writes one step `[B, ...]` or a chunk `[K, B, ...]` of every environment at the head.

    Args:
        state: the ring.
        transition: a `Batch` whose leaves are `[B, ...]` (one step) or `[K, B, ...]` (`K`
            steps in time order), shapes and dtypes as in `init`'s example.
        carry: the carry before each step's `obs` (leaves `[B, ...]` or `[K, B, ...]`), given
            exactly when the ring stores carries.

    Returns:
        The ring with the steps written over the oldest rows once it is full; with `K >
        capacity` only the last `capacity` steps are kept.
    """
    transition, carry = _as_chunk(state, transition, carry)
    capacity = capacity_of(state)
    steps = transition.start.shape[0]
    kept = min(steps, capacity)
    first = (state.position + steps - kept) % capacity

    def write(ring: Array, new: Array) -> Array:
        return _write_rows(ring, new[steps - kept :], first)

    data = jax.tree.map(write, state.data, transition)
    stored = None if carry is None else jax.tree.map(write, state.carry, carry)
    position = (state.position + steps) % capacity
    count = jnp.minimum(state.count + steps, capacity)
    return ReplayState(data, stored, position.astype(jnp.int32), count.astype(jnp.int32))


def can_sample(state: ReplayState, length: int) -> Bool[Array, ""]:
    """Whether every column holds at least `length` written steps (a full window)."""
    return state.count >= length


def sample(state: ReplayState, key: Key[Array, ""], batch_size: int, length: int) -> Window:
    """`batch_size` windows of `length` consecutive steps, uniform over columns and offsets.

    Args:
        state: the ring.
        key: PRNG key.
        batch_size: windows per sample (`batch`).
        length: `T`, steps per window, `<= capacity` (static).

    Returns:
        `Window`: transitions `[T, batch, ...]` with their stored start flags, the stored carry
        before each window's first step, and where each window starts. Windows never cross the
        write head and never read unwritten rows (see the module docstring for `count < T`).

    Raises:
        ValueError: (while tracing) `length` is not in `[1, capacity]`.
    """
    capacity = capacity_of(state)
    if not 1 <= length <= capacity:
        raise ValueError(f"replay.sample: length={length} must be in [1, capacity={capacity}].")
    num_envs = state.data.start.shape[1]
    env_key, offset_key = jax.random.split(key)
    env = jax.random.randint(env_key, (batch_size,), 0, num_envs)
    offset = jax.random.randint(
        offset_key, (batch_size,), 0, jnp.maximum(state.count - length, 0) + 1
    )
    newest = jnp.maximum(state.count - 1, 0)
    step = jnp.minimum(offset[None, :] + jnp.arange(length)[:, None], newest)
    oldest = state.position - state.count
    rows = (oldest + step) % capacity
    # Gathered window-major, then made time-major: XLA's CPU gather was ~1.7x slower writing
    # the [T, batch] order directly (measured, capacity 4096, B 16, T 64, batch 16).
    batch = jax.tree.map(lambda ring: jnp.swapaxes(ring[rows.T, env[:, None]], 0, 1), state.data)
    carry = (
        None if state.carry is None else jax.tree.map(lambda ring: ring[rows[0], env], state.carry)
    )
    return Window(batch, carry, rows[0], env)


def sample_with_context(
    config: ReplayConfig, state: ReplayState, key: Key[Array, ""], batch_size: int
) -> Replayed:
    """Training windows of `config.length` steps, their burn-in, and the carry to start from.

    `'stored'`: the stored carry before the first sampled step, start flags as stored.
    `'episode_start'`: carry None (the model's initial carry) and the first sampled step (the
    burn-in's, if any) marked as an episode start.

    Raises:
        ValueError: (while tracing) `'stored'` context on a ring that stores no carries, or a
            window longer than the ring.
    """
    if config.stores_carry and state.carry is None:
        raise ValueError("context='stored' needs stored carries; pass carry= to replay.init.")
    window = sample(state, key, batch_size, config.window)
    batch, carry = window.batch, window.carry if config.stores_carry else None
    if not config.stores_carry:
        batch = batch._replace(start=batch.start.at[0].set(True))
    if config.burn_in == 0:
        return Replayed(None, batch, carry)
    burn_in = jax.tree.map(lambda x: x[: config.burn_in], batch)
    return Replayed(burn_in, jax.tree.map(lambda x: x[config.burn_in :], batch), carry)
