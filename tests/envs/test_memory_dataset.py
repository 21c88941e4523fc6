"""Datasets and scripted policies of the memory benchmarks (envs/memory/dataset.py, policies.py).

Records are checked against what their images show: rooms are told apart by their colours, so
rewards for new rooms and the explorer's coverage are read off the frames, independently of the
environment's state.
"""

import functools

import jax
import numpy as np
import pytest

import envs
from envs.memory import base, dataset, policies

SMALL = {"context_length": 6, "query_length": 4}
TILE = 4


def generate(*args, **options):
    return jax.device_get(dataset.generate(*args, **options))


def room_look(image: np.ndarray) -> tuple[int, ...]:
    """A room's identity from its image: the wall colour and the commonest floor colour."""
    wall = tuple(image[0, 0])
    interior = image[TILE:-TILE, TILE:-TILE].reshape(-1, 3)
    colours, counts = np.unique(interior, axis=0, return_counts=True)
    return (*wall, *colours[np.argmax(counts)])


def looks(obs: np.ndarray) -> list[tuple[int, ...]]:
    return [room_look(image) for image in obs]


@functools.cache
def small(name: str, seed: int = 0):
    """Two rows of 25 records (10-step episodes) of a task; compiled once per task."""
    return generate(name, 2, 25, jax.random.key(seed), **SMALL)


@pytest.mark.parametrize("name", ["Memory/FourRooms", "Memory/RewardCue", "Memory/KeysDoors"])
def test_shapes_flags_and_phases_of_rows_of_whole_episodes(name):
    data = small(name)
    assert set(data) == set(dataset.FIELDS)
    assert data["obs"].shape == (2, 25, 32, 32, 3) and data["obs"].dtype == np.uint8
    for field, dtype in [("action", np.int32), ("reward", np.float32), ("phase", np.int32)]:
        assert data[field].shape == (2, 25) and data[field].dtype == dtype
    starts, ends = [0, 11, 22], [10, 21]  # an episode: its first frame and 6 + 4 steps
    for row in range(2):
        np.testing.assert_array_equal(np.nonzero(data["start"][row])[0], starts)
        np.testing.assert_array_equal(np.nonzero(data["truncated"][row])[0], ends)
    assert not data["terminated"].any()
    assert (data["action"][:, starts] == 0).all() and (data["reward"][:, starts] == 0).all()
    phase = np.where(np.arange(11) >= 6, base.QUERY, base.CONTEXT)
    np.testing.assert_array_equal(data["phase"][0], np.tile(phase, 3)[:25])
    env, params = envs.make(name)
    assert (data["action"] < env.action_space(params).n).all()
    assert not np.array_equal(data["obs"][0, 0], data["obs"][0, 11]), "each episode is new"


def test_same_key_same_data_and_other_key_other_data():
    first = small("Memory/RewardCue", seed=1)
    again = generate("Memory/RewardCue", 2, 25, jax.random.key(1), **SMALL)
    other = small("Memory/RewardCue", seed=2)
    for field in dataset.FIELDS:
        np.testing.assert_array_equal(first[field], again[field])
    assert not np.array_equal(first["obs"], other["obs"])
    assert not np.array_equal(first["obs"][0], first["obs"][1]), "rows are different episodes"


@pytest.mark.parametrize("name", ["Memory/TwoRooms", "Memory/FourRooms", "Memory/TenRooms"])
def test_explorer_visits_every_room_and_each_new_room_pays(name):
    env, params = envs.make(name)
    context = int(params.context_length)
    data = generate(name, 3, context, jax.random.key(5))
    rooms = env.layout.num_rooms
    for row in range(3):
        seen, new = set(), []
        for look in looks(data["obs"][row]):
            new.append(look not in seen)
            seen.add(look)
        assert len(seen) == rooms, "every room is visited within the context phase"
        # A reward comes with the first frame of each new room (the start room pays nothing).
        expected = np.where(new, 1 / rooms, 0.0)
        expected[0] = 0.0
        np.testing.assert_allclose(data["reward"][row], expected)


