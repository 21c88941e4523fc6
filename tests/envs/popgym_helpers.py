"""Helpers of the POPGym tests: rollouts, jit/vmap checks, statistics, popgym reference runs.

The reference helpers run the original popgym package in a subprocess with the interpreter named
by `POPGYM_PYTHON` (or this one, when it has popgym: the `dev` extra installs it) and skip the test
when there is none.
"""

import functools
import json
import os
import shutil
import subprocess
import sys
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pytest

# ------------------------------------------------------------------ the original popgym package


@functools.cache
def _find_popgym_python() -> str | None:
    python = os.environ.get("POPGYM_PYTHON", sys.executable)
    if shutil.which(python) is None:
        return None
    found = subprocess.run([python, "-c", "import popgym"], capture_output=True).returncode == 0
    return python if found else None


def popgym_python() -> str:
    """The interpreter that has the original popgym (`POPGYM_PYTHON`, else this one), or skip."""
    python = _find_popgym_python()
    if python is None:
        pytest.skip("popgym is not installed; set POPGYM_PYTHON to an interpreter that has it")
    return python


# ------------------------------------------------------------------ rollouts and contract checks


class Steps(NamedTuple):
    """One rollout's per-step outputs, each `[E, T, ...]` (episodes, steps)."""

    reward: jax.Array
    terminated: jax.Array
    truncated: jax.Array
    final_obs: jax.Array
    time: jax.Array


@functools.partial(jax.jit, static_argnums=(0, 2, 3, 5, 6))
def rollout(env, params, init, act, key, num_episodes, num_steps):
    """Runs `num_episodes` episodes of `num_steps` steps from reset with `env.step` (auto-reset).

    `init(obs) -> memory` and `act(memory, obs, key) -> (memory, action)` define the policy: it
    sees only observations. Compiles once per (env, policy, sizes): keep envs and policies alive.

    Returns:
        The reset observations `[E, D]` and `Steps`.
    """

    def episode(key):
        reset_key, key = jax.random.split(key)
        obs, state = env.reset(reset_key, params)

        def body(carry, key):
            obs, state, memory = carry
            act_key, step_key = jax.random.split(key)
            memory, action = act(memory, obs, act_key)
            obs, state, reward, terminated, truncated, info = env.step(
                step_key, state, action, params
            )
            steps = Steps(reward, terminated, truncated, info["final_observation"], state.time)
            return (obs, state, memory), steps

        carry = (obs, state, init(obs))
        _, steps = jax.lax.scan(body, carry, jax.random.split(key, num_steps))
        return obs, steps

    return jax.vmap(episode)(jax.random.split(key, num_episodes))


def assert_jit_vmap_step(env, params, batch_size=8, action=None, num_steps=2):
    """Reset and step `batch_size` envs under jit and vmap; checks shapes, dtypes and spaces.

    Args:
        env, params: the task (Discrete actions).
        batch_size: B.
        action: int `[B]`, the action of every step (default: sampled from the action space).
        num_steps: steps taken, each with new keys.

    Returns:
        `(obs0, steps)`: the reset observations `[B, D]` and, per step, `env.step`'s outputs.
    """
    keys = jax.random.split(jax.random.key(0), batch_size)
    obs0, state = jax.jit(jax.vmap(env.reset, (0, None)))(keys, params)
    if action is None:
        action = jax.vmap(env.action_space(params).sample)(keys)
    step = jax.jit(jax.vmap(env.step, (0, 0, 0, None)))
    space = env.observation_space(params)
    assert env.action_space(params).n == env.num_actions
    assert all(env.action_space(params).contains(a) for a in action)
    assert obs0.shape == (batch_size, *space.shape) and obs0.dtype == jnp.float32
    assert all(space.contains(o) for o in obs0)
    steps = []
    for _ in range(num_steps):
        outputs = step(keys, state, action, params)
        obs, state, reward, terminated, truncated, info = outputs
        assert obs.shape == (batch_size, *space.shape) and obs.dtype == jnp.float32
        assert all(space.contains(o) for o in obs)
        assert reward.shape == (batch_size,) and reward.dtype == jnp.float32
        assert terminated.dtype == jnp.bool_ and truncated.dtype == jnp.bool_
        assert info["final_observation"].shape == obs.shape
        steps.append(outputs)
        keys = jax.vmap(jax.random.fold_in, (0, None))(keys, 1)
    return obs0, steps


