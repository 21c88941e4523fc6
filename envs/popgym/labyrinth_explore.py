"""LabyrinthExplore (POPGym): visit every square of a random maze, seeing only the 3x3 around.

Rules (as in popgym): each episode draws a perfect maze (see `envs.popgym.labyrinth`); the agent
starts on an entrance of its border (START; the opposite entrance stays a wall here). Each step it
moves LEFT, RIGHT, UP or DOWN (into a wall: it stays put). Entering a square not visited before
pays `1/F`, with `F = 2hw - 1` the open squares inside the border (`h x w` cells and the passages
of their spanning tree); any other step is charged `1/T`, with `T` popgym's episode length. The
episode terminates once every open square is visited and is truncated after `T - 1` steps, so a
full exploration with `n` wasted steps returns `1 - n/T`, and every return lies in [-1, 1].

Observation: float32 `[50]`, the one-hot codes of the 3x3 view (FREE, OBSTACLE, START; with
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
    """LabyrinthExplore state (see `MazeState`).

    Attributes:
        visited: uint32 `[H]`, row bitmasks of the squares visited (the start included).
        num_visited: int32 `[]`, number of squares visited.
    """

    visited: jax.Array
    num_visited: jax.Array


@struct.dataclass
class EnvParams(labyrinth.MazeParams):
    """LabyrinthExplore parameters (see `MazeParams`: the time limit also sets the step penalty)."""


class LabyrinthExplore(labyrinth.MazeEnv):
    """Explore a random maze; see the module docstring for the rules.

    Args:
        maze_dims: popgym's `(height, width)` of the maze in squares, both even.
    """

    goal_visible = False

    @property
    def default_params(self) -> EnvParams:
        return EnvParams()

    def reset_env(self, key: jax.Array, params: EnvParams) -> tuple[jax.Array, EnvState]:
        """Draws a maze and puts the agent on its start. Returns the float32 `[50]` observation."""
        fields = self.start_fields(key)
        state = EnvState(
            **fields,
            visited=labyrinth.mark_square(jnp.zeros_like(fields["walls"]), fields["start"]),
            num_visited=jnp.int32(1),
        )
        return self.get_obs(state), state

    def step_env(
        self, key: jax.Array, state: EnvState, action: jax.Array, params: EnvParams
    ) -> tuple[jax.Array, EnvState, jax.Array, jax.Array, dict]:
        """Moves the agent (action int `[]`); a new square pays, any other step is charged."""
        position = labyrinth.move(state.walls, state.position, action, self.grid_shape[1])
        new_square = ~labyrinth.has_square(state.visited, position)
        reward = jnp.where(new_square, 1.0 / self.num_open_squares, -labyrinth.step_penalty(params))
        num_visited = state.num_visited + new_square.astype(jnp.int32)
        state = state.replace(
            time=state.time + 1,
            position=position,
            last_action=jnp.asarray(action, jnp.int32),
            visited=labyrinth.mark_square(state.visited, position),
            num_visited=num_visited,
        )
        # The open squares and the start: everything there is to visit.
        terminated = num_visited >= self.num_open_squares + 1
        return self.get_obs(state), state, reward.astype(jnp.float32), terminated, {}


def labyrinth_explore(
    maze_dims: tuple[int, int] = (10, 10), episode_length: int = 1024
) -> tuple[LabyrinthExplore, EnvParams]:
    """Builds LabyrinthExplore and its parameters.

    Args:
        maze_dims: popgym's `(height, width)` of the maze in squares, both even (at most 30 wide).
        episode_length: popgym's `T`: the step penalty is `1/T` and the episode is truncated after
            `T - 1` steps.

    Returns:
        `(env, params)`.
    """
    if episode_length < 2:
        raise ValueError(f"episode_length must be >= 2, got {episode_length}")
    env = LabyrinthExplore(maze_dims=maze_dims)
    return env, EnvParams(max_steps_in_episode=episode_length - 1)


ENTRIES: dict[str, Callable[..., tuple[LabyrinthExplore, EnvParams]]] = {
    "LabyrinthExploreEasy": functools.partial(
        labyrinth_explore, maze_dims=(10, 10), episode_length=1024
    ),
    "LabyrinthExploreMedium": functools.partial(
        labyrinth_explore, maze_dims=(14, 14), episode_length=1024
    ),
    "LabyrinthExploreHard": functools.partial(
        labyrinth_explore, maze_dims=(18, 18), episode_length=1024
    ),
}