def test_revisits_in_the_query_only_show_rooms_of_the_context():
    data = generate("Memory/Teleport-FourRooms", 3, None, jax.random.key(6))
    for row in range(3):
        phase = data["phase"][row]
        context = set(looks(data["obs"][row][phase == base.CONTEXT]))
        query = looks(data["obs"][row][phase == base.QUERY])
        assert set(query) <= context
        assert query[0] == looks(data["obs"][row][:1])[0], "the teleport leads to the start room"
        assert len(set(query)) > 1, "the query walks through several rooms"


def test_reward_cue_policy_collects_both_rewards_in_the_query_only():
    data = generate("Memory/RewardCue", 4, None, jax.random.key(7))
    acted_in_query = np.roll(data["phase"], 1, axis=1) == base.QUERY
    acted_in_query[:, 0] = False
    assert (data["reward"][~acted_in_query] == 0).all()
    assert (data["reward"] > 0).sum() > (data["reward"] < 0).sum() > 0


def test_keys_doors_policy_opens_some_doors_and_not_others():
    data = generate("Memory/KeysDoors", 6, None, jax.random.key(8))
    opened = data["reward"].sum(axis=1)
    assert (data["reward"][data["phase"] == base.CONTEXT] == 0).all()
    assert opened.max() > 0 and opened.min() < 4
    assert len(set(opened.tolist())) > 1, "which doors open depends on the keys collected"


def test_options_are_checked():
    with pytest.raises(TypeError, match="flat_obs"):
        generate("Memory/TwoRooms", 1, 4, jax.random.key(0), flat_obs=True)
    with pytest.raises(ValueError, match="num_episodes"):
        generate("Memory/TwoRooms", 0, 4, jax.random.key(0))
    with pytest.raises(TypeError, match="no scripted policy"):
        policies.policy_for(envs.make("RepeatFirstEasy")[0])


def test_save_and_load_round_trip_and_detect_tampering(tmp_path):
    data = small("Memory/KeysDoors")
    file = tmp_path / "keys.npz"
    dataset.save(file, data, {"name": "Memory/KeysDoors", "seed": 9})
    loaded, metadata = dataset.load(file)
    assert metadata == {"format_version": 1, "name": "Memory/KeysDoors", "seed": 9}
    for field in dataset.FIELDS:
        np.testing.assert_array_equal(loaded[field], data[field])
        assert loaded[field].dtype == data[field].dtype

    with np.load(file, allow_pickle=False) as archive:
        arrays = dict(archive)
    arrays["reward"] = arrays["reward"] + 1.0
    np.savez_compressed(tmp_path / "tampered.npz", **arrays)
    with pytest.raises(ValueError, match="checksum"):
        dataset.load(tmp_path / "tampered.npz")
    del arrays["phase"]
    np.savez_compressed(tmp_path / "partial.npz", **arrays)
    with pytest.raises(ValueError, match="missing"):
        dataset.load(tmp_path / "partial.npz")
    with pytest.raises(ValueError, match="shape"):
        dataset.save(tmp_path / "bad.npz", {**data, "reward": data["reward"][:, :3]})

    # A flipped byte anywhere (here: in the compressed arrays, which zip would refuse first) is
    # a checksum mismatch, found before unzipping; in a file without the file's checksum (the
    # tampered one, written by numpy alone) the zip's complaint reads as one too.
    for name in ("keys.npz", "tampered.npz"):
        raw = bytearray((tmp_path / name).read_bytes())
        raw[len(raw) // 3] ^= 0x01
        (tmp_path / f"flipped-{name}").write_bytes(bytes(raw))
        with pytest.raises(ValueError, match="checksum mismatch, the file is corrupt"):
            dataset.load(tmp_path / f"flipped-{name}")
