"""PPO speed and learning benchmarks against the reference settings of purejaxrl and popjaxrl.

    python -m benchmarks.ppo                          # every case, JSON lines on stdout
    python -m benchmarks.ppo --cases ff-cartpole      # some cases
    python -m benchmarks.ppo --write-docs             # and the table in docs/BENCHMARKS.md

Speed: whole training runs, as `make_train` gives them to a user: compile once, then train seeds
0, 1, 2 one after another (each the case's whole `total_timesteps`); env steps/s is the median
(min-max) over those runs, compile apart. Next to it, the raw environment throughput at the same
batch size (random actions, auto-reset, measured in the same run), so each agent figure is also
a fraction of its ceiling. (Side by side with installable peers: `python -m benchmarks.peers`.)
Learning: full runs over several seeds (vmapped), the final return (mean of the last 10 updates)
per seed and the env steps at which a seed's 10-update mean first reached the threshold.
In-context learning (meta-RL tasks, section `ppo-meta`): a full run, then `eval_episodes` fresh
episodes per seed with the sampled policy, their return split by trial: the first trial's mean,
the last trial's, and their paired difference with its standard error.
"""

import dataclasses
import time
from typing import Literal

import jax
import numpy as np
import tyro

import rlssm.cores as cores
from agents.ppo import NetworkConfig, PPOConfig, make_agent, make_train
from agents.ppo.evaluate import first_episode_trials, make_evaluate
from benchmarks.common import compile_and_time, emit, machine, write_section
from benchmarks.envs import make_rollout
from experiments.evaluate import num_trials, trial_stats
from experiments.ppo.presets import presets
from experiments.ppo.trainer import ppo_config


@dataclasses.dataclass(frozen=True)
class Case:
    """One benchmark row."""

    config: PPOConfig
    kind: Literal["speed", "learning", "in-context"]
    reference: str
    """What the reference implementation measured on the 2-core CPU (from the issue)."""
    target: str
    seeds: int = 3
    """Seeds trained at once (learning cases), or whole runs timed one after another (speed)."""
    threshold: float = 0.0
    """Return a seed must reach (learning cases)."""
    eval_episodes: int = 256
    """Evaluation episodes per seed (in-context cases)."""


def purejaxrl_setting(core: cores.CoreConfig, network: NetworkConfig, **overrides) -> PPOConfig:
    """purejaxrl's CartPole setting: 4 envs x 128 steps, 4 epochs, 4 minibatches, 5e5 steps."""
    fields = {
        "env_name": "CartPole-v1",
        "core": core,
        "network": network,
        "num_envs": 4,
        "num_steps": 128,
        "total_timesteps": 500_000,
        "update_epochs": 4,
        "num_minibatches": 4,
        "lr": 2.5e-4,
    }
    return PPOConfig(**{**fields, **overrides})


def popjaxrl_setting(core: cores.CoreConfig, **overrides) -> PPOConfig:
    """popjaxrl's small S5 setting: RepeatPreviousEasy, 16 envs x 256 steps, 4 epochs, 4 mb."""
    fields = {
        "env_name": "RepeatPreviousEasy",
        "core": core,
        "network": NetworkConfig(encoder_sizes=(256,), head_sizes=(256,)),
        "num_envs": 16,
        "num_steps": 256,
        "total_timesteps": 16 * 256 * 100,
        "update_epochs": 4,
        "num_minibatches": 4,
        "lr": 2.5e-4,
    }
    return PPOConfig(**{**fields, **overrides})


FF_CARTPOLE = NetworkConfig(encoder_sizes=(), head_sizes=(64,), shared_trunk=False)
RNN_NET = NetworkConfig(encoder_sizes=(128,), head_sizes=(128,))
S5_256x4 = cores.S5Config(hidden_size=256, state_size=256, num_layers=4)


def meta_cartpole_config() -> PPOConfig:
    """The `meta-cartpole` preset of `python -m experiments.ppo`."""
    return ppo_config(presets()["meta-cartpole"][1])


def cases() -> dict[str, Case]:
    """Every benchmark case by name."""
    return {**cartpole_cases(), **popjaxrl_cases()}


def cartpole_cases() -> dict[str, Case]:
    """The cases at purejaxrl's CartPole-v1 setting."""
    ff = purejaxrl_setting(cores.FeedForwardConfig(hidden_size=64, activation="tanh"), FF_CARTPOLE)
    return {
        "ff-cartpole-speed": Case(ff, "speed", "purejaxrl FF PPO: 134k steps/s", ">= 134k steps/s"),
        "ff-cartpole-learning": Case(
            ff,
            "learning",
            "purejaxrl FF PPO reaches ~500",
            ">= 475 within 5e5 steps, 3 of 3",
            threshold=475.0,
        ),
        "gru-cartpole-speed": Case(
            purejaxrl_setting(cores.GRUConfig(hidden_size=128), RNN_NET),
            "speed",
            "purejaxrl GRU PPO: 4.2k steps/s",
            ">= 12.6k steps/s (3x)",
        ),
        "s5-cartpole-speed": Case(
            purejaxrl_setting(cores.S5Config(hidden_size=128, state_size=128), RNN_NET),
            "speed",
            "purejaxrl GRU PPO: 4.2k steps/s",
            "faster than our GRU",
        ),
        "s5-cartpole-learning": Case(
            purejaxrl_setting(cores.S5Config(hidden_size=128, state_size=128), RNN_NET),
            "learning",
            "S5 reached 500 on 1 of 3 seeds (issue's run)",
            ">= 475 within 5e5 steps, 3 of 3",
            threshold=475.0,
        ),
    }


