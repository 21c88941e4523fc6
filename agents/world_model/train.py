"""World-model training as an agent: pure, jittable functions of one seed, like `agents.ppo`.

Axis names: `N` seeds, `E` dataset episodes, `T` records per episode, `W` training window, `B`
batch. The dataset (`[E, T, ...]` arrays, see `agents.world_model.data`) is an argument of every
program, never a constant baked into it; all seeds share it.

    agent = make_agent(model, TrainConfig(context_length=C))
    state = agent.init(key)                                  # LoopState of one seed
    state, metrics = agent.update(state, data)               # one update
    state, metrics = agent.run(state, data, num_updates)     # metrics: dict of [num_updates]
    states = jax.jit(map_seeds(agent.init))(keys)            # N seeds (agents.common)
    states, metrics = jax.jit(update_seeds(agent))(states, data)
"""

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax
from jaxtyping import Array, Int, Key

from agents.common import all_finite, keep_if_finite, nonfinite_streak, seed_by_seed
from agents.world_model.config import TrainConfig
from agents.world_model.data import BlindQuery, Dataset, sample_windows
from agents.world_model.evaluate import Evaluate, make_evaluate
from agents.world_model.optimizer import (
    Metrics,
    TrainState,
    init_train_state,
    make_optimizer,
    make_optimizer_step,
)
from rlssm.world_models import Batch, WorldModel


class LoopState(NamedTuple):
    """What one seed's training carries from update to update (checkpointed whole)."""

    train_state: TrainState
    """Parameters, optimiser state and updates applied (skipped updates not counted)."""
    key: Key[Array, ""]
    """PRNG key of the next update."""
    update: Int[Array, ""]
    """Updates run so far, skipped ones included (int32 scalar)."""
    nonfinite_streak: Int[Array, ""]
    """Updates in a row whose loss or gradient was not finite (int32 scalar)."""


Update = Callable[[LoopState, Dataset], tuple[LoopState, Metrics]]


class Agent(NamedTuple):
    """The pieces of one world model and training config; every function is pure and jittable."""

    config: TrainConfig
    model: WorldModel
    optimizer: optax.GradientTransformation
    init: Callable[[Key[Array, ""]], LoopState]
    """`init(key) -> LoopState` of one seed; `jax.vmap` over keys maps one seed at a time."""
    update: Update
    """`update(state, data) -> (state, metrics)`: one update on a sampled batch."""
    run: Callable[[LoopState, Dataset, int], tuple[LoopState, Metrics]]
    """`run(state, data, num_updates)`: `num_updates` updates in a `lax.scan`."""
    evaluate: Evaluate
    """`evaluate(params, episodes, key, reward_values) -> SeedEvaluation` of one seed."""


def init_state(
    model: WorldModel, optimizer: optax.GradientTransformation, key: Key[Array, ""]
) -> LoopState:
    """A fresh `LoopState` of one seed from its key."""
    init_key, loop_key = jax.random.split(key)
    train_state = init_train_state(model, optimizer, init_key)
    zero = jnp.zeros((), jnp.int32)
    return LoopState(train_state, loop_key, zero, zero)


def make_train_step(
    model: WorldModel,
    optimizer: optax.GradientTransformation,
    config: TrainConfig,
    place_batch: Callable[[Batch], Batch] | None = None,
) -> Update:
    """`step(state, data) -> (state, metrics)`: one update of one seed on a sampled batch.

    `place_batch` lays the sampled batch out (e.g. its `B` sequences split over devices with a
    sharding constraint: experiments.world_model's `--devices`); the values are unchanged.

    An update whose loss or gradient norm is not finite is skipped (the train state is kept)
    and counted in `nonfinite_streak`. Metrics: the loss terms of `model.loss`, `grad_norm`,
    `update`, `env_steps` (records trained on so far) and `nonfinite_streak`.
    """
    optimizer_step = make_optimizer_step(model, optimizer)
    blind = BlindQuery(config.blind_query, config.context_length)

    def step(state: LoopState, data: Dataset) -> tuple[LoopState, Metrics]:
        window = config.window or data["obs"].shape[1]
        key, batch_key, loss_key = jax.random.split(state.key, 3)
        batch = sample_windows(data, batch_key, config.batch_size, window, blind)
        batch = batch if place_batch is None else place_batch(batch)
        train_state, metrics = optimizer_step(state.train_state, batch, loss_key)
        finite = all_finite(metrics["loss"], metrics["grad_norm"])
        train_state = keep_if_finite(train_state, state.train_state, finite)
        streak = nonfinite_streak(state.nonfinite_streak, finite)
        count = state.update + 1
        state = LoopState(train_state, key, count, streak)
        records = count * config.batch_size * window
        return state, {**metrics, "update": count, "env_steps": records, "nonfinite_streak": streak}

    return step


def make_agent(
    model: WorldModel, config: TrainConfig, place_batch: Callable[[Batch], Batch] | None = None
) -> Agent:
    """The optimiser and pure training and evaluation functions of `model` under `config`
    (`place_batch`: see `make_train_step`)."""
    optimizer = make_optimizer(config.lr, config.grad_clip)
    update = make_train_step(model, optimizer, config, place_batch)

    def init(key: Key[Array, ""]) -> LoopState:
        return init_state(model, optimizer, key)

    def run(state: LoopState, data: Dataset, num_updates: int) -> tuple[LoopState, Metrics]:
        return jax.lax.scan(lambda s, _: update(s, data), state, None, num_updates)

    evaluate = make_evaluate(model, config)
    return Agent(config, model, optimizer, seed_by_seed(init), update, run, evaluate)


def update_seeds(agent: Agent) -> Callable[[LoopState, Dataset], tuple[LoopState, Metrics]]:
    """`update(states, data) -> (states, metrics)`: one update of every seed (`jax.vmap`);
    leaves of the states and metrics lead with `N`, the data is shared.

    A host that loops over updates calls it once per update rather than `run`, a `lax.scan`
    over updates inside one program: on the CPU, XLA ran the model's convolutions several times
    slower inside the scan than as separate calls (1.1 s vs 0.14-0.28 s per update, S4WM
    cpu-small, measured), and one update program serves every number of updates.
    """
    return jax.vmap(agent.update, (0, None))


def evaluate_seeds(agent: Agent) -> Evaluate:
    """`evaluate(params, episodes, key, reward_values) -> SeedEvaluation` of every seed
    (`jax.vmap`): the params and every result field lead with `N`; the rest is shared."""
    return jax.vmap(agent.evaluate, (0, None, None, None))
