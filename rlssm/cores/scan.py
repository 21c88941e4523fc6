"""Resettable linear recurrences, run in parallel (associative scan) or sequentially.

The recurrence, for every state element (axis names: `T` time, `B` batch, `P` state size, `...`
state axes, written `*state` in the jaxtyping annotations)::

    h[t] = a[t] * (0 if start[t] else h[t-1]) + b[t]        with h[-1] = carry

`start[t]` says that input `t` opens a new episode, so the state is zeroed *before* it is consumed.
`a` may carry the time axis (`[T, B, ...]`, input-dependent recurrences) or not (fewer
dimensions than `b`: a time-invariant transition such as S5's `Lambda_bar[P]`, broadcast
against `b[t]`).

Three ways to compute the same numbers:
- `parallel`: `jax.lax.associative_scan` with `reset_operator`, depth `O(log T)`; fast on GPU/TPU.
- `sequential`: a loop over time that writes each state over the `b[t]` it has just read, so it
  needs no `[T, B, ...]` buffer beyond its input; on a CPU it is faster and compiles far quicker.
- `chunked`: parallel inside chunks of `chunk_size` steps, sequential across chunks.
`auto` picks `sequential` on the CPU and `parallel` on accelerators.

Gradients come from a custom VJP: the adjoint of a linear recurrence is the same recurrence run
backwards (in the same mode),

    g[t] = dL/dh[t] + a[t+1] * (0 if start[t+1] else g[t+1]),    g[T-1] = dL/dh[T-1] + dL/dh_last
    dL/db[t] = g[t],    dL/da[t] = g[t] * (0 if start[t] else h[t-1]),
    dL/dcarry = a[0] * (0 if start[0] else g[0]),

with `dL/da` summed over the axes a time-invariant `a` was broadcast along. Products are not
conjugated: for complex values JAX's VJP is the transpose of the derivative. The only residuals
are the states `h` (with `a`, `start` and the carry), never the per-step internals autodiff of a
loop would store. The sequential adjoint writes `g[t]` over the cotangent it has just read and
sums the gradient of a time-invariant `a` in its carry. Reverse mode only: `jax.grad` of
`jax.grad` works (the backward pass is differentiable JAX code), forward mode (`jax.jvp`,
`jax.jacfwd`) fails with JAX's error for custom-VJP functions.

`complex_pairs`: a complex recurrence whose `b` and `h` are real arrays `[..., 2, P]` (real parts,
then imaginary parts), the layout real matmuls write and read (S5, LRU). The sequential loop
converts one step at a time, so no complex `[T, B, P]` array is ever stored.
"""

import functools
from typing import Literal, get_args

import jax
import jax.numpy as jnp
from jaxtyping import Array, Bool, Complex, Float, Inexact

ScanMode = Literal["auto", "parallel", "sequential", "chunked"]
SCAN_MODES: tuple[str, ...] = get_args(ScanMode)

# Shapes are jaxtyping annotations (documentation: nothing checks them at run time). A shape
# string that would parse as a Python expression gets a leading space (" B"), which jaxtyping
# strips, so that linters do not read it as a forward reference.
ScanElement = tuple[Inexact[Array, "..."], Inexact[Array, "..."], Bool[Array, "..."]]
"""`(a, b, start)`: the map `h -> a * (0 if start else h) + b` (see `reset_operator`)."""


def resolve_scan_mode(scan_mode: str) -> str:
    """Maps `auto` to the fastest mode for the default backend; checks the name."""
    if scan_mode not in SCAN_MODES:
        raise ValueError(f"scan_mode={scan_mode!r} is not one of {SCAN_MODES}.")
    if scan_mode == "auto":
        return "sequential" if jax.default_backend() == "cpu" else "parallel"
    return scan_mode


def reset_operator(earlier: ScanElement, later: ScanElement) -> ScanElement:
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


def _zero_at_start(start: jax.Array, x: jax.Array) -> jax.Array:
    """`0 if start else x` per batch row; `start[B]` or `[T, B]`, `x` of a state's rank or more."""
    return jnp.where(_expand_start(start, x.ndim), jnp.zeros_like(x), x)