def popjaxrl_cases() -> dict[str, Case]:
    """The cases at popjaxrl's POPGym settings, and Meta CartPole in context."""
    return {
        "s5-popjaxrl-small": Case(
            popjaxrl_setting(S5_256x4),
            "speed",
            "popjaxrl S5: compile 171 s, 1.4k steps/s",
            ">= 4.2k steps/s, compile < 20 s, faster than GRU",
        ),
        "gru-popjaxrl-small": Case(
            popjaxrl_setting(cores.GRUConfig(hidden_size=256)),
            "speed",
            "popjaxrl GRU: compile 12 s, 1.7k steps/s",
            "(S5 must be faster)",
        ),
        "s5-paper": Case(
            popjaxrl_setting(
                S5_256x4,
                num_envs=64,
                num_steps=1024,
                # Two updates per timed run (a whole run of 15M steps takes hours on the CPU);
                # each update is the paper's: 65,536 env steps and 30 epochs.
                total_timesteps=64 * 1024 * 2,
                update_epochs=30,
                num_minibatches=8,
                lr=5e-5,
                gae_lambda=1.0,
            ),
            "speed",
            "popjaxrl S5 paper setting: compile 179 s, 170 steps/s",
            "compile < 30 s, >= 340 steps/s (2x)",
        ),
        "meta-cartpole-in-context": Case(
            meta_cartpole_config(),
            "in-context",
            "popjaxrl/S5 paper: return rises over the trials",
            "last trial's return above the first's (by > 2 s.e.)",
            seeds=1,
        ),
    }


def env_throughput(agent, num_steps: int) -> float:
    """Random-action env steps/s of the agent's wrapped environment at its batch size."""
    num_envs = agent.config.num_envs
    rollout = make_rollout(agent.spec.env, agent.spec.params, num_envs, num_steps)
    timing = compile_and_time(rollout, jax.random.key(0), repeats=3, min_seconds=0.5)
    return num_envs * num_steps / timing["run_s"]


def measure_speed(name: str, case: Case) -> dict:
    """Compile time of `make_train` and env steps/s of `seeds` whole runs, one seed at a time."""
    train = jax.jit(make_train(case.config))
    t0 = time.perf_counter()
    compiled = train.lower(jax.random.key(0)).compile()
    compile_s = time.perf_counter() - t0
    steps = case.config.num_updates * case.config.steps_per_update
    speeds = []
    for seed in range(case.seeds):
        t0 = time.perf_counter()
        jax.block_until_ready(compiled(jax.random.key(seed)))
        speeds.append(steps / (time.perf_counter() - t0))
    sps = float(np.median(speeds))
    agent = make_agent(case.config)
    env_sps = env_throughput(agent, case.config.num_steps)
    return {
        "case": name,
        "compile_s": round(compile_s, 2),
        "runs": case.seeds,
        "steps_per_s": round(sps),
        "steps_per_s_min": round(min(speeds)),
        "steps_per_s_max": round(max(speeds)),
        "env_steps_per_s": round(env_sps),
        "fraction_of_env": round(sps / env_sps, 4),
    }


def first_reach(returns: np.ndarray, threshold: float, window: int = 10) -> int | None:
    """First update index at which the `window`-update mean reaches `threshold` (None: never)."""
    if len(returns) < window:
        return None
    means = np.convolve(np.nan_to_num(returns, nan=-np.inf), np.ones(window) / window, "valid")
    hits = np.flatnonzero(means >= threshold)
    return int(hits[0] + window - 1) if hits.size else None


def measure_learning(name: str, case: Case) -> dict:
    """Trains `seeds` seeds at once; final returns, steps to threshold and wall time."""
    train = jax.jit(jax.vmap(make_train(case.config)))
    keys = jax.random.split(jax.random.key(0), case.seeds)
    t0 = time.perf_counter()
    compiled = train.lower(keys).compile()
    compile_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    _, metrics = jax.block_until_ready(compiled(keys))
    run_s = time.perf_counter() - t0
    returns = np.asarray(metrics["return_mean"])
    reach = [first_reach(r, case.threshold) for r in returns]
    per_update = case.config.steps_per_update
    return {
        "case": name,
        "compile_s": round(compile_s, 2),
        "run_s": round(run_s, 1),
        "final_return": [round(float(np.nanmean(r[-10:])), 3) for r in returns],
        "steps_to_threshold": [None if u is None else (u + 1) * per_update for u in reach],
        "seeds_reaching": sum(u is not None for u in reach),
    }


