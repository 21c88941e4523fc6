"""Datasets of the world-model command line: generated once per settings, cached with a checksum.

A dataset is `envs.memory.dataset.generate(task, train + eval episodes, one whole episode per row,
key)`: rows `[0, train)` train the model, rows `[train, train + eval)` evaluate it. The key is
`jax.random.key(data_seed)`, so the same settings always give the same arrays. The file
`<folder>/<task>-c<context>-q<query>-t<tile>-n<rows>-seed<seed>.npz` is written by
`envs.memory.dataset.save` (SHA-256 of every array, JSON metadata) and read back by `load`, which
checks the checksum; the metadata must also match the settings, else the file is refused.
The file keeps the agent's actions; the splits hold what a world model reads
(`MemoryEnv.model_actions`: on teleport tasks the teleport is an action id of its own).
"""

import dataclasses
import os
from pathlib import Path

import jax
import numpy as np

from envs.memory import dataset
from envs.registry import make


class DatasetError(RuntimeError):
    """A cached dataset does not match the settings it is read for."""


@dataclasses.dataclass(frozen=True)
class DataSpec:
    """What a dataset is made of."""

    task: str
    """A memory benchmark (`Memory/...`)."""
    context_length: int
    """Steps of the context phase."""
    query_length: int
    """Steps of the query phase."""
    tile_size: int
    """Pixels per tile side (2: 16x16 images, 4: 32x32)."""
    train_episodes: int
    """Episodes to train on."""
    eval_episodes: int
    """Held-out episodes to evaluate on."""
    data_seed: int
    """Seed of the generation key."""

    @property
    def env_options(self) -> dict[str, int]:
        """Options of the task's factory."""
        return {
            "context_length": self.context_length,
            "query_length": self.query_length,
            "tile_size": self.tile_size,
        }

    @property
    def rows(self) -> int:
        """Episodes generated in all."""
        return self.train_episodes + self.eval_episodes

    @property
    def file_name(self) -> str:
        """Name of the cache file."""
        task = self.task.replace("/", "-")
        return (
            f"{task}-c{self.context_length}-q{self.query_length}-t{self.tile_size}"
            f"-n{self.rows}-seed{self.data_seed}.npz"
        )

    @property
    def metadata(self) -> dict:
        """What the cache file must record."""
        return {"task": self.task, **self.env_options, "rows": self.rows, "seed": self.data_seed}


@dataclasses.dataclass(frozen=True)
class Splits:
    """Training and evaluation episodes (`[E, T, ...]` numpy arrays) and their provenance."""

    train: dict[str, np.ndarray]
    eval: dict[str, np.ndarray]
    path: Path
    """The cache file."""
    generated: bool
    """Whether this call generated it (else it was read from the cache)."""

    @property
    def reward_values(self) -> np.ndarray:
        """`[K]` sorted distinct rewards of the training episodes, zero included."""
        return np.union1d(np.unique(self.train["reward"]), [0.0]).astype(np.float32)


def generate(spec: DataSpec) -> dict[str, np.ndarray]:
    """Plays `spec.rows` episodes with the task's scripted policy (see `envs.memory.dataset`)."""
    data = dataset.generate(
        spec.task, spec.rows, None, jax.random.key(spec.data_seed), **spec.env_options
    )
    return {name: np.asarray(value) for name, value in data.items()}


def load_or_generate(spec: DataSpec, folder: Path) -> Splits:
    """The dataset of `spec`, read from `folder` if cached there, else generated and saved;
    its actions are the ones a world model reads (`MemoryEnv.model_actions`).

    Raises:
        DatasetError: the cached file was made with other settings.
        ValueError: the cached file is corrupt (from `envs.memory.dataset.load`).
    """
    folder = Path(folder)
    path = folder / spec.file_name
    if path.exists():
        data, metadata = dataset.load(path)
        stored = {key: metadata.get(key) for key in spec.metadata}
        if stored != spec.metadata:
            raise DatasetError(f"{path} was made with {stored}, expected {spec.metadata}.")
        generated = False
    else:
        data = generate(spec)
        folder.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp.npz")  # processes may race
        dataset.save(tmp, data, spec.metadata)
        tmp.replace(path)
        generated = True
    env, _ = make(spec.task, **spec.env_options)
    data = {**data, "action": env.model_actions(data["action"], data["phase"])}
    train = {name: array[: spec.train_episodes] for name, array in data.items()}
    held_out = {name: array[spec.train_episodes :] for name, array in data.items()}
    return Splits(train, held_out, path, generated)
