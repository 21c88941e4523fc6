"""What the world model of a trained agent imagines, against what the environment did.

`open_loop` takes replayed windows as training does (stored carry or episode start, burn-in
observed), observes the first half of each and imagines the second half from the recorded
actions (modes of the prior, no sampling): the agent's own experience, open loop. Pure and
jittable (one seed); `experiments.dreamer` draws it as frame strips on image tasks.
"""

from typing import NamedTuple

import jax
from jaxtyping import Array, Float

import rlssm.world_models as wm
from agents.dreamer.config import DreamerConfig
from agents.dreamer.train import DreamerState, replayed_windows
from rlssm.world_models.evaluate import imagine_query


class OpenLoop(NamedTuple):
    """Replayed windows and the world model's guesses of their second half."""

    batch: wm.Batch
    """The replayed windows `[T, shown, ...]`."""
    imagined: Float[Array, "Q shown D"]
    """Decoded observation means of steps `C .. T - 1` (`Q = T - C`)."""
    context: int
    """`C`: steps observed before imagining."""


def open_loop(
    config: DreamerConfig, model: wm.WorldModel, state: DreamerState, key: jax.Array, shown: int
) -> OpenLoop:
    """The first `shown` replayed windows of one seed's `state`, observed for half their length
    and imagined for the rest (needs `shown <= config.batch_size` and a ring that holds a
    window, `replay.can_sample`)."""
    sample_key, imagine_key = jax.random.split(key)
    batch, carry = replayed_windows(config, model, state, sample_key)
    batch, carry = (
        jax.tree.map(lambda x: x[:, :shown], batch),
        jax.tree.map(lambda x: x[:shown], carry),
    )
    context = max(1, config.replay.length // 2)
    params = state.world_model.params
    imagined = imagine_query(model, params, batch, context, imagine_key, carry=carry)
    return OpenLoop(batch, imagined.obs, context)
