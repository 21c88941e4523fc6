"""The model-based agent (agents.dreamer) against S5-PPO: speed, and learning at equal env steps.

    python -m benchmarks.dreamer --kinds speed                 # speed rows, JSON lines
    python -m benchmarks.dreamer --kinds learning --tasks RepeatPreviousEasy --steps 50000
    python -m benchmarks.dreamer --kinds learning --tasks RepeatFirstEasy --steps 1000000 \
        --agents ppo                                           # PPO alone, a larger budget
    python -m benchmarks.dreamer --kinds in-context --tasks MetaCartPole --steps 200000
    python -m benchmarks.dreamer --kinds in-context --tasks MetaCartPole --agents random
    python -m benchmarks.dreamer ... --write-docs              # and docs/BENCHMARKS.md

Speed (section `dreamer-speed`), the default config (`base_config`) on a POPGym Easy task:
- end to end: whole `make_train` runs of `iterations` iterations from init (acting, replay,
  `updates_per_iteration` world-model and actor-critic updates once the replay holds a
  window), seeds 0 .. `repeats - 1` one run each; env steps/s, updates/s and imagined steps/s
  (updates x replayed steps x horizon), median of the runs with min-max, compile apart;
- seeds: the same whole run vmapped over 4 seeds (`repeats` runs), its median wall time over
  the one-seed runs';
- shares: acting (`act`, one iteration's `K` steps), world model (replay sampling, its loss and
  optimiser step, the filter that gives imagination its start carries) and actor-critic
  (imagination, returns, both updates), each compiled and timed on its own; shares of their sum
  per iteration (`act + updates_per_iteration x (world model + actor-critic)`);
- per update at replay length 256: one train step of S4WM(s5) and of RSSM(gru).

Learning (section `dreamer-learning`): per task, the agent and S5-PPO (the PPO `cpu-small`
preset's network) trained on the same budget of env steps per seed, `seeds` seeds vmapped each.
Both return curves are cut into `bins` equal spans of env steps and averaged within each span;
MMER is the best span's mean (per seed, then mean and s.e. over seeds), the final return the
last span's. Binning by env steps puts the two agents on one axis: a PPO update covers 4096
steps, an iteration of the agent 128.

In-context learning (section `dreamer-in-context`, meta-RL tasks): both agents trained on the
same budget, then `episodes` fresh episodes per seed with sampled actions, their returns split
by trial: the first trial's mean, the last's, and their paired difference with its s.e.
`--agents ... random` adds a uniformly random policy's trials on the same tasks (no training):
the level of an agent that has learnt nothing, which a rise is read against.
"""

import dataclasses
import functools
import statistics
import time
import warnings
from typing import Any, Literal

import jax
import numpy as np
import tyro

from agents.common import no_split
from agents.common.compile import jit
from agents.common.evaluate import evaluate_seeds, make_rollout, random_act
from agents.dreamer import train as dreamer
from agents.dreamer.config import DreamerConfig
from agents.dreamer.evaluate import make_evaluate as make_dreamer_evaluate
from agents.dreamer.evaluate import policy_params
from agents.dreamer.replay import ReplayConfig
from agents.ppo import make_train as make_ppo_train
from agents.world_model import make_optimizer, make_optimizer_step
from benchmarks import ppo as ppo_benchmark
from benchmarks.common import (
    emit,
    machine,
    markdown_table,
    steps_list,
    time_compiled,
    write_merged_section,
)
from experiments.evaluate import num_trials
from experiments.ppo.presets import presets as ppo_presets
from experiments.suite import name_options
from rlssm.world_models.config import RewardHead

Kind = Literal["speed", "learning", "in-context"]
AgentName = Literal["dreamer", "ppo", "random"]
AGENTS: tuple[AgentName, ...] = ("dreamer", "ppo")


def base_config(**overrides) -> DreamerConfig:
    """The agent's default config (`DreamerConfig()`: S4WM(s5) at width 64 on RepeatPreviousEasy,
    rewards and reconstruction x1; the `cpu-small` preset until Dec 2026, whose rows are named
    by their differences from it) with `overrides`."""
    return DreamerConfig(**overrides)


def ppo_config(env_name: str, steps: int, env_options: dict | None = None):
    """The PPO `cpu-small` preset (S5, 2 layers of 64) on `env_name` (with `env_options`) for
    `steps` env steps."""
    config = ppo_presets()["cpu-small"][1].ppo
    return dataclasses.replace(
        config, env_name=env_name, env_options=env_options or {}, total_timesteps=steps
    )


def task_configs(task: str, steps: int, agent: dict) -> tuple[DreamerConfig, Any]:
    """The agent's and PPO's configs on `task` (`NAME` or `NAME@option=value,...`, options of
    `envs.make`, e.g. `MemoryChain-bsuite@memory_length=30`) for `steps` env steps per seed."""
    name, options = name_options(task, "tasks")
    config = base_config(env_name=name, env_options=options, total_timesteps=steps, **agent)
    return config, ppo_config(name, steps, options)


