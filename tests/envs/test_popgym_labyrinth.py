"""LabyrinthEscape and LabyrinthExplore (envs/popgym/labyrinth*.py).

The rules are checked against hand-made mazes with hand-computed rewards and views, against a plain
numpy reading of popgym's rules (`Reference` below) on generated mazes, and, where an interpreter
with the original popgym package is found (`tests.envs.popgym_helpers.popgym_python`), against
popgym itself in a subprocess: popgym draws its mazes with mazelib, which the subprocess replaces
by a stub that hands popgym our mazes, so both implementations play the same mazes step by step.
"""

import functools
import json
from collections import deque

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from gymnax.environments import environment

from envs.popgym import labyrinth, labyrinth_escape, labyrinth_explore
from tests.envs.popgym_helpers import run_script

FREE, OBSTACLE, START, GOAL = labyrinth.FREE, labyrinth.OBSTACLE, labyrinth.START, labyrinth.GOAL
LEFT, RIGHT, UP, DOWN, NONE = (
    labyrinth.LEFT,
    labyrinth.RIGHT,
    labyrinth.UP,
    labyrinth.DOWN,
    labyrinth.NONE,
)
DELTAS = {LEFT: (0, -1), RIGHT: (0, 1), UP: (-1, 0), DOWN: (1, 0)}
T = 1024  # popgym's episode length for every difficulty
TASKS = {"escape": labyrinth_escape, "explore": labyrinth_explore}

# A 2x2-cell maze (maze_dims (4, 4)): start on the north side, goal on the south side.
SMALL_MAZE = (
    "#S###",
    "#...#",
    "###.#",
    "#...#",
    "#G###",
)


@functools.cache
def task(kind: str, maze_dims: tuple[int, int] = (10, 10)):
    """`(env, params, step_env)`, with `step_env` jitted for one environment; built once."""
    if kind == "escape":
        factory = labyrinth_escape.labyrinth_escape
    else:
        factory = labyrinth_explore.labyrinth_explore
    env, params = factory(maze_dims=maze_dims)
    return env, params, jax.jit(env.step_env)


def state_from_chars(kind: str, rows: tuple[str, ...]):
    """A reset state on a maze drawn with '#' walls, '.' free squares, 'S' start, 'G' goal."""
    chars = np.array([list(row) for row in rows])
    start = jnp.asarray(np.argwhere(chars == "S")[0], jnp.int32)
    goal = jnp.asarray(np.argwhere(chars == "G")[0], jnp.int32)
    blocked = (chars == "#") | ((chars == "G") & (kind == "explore"))
    walls = labyrinth.pack_rows(jnp.asarray(blocked))
    common = {"time": 0, "walls": walls, "position": start, "start": start, "goal": goal}
    common["last_action"] = jnp.int32(NONE)
    if kind == "escape":
        return labyrinth_escape.EnvState(**common)
    visited = labyrinth.mark_square(jnp.zeros_like(walls), start)
    return labyrinth_explore.EnvState(**common, visited=visited, num_visited=jnp.int32(1))


def decode(obs) -> tuple[np.ndarray, int]:
    """popgym's observation from ours: the nine view codes and the previous action."""
    obs = np.asarray(obs)
    return obs[:45].reshape(9, 5).argmax(axis=1), int(obs[45:].argmax())


@functools.partial(jax.jit, static_argnums=0)
def _scan_actions(env, params, state, actions):
    def body(state, action):
        obs, state, reward, terminated, _ = env.step_env(jax.random.key(0), state, action, params)
        return state, (obs, reward, terminated, env.is_truncated(state, params), state)

    return jax.lax.scan(body, state, actions)[1]


def play(kind, state, actions, maze_dims=(10, 10)):
    """Steps `step_env` through `actions` until the episode ends (one compiled scan).

    Returns:
        Lists of observations (the first one of `state`), rewards, termination and truncation
        flags, and the final state.
    """
    env, params, _ = task(kind, maze_dims)
    padded = np.zeros(T - 1, np.int32)  # one length: one compilation
    padded[: len(actions)] = actions
    obs, reward, terminated, truncated, states = _scan_actions(env, params, state, padded)
    ended = np.flatnonzero(np.asarray(terminated | truncated))
    steps = min(len(actions), ended[0] + 1 if ended.size else T - 1)
    final = jax.tree.map(lambda leaf: leaf[steps - 1], states)
    observations = [env.get_obs(state), *np.asarray(obs)[:steps]]
    rewards = np.asarray(reward)[:steps].tolist()
    return observations, rewards, np.asarray(terminated)[:steps].tolist(), final, truncated[:steps]


