"""Data parallelism over the devices of a host: a `data` mesh axis that splits environments.

    placement = Placement.of(devices=4, batch_size=32, fields=("env_state", "obs", "carry"))
    shardings = placement.shardings(state)     # NamedSharding per leaf of the `[N, ...]` state
    state = jax.device_put(state, shardings)

The chunk programs are jitted with these shardings (experiments.run.programs): the leaves under
`fields` (environment states, observations, carries, replay rows) are split over the devices
along their environment axis `B`; parameters, optimiser states and keys are replicated. XLA's
SPMD partitioner then runs each device's share of the environments and sums the gradients across
devices (an all-reduce), so a run on D devices computes the same updates as on one device, up to
float rounding. Seeds `N` stay a vmapped axis on every device.
"""

import dataclasses
from collections.abc import Sequence
from typing import Any

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from experiments.run.serialize import ConfigError

AXIS = "data"
"""The mesh axis that environments are split over."""


def local_devices(devices: int) -> list[jax.Device]:
    """The first `devices` devices (0: all of them); refuses more than there are."""
    available = jax.devices()
    if devices < 0 or devices > len(available):
        raise ConfigError(
            f"--devices {devices}: this machine has {len(available)} {available[0].platform} "
            f"device(s); pass --devices 0 (all) or a number up to {len(available)}."
        )
    return available[: devices or len(available)]


def check_divisible(
    size: int, devices: int, per_device: int = 1, what: str = "", flag: str = "--num-envs"
) -> None:
    """Refuses a batch `size` (set by `flag`) that the devices (times `per_device` pieces
    each) do not divide."""
    count = len(local_devices(devices))
    if size % (count * per_device):
        pieces = f" x {per_device}{what}" if per_device > 1 else ""
        raise ConfigError(
            f"{flag} {size} does not split over {count} device(s){pieces}; pass a "
            f"multiple of {count * per_device} (or fewer --devices)."
        )


@dataclasses.dataclass(frozen=True)
class Placement:
    """Where a training state's leaves live: the mesh, and which fields are split over it."""

    mesh: Mesh
    batch_size: int
    """`B`: the environment axis's length, found in each leaf after the seed axis `N`."""
    fields: tuple[str, ...]
    """Top-level state fields whose leaves carry the environment axis."""

    @classmethod
    def of(cls, devices: int, batch_size: int, fields: Sequence[str]) -> "Placement | None":
        """The placement on `devices` devices (0: all); None on one device (nothing to split)."""
        chosen = local_devices(devices)
        if len(chosen) == 1:
            return None
        return cls(Mesh(np.array(chosen), (AXIS,)), batch_size, tuple(fields))

    @property
    def key(self) -> tuple:
        """What the compiled programs depend on (they are cached per placement)."""
        return (tuple(d.id for d in self.mesh.devices.flat), self.batch_size, self.fields)

    @property
    def replicated(self) -> NamedSharding:
        return NamedSharding(self.mesh, PartitionSpec())

    def leaf_sharding(self, leaf: Any) -> NamedSharding:
        """Split along the first axis after `N` whose length is `B`; replicated if none."""
        shape = getattr(leaf, "shape", ())
        for axis in range(1, len(shape)):
            if shape[axis] == self.batch_size:
                return NamedSharding(self.mesh, PartitionSpec(*[None] * axis, AXIS))
        return self.replicated

    def constrain(self, tree: Any) -> Any:
        """Inside a traced function: `tree`'s leaves split along their `B` axis (the first
        of length `B`, any axis here), the others left to XLA."""

        def one(leaf: Any) -> Any:
            axes = [a for a, n in enumerate(leaf.shape) if n == self.batch_size]
            if not axes:
                return leaf
            spec = PartitionSpec(*[None] * axes[0], AXIS)
            return jax.lax.with_sharding_constraint(leaf, NamedSharding(self.mesh, spec))

        return jax.tree.map(one, tree)

    def shardings(self, state: Any) -> Any:
        """A pytree like `state` (a NamedTuple of `[N, ...]` leaves) of shardings."""
        split = {
            name: jax.tree.map(self.leaf_sharding, getattr(state, name)) for name in self.fields
        }
        whole = {
            name: jax.tree.map(lambda _: self.replicated, getattr(state, name))
            for name in state._fields
            if name not in split
        }
        return state._replace(**split, **whole)
