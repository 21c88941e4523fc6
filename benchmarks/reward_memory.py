"""Does the model-based agent's world model learn a reward that needs memory?

On POPGym's RepeatPrevious the reward of naming a suit depends on the action *and* on the card
dealt `k` steps before. Neither alone says anything about it (each suit is right a quarter of
the time whatever the action), so the world model's reward head must learn an interaction
carried through the backbone before imagination can teach the actor anything. This benchmark
trains the world model of the agent's `cpu-small` preset alone, on episodes of
`RepeatPreviousEasy@k=K` with uniformly random actions, and reports how many updates its reward
error takes to fall below half the best constant prediction's (a plateau, then a drop), for
each lag `k` and reconstruction weight (`DreamerConfig.recon_scale`).

    python -m benchmarks.reward_memory --write-docs

Axes: `T` steps of an episode (the reset observation and `T - 1` actions), `N` episodes.
"""

import dataclasses
import time

import jax
import jax.numpy as jnp
import numpy as np
import tyro
from jaxtyping import Array, Float

from agents.common.environment import EnvSpec, make_env, reset, step
from agents.dreamer.train import make_world_model
from agents.world_model import init_train_state, make_optimizer, make_optimizer_step
from benchmarks.common import emit, machine, write_section
from benchmarks.dreamer import base_config
from rlssm.world_models.state import Batch

SECTION = "reward-memory"


@dataclasses.dataclass(frozen=True)
class Args:
    """Lags, reconstruction weights and budget of the world-model-only runs."""

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
    """Seed of the world model's parameters and batches."""
    write_docs: bool = False
    """Write the table into docs/BENCHMARKS.md (section reward-memory)."""


def random_episodes(spec: EnvSpec, key, episodes: int, length: int) -> Batch:
    """`episodes` random-action episodes of `length` rows, time-major `[T, N]`: row 0 is the
    reset observation (no action, no reward, `start`), row `t` the observation, action and
    reward of step `t`. `length` must not reach the terminal step (auto-reset would start a
    new episode there)."""
    reset_key, key = jax.random.split(key)
    obs0, env_state = reset(spec, reset_key, episodes)

    def act(env_state, key):
        action_key, step_key = jax.random.split(key)
        action = jax.random.randint(action_key, (episodes,), 0, spec.action_dim)
        obs, env_state, reward, terminated, *_ = step(spec, step_key, env_state, action)
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


def reward_errors(spec: EnvSpec, data: Batch, recon_scale: float, args: Args) -> Float[Array, " R"]:
    """The world model the agent builds for `spec`, trained alone on batches of 16 episodes
    drawn from `data`: its mean reward error over each span of `args.every` updates (`R`
    spans)."""
    config = base_config(recon_scale=recon_scale)
    model = make_world_model(config, spec)
    optimizer = make_optimizer(config.model_lr, config.grad_clip)
    update = make_optimizer_step(model, optimizer)
    data = data._replace(reward=data.reward * args.reward_scale)
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

    return run(jax.random.key(args.seed))


def constant_error(reward: Float[Array, "T N"]) -> float:
    """The mean absolute error of the best constant prediction (the median) over every row, as
    the loss averages it (the unrewarded rows, t < k and row 0, too)."""
    values = np.asarray(reward)
    return float(np.mean(np.abs(values - np.median(values))))


def first_below(errors: np.ndarray, level: float, every: int) -> int | None:
    """Updates done by the end of the first span whose mean error is below `level`."""
    below = np.flatnonzero(errors < level)
    return None if below.size == 0 else int(below[0] + 1) * every


def measure(lag: int, recon_scale: float, spec: EnvSpec, data: Batch, args: Args) -> dict:
    """One row: the reward error's drop for `lag` and `recon_scale`."""
    t0 = time.perf_counter()
    errors = np.asarray(jax.block_until_ready(reward_errors(spec, data, recon_scale, args)))
    seconds = time.perf_counter() - t0
    constant = constant_error(data.reward * args.reward_scale)
    drop = first_below(errors, constant / 2, args.every)
    return {
        "lag": lag,
        "recon_scale": recon_scale,
        "updates_to_half": drop,
        "final_mae": round(float(errors[-1]), 3),
        "constant_mae": round(constant, 3),
        "updates": args.updates,
        "seconds": round(seconds, 1),
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


def main(args: Args) -> list[dict]:
    rows = []
    for lag in args.lags:
        spec, data = dataset(lag, args.episodes)
        for recon_scale in args.recon_scales:
            rows.append(measure(lag, recon_scale, spec, data, args))
            emit(rows[-1])
    if args.write_docs:
        write_section(SECTION, table(rows, args))
    return rows


if __name__ == "__main__":
    main(tyro.cli(Args))
