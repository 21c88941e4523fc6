"""Does the model-based agent's world model learn a reward that needs memory?

On POPGym's RepeatPrevious the reward of naming a suit depends on the action *and* on the card
dealt `k` steps before. Neither alone says anything about it (each suit is right a quarter of
the time whatever the action), so the world model's reward head must learn an interaction
carried through the backbone before imagination can teach the actor anything. This benchmark
trains the world model of the agent's `cpu-small` preset alone, on episodes of
`RepeatPreviousEasy@k=K` with uniformly random actions, and reports how many updates its reward
error takes to fall below half the best constant prediction's (a plateau, then a drop), for
each lag `k` and reconstruction weight (`DreamerConfig.recon_scale`).

The `weight` study does the same on gymnax's `MemoryChain-bsuite` (the cue shown at the start,
+-1 at the end for naming it), whole random-action episodes, for each weight of the world
model's reward term (`DreamerConfig.reward_loss_scale`) on several seeds: when a seed's plateau
ends varies, so a weight is judged by how many seeds leave it within the budget.

    python -m benchmarks.reward_memory --write-docs
    python -m benchmarks.reward_memory --kinds weight --write-docs

Axes: `T` steps of an episode (the reset observation and `T - 1` actions), `N` episodes.
"""

import dataclasses
import time
from typing import Literal

import jax
import jax.numpy as jnp
import numpy as np
import tyro
from jaxtyping import Array, Float

from agents.common.environment import EnvSpec, make_env, reset, step
from agents.dreamer.config import DreamerConfig
from agents.dreamer.train import make_world_model
from agents.world_model import init_train_state, make_optimizer, make_optimizer_step
from benchmarks.common import (
    emit,
    machine,
    markdown_table,
    steps_list,
    write_merged_section,
    write_section,
)
from benchmarks.dreamer import base_config
from rlssm.world_models.config import RewardHead
from rlssm.world_models.state import Batch

SECTION = "reward-memory"
WEIGHT_SECTION = "reward-weight"
WEIGHT_COLUMNS = (
    "memory length", "reward-term weight", "reward head", "seeds halved", "updates to half",
    "final MAE", "constant MAE", "updates", "seconds",
)  # fmt: skip
WEIGHT_KEY = WEIGHT_COLUMNS[:3]
"""The weight study's table columns, and those that name a row's case (a run replaces the
rows of the cases it measures)."""


@dataclasses.dataclass(frozen=True)
class Args:
    """Lags, reconstruction weights and budget of the world-model-only runs."""

    kinds: tuple[Literal["lag", "weight"], ...] = ("lag",)
    """`lag`: RepeatPreviousEasy at each lag and reconstruction weight (one seed; section
    reward-memory). `weight`: MemoryChain-bsuite at `memory_length`, each reward-term weight
    on `seeds` seeds (section reward-weight)."""
    lags: tuple[int, ...] = (1, 2, 4)
    """Lags `k` of RepeatPreviousEasy (the task's own is 4)."""
    recon_scales: tuple[float, ...] = (1.0, 10.0)
    """Weights of the reconstruction term (the agent's `recon_scale`)."""
    updates: int = 10_000
    """World-model updates per run (batch 16 episodes, the agent's rate and clipping)."""
    every: int = 250
    """Updates between two readings of the reward error (each the mean over its span)."""
    episodes: int = 1024
    """Random-action episodes of the data set (one set per lag, seed 1)."""
    reward_scale: float = 50.0
    """Factor on the rewards (as the agent's `reward_scale`; POPGym pays about 1/48 per step)."""
    seed: int = 0
    """Seed of the world model's parameters and batches (lag; weight: seeds 0 .. seeds - 1)."""
    memory_length: int = 30
    """MemoryChain's memory length (weight): episodes of `memory_length + 1` steps."""
    weights: tuple[float, ...] = (1.0, 100.0)
    """Weights of the world model's reward term (weight; the agent's `reward_loss_scale`)."""
    reward_heads: tuple[RewardHead, ...] = ("state",)
    """The world model's reward heads (weight; the agent's `reward_head`): state (DreamerV3's)
    and/or action, one head per action, the taken one's read."""
    seeds: int = 4
    """Seeds per weight (weight)."""
    write_docs: bool = False
    """Write the table into docs/BENCHMARKS.md (section reward-memory)."""


