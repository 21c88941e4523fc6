"""Evaluating a trained policy, any agent: fresh environments, first episodes, trial returns.

Axis names: `N` seeds, `T` evaluation steps, `B` environments, `K` trials per episode. An agent
supplies one step of its policy, `act(params, carry, obs[B, D], start[B], key) -> (carry,
action)` (its memory, the action the environment gets), and the carry of `B` fresh
environments; the loop is the same for every agent:

    rollout = make_rollout(spec, act, initial_carry)
    result = rollout(params, key, num_envs=64, num_steps=1000)   # EvalResult [T, B], one seed
    returns, lengths, done = first_episodes(result)             # one episode per environment
    evaluate = evaluate_seeds(rollout, 64, 1000, num_trials=0)    # vmapped over N seeds

Counting every completed episode inside a fixed horizon favours short episodes; the first
episode of each environment does not. On meta-RL tasks (several trials per episode, `K` of them)
`first_episode_trials(result, K)` splits that episode's return by trial, `[B, K]`: in-context
learning shows as returns that rise from the first trial to the last.
"""

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from agents.common.environment import EnvSpec, reset, step

Act = Callable[[Any, Any, jax.Array, jax.Array, jax.Array], tuple[Any, jax.Array]]
"""`act(params, carry, obs[B, D], start[B], key) -> (carry, action[B, ...])`: one policy step;
`start[b]` says `obs[b]` opens an episode, `action` is what the environment gets."""


class EvalResult(NamedTuple):
    """Per step and environment, `[T, B]`."""

    completed: jax.Array
    """True where an episode ended at this step."""
    returns: jax.Array
    """Undiscounted return of the episode that ended here (valid where `completed`)."""
    lengths: jax.Array
    """Length of the episode that ended here (valid where `completed`)."""
    rewards: jax.Array
    """Reward of this step."""
    trial: jax.Array
    """int32: trial of its episode this step belongs to (0 for tasks without trials)."""
    action: jax.Array | None = None
    """Action the environment got at this step (`[T, B]` or `[T, B, A]`)."""
    obs: jax.Array | None = None
    """`[T, R, D]`: the observation the policy acted on, of the first `R` environments (only
    with `rollout(..., record=R)`; None otherwise)."""


class EvalCarry(NamedTuple):
    """Loop state of the evaluation scan."""

    env_state: Any
    obs: jax.Array
    start: jax.Array
    carry: Any
    """The policy's memory (the agent's own pytree, leaves leading with `B`)."""
    key: jax.Array
    trial: jax.Array
    """int32 `[B]`: trials completed so far in each environment's current episode."""


def make_rollout(
    spec: EnvSpec, act: Act, initial_carry: Callable[[int], Any]
) -> Callable[..., EvalResult]:
    """Returns `rollout(params, key, num_envs, num_steps, record=0) -> EvalResult` of one seed.

    Args:
        spec: the (wrapped, `EpisodeStatistics` outermost) environment to play.
        act: one step of the policy (see `Act`); gets its own key every step.
        initial_carry: `initial_carry(B)`, the policy's memory before the first observation.

    Every environment starts a new episode at reset (`start` is True on the first step and
    after every episode end). With `record=R > 0` the result also holds the observations of the
    first `R` environments (`EvalResult.obs`, for rendering episodes); the keys, and so the
    episodes, are those of the same call without it. The returned function is pure; `num_envs`,
    `num_steps` and `record` are static under `jax.jit`.
    """

    def rollout(
        params, key: jax.Array, num_envs: int, num_steps: int, record: int = 0
    ) -> EvalResult:
        key, reset_key = jax.random.split(key)
        obs, env_state = reset(spec, reset_key, num_envs)
        start = jnp.ones((num_envs,), bool)

        def body(state: EvalCarry, _) -> tuple[EvalCarry, EvalResult]:
            key, act_key, step_key = jax.random.split(state.key, 3)
            carry, action = act(params, state.carry, state.obs, state.start, act_key)
            obs, env_state, reward, terminated, truncated, info = step(
                spec, step_key, state.env_state, action
            )
            done = jnp.logical_or(terminated, truncated)
            result = EvalResult(
                done,
                info["returned_episode_return"],
                info["returned_episode_length"],
                reward,
                state.trial,
                action,
                state.obs[:record] if record else None,
            )
            completed_trials = info.get("trial", jnp.zeros_like(state.trial))
            trial = jnp.where(done, 0, completed_trials).astype(jnp.int32)
            return EvalCarry(env_state, obs, done, carry, key, trial), result

        trial = jnp.zeros((num_envs,), jnp.int32)
        initial = EvalCarry(env_state, obs, start, initial_carry(num_envs), key, trial)
        _, result = jax.lax.scan(body, initial, None, num_steps)
        return result

    return rollout