@functools.partial(jax.jit, static_argnums=(0, 3, 4, 5))
def policy_rollout(env, params, key, num_envs, num_steps, policies, index=0):
    """Plays `num_envs` envs from reset for `num_steps` steps (auto-reset), one policy acting.

    Args:
        env, params: the task.
        key: PRNG key.
        num_envs: B.
        num_steps: T.
        policies: `(env, state, key) -> [P] actions` of `P` policies for one env; they may read
            the state (privileged oracles).
        index: which policy acts (traced, so that all policies share one compilation).

    Returns:
        `((reward, terminated, truncated), reset_state)`: each `[T, B]`, and the reset states.
    """
    reset_key, key = jax.random.split(key)
    _, state = jax.vmap(env.reset, (0, None))(jax.random.split(reset_key, num_envs), params)

    def step(state, key):
        act_key, step_key = jax.random.split(key)
        actions = jax.vmap(policies, (None, 0, 0))(env, state, jax.random.split(act_key, num_envs))
        _, state, reward, terminated, truncated, _ = jax.vmap(env.step, (0, 0, 0, None))(
            jax.random.split(step_key, num_envs), state, actions[:, index], params
        )
        return state, (reward, terminated, truncated)

    reset_state = state
    _, out = jax.lax.scan(step, state, jax.random.split(key, num_steps))
    return out, reset_state


# ------------------------------------------------------------------------------- statistics


def first_episode(values, done):
    """Sum over each env's first episode of `[T, B]` values -> `[B]` (numpy)."""
    values, done = np.asarray(values), np.asarray(done)
    before_end = np.cumsum(done, axis=0) - done == 0
    return np.sum(values * before_end, axis=0)


def assert_same_mean(ours, theirs, num_stderr=4.0, what=""):
    """Two samples have the same mean, within `num_stderr` standard errors of the difference."""
    ours, theirs = np.asarray(ours, float), np.asarray(theirs, float)
    stderr = np.sqrt(ours.var() / ours.size + theirs.var() / theirs.size)
    assert abs(ours.mean() - theirs.mean()) < num_stderr * stderr, what


def assert_same_statistics(ours, theirs):
    """Two samples of episode returns have the same mean (5 standard errors) and similar std."""
    ours, theirs = np.asarray(ours), np.asarray(theirs)
    tolerance = 5 * np.sqrt(ours.var() / ours.size + theirs.var() / theirs.size) + 1e-6
    assert abs(ours.mean() - theirs.mean()) < tolerance
    assert abs(ours.std() - theirs.std()) <= 0.3 * theirs.std() + 1e-6


def assert_independent_uniform_deals(deal, other_deal, num_categories):
    """Deals of a batch of episodes are random in their keys, as a shuffled deck's would be.

    Checks that (1) no two episodes of a batch are dealt the same cards, (2) at every position of
    the deal each category comes with its share of a full deck, `1 / C` (within 5 standard
    errors), and (3) a batch from other keys matches this one at a position with probability
    `1 / C`, as an independent deal does. Each fails when a reset or a step ignores its key.

    Args:
        deal: int `[E, T]`, the card category of every position of `E` episodes' deals.
        other_deal: int `[E, T]`, the same from other keys.
        num_categories: C, categories of a full deck, in equal numbers.
    """
    deal, other_deal = np.asarray(deal), np.asarray(other_deal)
    num_episodes = deal.shape[0]
    share = 1.0 / num_categories
    assert len(np.unique(deal, axis=0)) == num_episodes, "two episodes got the same deal"
    frequency = np.stack([np.mean(deal == c, axis=0) for c in range(num_categories)], axis=-1)
    tolerance = 5 * np.sqrt(share * (1 - share) / num_episodes)
    np.testing.assert_allclose(frequency, share, atol=tolerance)
    matches = np.mean(deal == other_deal)
    assert abs(matches - share) < 5 * np.sqrt(share * (1 - share) / deal.size), matches


# ----------------------------------------------------------------- runs of the popgym reference


def run_script(script, *args, stdin=None, timeout=300):
    """Runs `script` with popgym's interpreter (or skips the calling test); returns its output.

    Args:
        script: Python source; it prints one JSON value on its last line of output.
        *args: command-line arguments (`sys.argv[1:]`), converted with `str`.
        stdin: text for the script's standard input.
        timeout: seconds before the run fails.

    Returns:
        The decoded JSON value.
    """
    result = subprocess.run(
        [popgym_python(), "-c", script, *map(str, args)],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.splitlines()[-1])


