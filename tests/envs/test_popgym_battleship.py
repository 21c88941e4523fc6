"""Battleship: API, placement law, hand-checked rules, policy returns, reference comparison.

The reference comparison runs the original `popgym` package with the interpreter of
`tests.envs.popgym_helpers.popgym_python` and is skipped when popgym is not installed.
"""

import collections

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from envs.popgym.battleship import ENTRIES, battleship, place_ships, unpack_board
from tests.envs.popgym_helpers import (
    assert_jit_vmap_step,
    assert_same_mean,
    first_episode,
    policy_rollout,
    run_script,
)

NUM_EPISODES = 512
POLICIES = ("random", "sweep", "oracle", "same_cell")


@pytest.fixture(scope="module")
def easy():
    return ENTRIES["BattleshipEasy"]()


def policy_actions(env, state, key):
    """`[4]` actions by POLICIES index: uniform; fire at cell `time` (never repeats, uses only
    the own action history); privileged oracle firing at an unhit ship cell; always cell 0."""
    unhit = unpack_board(state.ship & ~state.fired, env.board_size).reshape(-1)
    random = jax.random.randint(key, (), 0, env.num_actions)
    return jnp.stack([random, state.time, jnp.argmax(unhit), 0])


def rollouts(env, params, key, num_envs):
    """`{policy: (rewards[T,B], terminated[T,B], truncated[T,B])}` and the first boards `[B,S]`."""
    out = {}
    for index, name in enumerate(POLICIES):
        # The same key for every policy: the same first boards.
        result, reset_state = policy_rollout(
            env, params, key, num_envs, params.max_steps_in_episode, policy_actions, index
        )
        out[name] = tuple(np.asarray(x) for x in result)
    first_ship = np.asarray(unpack_board(reset_state.ship, env.board_size))
    return out, first_ship.reshape(num_envs, -1)


@pytest.fixture(scope="module")
def easy_rollouts(easy):
    env, params = easy
    return rollouts(env, params, jax.random.key(7), NUM_EPISODES)


def test_entries_match_popgym_difficulties():
    for name, size in {"BattleshipEasy": 8, "BattleshipMedium": 10, "BattleshipHard": 12}.items():
        env, params = ENTRIES[name]()
        assert env.board_size == size and env.ship_sizes == (2, 3, 3, 4)
        assert params.max_steps_in_episode == size**2 and env.num_actions == size**2


def test_factory_rejects_bad_options():
    with pytest.raises(ValueError, match="may not fit"):
        battleship(board_size=3, ship_sizes=(3, 3, 3))
    with pytest.raises(ValueError, match="board_size"):
        battleship(board_size=32)
    with pytest.raises(ValueError, match="ship cells"):
        battleship(max_steps_in_episode=12)


@pytest.mark.parametrize("name", sorted(ENTRIES))
def test_jit_vmap_shapes_and_spaces(name):
    _, steps = assert_jit_vmap_step(*ENTRIES[name](), batch_size=4, action=jnp.arange(4))
    assert np.allclose(steps[0][0].sum(-1), 1.0)


def exact_board_law(board_size, ship_sizes):
    """Brute force: the probability of every board when each ship is placed uniformly among the
    segments free of the earlier ships (the original's rejection sampling, in the limit)."""

    def segments(size):
        for row in range(board_size):
            for col in range(board_size - size + 1):
                yield frozenset((row, col + i) for i in range(size))
                yield frozenset((col + i, row) for i in range(size))

    law = {frozenset(): 1.0}
    for size in ship_sizes:
        next_law = collections.defaultdict(float)
        for board, prob in law.items():
            free = [s for s in segments(size) if not s & board]
            for segment in free:
                # Each segment is listed once per orientation; a 1-cell one twice, equally.
                next_law[board | segment] += prob / len(free)
        law = next_law
    return law


def test_placement_has_the_exact_sequential_uniform_law():
    board_size, ship_sizes, num_boards = 4, (2, 3), 20000
    law = exact_board_law(board_size, ship_sizes)
    keys = jax.random.split(jax.random.key(3), num_boards)
    rows = jax.jit(jax.vmap(lambda key: place_ships(key, board_size, ship_sizes)))(keys)
    boards = np.asarray(unpack_board(rows, board_size)).reshape(num_boards, -1)
    counts = collections.Counter(
        frozenset(divmod(int(i), board_size) for i in np.flatnonzero(b)) for b in boards
    )
    assert set(counts) <= set(law), "a sampled board is impossible"
    observed = np.array([counts[board] for board in law], float)
    expected = np.array(list(law.values())) * num_boards
    chi2 = np.sum((observed - expected) ** 2 / expected)
    assert chi2 < stats.chi2.ppf(0.9999, df=len(law) - 1)


@pytest.mark.parametrize("name", sorted(ENTRIES))
def test_placement_never_overlaps(name):
    env, _ = ENTRIES[name]()
    keys = jax.random.split(jax.random.key(4), 2000)
    rows = jax.jit(jax.vmap(lambda key: place_ships(key, env.board_size, env.ship_sizes)))(keys)
    cells = np.asarray(unpack_board(rows, env.board_size)).sum((1, 2))
    assert np.all(cells == env.num_ship_cells)


