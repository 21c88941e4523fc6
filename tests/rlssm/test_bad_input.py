"""Bad input fails at trace time with a message that names the problem and the fix."""

import jax
import jax.numpy as jnp
import pytest

import rlssm.cores as cores
from tests.rlssm.helpers import small_core

T, B, D = 6, 2, 3


def test_unknown_core_lists_close_and_known_names():
    with pytest.raises(ValueError, match=r"Unknown core 'gur'.*\['gru'\].*Registered cores"):
        cores.make("gur")


def test_unknown_option_lists_accepted_ones():
    with pytest.raises(TypeError, match=r"no option \['state_sise'\].*state_size"):
        cores.make("s5", state_sise=4)


@pytest.mark.parametrize(
    ("name", "kwargs", "field"),
    [
        ("s5", {"state_size": 12, "blocks": 5}, "divisible by blocks"),
        ("s5", {"state_size": 6, "blocks": 2}, "must be even"),
        ("s5", {"dt_min": 0.5, "dt_max": 0.1}, "dt_min <= dt_max"),
        ("lru", {"r_min": 0.9, "r_max": 0.5}, "r_min < r_max"),
        ("gru", {"hidden_size": 0}, "hidden_size must be >= 1"),
        ("s5", {"activation": "swish"}, "activation='swish'"),
        ("s5", {"scan_mode": "fast"}, "scan_mode='fast'"),
        ("none", {"activation": "half_glu1"}, "activation='half_glu1'"),
    ],
)
def test_config_validation(name, kwargs, field):
    with pytest.raises(ValueError, match=field):
        cores.make(name, **kwargs)


def trace(core, carry, x, start, method=None):
    params_key = jax.random.key(0)
    good_carry = core.initialize_carry(B)
    good_x, good_start = jnp.zeros((T, B, D)), jnp.zeros((T, B), bool)
    params = core.init(params_key, good_carry, good_x, good_start)
    return jax.eval_shape(lambda: core.apply(params, carry, x, start, method=method))


@pytest.mark.parametrize("name", ["s5", "gru", "none"])
def test_wrong_input_rank(name):
    core = small_core(name)
    with pytest.raises(ValueError, match=r"x must be \[T, B, D\], got shape \(2, 3\)"):
        trace(core, core.initialize_carry(B), jnp.zeros((B, D)), jnp.zeros((B,), bool))
    with pytest.raises(ValueError, match=r"step: x must be \[B, D\]"):
        trace(core, core.initialize_carry(B), jnp.zeros((T, B, D)), jnp.zeros((T, B), bool), "step")


@pytest.mark.parametrize("name", ["s5", "lstm"])
def test_carry_of_wrong_batch_size(name):
    core = small_core(name)
    with pytest.raises(ValueError, match=r"carry does not match batch size B=2.*initialize_carry"):
        trace(core, core.initialize_carry(B + 1), jnp.zeros((T, B, D)), jnp.zeros((T, B), bool))


@pytest.mark.parametrize("name", ["lru", "gru"])
def test_non_boolean_start(name):
    core = small_core(name)
    with pytest.raises(TypeError, match=r"start must be boolean, got float32.*astype\(bool\)"):
        trace(core, core.initialize_carry(B), jnp.zeros((T, B, D)), jnp.zeros((T, B)))


@pytest.mark.parametrize("name", ["s6", "mingru"])
def test_wrongly_shaped_start_is_not_broadcast(name):
    core = small_core(name)
    for bad in (jnp.zeros((T,), bool), jnp.zeros((T, 1), bool), jnp.zeros((T, B, 1), bool)):
        with pytest.raises(ValueError, match=r"start must be \[T, B\] = \(6, 2\)"):
            trace(core, core.initialize_carry(B), jnp.zeros((T, B, D)), bad)


def test_integer_input_is_refused():
    core = small_core("gru")
    with pytest.raises(TypeError, match="x must be floating point"):
        trace(core, core.initialize_carry(B), jnp.zeros((T, B, D), int), jnp.zeros((T, B), bool))


@pytest.mark.parametrize("name", ["s5", "gru", "lstm"])
def test_params_of_another_input_width(name):
    core = small_core(name)
    carry, wide = core.initialize_carry(B), jnp.zeros((T, B, D + 2))
    message = rf"x has D={D + 2} features, but the params were initialised for D={D}.*width {D}"
    with pytest.raises(ValueError, match=message):
        trace(core, carry, wide, jnp.zeros((T, B), bool))
    with pytest.raises(ValueError, match=rf"{type(core).__name__}\.step: x has D={D + 2}"):
        trace(core, carry, wide[0], jnp.zeros((B,), bool), "step")
