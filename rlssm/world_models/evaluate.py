"""Long-term imagination metrics of a world model on episodes with a context and a query phase.

    result = evaluate(model, params, batch, context_length, key, reward_values=jnp.array([0., 1.]))
    result.mse            # [horizon] per-frame MSE over the query (mean over B and pixels)
    result.mse_buckets    # [K] mean MSE of K equal slices of the horizon (early ... late)
    result.imagined_obs   # [horizon, B, ...] frames generated from the query's actions alone

Axis names: `T` time (records of an episode), `B` episodes, `horizon` the query's length (`T - C`
with `C` the context length; not `H`, which names the model width), `K` buckets or reward values,
`*obs` the observation shape. In the jaxtyping annotations (documentation: nothing checks them at
run time), a shape string that would parse as a Python expression gets a leading space
(" horizon"), which jaxtyping strips, so that linters do not read it as a forward reference.
Protocol (S4WM's, Deng et al. 2023): the
model observes the context `obs[0 : C]` with teacher forcing, then `imagine`s the query from its
actions `action[C : T]` alone (no observation), so frame `i` of the horizon is the model's guess
of `obs[C + i]`. Time convention of `rlssm.world_models`: `action[t]` led to `obs[t]`. Every
function is pure and jittable (`context_length`, `num_buckets` and `sample` are static); a
memoryless baseline is the same model on the `none` core.
"""

import functools
import itertools
from collections.abc import Mapping
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, Int, PRNGKeyArray, Real, Shaped

from rlssm.world_models.base import Params, WorldModel
from rlssm.world_models.state import Batch, Imagination, WorldModelCarry


class QueryMetrics(NamedTuple):
    """How well generated query frames and rewards match the recorded ones."""

    mse: Float[Array, " horizon"]
    """`[horizon]`: squared error per frame, mean over episodes and pixel values."""
    mse_buckets: Float[Array, " K"]
    """`[K]`: mean of `mse` over `K` equal consecutive slices of the horizon."""
    mse_mean: Float[Array, ""]
    """`[]`: mean of `mse` over the whole horizon."""
    reward_accuracy: Float[Array, ""]
    """`[]`: share of query steps whose predicted reward is nearest to the recorded value."""
    reward_event_accuracy: Float[Array, ""]
    """`[]`: the same over the steps with a nonzero recorded reward (NaN when there is none)."""
    reward_mae: Float[Array, ""]
    """`[]`: mean absolute error of the predicted rewards."""


class Evaluation(NamedTuple):
    """`QueryMetrics` with what produced them."""

    metrics: QueryMetrics
    imagined_obs: Float[Array, "horizon B *obs"]
    """`[horizon, B, ...]`: decoded frame means generated from the query's actions."""
    imagined_reward: Float[Array, "horizon B"]
    """`[horizon, B]`: predicted reward means."""
    loss_terms: dict[str, Float[Array, ""]]
    """`model.loss` terms on the whole episodes (teacher forcing): recon, kl, reward, ..."""


def episodes_to_batch(episodes: Mapping[str, Shaped[Array, "B T ..."]]) -> Batch:
    """Episode-major records (`envs.memory.dataset` arrays `[B, T, ...]`) -> a time-major Batch.

    uint8 images become float32 in [0, 1]; other observations are cast to float32.
    """
    obs = jnp.asarray(episodes["obs"])
    obs = obs.astype(jnp.float32) / 255.0 if obs.dtype == jnp.uint8 else obs.astype(jnp.float32)
    time_major = functools.partial(jnp.swapaxes, axis1=0, axis2=1)
    return Batch(
        obs=time_major(obs),
        action=time_major(jnp.asarray(episodes["action"])),
        reward=time_major(jnp.asarray(episodes["reward"], jnp.float32)),
        terminated=time_major(jnp.asarray(episodes["terminated"], bool)),
        start=time_major(jnp.asarray(episodes["start"], bool)),
    )


def split_phases(batch: Batch, context_length: int) -> tuple[Batch, Batch]:
    """`(context [C, B], query [T - C, B])`: the records before and from `context_length`."""
    if not 1 <= context_length < batch.obs.shape[0]:
        raise ValueError(
            f"context_length must be in [1, T - 1] = [1, {batch.obs.shape[0] - 1}], "
            f"got {context_length}."
        )
    context = jax.tree.map(lambda x: x[:context_length], batch)
    query = jax.tree.map(lambda x: x[context_length:], batch)
    return context, query


def bucket_edges(horizon: int, num_buckets: int) -> Int[np.ndarray, " K+1"]:
    """`[K + 1]` slice boundaries splitting `horizon` frames into `K` near-equal parts."""
    if not 1 <= num_buckets <= horizon:
        raise ValueError(f"num_buckets must be in [1, horizon={horizon}], got {num_buckets}.")
    return np.round(np.linspace(0, horizon, num_buckets + 1)).astype(int)


def bucket_means(values: Float[Array, " horizon"], num_buckets: int) -> Float[Array, " K"]:
    """`values[horizon]` -> `[K]` means of `K` consecutive slices (see `bucket_edges`)."""
    edges = bucket_edges(values.shape[0], num_buckets)
    return jnp.stack([jnp.mean(values[lo:hi]) for lo, hi in itertools.pairwise(edges)])


