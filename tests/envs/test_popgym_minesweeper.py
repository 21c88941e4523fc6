"""MineSweeper: API, mine law, hand-checked rules, policy returns, reference comparison.

The reference comparison runs the original `popgym` package with the interpreter of
`tests.envs.popgym_helpers.popgym_python` and is skipped when popgym is not installed.
"""

import collections
import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from envs.popgym.battleship import unpack_board
from envs.popgym.minesweeper import ENTRIES, EnvState, lay_mines, minesweeper
from tests.envs.popgym_helpers import (
    assert_jit_vmap_step,
    assert_same_mean,
    first_episode,
    policy_rollout,
    run_script,
)

NUM_EPISODES = 512
POLICIES = ("random", "oracle", "same_free_cell", "mine_first")


@pytest.fixture(scope="module")
def easy():
    return ENTRIES["MineSweeperEasy"]()


def neighbour_counts(mines: np.ndarray) -> np.ndarray:
    """Brute force: mines in the 3x3 block of every cell of an `[H, W]` bool grid."""
    height, width = mines.shape
    counts = np.zeros((height, width), int)
    for row, col in itertools.product(range(height), range(width)):
        counts[row, col] = mines[max(row - 1, 0) : row + 2, max(col - 1, 0) : col + 2].sum()
    return counts


def policy_actions(env, state, key):
    """`[4]` actions by POLICIES index: uniform; privileged oracle clicking an unclicked free cell;
    always the first free cell; a mine."""
    mines = unpack_board(state.mines, env.width).reshape(-1)
    clicked = unpack_board(state.clicked, env.width).reshape(-1)
    random = jax.random.randint(key, (), 0, env.num_actions)
    oracle = jnp.argmax(~mines & ~clicked)
    return jnp.stack([random, oracle, jnp.argmax(~mines), jnp.argmax(mines)])


def rollouts(env, params, key, num_envs):
    """`{policy: (rewards, terminated, truncated)}`, each `[T, B]` numpy."""
    num_steps = params.max_steps_in_episode
    out = {}
    for index, name in enumerate(POLICIES):
        key_policy = jax.random.fold_in(key, index)
        result, _ = policy_rollout(
            env, params, key_policy, num_envs, num_steps, policy_actions, index
        )
        out[name] = tuple(np.asarray(x) for x in result)
    return out


@pytest.fixture(scope="module")
def easy_rollouts(easy):
    env, params = easy
    return rollouts(env, params, jax.random.key(7), NUM_EPISODES)


def test_entries_match_popgym_difficulties():
    for name, (size, mines, counts) in {
        "MineSweeperEasy": (4, 2, 3),
        "MineSweeperMedium": (6, 6, 7),
        "MineSweeperHard": (8, 10, 10),
    }.items():
        env, params = ENTRIES[name]()
        assert (env.height, env.width, env.num_mines) == (size, size, mines)
        assert params.max_steps_in_episode == size * size - mines
        assert env.observation_space(params).shape == (counts,)


def test_factory_rejects_bad_options():
    with pytest.raises(ValueError, match="num_mines"):
        minesweeper(height=2, width=2, num_mines=4)
    with pytest.raises(ValueError, match="width"):
        minesweeper(width=32)
    with pytest.raises(ValueError, match="max_steps_in_episode"):
        minesweeper(max_steps_in_episode=2)


@pytest.mark.parametrize("name", sorted(ENTRIES))
def test_jit_vmap_shapes_and_spaces(name):
    _, steps = assert_jit_vmap_step(*ENTRIES[name](), batch_size=4, action=jnp.arange(4))
    assert np.allclose(steps[0][0].sum(-1), 1.0)


def test_mines_are_uniform_distinct_cells():
    height, width, num_mines, num_boards = 2, 3, 2, 15000
    keys = jax.random.split(jax.random.key(1), num_boards)
    rows = jax.jit(jax.vmap(lambda key: lay_mines(key, height, width, num_mines)))(keys)
    boards = np.asarray(unpack_board(rows, width)).reshape(num_boards, -1)
    assert np.all(boards.sum(-1) == num_mines)
    counts = collections.Counter(tuple(np.flatnonzero(b)) for b in boards)
    expected = num_boards / 15  # C(6, 2) equally likely mine sets.
    assert set(counts) == set(itertools.combinations(range(6), 2))
    chi2 = sum((c - expected) ** 2 / expected for c in counts.values())
    assert chi2 < stats.chi2.ppf(0.9999, df=14)


def test_every_cell_is_a_mine_equally_often():
    env, _ = ENTRIES["MineSweeperHard"]()
    lay = jax.jit(jax.vmap(lambda key: lay_mines(key, env.height, env.width, env.num_mines)))
    rows = lay(jax.random.split(jax.random.key(2), 4000))
    boards = np.asarray(unpack_board(rows, env.width)).reshape(4000, -1)
    p = env.num_mines / env.num_actions
    assert np.all(boards.sum(-1) == env.num_mines)
    assert np.all(np.abs(boards.mean(0) - p) < 5 * np.sqrt(p * (1 - p) / 4000))


