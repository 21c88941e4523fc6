"""What the meta-RL wrappers share about Box spaces: the float32 bound and the 1-D check."""

from typing import Any

import numpy as np
from gymnax.environments import spaces

FLOAT_MAX = float(np.finfo(np.float32).max)


def require_flat_box(space: Any, what: str) -> spaces.Box:
    """Returns `space` if it is a 1-D Box, else raises a TypeError naming `what`."""
    if not isinstance(space, spaces.Box) or len(space.shape) != 1:
        raise TypeError(f"{what} must be a 1-D spaces.Box, got {space!r}.")
    return space
