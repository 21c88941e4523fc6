"""Recurrent PPO training as pure functions: `make_train(config) -> train(key)`.

Axis names: `N` seeds, `T` time, `B` environments, `M` minibatches. One update = a rollout of
`T` steps in `B` environments, GAE, then `update_epochs` passes of `M` minibatches of whole rows.

    agent = make_agent(config)
    state = agent.init(key)                            # RunnerState of one seed
    state, metrics = agent.run(state, num_updates)     # metrics: dict of [num_updates] arrays
    train = make_train(config)                         # key -> (RunnerState, metrics)
    jax.jit(jax.vmap(train))(jax.random.split(key, N)) # N seeds in one call
"""

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax
from flax.training.train_state import TrainState

from agents.common import (
    Split,
    all_finite,
    init_stats,
    keep_if_finite,
    no_split,
    nonfinite_streak,
    normalize,
    seed_by_seed,
    update_stats,
)
from agents.common.episodes import episode_metrics
from agents.ppo import environment
from agents.ppo.config import PPOConfig
from agents.ppo.environment import EnvSpec
from agents.ppo.gae import gae
from agents.ppo.loss import Batch, ppo_loss
from agents.ppo.network import ActorCritic, initialize_carry
from agents.ppo.rollout import Rollout, RunnerState, make_rollout


class Agent(NamedTuple):
    """The pieces of one PPO configuration; every function is pure and jittable."""

    config: PPOConfig
    spec: EnvSpec
    network: ActorCritic
    init: Callable[[jax.Array], RunnerState]
    update: Callable[[RunnerState], tuple[RunnerState, dict]]
    run: Callable[[RunnerState, int], tuple[RunnerState, dict]]


def learning_rate(config: PPOConfig) -> optax.Schedule | float:
    """Constant, or linear to zero over the run's optimiser steps."""
    if not config.anneal_lr:
        return config.lr
    steps = config.num_updates * config.update_epochs * config.num_minibatches
    return optax.linear_schedule(config.lr, 0.0, steps)


def make_optimizer(config: PPOConfig) -> optax.GradientTransformation:
    """Global-norm clip then Adam."""
    return optax.chain(
        optax.clip_by_global_norm(config.max_grad_norm),
        optax.adam(learning_rate(config), eps=config.adam_eps),
    )


def make_init_params(config: PPOConfig, spec: EnvSpec, network: ActorCritic):
    """Returns `init_params(key) -> params`, which runs one seed at a time under `vmap`.

    Batched over seeds, XLA's CPU runtime can deadlock in the batched QR of the orthogonal
    initialisers (jax 0.10); `agents.common.seed_by_seed` maps the seeds with `lax.map` instead.
    """
    carry = initialize_carry(config.network, config.core, 1)
    obs = jnp.zeros((1, 1, spec.obs_size), jnp.float32)
    start = jnp.ones((1, 1), bool)
    return seed_by_seed(lambda key: network.init(key, carry, obs, start))


def make_init(config: PPOConfig, spec: EnvSpec, network: ActorCritic):
    """Returns `init(key) -> RunnerState`: params, optimiser, environments, zero carry."""

    init_params = make_init_params(config, spec, network)

    def init(key: jax.Array) -> RunnerState:
        key, net_key, env_key = jax.random.split(key, 3)
        obs, env_state = environment.reset(spec, env_key, config.num_envs)
        carry = initialize_carry(config.network, config.core, config.num_envs)
        start = jnp.ones((config.num_envs,), bool)
        params = init_params(net_key)
        train_state = TrainState.create(
            apply_fn=network.apply, params=params, tx=make_optimizer(config)
        )
        return RunnerState(
            train_state=train_state,
            env_state=env_state,
            obs=obs,
            start=start,
            carry=carry,
            obs_stats=init_stats(obs.shape[1:]),
            return_stats=init_stats(),
            key=key,
            update=jnp.zeros((), jnp.int32),
            nonfinite_streak=jnp.zeros((), jnp.int32),
        )

    return init


def advantages(config: PPOConfig, rollout: Rollout):
    """GAE over the rollout: `(advantage[T, B], target[T, B])` in return units."""
    tr = rollout.transitions
    return gae(
        tr.reward,
        tr.value,
        tr.terminated,
        tr.truncated,
        tr.final_value,
        rollout.last_value,
        config.gamma,
        config.gae_lambda,
    )


def make_batch(config: PPOConfig, state: RunnerState, rollout: Rollout) -> tuple[Batch, object]:
    """The whole rollout as one `Batch`, with targets in the value head's space."""
    adv = advantages(config, rollout)
    return_stats = state.return_stats
    target, old_value = adv.target, rollout.transitions.value
    if config.normalize_value:
        return_stats = update_stats(return_stats, adv.target.reshape(-1))
        target = normalize(return_stats, target, clip=1e6)
        old_value = normalize(return_stats, old_value, clip=1e6)
    batch = Batch(rollout.transitions, adv.advantage, target, old_value, rollout.initial_carry)
    return batch, return_stats


