"""World models (S4WM on s5/lru/gru, RSSM on gru, TSSM): shapes and named loss terms, parallel
`observe` = the step-by-step path, deterministic imagination and start semantics inside a batch
(a tiny training run is in tests/agents/test_world_model_train.py).

Keys use the `rbg` implementation: on the CPU every threefry draw compiles in seconds (the
partitionable threefry of current jax) and a model holds dozens of draws. The one exception is the
comparison of parallel and step-by-step sampling, which needs draws that do not change under vmap
(threefry's do, rbg's do not).
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import rlssm.world_models as wm
from tests.rlssm.helpers import tree_allclose

T, B, D, A = 8, 3, 5, 3
WIDTH, GROUPS, CLASSES = 16, 4, 4
VARIANTS = {
    "s4wm-s5": ("s4wm", "s5", {"state_size": 8, "scan_mode": "parallel"}),
    "s4wm-lru": ("s4wm", "lru", {"state_size": 8}),
    "s4wm-gru": ("s4wm", "gru", {}),
    "rssm-gru": ("rssm", "gru", {}),
    "tssm": ("tssm", "transformer", {"num_heads": 2, "window": 4}),
}
TERMS = {"loss", "recon", "reward", "continue", "kl_dyn", "kl_rep", "kl"}


def key(seed: int) -> jax.Array:
    return jax.random.key(seed, impl="rbg")


def tiny_model(variant: str, **overrides) -> wm.WorldModel:
    """A width-16 model of `variant` on vector observations `[D]` and `A` discrete actions."""
    name, core, options = VARIANTS[variant]
    kwargs = {
        "obs_shape": (D,),
        "action_dim": A,
        "hidden_size": WIDTH,
        "latent_groups": GROUPS,
        "latent_classes": CLASSES,
        "reward_bins": 15,
    }
    core_options = {"hidden_size": WIDTH, **options}
    return wm.make(name, core=core, core_options=core_options, **{**kwargs, **overrides})


@functools.cache
def model_and_params(variant: str, **overrides):
    model = tiny_model(variant, **overrides)
    return model, model.init(key(0))


def action_head_model(variant: str):
    """A `reward_head='action'` model whose parameters are perturbed, so that the zero-init
    reward head's outputs differ by action."""
    model, params = model_and_params(variant, reward_head="action")
    noise = jax.random.split(key(7), len(jax.tree.leaves(params)))
    leaves = [
        p + 0.3 * jax.random.normal(k, p.shape)
        for p, k in zip(jax.tree.leaves(params), noise, strict=True)
    ]
    return model, jax.tree.unflatten(jax.tree.structure(params), leaves)


def random_batch(seed: int, length=T, batch=B, obs_shape=(D,), start_rate=0.2) -> wm.Batch:
    k_obs, k_act, k_rew, k_term, k_start = jax.random.split(key(seed), 5)
    return wm.Batch(
        obs=jax.random.uniform(k_obs, (length, batch, *obs_shape)),
        action=jax.random.randint(k_act, (length, batch), 0, A),
        reward=jax.random.normal(k_rew, (length, batch)),
        terminated=jax.random.bernoulli(k_term, 0.1, (length, batch)),
        start=jax.random.bernoulli(k_start, start_rate, (length, batch)).at[0].set(True),
    )


@pytest.fixture(params=list(VARIANTS))
def variant(request):
    return request.param


def test_shapes_and_named_loss_terms(variant):
    model, params = model_and_params(variant)
    batch = random_batch(1)
    carry0 = model.initial_carry(B)
    carry, states, outputs = jax.eval_shape(
        model.observe, params, carry0, batch.obs, batch.action, batch.start, key(2)
    )
    assert states.stoch.shape == (T, B, GROUPS * CLASSES) and states.deter.shape == (T, B, WIDTH)
    assert outputs.prior.shape == outputs.posterior.shape == (T, B, GROUPS, CLASSES)
    assert jax.tree.map(jnp.shape, carry) == jax.tree.map(jnp.shape, carry0)
    loss, metrics = jax.jit(model.loss)(params, batch, key(2))
    assert set(metrics) >= TERMS
    assert all(np.isfinite(float(value)) for value in metrics.values())
    weighted = (
        metrics["recon"]
        + metrics["reward"]
        + metrics["continue"]
        + 0.5 * metrics["kl_dyn"]
        + 0.1 * metrics["kl_rep"]
    )
    np.testing.assert_allclose(loss, weighted, rtol=1e-5)
    assert float(metrics["kl_dyn"]) >= 1.0 and float(metrics["kl_rep"]) >= 1.0  # free nats


