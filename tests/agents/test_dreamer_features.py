"""The actor's and critic's features: DreamerV3's output features and R2I's full state."""

import jax
import jax.numpy as jnp
import numpy as np

import rlssm.world_models as wm
from agents.dreamer.features import features_of, reader
from rlssm.world_models import LatentState, WorldModelCarry


def carry_with(core):
    state = LatentState(jnp.ones((2, 3)), 2 * jnp.ones((2, 4)))
    return WorldModelCarry(core, state)


def test_output_features_are_latent_then_backbone_output():
    carry = carry_with((jnp.zeros((2, 5)),))
    np.testing.assert_array_equal(features_of("output", carry), [[1, 1, 1, 2, 2, 2, 2]] * 2)


def test_full_features_append_every_layer_of_the_carry_complex_as_real_and_imaginary():
    layers = (jnp.array([[1 + 2j], [3 + 4j]], jnp.complex64), jnp.full((2, 2, 1), 7.0))
    features = np.asarray(features_of("full", carry_with(layers)))
    assert features.shape == (2, 3 + 4 + 2 + 2) and features.dtype == np.float32
    np.testing.assert_array_equal(features[:, 7:], [[1, 2, 7, 7], [3, 4, 7, 7]])
    assert features_of("full", carry_with(())).shape == (2, 7)  # no carry: as "output"


def test_the_first_flag_appends_one_column_zero_unless_given():
    carry = carry_with((jnp.full((2, 1), 5.0),))
    np.testing.assert_array_equal(
        reader("full", False)(carry, jnp.ones(2)), features_of("full", carry)
    )
    flagged = reader("output", True)
    np.testing.assert_array_equal(flagged(carry, jnp.array([True, False]))[:, -1], [1, 0])
    np.testing.assert_array_equal(flagged(carry)[:, -1], [0, 0])
    np.testing.assert_array_equal(flagged(carry)[:, :-1], features_of("output", carry))


def test_imagination_hands_the_policy_the_features_of_its_carry():
    # The policy sees features_of(carry) of the carry it acts in; Imagination.features holds
    # them after every step, and the states are those of a plain policy on the same key.
    model = wm.make("s4wm", core=wm.backbone_config("s5", hidden_size=8, state_size=4),
                    obs_shape=(3,), action_dim=2, hidden_size=8, latent_groups=2,
                    latent_classes=2)  # fmt: skip
    params = model.init(jax.random.key(0))
    carry = model.initial_carry(2)
    seen = []

    def policy(features, key):
        seen.append(features)
        return jnp.zeros(features.shape[:1], jnp.int32)

    def read(c):
        return features_of("full", c)

    key = jax.random.key(1)
    end, imagined = model.imagine(params, carry, policy, key, 3, policy_features=read)
    _, plain = model.imagine(params, carry, lambda f, k: jnp.zeros(2, jnp.int32), key, 3)
    np.testing.assert_array_equal(seen[0].shape, read(carry).shape)
    assert imagined.features.shape == (3, *read(carry).shape)
    np.testing.assert_allclose(imagined.features[-1], read(end), rtol=1e-6)
    np.testing.assert_allclose(imagined.state.deter, plain.state.deter, rtol=1e-6)
    assert plain.features is None
