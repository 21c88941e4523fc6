"""The memory-core interface: config base classes, the module base class and input checks.

Axis names (also in the jaxtyping annotations): `T` time, `B` batch, `D` input features, `H` output
width (`hidden_size`), `L` layers.

Every core is a flax linen module built from a frozen config (`config.build()`), with
- `initialize_carry(batch_size) -> carry`: zeros, every leaf leads with `B`; no params or key;
- `__call__(carry, x[T, B, D], start[T, B]) -> (carry, y[T, B, H])`: a whole sequence;
- `step(carry, x[B, D], start[B]) -> (carry, y[B, H])`: one time step.
`start[t]` resets the state to the initial carry *before* `x[t]` is consumed.
"""

import dataclasses
import re
from collections.abc import Callable
from typing import ClassVar

import flax.errors
import flax.linen as nn
import jax
import jax.numpy as jnp
from jaxtyping import Array, Bool, Float, PyTree, Shaped

from rlssm.cores.scan import SCAN_MODES, ScanMode
from rlssm.nn import ACTIVATIONS

# Shapes are jaxtyping annotations (documentation: nothing checks them at run time). A shape
# string that would parse as a Python expression gets a leading space (" B"), which jaxtyping
# strips, so that linters do not read it as a forward reference.
Carry = PyTree[Shaped[Array, "B ..."]]
"""A core's state: a pytree (possibly empty) whose every leaf leads with the batch axis `B`."""
GLU_VARIANTS = ("full_glu", "half_glu1", "half_glu2")
NORMS = ("layer", "none")


def require(condition: bool, message: str) -> None:
    """Raises `ValueError(message)` unless `condition`; used by config validation."""
    if not condition:
        raise ValueError(message)


@dataclasses.dataclass(frozen=True)
class CoreConfig:
    """Fields every core has. Subclasses set `name` and implement `build`."""

    hidden_size: int = 128
    """Output width H."""
    num_layers: int = 1
    """Number of stacked layers L."""

    name: ClassVar[str] = ""

    def __post_init__(self) -> None:
        cls = type(self).__name__
        require(self.hidden_size >= 1, f"{cls}.hidden_size must be >= 1, got {self.hidden_size}.")
        require(self.num_layers >= 1, f"{cls}.num_layers must be >= 1, got {self.num_layers}.")

    def build(self) -> "MemoryCore":
        """Returns the core module for this config."""
        raise NotImplementedError