def test_observed_counts_match_brute_force():
    env, params = ENTRIES["MineSweeperHard"]()
    for seed in range(3):
        _, state = env.reset(jax.random.key(seed), params)
        mines = np.asarray(unpack_board(state.mines, env.width))
        cells = jnp.arange(env.num_actions)
        obs, _, _, _, _ = jax.vmap(env.step_env, (None, None, 0, None))(
            jax.random.key(0), state, cells, params
        )
        assert np.array_equal(np.argmax(obs, -1).reshape(8, 8), neighbour_counts(mines))


def test_rules_by_hand(easy):
    env, params = easy
    _, state = env.reset(jax.random.key(3), params)
    mines = np.flatnonzero(unpack_board(state.mines, env.width))
    free = np.setdiff1d(np.arange(16), mines)
    key, steps, step = jax.random.key(0), 14, jax.jit(env.step_env)
    new, repeat, boom = 1 / steps, -0.5 / (steps - 2), -0.5 - 1 / steps
    obs, state, reward, terminated, _ = step(key, state, int(free[0]), params)
    assert np.isclose(reward, new) and not terminated
    obs, state, reward, terminated, _ = step(key, state, int(free[0]), params)
    assert np.isclose(reward, repeat) and not terminated
    for cell in free[1:]:
        obs, state, reward, terminated, _ = step(key, state, int(cell), params)
        assert np.isclose(reward, new)
        assert bool(terminated) == (cell == free[-1])
    _, state = env.reset(jax.random.key(3), params)
    obs, state, reward, terminated, _ = step(key, state, int(mines[0]), params)
    assert np.isclose(reward, boom) and terminated
    assert np.argmax(obs) >= 1  # The block counts the clicked mine itself.


def test_time_limit_is_truncation_unless_the_game_ended(easy):
    env, params = easy
    _, state = env.reset(jax.random.key(4), params)
    mines = np.flatnonzero(unpack_board(state.mines, env.width))
    free = int(np.setdiff1d(np.arange(16), mines)[0])
    clicked = state.clicked.at[free // 4].set(state.clicked[free // 4] | (1 << (free % 4)))
    late = EnvState(time=jnp.int32(13), mines=state.mines, clicked=clicked)
    _, _, _, terminated, truncated, _ = env.step(jax.random.key(0), late, free, params)
    assert truncated and not terminated
    _, _, _, terminated, truncated, _ = env.step(jax.random.key(0), late, int(mines[0]), params)
    assert terminated and not truncated


def test_privileged_policies_give_exact_returns(easy_rollouts):
    steps = 14
    rewards, terminated, truncated = easy_rollouts["oracle"]
    assert np.allclose(first_episode(rewards, terminated | truncated), 1.0, atol=1e-5)
    assert terminated[steps - 1].all() and not terminated[: steps - 1].any()
    assert not truncated.any()

    rewards, terminated, truncated = easy_rollouts["same_free_cell"]
    expected = 1 / steps - (steps - 1) * 0.5 / (steps - 2)
    assert np.allclose(first_episode(rewards, terminated | truncated), expected, atol=1e-5)
    assert truncated[steps - 1].all() and not terminated.any()

    rewards, terminated, _ = easy_rollouts["mine_first"]
    assert np.allclose(rewards[0], -0.5 - 1 / steps) and terminated[0].all()


def test_random_policy_returns_stay_in_range(easy_rollouts):
    rewards, terminated, truncated = easy_rollouts["random"]
    returns = first_episode(rewards, terminated | truncated)
    # Worst case, -1: a free cell (1/14), 12 repeats (-0.5), a mine on the last click (-0.5 - 1/14).
    assert returns.min() >= -1.0 - 1e-5 and returns.max() <= 1.0 + 1e-5
    assert -1.0 < returns.mean() < 0.0


REFERENCE_SCRIPT = """
import json, sys
import numpy as np
from popgym.envs.minesweeper import MineSweeperEasy
env = MineSweeperEasy()
rng = np.random.default_rng(0)
returns, lengths = [], []
for episode in range(int(sys.argv[1])):
    env.reset(seed=episode)
    total, done, length = 0.0, False, 0
    while not done:
        _, reward, terminated, truncated, _ = env.step(rng.integers(4, size=2))
        total, length = total + reward, length + 1
        done = terminated or truncated
    returns.append(total)
    lengths.append(length)
print(json.dumps({"random": returns, "lengths": lengths}))
"""


def test_random_statistics_match_reference(easy_rollouts):
    reference = run_script(REFERENCE_SCRIPT, 2000)
    rewards, terminated, truncated = easy_rollouts["random"]
    done = terminated | truncated
    ours = {"random": first_episode(rewards, done), "lengths": np.argmax(done, axis=0) + 1}
    for name, mine in ours.items():
        assert_same_mean(mine, reference[name], what=name)
