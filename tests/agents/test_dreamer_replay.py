"""The model-based agent's replay ring (`agents.dreamer.replay`) against a list-of-steps model.

The reference keeps, per environment, a Python list of the last `capacity` steps; a sampled
window is right when it is a run of consecutive steps of that list. Each step's observation
carries its global step index and environment, and the stored carry is the step index, so
every sampled value says where it came from.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from agents.dreamer import replay
from agents.dreamer.replay import ReplayConfig
from rlssm.world_models import Batch

NUM_ENVS = 3
FIELDS = ("obs", "action", "reward", "terminated", "start")
EXAMPLE = Batch(
    obs=jax.ShapeDtypeStruct((2,), jnp.float32),
    action=jax.ShapeDtypeStruct((), jnp.int32),
    reward=jax.ShapeDtypeStruct((), jnp.float32),
    terminated=jax.ShapeDtypeStruct((), jnp.bool_),
    start=jax.ShapeDtypeStruct((), jnp.bool_),
)
CARRY = {"step": jax.ShapeDtypeStruct((), jnp.int32), "h": jax.ShapeDtypeStruct((3,), jnp.float32)}


def make_steps(total: int, seed: int = 0, num_envs: int = NUM_ENVS):
    """`total` steps of `num_envs` environments (numpy, `[total, B, ...]`) and their carries."""
    rng = np.random.default_rng(seed)
    step = np.broadcast_to(np.arange(total)[:, None], (total, num_envs))
    env = np.broadcast_to(np.arange(num_envs)[None, :], (total, num_envs))
    start = rng.random((total, num_envs)) < 0.25
    start[0] = True
    data = {
        "obs": np.stack([step, env], -1).astype(np.float32),
        "action": rng.integers(0, 5, (total, num_envs)).astype(np.int32),
        "reward": rng.normal(size=(total, num_envs)).astype(np.float32),
        "terminated": np.concatenate([start[1:], start[:1]]) & (rng.random(start.shape) < 0.5),
        "start": start,
    }
    carry = {"step": step.astype(np.int32), "h": np.stack([step, env, -step], -1).astype("f4")}
    return data, carry


class Reference:
    """The ring as a list of steps per environment: append, drop the oldest past `capacity`."""

    def __init__(self, capacity: int, num_envs: int = NUM_ENVS):
        self.capacity = capacity
        self.steps = [[] for _ in range(num_envs)]
        self.total = 0

    def add(self, data, carry, begin: int, end: int):
        for g in range(begin, end):
            for b, steps in enumerate(self.steps):
                steps.append({name: value[g, b] for name, value in {**data, **carry}.items()})
                if len(steps) > self.capacity:
                    steps.pop(0)
        self.total = end

    def window(self, env: int, first: int, length: int) -> list[dict]:
        """The steps `first .. first + length - 1` of `env`; fails unless all are kept."""
        kept = [int(s["step"]) for s in self.steps[env]]
        assert first in kept, f"window starts at step {first}, kept are {kept[0]}..{kept[-1]}"
        index = kept.index(first)
        assert index + length <= len(kept), f"window at {first} runs past the newest step"
        return self.steps[env][index : index + length]


def chunk(data, carry, begin: int, end: int, single: bool = False):
    """Steps `begin .. end - 1` as a `Batch` `[K, B]` (or `[B]` when `single`) and carries."""
    pick = (lambda x: x[begin]) if single else (lambda x: x[begin:end])
    transition = Batch(**{name: jnp.asarray(pick(data[name])) for name in FIELDS})
    return transition, {name: jnp.asarray(pick(value)) for name, value in carry.items()}


add = jax.jit(replay.add)


@functools.partial(jax.jit, static_argnums=(2, 3))
def sample(state, key, batch_size, length):
    return replay.sample(state, key, batch_size, length)


def check_windows(window: replay.Window, ref: Reference, length: int):
    """Every sampled window is a run of kept consecutive steps of one environment, every field
    and the carry (stored before the first step) equal to the reference."""
    fields = {name: np.asarray(getattr(window.batch, name)) for name in FIELDS}
    assert fields["obs"].shape == (length, window.env.shape[0], 2)
    for j, env in enumerate(np.asarray(window.env)):
        first = int(fields["obs"][0, j, 0])
        expected = ref.window(int(env), first, length)
        for name in FIELDS:
            np.testing.assert_array_equal(fields[name][:, j], [s[name] for s in expected], name)
        assert int(window.carry["step"][j]) == first
        np.testing.assert_array_equal(window.carry["h"][j], expected[0]["h"])


def new_state(capacity: int, carry=CARRY):
    return replay.init(capacity, NUM_ENVS, EXAMPLE, carry)


def test_add_and_sample_under_jit_match_the_reference_through_wrap_around():
    capacity, length = 8, 3
    data, carry = make_steps(40)
    state, ref = new_state(capacity), Reference(capacity)
    key = jax.random.key(0)
    begin = 0
    for size in (1, 1, 3, 1, 5, 8, 2, 1, 7, 4, 1, 6):  # single steps and chunks, 40 in all
        transition = chunk(data, carry, begin, begin + size, single=size == 1)
        state = add(state, *transition)
        ref.add(data, carry, begin, begin + size)
        begin += size
        assert int(state.count) == min(begin, capacity)
        assert int(state.position) == begin % capacity
        if begin >= length:
            key, sample_key = jax.random.split(key)
            check_windows(sample(state, sample_key, 64, length), ref, length)


def test_wrap_around_keeps_the_newest_capacity_steps_and_samples_all_of_them():
    capacity, length = 8, 3
    data, carry = make_steps(21)
    state = add(new_state(capacity), *chunk(data, carry, 0, 21))
    kept = np.sort(np.asarray(state.data.obs[:, :, 0]), axis=0)
    np.testing.assert_array_equal(kept, np.broadcast_to(np.arange(13, 21)[:, None], kept.shape))
    window = sample(state, jax.random.key(1), 512, length)
    first = np.asarray(window.batch.obs[0, :, 0]).astype(int)
    # Every start from the oldest kept step (13) to the last whole window (18), none after.
    assert set(first) == set(range(13, 21 - length + 1))
    assert set(np.asarray(window.env)) == set(range(NUM_ENVS))


def test_a_chunk_longer_than_the_ring_keeps_its_last_capacity_steps():
    capacity = 4
    data, carry = make_steps(11)
    state = add(
        add(new_state(capacity), *chunk(data, carry, 0, 1, single=True)), *chunk(data, carry, 1, 11)
    )
    ref = Reference(capacity)
    ref.add(data, carry, 0, 11)
    assert int(state.count) == capacity and int(state.position) == 11 % capacity
    check_windows(sample(state, jax.random.key(2), 64, capacity), ref, capacity)


def sentinel_ring(capacity: int) -> replay.ReplayState:
    """An empty ring whose unwritten rows hold values no step has (NaN, -1)."""
    state = new_state(capacity)
    fill = {jnp.float32: jnp.nan, jnp.int32: -1}
    unwritten = jax.tree.map(
        lambda x: x if x.dtype == jnp.bool_ else jnp.full_like(x, fill[x.dtype.type]),
        (state.data, state.carry),
    )
    return state._replace(data=unwritten[0], carry=unwritten[1])


def test_sampling_never_returns_unwritten_rows():
    capacity, length = 16, 5
    data, carry = make_steps(12)
    state = sentinel_ring(capacity)
    for written in range(1, 12):
        state = add(state, *chunk(data, carry, written - 1, written, single=True))
        window = sample(state, jax.random.key(written), 64, length)
        values = jax.tree.leaves((window.batch, window.carry))
        assert all(not np.isnan(v).any() for v in values if v.dtype == np.float32)
        assert all((np.asarray(v) >= 0).all() for v in values if v.dtype == np.int32)
        step = np.asarray(window.batch.obs[..., 0])
        assert (step < written).all()  # only steps written so far
        assert (np.diff(step, axis=0) >= 0).all() and (np.diff(step, axis=0) <= 1).all()
        assert bool(replay.can_sample(state, length)) == (written >= length)
        if written >= length:  # full windows: consecutive steps
            assert (np.diff(step, axis=0) == 1).all()


def test_start_flags_are_the_stored_ones_across_the_wrap():
    capacity, length = 6, 4
    data, carry = make_steps(30, seed=3)
    # An episode running through the oldest kept rows: steps 20..29 of environment 0 form one
    # episode, so windows starting at the oldest row (24) begin mid-episode.
    data["start"][20:, 0] = False
    data["start"][20, 0] = True
    state, ref = new_state(capacity), Reference(capacity)
    for begin in range(0, 30, 5):
        state = add(state, *chunk(data, carry, begin, begin + 5))
        ref.add(data, carry, begin, begin + 5)
    window = sample(state, jax.random.key(4), 256, length)
    check_windows(window, ref, length)
    first = np.asarray(window.batch.obs[0, :, 0]).astype(int)
    at_oldest = first == 30 - capacity
    assert at_oldest.any()
    mid_episode = at_oldest & (np.asarray(window.env) == 0)
    assert mid_episode.any() and not np.asarray(window.batch.start[0])[mid_episode].any()


def test_episode_start_context_marks_the_first_step_and_uses_the_initial_carry():
    config = ReplayConfig(capacity=6, length=3, context="episode_start", burn_in=2)
    data, carry = make_steps(30, seed=5)
    state, ref = new_state(config.capacity, carry=None), Reference(config.capacity)
    state = add(state, *chunk(data, carry, 0, 30)[:1])
    ref.add(data, carry, 0, 30)
    sampled = jax.jit(replay.sample_with_context, static_argnums=(0, 3))(
        config, state, jax.random.key(6), 64
    )
    assert sampled.carry is None
    assert sampled.burn_in.obs.shape[0] == 2 and sampled.batch.obs.shape[0] == 3
    assert np.asarray(sampled.burn_in.start[0]).all()
    steps = np.concatenate([sampled.burn_in.obs[..., 0], sampled.batch.obs[..., 0]])
    assert (np.diff(steps, axis=0) == 1).all()
    for j, env in enumerate(np.asarray(sampled.batch.obs[0, :, 1]).astype(int)):
        expected = ref.window(env, int(steps[0, j]), 5)
        np.testing.assert_array_equal(sampled.burn_in.start[1:, j], [expected[1]["start"]])
        np.testing.assert_array_equal(sampled.batch.start[:, j], [s["start"] for s in expected[2:]])


@pytest.mark.parametrize("burn_in", [0, 3])
def test_stored_carries_line_up_with_the_first_sampled_step(burn_in):
    config = ReplayConfig(capacity=10, length=4, context="stored", burn_in=burn_in)
    data, carry = make_steps(37, seed=7)
    state = add(new_state(config.capacity), *chunk(data, carry, 0, 37))
    sampled = jax.jit(replay.sample_with_context, static_argnums=(0, 3))(
        config, state, jax.random.key(8), 64
    )
    first = sampled.batch if burn_in == 0 else sampled.burn_in
    assert (sampled.burn_in is None) == (burn_in == 0)
    np.testing.assert_array_equal(sampled.carry["step"], first.obs[0, :, 0])
    np.testing.assert_array_equal(sampled.carry["h"][:, 1], first.obs[0, :, 1])
    if burn_in:
        np.testing.assert_array_equal(sampled.burn_in.obs[-1, :, 0] + 1, sampled.batch.obs[0, :, 0])
    # The start flags stay the stored ones (not forced at the first step).
    start = np.asarray(first.start[0])
    stored = data["start"][first.obs[0, :, 0].astype(int), first.obs[0, :, 1].astype(int)]
    np.testing.assert_array_equal(start, stored)
    assert not start.all()


def per_seed(tree) -> list:
    """The seeds of a tree whose leaves lead with `N`, one tree each."""
    count = jax.tree.leaves(tree)[0].shape[0]
    return [jax.tree.map(lambda x, s=s: x[s], tree) for s in range(count)]


def test_vmap_over_seeds_equals_each_seed_alone():
    capacity, length, seeds = 8, 3, 3
    steps = [make_steps(13, seed=s) for s in range(seeds)]
    stack = lambda *xs: jnp.stack(xs)  # noqa: E731
    transitions = jax.tree.map(stack, *[chunk(d, c, 0, 13) for d, c in steps])
    keys = jax.random.split(jax.random.key(9), seeds)
    states = jax.vmap(lambda _: new_state(capacity))(jnp.arange(seeds))
    states = jax.jit(jax.vmap(replay.add))(states, *transitions)
    windows = jax.jit(jax.vmap(lambda s, k: replay.sample(s, k, 16, length)))(states, keys)
    for s in range(seeds):
        alone = add(new_state(capacity), *chunk(*steps[s], 0, 13))
        expected = sample(alone, keys[s], 16, length)
        mine = per_seed(windows)[s]
        assert jax.tree.all(jax.tree.map(np.array_equal, mine, expected))
        ref = Reference(capacity)
        ref.add(*steps[s], 0, 13)
        check_windows(mine, ref, length)
    # Each seed drew its own windows from its own key.
    drawn = {(tuple(np.asarray(w.row)), tuple(np.asarray(w.env))) for w in per_seed(windows)}
    assert len(drawn) == seeds


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"capacity": 0}, "capacity must be >= 1"),
        ({"length": 0}, "length must be >= 1"),
        ({"burn_in": -1}, "burn_in must be >= 0"),
        ({"context": "zeros"}, "context must be one of"),
        ({"capacity": 8, "length": 6, "burn_in": 3}, "raise capacity or shorten the window"),
    ],
)
def test_config_rejects_bad_settings_with_the_fix(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ReplayConfig(**kwargs)


def test_misuse_fails_while_tracing_with_the_fix():
    data, carry = make_steps(4)
    with_carry, without = new_state(4), new_state(4, carry=None)
    with pytest.raises(ValueError, match="stores carries; pass carry="):
        replay.add(with_carry, chunk(data, carry, 0, 2)[0])
    with pytest.raises(ValueError, match="stores no carries"):
        replay.add(without, *chunk(data, carry, 0, 2))
    bad = chunk(data, carry, 0, 2)[0]._replace(action=jnp.zeros((2, NUM_ENVS), jnp.float32))
    with pytest.raises(ValueError, match=r"\.action is float32.*cast or reshape"):
        replay.add(without, bad)
    with pytest.raises(ValueError, match="length=5 must be in"):
        replay.sample(without, jax.random.key(0), 2, 5)
    with pytest.raises(ValueError, match=r"pass carry= to replay\.init"):
        replay.sample_with_context(ReplayConfig(4, 2, "stored"), without, jax.random.key(0), 2)