def frame_mse(
    predicted: Float[Array, "horizon B *obs"], target: Real[Array, "horizon B *obs"]
) -> Float[Array, " horizon"]:
    """`[horizon, B, ...]` frames -> `[horizon]` squared error, mean over episodes and pixels."""
    axes = tuple(range(1, predicted.ndim))
    return jnp.mean(jnp.square(predicted - target.astype(predicted.dtype)), axis=axes)


def nearest_value(x: Float[Array, "*batch"], values: Float[Array, " K"]) -> Int[Array, "*batch"]:
    """Index into `values[K]` of the value nearest to each entry of `x` (any shape)."""
    return jnp.argmin(jnp.abs(x[..., None] - values), axis=-1)


def reward_scores(
    predicted: Float[Array, "horizon B"],
    target: Float[Array, "horizon B"],
    reward_values: Float[Array, " K"],
) -> tuple[Float[Array, ""], Float[Array, ""]]:
    """`(accuracy, event accuracy)` of predicted rewards `[horizon, B]` against recorded ones.

    A prediction is right when the value of `reward_values[K]` nearest to it is the one nearest
    to the recorded reward; the event accuracy counts only steps with a nonzero recorded reward.
    """
    right = nearest_value(predicted, reward_values) == nearest_value(target, reward_values)
    events = target != 0
    count = jnp.sum(events)
    event_accuracy = jnp.where(count > 0, jnp.sum(right & events) / jnp.maximum(count, 1), jnp.nan)
    return jnp.mean(right), event_accuracy


def query_metrics(
    imagined: Imagination | Batch,
    query: Batch,
    reward_values: Float[Array, " K"],
    num_buckets: int = 4,
) -> QueryMetrics:
    """Compares generated frames and rewards (`obs[horizon, B, ...]`, `reward[horizon, B]`) with
    the query's."""
    mse = frame_mse(imagined.obs, query.obs)
    accuracy, event_accuracy = reward_scores(imagined.reward, query.reward, reward_values)
    return QueryMetrics(
        mse=mse,
        mse_buckets=bucket_means(mse, num_buckets),
        mse_mean=jnp.mean(mse),
        reward_accuracy=accuracy,
        reward_event_accuracy=event_accuracy,
        reward_mae=jnp.mean(jnp.abs(imagined.reward - query.reward)),
    )


def imagine_query(
    model: WorldModel,
    params: Params,
    batch: Batch,
    context_length: int,
    key: PRNGKeyArray,
    sample: bool = False,
    carry: WorldModelCarry | None = None,
) -> Imagination:
    """Observes `batch`'s context, then imagines its query from the recorded query actions.

    Args:
        model: any world model.
        params: its parameters.
        batch: whole episodes `[T, B, ...]` (each row starts an episode at `t = 0`).
        context_length: `C`, records observed (teacher forcing) before imagining.
        key: split in two, for the context's and the imagination's samples.
        sample: draw latents (True) or take the modes (False, the default: deterministic).
        carry: the carry before `obs[0]` (default: the initial carry, for whole episodes).

    Returns:
        The `Imagination` of the `T - C` query steps; step `i` is the guess of `obs[C + i]`.
    """
    context, query = split_phases(batch, context_length)
    observe_key, imagine_key = jax.random.split(key)
    if carry is None:
        carry = model.initial_carry(batch.obs.shape[1])
    carry, _, _ = model.observe(
        params, carry, context.obs, context.action, context.start, observe_key, sample
    )
    _, imagined = model.imagine(params, carry, query.action, imagine_key, sample=sample)
    return imagined


def evaluate(
    model: WorldModel,
    params: Params,
    batch: Batch,
    context_length: int,
    key: PRNGKeyArray,
    reward_values: Float[Array, " K"],
    num_buckets: int = 4,
    sample: bool = False,
) -> Evaluation:
    """Imagination metrics, generated frames and the loss terms of `model` on `batch`.

    Args:
        model: any world model (the `none` core gives the memoryless baseline).
        params: its parameters.
        batch: whole episodes `[T, B, ...]`, context then query (see `episodes_to_batch`).
        context_length: `C`; the horizon is `T - C`.
        key: PRNG key (imagination and the loss terms).
        reward_values: `[K]` the rewards the task pays (zero included), for the accuracies.
        num_buckets: slices of the horizon for `mse_buckets`.
        sample: draw latents instead of taking modes while observing and imagining.

    Returns:
        `Evaluation` with `QueryMetrics`, imagined frames `[horizon, B, ...]` and rewards
        `[horizon, B]`.
    """
    imagine_key, loss_key = jax.random.split(key)
    imagined = imagine_query(model, params, batch, context_length, imagine_key, sample)
    _, query = split_phases(batch, context_length)
    metrics = query_metrics(imagined, query, jnp.asarray(reward_values, jnp.float32), num_buckets)
    _, terms = model.loss(params, batch, loss_key)
    return Evaluation(metrics, imagined.obs, imagined.reward, terms)
