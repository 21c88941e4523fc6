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

Several processes (`--distributed`, `initialize`): `jax.devices()` then lists the devices of
every process and the mesh spans them all; every process holds the same initial state (same
keys), `place` builds the global arrays from it (each process keeps its own shards), and
`is_writer` (process 0) alone writes run files; `barrier` orders the rest.
"""

import collections
import dataclasses
from collections.abc import Sequence
from typing import Any

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec, Sharding

from experiments.run.serialize import ConfigError

AXIS = "data"
"""The mesh axis that environments are split over."""


def initialize(
    coordinator_address: str | None = None,
    num_processes: int | None = None,
    process_id: int | None = None,
) -> None:
    """Joins the processes of a distributed run (`jax.distributed.initialize`; None values:
    JAX's cluster detection, e.g. SLURM or Open MPI). On CPUs the collectives go through
    gloo. JAX refuses to join once a backend exists, and importing the trainers already made
    one (gymnax builds arrays at import): it is dropped first, so arrays made before this call
    must not be used after it."""
    import jax.extend.backend

    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.extend.backend.clear_backends()
    try:
        jax.distributed.initialize(
            coordinator_address=coordinator_address,
            num_processes=num_processes,
            process_id=process_id,
        )
    except (RuntimeError, ValueError) as err:
        raise ConfigError(f"--distributed: {err}".splitlines()[0]) from None


def check_distributed(devices: int) -> None:
    """With several processes, `--devices` must take every device of every process."""
    count = len(jax.devices())
    if devices not in (0, count):
        raise ConfigError(
            f"--devices {devices}: a distributed run of {jax.process_count()} process(es) "
            f"trains on all {count} devices; pass --devices 0 (or {count})."
        )


def is_writer() -> bool:
    """True in the process that writes run files and shows progress (process 0)."""
    return jax.process_index() == 0


BARRIER_TIMEOUT_S = 30 * 60
"""How long a process waits at a `barrier` for the others (a slow checkpoint write included)."""
_barriers: collections.Counter = collections.Counter()


def barrier(name: str) -> None:
    """Waits until every process got here (nothing to wait for with one process).

    The wait goes through the coordination service's barrier (orbax's helper over JAX's
    distributed client), not a device collective: CPU collectives (gloo) fail when the
    processes reach their first collective more than 30 s apart, and a barrier may wait longer
    (process 0 writing a checkpoint, one process compiling slower). A `barrier` just before
    the first collective of a program thus also keeps that collective safe."""
    if jax.process_count() == 1:
        return
    from orbax.checkpoint import multihost

    _barriers[name] += 1  # every process passes the same barriers in the same order
    wait = multihost.get_barrier_sync_fn()
    wait(key=f"rlssm:{name}:{_barriers[name]}", timeout_ms=BARRIER_TIMEOUT_S * 1000)


def any_process(flag: bool) -> bool:
    """True when `flag` is True in any process (the flag itself with one process)."""
    if jax.process_count() == 1:
        return flag
    from jax.experimental import multihost_utils

    return bool(np.any(multihost_utils.process_allgather(np.array(flag))))


def to_global(leaf: Any, sharding: Sharding) -> jax.Array:
    """`leaf` laid out by `sharding`; over devices of several processes it is built from the
    value this process holds (the same in every process), each process keeping its shards."""
    if sharding.is_fully_addressable:
        return jax.device_put(leaf, sharding)
    if isinstance(leaf, jax.Array) and not leaf.is_fully_addressable:  # global already
        if leaf.sharding.is_equivalent_to(sharding, leaf.ndim):
            return leaf
        return jax.jit(lambda x: x, out_shardings=sharding)(leaf)
    if jax.dtypes.issubdtype(leaf.dtype, jax.dtypes.prng_key):
        data = to_global(jax.random.key_data(leaf), sharding)
        return jax.random.wrap_key_data(data, impl=jax.random.key_impl(leaf))
    host = np.asarray(leaf)
    return jax.make_array_from_callback(host.shape, sharding, lambda index: host[index])


def local_devices(devices: int) -> list[jax.Device]:
    """The first `devices` devices of every process (0: all of them); refuses more than there
    are."""
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

    def split(self, leaf: jax.Array, axis: int) -> jax.Array:
        """Inside a traced function: `leaf` split over the devices along `axis`."""
        spec = PartitionSpec(*[None] * axis, AXIS)
        return jax.lax.with_sharding_constraint(leaf, NamedSharding(self.mesh, spec))

    def constrain(self, tree: Any) -> Any:
        """Inside a traced function: `tree`'s leaves split along their `B` axis (the first
        of length `B`, any axis here), the others left to XLA."""

        def one(leaf: Any) -> Any:
            axes = [a for a, n in enumerate(leaf.shape) if n == self.batch_size]
            return self.split(leaf, axes[0]) if axes else leaf

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