class Reference:
    """popgym's maze rules read plainly on a numpy grid (1 = wall), one episode."""

    def __init__(self, kind, blocked, start, goal, episode_length=T):
        self.kind, self.episode_length = kind, episode_length
        self.grid = blocked.astype(np.int64)
        self.grid[start] = START
        if kind == "escape":
            self.grid[goal] = GOAL
        self.position, self.time = start, 0
        self.explored = np.zeros_like(self.grid)
        self.explored[start] = 1
        self.free_squares = int((self.grid == FREE).sum())

    def obs(self, action):
        y, x = self.position
        view = self.grid[max(y - 1, 0) : y + 2, max(x - 1, 0) : x + 2]
        view = np.pad(view, [(0, 3 - view.shape[0]), (0, 3 - view.shape[1])], constant_values=1)
        return view.reshape(9), action

    def step(self, action):
        dy, dx = DELTAS[action]
        height, width = self.grid.shape
        target = (
            min(max(self.position[0] + dy, 0), height - 1),
            min(max(self.position[1] + dx, 0), width - 1),
        )
        if self.grid[target] == OBSTACLE:
            target = self.position
        new_square = self.explored[target] == 0
        self.position, self.time = target, self.time + 1
        self.explored[target] = 1
        reward, terminated = -1.0 / self.episode_length, False
        if self.kind == "escape" and self.grid[target] == GOAL:
            reward, terminated = reward + 1.0, True
        if self.kind == "explore":
            if new_square:
                reward = 1.0 / self.free_squares
            terminated = bool(np.all((self.grid != OBSTACLE) == (self.explored == 1)))
        truncated = self.time == self.episode_length - 1
        return self.obs(action), reward, terminated, truncated


def blocked_grid(state, width) -> np.ndarray:
    """The bool grid of obstacles of a state, entrances drawn as walls (as mazelib draws them)."""
    grid = np.array(labyrinth.unpack_rows(state.walls, width))
    grid[tuple(np.asarray(state.start))] = True
    grid[tuple(np.asarray(state.goal))] = True
    return grid


def reset_states(kind, num, maze_dims=(10, 10), seed=0):
    """`num` reset states (a list) drawn with the environment's own reset."""
    env, params, _ = task(kind, maze_dims)
    keys = jax.random.split(jax.random.key(seed), num)
    states = jax.device_get(jax.jit(jax.vmap(env.reset_env, (0, None)))(keys, params)[1])
    return [jax.tree.map(lambda leaf, i=i: leaf[i], states) for i in range(num)]


def neighbours(grid, square):
    """Open squares next to `square` in a bool obstacle grid."""
    for dy, dx in DELTAS.values():
        y, x = square[0] + dy, square[1] + dx
        if 0 <= y < grid.shape[0] and 0 <= x < grid.shape[1] and not grid[y, x]:
            yield (y, x)


def shortest_path(grid, start, goal) -> list[int]:
    """Actions of a shortest path (breadth-first search) on a bool obstacle grid."""
    parent = {start: None}
    queue = deque([start])
    while queue:
        square = queue.popleft()
        for nxt in neighbours(grid, square):
            if nxt not in parent:
                parent[nxt] = square
                queue.append(nxt)
    actions, square = [], goal
    while parent[square] is not None:
        previous = parent[square]
        delta = (square[0] - previous[0], square[1] - previous[1])
        actions.append(next(a for a, d in DELTAS.items() if d == delta))
        square = previous
    return actions[::-1]


