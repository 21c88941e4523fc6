"""KeysDoors (envs/memory/keys_doors.py): keys open only their doors, only once collected.

Hand-made episodes on states with keys and doors put on chosen cells; positions and rewards are
worked out by hand (key room floor: rows and columns 1-6; door room floor: rows 1-6, columns
8-13; its doors on row 0, row 7 or column 14).
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import envs
from envs.memory import grid, keys_doors

LEFT, RIGHT, UP, DOWN, PICKUP = grid.LEFT, grid.RIGHT, grid.UP, grid.DOWN, keys_doors.PICKUP
CONTEXT_LENGTH = 4
KEYS = [[2, 2], [2, 4], [4, 2], [4, 4]]
DOORS = [[0, 9], [0, 11], [3, 14], [7, 10]]  # top, top, right, bottom walls of the door room


@functools.cache
def task(**options):
    """`(env, params, reset_env, step_env)` with both functions jitted; built once per options."""
    env, params = envs.make("Memory/KeysDoors", context_length=CONTEXT_LENGTH, **options)
    return env, params, jax.jit(env.reset_env), jax.jit(env.step_env)


def known_state(position, held=(False,) * 4, time=0):
    """A reset state with the keys on `KEYS`, the doors on `DOORS` and the agent on `position`."""
    env, params, reset_env, _ = task()
    _, state = reset_env(jax.random.key(0), params)
    position = jnp.asarray(position, jnp.int32)
    return state.replace(
        time=jnp.int32(time),
        position=position,
        room=env.layout.room_at(position),
        query_start=jnp.array([1, 10], jnp.int32),
        keys=jnp.asarray(KEYS, jnp.int32),
        doors=jnp.asarray(DOORS, jnp.int32),
        held=jnp.asarray(held),
    )


def play(state, actions):
    """Steps through `actions`; returns the states after each step and the rewards."""
    _, params, _, step_env = task()
    states, rewards = [], []
    for action in actions:
        _, state, reward, terminated, _ = step_env(jax.random.key(0), state, action, params)
        assert not terminated
        states.append(state)
        rewards.append(float(reward))
    return states, rewards


def approach(door):
    """The door room cell in front of a door and the action that pushes into it."""
    y, x = door
    if y == 0:
        return [1, x], UP
    if y == 7:
        return [6, x], DOWN
    return [y, 13], RIGHT


@pytest.mark.parametrize("door", range(4))
def test_a_key_opens_its_own_door_only(door):
    cell, push = approach(DOORS[door])
    back = {UP: DOWN, DOWN: UP, RIGHT: LEFT}[push]
    all_but_this = tuple(k != door for k in range(4))
    states, rewards = play(known_state(cell, all_but_this, time=CONTEXT_LENGTH + 1), [push])
    np.testing.assert_array_equal(states[0].position, cell)
    assert rewards == [0.0] and not states[0].door_open.any()

    only_this = tuple(k == door for k in range(4))
    start = known_state(cell, only_this, time=CONTEXT_LENGTH + 1)
    states, rewards = play(start, [push, back, push])
    np.testing.assert_array_equal(states[0].position, DOORS[door])
    np.testing.assert_array_equal(states[0].door_open, only_this)
    np.testing.assert_array_equal(states[1].position, cell)
    np.testing.assert_array_equal(states[2].position, DOORS[door])
    assert rewards == [1.0, 0.0, 0.0], "a door pays once, when it opens"


@pytest.mark.parametrize("pick_up", [True, False])
def test_doors_open_only_with_keys_collected_in_the_context(pick_up):
    # Context: onto key 0 (walking over it leaves it), pick it up (or step off and back), on.
    middle = PICKUP if pick_up else UP
    after_middle = [2, 2] if pick_up else [1, 2]
    context = [RIGHT, middle, RIGHT if pick_up else DOWN, RIGHT]
    states, rewards = play(known_state([2, 1]), context)
    np.testing.assert_array_equal(states[0].position, [2, 2])
    assert bool(states[0].key_present[0]) and not states[0].held.any()
    np.testing.assert_array_equal(states[1].position, after_middle)
    np.testing.assert_array_equal(states[1].held, [pick_up, False, False, False])
    np.testing.assert_array_equal(states[1].key_present, [not pick_up, True, True, True])
    # The last context step ends in the door room's start (the query phase begins).
    np.testing.assert_array_equal(states[3].position, [1, 10])
    assert int(states[3].room) == keys_doors.DOOR_ROOM and int(states[3].time) == CONTEXT_LENGTH
    # Query: door 0 (top wall, column 9), then door 1 (column 11), whose key was never taken.
    query, query_rewards = play(states[3], [LEFT, UP, DOWN, RIGHT, RIGHT, UP])
    assert rewards == [0.0] * 4
    assert query_rewards == [0.0, 1.0 if pick_up else 0.0, 0.0, 0.0, 0.0, 0.0]
    np.testing.assert_array_equal(query[1].position, [0, 9] if pick_up else [1, 9])
    np.testing.assert_array_equal(query[-1].position, [1, 11])
    np.testing.assert_array_equal(query[-1].door_open, [pick_up, False, False, False])


def test_pickup_only_takes_a_key_under_the_agent():
    states, _ = play(known_state([3, 3]), [PICKUP])
    np.testing.assert_array_equal(states[0].position, [3, 3])
    assert states[0].key_present.all() and not states[0].held.any()


def test_the_view_shows_keys_lying_but_never_keys_held():
    env, params, _, _ = task()
    in_key_room = known_state([1, 1])
    tiles = env.tiles(in_key_room, params)
    for k, (y, x) in enumerate(KEYS):
        assert int(tiles.pattern[y, x]) == grid.KEY
        assert int(tiles.fg[y, x]) == env.key_colours[k]
    taken = env.tiles(in_key_room.replace(key_present=jnp.array([False, True, True, True])), params)
    assert int(taken.pattern[2, 2]) == grid.SOLID
    empty_handed = known_state([1, 10], time=CONTEXT_LENGTH + 1)
    full_handed = empty_handed.replace(held=jnp.ones(4, bool))
    np.testing.assert_array_equal(
        env.get_obs(empty_handed, params), env.get_obs(full_handed, params)
    )
    tiles = env.tiles(empty_handed, params)
    origin = np.asarray(env.layout.room_origin(keys_doors.DOOR_ROOM))
    for k, door in enumerate(DOORS):
        y, x = np.asarray(door) - origin
        assert int(tiles.pattern[y, x]) == grid.DOOR
        assert int(tiles.fg[y, x]) == env.key_colours[k]


def test_reset_places_keys_and_doors_apart():
    env, params, reset_env, _ = task()
    candidates = {tuple(cell) for cell in env.door_candidates}
    assert len(candidates) == 18
    for seed in range(8):
        _, state = reset_env(jax.random.key(seed), params)
        keys = {tuple(cell) for cell in np.asarray(state.keys)}
        doors = {tuple(cell) for cell in np.asarray(state.doors)}
        assert len(keys) == 4 and tuple(np.asarray(state.position)) not in keys
        assert all(1 <= y <= 6 and 1 <= x <= 6 for y, x in keys)
        assert len(doors) == 4 and doors <= candidates
        assert int(env.layout.room_at(state.query_start)) == keys_doors.DOOR_ROOM
        assert state.key_present.all() and not state.held.any() and not state.door_open.any()


def test_spaces_and_options():
    env, params = envs.make("Memory/KeysDoors")
    assert env.action_space(params).n == 5
    assert env.observation_space(params).shape == (8 * 4 * 8 * 4 * 3,)
    assert params.max_steps_in_episode == 1000
    with pytest.raises(ValueError, match="num_keys"):
        envs.make("Memory/KeysDoors", num_keys=9)