def test_observe_in_parallel_equals_step_by_step(variant):
    model, params = model_and_params(variant)
    batch = random_batch(3, start_rate=0.25)
    carry0 = model.initial_carry(B)

    @jax.jit
    def both(params, sample_key):
        whole = model.observe(params, carry0, batch.obs, batch.action, batch.start, sample_key)

        def body(carry, inputs):
            obs, action, start, step_key = inputs
            carry, state, outputs = model.observe_step(params, carry, obs, action, start, step_key)
            return carry, (state, outputs)

        keys = jax.random.split(sample_key, T)
        inputs = (batch.obs, batch.action, batch.start, keys)
        carry, (states, outputs) = jax.lax.scan(body, carry0, inputs)
        return whole, (carry, states, outputs)

    whole, stepwise = both(params, jax.random.key(4, impl="threefry2x32"))
    assert tree_allclose(whole, stepwise, atol=1e-4, rtol=1e-4)
    stoch = np.asarray(whole[1].stoch).reshape(T, B, GROUPS, CLASSES)
    np.testing.assert_allclose(stoch.sum(-1), 1.0, atol=1e-5)  # one-hot samples
    assert set(np.unique(np.round(stoch, 5))) <= {0.0, 1.0}


def test_blind_steps_drop_the_previous_latent_alike_in_parallel_and_step_by_step(variant):
    """`blind[t]` zeroes `z[t - 1]` in the backbone input: the parallel path equals a step loop
    given the same mask, the steps before the first blind one are untouched, and an all-False
    mask equals no mask."""
    model, params = model_and_params(variant)
    batch = random_batch(13, start_rate=0.0)
    blind = jnp.zeros((T, B), bool).at[4:, 0].set(True).at[6, 2].set(True)
    carry0 = model.initial_carry(B)
    observe = functools.partial(model.observe, sample=False)

    @jax.jit
    def run(params):
        args = (params, carry0, batch.obs, batch.action, batch.start, key(0))
        plain, masked = observe(*args), observe(*args, blind=blind)
        none_blind = observe(*args, blind=jnp.zeros((T, B), bool))

        def body(carry, inputs):
            obs, action, start, row_blind = inputs
            carry, state, outputs = model.observe_step(
                params, carry, obs, action, start, key(0), sample=False, blind=row_blind
            )
            return carry, (state, outputs)

        inputs = (batch.obs, batch.action, batch.start, blind)
        carry, (states, outputs) = jax.lax.scan(body, carry0, inputs)
        return plain, masked, none_blind, (carry, states, outputs)

    plain, masked, none_blind, stepwise = run(params)
    assert tree_allclose(masked, stepwise, atol=1e-4, rtol=1e-4)
    assert tree_allclose(plain, none_blind, atol=0, rtol=0)
    deter, blind_deter = np.asarray(plain[1].deter), np.asarray(masked[1].deter)
    # Untouched rows agree up to float rounding (the two calls may fuse differently).
    untouched = functools.partial(np.testing.assert_allclose, rtol=1e-6, atol=1e-6)
    untouched(deter[:, 1], blind_deter[:, 1])  # row 1 is never blind
    untouched(deter[:4, 0], blind_deter[:4, 0])
    assert not np.allclose(deter[4, 0], blind_deter[4, 0])
    untouched(deter[:6, 2], blind_deter[:6, 2])
    assert not np.allclose(deter[6, 2], blind_deter[6, 2])
    with pytest.raises(TypeError, match="blind must be None or bool"):
        model.observe(params, carry0, batch.obs, batch.action, batch.start, key(0), blind=blind[0])