class WallFollower:
    """Keeps its left hand on the wall, from observations only (the view and its own moves).

    It knows where it stands in the view: in the middle, except on the start square of a maze
    entered from the north (west), where popgym's view shows its own row (column) first. It knows
    when it is on the start square by counting its moves, which always succeed because it only
    moves into squares that it sees open.
    """

    def __init__(self, first_obs):
        self.left_of = {UP: LEFT, LEFT: DOWN, DOWN: RIGHT, RIGHT: UP}
        codes, _ = decode(first_obs)
        self.start_cell = tuple(int(i) for i in np.argwhere(codes.reshape(3, 3) == START)[0])
        self.offset, self.heading = (0, 0), None

    def act(self, obs):
        codes = decode(obs)[0].reshape(3, 3)
        y, x = self.start_cell if self.offset == (0, 0) else (1, 1)

        def is_open(action):
            dy, dx = DELTAS[action]
            inside = 0 <= y + dy < 3 and 0 <= x + dx < 3
            return inside and codes[y + dy, x + dx] != OBSTACLE

        if self.heading is None:
            self.heading = next(a for a in DELTAS if is_open(a))
        left = self.left_of[self.heading]
        back = self.left_of[left]
        right = self.left_of[back]
        action = next(a for a in (left, self.heading, right, back) if is_open(a))
        self.heading = action
        self.offset = (self.offset[0] + DELTAS[action][0], self.offset[1] + DELTAS[action][1])
        return action


def follow_walls(kind, state, maze_dims):
    """Plays one episode with the wall follower; returns its rewards and whether it ended."""
    env, params, step_env = task(kind, maze_dims)
    obs = env.get_obs(state)
    follower = WallFollower(obs)
    rewards, terminated = [], False
    while not terminated and len(rewards) < params.max_steps_in_episode:
        obs, state, reward, terminated, _ = step_env(
            jax.random.key(0), state, follower.act(obs), params
        )
        rewards.append(float(reward))
    return rewards, bool(terminated)


# ------------------------------------------------------------------------------------ tests


def test_entries_match_popgym_difficulties():
    sizes = {"Easy": (10, 10), "Medium": (14, 14), "Hard": (18, 18)}
    for kind, module in TASKS.items():
        prefix = "LabyrinthEscape" if kind == "escape" else "LabyrinthExplore"
        assert set(module.ENTRIES) == {prefix + level for level in sizes}
        for level, dims in sizes.items():
            env, params = module.ENTRIES[prefix + level]()
            assert env.maze_dims == dims
            assert env.grid_shape == (dims[0] + 1, dims[1] + 1)
            assert params.max_steps_in_episode == T - 1
            assert env.num_actions == 4
            assert env.observation_space(params).shape == (50,)


def test_factory_rejects_bad_dims():
    with pytest.raises(ValueError, match="even"):
        labyrinth_escape.labyrinth_escape(maze_dims=(9, 10))
    with pytest.raises(ValueError, match="at most"):
        labyrinth_explore.labyrinth_explore(maze_dims=(32, 32))


@pytest.mark.parametrize("maze_dims", [(4, 4), (10, 10), (18, 18), (6, 12)])
def test_generated_mazes_are_perfect(maze_dims):
    """Border walls, cells free, corners walls, `2hw - 1` open squares forming a tree that reaches
    every open square from the start, and entrances in front of cells on opposite sides."""
    h, w = maze_dims[0] // 2, maze_dims[1] // 2
    height, width = 2 * h + 1, 2 * w + 1
    keys = jax.random.split(jax.random.key(1), 64)
    walls, starts, goals = jax.jit(jax.vmap(lambda key: labyrinth.generate(key, h, w)))(keys)
    for rows, start, goal in zip(
        np.asarray(walls), np.asarray(starts), np.asarray(goals), strict=True
    ):
        grid = np.array(labyrinth.unpack_rows(jnp.asarray(rows), width))
        assert np.all(rows >> width == 0)
        assert grid[[0, -1], :].all() and grid[:, [0, -1]].all()
        assert not grid[1::2, 1::2].any() and grid[::2, ::2].all()
        assert (~grid).sum() == 2 * h * w - 1
        start, goal = tuple(int(i) for i in start), tuple(int(i) for i in goal)
        # North, south, west, east; the goal on the side opposite the start's.
        start_side = [start[0] == 0, start[0] == height - 1, start[1] == 0, start[1] == width - 1]
        goal_side = [goal[0] == height - 1, goal[0] == 0, goal[1] == width - 1, goal[1] == 0]
        assert sum(start_side) == 1 and start_side == goal_side
        # In front of a cell (odd along the side), never in a corner.
        assert (np.array(start) % 2).sum() == 1 and (np.array(goal) % 2).sum() == 1
        grid[start] = grid[goal] = False
        open_squares = {tuple(s) for s in np.argwhere(~grid)}
        edges = sum(len(list(neighbours(grid, s))) for s in open_squares) // 2
        assert edges == len(open_squares) - 1  # connected (below) with n - 1 edges: a tree
        reached, queue = {start}, deque([start])
        while queue:
            for nxt in neighbours(grid, queue.popleft()):
                if nxt not in reached:
                    reached.add(nxt)
                    queue.append(nxt)
        assert reached == open_squares