def random_episodes(spec: EnvSpec, key, episodes: int, length: int) -> Batch:
    """`episodes` random-action episodes of `length` rows, time-major `[T, N]`: row 0 is the
    reset observation (no action, no reward, `start`), row `t` the observation, action and
    reward of step `t`; an episode's last row holds its final observation, as the agent's replay
    does. `length` may end on the terminal step, not pass it (auto-reset starts a new episode
    there)."""
    reset_key, key = jax.random.split(key)
    obs0, env_state = reset(spec, reset_key, episodes)

    def act(env_state, key):
        action_key, step_key = jax.random.split(key)
        action = jax.random.randint(action_key, (episodes,), 0, spec.action_dim)
        obs, env_state, reward, terminated, truncated, info = step(
            spec, step_key, env_state, action
        )
        ended = (terminated | truncated).reshape(-1, *([1] * (obs.ndim - 1)))
        obs = jnp.where(ended, info["final_observation"], obs)
        return env_state, (obs, action, reward, terminated)

    keys = jax.random.split(key, length - 1)
    _, (obs, action, reward, terminated) = jax.lax.scan(act, env_state, keys)
    first = jnp.zeros((1, episodes))
    return Batch(
        obs=jnp.concatenate([obs0[None], obs]),
        action=jnp.concatenate([first.astype(action.dtype), action]),
        reward=jnp.concatenate([first, reward]),
        terminated=jnp.concatenate([first.astype(bool), terminated]),
        start=jnp.zeros((length, episodes), bool).at[0].set(True),
    )


