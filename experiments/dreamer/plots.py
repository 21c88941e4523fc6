"""The model-based agent's own plots: its world model's open-loop imagination on image tasks.

`imagination.png`: replayed windows of seed 0, the real frames of their second half above the
frames the world model imagined from the first half and the recorded actions
(`agents.dreamer.diagnostics.open_loop`), drawn with the world models' frame strip. Only tasks
whose observations are images (the memory suite, MinAtar: flattened by the registry, their
frame shape read from the wrapped environment) get it.
"""

from pathlib import Path

import jax
import numpy as np

from agents.dreamer.diagnostics import OpenLoop
from experiments.world_model.plots import frame_strip


def frame_shape(env, params=None) -> tuple[int, int, int] | None:
    """`(h, w, channels)` of the images a (wrapped) environment observes, or None."""
    while env is not None:
        shape = getattr(env, "image_shape", None)
        if shape is None:
            space = env.observation_space(env.default_params if params is None else params)
            shape = space.shape if len(space.shape) == 3 else None
        if shape is not None:
            return tuple(int(n) for n in shape)
        env, params = getattr(env, "env", None), None
    return None


def as_rgb(frames: np.ndarray, shape: tuple[int, int, int]) -> np.ndarray:
    """`[..., h * w * c]` observations -> `[..., h, w, 3]` images (channels other than 3:
    their maximum, in grey)."""
    images = frames.reshape(*frames.shape[:-1], *shape).astype(np.float32)
    if shape[-1] != 3:
        images = np.repeat(images.max(-1, keepdims=True), 3, -1)
    return images


def imagination(result: OpenLoop, shape: tuple[int, int, int], path: Path, title: str) -> Path:
    """Draws `result` (`[T, shown, D]` windows) as real above imagined frame strips."""
    obs, imagined = np.asarray(jax.device_get(result.batch.obs)), np.asarray(result.imagined)
    c = result.context
    return frame_strip(
        as_rgb(obs[c:], shape),
        as_rgb(imagined, shape),
        as_rgb(obs[c - 1], shape),
        c,
        path,
        title=title,
    )