def test_orientations_and_entrance_sides_are_uniform():
    """The start side is uniform, and the sidewinder's straight corridor lands on every side."""
    keys = jax.random.split(jax.random.key(2), 800)
    walls, starts, _ = jax.jit(jax.vmap(lambda key: labyrinth.generate(key, 5, 5)))(keys)
    grids = np.array(jax.vmap(lambda rows: labyrinth.unpack_rows(rows, 11))(walls))
    corridor = {
        "N": ~grids[:, 1, 1:-1].any(axis=1),
        "S": ~grids[:, -2, 1:-1].any(axis=1),
        "W": ~grids[:, 1:-1, 1].any(axis=1),
        "E": ~grids[:, 1:-1, -2].any(axis=1),
    }
    assert np.all(np.any(np.stack(list(corridor.values())), axis=0))
    for on_side in corridor.values():
        assert 0.18 < on_side.mean() < 0.40
    starts = np.asarray(starts)
    for on_side in (starts[:, 0] == 0, starts[:, 0] == 10, starts[:, 1] == 0, starts[:, 1] == 10):
        assert 0.18 < on_side.mean() < 0.32


@pytest.mark.parametrize("kind", list(TASKS))
def test_jit_vmap_spaces_time_limit_and_auto_reset(kind):
    """Spaces and dtypes under jit and vmap, truncation at the time limit, auto-reset, and
    `MazeEnv.step` (which observes the state after the reset's select) equal to gymnax's
    `Environment.step`."""
    env, params, _ = task(kind)
    params = params.replace(max_steps_in_episode=5)
    keys = jax.random.split(jax.random.key(3), 8)
    obs, state = jax.jit(jax.vmap(env.reset, (0, None)))(keys, params)
    again, _ = jax.jit(jax.vmap(env.reset, (0, None)))(keys, params)
    np.testing.assert_array_equal(obs, again)
    step = jax.jit(jax.vmap(env.step, (0, 0, 0, None)))
    base = jax.jit(
        jax.vmap(lambda *args: environment.Environment.step(env, *args), (0, 0, 0, None))
    )
    space = env.observation_space(params)
    for t in range(10):
        assert obs.shape == (8, *space.shape) and obs.dtype == space.dtype == jnp.float32
        assert bool(space.contains(obs))
        np.testing.assert_array_equal(np.asarray(obs).reshape(8, 10, 5).sum(-1), 1.0)
        keys = jax.random.split(jax.random.key(t), 8)
        action = jnp.full((8,), UP if t % 2 else DOWN)
        result = step(keys, state, action, params)
        jax.tree.map(np.testing.assert_array_equal, result, base(keys, state, action, params))
        obs, state, reward, terminated, truncated, info = result
        assert reward.dtype == jnp.float32 and terminated.dtype == jnp.bool_
        assert bool(np.all(np.asarray(truncated) == (t % 5 == 4)))
        assert not np.asarray(terminated).any()
        if t == 4:  # the new episodes show NONE as previous action, the final ones the last move
            assert np.all(np.asarray(obs)[:, 45 + NONE] == 1.0)
            assert np.all(np.asarray(info["final_observation"])[:, 45 + DOWN] == 1.0)
            assert np.all(np.asarray(state.time) == 0)