def linear_step(
    a: Inexact[Array, "..."],
    b: Inexact[Array, " B *state"],
    start: Bool[Array, " B"],
    h: Inexact[Array, " B *state"],
) -> Inexact[Array, " B *state"]:
    """One step of the recurrence: `a * (0 if start else h) + b`; `start[B]`, `h, b[B, ...]`.

    `a` is `[B, ...]` like `h`, or has fewer dimensions (broadcast against `h`).
    """
    return a * _zero_at_start(start, h) + b


def complex_to_pairs(z: Complex[Array, "*batch P"]) -> Float[Array, "*batch 2 P"]:
    """`z[..., P]` complex -> `[..., 2, P]` real: real parts, then imaginary parts."""
    return jnp.stack([z.real, z.imag], axis=-2)


def pairs_to_complex(x: Float[Array, "*batch 2 P"]) -> Complex[Array, "*batch P"]:
    """`x[..., 2, P]` real (real parts, then imaginary parts) -> `[..., P]` complex."""
    return jax.lax.complex(x[..., 0, :], x[..., 1, :])


def _time_varying(a: jax.Array, h0: jax.Array) -> bool:
    """Whether `a` carries the time axis (one more dimension than a state `h0[B, ...]`)."""
    return a.ndim == h0.ndim + 1


def _parallel(a, b, start, h0, reverse=False):
    a = jnp.broadcast_to(a, b.shape)
    start = _expand_start(start, b.ndim)
    # Fold the incoming carry into the element the scan starts from (equivalent to prepending it).
    first = -1 if reverse else 0
    b = b.at[first].add(linear_step(a[first], jnp.zeros_like(h0), start[first], h0))
    start = jnp.broadcast_to(start, b.shape[: start.ndim])
    _, h, _ = jax.lax.associative_scan(reset_operator, (a, b, start), reverse=reverse)
    return h


def _chunked(a, b, start, h0, chunk_size, reverse=False):
    length = b.shape[0]
    time_varying = _time_varying(a, h0)
    # The padding goes where the scan ends, so it never feeds a state that is kept.
    pad = -length % chunk_size
    padding = [(pad, 0) if reverse else (0, pad)]
    if time_varying:
        a = jnp.pad(a, padding + [(0, 0)] * (a.ndim - 1), constant_values=1)
    b = jnp.pad(b, padding + [(0, 0)] * (b.ndim - 1))
    start = jnp.pad(start, padding + [(0, 0)] * (start.ndim - 1))
    n_chunks = b.shape[0] // chunk_size

    def chunk(x):
        return x.reshape(n_chunks, chunk_size, *x.shape[1:])

    def body(h, inputs):
        a_c, b_c, start_c = inputs
        h_c = _parallel(a_c if time_varying else a, b_c, start_c, h, reverse)
        return h_c[0] if reverse else h_c[-1], h_c

    xs = (chunk(a) if time_varying else jnp.zeros(n_chunks), chunk(b), chunk(start))
    _, h = jax.lax.scan(body, h0, xs, reverse=reverse)
    h = h.reshape(-1, *h.shape[2:])
    return h[pad:] if reverse else h[:length]


def _at(x: jax.Array, t: jax.Array) -> jax.Array:
    """`x[t]` for a traced in-range `t`, without the bounds handling of `x[t]`."""
    return jax.lax.dynamic_index_in_dim(x, t, keepdims=False)


def _identity(x: jax.Array) -> jax.Array:
    return x


def _write(buffer: jax.Array, t: jax.Array, value: jax.Array) -> jax.Array:
    """`buffer.at[t].set(value)` for an in-range `t`, as one in-place dynamic update."""
    return jax.lax.dynamic_update_index_in_dim(buffer, value.astype(buffer.dtype), t, axis=0)


def _sequential(a, b, start, h0, pairs):
    """A loop over time that writes each state over the `b[t]` it consumed.

    Reusing `b`'s buffer for the states (rather than `lax.scan`'s stacked outputs) saves a
    `[T, B, ...]` buffer and the pass that would fill it with zeros. With `pairs`, `b` and the
    states are converted inside each step.
    """
    time_varying = _time_varying(a, h0)

    load = pairs_to_complex if pairs else _identity
    store = complex_to_pairs if pairs else _identity

    def body(t, carry):
        h, buffer = carry
        h = linear_step(_at(a, t) if time_varying else a, load(_at(buffer, t)), _at(start, t), h)
        return h, _write(buffer, t, store(h))

    return jax.lax.fori_loop(0, b.shape[0], body, (h0, b))