@dataclasses.dataclass(frozen=True)
class BlockConfig(CoreConfig):
    """Fields of cores made of residual blocks (input projection D->H, then L blocks)."""

    activation: str = "half_glu1"
    """After the mixer: a GLU variant (full_glu, half_glu1, half_glu2) or an activation name."""
    norm: str = "layer"
    """Normalisation inside each block: layer or none."""
    prenorm: bool = True
    """Normalise the block input (True) or the block output after the residual (False)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        cls = type(self).__name__
        known = GLU_VARIANTS + tuple(ACTIVATIONS)
        require(
            self.activation in known, f"{cls}.activation={self.activation!r}; use one of {known}."
        )
        require(self.norm in NORMS, f"{cls}.norm={self.norm!r}; use one of {NORMS}.")


@dataclasses.dataclass(frozen=True)
class LinearConfig(BlockConfig):
    """Fields of cores whose recurrence is linear and so runs on the resettable scan."""

    scan_mode: ScanMode = "auto"
    """parallel (associative scan), sequential (lax.scan), chunked, or auto (CPU: sequential)."""
    chunk_size: int = 64
    """Chunk length of scan_mode=chunked."""

    def __post_init__(self) -> None:
        super().__post_init__()
        cls = type(self).__name__
        require(
            self.scan_mode in SCAN_MODES, f"{cls}.scan_mode={self.scan_mode!r}; use {SCAN_MODES}."
        )
        require(self.chunk_size >= 1, f"{cls}.chunk_size must be >= 1, got {self.chunk_size}.")


def _describe(tree) -> str:
    return str(jax.tree.map(lambda leaf: f"{jnp.dtype(leaf.dtype).name}{list(leaf.shape)}", tree))


def check_inputs(
    core: "MemoryCore", carry: Carry, x: jax.Array, start: jax.Array, rank: int
) -> None:
    """Checks ranks, dtypes and shapes at trace time, so bad input never broadcasts silently."""
    name = type(core).__name__
    axes, lead = ("[T, B, D]", "[T, B]") if rank == 3 else ("[B, D]", "[B]")
    call = "__call__" if rank == 3 else "step"
    x, start = jnp.asarray(x), jnp.asarray(start)
    if x.ndim != rank:
        raise ValueError(f"{name}.{call}: x must be {axes}, got shape {x.shape}.")
    if not jnp.issubdtype(x.dtype, jnp.floating):
        raise TypeError(f"{name}.{call}: x must be floating point, got {x.dtype}; cast it first.")
    if start.dtype != jnp.bool_:
        raise TypeError(
            f"{name}.{call}: start must be boolean, got {start.dtype}; pass `start.astype(bool)` "
            "(start[t] is True where x[t] is the first input of an episode)."
        )
    if start.shape != x.shape[:-1]:
        raise ValueError(
            f"{name}.{call}: start must be {lead} = {x.shape[:-1]} to match x, got {start.shape}."
        )
    expected = core.initialize_carry(x.shape[-2])
    same_tree = jax.tree.structure(carry) == jax.tree.structure(expected)
    pairs = zip(jax.tree.leaves(carry), jax.tree.leaves(expected), strict=False)
    same_shapes = same_tree and all(jnp.shape(c) == e.shape for c, e in pairs)
    if not same_shapes:
        raise ValueError(
            f"{name}.{call}: carry does not match batch size B={x.shape[-2]}: expected "
            f"{_describe(expected)}, got {_describe(carry)}; make it with "
            f"initialize_carry({x.shape[-2]})."
        )


_SHAPES = re.compile(r'"([^"]*)" in "([^"]*)".*shape (\([\d, ]*\)).*shape (\([\d, ]*\))')


def _explain_param_shapes(core: "MemoryCore", call: str, x: jax.Array, run: Callable):
    """Runs `run()`; flax's ScopeParamShapeError (params made for other inputs or another
    config) becomes a ValueError naming the input width the params were made for and the fix.
    Raised while tracing, before anything compiles."""
    try:
        return run()
    except flax.errors.ScopeParamShapeError as err:
        name, width = type(core).__name__, x.shape[-1]
        found = _SHAPES.search(str(err))
        if found is None:
            raise
        param, scope, wanted, given = found.groups()
        wanted, given = (tuple(int(n) for n in re.findall(r"\d+", t)) for t in (wanted, given))
        where = f"parameter {scope}/{param} is {given}, inputs of width {width} need {wanted}"
        if wanted[:1] == (width,) and len(given) == len(wanted) and given[1:] == wanted[1:]:
            raise ValueError(
                f"{name}.{call}: x has D={width} features, but the params were initialised for "
                f"D={given[0]} ({where}); initialise them with inputs of width {width}, or feed "
                f"inputs of width {given[0]}."
            ) from None
        raise ValueError(
            f"{name}.{call}: the params do not fit this core and input width D={width} "
            f"({where}); initialise them with this core's config and inputs of width {width}."
        ) from None


class MemoryCore(nn.Module):
    """Base class of every core: checks inputs, then runs `_sequence` or `_step`."""

    config: CoreConfig

    def initialize_carry(self, batch_size: int) -> Carry:
        """Returns the initial carry for `batch_size` rows; every leaf leads with `B`."""
        raise NotImplementedError

    def __call__(
        self, carry: Carry, x: Float[Array, "T B D"], start: Bool[Array, "T B"]
    ) -> tuple[Carry, Float[Array, "T B H"]]:
        """Runs a whole sequence: `x[T, B, D]`, `start[T, B]` -> `(carry, y[T, B, H])`."""
        check_inputs(self, carry, x, start, rank=3)
        return _explain_param_shapes(self, "__call__", x, lambda: self._sequence(carry, x, start))

    def step(
        self, carry: Carry, x: Float[Array, "B D"], start: Bool[Array, " B"]
    ) -> tuple[Carry, Float[Array, "B H"]]:
        """Runs one step: `x[B, D]`, `start[B]` -> `(carry, y[B, H])`."""
        check_inputs(self, carry, x, start, rank=2)
        return _explain_param_shapes(self, "step", x, lambda: self._step(carry, x, start))

    def _sequence(self, carry, x, start):
        raise NotImplementedError

    def _step(self, carry, x, start):
        raise NotImplementedError
