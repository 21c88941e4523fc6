"""Parity: rules against hand-made bit streams, the oracle and memoryless baselines."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from envs.popgym.parity import ENTRIES
from tests.envs.popgym_helpers import assert_jit_vmap_step, rollout


@functools.cache
def make(name):
    return ENTRIES[name]()


def first_bit(obs):
    """A memory of the reset bit `b_0`."""
    return jnp.argmax(obs).astype(jnp.int32)


def announce(memory, obs, key):
    """Announces the remembered bit (only the reset observations are read by the test)."""
    return memory, memory


def test_entries_lengths_and_spaces():
    lengths = {name: make(name)[0].episode_length for name in ENTRIES}
    assert lengths == {"ParityEasy": 16, "ParityMedium": 64, "ParityHard": 256}
    env, params = make("ParityEasy")
    assert env.num_actions == 2 and env.observation_space(params).shape == (2,)
    with pytest.raises(ValueError, match="length"):
        ENTRIES["ParityEasy"](length=0)
    assert_jit_vmap_step(env, params)


def test_hand_made_stream():
    """Announces the running parity of the bits shown (right), except at steps 3 and 7."""
    env, params = make("ParityEasy")
    obs, state = env.reset(jax.random.key(0), params)
    parity, total = int(obs.argmax()), 0.0
    for t in range(16):
        wrong = t in (3, 7)
        action = parity ^ int(wrong)
        obs, state, reward, terminated, truncated, _ = env.step(
            jax.random.key(10 + t), state, action, params
        )
        assert float(reward) == pytest.approx(-1 / 16 if wrong else 1 / 16)
        assert bool(terminated) == (t == 15) and not truncated
        parity ^= int(obs.argmax())  # the bit shown after this step
        total += float(reward)
    assert total == pytest.approx(12 / 16)


@functools.partial(jax.jit, static_argnums=0)
def played(policy, key):
    """Rewards `[256, 16]` of 256 ParityEasy episodes: `policy(parity, bit) -> action`."""
    env, params = make("ParityEasy")

    def episode(key):
        obs, state = env.reset(key, params)

        def body(carry, key):
            parity, obs, state = carry
            action = policy(parity, jnp.argmax(obs))
            obs, state, reward, *_ = env.step(key, state, action, params)
            return (parity ^ jnp.argmax(obs), obs, state), reward

        carry = (jnp.argmax(obs), obs, state)
        return jax.lax.scan(body, carry, jax.random.split(key, 16))[1]

    return jax.vmap(episode)(jax.random.split(key, 256))


def test_oracle_scores_one_and_the_last_bit_alone_scores_zero():
    oracle = played(lambda parity, bit: parity, jax.random.key(1))
    np.testing.assert_allclose(oracle.sum(1), 1.0, rtol=1e-6)
    memoryless = played(lambda parity, bit: bit, jax.random.key(2)).sum(1)
    # Right with probability 1/2 at each step: mean 0, std 1/4 per episode of 16 steps.
    assert abs(memoryless.mean()) < 5 * 0.25 / 16 and memoryless.std() > 0.15


def test_bits_are_fair_and_independent_across_keys():
    first, _ = rollout(*make("ParityEasy"), first_bit, announce, jax.random.key(3), 2048, 1)
    bits = np.asarray(first.argmax(-1))
    assert abs(bits.mean() - 0.5) < 5 * 0.5 / np.sqrt(2048)
