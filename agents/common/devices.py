"""The one place where the agents meet several devices: a `Split` hook.

An agent is single-device code. A trainer that splits the environments over devices
(experiments.run.devices.Placement) hands the agent `split(array, axis)`, which lays `axis` of an
array over the devices without changing its values; the agent calls it where XLA's sharding
propagation would otherwise lose the split (after a shuffle or a random sample of rows), so that
each device computes the gradients of its own rows.
"""

from collections.abc import Callable

import jax

Split = Callable[[jax.Array, int], jax.Array]
"""`split(array, axis)`: the array with `axis` split over the devices (values unchanged)."""


def no_split(array: jax.Array, axis: int) -> jax.Array:
    """The `Split` of one device: the array as it is."""
    return array


def split_tree(split: Split, tree, axis: int):
    """`split` applied to `axis` of every leaf of `tree` (None passes through)."""
    return jax.tree.map(lambda leaf: split(leaf, axis), tree)
