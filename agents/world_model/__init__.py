"""World-model training as an agent (see docs/ARCHITECTURE.md, "Agents").

Public API:
    TrainConfig: frozen training and evaluation settings (validated on construction).
    make_agent(model, config) -> Agent(config, model, optimizer, init, update, run, evaluate):
        pure, jittable functions of one seed; `LoopState` is what an update carries.
    update_seeds(agent), evaluate_seeds(agent): the same over `N` seeds (`jax.vmap`).
    TrainState, init_train_state, make_optimizer, make_optimizer_step, apply_gradients: the
    optimiser step.
    TRAINING_FIELDS, BlindQuery, blind_mask, sample_windows: training batches from a dataset.
    SeedEvaluation: long-term imagination results of one seed.
"""

from agents.world_model.config import TrainConfig
from agents.world_model.data import (
    NO_BLIND,
    TRAINING_FIELDS,
    BlindQuery,
    Dataset,
    blind_mask,
    sample_windows,
)
from agents.world_model.evaluate import SeedEvaluation, make_evaluate
from agents.world_model.optimizer import (
    TrainState,
    apply_gradients,
    init_train_state,
    make_optimizer,
    make_optimizer_step,
)
from agents.world_model.train import (
    Agent,
    LoopState,
    evaluate_seeds,
    make_agent,
    make_train_step,
    update_seeds,
)

__all__ = [
    "NO_BLIND",
    "TRAINING_FIELDS",
    "Agent",
    "BlindQuery",
    "Dataset",
    "LoopState",
    "SeedEvaluation",
    "TrainConfig",
    "TrainState",
    "apply_gradients",
    "blind_mask",
    "evaluate_seeds",
    "init_train_state",
    "make_agent",
    "make_evaluate",
    "make_optimizer",
    "make_optimizer_step",
    "make_train_step",
    "sample_windows",
    "update_seeds",
]