def test_rules_by_hand(easy):
    env, params = easy
    _, state = env.reset(jax.random.key(11), params)
    ship_cells = np.flatnonzero(unpack_board(state.ship, env.board_size))
    water = int(np.setdiff1d(np.arange(64), ship_cells)[0])
    hit, miss = 1 / 12, -1 / 52
    key = jax.random.key(0)
    script = [(ship_cells[0], hit, 1), (ship_cells[0], miss, 0), (water, miss, 0)]
    script += [(c, hit, 1) for c in ship_cells[1:]]
    total, step = 0.0, jax.jit(env.step_env)
    for t, (cell, reward, seen) in enumerate(script):
        obs, state, r, terminated, _ = step(key, state, int(cell), params)
        assert np.isclose(r, reward) and np.allclose(obs, np.eye(2)[seen])
        assert bool(terminated) == (t == len(script) - 1)
        total += float(r)
    assert np.isclose(total, 1.0 - 2 / 52) and int(state.hits) == 12


def test_oracle_sinks_everything_with_return_one(easy_rollouts):
    rewards, terminated, truncated = easy_rollouts[0]["oracle"]
    returns = first_episode(rewards, terminated | truncated)
    assert np.allclose(returns, 1.0, atol=1e-5)
    assert np.all(np.argmax(terminated, axis=0) == 11) and not truncated[:12].any()


def test_sweep_return_matches_last_ship_cell(easy_rollouts):
    runs, boards = easy_rollouts
    rewards, terminated, truncated = runs["sweep"]
    returns = first_episode(rewards, terminated | truncated)
    # Firing cells 0, 1, 2, ... ends at the last ship cell L: 12 hits, L + 1 - 12 misses.
    last = np.array([np.flatnonzero(b)[-1] for b in boards])
    assert np.allclose(returns, 1.0 - (last + 1 - 12) / 52, atol=1e-5)
    assert np.all(np.argmax(terminated, axis=0) == last) and returns.min() > -1e-5


def test_same_cell_is_never_rewarded_twice(easy_rollouts):
    runs, boards = easy_rollouts
    rewards, terminated, truncated = runs["same_cell"]
    first = np.where(boards[:, 0], 1 / 12, -1 / 52)
    assert np.allclose(rewards[0], first)
    assert np.allclose(rewards[1:], -1 / 52)
    assert not terminated.any() and truncated[-1].all() and not truncated[:-1].any()


def test_random_policy_return_near_closed_form(easy, easy_rollouts):
    env, params = easy
    rewards, terminated, truncated = easy_rollouts[0]["random"]
    returns = first_episode(rewards, terminated | truncated)
    # With replacement, T shots hit K (1 - (1 - 1/C)^T) distinct ship cells on average; episodes
    # that end early (all ships sunk) are rare and only add a little.
    cells, steps, ship = env.num_actions, params.max_steps_in_episode, env.num_ship_cells
    hits = ship * (1 - (1 - 1 / cells) ** steps)
    expected = hits / ship - (steps - hits) / (steps - ship)
    assert abs(returns.mean() - expected) < 4 * returns.std() / np.sqrt(returns.size) + 0.01
    assert returns.min() >= -64 / 52 - 1e-5 and returns.max() <= 1.0 + 1e-5


REFERENCE_SCRIPT = """
import json, sys
import numpy as np
from popgym.envs.battleship import BattleshipEasy
env = BattleshipEasy()
rng = np.random.default_rng(0)
occupancy, returns = np.zeros(64), []
for episode in range(int(sys.argv[1])):
    env.reset(seed=episode)
    occupancy += env.board.reshape(-1)
    total, done = 0.0, False
    while not done:
        action = rng.integers(8, size=2)
        _, reward, terminated, truncated, _ = env.step(action)
        total += reward
        done = terminated or truncated
    returns.append(total)
print(json.dumps({"occupancy": (occupancy / int(sys.argv[1])).tolist(), "random": returns}))
"""


def test_matches_reference_statistics(easy, easy_rollouts):
    num_boards = 2000
    reference = run_script(REFERENCE_SCRIPT, num_boards)
    env, _ = easy
    keys = jax.random.split(jax.random.key(5), num_boards)
    rows = jax.jit(jax.vmap(lambda key: place_ships(key, env.board_size, env.ship_sizes)))(keys)
    ours = np.asarray(unpack_board(rows, env.board_size)).reshape(num_boards, -1).mean(0)
    theirs = np.asarray(reference["occupancy"])
    stderr = np.sqrt((ours * (1 - ours) + theirs * (1 - theirs)) / num_boards)
    assert np.all(np.abs(ours - theirs) < 4.5 * stderr)

    rewards, terminated, truncated = easy_rollouts[0]["random"]
    assert_same_mean(first_episode(rewards, terminated | truncated), reference["random"])