def _run_associative(a, b, start, h0, mode, chunk_size, reverse):
    """`h` of the parallel or chunked mode (complex layout); `reverse` runs from `T - 1` to 0."""
    if mode == "parallel":
        return _parallel(a, b, start, h0, reverse)
    return _chunked(a, b, start, h0, chunk_size, reverse)


def _run(a, b, start, h0, mode, chunk_size, pairs):
    """`(h_last, h)` in one of the three modes, `b` and `h` in pair layout if `pairs`."""
    if mode == "sequential":
        return _sequential(a, b, start, h0, pairs)
    b = pairs_to_complex(b) if pairs else b
    h = _run_associative(a, b, start, h0, mode, chunk_size, reverse=False)
    return h[-1], complex_to_pairs(h) if pairs else h


def _cotangent_to_complex(ct_pairs: jax.Array) -> jax.Array:
    """The complex cotangent of `z` from the cotangents `(ct_x, ct_y)` of its pairs `(x, y)`.

    JAX transposes `lax.complex(x, y)` to `(Re ct, -Im ct)`, so it is `ct_x - i ct_y`.
    """
    return jnp.conj(pairs_to_complex(ct_pairs))


def _cotangent_to_pairs(ct: jax.Array) -> jax.Array:
    """The inverse of `_cotangent_to_complex`: `(Re ct, -Im ct)` as pairs `[..., 2, P]`."""
    return complex_to_pairs(jnp.conj(ct))


def _adjoint_sequential(a, start, h0, h, ct, ct_last, pairs):
    """Backward loop of `g[t] = ct[t] + m[t]`, `m[t - 1] = a[t] * (0 if start[t] else g[t])`.

    The carry `m` is what flows back from step `t + 1`; it starts as `ct_last` and ends as the
    gradient of the incoming carry, so `a` is never shifted in time. Each `g[t]` overwrites the
    `ct[t]` it consumed (as in `_sequential`). A time-invariant `a` also accumulates its gradient
    `sum_t g[t] * h_prev[t]` in the carry, so no `[T, B, ...]` product is written. Returns
    `(g_b, g_h0, g_a)`: `g_b` in the layout of `ct`, `g_a` None for a time-varying `a`.
    """
    time_varying = _time_varying(a, h0)
    length = ct.shape[0]

    load = _cotangent_to_complex if pairs else _identity
    store = _cotangent_to_pairs if pairs else _identity

    def body(i, carry):
        message, g_next, g_a, buffer = carry  # g_next = g[t + 1], zeroed if step t + 1 starts
        t = length - 1 - i
        buffer = _write(buffer, t, store(load(_at(buffer, t)) + message))
        # Read back from the written buffer: a second read of the old `buffer[t]` would stop XLA
        # from updating it in place (it would copy the whole buffer every step instead).
        g_t = load(_at(buffer, t))
        if not time_varying:
            g_a = g_a + g_next * (pairs_to_complex(_at(h, t)) if pairs else _at(h, t))
        g_next = _zero_at_start(_at(start, t), g_t)
        message = (_at(a, t) if time_varying else a) * g_next
        return message, g_next, g_a, buffer

    zeros = jnp.zeros_like(h0)
    init = (ct_last, zeros, zeros, ct)
    g_h0, g_first, g_a, g_b = jax.lax.fori_loop(0, length, body, init)
    if time_varying:
        return g_b, g_h0, None
    return g_b, g_h0, _sum_to_shape(g_a + g_first * h0, a.shape)


def _adjoint_associative(a, start, ct, ct_last, run):
    """`g[t] = ct[t] + a[t + 1] * (0 if start[t + 1] else g[t + 1])` with `run(..., reverse=True)`.

    The same resettable recurrence, run backwards with `a` and `start` shifted one step earlier;
    `ct_last` joins `ct[T - 1]` and the shifted `start` closes the sequence at `T - 1`.
    """
    time_varying = _time_varying(a, ct_last)
    a_next = jnp.concatenate([a[1:], a[:1]]) if time_varying else a
    start_next = jnp.concatenate([start[1:], jnp.ones_like(start[:1])])
    g = run(a_next, ct.at[-1].add(ct_last), start_next, jnp.zeros_like(ct_last), reverse=True)
    return g, (a[0] if time_varying else a) * _zero_at_start(start[0], g[0])


