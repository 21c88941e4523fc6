"""Pieces of the world models against independent references: symlog, two-hot, latent KLs and
entropies (NumPy closed forms), KL balancing, straight-through samples, the Transformer backbone's
memory-core semantics, and config validation."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import rlssm.world_models as wm
from rlssm.world_models.networks import ImageDecoder, ImageEncoder, encode_action
from tests.rlssm.helpers import tree_allclose


def key(seed: int) -> jax.Array:
    return jax.random.key(seed, impl="rbg")


def test_symlog_and_symexp():
    x = np.array([-1e4, -3.0, -0.5, 0.0, 0.25, 2.0, 1e3], np.float32)
    np.testing.assert_allclose(wm.symlog(x), np.sign(x) * np.log(1 + np.abs(x)), rtol=1e-6)
    np.testing.assert_allclose(wm.symexp(wm.symlog(x)), x, rtol=1e-5)


def twohot_reference(x: float, bins: np.ndarray) -> np.ndarray:
    out = np.zeros(len(bins))
    if x <= bins[0]:
        out[0] = 1.0
    elif x >= bins[-1]:
        out[-1] = 1.0
    else:
        i = int(np.nonzero(bins <= x)[0][-1])
        w = (x - bins[i]) / (bins[i + 1] - bins[i])
        out[i], out[i + 1] = 1.0 - w, w
    return out


def test_twohot_matches_a_loop_and_keeps_the_mean():
    bins = np.linspace(-3.0, 3.0, 7).astype(np.float32)
    x = np.array([-5.0, -3.0, -2.5, -0.1, 0.0, 0.7, 2.999, 3.0, 9.0], np.float32)
    expected = np.stack([twohot_reference(float(v), bins) for v in x])
    np.testing.assert_allclose(wm.twohot(jnp.asarray(x), jnp.asarray(bins)), expected, atol=1e-6)
    inside = np.abs(x) <= 3.0
    np.testing.assert_allclose((expected @ bins)[inside], x[inside], atol=1e-5)


def test_twohot_reward_mean_inverts_its_target():
    reward = wm.TwoHotReward(num_bins=41)
    targets = jnp.array([-30.0, -1.0, 0.0, 0.3, 5.0, 200.0])
    logits = jnp.log(wm.twohot(wm.symlog(targets), reward.bins()) + 1e-12)
    np.testing.assert_allclose(reward.mean(logits), targets, rtol=1e-4, atol=1e-5)
    # The loss is smallest at the two-hot target itself.
    assert np.all(reward.loss(logits, targets) < reward.loss(logits[::-1], targets))


@pytest.mark.parametrize("shape", [(6, 255), (2, 3, 7), (4, 1), (5, 2)])
def test_bin_softmax_helpers_match_jax(shape):
    """`max_last`, `log_softmax` and `expectation` (the two-hot heads' and critic's numerics,
    written for XLA's CPU backend) against `max` and jax.nn, values and gradients."""
    from rlssm.world_models.latents import expectation, log_softmax, max_last

    x = 3.0 * jax.random.normal(jax.random.key(0), shape)
    values = jnp.linspace(-2.0, 5.0, shape[-1])
    weights = jax.random.uniform(jax.random.key(1), shape)
    np.testing.assert_array_equal(max_last(x), x.max(-1))
    np.testing.assert_allclose(log_softmax(x), jax.nn.log_softmax(x, -1), atol=1e-5)
    np.testing.assert_allclose(
        expectation(x, values), jax.nn.softmax(x, -1) @ values, rtol=1e-5, atol=1e-5
    )

    def grads(fn):
        return jax.grad(lambda x: jnp.sum(weights * fn(x)))(x)

    np.testing.assert_allclose(
        grads(log_softmax), grads(lambda x: jax.nn.log_softmax(x, -1)), atol=1e-5
    )
    ours = jax.grad(lambda x: jnp.sum(expectation(x, values)))(x)
    theirs = jax.grad(lambda x: jnp.sum(jax.nn.softmax(x, -1) @ values))(x)
    np.testing.assert_allclose(ours, theirs, atol=1e-5)
    # Shifted far past exp's range, the results stay finite and unchanged.
    np.testing.assert_allclose(log_softmax(x + 1e3), log_softmax(x), atol=1e-4)
    np.testing.assert_allclose(expectation(x - 1e3, values), expectation(x, values), atol=1e-4)


def test_discrete_latent_kl_entropy_and_unimix_match_numpy():
    latent = wm.DiscreteLatent(groups=3, classes=5, unimix=0.01)
    raw_p, raw_q = jax.random.normal(key(0), (2, 4, 15)) * 3
    p, q = np.exp(latent.stats(raw_p)), np.exp(latent.stats(raw_q))
    softmax = np.exp(raw_p.reshape(4, 3, 5)) / np.exp(raw_p.reshape(4, 3, 5)).sum(-1, keepdims=True)
    np.testing.assert_allclose(p, 0.99 * softmax + 0.01 / 5, rtol=1e-5)
    assert p.min() >= 0.01 / 5 - 1e-7
    expected_kl = np.sum(p * (np.log(p) - np.log(q)), axis=(-2, -1))
    np.testing.assert_allclose(
        latent.kl(latent.stats(raw_p), latent.stats(raw_q)), expected_kl, 1e-5
    )
    np.testing.assert_allclose(
        latent.entropy(latent.stats(raw_p)), -np.sum(p * np.log(p), axis=(-2, -1)), rtol=1e-5
    )


def test_gaussian_latent_kl_matches_the_closed_form():
    latent = wm.GaussianLatent(size=4, min_std=0.1)
    raw_p, raw_q = jax.random.normal(key(1), (2, 3, 8))
    sp, sq = latent.stats(raw_p), latent.stats(raw_q)
    (mp, dp), (mq, dq) = np.moveaxis(np.asarray(sp), -2, 0), np.moveaxis(np.asarray(sq), -2, 0)
    assert dp.min() > 0.1
    expected = np.sum(np.log(dq / dp) + (dp**2 + (mp - mq) ** 2) / (2 * dq**2) - 0.5, -1)
    np.testing.assert_allclose(latent.kl(sp, sq), expected, rtol=1e-5)


def test_straight_through_sample_is_one_hot_with_the_gradient_of_the_probabilities():
    latent = wm.DiscreteLatent(groups=2, classes=4, unimix=0.0)
    raw = jax.random.normal(key(2), (6, 8))
    weights = jax.random.normal(key(3), (6, 8))
    sample = latent.sample(latent.stats(raw), key(4))
    np.testing.assert_allclose(sample.reshape(6, 2, 4).sum(-1), 1.0, atol=1e-6)
    assert set(np.unique(np.round(sample, 6))) <= {0.0, 1.0}

    def through_sample(r):
        return jnp.sum(weights * latent.sample(latent.stats(r), key(4)))

    def through_probs(r):
        return jnp.sum(weights.reshape(6, 2, 4) * jax.nn.softmax(r.reshape(6, 2, 4), -1))

    np.testing.assert_allclose(
        jax.grad(through_sample)(raw), jax.grad(through_probs)(raw), atol=1e-6
    )


def test_discrete_latent_samples_follow_their_probabilities():
    """Class frequencies of 40k draws per variable against the probabilities (a zero-probability
    class is never drawn), and against distrax's sampler of the same distribution."""
    latent = wm.DiscreteLatent(groups=3, classes=5, unimix=0.0)
    probs = jnp.array([[0.5, 0.3, 0.2, 0.0, 0.0], [0.0, 0.1, 0.0, 0.0, 0.9], [0.2] * 5])
    stats = jnp.log(probs)
    draws = 40_000
    samples = latent.sample(jnp.broadcast_to(stats, (draws, 3, 5)), key(5))
    freq = samples.reshape(draws, 3, 5).mean(0)
    np.testing.assert_allclose(freq, probs, atol=4 * np.sqrt(0.25 / draws))
    assert float(freq[0, 3:].sum() + freq[1, 0] + freq[1, 2:4].sum()) == 0.0
    theirs = latent.distribution(jnp.broadcast_to(stats, (draws, 3, 5))).sample(seed=key(6))
    np.testing.assert_allclose(freq, theirs.mean(0), atol=8 * np.sqrt(0.25 / draws))


def test_balanced_kl_routes_gradients_and_clips_at_free_nats():
    latent = wm.DiscreteLatent(groups=4, classes=4, unimix=0.01)
    post, prior = latent.stats(jax.random.normal(key(5), (2, 3, 16)) * 4)

    def term(which, free):
        def f(post, prior):
            return jnp.sum(wm.balanced_kl(latent, post, prior, free)[which])

        return jax.grad(f, argnums=(0, 1))(post, prior)

    g_post, g_prior = term(0, 0.0)  # kl_dyn trains the prior only
    assert not np.any(g_post) and np.any(g_prior)
    g_post, g_prior = term(1, 0.0)  # kl_rep trains the posterior only
    assert np.any(g_post) and not np.any(g_prior)
    kl_dyn, kl_rep, kl = wm.balanced_kl(latent, post, prior, 0.0)
    np.testing.assert_allclose(kl_dyn, kl_rep, rtol=1e-6)
    np.testing.assert_allclose(kl, latent.kl(post, prior), rtol=1e-6)
    free = float(kl.max()) + 1.0
    kl_dyn, kl_rep, _ = wm.balanced_kl(latent, post, prior, free)
    np.testing.assert_allclose(kl_dyn, free) and np.testing.assert_allclose(kl_rep, free)
    for which in (0, 1):
        assert not any(np.any(g) for g in term(which, free))


def small_transformer(window=3):
    return wm.TransformerConfig(hidden_size=8, num_layers=2, num_heads=2, window=window).build()


def transformer_inputs(seed, length=10, batch=2, dim=4):
    x = jax.random.normal(key(seed), (length, batch, dim))
    start = jnp.zeros((length, batch), bool).at[0].set(True).at[6, 0].set(True).at[2, 1].set(True)
    return x, start


def test_transformer_core_step_loop_and_chunks_equal_the_sequence():
    core = small_transformer()
    x, start = transformer_inputs(0)
    carry = core.initialize_carry(2)
    params = jax.jit(core.init)(key(1), carry, x, start)

    @jax.jit
    def paths(params):
        whole = core.apply(params, carry, x, start)

        def body(c, inputs):
            return core.apply(params, c, *inputs, method="step")

        stepwise = jax.lax.scan(body, carry, (x, start))
        middle, first = core.apply(params, carry, x[:4], start[:4])
        end, second = core.apply(params, middle, x[4:], start[4:])
        return whole, stepwise, (end, jnp.concatenate([first, second]))

    whole, stepwise, chunked = paths(params)
    assert tree_allclose(whole, stepwise) and tree_allclose(whole, chunked)
    assert whole[1].shape == (10, 2, 8)


def test_transformer_core_reads_only_its_windows_within_its_episode():
    """Each of the 2 layers reads 3 inputs back, so an output reads up to 6 inputs back."""
    window = 3
    core = small_transformer(window)
    x, start = transformer_inputs(2)
    carry = core.initialize_carry(2)
    params = jax.jit(core.init)(key(3), carry, x, start)
    jacobian = jax.jit(jax.jacrev(lambda x: core.apply(params, carry, x, start)[1]))(x)
    # reads[t, b, s, c]: output y[t, b] depends on input x[s, c].
    reads = np.any(np.asarray(jacobian) != 0, axis=(2, 5))
    assert not reads[:, 0, :, 1].any() and not reads[:, 1, :, 0].any()
    episode = np.cumsum(np.asarray(start), 0)
    t, s = np.arange(10)[:, None], np.arange(10)[None, :]
    for b in range(2):
        same = episode[:, b][:, None] == episode[:, b][None, :]
        expected = same & (s <= t) & (s >= t - 2 * window)
        np.testing.assert_array_equal(reads[:, b, :, b], expected)


def test_make_validates_names_and_options():
    with pytest.raises(ValueError, match="s4wm"):
        wm.make("s4vm")
    with pytest.raises(ValueError, match="transformer"):
        wm.make("tssm", core="transformr")
    with pytest.raises(TypeError, match="latent_size"):
        wm.make("rssm", latent_sise=3)
    with pytest.raises(TypeError, match="window"):
        wm.make("tssm", core_options={"windw": 3})
    with pytest.raises(ValueError, match="power of two"):
        wm.make("s4wm", obs_shape=(12, 12, 3))
    with pytest.raises(ValueError, match="latent"):
        wm.make("s4wm", latent="beta")
    with pytest.raises(ValueError, match=r"reward_head='actions'.*'state', 'action'"):
        wm.make("s4wm", reward_head="actions")
    with pytest.raises(ValueError, match="num_heads"):
        wm.TransformerConfig(hidden_size=6, num_heads=4)
    assert wm.registered() == ("s4wm", "rssm", "tssm")
    assert isinstance(wm.make("rssm").config.core, type(wm.BACKBONES["gru"]()))
    model = wm.make("s4wm", core=wm.BACKBONES["lru"](hidden_size=8), core_options={"num_layers": 2})
    assert model.config.core.num_layers == 2 and model.config.deter_size == 8


def test_actions_are_one_hot_encoded_or_checked():
    np.testing.assert_array_equal(encode_action(jnp.array([2, 0]), 3), np.eye(3)[[2, 0]])
    continuous = jnp.ones((2, 3))
    np.testing.assert_array_equal(encode_action(continuous, 3), continuous)
    with pytest.raises(ValueError, match="action_dim=4"):
        encode_action(continuous, 4)


def test_out_of_range_actions_are_refused_when_concrete():
    options = {"hidden_size": 8, "state_size": 4}
    model = wm.make("s4wm", core_options=options, obs_shape=(5,), action_dim=3)
    params = jax.eval_shape(model.init, key(0))
    carry, obs, start = model.initial_carry(2), jnp.zeros((4, 2, 5)), jnp.zeros((4, 2), bool)
    for bad in (3, -1):
        action = jnp.zeros((4, 2), int).at[1, 0].set(bad)
        with pytest.raises(ValueError, match=rf"action holds {bad}, outside.*action_dim=3.*0\.\.2"):
            model.observe(params, carry, obs, action, start, key(1))
        with pytest.raises(ValueError, match=rf"action holds {bad}"):
            model.observe_step(params, carry, obs[0], action[1], start[0], key(1))
        # Traced actions are not checked: the out-of-range id one-hot encodes as zeros.
        jax.eval_shape(model.observe, params, carry, obs, action, start, key(1))
    np.testing.assert_array_equal(encode_action(jnp.array([3, -1]), 3), np.zeros((2, 3)))


def test_observe_rejects_misshapen_inputs_at_trace_time():
    model = wm.make("s4wm", core_options={"hidden_size": 8, "state_size": 4}, obs_shape=(5,))
    params = jax.eval_shape(model.init, key(0))
    carry = model.initial_carry(2)
    obs, action, start = jnp.zeros((4, 2, 5)), jnp.zeros((4, 2), int), jnp.zeros((4, 2), bool)

    def observe(obs, action, start):
        return jax.eval_shape(model.observe, params, carry, obs, action, start, key(1))

    observe(obs, action, start)
    with pytest.raises(ValueError, match=r"obs must be \[T, B\] \+ \(5,\)"):
        observe(obs[..., :4], action, start)
    with pytest.raises(TypeError, match="start must be bool"):
        observe(obs, action, start.astype(int))
    with pytest.raises(ValueError, match="action must be"):
        observe(obs, jnp.zeros((4, 2, 3)), start)


def test_image_networks_treat_every_leading_axis_alike():
    # The encoder and decoder merge the leading axes (the last one outermost, for devices);
    # each element's output must not depend on that layout.
    frames = jax.random.normal(key(0), (2, 3, 4, 8, 8, 3))
    encoder, decoder = ImageEncoder(4, 2, jax.nn.silu), ImageDecoder((8, 8, 3), 4, 2, jax.nn.silu)
    enc_params = encoder.init(key(1), frames)
    features = encoder.apply(enc_params, frames)
    one = encoder.apply(enc_params, frames[1, 2, 3])
    np.testing.assert_allclose(features[1, 2, 3], one, rtol=1e-5, atol=1e-6)
    dec_params = decoder.init(key(2), features)
    images = decoder.apply(dec_params, features)
    assert images.shape == frames.shape
    np.testing.assert_allclose(
        images[1, 2], decoder.apply(dec_params, features[1, 2]), rtol=1e-5, atol=1e-6
    )
