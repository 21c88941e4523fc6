"""Atomic, verified orbax checkpoints of a whole training state (any pytree of arrays).

Layout of a checkpoints folder:

    checkpoints/
        000000120/            one checkpoint, named by its step (zero-padded)
            state/            orbax StandardCheckpointer output (leaves "000000", "000001", ...)
            manifest.json     leaf paths/shapes/dtypes, sha256 of every file, package versions,
                              caller metadata (e.g. the config's hash)

A checkpoint is written into `.000000120.tmp/`, its files hashed into the manifest, then the
folder is renamed: a killed writer leaves only a `.tmp` folder, which `latest` ignores and the
next `save` removes. `restore` refuses (`CheckpointError`, with what differs) a checkpoint whose
files do not match their checksums, written by other package versions, with other metadata, or
whose leaves do not match the template's paths, shapes and dtypes. Nothing is unpickled.

Typed PRNG keys are stored as their raw `key_data` and rewrapped with their implementation.

In a distributed run every process calls `save` with the same global arrays and orbax writes
each process's shards; process 0 alone makes the `.tmp` folder, writes the manifest and renames,
between barriers. `restore` reads whole arrays onto each process's first local device, so a
checkpoint restores onto any device or process count.
"""

import hashlib
import json
import os
import shutil
from importlib import metadata
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from experiments.run.devices import barrier, is_writer

FORMAT = 1
MANIFEST = "manifest.json"
PACKAGES = ("jax", "jaxlib", "flax", "optax", "orbax-checkpoint", "rlssm")


class CheckpointError(RuntimeError):
    """A checkpoint is missing, corrupted or incompatible; the message says what differs."""


def package_versions() -> dict[str, str]:
    """Installed versions of the packages whose changes can alter a restored state."""
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def step_dir(directory: Path, step: int) -> Path:
    """Folder of the checkpoint of `step`."""
    return Path(directory) / f"{step:09d}"


def available(directory: Path) -> list[Path]:
    """Checkpoints in `directory`, oldest first (unfinished `.tmp` folders are not listed).

    Raises:
        CheckpointError: a checkpoint folder has no manifest (it was damaged after writing).
    """
    directory = Path(directory)
    if not directory.is_dir():
        return []
    found = sorted((p for p in directory.iterdir() if p.name.isdigit()), key=lambda p: int(p.name))
    for path in found:
        if not (path / MANIFEST).is_file():
            raise CheckpointError(
                f"{path} has no {MANIFEST}: it is damaged; delete it to use an older checkpoint."
            )
    return found


def latest(directory: Path) -> Path | None:
    """The newest complete checkpoint in `directory`, or None."""
    found = available(directory)
    return found[-1] if found else None


def save(directory: Path, step: int, state: Any, meta: dict | None = None, keep: int = 0) -> Path:
    """Writes `state` as checkpoint `step` atomically; returns its folder.

    Args:
        directory: the checkpoints folder (created if needed).
        step: a non-negative counter naming the checkpoint (e.g. the update count).
        state: a pytree of arrays (typed PRNG keys allowed); static fields are not stored.
        meta: JSON-ready values that `restore` must find again (e.g. the config hash).
        keep: keep only the newest `keep` checkpoints afterwards (0: keep all).
    """
    import orbax.checkpoint as ocp

    directory = Path(directory)
    final = step_dir(directory, step)
    tmp = directory / f".{final.name}.tmp"
    writer = is_writer()
    if writer:
        directory.mkdir(parents=True, exist_ok=True)
        for stale in directory.glob(".*.tmp"):  # left by a writer that was killed
            shutil.rmtree(stale, ignore_errors=True)
        tmp.mkdir()
    barrier(f"checkpoint:{step}:tmp")
    leaves, described = _flatten(state)
    with ocp.StandardCheckpointer() as checkpointer:
        checkpointer.save((tmp / "state").absolute(), leaves)
        checkpointer.wait_until_finished()
    barrier(f"checkpoint:{step}:written")  # every process's shards are on disk
    if writer:
        _finalize(directory, tmp, final, step, described, meta, keep)
    barrier(f"checkpoint:{step}:final")
    return final


def _finalize(
    directory: Path, tmp: Path, final: Path, step: int, described: list, meta, keep: int
) -> None:
    """The manifest of the written `tmp` folder, then the rename to `final` (and pruning)."""
    manifest = {
        "format": FORMAT,
        "step": step,
        "leaves": described,
        "files": _hash_files(tmp),
        "versions": package_versions(),
        "meta": meta or {},
    }
    _write_json(tmp / MANIFEST, manifest)
    if final.exists():
        shutil.rmtree(final)
    os.replace(tmp, final)
    _fsync_dir(directory)
    if keep > 0:
        for old in available(directory)[:-keep]:
            shutil.rmtree(old)


def read_manifest(path: Path) -> dict:
    """The manifest of checkpoint folder `path`."""
    try:
        manifest = json.loads((Path(path) / MANIFEST).read_text())
    except FileNotFoundError:
        raise CheckpointError(f"{path}: no {MANIFEST}; not a complete checkpoint.") from None
    except json.JSONDecodeError as err:
        raise CheckpointError(f"{path}/{MANIFEST} is corrupted ({err}).") from None
    if manifest.get("format") != FORMAT:
        raise CheckpointError(
            f"{path}: checkpoint format {manifest.get('format')!r}, this version reads {FORMAT}."
        )
    return manifest


