"""Scripted policies that play the memory benchmarks to make offline datasets.

They read the environment's state (they are data generators, not agents), are pure and jittable,
and share one interface: `init(key, env_state, params) -> policy_state` at an episode's first
observation, and `act(key, policy_state, env_state, params) -> (policy_state, action)` for each
step. Each takes a random action instead of its own with probability `random_action_prob`, so
that datasets also show walls blocking and other small surprises.

- `RoomsPolicy`: explores during the context phase (targets on random floor cells, a few per
  room, room after room along a tour that visits every room, then round again) and revisits
  during the query phase (targets on random cells of rooms visited before).
- `RewardCuePolicy`: walks at random during the context phase; during the query phase alternates
  between a goal (the cue's with probability `p_correct`, else a uniformly drawn one) and a random
  floor cell, so both rewards occur.
- `KeysDoorsPolicy`: during the context phase collects a random subset of the keys (each key
  wanted with probability `p_key`; random actions never pick up), wandering in between; during
  the query phase tries the doors one after another in a random order, again and again.

`policy_for(env)` picks the policy of an environment.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from envs.memory import base, grid, keys_doors, reward_cue, rooms


def _toward(position: jax.Array, waypoint: jax.Array, period: int) -> jax.Array:
    """The move towards a waypoint across one room's floor (convex: any shortest path works).

    A waypoint in a wall between rooms side by side is approached level with it first, one in a
    wall between rooms one above the other from straight below or above it.
    """
    delta = waypoint - position
    vertical = jnp.where(delta[0] > 0, grid.DOWN, grid.UP)
    horizontal = jnp.where(delta[1] > 0, grid.RIGHT, grid.LEFT)
    rows_first = waypoint[1] % period == 0
    return jnp.where(
        rows_first,
        jnp.where(delta[0] != 0, vertical, horizontal),
        jnp.where(delta[1] != 0, horizontal, vertical),
    )


def _out_of_wall(position: jax.Array, target: jax.Array, bound: int, axis: int) -> jax.Array:
    """The move out of a wall cell along `axis` (0: rows), towards the target's side.

    Level with the target, it steps away from the map's border (`bound` is the last index).
    """
    forward, backward = (grid.DOWN, grid.UP) if axis == 0 else (grid.RIGHT, grid.LEFT)
    here, there = position[axis], target[axis]
    level = jnp.where(here == bound, backward, forward)
    return jnp.where(there > here, forward, jnp.where(there < here, backward, level))


def navigate(
    layout: grid.Layout, doorways: jax.Array, position: jax.Array, target: jax.Array
) -> jax.Array:
    """The next move of a path to a target through the rooms' doorways.

    Rooms are left towards the target room's column first, then its row, through the doorway of
    the shared wall (every shared wall has one, so the path always exists); within a room the
    path is a shortest one.

    Args:
        layout: the world's rooms.
        doorways: int32 `[E, 2]`, the doorway cells.
        position: int32 `[2]`, the agent's cell.
        target: int32 `[2]`, a floor cell, or a cell in the wall of the agent's room.

    Returns:
        int32 `[]`, the action.
    """
    height, width = layout.shape
    room, goal = layout.room_at(position), layout.room_at(target)
    waypoint = target
    if doorways.shape[0]:
        rows = jnp.stack([room, goal]) // layout.cols
        cols = jnp.stack([room, goal]) % layout.cols
        direction = jnp.where(
            cols[1] > cols[0],
            grid.RIGHT,
            jnp.where(
                cols[1] < cols[0], grid.LEFT, jnp.where(rows[1] > rows[0], grid.DOWN, grid.UP)
            ),
        )
        edge = jnp.asarray(layout.neighbour_doorway)[room, direction]
        waypoint = jnp.where(room == goal, target, doorways[jnp.maximum(edge, 0)])
    in_column_wall = position[1] % layout.period == 0
    in_row_wall = position[0] % layout.period == 0
    action = jnp.where(
        in_column_wall,
        _out_of_wall(position, target, width - 1, axis=1),
        jnp.where(
            in_row_wall,
            _out_of_wall(position, target, height - 1, axis=0),
            _toward(position, waypoint, layout.period),
        ),
    )
    return action.astype(jnp.int32)


def with_random_actions(words: jax.Array, action: jax.Array, probability: float) -> jax.Array:
    """Replaces the action by a uniformly drawn move with the given probability (words `[2]`)."""
    random_action = grid.below(words[1], grid.NUM_ACTIONS)
    return jnp.where(grid.coin(words[0], probability), random_action, action)


def tour(layout: grid.Layout) -> np.ndarray:
    """int32 `[R]`: the rooms in snake order (row by row, alternating direction).

    Consecutive rooms are neighbours; on two rows the last room neighbours the first, so the
    tour is a cycle.
    """
    order = [
        i * layout.cols + (j if i % 2 == 0 else layout.cols - 1 - j)
        for i in range(layout.rows)
        for j in range(layout.cols)
    ]
    return np.array(order, np.int32)


# ------------------------------------------------------------------------------------- rooms


class RoomsState(NamedTuple):
    """`RoomsPolicy` state.

    Attributes:
        target: int32 `[2]`, the cell walked to.
        count: int32 `[]`, targets reached so far.
        tour_start: int32 `[]`, the start room's place in the tour.
    """

    target: jax.Array
    count: jax.Array
    tour_start: jax.Array


class RoomsPolicy:
    """Explores during the context phase and revisits during the query phase.

    Args:
        env: the rooms environment.
        targets_per_room: floor cells visited in a room before the tour moves on.
        random_action_prob: probability of a random action instead of the scripted one.
    """

    def __init__(
        self, env: rooms.Rooms, targets_per_room: int = 3, random_action_prob: float = 0.1
    ):
        self.layout = env.layout
        self.env = env
        self.targets_per_room = targets_per_room
        self.random_action_prob = random_action_prob

    def _random_cell(self, word: jax.Array, room: jax.Array) -> jax.Array:
        return self.layout.floor_cell(room, grid.below(word, self.layout.room_size**2))

    def explore_target(self, word: jax.Array, count: jax.Array, tour_start: jax.Array):
        """Target number `count` of the exploration: a random cell of the tour's room."""
        place = (tour_start + count // self.targets_per_room) % self.layout.num_rooms
        return self._random_cell(word, jnp.asarray(tour(self.layout))[place])

    def revisit_target(self, words: jax.Array, visited: jax.Array) -> jax.Array:
        """A random cell of a room drawn uniformly among the visited ones (bool `[R]`).

        Args:
            words: uint32 `[R + 1]`, random words.
            visited: bool `[R]`, the rooms visited.
        """
        room = grid.uniform_among(words[:-1], visited)
        return self._random_cell(words[-1], room)

    def init(self, key: jax.Array, env_state: rooms.EnvState, params: Any) -> RoomsState:
        """Starts the tour at the agent's room."""
        tour_start = jnp.argmax(jnp.asarray(tour(self.layout)) == env_state.room)
        tour_start = tour_start.astype(jnp.int32)
        target = self.explore_target(grid.random_words(key, 1)[0], 0, tour_start)
        return RoomsState(target, jnp.int32(0), tour_start)

    def act(
        self, key: jax.Array, policy_state: RoomsState, env_state: rooms.EnvState, params: Any
    ) -> tuple[RoomsState, jax.Array]:
        """Walks to the target, choosing the next one (by phase) once it is reached."""
        explore_words, revisit_words, noise_words = grid.word_chunks(
            key, 1, self.layout.num_rooms + 1, 2
        )
        reached = jnp.all(env_state.position == policy_state.target)
        count = policy_state.count + reached.astype(jnp.int32)
        query = self.env.phase(env_state, params) == base.QUERY
        new_target = jnp.where(
            query,
            self.revisit_target(revisit_words, env_state.visited),
            self.explore_target(explore_words[0], count, policy_state.tour_start),
        )
        target = jnp.where(reached, new_target, policy_state.target)
        action = navigate(self.layout, env_state.doorways, env_state.position, target)
        action = with_random_actions(noise_words, action, self.random_action_prob)
        return policy_state._replace(target=target, count=count), action


# -------------------------------------------------------------------------------- reward cue


class RewardCueState(NamedTuple):
    """`RewardCuePolicy` state.

    Attributes:
        target: int32 `[2]`, the cell walked to in the query phase.
    """

    target: jax.Array


class RewardCuePolicy:
    """Random walk, then goals (the right one with probability `p_correct`) and random cells.

    Args:
        env: the RewardCue environment.
        p_correct: probability that a goal target is the cue's goal (else uniform over goals).
        random_action_prob: probability of a random action instead of the scripted one.
    """

    def __init__(
        self, env: reward_cue.RewardCue, p_correct: float = 0.5, random_action_prob: float = 0.1
    ):
        self.env = env
        self.layout = env.layout
        self.p_correct = p_correct
        self.random_action_prob = random_action_prob

    def init(self, key: jax.Array, env_state: reward_cue.EnvState, params: Any) -> RewardCueState:
        return RewardCueState(target=env_state.position)

    def goal_target(self, words: jax.Array, env_state: reward_cue.EnvState) -> jax.Array:
        """The cue's goal with probability `p_correct`, else a uniform goal (words `[2]`)."""
        correct = jnp.argmax(env_state.goal_colours == env_state.cue)
        other = grid.below(words[1], self.env.num_cues)
        goal = jnp.where(grid.coin(words[0], self.p_correct), correct, other)
        return jnp.asarray(self.env.goal_cells)[goal]

    def act(
        self,
        key: jax.Array,
        policy_state: RewardCueState,
        env_state: reward_cue.EnvState,
        params: Any,
    ) -> tuple[RewardCueState, jax.Array]:
        """Random actions in the context; in the query, a goal after each random cell and back."""
        goal_words, cell_word, walk_word, noise_words = grid.word_chunks(key, 2, 1, 1, 2)
        position = env_state.position
        on_goal = jnp.any(jnp.all(jnp.asarray(self.env.goal_cells) == position, axis=-1))
        cell = self.layout.floor_cell(0, grid.below(cell_word[0], self.layout.room_size**2))
        next_target = jnp.where(on_goal, cell, self.goal_target(goal_words, env_state))
        reached = jnp.all(position == policy_state.target)
        target = jnp.where(reached, next_target, policy_state.target)
        query = self.env.phase(env_state, params) == base.QUERY
        walk = grid.below(walk_word[0], grid.NUM_ACTIONS)
        no_doorways = jnp.zeros((0, 2), jnp.int32)
        action = jnp.where(query, navigate(self.layout, no_doorways, position, target), walk)
        action = with_random_actions(noise_words, action, self.random_action_prob)
        return RewardCueState(target=jnp.where(query, target, position)), action


# ------------------------------------------------------------------------------ keys & doors


class KeysDoorsState(NamedTuple):
    """`KeysDoorsPolicy` state.

    Attributes:
        target: int32 `[2]`, the key-room cell walked to in the context phase.
        wanted: bool `[K]`, the keys to collect.
        door_order: int32 `[K]`, the order in which doors are tried.
        doors_tried: int32 `[]`, door attempts so far.
    """

    target: jax.Array
    wanted: jax.Array
    door_order: jax.Array
    doors_tried: jax.Array


class KeysDoorsPolicy:
    """Collects a random subset of keys, then tries the doors in a random order.

    Args:
        env: the KeysDoors environment.
        p_key: probability that a key is wanted.
        random_action_prob: probability of a random action instead of the scripted one.
    """

    def __init__(
        self, env: keys_doors.KeysDoors, p_key: float = 0.5, random_action_prob: float = 0.1
    ):
        self.env = env
        self.layout = env.layout
        self.p_key = p_key
        self.random_action_prob = random_action_prob

    def init(self, key: jax.Array, env_state: keys_doors.EnvState, params: Any) -> KeysDoorsState:
        wanted_words, order_words = grid.word_chunks(key, self.env.num_keys, self.env.num_keys)
        return KeysDoorsState(
            target=env_state.position,
            wanted=grid.coin(wanted_words, self.p_key),
            door_order=grid.distinct_below(order_words, self.env.num_keys),
            doors_tried=jnp.int32(0),
        )

    def context_target(
        self, words: jax.Array, policy_state: KeysDoorsState, env_state: keys_doors.EnvState
    ) -> jax.Array:
        """A wanted key still lying there (with probability 1/2, if any), else a random cell.

        Args:
            words: uint32 `[K + 2]`, random words.
            policy_state: the policy's state.
            env_state: the environment's state.
        """
        num_keys = self.env.num_keys
        left = policy_state.wanted & env_state.key_present
        choice = grid.uniform_among(words[:num_keys], left)
        index = grid.below(words[num_keys + 1], self.layout.room_size**2)
        cell = self.layout.floor_cell(keys_doors.KEY_ROOM, index)
        take_key = jnp.any(left) & grid.coin(words[num_keys], 0.5)
        return jnp.where(take_key, env_state.keys[choice], cell)

    def act(
        self,
        key: jax.Array,
        policy_state: KeysDoorsState,
        env_state: keys_doors.EnvState,
        params: Any,
    ) -> tuple[KeysDoorsState, jax.Array]:
        """Walks to keys and cells in the context; pushes into the next door in the query."""
        target_words, noise_words = grid.word_chunks(key, self.env.num_keys + 2, 2)
        position = env_state.position
        no_doorways = jnp.zeros((0, 2), jnp.int32)
        reached = jnp.all(position == policy_state.target)
        new_target = self.context_target(target_words, policy_state, env_state)
        target = jnp.where(reached, new_target, policy_state.target)
        on_wanted = jnp.any(
            policy_state.wanted & env_state.key_present & jnp.all(env_state.keys == position, -1)
        )
        walk = navigate(self.layout, no_doorways, position, target)
        context_action = jnp.where(on_wanted, keys_doors.PICKUP, walk)
        slot = policy_state.doors_tried % self.env.num_keys
        door = env_state.doors[policy_state.door_order[slot]]
        door_action = navigate(self.layout, no_doorways, position, door)
        pushed = jnp.all(grid.step_target(position, door_action, self.layout.shape) == door)
        query = self.env.phase(env_state, params) == base.QUERY
        action = jnp.where(query, door_action, context_action)
        action = with_random_actions(noise_words, action, self.random_action_prob)
        policy_state = policy_state._replace(
            target=jnp.where(query, policy_state.target, target),
            doors_tried=policy_state.doors_tried + (query & pushed).astype(jnp.int32),
        )
        return policy_state, action


Policy = RoomsPolicy | RewardCuePolicy | KeysDoorsPolicy


def policy_for(env: base.MemoryEnv, **options: Any) -> Policy:
    """The scripted policy of a memory benchmark.

    Args:
        env: a memory benchmark environment (as built by `envs.make("Memory/...")`).
        **options: the policy's options (`random_action_prob`, ...).

    Returns:
        The policy.
    """
    policies = (
        (rooms.Rooms, RoomsPolicy),
        (reward_cue.RewardCue, RewardCuePolicy),
        (keys_doors.KeysDoors, KeysDoorsPolicy),
    )
    for env_type, policy_type in policies:
        if isinstance(env, env_type):
            return policy_type(env, **options)
    raise TypeError(f"no scripted policy for {type(env).__name__}")