def test_imagination_is_deterministic_given_keys(variant):
    model, params = model_and_params(variant)
    batch = random_batch(5)
    horizon = 6
    actions = jax.random.randint(key(6), (horizon, B), 0, A)

    def policy(features, policy_key):
        noise = jax.random.uniform(policy_key, features.shape[:1])
        return (jnp.argmax(features[:, :A], -1) + (noise > 0.5)) % A

    @jax.jit
    def imagine(params, sample_key):
        carry, _, _ = model.observe(params, model.initial_carry(B), *batch[:2], batch.start, key(7))
        _, sampled = model.imagine(params, carry, actions, sample_key)
        _, by_policy = model.imagine(params, carry, policy, sample_key, horizon, sample=False)
        _, replayed = model.imagine(params, carry, by_policy.action, sample_key, sample=False)
        return sampled, by_policy, replayed

    sampled, by_policy, replayed = imagine(params, key(8))
    again, _, _ = imagine(params, key(8))
    other, _, _ = imagine(params, key(9))
    assert tree_allclose(sampled, again, atol=0, rtol=0)
    assert not np.allclose(sampled.state.stoch, other.state.stoch)
    assert tree_allclose(by_policy, replayed)
    assert sampled.obs.shape == (horizon, B, D) and sampled.action.shape == (horizon, B, A)
    assert sampled.reward.shape == sampled.continue_prob.shape == (horizon, B)
    assert np.all((sampled.continue_prob >= 0) & (sampled.continue_prob <= 1))


def test_start_resets_inside_a_batch_and_ignores_the_carry(variant):
    """Episodes packed in a row (and rows starting on a used carry) equal fresh separate runs."""
    model, params = model_and_params(variant)
    observe = jax.jit(functools.partial(model.observe, sample=False))
    warm = random_batch(10)
    used_carry, _, _ = observe(
        params, model.initial_carry(B), warm.obs, warm.action, warm.start, key(0)
    )
    packed = random_batch(11, start_rate=0.0)
    packed = packed._replace(start=packed.start.at[5, 0].set(True).at[3, 2].set(True))
    fresh = model.initial_carry(B)
    _, states, outputs = observe(params, fresh, packed.obs, packed.action, packed.start, key(0))
    _, from_used, from_used_outputs = observe(
        params, used_carry, packed.obs, packed.action, packed.start, key(0)
    )
    assert tree_allclose((from_used, from_used_outputs), (states, outputs), atol=1e-5)
    # The second episode of rows 0 and 2 alone, moved to t = 0 and followed by other data.
    filler = random_batch(12, start_rate=0.0)
    alone = jax.tree.map(
        lambda f, p: f.at[:3, 0].set(p[5:, 0]).at[:5, 2].set(p[3:, 2]), filler, packed
    )
    _, alone_states, alone_outputs = observe(
        params, fresh, alone.obs, alone.action, alone.start, key(0)
    )
    for row, first in ((0, 5), (2, 3)):
        in_packed = jax.tree.map(lambda x, r=row, f=first: x[f:, r], (states, outputs))
        in_alone = jax.tree.map(
            lambda x, r=row, f=first: x[: T - f, r], (alone_states, alone_outputs)
        )
        assert tree_allclose(in_packed, in_alone, atol=1e-5)
    # Row 1 has no start after t = 0, so its latter half differs from the filler's.
    assert not np.allclose(states.deter[5:, 0], alone_states.deter[5:, 0])


