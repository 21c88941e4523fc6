"""Offline datasets of the memory benchmarks, played by their scripted policies.

`generate(name, num_episodes, length, key)` plays `num_episodes` rows of `length` records each
(one whole episode by default) under one `jax.jit` of a `jax.vmap` over rows, so the same key
always gives the same arrays; datasets can be made on the fly or kept with `save`/`load`.

Records follow the world models' time convention (`rlssm.world_models`): `action[t]` led to
`obs[t]`, `reward[t]`, `terminated[t]` and `truncated[t]` came with it, and `start[t]` says that
`obs[t]` opens an episode (its action, reward and flags are zero). An episode of `L` steps takes
`L + 1` records: its first observation, then one per step, the last showing the final observation.
A row longer than that goes on with the next episode. The memory benchmarks never terminate, so
every episode lasts `L = max_steps_in_episode` steps and a row's layout is fixed: episodes are
played with `step_env` (no auto-reset), each from its own key, and laid end to end.

Arrays, each leading with `[N, T]` (rows, records):
    obs: uint8 `[N, T, h, w, 3]`, the rendered images (`obs / 255` is the environment's
        observation);
    action: int32 `[N, T]`; reward: float32 `[N, T]`; terminated, truncated, start: bool `[N, T]`;
    phase: int32 `[N, T]`, the phase of `obs[t]` (`envs.memory.base.CONTEXT` or `QUERY`).

`save` writes a compressed `.npz` (no pickled objects) with a SHA-256 checksum of every array and
JSON metadata, and a SHA-256 of the whole file in the zip's comment; `load` checks the file's
checksum before unzipping anything (so a flipped byte reads as a checksum mismatch, not as a zip
error), then the arrays' checksum, the fields and their shapes before returning anything.
"""

from __future__ import annotations

import functools
import hashlib
import io
import json
import os
import zipfile
import zlib
from collections.abc import Mapping
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from envs.memory import policies
from envs.registry import make

FORMAT_VERSION = 1
FIELDS = ("obs", "action", "reward", "terminated", "truncated", "start", "phase")
_CHECKSUM, _METADATA = "checksum", "metadata"
_FILE_TAG = b"rlssm-sha256:"
"""The zip comment `save` writes: this tag, then the hex SHA-256 of the file without it."""
_END = b"PK\x05\x06"
"""Signature of the zip's end-of-central-directory record (22 bytes, then the comment)."""


class Record(NamedTuple):
    """One record of a row (see the module docstring for the time convention)."""

    obs: jax.Array
    action: jax.Array
    reward: jax.Array
    terminated: jax.Array
    truncated: jax.Array
    start: jax.Array
    phase: jax.Array


def to_uint8(obs: jax.Array) -> jax.Array:
    """An observation in [0, 1] (multiples of 1/255) as the uint8 image it was drawn from."""
    return jnp.round(obs * 255.0).astype(jnp.uint8)


def _episode(env, policy, params, num_steps: int, key: jax.Array) -> Record:
    """The first `num_steps + 1` records of one episode, `[num_steps + 1, ...]` leaves.

    Steps run `step_env` (no auto-reset): the memory benchmarks never terminate, so an episode
    lasts exactly `max_steps_in_episode` steps and `num_steps` never exceeds it.
    """
    keys = jax.random.split(key, (num_steps + 1, 2))
    obs, env_state = env.reset_env(keys[0, 0], params)
    policy_state = policy.init(keys[0, 1], env_state, params)

    def step(carry, keys):
        env_state, policy_state = carry
        key_act, key_step = keys[0], keys[1]
        policy_state, action = policy.act(key_act, policy_state, env_state, params)
        obs, env_state, reward, terminated, _ = env.step_env(key_step, env_state, action, params)
        record = Record(
            obs=to_uint8(obs),
            action=jnp.asarray(action, jnp.int32),
            reward=jnp.asarray(reward, jnp.float32),
            terminated=jnp.asarray(terminated, bool),
            truncated=jnp.asarray(env.is_truncated(env_state, params), bool),
            start=jnp.bool_(False),
            phase=env.phase(env_state, params),
        )
        return (env_state, policy_state), record

    first = Record(
        obs=to_uint8(obs),
        action=jnp.int32(0),
        reward=jnp.float32(0.0),
        terminated=jnp.bool_(False),
        truncated=jnp.bool_(False),
        start=jnp.bool_(True),
        phase=env.phase(env_state, params),
    )
    carry = (env_state, policy_state)
    _, steps = jax.lax.scan(step, carry, keys[1:])
    return jax.tree.map(lambda head, tail: jnp.concatenate([head[None], tail]), first, steps)