def test_escape_hand_made_rules():
    state = state_from_chars("escape", SMALL_MAZE)
    path = [DOWN, RIGHT, RIGHT, DOWN, DOWN, LEFT, LEFT, DOWN]
    # Two bumps first: out of the grid (clipped, stays) and into a border wall.
    actions = [UP, LEFT, *path]
    observations, rewards, terminations, final, _ = play("escape", state, actions, (4, 4))
    np.testing.assert_allclose(rewards[:-1], -1 / T)
    np.testing.assert_allclose(rewards[-1], 1 - 1 / T)
    assert terminations == [False] * 9 + [True]
    np.testing.assert_allclose(sum(rewards), 1 - 10 / T, rtol=1e-6)
    assert tuple(np.asarray(final.position)) == (4, 1)
    # Views: on the north start popgym shows the own row first; elsewhere the view is centred.
    on_start = [1, START, 1, 1, FREE, FREE, 1, 1, 1]
    for t in (0, 1, 2):
        np.testing.assert_array_equal(decode(observations[t])[0], on_start)
    assert [decode(o)[1] for o in observations] == [NONE, *actions]
    before_goal = [1, 1, 1, 1, FREE, FREE, 1, GOAL, 1]
    np.testing.assert_array_equal(decode(observations[-2])[0], before_goal)
    on_goal = [1, FREE, FREE, 1, GOAL, 1, 1, 1, 1]  # the south border: centred, walls past it
    np.testing.assert_array_equal(decode(observations[-1])[0], on_goal)


def test_explore_hand_made_rules():
    state = state_from_chars("explore", SMALL_MAZE)
    # F = 7 open squares. Charged: the step back onto the start, onto a visited square, and a
    # bump into a wall; the seventh new square ends the exploration.
    actions = [DOWN, UP, DOWN, RIGHT, RIGHT, DOWN, DOWN, DOWN, LEFT, LEFT]
    observations, rewards, terminations, final, _ = play("explore", state, actions, (4, 4))
    new, wasted = 1 / 7, -1 / T
    expected = [new, wasted, wasted, new, new, new, new, wasted, new, new]
    np.testing.assert_allclose(rewards, expected, rtol=1e-6)
    assert terminations == [False] * 9 + [True]
    assert int(final.num_visited) == 8
    np.testing.assert_allclose(sum(rewards), 1 - 3 / T, rtol=1e-5)
    below_goal = [1, 1, 1, 1, FREE, FREE, 1, 1, 1]  # at (3, 1): the goal shows as a wall
    np.testing.assert_array_equal(decode(observations[-1])[0], below_goal)
    # The goal entrance stays closed: stepping into it from (3, 1) is a charged bump.
    square = jnp.asarray([3, 1], jnp.int32)
    visited = labyrinth.mark_square(state.visited, square)
    state = state.replace(position=square, visited=visited, num_visited=jnp.int32(2))
    _, rewards, terminations, final, _ = play("explore", state, [DOWN], (4, 4))
    assert rewards == [pytest.approx(wasted)] and terminations == [False]
    assert tuple(np.asarray(final.position)) == (3, 1)


def test_view_on_a_west_entrance_shows_the_own_column_first():
    transposed = tuple("".join(column) for column in zip(*SMALL_MAZE, strict=True))
    state = state_from_chars("escape", transposed)
    assert tuple(np.asarray(state.start)) == (1, 0)
    codes, action = decode(task("escape", (4, 4))[0].get_obs(state))
    np.testing.assert_array_equal(codes, [1, 1, 1, START, FREE, 1, 1, FREE, 1])
    assert action == NONE


@pytest.mark.parametrize("kind", list(TASKS))
def test_matches_numpy_reference_on_random_walks(kind):
    """Observations, rewards and ends agree with `Reference` step by step on generated mazes."""
    rng = np.random.default_rng(4)
    for state in reset_states(kind, 4, seed=5):
        start, goal = tuple(np.asarray(state.start)), tuple(np.asarray(state.goal))
        reference = Reference(kind, blocked_grid(state, 11), start, goal)
        actions = rng.integers(4, size=T - 1)
        observations, rewards, terminations, _, truncations = play(kind, state, actions)
        codes, action = decode(observations[0])
        np.testing.assert_array_equal(codes, reference.obs(NONE)[0])
        assert action == NONE
        for t, action in enumerate(actions[: len(rewards)]):
            (codes, _), reward, terminated, truncated = reference.step(int(action))
            np.testing.assert_array_equal(decode(observations[t + 1])[0], codes)
            assert rewards[t] == pytest.approx(reward, rel=1e-6)
            assert (terminations[t], bool(truncations[t])) == (terminated, truncated)
        assert terminated or truncated