def minibatches(config: PPOConfig, batch: Batch, key: jax.Array, split: Split = no_split):
    """Shuffles environment rows into `M` minibatches: leaves `[M, T, B / M, ...]`.

    The stored carries `[B, ...]` become `[M, B / M, ...]`, aligned with their rows. `split`
    lays each minibatch's `B / M` rows over the devices (agents.common.devices: without it,
    XLA's sharding propagation loses the split at the shuffle and every device computes every
    gradient step on the whole minibatch).
    """
    perm = jax.random.permutation(key, config.num_envs)
    shape = (config.num_minibatches, config.minibatch_envs)

    def rows(x):  # time-major leaves: env axis 1
        x = jnp.take(x, perm, axis=1).reshape(x.shape[0], *shape, *x.shape[2:])
        return split(jnp.swapaxes(x, 0, 1), 2)

    def carry_rows(x):  # carry leaves: env axis 0
        return split(jnp.take(x, perm, axis=0).reshape(*shape, *x.shape[1:]), 1)

    time_major = batch._replace(initial_carry=None)
    return jax.tree.map(rows, time_major)._replace(
        initial_carry=jax.tree.map(carry_rows, batch.initial_carry)
    )


def make_minibatch_step(config: PPOConfig, spec: EnvSpec, network: ActorCritic):
    """Returns `step(train_state, batch) -> (train_state, metrics)`: one gradient step.

    A step whose loss or gradient is not finite leaves the train state unchanged and reports
    `nonfinite = 1`.
    """
    grad_fn = jax.value_and_grad(ppo_loss, has_aux=True)

    def step(train_state: TrainState, batch: Batch) -> tuple[TrainState, dict]:
        (loss, terms), grads = grad_fn(train_state.params, network, config, spec.discrete, batch)
        grad_norm = optax.tree.norm(grads)
        finite = all_finite(loss, grad_norm)
        updated = train_state.apply_gradients(grads=grads)
        train_state = keep_if_finite(updated, train_state, finite)
        return train_state, {**terms, "grad_norm": grad_norm, "nonfinite": 1 - finite}

    return step


def make_update(config: PPOConfig, spec: EnvSpec, network: ActorCritic, split: Split):
    """Returns `update(runner_state) -> (runner_state, metrics)`: one rollout and its epochs
    (`split`: see `minibatches`)."""
    rollout_fn = make_rollout(config, spec, network)
    minibatch_step = make_minibatch_step(config, spec, network)

    def epoch(carry, _):
        train_state, batch, key = carry
        key, perm_key = jax.random.split(key)
        train_state, terms = jax.lax.scan(
            minibatch_step, train_state, minibatches(config, batch, perm_key, split)
        )
        return (train_state, batch, key), terms

    def update(state: RunnerState) -> tuple[RunnerState, dict]:
        state, rollout = rollout_fn(state)
        batch, return_stats = make_batch(config, state, rollout)
        key, epoch_key = jax.random.split(state.key)
        (train_state, _, _), terms = jax.lax.scan(
            epoch, (state.train_state, batch, epoch_key), None, config.update_epochs
        )
        nonfinite = terms.pop("nonfinite").sum()
        streak = nonfinite_streak(state.nonfinite_streak, nonfinite == 0)
        state = state._replace(
            train_state=train_state,
            return_stats=return_stats,
            key=key,
            update=state.update + 1,
            nonfinite_streak=streak,
        )
        metrics = {
            "update": state.update,
            "env_steps": state.update * config.steps_per_update,
            **jax.tree.map(jnp.mean, terms),
            **episode_metrics(rollout.transitions.info),
            "nonfinite": nonfinite,
            "nonfinite_streak": streak,
        }
        return state, metrics

    return update


def make_agent(config: PPOConfig, split: Split = no_split) -> Agent:
    """Builds the environment, network and pure training functions of `config`; `split` lays
    the minibatches' environment rows over devices (experiments.ppo's `--devices`)."""
    spec = environment.make_env(config)
    network = ActorCritic(config.network, config.core, spec.action_dim, spec.discrete)
    init = make_init(config, spec, network)
    update = make_update(config, spec, network, split)

    def run(state: RunnerState, num_updates: int) -> tuple[RunnerState, dict]:
        return jax.lax.scan(lambda s, _: update(s), state, None, num_updates)

    return Agent(config, spec, network, init, update, run)


def make_train(config: PPOConfig) -> Callable[[jax.Array], tuple[RunnerState, dict]]:
    """Returns `train(key) -> (final RunnerState, metrics of every update)`; vmap it over seeds."""
    agent = make_agent(config)

    def train(key: jax.Array) -> tuple[RunnerState, dict]:
        return agent.run(agent.init(key), config.num_updates)

    return train