def _sum_to_shape(x: jax.Array, shape: tuple[int, ...]) -> jax.Array:
    """Sums `x` over the axes along which an array of `shape` was broadcast to `x.shape`."""
    lead = x.ndim - len(shape)
    broadcast = [lead + i for i, n in enumerate(shape) if n == 1 and x.shape[lead + i] != 1]
    return jnp.sum(x, axis=(*range(lead), *broadcast)).reshape(shape)


def _transition_grad(a, g, start, h0, h):
    """`dL/da[t] = g[t] * h_prev[t]`, `h_prev` the state step `t` consumed (zero at a start)."""
    h_prev = _zero_at_start(start, jnp.concatenate([h0[None], h[:-1]]))
    return _sum_to_shape(g * h_prev, a.shape)


@functools.partial(jax.custom_vjp, nondiff_argnums=(4, 5, 6))
def _scan(a, b, start, h0, mode, chunk_size, pairs):
    return _run(a, b, start, h0, mode, chunk_size, pairs)


def _scan_forward(a, b, start, h0, mode, chunk_size, pairs):
    h_last, h = _run(a, b, start, h0, mode, chunk_size, pairs)
    return (h_last, h), (a, start, h0, h)


def _scan_backward(mode, chunk_size, pairs, residuals, cotangents):
    a, start, h0, h = residuals
    ct_last, ct = cotangents
    if mode == "sequential":
        g_b, g_h0, g_a = _adjoint_sequential(a, start, h0, h, ct, ct_last, pairs)
        if g_a is None:
            g = _cotangent_to_complex(g_b) if pairs else g_b
            g_a = _transition_grad(a, g, start, h0, pairs_to_complex(h) if pairs else h)
        return g_a, g_b, None, g_h0
    run = functools.partial(_run_associative, mode=mode, chunk_size=chunk_size)
    ct = _cotangent_to_complex(ct) if pairs else ct
    g, g_h0 = _adjoint_associative(a, start, ct, ct_last, run)
    g_a = _transition_grad(a, g, start, h0, pairs_to_complex(h) if pairs else h)
    return g_a, _cotangent_to_pairs(g) if pairs else g, None, g_h0


_scan.defvjp(_scan_forward, _scan_backward)


def linear_scan(
    a: Inexact[Array, "..."],
    b: Inexact[Array, "T B *state"],
    start: Bool[Array, "T B"],
    h0: Inexact[Array, "B ..."],
    scan_mode: str = "auto",
    chunk_size: int = 64,
    complex_pairs: bool = False,
) -> tuple[Inexact[Array, "B ..."], Inexact[Array, "T B *state"]]:
    """Runs the resettable recurrence over a whole sequence.

    Differentiable in reverse mode through a custom VJP (the adjoint recurrence, see the module
    docstring); forward mode (`jax.jvp`, `jax.jacfwd`) is not supported.

    Args:
        a: transition, `[T, B, ...]` or time-invariant with fewer dims (broadcast against `b[t]`).
        b: input term, `[T, B, ...]`; with `complex_pairs`, real `[T, B, ..., 2, P]`.
        start: `[T, B]` booleans, True where the state is zeroed before step t.
        h0: carry before step 0, `[B, ...]` (complex `[B, ..., P]` with `complex_pairs`).
        scan_mode: `auto`, `parallel`, `sequential` or `chunked`.
        chunk_size: chunk length of the `chunked` mode.
        complex_pairs: the recurrence is complex (`a`, `h0` complex) but `b` and the returned
            states `h` hold each complex number as a (real, imaginary) pair on axis -2
            (`complex_to_pairs`), so that real matmuls produce and consume them directly.

    Returns:
        `(h_last[B, ...], h[T, B, ...])`: the state after the last step, and every state
        (`h[T, B, ..., 2, P]` real with `complex_pairs`; `h_last` is complex either way).
    """
    mode = resolve_scan_mode(scan_mode)
    if complex_pairs:
        if b.ndim < 3 or b.shape[-2] != 2:
            raise ValueError(f"complex_pairs needs b[T, B, ..., 2, P], got shape {b.shape}.")
        dtype = jnp.result_type(a, h0, jnp.complex64)
        b = b.astype(jnp.finfo(dtype).dtype)
    else:
        dtype = jnp.result_type(a, b, h0)
        b = b.astype(dtype)
    a, h0 = a.astype(dtype), h0.astype(dtype)
    return _scan(a, b, start, h0, mode, chunk_size, complex_pairs)
