"""Long-term imagination of one seed on held-out episodes (S4WM's protocol, trimmed for plots).

Axis names: `E` evaluation episodes, `T` records, `horizon` the query records (`T - C`), `K`
buckets or reward values, `shown` the episodes whose frames are returned, `*obs` the observation
shape. See `rlssm.world_models.evaluate` for the protocol.
"""

from collections.abc import Callable
from typing import NamedTuple

from jaxtyping import Array, Float, Key

from agents.world_model.config import TrainConfig
from agents.world_model.data import TRAINING_FIELDS, Dataset
from agents.world_model.optimizer import Params
from rlssm.world_models import WorldModel
from rlssm.world_models import evaluate as wm_eval


class SeedEvaluation(NamedTuple):
    """`rlssm.world_models.evaluate` results of one seed, trimmed for the host (under
    `jax.vmap` over seeds every field leads with `N`)."""

    metrics: wm_eval.QueryMetrics
    """`mse [horizon]`, `mse_buckets [K]`, scalar accuracies."""
    loss_terms: dict[str, Float[Array, ""]]
    """Teacher-forced loss terms on the evaluation episodes."""
    imagined_obs: Float[Array, "horizon shown *obs"]
    """Generated query frames of the first `config.shown_episodes` episodes (for plots)."""


Evaluate = Callable[[Params, Dataset, Key[Array, ""], Float[Array, " K"]], SeedEvaluation]


def make_evaluate(model: WorldModel, config: TrainConfig) -> Evaluate:
    """`evaluate(params, episodes, key, reward_values) -> SeedEvaluation` of one seed, jittable.

    `episodes` are dataset arrays `[E, T, ...]`, context (`config.context_length` records) then
    query; `reward_values [K]` the rewards the task pays, zero included. Evaluation uses
    `config.eval_buckets`, `config.eval_sample` and `config.shown_episodes`.
    """

    def evaluate(
        params: Params,
        episodes: Dataset,
        key: Key[Array, ""],
        reward_values: Float[Array, " K"],
    ) -> SeedEvaluation:
        batch = wm_eval.episodes_to_batch({name: episodes[name] for name in TRAINING_FIELDS})
        result = wm_eval.evaluate(
            model,
            params,
            batch,
            config.context_length,
            key,
            reward_values,
            config.eval_buckets,
            config.eval_sample,
        )
        shown = result.imagined_obs[:, : config.shown_episodes]
        return SeedEvaluation(result.metrics, result.loss_terms, shown)

    return evaluate
