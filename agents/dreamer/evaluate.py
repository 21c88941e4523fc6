"""Evaluating the model-based agent: its actor on the world model's filtered state, frozen.

Axis names: `N` seeds, `T` evaluation steps, `B` environments, `A` actions. Acting is training's
(agents.dreamer.train.make_act): the world model filters every observation with `observe_step`
(one carry per environment; `start` resets it; the action fed with an observation is the one
that led to it, zeros at a start), and the actor samples from the posterior features, or with
`greedy` takes the distribution's mode (the most likely class; the bounded normal's mean). The
loop is the one every agent shares (agents.common.evaluate):

    evaluate = make_evaluate(config, spec, greedy=False)
    result = evaluate(policy_params(state), key, num_envs=64, num_steps=1000)  # one seed
    returns, lengths, done = first_episodes(result)

Pure and jittable; `jax.vmap` it over seeds (`agents.common.evaluate.evaluate_seeds` does).
Unlike training, an ended episode writes no terminal row: training filters the final
observation and then holds the environment for one step to write the reset observation as a row
of its own (for the replay), but that reset row's `start` discards the terminal row's carry, so
the policy sees the same observations either way; evaluation steps every environment every step.
"""

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

import rlssm.world_models as wm
from agents.common.environment import EnvSpec, make_env
from agents.common.evaluate import EvalResult, make_rollout
from agents.dreamer.config import DreamerConfig
from agents.dreamer.features import reader
from agents.dreamer.train import DreamerState, make_heads, make_world_model, policy_of, select


class Filter(NamedTuple):
    """The policy's memory per environment; every leaf leads with `B`."""

    carry: wm.WorldModelCarry
    """The world model's carry before the next observation."""
    action: jax.Array
    """The last action (`[B]` int or `[B, A]`), fed with the next observation."""


def policy_params(state: DreamerState) -> tuple[Any, Any]:
    """`(world-model params, actor params)` of a training state (of one seed or `N`)."""
    return state.world_model.params, state.actor.params


def make_evaluate(
    config: DreamerConfig, spec: EnvSpec, greedy: bool = False
) -> Callable[..., EvalResult]:
    """Returns `evaluate((wm_params, actor_params), key, num_envs, num_steps) -> EvalResult`.

    Args:
        config: the training config (world model, actor).
        spec: the environment to evaluate on (`make_agent(config).spec`, or another task with
            the same observation size, action type and action size).
        greedy: act with the distribution's mode instead of sampling.

    Each step's policy key is split into the filter's and the actor's (training's `act_step`
    splits its key the same way, with the environment's third).
    """
    model = make_world_model(config, spec)
    actor, _ = make_heads(config, spec)
    read = reader(config.features, config.first_flag)

    def act(params, memory: Filter, obs, start, key):
        wm_params, actor_params = params
        obs_key, action_key = jax.random.split(key)
        previous = select(start, jnp.zeros_like(memory.action), memory.action)
        carry, _, _ = model.observe_step(wm_params, memory.carry, obs, previous, start, obs_key)
        dist = policy_of(spec, actor, actor_params, config.actor_unimix)(read(carry, start))
        action = dist.mode() if greedy else dist.sample(seed=action_key)
        action = action.astype(memory.action.dtype)
        return Filter(carry, action), action

    def initial_carry(num_envs: int) -> Filter:
        shape = (num_envs,) if spec.discrete else (num_envs, spec.action_dim)
        dtype = jnp.int32 if spec.discrete else jnp.float32
        return Filter(model.initial_carry(num_envs), jnp.zeros(shape, dtype))

    return make_rollout(spec, act, initial_carry)


def task_spec(name: str, options: dict | None = None) -> EnvSpec:
    """Task `name` wrapped as the model-based agent's environments are (`make_agent`'s
    wrapping: continuous actions in [-1, 1] mapped onto the task's bounds)."""
    return make_env(name, options, squash=True, agent="the model-based agent")