def random_act(spec: EnvSpec) -> Act:
    """One step of a uniformly random policy over `spec`'s action space (no memory: pass
    `initial_carry=lambda B: None` to `make_rollout`): the level an untrained agent sits at."""
    space = spec.env.action_space(spec.params)

    def act(params, carry, obs: jax.Array, start: jax.Array, key: jax.Array):
        return carry, jax.vmap(space.sample)(jax.random.split(key, obs.shape[0]))

    return act


def first_end(result: EvalResult) -> tuple[jax.Array, jax.Array]:
    """`(step[B], done[B])`: the step where each environment's first episode ended, and whether
    it ended within the horizon (where not, `step` is the last step)."""
    done = result.completed.any(axis=0)
    last = result.completed.shape[0] - 1
    return jnp.where(done, jnp.argmax(result.completed, axis=0), last), done


def first_episodes(result: EvalResult) -> tuple[jax.Array, jax.Array, jax.Array]:
    """The first completed episode of each environment: `(returns[B], lengths[B], done[B])`.

    `done[b]` is False where environment `b` finished no episode (its entries are 0 then).
    """
    first, done = first_end(result)
    columns = jnp.arange(result.completed.shape[1])
    returns = jnp.where(done, result.returns[first, columns], 0.0)
    lengths = jnp.where(done, result.lengths[first, columns], 0)
    return returns, lengths, done


def first_episode_trials(result: EvalResult, num_trials: int) -> tuple[jax.Array, jax.Array]:
    """Per-trial returns of the first episode of each environment: `(returns[B, K], done[B])`.

    `returns[b, k]` sums the rewards of trial `k` (`K = num_trials`) of environment `b`'s first
    episode (the one `first_episodes` returns; its row sums to that episode's return). Trials
    that did not happen within the horizon count 0; `done[b]` is False where the first episode
    did not finish.
    """
    first, done = first_end(result)
    in_first = jnp.arange(result.completed.shape[0])[:, None] <= first[None, :]
    weights = jnp.where(in_first, result.rewards, 0.0)
    onehot = jax.nn.one_hot(result.trial, num_trials, dtype=weights.dtype)
    return jnp.einsum("tb,tbk->bk", weights, onehot), done


def evaluate_seeds(
    rollout: Callable[..., EvalResult], num_envs: int, num_steps: int, num_trials: int = 0
) -> Callable[[Any, jax.Array], tuple[tuple[jax.Array, ...], jax.Array | None]]:
    """Returns `evaluate(params, keys[N]) -> ((returns, lengths, done) [N, B], trials)`: the
    first episode of `num_envs` fresh environments per seed (`params` lead with `N`), and
    with `num_trials > 0` its return per trial, `[N, B, K]` (else None). Pure; jit it."""

    def per_seed(params, key: jax.Array):
        result = rollout(params, key, num_envs, num_steps)
        by_trial = first_episode_trials(result, num_trials)[0] if num_trials else None
        return first_episodes(result), by_trial

    return jax.vmap(per_seed)