@pytest.mark.parametrize("maze_dims", [(10, 10), (14, 14), (18, 18)])
def test_escape_oracles(maze_dims):
    """A shortest path earns the best return `1 - d/T`; the observation-only wall follower
    always escapes, with return `1 - n/T` after its `n` steps."""
    for state in reset_states("escape", 3, maze_dims, seed=6):
        grid = np.array(labyrinth.unpack_rows(state.walls, maze_dims[1] + 1))
        start, goal = tuple(np.asarray(state.start)), tuple(np.asarray(state.goal))
        path = shortest_path(grid, start, goal)
        _, rewards, terminations, _, _ = play("escape", state, path, maze_dims)
        assert terminations[-1] and len(rewards) == len(path)
        np.testing.assert_allclose(sum(rewards), 1 - len(path) / T, rtol=1e-5)
        rewards, terminated = follow_walls("escape", state, maze_dims)
        assert terminated and len(rewards) >= len(path)
        np.testing.assert_allclose(sum(rewards), 1 - len(rewards) / T, rtol=1e-5)


@pytest.mark.parametrize("maze_dims", [(10, 10), (18, 18)])
def test_explore_wall_follower_visits_every_square(maze_dims):
    """The wall follower walks the maze's tree depth first: it visits all `F` open squares and
    returns `1 - (n - F)/T` after `n` steps, at most `2F` of them."""
    env = task("explore", maze_dims)[0]
    free = env.num_open_squares
    for state in reset_states("explore", 3, maze_dims, seed=7):
        rewards, terminated = follow_walls("explore", state, maze_dims)
        assert terminated and free <= len(rewards) <= 2 * free
        assert sum(r > 0 for r in rewards) == free
        np.testing.assert_allclose(sum(rewards), 1 - (len(rewards) - free) / T, rtol=1e-5)


@functools.partial(jax.jit, static_argnums=(0, 2, 3))
def random_returns(env, params, num_episodes, num_steps, key):
    """Returns `[E]` of whole episodes with uniformly random actions (no auto-reset)."""
    reset_key, key = jax.random.split(key)
    _, states = jax.vmap(env.reset_env, (0, None))(
        jax.random.split(reset_key, num_episodes), params
    )

    def body(carry, key):
        states, total, done = carry
        actions = jax.random.randint(key, (num_episodes,), 0, 4)
        _, states, reward, terminated, _ = jax.vmap(env.step_env, (None, 0, 0, None))(
            key, states, actions, params
        )
        total = total + jnp.where(done, 0.0, reward)
        done = done | terminated | (states.time >= params.max_steps_in_episode)
        return (states, total, done), None

    init = (states, jnp.zeros(num_episodes), jnp.zeros(num_episodes, bool))
    keys = jax.random.split(key, num_steps)
    (states, total, _), _ = jax.lax.scan(body, init, keys)
    return total, states


@pytest.mark.parametrize("kind", list(TASKS))
def test_random_policy_returns(kind):
    """Random-walk returns lie in [-1, 1] and agree with `Reference` walks on the same mazes."""
    env, params, _ = task(kind)
    returns, _ = random_returns(env, params, 64, T - 1, jax.random.key(8))
    returns = np.asarray(returns)
    assert np.all(returns >= -1.0) and np.all(returns <= 1.0)
    actions = np.random.default_rng(9).integers(4, size=(64, T - 1)).tolist()
    reference_returns = []
    for state, episode_actions in zip(reset_states(kind, 64, seed=10), actions, strict=True):
        start, goal = tuple(np.asarray(state.start)), tuple(np.asarray(state.goal))
        reference = Reference(kind, blocked_grid(state, 11), start, goal)
        total = 0.0
        for action in episode_actions:
            _, reward, terminated, truncated = reference.step(action)
            total += reward
            if terminated or truncated:
                break
        reference_returns.append(total)
    reference_returns = np.asarray(reference_returns)
    tolerance = 5 * np.sqrt(returns.var() / returns.size + reference_returns.var() / 64)
    assert abs(returns.mean() - reference_returns.mean()) < tolerance
    if kind == "escape":  # the exit is found or the walk is truncated after T - 1 steps
        failed = np.isclose(returns, -(T - 1) / T)
        assert 0.05 < 1 - failed.mean() < 0.95
    else:  # the walk visits some new squares
        assert np.all(returns > -(T - 1) / T)