def reward_errors(
    spec: EnvSpec, data: Batch, config: DreamerConfig, args: Args, seeds: tuple[int, ...]
) -> Float[np.ndarray, "S R"]:
    """The world model `config` makes for `spec`, trained alone at its rate and clipping on
    batches of `config.batch_size` episodes drawn from `data`, once per seed of `seeds` (`S`):
    its mean reward error over each span of `args.every` updates (`R` spans)."""
    model = make_world_model(config, spec)
    optimizer = make_optimizer(config.model_lr, config.grad_clip)
    update = make_optimizer_step(model, optimizer)
    batch_size = config.batch_size

    def one(train_state, key):
        pick_key, loss_key = jax.random.split(key)
        rows = jax.random.randint(pick_key, (batch_size,), 0, data.obs.shape[1])
        batch = jax.tree.map(lambda x: x[:, rows], data)
        train_state, metrics = update(train_state, batch, loss_key)
        return train_state, metrics["reward_mae"]

    def span(train_state, key):
        train_state, errors = jax.lax.scan(one, train_state, jax.random.split(key, args.every))
        return train_state, errors.mean()

    @jax.jit
    def run(key):
        init_key, key = jax.random.split(key)
        train_state = init_train_state(model, optimizer, init_key)
        spans = jax.random.split(key, args.updates // args.every)
        return jax.lax.scan(span, train_state, spans)[1]

    return np.stack([np.asarray(run(jax.random.key(seed))) for seed in seeds])


def constant_error(reward: Float[Array, "T N"]) -> float:
    """The mean absolute error of the best constant prediction (the median) over every row, as
    the loss averages it (the unrewarded rows, t < k and row 0, too)."""
    values = np.asarray(reward)
    return float(np.mean(np.abs(values - np.median(values))))


def first_below(errors: np.ndarray, level: float, every: int) -> int | None:
    """Updates done by the end of the first span whose mean error is below `level`."""
    below = np.flatnonzero(errors < level)
    return None if below.size == 0 else int(below[0] + 1) * every


def readings(
    spec: EnvSpec,
    data: Batch,
    config: DreamerConfig,
    args: Args,
    seeds: tuple[int, ...],
    digits: int = 4,
) -> dict:
    """`reward_errors` read per seed (`S` lists): the updates until the error halves, the final
    error, with the constant prediction's error (errors to `digits` decimals), the budget and
    the wall time of them all."""
    t0 = time.perf_counter()
    errors = reward_errors(spec, data, config, args, seeds)
    seconds = time.perf_counter() - t0
    constant = constant_error(data.reward)
    return {
        "updates_to_half": [first_below(seed, constant / 2, args.every) for seed in errors],
        "final_mae": [round(float(seed[-1]), digits) for seed in errors],
        "constant_mae": round(constant, digits),
        "updates": args.updates,
        "seconds": round(seconds, 1),
    }


def measure(lag: int, recon_scale: float, spec: EnvSpec, data: Batch, args: Args) -> dict:
    """One row: the reward error's drop for `lag` and `recon_scale` (seed `args.seed`)."""
    data = data._replace(reward=data.reward * args.reward_scale)
    config = base_config(recon_scale=recon_scale)
    read = readings(spec, data, config, args, (args.seed,), digits=3)
    (drop,), (final,) = read.pop("updates_to_half"), read.pop("final_mae")
    return {
        "lag": lag,
        "recon_scale": recon_scale,
        "updates_to_half": drop,
        "final_mae": final,
        **read,
    }


def table(rows: list[dict], args: Args) -> str:
    """The section's markdown."""
    head = (
        f"Machine: {machine()}. Command: `python -m benchmarks.reward_memory --write-docs` "
        f"(one seed, {args.episodes} random-action episodes of 50 steps per lag, batch 16, "
        f"rewards x{args.reward_scale:g}). `updates to half`: updates until the reward's mean "
        "absolute error (over a span of "
        f"{args.every} updates) falls below half the best constant prediction's; `-`: not within "
        "the budget."
    )
    lines = [
        "| lag k | recon scale | updates to half | final MAE | constant MAE | updates | seconds |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        drop = "-" if r["updates_to_half"] is None else f"{r['updates_to_half']:,}"
        lines.append(
            f"| {r['lag']} | {r['recon_scale']:g} | {drop} | {r['final_mae']} | "
            f"{r['constant_mae']} | {r['updates']:,} | {r['seconds']} |"
        )
    return "\n".join([head, "", *lines])


def dataset(lag: int, episodes: int) -> tuple[EnvSpec, Batch]:
    """RepeatPreviousEasy with lag `lag` and `episodes` random-action episodes of it (seed 1):
    51 rows, the reset and 50 steps, short of the terminal 51st."""
    spec = make_env("RepeatPreviousEasy", {"k": lag}, squash=True)
    draw = jax.jit(lambda key: random_episodes(spec, key, episodes, 51))
    return spec, draw(jax.random.key(1))


def chain_dataset(memory_length: int, episodes: int) -> tuple[EnvSpec, Batch]:
    """MemoryChain-bsuite at `memory_length` and `episodes` whole random-action episodes of it
    (seed 1): `memory_length + 2` rows, the reset and every step to the terminal one, which
    pays +-1 for naming the cue of the first rows."""
    spec = make_env("MemoryChain-bsuite", {"memory_length": memory_length}, squash=True)
    draw = jax.jit(lambda key: random_episodes(spec, key, episodes, memory_length + 2))
    return spec, draw(jax.random.key(1))


def weight_config(args: Args, weight: float, head: str = "state") -> DreamerConfig:
    """The agent's world model as the MemoryChain rows of the learning table train it (rate
    3e-3, reconstruction x10) with reward-term weight `weight` and reward head `head`."""
    env = {"env_name": "MemoryChain-bsuite", "env_options": {"memory_length": args.memory_length}}
    scales = {"recon_scale": 10.0, "reward_loss_scale": weight}
    return base_config(**env, model_lr=3e-3, reward_head=head, **scales)


def measure_weight(weight: float, head: str, spec: EnvSpec, data: Batch, args: Args) -> dict:
    """One row of the weight study: per seed, the updates until the reward error halves."""
    config = weight_config(args, weight, head)
    read = readings(spec, data, config, args, tuple(range(args.seeds)))
    halved = sum(d is not None for d in read["updates_to_half"])
    case = {"memory_length": args.memory_length, "weight": weight, "reward_head": head}
    return {**case, "halved": halved, **read}


def weight_header(args: Args) -> str:
    """The text above the weight study's table: machine, command, settings, columns."""
    return (
        f"Machine: {machine()}. A row is reproduced by `python -m benchmarks.reward_memory "
        "--kinds weight --memory-length M --weights W --reward-heads H --write-docs`; a run "
        "replaces the rows it measures again and keeps the others (MemoryChain-bsuite at memory "
        f"length M, {args.episodes} whole random-action episodes, batch 16 episodes, seeds 0-"
        f"{args.seeds - 1}, the world model's rate 3e-3 and reconstruction x10 as in the "
        "MemoryChain rows of the learning table). `updates to half`: per seed, updates until "
        f"the reward's mean absolute error (over a span of {args.every} updates) falls below "
        "half the best constant prediction's; `-`: not within the budget."
    )


def weight_table(rows: list[dict]) -> str:
    """The weight study's markdown table of `rows`."""
    cells = [
        (
            r["memory_length"],
            f"{r['weight']:g}",
            r["reward_head"],
            f"{r['halved']} of {len(r['updates_to_half'])}",
            steps_list(r["updates_to_half"]),
            r["final_mae"],
            r["constant_mae"],
            f"{r['updates']:,}",
            r["seconds"],
        )
        for r in rows
    ]
    return markdown_table(cells, WEIGHT_COLUMNS)


def lag_rows(args: Args) -> list[dict]:
    """The lag study's rows (one per lag and reconstruction weight), written if asked."""
    rows = []
    for lag in args.lags:
        spec, data = dataset(lag, args.episodes)
        for recon_scale in args.recon_scales:
            rows.append(measure(lag, recon_scale, spec, data, args))
            emit(rows[-1])
    if args.write_docs:
        write_section(SECTION, table(rows, args))
    return rows


def weight_rows(args: Args) -> list[dict]:
    """The weight study's rows (one per reward-term weight), written if asked."""
    spec, data = chain_dataset(args.memory_length, args.episodes)
    rows = []
    for weight in args.weights:
        for head in args.reward_heads:
            rows.append(measure_weight(weight, head, spec, data, args))
            emit(rows[-1])
    if args.write_docs:
        table = weight_table(rows)
        write_merged_section(WEIGHT_SECTION, weight_header(args), table, WEIGHT_COLUMNS, WEIGHT_KEY)
    return rows


def main(args: Args) -> list[dict]:
    kinds = {"lag": lag_rows, "weight": weight_rows}
    return [row for kind in args.kinds for row in kinds[kind](args)]


if __name__ == "__main__":
    main(tyro.cli(Args))
