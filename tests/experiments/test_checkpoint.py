"""Checkpoints: exact round trip, atomic layout, and refusal of damaged or foreign checkpoints."""

import json
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from experiments.run import checkpoint
from experiments.run.checkpoint import CheckpointError


class State(NamedTuple):
    params: dict
    key: jax.Array
    step: jax.Array
    flags: jax.Array


def make_state(seed: int = 0) -> State:
    key = jax.random.key(seed)
    return State(
        params={"w": jax.random.normal(key, (2, 3)), "b": jnp.arange(3, dtype=jnp.float32)},
        key=jax.random.split(key, 2),
        step=jnp.array([7, 9], jnp.int32),
        flags=jnp.array([True, False]),
    )


def leaves_equal(a, b) -> bool:
    def raw(x):
        return jax.random.key_data(x) if jnp.issubdtype(x.dtype, jax.dtypes.prng_key) else x

    pairs = zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True)
    return all(x.dtype == y.dtype and np.array_equal(raw(x), raw(y)) for x, y in pairs)


def test_round_trip_is_exact_and_keeps_typed_keys(tmp_path):
    state = make_state()
    path = checkpoint.save(tmp_path, 5, state, {"config": "abc"})
    assert path.name == "000000005" and checkpoint.latest(tmp_path) == path
    template = jax.eval_shape(lambda: state)
    restored = checkpoint.restore(path, template, {"config": "abc"})
    assert isinstance(restored, State)
    assert jnp.issubdtype(restored.key.dtype, jax.dtypes.prng_key)
    assert leaves_equal(restored, state)
    # The restored key draws the same numbers as the original.
    assert np.array_equal(
        jax.random.uniform(restored.key[1], (4,)), jax.random.uniform(state.key[1], (4,))
    )


def test_latest_ignores_unfinished_writes_and_prunes_old(tmp_path):
    for step in (1, 2, 3):
        checkpoint.save(tmp_path, step, make_state(step), keep=2)
    (tmp_path / ".000000004.tmp").mkdir()  # a writer killed mid-way
    assert [p.name for p in checkpoint.available(tmp_path)] == ["000000002", "000000003"]
    assert checkpoint.latest(tmp_path).name == "000000003"
    manifest = checkpoint.read_manifest(checkpoint.latest(tmp_path))
    assert manifest["versions"]["jax"] == jax.__version__ and manifest["files"]


def flip_byte(path):
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def test_corrupted_file_is_refused(tmp_path):
    state = make_state()
    path = checkpoint.save(tmp_path, 1, state)
    data_files = [p for p in (path / "state").rglob("*") if p.is_file() and p.stat().st_size > 0]
    flip_byte(max(data_files, key=lambda p: p.stat().st_size))
    with pytest.raises(CheckpointError, match="corrupted: checksum mismatch"):
        checkpoint.restore(path, jax.eval_shape(lambda: state))


def test_missing_file_and_missing_manifest_are_refused(tmp_path):
    state = make_state()
    path = checkpoint.save(tmp_path, 1, state)
    next(p for p in (path / "state").rglob("*") if p.is_file()).unlink()
    with pytest.raises(CheckpointError, match="missing files"):
        checkpoint.restore(path, jax.eval_shape(lambda: state))
    (path / checkpoint.MANIFEST).unlink()
    with pytest.raises(CheckpointError, match=r"no manifest\.json"):
        checkpoint.latest(tmp_path)


def test_other_versions_metadata_or_shapes_are_refused(tmp_path):
    state = make_state()
    path = checkpoint.save(tmp_path, 1, state, {"config": "abc"})
    template = jax.eval_shape(lambda: state)
    with pytest.raises(CheckpointError, match=r"other metadata.*config: saved 'abc', now 'xyz'"):
        checkpoint.restore(path, template, {"config": "xyz"})
    other = make_state()._replace(params={"w": jnp.zeros((2, 4)), "b": jnp.zeros(3)})
    with pytest.raises(CheckpointError, match=r"does not fit.*\['w'\] float32\[2, 3\]"):
        checkpoint.restore(path, jax.eval_shape(lambda: other))
    manifest = json.loads((path / checkpoint.MANIFEST).read_text())
    manifest["versions"]["jax"] = "0.0.1"
    (path / checkpoint.MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(CheckpointError, match=r"other package versions.*jax: saved '0\.0\.1'"):
        checkpoint.restore(path, template)
    assert leaves_equal(checkpoint.restore(path, template, check_versions=False), state)