def warm_state(agent: dreamer.Agent):
    """A one-seed agent state whose replay holds a window (enough iterations run)."""
    config = agent.config
    warm = -(-config.replay.window // config.act_steps) + 1
    state = jit(agent.init)(jax.random.key(0))
    return jit(agent.run, static_argnums=1)(state, warm)[0]


def whole_runs(config: DreamerConfig, seeds: int, repeats: int):
    """`(compile seconds, [seconds per run], updates per seed)` of `repeats` whole `make_train`
    runs of `seeds` vmapped seeds (run `r` trains seeds from `key(r)`)."""
    train = jax.vmap(dreamer.make_train(config))
    keys = [jax.random.split(jax.random.key(r), seeds) for r in range(repeats)]
    t0 = time.perf_counter()
    compiled = jit(train).lower(keys[0]).compile()
    compile_s = time.perf_counter() - t0
    times = []
    for run_keys in keys:
        t0 = time.perf_counter()
        _, metrics = jax.block_until_ready(compiled(run_keys))
        times.append(time.perf_counter() - t0)
    # Iterations before the replay holds a window act without training (their losses are NaN).
    trained = int(np.isfinite(np.asarray(metrics["wm_loss"])[0]).sum())
    return compile_s, times, trained * config.updates_per_iteration


def piece_seconds(agent: dreamer.Agent, state) -> dict[str, float]:
    """Median seconds of acting (one iteration), the world-model part and the actor-critic part
    of one update, each compiled on its own."""
    config, spec, model = agent.config, agent.spec, agent.model
    actor, critic = dreamer.make_heads(config, spec)
    opt = make_optimizer(config.model_lr, config.grad_clip)
    wm_step = make_optimizer_step(model, opt)
    ac_step = dreamer.make_actor_critic_step(config, spec, model, actor, critic, (opt, opt))
    flat = jax.tree_util.Partial(jax.tree.map, lambda x: x.reshape(-1, *x.shape[2:]))

    def world_model(state, key):
        batch, carry = dreamer.replayed_windows(config, model, state, key)
        trained, _ = wm_step(state.world_model, batch, key, carry)
        carries = dreamer.filter_carries(model, trained.params, carry, batch, key)
        return trained, flat(carries), flat(batch.terminated).astype(np.float32)

    key = jax.random.key(1)
    act = jit(dreamer.make_act(config, spec, model, actor)).lower(state).compile()
    wm = jit(world_model).lower(state, key).compile()
    trained, starts, terminated = wm(state, key)
    ac = jit(ac_step).lower(state, trained.params, starts, terminated, key).compile()
    return {
        "act": time_compiled(act, state),
        "world_model": time_compiled(wm, state, key),
        "actor_critic": time_compiled(ac, state, trained.params, starts, terminated, key),
    }


def update_seconds(config: DreamerConfig) -> float:
    """Median seconds of one train step (world model + actor-critic) of `config`."""
    agent = dreamer.make_agent(config)
    actor, critic = dreamer.make_heads(config, agent.spec)
    opt = make_optimizer(config.model_lr, config.grad_clip)
    parts = (agent.spec, agent.model, actor, critic, (opt,) * 3)
    step = dreamer.make_train_step(config, *parts, no_split)
    state = warm_state(agent)
    key = jax.random.key(2)
    return time_compiled(jit(step).lower(state, key).compile(), state, key)


def measure_speed(task: str, iterations: int, repeats: int) -> list[dict]:
    """The speed rows of the default config on `task` (see the module docstring)."""
    config = base_config(env_name=task)
    config = dataclasses.replace(config, total_timesteps=iterations * config.steps_per_iteration)
    compile_s, times, updates = whole_runs(config, 1, repeats)
    _, times4, _ = whole_runs(config, 4, repeats)
    median = statistics.median(times)
    steps = config.num_iterations * config.steps_per_iteration
    agent = dreamer.make_agent(config)
    one = warm_state(agent)
    pieces = piece_seconds(agent, one)
    per_iteration = {
        "act": pieces["act"],
        "world_model": config.updates_per_iteration * pieces["world_model"],
        "actor_critic": config.updates_per_iteration * pieces["actor_critic"],
    }
    total = sum(per_iteration.values())
    long = {"replay": ReplayConfig(capacity=4096, length=256, context="stored"), "batch_size": 4}
    s4wm_s = update_seconds(base_config(env_name=task, **long))
    rssm_s = update_seconds(base_config(env_name=task, model="rssm", core="gru", **long))
    return [
        {
            "case": f"speed {task}",
            "compile_s": round(compile_s, 1),
            "env_steps_per_s": round(steps / median, 1),
            "env_steps_per_s_range": [round(steps / max(times), 1), round(steps / min(times), 1)],
            "updates_per_s": round(updates / median, 2),
            "imagined_steps_per_s": round(
                updates * config.batch_size * config.replay.length * config.horizon / median
            ),
            "train_ratio": config.train_ratio,
            "seeds4_over_1": round(statistics.median(times4) / median, 2),
            "share": {k: round(v / total, 3) for k, v in per_iteration.items()},
            "update_s_at_length_256": {"s4wm(s5)": round(s4wm_s, 4), "rssm(gru)": round(rssm_s, 4)},
            "repeats": repeats,
            "iterations": iterations,
        }
    ]


def binned(returns: np.ndarray, steps_per_row: int, budget: int, bins: int) -> np.ndarray:
    """`[N, bins]`: the mean return of each seed within each equal span of env steps."""
    ends = (np.arange(returns.shape[1]) + 1) * steps_per_row
    which = np.minimum((ends - 1) * bins // budget, bins - 1)
    out = np.full((returns.shape[0], bins), np.nan)
    for b in range(bins):
        chunk = returns[:, which == b]
        if chunk.size:
            with warnings.catch_warnings():  # a span where no episode ended stays NaN
                warnings.simplefilter("ignore", RuntimeWarning)
                out[:, b] = np.nanmean(np.where(np.isfinite(chunk), chunk, np.nan), axis=1)
    return out


def scores(returns: np.ndarray, steps_per_row: int, budget: int, bins: int) -> dict:
    """MMER and final return (per seed, mean, s.e.) of a `[N, rows]` return curve."""
    curve = binned(returns, steps_per_row, budget, bins)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        mean_curve = np.nanmean(curve, axis=0)
    mmer = np.nanmax(curve, axis=1)
    final = curve[:, -1]
    se = float(np.std(mmer, ddof=1) / np.sqrt(len(mmer))) if len(mmer) > 1 else float("nan")
    return {
        "mmer": round(float(np.mean(mmer)), 3),
        "mmer_se": round(se, 3),
        "mmer_per_seed": [round(float(v), 3) for v in mmer],
        "final": round(float(np.nanmean(final)), 3),
        "curve": [round(float(v), 3) for v in mean_curve],
    }


def train_curve(train, seeds: int, jit_of=jax.jit) -> tuple[dict[str, np.ndarray], float, float]:
    """`(curves, compile s, run s)` of a vmapped `train(key)`, compiled by `jit_of` (`jax.jit`,
    or `agents.common.compile.jit` for the model-based agent). `curves`: `[N, rows]` per metric,
    the return (`return_mean`) and, for the model-based agent, its world model's reward error
    (`wm_reward_mae`)."""
    keys = jax.random.split(jax.random.key(0), seeds)
    t0 = time.perf_counter()
    compiled = jit_of(jax.vmap(train)).lower(keys).compile()
    compile_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    _, metrics = jax.block_until_ready(compiled(keys))
    kept = {k: np.asarray(v) for k, v in metrics.items() if k in CURVES}
    return kept, compile_s, time.perf_counter() - t0


CURVES = ("return_mean", "wm_reward_mae")
"""The per-iteration metrics a learning row reads."""


def halved_at(errors: np.ndarray, steps_per_row: int, budget: int, bins: int) -> list[int | None]:
    """Per seed of a `[N, rows]` error curve: the env steps by the end of the first span whose
    mean error is under half the first measured span's (None: not within the budget; spans
    before the replay first fills have no error). On a memory task the world model's reward
    error sits at a plateau (the error of a prediction blind to the cue) until its backbone
    learns to keep the cue, then drops: this is where it drops."""
    curve = binned(errors, steps_per_row, budget, bins)
    width = budget / bins
    out = []
    for seed in curve:
        measured = np.flatnonzero(np.isfinite(seed))
        first = measured[0] if measured.size else len(seed) - 1
        below = np.flatnonzero(seed[first + 1 :] < seed[first] / 2)
        out.append(round((first + below[0] + 2) * width) if below.size else None)
    return out


RATES = ("model_lr", "actor_lr", "critic_lr")
"""The learning rates a run may set apart from the default config's."""
SCALES = ("reward_scale", "recon_scale", "reward_loss_scale")
"""The factors (1 in the preset) a run may set: on the rewards, on the reconstruction term, on
the reward term."""


NAMED = (
    (("reward_scale",), " reward x{:g}"),
    (("recon_scale",), " recon x{:g}"),
    (("reward_loss_scale",), " reward loss x{:g}"),
    (("replay.length", "batch_size"), " window {}x{}"),
    (("replay.capacity",), " ring {}"),
    (("replay.burn_in",), " burn-in {}"),
    (("train_ratio",), " ratio {:g}"),
    (("actor_unimix",), " unimix {:g}"),
    (("entropy_coef",), " entropy {:g}"),
    (("actor_replay_scale",), " replay actor x{:g}"),
    (("actor_gradient",), " {} gradient"),
    (("start_gradient_rows",), " ({} rows)"),
    (("target_temperature",), " tau {:g}"),
    (("first_row_weight",), " first rows x{:g}"),
    (("first_flag",), " first flag"),
    (("first_head",), " first head"),
    (("first_head_lr",), " (lr {:g})"),
    (("first_explore",), " first explore {:g}"),
    (("first_branches",), " first branches {}"),
    (("action_relabel",), " action relabel {:g}"),
    (("reward_head",), " {} reward head"),
)
"""The config fields an agent's name shows where they differ from the preset's, in order, with
the text that shows them."""


def field_value(config: DreamerConfig, path: str) -> Any:
    """A config's field by dotted path (`replay.capacity`)."""
    return functools.reduce(getattr, path.split("."), config)


def agent_name(config: DreamerConfig) -> str:
    """`dreamer s4wm(s5)`, with ` full` for R2I's full-state features and ` lr M/A/C` (world
    model, actor, critic) where the learning rates are not the preset's, then each of `NAMED`
    that differs from the preset: ` reward xS` where the agent scales the rewards it learns,
    ` recon xS` where it weighs the reconstruction, ` reward loss xS` where it weighs the world
    model's reward term, ` window LxN` where it trains on N replayed windows of L steps per
    update, ` ring C` where its replay keeps C steps per environment, ` burn-in N` where N
    replayed steps refresh each window's stored carry, ` ratio R` where it trains at another
    train ratio, ` unimix U` where the actor mixes in another share of the uniform than
    DreamerV3's 1%, ` entropy E` where the actor's entropy bonus is E instead of DreamerV3's
    3e-4, ` replay actor xS` where the actor also learns from the replayed rows with weight S,
    ` expected gradient` where the actor learns by the expected policy
    gradient at its start states, ` target gradient` where it learns there by the
    cross-entropy to the target policy of every action's value (` tau T` where its temperature
    is not the preset's 0.03; ` (first rows)` where only at the starts that open an episode),
    ` first rows xW` where the actor weighs the starts that open an
    episode W times, ` first flag` where the actor and critic read a flag on an episode's first
    step, ` first head` where the actor has a network of its own there (` (lr L)` at a rate of
    its own), ` action reward head` where the world model has a reward head per action."""
    default = base_config()

    def values(of: DreamerConfig, fields: tuple[str, ...]) -> tuple:
        return tuple(field_value(of, f) for f in fields)

    full = " full" if config.features == "full" else ""
    rates, preset = values(config, RATES), values(default, RATES)
    lr = "" if rates == preset else " lr " + "/".join(f"{r:g}" for r in rates)
    named = "".join(
        text.format(*values(config, fields))
        for fields, text in NAMED
        if values(config, fields) != values(default, fields)
    )
    return f"dreamer {config.model}({config.core}){full}{lr}{named}"


def measure_learning(
    task: str, steps: int, seeds: int, bins: int, agent: dict, which: tuple[str, ...] = AGENTS
) -> list[dict]:
    """The agent (`agent`: config overrides, see `agent_overrides`) and S5-PPO (`which` of
    them) on `task` for `steps` env steps per seed."""
    rows = []
    config, ppo = task_configs(task, steps, agent)
    # (name, trainer, its config, env steps per curve row, jit with the trainer's XLA options)
    per_iteration = config.steps_per_iteration
    runs = {
        "dreamer": (agent_name(config), dreamer.make_train, config, per_iteration, jit),
        "ppo": ("ppo s5", make_ppo_train, ppo, ppo.steps_per_update, jax.jit),
    }
    for agent, make_train, agent_config, per_row, jit_of in (runs[name] for name in which):
        train = make_train(agent_config)
        curves, compile_s, run_s = train_curve(train, seeds, jit_of)
        returns = curves["return_mean"]
        used = returns.shape[1] * per_row
        errors = curves.get("wm_reward_mae")
        halved = None if errors is None else halved_at(errors, per_row, used, bins)
        rows.append(
            {
                "case": f"{task} {agent}",
                "task": task,
                "agent": agent,
                "env_steps_per_seed": used,
                "seeds": seeds,
                **scores(returns, per_row, used, bins),
                "reward_halved_per_seed": halved,
                "compile_s": round(compile_s, 1),
                "run_s": round(run_s, 1),
            }
        )
    return rows


def trials_of(spec, rollout, params, seeds: int, episodes: int) -> tuple[np.ndarray, np.ndarray]:
    """`([N, E, K] per-trial returns, [N, E] done)` of `episodes` fresh first episodes of each
    of `seeds` seeds (`params` lead with `N`; the same keys, so the same tasks, for every
    agent)."""
    steps = int(spec.params.max_steps_in_episode)
    evaluate = evaluate_seeds(rollout, episodes, steps, num_trials(spec))
    keys = jax.random.split(jax.random.key(1), seeds)
    (_, _, done), trials = jax.jit(evaluate)(params, keys)
    return np.asarray(trials), np.asarray(done)


def dreamer_trials(config: DreamerConfig, state, episodes: int) -> tuple[np.ndarray, np.ndarray]:
    """`trials_of` the trained agent (sampled actions, the observe_step filter)."""
    spec = dreamer.make_agent(config).spec
    seeds = jax.tree.leaves(state.update)[0].shape[0]
    rollout = make_dreamer_evaluate(config, spec)
    return trials_of(spec, rollout, policy_params(state), seeds, episodes)


def random_trials(
    config: DreamerConfig, seeds: int, episodes: int
) -> tuple[np.ndarray, np.ndarray]:
    """`trials_of` a uniformly random policy on the agent's task."""
    spec = dreamer.make_agent(config).spec
    rollout = make_rollout(spec, random_act(spec), lambda num_envs: None)
    return trials_of(spec, rollout, None, seeds, episodes)


def measure_in_context(
    task: str, steps: int, seeds: int, episodes: int, agent: dict, which: tuple[str, ...] = AGENTS
) -> list[dict]:
    """The agent and S5-PPO (`which` of them, and `random`: a random policy) on meta-RL `task`
    after `steps` env steps of training, their fresh episodes' returns split by trial."""
    config, ppo = task_configs(task, steps, agent)
    rows = []
    if "dreamer" in which:
        keys = jax.random.split(jax.random.key(0), seeds)
        t0 = time.perf_counter()
        state, metrics = jax.block_until_ready(jit(jax.vmap(dreamer.make_train(config)))(keys))
        run_s = round(time.perf_counter() - t0, 1)
        final = [round(float(np.nanmean(r[-10:])), 3) for r in np.asarray(metrics["return_mean"])]
        by_trial, done = dreamer_trials(config, state, episodes)
        name = f"{task} {agent_name(config)}"
        rows.append(ppo_benchmark.trial_row(name, by_trial, done, final_return=final, run_s=run_s))
    if "ppo" in which:
        ppo_case = ppo_benchmark.Case(ppo, "in-context", "", "", seeds=seeds)
        ppo_case = dataclasses.replace(ppo_case, eval_episodes=episodes)
        rows.append(ppo_benchmark.measure_in_context(f"{task} ppo s5", ppo_case))
    if "random" in which:
        by_trial, done = random_trials(config, seeds, episodes)
        name = f"{task} random policy"
        rows.append(ppo_benchmark.trial_row(name, by_trial, done, final_return="-", run_s=None))
    return rows


@dataclasses.dataclass(frozen=True)
class Args:
    """Which benchmarks to run."""

    kinds: tuple[Kind, ...] = ("speed", "learning")
    """speed, learning and/or in-context (meta-RL tasks: returns by trial after training)."""
    agents: tuple[AgentName, ...] = AGENTS
    """The rows' agents: the model-based agent and/or S5-PPO (alone, e.g. for PPO's figure at a
    larger budget than the agent's); `random` (in-context rows only) adds a uniformly random
    policy's trials, the level an agent that has learnt nothing sits at."""
    tasks: tuple[str, ...] = ("RepeatPreviousEasy",)
    """Registered task names (POPGym Easy tasks for the speed rows), each optionally with
    options of `envs.make` (learning, in-context): `MemoryChain-bsuite@memory_length=30`."""
    steps: int = 50_000
    """Env steps per seed of each learning run (the issue's target budget is up to 500k)."""
    seeds: int = 3
    """Seeds of each learning run (vmapped)."""
    features: Literal["output", "full"] = "output"
    """The agent's actor and critic features (learning, in-context): output or R2I's full."""
    actor_gradient: Literal["reinforce", "expected", "target"] = "reinforce"
    """The agent's actor gradient (learning, in-context): REINFORCE (DreamerV3's), with the
    expected policy gradient over every action at the start states, or with a cross-entropy
    to the target policy those actions' values give there."""
    start_gradient_rows: Literal["all", "first"] = "all"
    """Where the expected or target gradient applies (learning, in-context): every imagination
    start, or those that open an episode (REINFORCE elsewhere)."""
    first_flag: bool = False
    """The agent's actor and critic also read a flag on an episode's first step (learning,
    in-context; `DreamerConfig.first_flag`)."""
    first_head: bool = False
    """With --first-flag: the actor's own network for an episode's first step (learning,
    in-context; `DreamerConfig.first_head`)."""
    reward_head: RewardHead = "state"
    """The world model's reward head (learning, in-context): of the state (DreamerV3's) or one
    per action, the taken action's read."""
    model_lr: float | None = None
    """The world model's learning rate (learning, in-context); None: the preset's."""
    actor_lr: float | None = None
    """The actor's learning rate (learning, in-context); None: the preset's."""
    critic_lr: float | None = None
    """The critic's learning rate (learning, in-context); None: the preset's."""
    reward_scale: float = 1.0
    """The agent's factor on the rewards it learns (learning, in-context)."""
    recon_scale: float = 1.0
    """The weight of the world model's reconstruction term (learning, in-context)."""
    reward_loss_scale: float = 1.0
    """The weight of the world model's reward term (learning, in-context)."""
    replay_length: int | None = None
    """Steps L of each replayed training window (learning, in-context); None: the preset's.
    A memory longer than L is learnt only through the stored carry, without gradient."""
    batch_size: int | None = None
    """Replayed windows per update (learning, in-context); None: the preset's. Keep
    `replay_length x batch_size` to keep the replayed steps of an update."""
    replay_capacity: int | None = None
    """Steps kept per environment by the replay (learning, in-context); None: the preset's
    (4096). `steps / num_envs` (8 environments) or more keeps every step of the run (DreamerV3's
    replay holds millions); a ring shorter than a window fails before compiling."""
    replay_burn_in: int | None = None
    """Replayed steps observed without gradient before each window to refresh its stored carry
    (learning, in-context; R2D2's burn-in); None: the preset's (0)."""
    train_ratio: float | None = None
    """Replayed steps trained on per env step (learning, in-context); None: the preset's (32)."""
    actor_unimix: float | None = None
    """The share of the uniform mixed into the actor's categorical (learning, in-context);
    None: the preset's (DreamerV3's 0.01, which caps a sampling policy's score)."""
    entropy_coef: float | None = None
    """The weight of the actor's entropy bonus (learning, in-context); None: the preset's
    (DreamerV3's 3e-4)."""
    actor_replay_scale: float | None = None
    """The weight of the actor's REINFORCE term on the replayed rows (learning, in-context);
    None: the preset's (0, imagination only)."""
    target_temperature: float | None = None
    """tau of the `target` actor gradient (learning, in-context); None: the preset's (0.03)."""
    first_row_weight: float | None = None
    """The actor's loss weight of the imagination starts that open an episode (learning,
    in-context); None: the preset's (1, DreamerV3's)."""
    first_head_lr: float | None = None
    """With --first-head: the first step's network's learning rate (learning, in-context);
    None: the actor's."""
    first_explore: float | None = None
    """The chance that acting swaps an episode's first action for a uniform one (learning,
    in-context); None: the preset's (0)."""
    first_branches: int | None = None
    """Episode-opening starts per update imagined under every first action (learning,
    in-context); None: the preset's (0, none)."""
    action_relabel: float | None = None
    """The share of replayed actions the world model's backbone reads swapped for uniform ones
    (learning, in-context); None: the preset's (0, the taken actions)."""
    episodes: int = 256
    """Fresh evaluation episodes per seed (in-context)."""
    bins: int = 20
    """Spans of env steps the learning curves are averaged over."""
    iterations: int = 32
    """Iterations of each timed whole run (speed; 128 env steps each by default)."""
    repeats: int = 3
    """Whole runs per speed figure (median and min-max), seeds 0 .. repeats - 1."""
    write_docs: bool = False
    """Write the rows into docs/BENCHMARKS.md (sections dreamer-speed, dreamer-learning)."""


SHAPE = ("replay_length", "batch_size", "replay_capacity", "replay_burn_in")
"""The replayed window's length and count per update, the replay's rows per environment and
the burn-in before a window a run may set apart from the default."""
TRAINING = (
    "train_ratio", "actor_unimix", "entropy_coef", "actor_replay_scale", "target_temperature",
    "first_row_weight", "first_head_lr", "first_explore", "first_branches", "action_relabel",
)  # fmt: skip
"""The train ratio, the actor's unimix, its entropy bonus, its replay term's weight, its
target gradient's tau, its first rows' weight, its first-step network's rate, the first
step's exploration and its branches, and the world model's action relabelling a run may set apart
from the default."""


CHOICES = {
    "features": "output",
    "actor_gradient": "reinforce",
    "start_gradient_rows": "all",
    "reward_head": "state",
}
"""The agent's named choices a run may set, with the preset's."""
SWITCHES = ("first_flag", "first_head")
"""The agent's on/off choices a run may switch on (off in the preset)."""


def dashed(name: str) -> str:
    """A field's command-line flag name (`reward_head` -> `reward-head`)."""
    return name.replace("_", "-")


def flag_values(args: Args) -> dict:
    """The agent's numeric settings that `args` gives: the rates given, scales other than 1, the
    window's shape, train ratio and the actor's unimix, entropy bonus and replay term given
    (each a flag of the reproducing command)."""
    names = (*RATES, *SCALES, *SHAPE, *TRAINING)
    unset = {**dict.fromkeys(names), **dict.fromkeys(SCALES, 1.0)}
    return {n: getattr(args, n) for n in names if getattr(args, n) != unset[n]}


def agent_overrides(args: Args) -> dict:
    """The agent's config fields that `args` sets: features and `flag_values` (the window's
    length, the ring's capacity and the burn-in go into the preset's replay config)."""
    overrides = flag_values(args)
    ring = {"replay_length": "length", "replay_capacity": "capacity", "replay_burn_in": "burn_in"}
    replay = {field: overrides.pop(name) for name, field in ring.items() if name in overrides}
    if replay:
        overrides["replay"] = dataclasses.replace(base_config().replay, **replay)
    choices = {name: getattr(args, name) for name in (*CHOICES, *SWITCHES)}
    return {**choices, **overrides}


def command(args: Args, kind: str) -> str:
    """The command that reproduces the rows of `kind`."""
    parts = ["python -m benchmarks.dreamer", f"--kinds {kind}", f"--tasks {' '.join(args.tasks)}"]
    if kind == "learning":
        parts += [f"--steps {args.steps}", f"--seeds {args.seeds}", f"--bins {args.bins}"]
        if args.agents != AGENTS:
            parts.append(f"--agents {' '.join(args.agents)}")
    elif kind == "in-context":
        trained = set(args.agents) != {"random"}  # the random policy takes no steps
        parts += [f"--steps {args.steps}"] if trained else []
        parts += [f"--seeds {args.seeds}", f"--episodes {args.episodes}"]
        if args.agents != AGENTS:
            parts.append(f"--agents {' '.join(args.agents)}")
    else:
        parts += [f"--iterations {args.iterations}", f"--repeats {args.repeats}"]
    if kind != "speed":
        chosen = {name: getattr(args, name) for name in CHOICES}
        parts += [
            f"--{dashed(name)} {value}" for name, value in chosen.items() if value != CHOICES[name]
        ]
        parts += [f"--{dashed(name)}" for name in SWITCHES if getattr(args, name)]
        given = flag_values(args)
        parts += [f"--{dashed(name)} {value:g}" for name, value in given.items()]
    return " ".join([*parts, "--write-docs"])


SPEED_COLUMNS = (
    "case", "env steps/s (median, min-max)", "updates/s", "imagined steps/s", "4 seeds / 1",
    "acting / world model / actor-critic", "one update at T=256: s4wm(s5), rssm(gru)", "compile",
    "machine",
)  # fmt: skip
SPEED_KEY = ("case", "machine")  # a speed run replaces its cases on its own machine


def speed_table(rows: list[dict], where: str) -> str:
    """The speed rows as a markdown table; `where` is the machine that measured them."""
    cells = [
        (
            r["case"],
            f"{r['env_steps_per_s']} ({r['env_steps_per_s_range'][0]}-"
            f"{r['env_steps_per_s_range'][1]})",
            r["updates_per_s"],
            f"{r['imagined_steps_per_s']:,}",
            f"{r['seeds4_over_1']}x",
            " / ".join(f"{v:.0%}" for v in r["share"].values()),
            " , ".join(f"{v * 1000:.0f} ms" for v in r["update_s_at_length_256"].values()),
            f"{r['compile_s']} s",
            where,
        )
        for r in rows
    ]
    return markdown_table(cells, SPEED_COLUMNS)


LEARNING_COLUMNS = (
    "task", "agent", "env steps/seed", "MMER (s.e.)", "per seed", "final",
    "reward error halved at", "run + compile", "machine",
)  # fmt: skip
# A learning run replaces the rows of its (task, agent, budget) on its own machine.
LEARNING_KEY = ("task", "agent", "env steps/seed", "machine")


def learning_table(rows: list[dict], where: str) -> str:
    """The learning rows as a markdown table; `where` is the machine that measured them."""
    cells = [
        (
            r["task"],
            r["agent"],
            f"{r['env_steps_per_seed']:,}",
            f"{r['mmer']} ({r['mmer_se']})",
            r["mmer_per_seed"],
            r["final"],
            steps_list(r.get("reward_halved_per_seed")),
            f"{r['run_s']} s + {r['compile_s']} s",
            where,
        )
        for r in rows
    ]
    return markdown_table(cells, LEARNING_COLUMNS)


TRIALS_COLUMNS = (
    "case", "first trial", "last trial", "last - first (s.e.)", "episodes", "training return",
    "run", "machine", "command",
)  # fmt: skip
TRIALS_KEY = ("case", "machine")  # an in-context run replaces its cases on its own machine


def trials_table(rows: list[dict], where: str, how: str) -> str:
    """The in-context rows as a markdown table; `where` is the machine that measured them and
    `how` the command that reproduces them."""
    cells = [
        (
            r["case"],
            r["first_trial"],
            r["last_trial"],
            f"{r['rise']:+} ({r['rise_se']})",
            r["episodes"],
            r["final_return"],
            seconds(r["run_s"]),
            where,
            f"`{how}`",
        )
        for r in rows
    ]
    return markdown_table(cells, TRIALS_COLUMNS)


def seconds(value: float | None) -> str:
    """`12.5 s`, or `-` for no training run."""
    return "-" if value is None else f"{value} s"


def check_args(args: Args) -> None:
    """Raises a one-line error for flags that cannot go together, before anything compiles."""
    if "random" in args.agents and "learning" in args.kinds:
        raise ValueError(
            "--agents random adds a random policy to the in-context rows only (it has no "
            "learning curve): drop it from --agents, or run --kinds in-context alone"
        )


def main(args: Args) -> list[dict]:
    check_args(args)
    rows: dict[str, list[dict]] = {"speed": [], "learning": [], "in-context": []}
    for kind in args.kinds:
        for task in args.tasks:
            agent = agent_overrides(args)
            if kind == "speed":
                new = measure_speed(task, args.iterations, args.repeats)
            elif kind == "learning":
                new = measure_learning(task, args.steps, args.seeds, args.bins, agent, args.agents)
            else:
                new = measure_in_context(
                    task, args.steps, args.seeds, args.episodes, agent, args.agents
                )
            for row in new:
                emit(row)
            rows[kind] += new
    if args.write_docs:
        write_docs(args, rows)
    return [row for kind in rows.values() for row in kind]


LEARNING_HEADER = (
    "A run replaces the rows of its (task, agent, env steps/seed) triples measured on the same "
    "machine and keeps the others; a row is reproduced by `python -m benchmarks.dreamer --kinds"
    " learning --tasks TASK --steps STEPS --seeds SEEDS --bins 20 --write-docs` (add "
    "`--features full` for a `full` row, `--model-lr M --actor-lr A --critic-lr C` for an `lr "
    "M/A/C` row, `--reward-scale S` for a `reward xS` row, `--recon-scale S` for a `recon xS` "
    "row, `--reward-loss-scale S` for a `reward loss xS` row, `--replay-length L --batch-size "
    "N` for a `window LxN` row, `--replay-capacity C` for a `ring C` row, `--replay-burn-in N` "
    "for a `burn-in N` row, `--train-ratio R` "
    "for a `ratio R` row, `--actor-unimix U` for a `unimix U` row, `--entropy-coef E` for an "
    "`entropy E` row, `--actor-replay-scale S` for a `replay actor xS` row, `--actor-gradient "
    "expected` for an `expected gradient` row, `--actor-gradient target` for a `target "
    "gradient` row, `--start-gradient-rows first` for a `(first rows)` row, "
    "`--target-temperature T` for a `tau T` row, `--first-row-weight W` for a "
    "`first rows xW` row, `--first-flag` for a `first flag` row, `--first-head` for a `first "
    "head` row, `--first-head-lr L` for a `(lr L)` row, `--first-explore P` for a `first "
    "explore P` row, `--first-branches M` for a `first branches M` row, `--action-relabel "
    "P` for an `action relabel P` row, `--reward-head action` for an "
    "`action reward head` row; "
    "`--agents ppo` runs PPO alone), with the row's env steps per "
    "seed rounded up to the budget given. `reward error halved at`: per seed, the env steps by "
    "the end of the first of the 20 spans in which the agent's world model's mean reward error "
    "(on its replayed windows) is under half the first measured span's (`-`: never; empty: PPO,"
    " or a row written before the column). On a memory task the error sits at a plateau until "
    "the backbone learns to keep the cue, and the actor cannot learn before. The machine column"
    " names the machine each row ran on; compare rows of one machine."
)


SPEED_HEADER = (
    "Command: `{command}`. A run replaces the rows of its cases measured on the same machine "
    "and keeps the others; the machine column names the machine each row ran on: compare rows "
    "of one machine."
)


TRIALS_HEADER = (
    "A run replaces the rows of its cases (task and agent) measured on the same machine and "
    "keeps the others; each row names "
    "the machine it ran on and the command that reproduces it. `first trial`, `last trial`: "
    "mean return of that trial over the fresh episodes of every seed; `last - first`: their "
    "paired difference per episode (s.e.); `training return`: per seed, the mean return of "
    "the episodes of the run's last 10 training iterations."
)


def write_docs(args: Args, rows: dict[str, list[dict]]) -> None:
    """The measured kinds' sections of docs/BENCHMARKS.md (learning rows merged by task, agent,
    env steps and machine with the rows already there, in-context rows by case and machine)."""
    where = machine()
    for kind in args.kinds:
        name = f"dreamer-{kind}"
        if kind == "learning":
            table = learning_table(rows[kind], where)
            write_merged_section(name, LEARNING_HEADER, table, LEARNING_COLUMNS, LEARNING_KEY)
        elif kind == "in-context":
            table = trials_table(rows[kind], where, command(args, kind))
            write_merged_section(name, TRIALS_HEADER, table, TRIALS_COLUMNS, TRIALS_KEY)
        else:
            header = SPEED_HEADER.format(command=command(args, kind))
            table = speed_table(rows[kind], where)
            write_merged_section(name, header, table, SPEED_COLUMNS, SPEED_KEY)


if __name__ == "__main__":
    main(tyro.cli(Args))
