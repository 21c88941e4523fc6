"""Resettable linear recurrences, run in parallel (associative scan) or sequentially.

The recurrence, for every state element (axis names: `T` time, `B` batch, `...` state axes)::

    h[t] = a[t] * (0 if start[t] else h[t-1]) + b[t]        with h[-1] = carry

`start[t]` says that input `t` opens a new episode, so the state is zeroed *before* it is consumed.
`a` may carry the time axis (`[T, B, ...]`, input-dependent recurrences) or not (fewer
dimensions than `b`: a time-invariant transition such as S5's `Lambda_bar[P]`, broadcast
against `b[t]`).

Three ways to compute the same numbers:
- `parallel`: `jax.lax.associative_scan` with `reset_operator`, depth `O(log T)`; fast on GPU/TPU.
- `sequential`: a `jax.lax.scan` over time; on a CPU it is faster and compiles far quicker.
- `chunked`: parallel inside chunks of `chunk_size` steps, sequential across chunks.
`auto` picks `sequential` on the CPU and `parallel` on accelerators.
"""

from typing import Literal, get_args

import jax
import jax.numpy as jnp

ScanMode = Literal["auto", "parallel", "sequential", "chunked"]
SCAN_MODES: tuple[str, ...] = get_args(ScanMode)


def resolve_scan_mode(scan_mode: str) -> str:
    """Maps `auto` to the fastest mode for the default backend; checks the name."""
    if scan_mode not in SCAN_MODES:
        raise ValueError(f"scan_mode={scan_mode!r} is not one of {SCAN_MODES}.")
    if scan_mode == "auto":
        return "sequential" if jax.default_backend() == "cpu" else "parallel"
    return scan_mode


def reset_operator(earlier, later):
    """Associative combination of two scan elements `(a, b, start)`; `later` follows `earlier`.

    The element stands for the map `h -> a * h + b` (or `h -> b` when `start`, which zeroes the
    state first). Composing: `later(earlier(h)) = a_l * (a_e * h + b_e) + b_l`, unless `later`
    starts an episode, in which case everything before it is forgotten.
    """
    a_e, b_e, start_e = earlier
    a_l, b_l, start_l = later
    a = jnp.where(start_l, a_l, a_l * a_e)
    b = jnp.where(start_l, b_l, a_l * b_e + b_l)
    return a, b, jnp.logical_or(start_e, start_l)


def _expand_start(start: jax.Array, ndim: int) -> jax.Array:
    """`start[T, B]` (or `[B]`) -> broadcastable against a state of rank `ndim`."""
    return start.reshape(start.shape + (1,) * (ndim - start.ndim))


def linear_step(a: jax.Array, b: jax.Array, start: jax.Array, h: jax.Array) -> jax.Array:
    """One step of the recurrence: `a * (0 if start else h) + b`; `start[B]`, `h, b[B, ...]`."""
    return a * jnp.where(_expand_start(start, h.ndim), jnp.zeros_like(h), h) + b


def _parallel(a, b, start, h0):
    a = jnp.broadcast_to(a, b.shape)
    start = _expand_start(start, b.ndim)
    # Fold the incoming carry into the first element (equivalent to prepending it as an element).
    b = b.at[0].add(linear_step(a[0], jnp.zeros_like(h0), start[0], h0))
    start = jnp.broadcast_to(start, b.shape[: start.ndim])
    _, h, _ = jax.lax.associative_scan(reset_operator, (a, b, start))
    return h


def _sequential(a, b, start, h0, unroll):
    time_varying = a.ndim == b.ndim

    def body(h, inputs):
        a_t, b_t, start_t = inputs
        h = linear_step(a_t if time_varying else a, b_t, start_t, h)
        return h, h

    xs = (a if time_varying else jnp.zeros(b.shape[:1], a.dtype), b, start)
    _, h = jax.lax.scan(body, h0, xs, unroll=unroll)
    return h


def _chunked(a, b, start, h0, chunk_size):
    length = b.shape[0]
    pad = -length % chunk_size
    if a.ndim == b.ndim:
        a = jnp.concatenate([a, jnp.ones((pad, *a.shape[1:]), a.dtype)])
    b = jnp.concatenate([b, jnp.zeros((pad, *b.shape[1:]), b.dtype)])
    start = jnp.concatenate([start, jnp.zeros((pad, *start.shape[1:]), bool)])
    n_chunks = b.shape[0] // chunk_size

    def chunk(x):
        return x.reshape(n_chunks, chunk_size, *x.shape[1:])

    time_varying = a.ndim == b.ndim

    def body(h, inputs):
        a_c, b_c, start_c = inputs
        h_c = _parallel(a_c if time_varying else a, b_c, start_c, h)
        return h_c[-1], h_c

    xs = (chunk(a) if time_varying else jnp.zeros(n_chunks), chunk(b), chunk(start))
    _, h = jax.lax.scan(body, h0, xs)
    return h.reshape(-1, *h.shape[2:])[:length]


def linear_scan(
    a: jax.Array,
    b: jax.Array,
    start: jax.Array,
    h0: jax.Array,
    scan_mode: str = "auto",
    chunk_size: int = 64,
    unroll: int = 1,
) -> tuple[jax.Array, jax.Array]:
    """Runs the resettable recurrence over a whole sequence.

    Args:
        a: transition, `[T, B, ...]` or time-invariant with fewer dims (broadcast against `b[t]`).
        b: input term, `[T, B, ...]`.
        start: `[T, B]` booleans, True where the state is zeroed before step t.
        h0: carry before step 0, `[B, ...]`.
        scan_mode: `auto`, `parallel`, `sequential` or `chunked`.
        chunk_size: chunk length of the `chunked` mode.
        unroll: loop unrolling of the sequential scan.

    Returns:
        `(h_last[B, ...], h[T, B, ...])`: the state after the last step, and every state.
    """
    mode = resolve_scan_mode(scan_mode)
    dtype = jnp.result_type(a, b, h0)
    a, b, h0 = a.astype(dtype), b.astype(dtype), h0.astype(dtype)
    if mode == "parallel":
        h = _parallel(a, b, start, h0)
    elif mode == "sequential":
        h = _sequential(a, b, start, h0, unroll)
    else:
        h = _chunked(a, b, start, h0, chunk_size)
    return h[-1], h
