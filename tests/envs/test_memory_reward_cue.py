"""RewardCue (envs/memory/reward_cue.py): the cue, the distractors and the cue-dependent reward.

The agent is put next to chosen goals with hand-picked cues; the rewards are worked out by hand.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import envs
from envs.memory import grid, reward_cue

LEFT, RIGHT, UP, DOWN = grid.LEFT, grid.RIGHT, grid.UP, grid.DOWN
CONTEXT_LENGTH = 10


@functools.cache
def task(**options):
    """`(env, params, reset_env, step_env)` with both functions jitted; built once per options."""
    env, params = envs.make("Memory/RewardCue", context_length=CONTEXT_LENGTH, **options)
    return env, params, jax.jit(env.reset_env), jax.jit(env.step_env)


def step_reward(state, action, **options):
    _, params, _, step_env = task(**options)
    _, state, reward, terminated, _ = step_env(jax.random.key(0), state, action, params)
    assert not terminated
    return state, float(reward)


def query_state(key, position, cue, time=CONTEXT_LENGTH, **options):
    """A reset state moved to the query phase, the agent on `position`, showing cue `cue`."""
    _, params, reset_env, _ = task(**options)
    _, state = reset_env(key, params)
    return state.replace(
        time=jnp.int32(time), position=jnp.asarray(position, jnp.int32), cue=jnp.int32(cue)
    )


@pytest.mark.parametrize("num_cues", [2, 4])
def test_the_cue_decides_the_reward_of_each_goal(num_cues):
    env, _, _, _ = task(num_cues=num_cues)
    for seed in range(3):
        for goal, cell in enumerate(env.goal_cells):
            # Step onto the goal from its neighbour inside the room (right or left of a corner).
            step = np.array([0, 1])
            beside, action = (cell + step, LEFT) if cell[1] == 1 else (cell - step, RIGHT)
            for cue in env.cue_colours:
                state = query_state(jax.random.key(seed), beside, cue, num_cues=num_cues)
                _, reward = step_reward(state, action, num_cues=num_cues)
                expected = 1.0 if int(state.goal_colours[goal]) == cue else -1.0
                assert reward == expected, (seed, goal, cue)


def test_rewards_only_for_entering_a_goal_in_the_query_phase():
    env, _, _, _ = task()
    corner = env.goal_cells[0]  # top-left: UP and LEFT from it hit the walls
    cue = env.cue_colours[0]
    on_goal = query_state(jax.random.key(1), corner, cue)
    for action in (UP, LEFT):
        after, reward = step_reward(on_goal, action)
        np.testing.assert_array_equal(after.position, corner)
        assert reward == 0.0
    beside = corner + np.array([0, 1])
    in_context = query_state(jax.random.key(1), beside, cue, time=CONTEXT_LENGTH - 1)
    after, reward = step_reward(in_context, LEFT)
    np.testing.assert_array_equal(after.position, corner)
    assert reward == 0.0, "goals are not there during the context phase"
    in_query = query_state(jax.random.key(1), beside, cue)
    assert step_reward(in_query, LEFT)[1] in (1.0, -1.0)


def test_goal_colours_are_a_random_order_of_the_cue_colours():
    env, params, reset_env, _ = task(num_cues=4)
    orders = set()
    for seed in range(12):
        _, state = reset_env(jax.random.key(seed), params)
        colours = np.asarray(state.goal_colours)
        assert sorted(colours) == sorted(env.cue_colours)
        assert int(state.cue) in env.cue_colours
        orders.add(tuple(colours))
    assert len(orders) > 1


def test_cue_shows_on_the_floor_early_and_goals_in_the_query():
    env, params, reset_env, _ = task()
    _, state = reset_env(jax.random.key(2), params)
    covered = {tuple(cell) for cell in np.asarray(state.distractor_cells)}
    covered |= {tuple(np.asarray(state.position))}
    free = [(y, x) for y in range(1, 7) for x in range(1, 7) if (y, x) not in covered]
    free = [cell for cell in free if cell not in {tuple(c) for c in env.goal_cells}]
    for time, floor in [(0, int(state.cue)), (3, int(state.cue)), (4, reward_cue.FLOOR)]:
        tiles = env.tiles(state.replace(time=jnp.int32(time)), params)
        for y, x in free:
            assert int(tiles.fg[y, x]) == floor and int(tiles.pattern[y, x]) == grid.SOLID
    goals = env.goal_cells
    for time, shown in [(CONTEXT_LENGTH - 1, False), (CONTEXT_LENGTH, True)]:
        tiles = env.tiles(state.replace(time=jnp.int32(time)), params)
        patterns = np.asarray(tiles.pattern)[goals[:, 0], goals[:, 1]]
        assert np.all(patterns == grid.CROSS) == shown
        if shown:
            colours = np.asarray(tiles.fg)[goals[:, 0], goals[:, 1]]
            np.testing.assert_array_equal(colours, state.goal_colours)


def test_distractors_change_every_step_and_ignore_the_cue():
    env, params, reset_env, step_env = task(num_distractors=5)
    _, state = reset_env(jax.random.key(3), params)
    other_cue = state.replace(cue=jnp.int32(env.cue_colours[1] + env.cue_colours[0] - state.cue))
    seen = []
    for step in range(4):
        key = jax.random.key(10 + step)
        _, state, *_ = step_env(key, state, RIGHT, params)
        _, other_cue, *_ = step_env(key, other_cue, RIGHT, params)
        np.testing.assert_array_equal(state.distractor_cells, other_cue.distractor_cells)
        np.testing.assert_array_equal(state.distractor_colours, other_cue.distractor_colours)
        cells = np.asarray(state.distractor_cells)
        assert len({tuple(c) for c in cells}) == 5
        assert set(np.asarray(state.distractor_colours).tolist()) <= set(env.cue_colours.tolist())
        seen.append(cells.tobytes())
    assert len(set(seen)) == 4


def test_options_are_checked():
    with pytest.raises(ValueError, match="num_cues"):
        envs.make("Memory/RewardCue", num_cues=5)
    with pytest.raises(ValueError, match="cue_length"):
        envs.make("Memory/RewardCue", context_length=3, cue_length=4)
    _, params = envs.make("Memory/RewardCue", context_length=1800, query_length=200)
    assert params.max_steps_in_episode == 2000 and params.cue_length == 4