def trial_returns(case: Case, agent, state, num_trials: int) -> tuple[np.ndarray, np.ndarray]:
    """`[N, E, K]` per-trial returns of `E` fresh first episodes per seed, and `[N, E]` done."""
    evaluate = make_evaluate(case.config, agent.spec, agent.network)
    steps = int(agent.spec.params.max_steps_in_episode)

    def per_seed(params, obs_stats, key):
        result = evaluate(params, obs_stats, key, case.eval_episodes, steps)
        return first_episode_trials(result, num_trials)

    keys = jax.random.split(jax.random.key(1), case.seeds)
    out = jax.jit(jax.vmap(per_seed))(state.train_state.params, state.obs_stats, keys)
    return tuple(np.asarray(x) for x in jax.device_get(out))


def trial_row(case: str, by_trial: np.ndarray, done: np.ndarray, **extra) -> dict:
    """An in-context row from `[N, E, K]` per-trial returns and `[N, E]` done: the first
    trial's mean return, the last's, their paired difference (s.e.), and `extra` fields."""
    stats = trial_stats(by_trial, done)
    means = stats["trial_return_mean"]
    return {
        "case": case,
        "episodes": int(done.sum()),
        "trial_return_mean": [round(v, 4) for v in means],
        "first_trial": round(means[0], 4),
        "last_trial": round(means[-1], 4),
        "rise": round(stats["last_minus_first"], 4),
        "rise_se": round(stats["last_minus_first_se"], 4),
        **extra,
    }


def measure_in_context(name: str, case: Case) -> dict:
    """Trains like `measure_learning`, then splits fresh episodes' returns by trial."""
    agent = make_agent(case.config)
    train = jax.jit(jax.vmap(make_train(case.config)))
    keys = jax.random.split(jax.random.key(0), case.seeds)
    t0 = time.perf_counter()
    state, metrics = jax.block_until_ready(train(keys))
    run_s = round(time.perf_counter() - t0, 1)
    by_trial, done = trial_returns(case, agent, state, num_trials(agent.spec))
    final = [round(float(np.nanmean(r[-10:])), 3) for r in np.asarray(metrics["return_mean"])]
    return trial_row(name, by_trial, done, final_return=final, run_s=run_s)


MEASURE = {"speed": measure_speed, "learning": measure_learning, "in-context": measure_in_context}


@dataclasses.dataclass(frozen=True)
class Args:
    """Which cases to run."""

    cases: tuple[str, ...] = ()
    """Case names (default: all); see `cases()`."""
    write_docs: bool = False
    """Write the table into docs/BENCHMARKS.md (section `ppo`)."""


def table(rows: list[dict], all_cases: dict[str, Case]) -> str:
    """Markdown table of the measured rows."""
    lines = [
        "| case | measured | reference (2-core CPU) | target |",
        "|---|---|---|---|",
    ]
    for row in rows:
        case = all_cases[row["case"]]
        if case.kind == "speed":
            measured = (
                f"{row['steps_per_s']:,} steps/s ({row['steps_per_s_min']:,}-"
                f"{row['steps_per_s_max']:,}, {row['runs']} whole runs; "
                f"{row['fraction_of_env']:.2%} of the env's {row['env_steps_per_s']:,}), "
                f"compile {row['compile_s']} s"
            )
        elif case.kind == "in-context":
            measured = (
                f"trial 1: {row['first_trial']}, trial {len(row['trial_return_mean'])}: "
                f"{row['last_trial']}, last - first {row['rise']:+} (s.e. {row['rise_se']}, "
                f"{row['episodes']} episodes); training return {row['final_return']}, "
                f"{row['run_s']} s"
            )
        else:
            measured = (
                f"final return {row['final_return']}, {row['seeds_reaching']}/{case.seeds} "
                f"seeds reach {case.threshold} (at {row['steps_to_threshold']} steps), "
                f"{row['run_s']} s + compile {row['compile_s']} s"
            )
        lines.append(f"| {row['case']} | {measured} | {case.reference} | {case.target} |")
    return "\n".join(lines)


def main(args: Args) -> list[dict]:
    all_cases = cases()
    unknown = sorted(set(args.cases) - set(all_cases))
    if unknown:
        raise SystemExit(f"--cases: unknown {unknown}; known: {sorted(all_cases)}")
    rows = []
    for name in args.cases or tuple(all_cases):
        case = all_cases[name]
        row = MEASURE[case.kind](name, case)
        emit(row)
        rows.append(row)
    if args.write_docs:
        header = (
            "Command: `python -m benchmarks.ppo --write-docs"
            f"{' --cases ' + ' '.join(args.cases) if args.cases else ''}`; machine: {machine()}."
            "\n\n"
        )
        # Meta-RL rows have a section of their own: they take minutes, the others do not.
        for section, meta in (("ppo", False), ("ppo-meta", True)):
            chosen = [r for r in rows if (all_cases[r["case"]].kind == "in-context") == meta]
            if chosen:
                write_section(section, header + table(chosen, all_cases))
    return rows


if __name__ == "__main__":
    main(tyro.cli(Args))