RUNNER_SOURCE = """
import importlib, json, sys
import numpy as np

def play(env, choose, seed):
    obs, _ = env.reset(seed=seed)
    episode = {"obs": [np.asarray(obs).tolist()], "action": [], "reward": [],
               "terminated": [], "truncated": []}
    done = False
    while not done:
        action = choose(episode["obs"])
        obs, reward, terminated, truncated, _ = env.step(action)
        episode["obs"].append(np.asarray(obs).tolist())
        episode["action"].append(int(action))
        episode["reward"].append(float(reward))
        episode["terminated"].append(bool(terminated))
        episode["truncated"].append(bool(truncated))
        done = terminated or truncated or len(episode["action"]) > 100_000
    return episode

config = json.loads(sys.argv[1])
module = importlib.import_module(config["module"])
results = {}
for name in config["names"]:
    env = getattr(module, name)()
    rng = np.random.default_rng(0)
    def random_action(history):
        return int(rng.integers(env.action_space.n))
    results[name] = {
        "replays": [play(env, random_action, seed) for seed in range(config["replays"])],
        "random_returns": [sum(play(env, random_action, 1000 + seed)["reward"])
                           for seed in range(config["episodes"])],
        "oracle_returns": [sum(play(env, oracle, 2000 + seed)["reward"])
                           for seed in range(config["episodes"])],
    }
print(json.dumps(results))
"""


def run_reference(module, names, oracle_source, replays=3, episodes=100):
    """Plays popgym's `module.name` games in a subprocess, or skips the calling test.

    Args:
        module: popgym module, e.g. "popgym.envs.repeat_first".
        names: popgym class names, e.g. ("RepeatFirstEasy", ...).
        oracle_source: Python source defining `oracle(history) -> action`, where `history` lists
            the observations so far (popgym's own encoding, as JSON lists or ints).
        replays: episodes recorded in full with random actions (seeds 0, 1, ...).
        episodes: episodes played for return statistics with random actions and with the oracle.

    Returns:
        `{name: {"replays": [{"obs", "action", "reward", "terminated", "truncated"}],
        "random_returns": [...], "oracle_returns": [...]}}`.
    """
    config = {"module": module, "names": names, "replays": replays, "episodes": episodes}
    return run_script(oracle_source + RUNNER_SOURCE, json.dumps(config))


@functools.partial(jax.jit, static_argnums=0)
def reset_matching(env, params, first_obs):
    """A reset state whose observation is `first_obs` (searched over 4096 reset keys)."""
    keys = jax.random.split(jax.random.key(7), 4096)
    obs, states = jax.vmap(env.reset_env, (0, None))(keys, params)
    found = jnp.all(obs == first_obs, axis=-1)
    return found.any(), jax.tree.map(lambda leaf: leaf[jnp.argmax(found)], states)


@functools.partial(jax.jit, static_argnums=0)
def forced_replay(env, params, state, counts, actions):
    """Steps `env` from `state` through a given deal, `T` steps.

    Before each step the deck is replaced by `counts[t]` (the state's `counts` field); a deck that
    holds only the card to deal next forces that card.

    Args:
        env: a card game whose state has a `counts` field.
        params: its parameters.
        state: the state to start from.
        counts: int32 `[T, ...]`, the deck to deal from at each step.
        actions: int32 `[T]`.

    Returns:
        obs `[T, D]`, reward `[T]`, terminated `[T]` from `env.step_env`.
    """

    def body(state, inputs):
        counts, action = inputs
        obs, state, reward, terminated, _ = env.step_env(
            jax.random.key(0), state.replace(counts=counts), action, params
        )
        return state, (obs, reward, terminated)

    return jax.lax.scan(body, state, (counts, actions))[1]


def assert_replay_matches(env, params, first_obs, counts, episode, expected_obs):
    """Replays a popgym episode with forced deals and compares obs, rewards and terminations.

    Args:
        env, params: the game.
        first_obs: float32 `[D]`, our encoding of popgym's reset observation.
        counts: int32 `[T, ...]`, decks forcing popgym's deal (see `forced_replay`).
        episode: popgym's episode (`run_reference`'s replay).
        expected_obs: float32 `[T, D]`, our encoding of popgym's later observations.
    """
    found, state = reset_matching(env, params, jnp.asarray(first_obs))
    assert found, "no reset key deals popgym's first card"
    obs, reward, terminated = forced_replay(
        env, params, state, jnp.asarray(counts), jnp.asarray(episode["action"])
    )
    assert len(episode["action"]) == env.episode_length
    np.testing.assert_array_equal(obs, expected_obs)
    np.testing.assert_allclose(reward, episode["reward"], rtol=1e-5, atol=1e-7)
    np.testing.assert_array_equal(terminated, episode["terminated"])
    assert not any(episode["truncated"])
