"""LabyrinthEscape (POPGym): find the exit of a random maze, seeing only the 3x3 squares around.

Rules (as in popgym): each episode draws a perfect maze (see `envs.popgym.labyrinth`) with two
entrances on opposite sides of its border; the agent starts on one (START) and must reach the
other (GOAL). Each step it moves LEFT, RIGHT, UP or DOWN (into a wall: it stays put) and is charged
`1/T`, with `T` popgym's episode length; entering the goal adds `+1` and terminates the episode.
The episode is truncated after `T - 1` steps, so the return is `1 - n/T` when the goal is reached
after `n` steps and `-(T - 1)/T` otherwise, in [-1, 1].

Observation: float32 `[50]`, the one-hot codes of the 3x3 view (FREE, OBSTACLE, START, GOAL; with
popgym's shifted view on the first row or column) and the one-hot previous action (NONE after a
reset). Action: Discrete(4).

Difficulties as in POPGym: mazes of 10x10 (Easy), 14x14 (Medium) and 18x18 (Hard) squares, that is
5x5, 7x7 and 9x9 cells, and `T = 1024`.
"""

import functools
from collections.abc import Callable

import jax
import jax.numpy as jnp
from flax import struct

from envs.popgym import labyrinth


@struct.dataclass
class EnvState(labyrinth.MazeState):
    """LabyrinthEscape state: the maze, with the goal entrance open (see `MazeState`)."""


@struct.dataclass
class EnvParams(labyrinth.MazeParams):
    """LabyrinthEscape parameters (see `MazeParams`: the time limit also sets the step penalty)."""


class LabyrinthEscape(labyrinth.MazeEnv):
    """Escape a random maze; see the module docstring for the rules.

    Args:
        maze_dims: popgym's `(height, width)` of the maze in squares, both even.
    """

    goal_visible = True

    @property
    def default_params(self) -> EnvParams:
        return EnvParams()

    def reset_env(self, key: jax.Array, params: EnvParams) -> tuple[jax.Array, EnvState]:
        """Draws a maze and puts the agent on its start. Returns the float32 `[50]` observation."""
        fields = self.start_fields(key)
        state = EnvState(**fields)
        return self.get_obs(state), state

    def step_env(
        self, key: jax.Array, state: EnvState, action: jax.Array, params: EnvParams
    ) -> tuple[jax.Array, EnvState, jax.Array, jax.Array, dict]:
        """Moves the agent (action int `[]`); the goal pays `+1` and terminates the episode."""
        position = labyrinth.move(state.walls, state.position, action, self.grid_shape[1])
        at_goal = jnp.all(position == state.goal)
        reward = jnp.where(at_goal, 1.0, 0.0) - labyrinth.step_penalty(params)
        state = state.replace(
            time=state.time + 1, position=position, last_action=jnp.asarray(action, jnp.int32)
        )
        return self.get_obs(state), state, reward.astype(jnp.float32), at_goal, {}


def labyrinth_escape(
    maze_dims: tuple[int, int] = (10, 10), episode_length: int = 1024
) -> tuple[LabyrinthEscape, EnvParams]:
    """Builds LabyrinthEscape and its parameters.

    Args:
        maze_dims: popgym's `(height, width)` of the maze in squares, both even (at most 30 wide).
        episode_length: popgym's `T`: the step penalty is `1/T` and the episode is truncated after
            `T - 1` steps.

    Returns:
        `(env, params)`.
    """
    if episode_length < 2:
        raise ValueError(f"episode_length must be >= 2, got {episode_length}")
    env = LabyrinthEscape(maze_dims=maze_dims)
    return env, EnvParams(max_steps_in_episode=episode_length - 1)


ENTRIES: dict[str, Callable[..., tuple[LabyrinthEscape, EnvParams]]] = {
    "LabyrinthEscapeEasy": functools.partial(
        labyrinth_escape, maze_dims=(10, 10), episode_length=1024
    ),
    "LabyrinthEscapeMedium": functools.partial(
        labyrinth_escape, maze_dims=(14, 14), episode_length=1024
    ),
    "LabyrinthEscapeHard": functools.partial(
        labyrinth_escape, maze_dims=(18, 18), episode_length=1024
    ),
}
