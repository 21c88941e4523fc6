"""Rooms (envs/memory/rooms.py): walls, doorways, the teleport, per-episode worlds, phases.

Rules are checked with hand-made action sequences on worlds drawn by `reset_env`, whose agent is
put on chosen cells; positions, rooms and rewards are worked out by hand from the map.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import envs
from envs.memory import base, grid, rooms
from tests.envs.popgym_helpers import assert_jit_vmap_step

LEFT, RIGHT, UP, DOWN = grid.LEFT, grid.RIGHT, grid.UP, grid.DOWN


@functools.cache
def task(name: str = "Memory/FourRooms", **options):
    """`(env, params, reset_env, step_env)` with both functions jitted; built once per options."""
    env, params = envs.make(name, **options)
    return env, params, jax.jit(env.reset_env), jax.jit(env.step_env)


def play(step_env, state, params, actions):
    """Steps `state` through `actions`; returns the states after each step and the rewards."""
    states, rewards = [], []
    for action in actions:
        _, state, reward, terminated, _ = step_env(jax.random.key(0), state, action, params)
        assert not terminated
        states.append(state)
        rewards.append(float(reward))
    return states, rewards


def first_doorway_start(env, state):
    """The state with the agent in room 0 just left of the doorway to room 1 (edge 0)."""
    doorway = np.asarray(state.doorways[0])
    assert doorway[1] == env.layout.period, "edge 0 is the wall between rooms 0 and 1"
    cell = jnp.asarray([doorway[0], doorway[1] - 1], jnp.int32)
    visited = jnp.zeros(env.layout.num_rooms, bool).at[0].set(True)
    return state.replace(position=cell, start=cell, room=jnp.int32(0), visited=visited), doorway


def test_walls_block_and_doorways_lead_to_the_next_room():
    env, params, reset_env, step_env = task()
    _, state = reset_env(jax.random.key(1), params)
    corner = state.replace(position=jnp.array([1, 1], jnp.int32), room=jnp.int32(0))
    states, rewards = play(step_env, corner, params, [LEFT, UP])
    for after in states:
        np.testing.assert_array_equal(after.position, [1, 1])
    # A cell of room 0's right column facing the wall, away from the doorway.
    walls = np.asarray(state.walls)
    row = next(y for y in range(1, 7) if walls[y, 7])
    facing_wall = corner.replace(position=jnp.array([row, 6], jnp.int32))
    states, _ = play(step_env, facing_wall, params, [RIGHT])
    np.testing.assert_array_equal(states[0].position, [row, 6])

    at_door, doorway = first_doorway_start(env, state)
    states, rewards = play(step_env, at_door, params, [RIGHT, RIGHT, LEFT, LEFT])
    y, x = doorway
    positions = [np.asarray(s.position).tolist() for s in states]
    assert positions == [[y, x], [y, x + 1], [y, x], [y, x - 1]]
    assert [int(s.room) for s in states] == [0, 1, 1, 0]  # the view changes on the floor
    assert rewards == [0.0, 1 / 4, 0.0, 0.0]  # a new room pays 1/R once


@pytest.mark.parametrize("teleport", [True, False])
def test_teleport_moves_the_agent_to_its_start_in_another_room(teleport):
    name = "Memory/Teleport-FourRooms" if teleport else "Memory/FourRooms"
    env, params, reset_env, step_env = task(name, context_length=3, query_length=5)
    _, state = reset_env(jax.random.key(2), params)
    at_door, doorway = first_doorway_start(env, state)
    states, _ = play(step_env, at_door, params, [RIGHT, RIGHT, RIGHT, DOWN])
    y, x = doorway
    assert int(states[1].room) == 1
    if teleport:  # on entering the query phase (time 3) the agent is back at its start
        np.testing.assert_array_equal(states[2].position, at_door.start)
        assert int(states[2].room) == 0
        np.testing.assert_array_equal(states[3].position, at_door.start + jnp.array([1, 0]))
        obs_after = env.get_obs(states[2], params)
        np.testing.assert_array_equal(obs_after, env.get_obs(at_door, params))
    else:
        np.testing.assert_array_equal(states[2].position, [y, x + 2])
        assert int(states[2].room) == 1


def test_world_is_drawn_per_episode_and_fixed_within_one():
    env, params, reset_env, step_env = task("Memory/TenRooms")
    _, first = reset_env(jax.random.key(3), params)
    _, second = reset_env(jax.random.key(4), params)
    for field in ("doorways", "objects", "floor_colours", "wall_colours"):
        assert not np.array_equal(getattr(first, field), getattr(second, field)), field
    looks = set(zip(np.asarray(first.floor_colours), np.asarray(first.wall_colours), strict=True))
    assert len(looks) == env.layout.num_rooms, "every room has its own colours"
    # Through the doorway and back: the world and the view of the first cell are unchanged.
    at_door, _ = first_doorway_start(env, first)
    states, _ = play(step_env, at_door, params, [RIGHT, RIGHT, RIGHT, LEFT, LEFT, LEFT])
    for field in ("walls", "doorways", "objects", "floor_colours", "wall_colours"):
        np.testing.assert_array_equal(getattr(states[-1], field), getattr(first, field))
    np.testing.assert_array_equal(states[-1].position, at_door.position)
    np.testing.assert_array_equal(env.get_obs(states[-1], params), env.get_obs(at_door, params))
    assert not np.array_equal(env.get_obs(states[1], params), env.get_obs(at_door, params))


def test_view_shows_the_rooms_colours_boxes_and_agent():
    env, params, reset_env, _ = task(flat_obs=False)
    _, state = reset_env(jax.random.key(5), params)
    image = np.asarray(env.render_image(state, params))
    tile = env.tile_size
    room, origin = int(state.room), np.asarray(env.layout.room_origin(state.room))
    np.testing.assert_array_equal(image[0, 0], grid.PALETTE[state.wall_colours[room]])
    y, x = np.asarray(state.position) - origin
    centre = image[y * tile + tile // 2, x * tile + tile // 2]
    np.testing.assert_array_equal(centre, grid.PALETTE[grid.WHITE])
    view = np.asarray(state.objects)[origin[0] : origin[0] + 8, origin[1] : origin[1] + 8]
    boxes = [(by, bx) for by, bx in zip(*np.nonzero(view), strict=True) if (by, bx) != (y, x)]
    assert len(boxes) >= 1
    for by, bx in boxes:  # a box's rim in its colour, its middle the floor's
        np.testing.assert_array_equal(image[by * tile, bx * tile], grid.PALETTE[view[by, bx]])
        middle = image[by * tile + 1, bx * tile + 1]
        np.testing.assert_array_equal(middle, grid.PALETTE[state.floor_colours[room]])


def test_phase_in_info_and_after_auto_reset():
    env, params = envs.make("Memory/FourRooms", context_length=3, query_length=2)
    _, state = env.reset(jax.random.key(6), params)

    def body(state, key):
        _, state, _, _, truncated, info = env.step(key, state, RIGHT, params)
        return state, (info["phase"], truncated)

    run = jax.jit(lambda state, keys: jax.lax.scan(body, state, keys))
    _, (phase, truncated) = run(state, jax.random.split(jax.random.key(7), 8))
    np.testing.assert_array_equal(phase, [0, 0, 1, 1, 0, 0, 0, 1])
    np.testing.assert_array_equal(truncated, [0, 0, 0, 0, 1, 0, 0, 0])


def test_show_phase_draws_a_white_frame_in_the_query_only():
    options = {"context_length": 1, "query_length": 2, "flat_obs": False}
    env, params, reset_env, step_env = task(show_phase=True, **options)
    plain_env, _, _, _ = task(**options)
    obs, state = reset_env(jax.random.key(8), params)
    query_obs, query_state, *_ = step_env(jax.random.key(0), state, UP, params)
    assert int(env.phase(state, params)) == base.CONTEXT
    assert int(env.phase(query_state, params)) == base.QUERY
    ring = grid.frame_mask(obs.shape[0])[..., 0]
    np.testing.assert_array_equal(obs, plain_env.get_obs(state, params))
    assert not np.any(np.all(np.asarray(obs)[ring] == 1.0, axis=-1))
    assert np.all(np.asarray(query_obs)[ring] == 1.0)
    plain_query = np.asarray(plain_env.get_obs(query_state, params))
    np.testing.assert_array_equal(np.asarray(query_obs)[~ring], plain_query[~ring])


def test_observations_are_exact_images_in_the_registry_contract():
    env, params, reset_env, _ = task()
    flat, state = reset_env(jax.random.key(9), params)
    image_env, _, _, _ = task(flat_obs=False)
    image = image_env.get_obs(state, params)
    assert flat.shape == (32 * 32 * 3,) and image.shape == (32, 32, 3)
    np.testing.assert_array_equal(flat, image.reshape(-1))
    np.testing.assert_array_equal(jnp.round(flat * 255) / 255, flat)
    assert_jit_vmap_step(env, params)


def test_registered_variants_and_options():
    for name, rooms_count, total in [
        ("Memory/TwoRooms", 2, 1000),
        ("Memory/FourRooms", 4, 1000),
        ("Memory/TenRooms", 10, 2000),
        ("Memory/Teleport-TenRooms", 10, 2000),
    ]:
        env, params = envs.make(name)
        assert isinstance(env, rooms.Rooms) and env.layout.num_rooms == rooms_count
        assert params.max_steps_in_episode == total
        assert env.teleport == name.startswith("Memory/Teleport")
    env, params = envs.make("Memory/TwoRooms", context_length=70, query_length=30, tile_size=2)
    assert (params.context_length, params.max_steps_in_episode) == (70, 100)
    assert env.observation_space(params).shape == (16 * 16 * 3,)
    with pytest.raises(ValueError, match="context_length"):
        envs.make("Memory/TwoRooms", context_length=0)
    for name in ("Memory/TwoRooms", "Memory/KeysDoors", "Memory/RewardCue"):
        with pytest.raises(ValueError, match=r"3000 \+ \d+ exceeds the 2000 steps.*at most 2000"):
            envs.make(name, context_length=3000)
    with pytest.raises(ValueError, match=r"1500 \+ 501 exceeds"):
        envs.make("Memory/TenRooms", context_length=1500, query_length=501)


@pytest.mark.parametrize(
    "name, teleport",
    [("Memory/Teleport-TwoRooms", True), ("Memory/TwoRooms", False), ("Memory/KeysDoors", True)],
)
def test_world_model_actions_mark_the_teleport(name, teleport):
    """A dataset's record that opens the query phase reads as the jump's own action id."""
    from envs.memory import dataset

    context, query = 4, 3
    env, _ = envs.make(name, context_length=context, query_length=query)
    data = dataset.generate(
        name,
        2,
        2 * (context + query + 1),
        jax.random.key(0),
        context_length=context,
        query_length=query,
    )
    action, phase = np.asarray(data["action"]), np.asarray(data["phase"])
    model_action = env.model_actions(action, phase)
    assert env.model_action_dim == env.num_actions + teleport
    # Records 0..8 are the first episode (first observation at 0, the query from record 4),
    # records 8..15 the second one: the query opens at records 4 and 12.
    opens = np.zeros(action.shape, bool)
    opens[:, [context, (context + query + 1) + context]] = True
    np.testing.assert_array_equal(phase[opens], base.QUERY)
    if teleport:
        assert np.all(model_action[opens] == env.num_actions)
        np.testing.assert_array_equal(model_action[~opens], action[~opens])
    else:
        np.testing.assert_array_equal(model_action, action)
    assert model_action.dtype == action.dtype
