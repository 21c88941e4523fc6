"""The public signatures carry jaxtyping shape annotations in DESIGN.md's axis names.

Only the annotations are read (`typing.get_type_hints`): nothing is traced or compiled, and no
runtime type checker is involved. A later edit that drops an annotation, or renames an axis away
from DESIGN's names, fails here.
"""

import typing

import jaxtyping
import pytest

import rlssm.cores as cores
from agents.ppo.gae import Advantages, gae
from rlssm.cores.base import MemoryCore
from rlssm.cores.scan import complex_to_pairs, linear_scan, linear_step, pairs_to_complex
from rlssm.world_models.base import WorldModel
from rlssm.world_models.evaluate import evaluate, frame_mse
from rlssm.world_models.latents import symexp, symlog, twohot

# DESIGN.md, "Axis names": N seeds, T time, B batch, D input features, H model width, P SSM state
# size, L layers, A actions.
DESIGN_AXES = {"N", "T", "B", "D", "H", "P", "L", "A"}
# Names a module defines for itself (each in its docstring): variadic leading or state axes, the
# observation shape, the evaluation horizon, latent groups/classes/bins and the Gaussian width.
LOCAL_AXES = {"batch", "state", "obs", "horizon", "G", "K", "S"}


def shapes(annotation) -> list[tuple[type, tuple[str, ...]]]:
    """`(dtype, axis names)` of every jaxtyping array type inside an annotation (through unions,
    tuples, callables and `PyTree` leaves); anonymous `...` and fixed or symbolic sizes are left
    out, and so are types with no named axis (scalars, PRNG keys)."""
    if hasattr(annotation, "leaftype"):  # jaxtyping.PyTree[leaf]
        return shapes(annotation.leaftype)
    if hasattr(annotation, "dims") and hasattr(annotation, "dtype"):
        axes = tuple(d.name for d in annotation.dims if isinstance(getattr(d, "name", None), str))
        return [(annotation.dtype, axes)] if axes else []
    args = annotation if isinstance(annotation, list) else typing.get_args(annotation)
    return [shape for arg in args for shape in shapes(arg)]  # a list: a Callable's arguments


def hints(fn) -> dict[str, list[tuple[type, tuple[str, ...]]]]:
    """`shapes` of each annotated argument of `fn` and of `return`."""
    return {
        name: shapes(annotation)
        for name, annotation in typing.get_type_hints(fn, include_extras=True).items()
    }


def names(fn, argument: str) -> list[tuple[str, ...]]:
    return [axes for _, axes in hints(fn)[argument]]


@pytest.mark.parametrize(
    "fn, argument, expected",
    [
        (MemoryCore.__call__, "x", [("T", "B", "D")]),
        (MemoryCore.__call__, "start", [("T", "B")]),
        (MemoryCore.__call__, "return", [("B",), ("T", "B", "H")]),  # carry leaves, then y
        (MemoryCore.step, "x", [("B", "D")]),
        (MemoryCore.step, "start", [("B",)]),
        (MemoryCore.step, "return", [("B",), ("B", "H")]),
        (linear_scan, "b", [("T", "B", "state")]),
        (linear_scan, "start", [("T", "B")]),
        (linear_scan, "h0", [("B",)]),
        (linear_scan, "return", [("B",), ("T", "B", "state")]),
        (linear_step, "start", [("B",)]),
        (linear_step, "h", [("B", "state")]),
        (pairs_to_complex, "x", [("batch", "P")]),
        (complex_to_pairs, "return", [("batch", "P")]),
        (gae, "reward", [("T", "B")]),
        (gae, "terminated", [("T", "B")]),
        (gae, "last_value", [("B",)]),
        (WorldModel.observe, "obs", [("T", "B", "obs")]),
        (WorldModel.observe, "action", [("T", "B"), ("T", "B", "A")]),
        (WorldModel.observe, "start", [("T", "B")]),
        (WorldModel.observe_step, "obs", [("B", "obs")]),
        (WorldModel.observe_step, "start", [("B",)]),
        (
            WorldModel.imagine,
            "actions",
            # actions, then a policy: features[B, S+H] (a symbolic size), action[B] or [B, A]
            [("horizon", "B"), ("horizon", "B", "A"), ("B",), ("B",), ("B", "A")],
        ),
        (symlog, "x", [("batch",)]),
        (twohot, "return", [("batch", "K")]),
        (frame_mse, "predicted", [("horizon", "B", "obs")]),
    ],
)
def test_public_signatures_name_the_axes(fn, argument, expected):
    assert names(fn, argument) == expected


def test_start_flags_are_boolean_and_inputs_floating():
    for fn in (MemoryCore.__call__, MemoryCore.step, linear_scan, WorldModel.observe):
        assert [dtype for dtype, _ in hints(fn)["start"]] == [jaxtyping.Bool]
    assert [dtype for dtype, _ in hints(gae)["truncated"]] == [jaxtyping.Bool]
    assert [dtype for dtype, _ in hints(MemoryCore.__call__)["x"]] == [jaxtyping.Float]


@pytest.mark.parametrize(
    "fn",
    [
        MemoryCore.__call__,
        MemoryCore.step,
        MemoryCore.initialize_carry,
        linear_scan,
        linear_step,
        gae,
        WorldModel.observe,
        WorldModel.observe_step,
        WorldModel.imagine,
        evaluate,
        symlog,
        symexp,
        twohot,
    ],
)
def test_only_design_or_documented_local_axes(fn):
    found = {name for shapes_ in hints(fn).values() for _, axes in shapes_ for name in axes}
    assert found, f"{fn.__qualname__} has no shape annotations"
    assert found <= DESIGN_AXES | LOCAL_AXES, found - DESIGN_AXES - LOCAL_AXES


def test_every_registered_core_keeps_the_contract_annotations():
    for name in cores.registered():
        cls = type(cores.make(name))
        for method in ("__call__", "step"):
            assert hints(getattr(cls, method)) == hints(getattr(MemoryCore, method)), (name, method)


def test_advantages_fields_are_time_major():
    time_major = [(jaxtyping.Float, ("T", "B"))]
    assert hints(Advantages) == {"advantage": time_major, "target": time_major}