def test_image_observations_gaussian_latent_and_symlog_reward_shapes():
    """Shapes only (`eval_shape` compiles nothing): CNN encoder/decoder on 32x32x3 images."""
    model = tiny_model(
        "s4wm-s5",
        obs_shape=(32, 32, 3),
        cnn_depth=4,
        latent="gaussian",
        latent_size=6,
        reward_loss="symlog_mse",
    )
    params = jax.eval_shape(model.init, key(0))
    batch = random_batch(13, obs_shape=(32, 32, 3))
    carry, states, outputs = jax.eval_shape(
        model.observe, params, model.initial_carry(B), *batch[:2], batch.start, key(1)
    )
    assert states.stoch.shape == (T, B, 6) and outputs.prior.shape == (T, B, 2, 6)
    predictions = jax.eval_shape(model.predict, params, states)
    assert predictions.obs.shape == (T, B, 32, 32, 3) and predictions.reward.shape == (T, B, 1)
    _, imagined = jax.eval_shape(model.imagine, params, carry, batch.action[:4], key(2))
    assert imagined.obs.shape == (4, B, 32, 32, 3) and imagined.reward.shape == (4, B)
    _, metrics = jax.eval_shape(model.loss, params, batch, key(3))
    assert set(metrics) >= TERMS and all(m.shape == () for m in metrics.values())


@pytest.mark.parametrize("variant", ["s4wm-s5", "rssm-gru"])
def test_action_reward_head_reads_the_taken_actions_head(variant):
    """`reward_head='action'`: a state's reward output is the row of the head's `[A, R]` output
    that belongs to the action that led to it, for integer and one-hot actions, in the loss's
    reward term and in imagination; without actions it refuses."""
    model, params = action_head_model(variant)
    batch = random_batch(5)
    carry, states, _ = model.observe(
        params, model.initial_carry(B), batch.obs, batch.action, batch.start, key(1)
    )
    heads = model.net().apply(params, states.features, method=lambda net, f: net.reward_head(f))
    heads = heads.reshape(T, B, A, -1)
    taken = jnp.take_along_axis(heads, batch.action[..., None, None], axis=2)[..., 0, :]
    reward = model.predict(params, states, batch.action).reward
    np.testing.assert_allclose(reward, taken, rtol=1e-5, atol=1e-6)
    one_hot = model.predict(params, states, jax.nn.one_hot(batch.action, A)).reward
    np.testing.assert_allclose(one_hot, taken, rtol=1e-5, atol=1e-6)
    other = model.predict(params, states, (batch.action + 1) % A).reward
    assert not np.allclose(other, reward, atol=1e-3)  # the heads differ by action
    _, metrics = model.loss(params, batch, key(1))
    reward_dist = wm.latents.reward_for(model.config)
    error = jnp.abs(reward_dist.mean(taken) - batch.reward).mean()
    np.testing.assert_allclose(metrics["reward_mae"], error, rtol=1e-5)
    _, imagined = model.imagine(params, carry, batch.action[:4], key(2), sample=False)
    again = model.predict(params, imagined.state, batch.action[:4]).reward
    np.testing.assert_allclose(imagined.reward, reward_dist.mean(again), rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="pass the action"):
        model.predict(params, states)


def test_the_loss_feeds_the_backbone_its_own_actions_and_the_reward_head_the_taken_ones():
    """`loss(..., backbone_action=X)`: every term but the reward is that of a batch whose
    actions are `X` (the backbone reads `X`); the reward term is the taken actions' heads on
    the states `X` led to. Default: the batch's actions."""
    model, params = action_head_model("s4wm-s5")
    batch = random_batch(5)
    other = (batch.action + 1) % A
    _, plain = model.loss(params, batch, key(1))
    _, same = model.loss(params, batch, key(1), backbone_action=batch.action)
    _, fed = model.loss(params, batch, key(1), backbone_action=other)
    _, relabelled = model.loss(params, batch._replace(action=other), key(1))
    assert plain == same
    for term in ("recon", "continue", "kl", "prior_entropy"):
        np.testing.assert_allclose(fed[term], relabelled[term], rtol=1e-6)
    assert not np.allclose(fed["kl"], plain["kl"], rtol=1e-4)  # the backbone read `other`
    _, states, _ = model.observe(
        params, model.initial_carry(B), batch.obs, other, batch.start, key(1)
    )
    taken = model.predict(params, states, batch.action).reward
    reward_dist = wm.latents.reward_for(model.config)
    error = jnp.abs(reward_dist.mean(taken) - batch.reward).mean()
    np.testing.assert_allclose(fed["reward_mae"], error, rtol=1e-5)
    assert not np.allclose(fed["reward_mae"], relabelled["reward_mae"], rtol=1e-4)
