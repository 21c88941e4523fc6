"""What the agents share (`agents.common`): the non-finite guard and seed-by-seed init; the
axis names in the annotations of agents.common and agents.world_model."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import agents.world_model as world_model
from agents.common import (
    all_finite,
    keep_if_finite,
    map_seeds,
    nonfinite_streak,
    seed_by_seed,
    update_stats,
)
from tests.rlssm.test_annotations import DESIGN_AXES, hints

# Local axes, each named in its module's docstring: dataset episodes, training window, buckets or
# reward values, the query horizon, shown episodes and the observation shape.
AGENT_AXES = {"E", "W", "K", "horizon", "shown", "obs"}


def test_guard_keeps_the_whole_old_state_unless_every_value_is_finite():
    old = {"params": jnp.array([1.0, -0.0]), "step": jnp.array(3)}
    new = {"params": jnp.array([2.0, 0.5]), "step": jnp.array(4)}
    assert bool(all_finite(jnp.float32(1.0), jnp.float32(2.0)))
    for bad in (jnp.nan, jnp.inf, -jnp.inf):
        finite = all_finite(jnp.float32(1.0), jnp.float32(bad))
        assert not bool(finite)
        kept = keep_if_finite(new, old, finite)
        assert jax.tree.all(jax.tree.map(lambda x, y: bool((x == y).all()), kept, old))
        assert np.signbit(kept["params"][1])  # bitwise the old leaf, sign of zero included
    taken = keep_if_finite(new, old, all_finite(jnp.float32(0.0)))
    assert jax.tree.all(jax.tree.map(lambda x, y: bool((x == y).all()), taken, new))


def test_streak_counts_non_finite_updates_in_a_row():
    streak = jnp.zeros((), jnp.int32)
    seen = []
    for finite in (False, False, True, False):
        streak = nonfinite_streak(streak, jnp.bool_(finite))
        seen.append(int(streak))
    assert seen == [1, 2, 0, 1] and streak.dtype == jnp.int32


def init(key):
    """A toy init with a QR, the operation that must not be batched."""
    weights = jax.random.normal(key, (4, 4))
    return {"q": jnp.linalg.qr(weights)[0], "key": jax.random.split(key)[0]}


def test_seeds_are_initialised_one_at_a_time_and_equal_the_single_seed_init():
    keys = jax.random.split(jax.random.key(0), 3)
    mapped = jax.jit(map_seeds(init))(keys)
    vmapped = jax.jit(jax.vmap(seed_by_seed(init)))(keys)
    for i in range(3):
        one = init(keys[i])
        np.testing.assert_allclose(mapped["q"][i], one["q"], rtol=1e-6)
        assert bool(
            (jax.random.key_data(mapped["key"][i]) == jax.random.key_data(one["key"])).all()
        )
    np.testing.assert_array_equal(vmapped["q"], mapped["q"])
    assert bool((jax.random.key_data(vmapped["key"]) == jax.random.key_data(mapped["key"])).all())
    jaxpr = str(jax.make_jaxpr(jax.vmap(seed_by_seed(init)))(keys))
    assert "scan" in jaxpr  # the vmap rule loops over the seeds


@pytest.mark.parametrize(
    "fn",
    [
        map_seeds,
        seed_by_seed,
        all_finite,
        keep_if_finite,
        nonfinite_streak,
        update_stats,
        world_model.sample_windows,
        world_model.blind_mask,
        world_model.init_train_state,
        world_model.SeedEvaluation,
        world_model.LoopState,
    ],
)
def test_public_signatures_name_design_or_documented_axes(fn):
    found = {name for shapes in hints(fn).values() for _, axes in shapes for name in axes}
    assert found <= DESIGN_AXES | AGENT_AXES, found - DESIGN_AXES - AGENT_AXES
    assert hints(fn), f"{fn.__qualname__} has no annotations"