def _row(env, policy, params, length: int, key: jax.Array) -> Record:
    """One row of `length` records: whole episodes one after another, the last one cut."""
    episode_length = int(params.max_steps_in_episode)
    num_episodes = -(-length // (episode_length + 1))
    num_steps = episode_length if num_episodes > 1 else length - 1
    episodes = jax.vmap(functools.partial(_episode, env, policy, params, num_steps))(
        jax.random.split(key, num_episodes)
    )
    return jax.tree.map(lambda x: x.reshape(-1, *x.shape[2:])[:length], episodes)


@functools.cache
def _compiled_rows(
    name: str,
    env_options: tuple,
    policy_options: tuple,
    length: int | None,
    keys: jax.ShapeDtypeStruct,
    compiler_options: tuple,
):
    """The compiled `keys [N] -> Record of [N, T, ...]` of a task, built once per arguments."""
    env, params = make(name, flat_obs=False, **dict(env_options))
    policy = policies.policy_for(env, **dict(policy_options))
    length = int(params.max_steps_in_episode) + 1 if length is None else length

    def rows(keys: jax.Array) -> Record:
        return jax.vmap(functools.partial(_row, env, policy, params, length))(keys)

    return jax.jit(rows).lower(keys).compile(dict(compiler_options) or None)


def generate(
    name: str,
    num_episodes: int,
    length: int | None,
    key: jax.Array,
    policy_options: Mapping[str, Any] | None = None,
    compiler_options: Mapping[str, Any] | None = None,
    **env_options: Any,
) -> dict[str, jax.Array]:
    """Plays a memory benchmark with its scripted policy.

    Compiles once per task, options, length and number of rows; later calls reuse it.

    Args:
        name: a registered memory benchmark (`Memory/...`).
        num_episodes: `N`, rows (each starts with a new episode).
        length: `T`, records per row; None for one whole episode (`max_steps_in_episode + 1`).
        key: PRNG key; the same key gives the same arrays.
        policy_options: options of the scripted policy (see `envs.memory.policies`).
        compiler_options: XLA options for the compilation, e.g.
            `{"xla_backend_optimization_level": 0}` compiles about twice as fast (measured on a
            CPU) for small or one-off datasets, and runs slower.
        **env_options: options of the environment's factory (`context_length`, ...; observations
            are always images, so `flat_obs` is not accepted). Values must be hashable.

    Returns:
        The arrays of the module docstring, each `[N, T, ...]`.
    """
    if "flat_obs" in env_options:
        raise TypeError("datasets always hold images; do not pass flat_obs")
    if num_episodes < 1 or (length is not None and length < 1):
        raise ValueError(f"need num_episodes >= 1 and length >= 1, got {num_episodes}, {length}")
    keys = jax.random.split(key, num_episodes)
    rows = _compiled_rows(
        name,
        tuple(sorted(env_options.items())),
        tuple(sorted(dict(policy_options or {}).items())),
        length,
        jax.ShapeDtypeStruct(keys.shape, keys.dtype),
        tuple(sorted(dict(compiler_options or {}).items())),
    )
    return rows(keys)._asdict()


def _checksum(arrays: Mapping[str, np.ndarray]) -> str:
    """SHA-256 over every array's name, dtype, shape and bytes, in name order."""
    digest = hashlib.sha256()
    for name in sorted(arrays):
        array = np.ascontiguousarray(arrays[name])
        digest.update(f"{name}|{array.dtype.str}|{array.shape}|".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


def save(
    file: str | os.PathLike, data: Mapping[str, Any], metadata: Mapping[str, Any] | None = None
) -> None:
    """Writes a dataset as a compressed `.npz` with a checksum and JSON metadata.

    Args:
        file: where to write (numpy appends `.npz` when missing).
        data: the arrays `generate` returns.
        metadata: JSON-serialisable facts to keep with it (task name, options, key, ...).
    """
    arrays = {name: np.asarray(data[name]) for name in FIELDS}
    _check_shapes(arrays)
    header = {"format_version": FORMAT_VERSION, **dict(metadata or {})}
    buffer = io.BytesIO()
    np.savez_compressed(
        buffer,
        **arrays,
        **{_CHECKSUM: np.array(_checksum(arrays)), _METADATA: np.array(json.dumps(header))},
    )
    path = os.fspath(file)
    path = path if path.endswith(".npz") else path + ".npz"
    with open(path, "wb") as f:
        f.write(_signed(buffer.getvalue()))


def _signed(raw: bytes) -> bytes:
    """The zip `raw` (without a comment) with the SHA-256 of `raw` as its comment."""
    assert raw[-22:-18] == _END and raw[-2:] == b"\x00\x00", "expected a zip without comment"
    comment = _FILE_TAG + hashlib.sha256(raw).hexdigest().encode()
    return raw[:-2] + len(comment).to_bytes(2, "little") + comment


def _check_file(file: str | os.PathLike, raw: bytes) -> None:
    """Fails unless `raw`'s own SHA-256 (the comment `save` wrote) matches; files without that
    comment (written by other tools or older versions) are checked by their arrays only."""
    size = len(_FILE_TAG) + 64
    if len(raw) < 22 + size or not raw[-size:].startswith(_FILE_TAG):
        return
    unsigned = raw[: -size - 2] + b"\x00\x00"
    if hashlib.sha256(unsigned).hexdigest().encode() != raw[-64:]:
        raise ValueError(f"{file}: checksum mismatch, the file is corrupt or was altered")


def _check_shapes(arrays: Mapping[str, np.ndarray]) -> None:
    rows_steps = arrays["obs"].shape[:2]
    if arrays["obs"].ndim != 5 or arrays["obs"].dtype != np.uint8:
        raise ValueError(f"obs must be uint8 [N, T, h, w, 3], got {arrays['obs'].shape}")
    for name in FIELDS[1:]:
        if arrays[name].shape != rows_steps:
            raise ValueError(f"{name} has shape {arrays[name].shape}, expected {rows_steps}")


def load(file: str | os.PathLike) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Reads a dataset written by `save`, after checking it.

    Args:
        file: the `.npz` file.

    Returns:
        `(data, metadata)`: the arrays and the metadata given to `save` (with `format_version`).

    Raises:
        ValueError: a field is missing, the checksum does not match, the format version is
            unknown or the shapes disagree.
    """
    with open(file, "rb") as f:
        raw = f.read()
    _check_file(file, raw)  # before unzipping: a damaged file is a checksum mismatch
    try:
        with np.load(io.BytesIO(raw), allow_pickle=False) as archive:
            missing = sorted({*FIELDS, _CHECKSUM, _METADATA} - set(archive.files))
            if missing:
                raise ValueError(f"{file} is not a memory dataset: missing {missing}")
            arrays = {name: archive[name] for name in FIELDS}
            stored, header = str(archive[_CHECKSUM]), json.loads(str(archive[_METADATA]))
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as err:  # unsigned, damaged
        raise ValueError(
            f"{file}: checksum mismatch, the file is corrupt or was altered ({err})"
        ) from None
    if _checksum(arrays) != stored:
        raise ValueError(f"{file}: checksum mismatch, the data is corrupt or was altered")
    if header.get("format_version") != FORMAT_VERSION:
        raise ValueError(f"{file}: format version {header.get('format_version')} is unknown")
    _check_shapes(arrays)
    return arrays, header
