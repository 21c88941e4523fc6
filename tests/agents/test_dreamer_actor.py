"""The actor's distributions against hand computation; the loss's gradients on toy policies: the
direction and size of REINFORCE's step, the entropy bonus's sign, where gradients stop."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from agents.dreamer.actor import (
    FirstStepActor,
    actor_loss,
    actor_optimizer,
    bounded_normal_policy,
    categorical_policy,
    start_objective,
)


def test_unimix_probabilities_by_hand():
    dist = categorical_policy(jnp.array([0.0, np.log(3.0)]))  # softmax 0.25, 0.75
    np.testing.assert_allclose(dist.probs, [0.99 * 0.25 + 0.005, 0.99 * 0.75 + 0.005], rtol=1e-6)
    dist = categorical_policy(jnp.array([[0.0, 0.0, 0.0, np.log(97.0)]]))  # 0.01 x 3, 0.97
    expected = 0.99 * np.array([0.01, 0.01, 0.01, 0.97]) + 0.0025
    np.testing.assert_allclose(dist.probs[0], expected, rtol=1e-5)
    np.testing.assert_allclose(dist.log_prob(jnp.array([3])), np.log(expected[3:]), rtol=1e-5)
    entropy = -(expected * np.log(expected)).sum()
    np.testing.assert_allclose(dist.entropy(), [entropy], rtol=1e-5)
    pure = categorical_policy(jnp.array([0.0, np.log(3.0)]), unimix=0.0)
    np.testing.assert_allclose(pure.probs, [0.25, 0.75], rtol=1e-6)


def test_samples_are_actions_under_jit():
    @jax.jit
    def sample(raw, key):
        return categorical_policy(raw).sample(seed=key)

    action = sample(jnp.zeros((5, 3, 4)), jax.random.key(0))
    assert action.shape == (5, 3) and jnp.issubdtype(action.dtype, jnp.integer)
    assert int(action.min()) >= 0 and int(action.max()) < 4


def test_samples_follow_the_mixed_probabilities():
    """Action frequencies of 40k draws (the actor's inverse-CDF sampler) against the mixed
    probabilities, for one distribution and a batch of them."""
    raw = jnp.array([[0.0, np.log(3.0), -30.0], [2.0, 0.0, 1.0]])
    dist = categorical_policy(raw)
    draws = dist.sample(seed=jax.random.key(1), sample_shape=40_000)
    assert draws.shape == (40_000, 2)
    freq = np.stack([(np.asarray(draws) == a).mean(0) for a in range(3)], -1)
    np.testing.assert_allclose(freq, dist.probs, atol=4 * np.sqrt(0.25 / 40_000))


def toy_loss(theta, action, advantage, entropy_coef=0.0, unimix=0.01, scale=1.0):
    """One imagined state, two actions with logits `theta`; `returns - value = advantage`."""
    dist = categorical_policy(theta[None, None], unimix)
    log_prob = dist.log_prob(jnp.array([[action]]))
    returns, value, weight = jnp.full((1, 1), 1.0 + advantage), jnp.ones((1, 1)), jnp.ones((1, 1))
    return actor_loss(
        log_prob, dist.entropy(), returns, value, weight, scale, entropy_coef=entropy_coef
    )[0]


toy_grad = jax.jit(jax.grad(toy_loss), static_argnames=("entropy_coef", "unimix", "scale"))


@pytest.mark.parametrize(("action", "advantage"), [(0, 1.0), (1, 1.0), (0, -1.0), (1, -0.5)])
def test_reinforce_moves_probability_with_the_advantage(action, advantage):
    theta = jnp.array([0.3, -0.2])
    stepped = theta - 0.5 * toy_grad(theta, action, advantage)
    before = categorical_policy(theta).probs[action]
    after = categorical_policy(stepped).probs[action]
    assert (after > before) == (advantage > 0), (before, after)


def test_reinforce_gradient_by_hand():
    # Uniform policy, action 0, advantage (3 - 1) / scale 2 = 1: d(-log p_0)/dtheta = p - onehot.
    def loss(theta):
        dist = categorical_policy(theta[None, None], unimix=0.0)
        log_prob = dist.log_prob(jnp.zeros((1, 1), jnp.int32))
        ones = jnp.ones((1, 1))
        return actor_loss(log_prob, dist.entropy(), 3.0 * ones, ones, ones, 2.0, entropy_coef=0)[0]

    np.testing.assert_allclose(jax.grad(loss)(jnp.zeros(2)), [-0.5, 0.5], atol=1e-6)


def test_entropy_bonus_raises_entropy():
    theta = jnp.array([1.0, -1.0])
    grad = toy_grad(theta, 0, 0.0, entropy_coef=0.1)  # zero advantage: only entropy
    entropy = categorical_policy(theta).entropy()
    assert float(categorical_policy(theta - grad).entropy()) > float(entropy)
    np.testing.assert_allclose(toy_loss(theta, 0, 0.0, entropy_coef=0.1), -0.1 * entropy)


def inputs(seed=0):
    rng = np.random.default_rng(seed)
    log_prob, entropy, returns, value = (rng.normal(size=(3, 2)).astype(np.float32) for _ in "1234")
    weight = np.array([[1.0, 1.0], [0.5, 0.9], [0.0, 0.3]], np.float32)
    return log_prob, entropy, returns, value, weight


@pytest.mark.parametrize("gradient", ["reinforce", "backprop"])
def test_loss_value_and_where_gradients_stop(gradient):
    log_prob, entropy, returns, value, weight = inputs()
    advantage = (returns - value) / 2.0
    objective = log_prob * advantage if gradient == "reinforce" else advantage
    expected = -(weight * (objective + 3e-4 * entropy)).mean()

    def loss(*args):
        return actor_loss(*args, 2.0, gradient=gradient)[0]

    np.testing.assert_allclose(loss(log_prob, entropy, returns, value, weight), expected, rtol=1e-5)
    grads = jax.grad(loss, argnums=(0, 1, 2, 3, 4))(log_prob, entropy, returns, value, weight)
    d_log_prob, d_entropy, d_returns, d_value, d_weight = (np.asarray(g) for g in grads)
    np.testing.assert_allclose(d_entropy, -3e-4 * weight / 6, rtol=1e-5)
    assert not d_value.any() and not d_weight.any()
    if gradient == "reinforce":
        np.testing.assert_allclose(d_log_prob, -weight * advantage / 6, rtol=1e-5)
        assert not d_returns.any()
    else:  # dynamics backprop: the gradient of the return itself, no log-prob term
        np.testing.assert_allclose(d_returns, -weight / 2.0 / 6, rtol=1e-5)
        assert not d_log_prob.any()


def test_expected_gradient_weighs_every_action_at_the_start_states():
    # Rows 1.. are REINFORCE's; row 0 is sum_a pi(a) (q_a - v_0) / scale, whose gradient
    # with respect to pi(a) is that action's advantage: a policy sure of action 0 (q 0) is
    # pushed towards action 1 (q 3) although it never samples it.
    log_prob, entropy, returns, value, weight = inputs()
    probs = jnp.array([[0.999, 0.001], [0.5, 0.5]], jnp.float32)
    q = jnp.array([[0.0, 3.0], [1.0, -1.0]], jnp.float32)
    advantage = (returns - value) / 2.0
    every = (probs * (q - value[0, :, None]) / 2.0).sum(-1)
    objective = np.concatenate([every[None], (log_prob * advantage)[1:]])
    expected = -(weight * (objective + 3e-4 * entropy)).mean()

    def loss(log_prob, probs, q, value):
        first = (probs, q)
        return actor_loss(log_prob, entropy, returns, value, weight, 2.0, "expected", 3e-4, first)[
            0
        ]

    np.testing.assert_allclose(loss(log_prob, probs, q, value), expected, rtol=1e-5)
    d_log_prob, d_probs, d_q, d_value = jax.grad(loss, argnums=(0, 1, 2, 3))(
        log_prob, probs, q, value
    )
    np.testing.assert_allclose(d_probs, -weight[0, :, None] * (q - value[0, :, None]) / 2 / 6)
    assert d_probs[0, 1] < d_probs[0, 0]  # descending the loss raises the better action
    assert not np.asarray(d_log_prob[0]).any()  # row 0's sampled action is not read
    np.testing.assert_allclose(d_log_prob[1:], -weight[1:] * advantage[1:] / 6, rtol=1e-5)
    assert not np.asarray(d_q).any() and not np.asarray(d_value).any()


def test_target_gradient_by_hand():
    # Row 0 is sum_a target_a log pi(a | s_0), target = softmax((q - v_0) / scale / tau): on
    # the logits its gradient is (pi - target) (times weight / count); a policy sure of the
    # worse action (q 0 against 3) gets a push of about 1 towards the better one, where the
    # expected gradient's push, pi_1 (q_1 - E_pi q) / scale, is about 1e-3.
    log_prob, entropy, returns, value, weight = inputs()
    q = jnp.array([[0.0, 3.0], [1.0, -1.0]], jnp.float32)
    logits = jnp.array([[7.0, 0.0], [0.0, 0.0]], jnp.float32)
    tau = 0.5
    target = np.asarray(jax.nn.softmax((q - value[0, :, None]) / 2.0 / tau))
    advantage = (returns - value) / 2.0

    def loss(logits, gradient="target", tau=tau):
        probs = categorical_policy(logits, unimix=0.0).probs
        first = (probs, q)
        args = (log_prob, entropy, returns, value, weight, 2.0, gradient, 0.0, first, tau)
        return actor_loss(*args)[0]

    probs = np.asarray(jax.nn.softmax(logits))
    start = (target * np.log(probs)).sum(-1)
    rest = (log_prob * advantage)[1:]
    hand = -(weight * np.concatenate([start[None], rest])).mean()
    np.testing.assert_allclose(loss(logits), hand, rtol=1e-5)
    grad = np.asarray(jax.grad(loss)(logits))
    np.testing.assert_allclose(
        grad, weight[0, :, None] * (probs - target) / 6, rtol=1e-4, atol=1e-7
    )
    assert grad[0, 1] < -0.1  # descending raises the better action's logit
    expected_push = -np.asarray(jax.grad(lambda x: loss(x, "expected"))(logits))[0, 1]
    assert 0 < expected_push < 1e-2 * -grad[0, 1]
    # A saturated policy without unimix (a probability of exactly 0) keeps the loss finite.
    sure = categorical_policy(jnp.array([[200.0, 0.0], [0.0, 0.0]]), unimix=0.0).probs
    assert float(sure[0, 1]) == 0.0
    finite = actor_loss(log_prob, entropy, returns, value, weight, 2.0, "target", 0.0, (sure, q))
    assert np.isfinite(float(finite[0]))
    # A colder target is surer of the better action.
    np.testing.assert_array_less(grad[0, 1], np.asarray(jax.grad(loss)(logits, tau=5.0))[0, 1])


@pytest.mark.parametrize("gradient", ["expected", "target"])
def test_start_rows_keep_reinforce_at_the_other_starts(gradient):
    # start_rows [1, 0]: the first start takes the start term, the second keeps REINFORCE's.
    log_prob, entropy, returns, value, weight = inputs()
    probs, q = jnp.array([[0.9, 0.1], [0.2, 0.8]]), jnp.array([[0.0, 3.0], [1.0, -1.0]])
    args = (log_prob, entropy, returns, value, weight, 2.0, gradient, 0.0, (probs, q), 0.5)
    start = np.asarray(start_objective(probs, q, value[0], 2.0, gradient, 0.5))
    objective = log_prob * (returns - value) / 2.0
    objective[0, 0] = start[0]
    mixed = actor_loss(*args, jnp.array([1.0, 0.0]))[0]
    np.testing.assert_allclose(mixed, -(weight * objective).mean(), rtol=1e-5)
    objective[0, 1] = start[1]
    np.testing.assert_allclose(actor_loss(*args)[0], -(weight * objective).mean(), rtol=1e-5)


@pytest.mark.parametrize(("gradient", "first"), [("expected", None), ("reinforce", "given")])
def test_start_values_go_with_the_expected_gradient_only(gradient, first):
    first = None if first is None else (jnp.ones((2, 2)), jnp.ones((2, 2)))
    with pytest.raises(ValueError, match="expected") as error:
        actor_loss(*inputs(), 1.0, gradient=gradient, first=first)
    assert "\n" not in str(error.value)


def test_unknown_gradient_fails():
    with pytest.raises(ValueError, match="reinforce"):
        actor_loss(*inputs(), 1.0, gradient="pathwise")


def test_bounded_normal_by_hand():
    raw = jnp.array([[0.5, -3.0, 0.0, 50.0], [0.0, 0.0, -50.0, -50.0]])  # two states, A = 2
    dist = bounded_normal_policy(raw)
    mean = np.tanh([[0.5, -3.0], [0.0, 0.0]])
    sigmoid2 = 1 / (1 + np.exp(-2.0))
    std = np.array([[0.9 * sigmoid2 + 0.1, 1.0], [0.1, 0.1]])  # sigmoid saturates at +-50
    np.testing.assert_allclose(dist.mean(), mean, rtol=1e-6)
    np.testing.assert_allclose(dist.stddev(), std, rtol=1e-6)
    action = jnp.array([[0.2, -0.9], [1.5, -0.1]])
    logpdf = -0.5 * ((action - mean) / std) ** 2 - np.log(std) - 0.5 * np.log(2 * np.pi)
    np.testing.assert_allclose(dist.log_prob(action), logpdf.sum(-1), rtol=1e-5)
    entropy = (0.5 * np.log(2 * np.pi * np.e * std**2)).sum(-1)
    np.testing.assert_allclose(dist.entropy(), entropy, rtol=1e-5)
    assert dist.sample(seed=jax.random.key(0)).shape == (2, 2)


def test_the_first_step_actor_reads_its_own_network_where_the_flag_is_set():
    # Output kernels zeroed, biases told apart: a row's logits name the network that gave them.
    actor = FirstStepActor(width=8, layers=1, out=3)
    x = jax.random.normal(jax.random.key(0), (6, 5))
    x = x.at[:, -1].set(jnp.array([1.0, 0.0, 0.0, 1.0, 0.0, 1.0]))
    initial = actor.init(jax.random.key(1), x)["params"]
    marked = {}
    for name, bias in (("later", [1.0, 0.0, 0.0]), ("first", [0.0, 0.0, 5.0])):
        out = initial[name]["Dense_1"]  # the output layer (after one hidden layer)
        out = {"kernel": jnp.zeros_like(out["kernel"]), "bias": jnp.array(bias)}
        marked[name] = {**initial[name], "Dense_1": out}
    logits = actor.apply({"params": marked}, x)
    flagged = np.asarray(x[:, -1]) == 1.0
    np.testing.assert_array_equal(logits[flagged], np.tile([0.0, 0.0, 5.0], (3, 1)))
    np.testing.assert_array_equal(logits[~flagged], np.tile([1.0, 0.0, 0.0], (3, 1)))

    # A loss on the unflagged rows never reaches the first step's network, and the reverse.
    def grads(rows):
        loss = lambda p: (actor.apply({"params": p}, x)[rows] ** 2).sum()  # noqa: E731
        return jax.grad(loss)(initial)

    for rows, untouched, trained in ((~flagged, "first", "later"), (flagged, "later", "first")):
        g = grads(rows)
        assert all(not np.asarray(leaf).any() for leaf in jax.tree.leaves(g[untouched]))
        assert all(np.asarray(leaf).any() for leaf in jax.tree.leaves(g[trained]))


def test_the_first_step_network_takes_its_own_learning_rate():
    # One Adam step on gradients of ones moves every parameter by about its group's rate.
    actor = FirstStepActor(width=8, layers=1, out=3)
    params = actor.init(jax.random.key(0), jnp.ones((4, 5)))
    ones = jax.tree.map(jnp.ones_like, params)
    for first_lr, rates in ((None, (1e-3, 1e-3)), (0.1, (1e-3, 0.1))):
        optimizer = actor_optimizer(1e-3, first_lr, grad_clip=1e6)
        updates, _ = optimizer.update(ones, optimizer.init(params), params)
        for name, rate in zip(("later", "first"), rates, strict=True):
            for leaf in jax.tree.leaves(updates["params"][name]):
                np.testing.assert_allclose(leaf, -rate, rtol=1e-4)