def verify(path: Path, meta: dict | None = None, check_versions: bool = True) -> dict:
    """Checks files, versions and metadata of checkpoint `path`; returns its manifest.

    Raises:
        CheckpointError: naming the first file, package or metadata entry that differs.
    """
    path = Path(path)
    manifest = read_manifest(path)
    actual = _hash_files(path)
    expected = manifest["files"]
    missing = sorted(set(expected) - set(actual))
    if missing:
        raise CheckpointError(f"{path} is corrupted: missing files {missing}.")
    extra = sorted(set(actual) - set(expected))
    if extra:
        raise CheckpointError(f"{path} is corrupted: unexpected files {extra}.")
    changed = sorted(name for name in expected if actual[name] != expected[name])
    if changed:
        raise CheckpointError(f"{path} is corrupted: checksum mismatch in {changed}.")
    if check_versions:
        _compare(path, "package versions", manifest["versions"], package_versions())
    if meta is not None:
        _compare(path, "metadata", manifest["meta"], json.loads(json.dumps(meta)))
    return manifest


def restore(path: Path, template: Any, meta: dict | None = None, check_versions: bool = True):
    """Restores checkpoint `path` into the structure of `template`, after `verify`.

    Args:
        path: a checkpoint folder (see `latest`).
        template: a pytree with the saved structure; leaves may be arrays or
            `jax.ShapeDtypeStruct` (e.g. from `jax.eval_shape`); static fields are kept.
        meta: metadata the checkpoint must have been saved with.
        check_versions: refuse a checkpoint written by other package versions.

    Raises:
        CheckpointError: the checkpoint is corrupted or does not fit `template`.
    """
    import orbax.checkpoint as ocp

    path = Path(path)
    manifest = verify(path, meta, check_versions)
    treedef = jax.tree.structure(template)
    _, described = _flatten(template)
    _compare_leaves(path, manifest["leaves"], described)
    sharding = jax.sharding.SingleDeviceSharding(jax.local_devices()[0])
    abstract = {
        _leaf_name(i): jax.ShapeDtypeStruct(tuple(d["shape"]), d["store_dtype"], sharding=sharding)
        for i, d in enumerate(described)
    }
    with ocp.StandardCheckpointer() as checkpointer:
        stored = checkpointer.restore((path / "state").absolute(), abstract)
    leaves = [_unwrap(stored[_leaf_name(i)], d) for i, d in enumerate(described)]
    return jax.tree.unflatten(treedef, leaves)


def describe(state: Any) -> list[dict]:
    """The manifest's description of every leaf of `state` (arrays or `jax.ShapeDtypeStruct`):
    path, shape, dtype as stored (`restore` requires path, shape and dtype to match)."""
    return _flatten(state)[1]


def _leaf_name(index: int) -> str:
    return f"{index:06d}"


def _flatten(state: Any) -> tuple[dict[str, Any], list[dict]]:
    """Leaves as `{"000000": array}` (keys as raw data) and their descriptions.

    Works on arrays and on `jax.ShapeDtypeStruct` leaves alike (a template from `eval_shape`).
    """
    with_paths, _ = jax.tree_util.tree_flatten_with_path(state)
    arrays, described = {}, []
    for i, (path, leaf) in enumerate(with_paths):
        is_key = jnp.issubdtype(leaf.dtype, jax.dtypes.prng_key)
        stored = leaf
        if is_key and isinstance(leaf, jax.ShapeDtypeStruct):
            stored = jax.eval_shape(jax.random.key_data, leaf)
        elif is_key:
            stored = jax.random.key_data(leaf)
        described.append(
            {
                "path": jax.tree_util.keystr(path),
                "shape": list(stored.shape),
                "dtype": str(leaf.dtype),
                "store_dtype": np.dtype(stored.dtype).name,
                "key_impl": str(leaf.dtype) if is_key else None,
            }
        )
        arrays[_leaf_name(i)] = stored
    return arrays, described


def _unwrap(stored: jax.Array, described: dict) -> jax.Array:
    if described["key_impl"] is None:
        return stored
    impl = _key_impl_name(described["key_impl"])
    return jax.random.wrap_key_data(stored, impl=impl)


def _key_impl_name(dtype: str) -> str:
    """Maps a key dtype (`key<fry>`) to the implementation name `wrap_key_data` accepts."""
    short = dtype.removeprefix("key<").removesuffix(">")
    return {"fry": "threefry2x32", "urbg": "unsafe_rbg"}.get(short, short)


def _compare_leaves(path: Path, saved: list[dict], expected: list[dict]) -> None:
    if len(saved) != len(expected):
        raise CheckpointError(
            f"{path} does not fit this config: {len(saved)} arrays saved, {len(expected)} expected."
        )
    for s, e in zip(saved, expected, strict=True):
        s_key = (s["path"], s["shape"], s["dtype"])
        e_key = (e["path"], e["shape"], e["dtype"])
        if s_key != e_key:
            raise CheckpointError(
                f"{path} does not fit this config: saved {s['path']} {s['dtype']}{s['shape']}, "
                f"expected {e['path']} {e['dtype']}{e['shape']}."
            )


def _compare(path: Path, what: str, saved: dict, current: dict) -> None:
    diffs = [
        f"{k}: saved {saved.get(k)!r}, now {current.get(k)!r}"
        for k in sorted(set(saved) | set(current))
        if saved.get(k) != current.get(k)
    ]
    if diffs:
        raise CheckpointError(f"{path} was written with other {what} ({'; '.join(diffs)}).")


def _hash_files(root: Path) -> dict[str, str]:
    """sha256 of every file under `root` except the manifest, by relative path."""
    hashes = {}
    for file in sorted(p for p in Path(root).rglob("*") if p.is_file()):
        name = file.relative_to(root).as_posix()
        if name != MANIFEST:
            hashes[name] = hashlib.sha256(file.read_bytes()).hexdigest()
    return hashes


def _write_json(path: Path, data: dict) -> None:
    with open(path, "w") as f:
        json.dump(data, f, indent=1)
        f.flush()
        os.fsync(f.fileno())


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