REFERENCE_SOURCE = r"""
import importlib.machinery, json, sys, types
import numpy as np

# popgym draws mazes with mazelib; this stub hands it the mazes (and entrances) given on stdin.
queue = []

class Maze:
    def __init__(self):
        self.generator = self.grid = self.start = self.end = None

    def generate(self):
        grid, self.entrances = queue.pop(0)
        self.grid = np.array(grid, dtype=np.int8)

    def generate_entrances(self, start_outer=True, end_outer=True):
        self.start, self.end = self.entrances

class HuntAndKill:
    def __init__(self, height, width):
        self.height, self.width = height, width

modules = {name: types.ModuleType(name) for name in
           ("mazelib", "mazelib.generate", "mazelib.generate.HuntAndKill")}
for name, module in modules.items():
    module.__spec__ = importlib.machinery.ModuleSpec(name, None)
modules["mazelib"].Maze = Maze
modules["mazelib.generate.HuntAndKill"].HuntAndKill = HuntAndKill
sys.modules.update(modules)

from popgym.envs.labyrinth_escape import LabyrinthEscape
from popgym.envs.labyrinth_explore import LabyrinthExplore

records = []
for episode in json.loads(sys.stdin.read()):
    cls = LabyrinthEscape if episode["kind"] == "escape" else LabyrinthExplore
    env = cls(maze_dims=tuple(episode["maze_dims"]), episode_length=1024)
    queue.append((episode["grid"], (tuple(episode["start"]), tuple(episode["goal"]))))
    obs, _ = env.reset()
    record = {"obs": [obs.tolist()], "reward": [], "terminated": [], "truncated": []}
    for action in episode["actions"]:
        obs, reward, terminated, truncated, _ = env.step(action)
        record["obs"].append(obs.tolist())
        record["reward"].append(float(reward))
        record["terminated"].append(bool(terminated))
        record["truncated"].append(bool(truncated))
        if terminated or truncated:
            break
    records.append(record)
print(json.dumps(records))
"""


def run_popgym(episodes):
    """Plays `episodes` (dicts of kind, maze_dims, grid, start, goal, actions) in popgym."""
    return run_script(REFERENCE_SOURCE, stdin=json.dumps(episodes))


@pytest.mark.parametrize("kind", list(TASKS))
def test_matches_popgym_on_the_same_mazes(kind):
    rng = np.random.default_rng(11)
    episodes, ours = [], []
    for maze_dims, seed in (((10, 10), 12), ((18, 18), 13)):
        width = maze_dims[1] + 1
        for state in reset_states(kind, 3, maze_dims, seed):
            actions = [int(a) for a in rng.integers(4, size=T - 1)]
            grid = blocked_grid(state, width).astype(int).tolist()
            start, goal = [int(i) for i in state.start], [int(i) for i in state.goal]
            episode = {"kind": kind, "maze_dims": maze_dims, "grid": grid, "actions": actions}
            episodes.append({**episode, "start": start, "goal": goal})
            ours.append(play(kind, state, actions, maze_dims))
    for record, (observations, rewards, terminations, _, _) in zip(
        run_popgym(episodes), ours, strict=True
    ):
        theirs = [(list(obs[:9]), obs[9]) for obs in record["obs"]]
        assert [(list(c), a) for c, a in map(decode, observations)] == theirs
        np.testing.assert_allclose(rewards, record["reward"], rtol=1e-6)
        assert terminations == record["terminated"]
