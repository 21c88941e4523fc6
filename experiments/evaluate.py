"""Evaluate a trained run: load a checkpoint, play episodes, print and save return statistics.

    python -m experiments.evaluate RUN_DIR                         # training task, 100 episodes
    python -m experiments.evaluate RUN_DIR --greedy --episodes 500
    python -m experiments.evaluate RUN_DIR --env-name MetaControl-heldout   # another task
    python -m experiments.evaluate RUN_DIR --record 3              # and render 3 episodes

RUN_DIR is a run of `python -m experiments.ppo` or of `python -m experiments.dreamer` (the
model-based agent); config.json's `agent` says which, and the same statistics come out. Every
seed of the run is evaluated with its own parameters (PPO: and observation statistics; the
model-based agent: its world model filtering each observation for its actor) on `--episodes`
fresh environments; the first episode of each environment counts (counting every episode
inside a fixed horizon would favour short ones). On meta-RL tasks (`MetaCartPole`,
`MetaControl-*`, `MetaBrax-*`) the return of each trial of those episodes is reported too
(`trial_return_mean`, and `last_minus_first`: positive when the policy improves within an
episode, i.e. learns in context). Results go to
`RUN_DIR/eval/<task>-<greedy|sampled>-<update>.json` unless `--output` says otherwise.

`--record N` also renders the first episode of the first `N` environments of seed 0 (the same
keys as the evaluation) into `RUN_DIR/eval/record/<task>-<greedy|sampled>-<update>/`: an animated
GIF per episode for image observations (memory suite, MinAtar), else a PNG of the observations,
actions and rewards over time, plus a text rendering for POPGym card and grid tasks (see
experiments.record).
"""

import dataclasses
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jax
import numpy as np
import tyro
from rich.console import Console
from rich.table import Table

from agents.common.environment import EnvSpec
from agents.common.evaluate import evaluate_seeds
from agents.dreamer import evaluate as dreamer_evaluate
from agents.ppo import environment
from agents.ppo.evaluate import make_policy_rollout
from experiments import record as recording
from experiments.dreamer import trainer as dreamer_trainer
from experiments.ppo import trainer as ppo_trainer
from experiments.run import checkpoint
from experiments.run.checkpoint import CheckpointError
from experiments.run.lifecycle import (
    Trainer,
    checkpoint_meta,
    load_config,
    restore_state,
    seed_keys,
)
from experiments.run.run_dir import RunDir, RunDirError, write_json
from experiments.run.serialize import ConfigError

DEFAULT_MAX_STEPS = 1000


@dataclasses.dataclass(frozen=True)
class EvalArgs:
    """Evaluate the policy of a run directory (PPO or the model-based agent)."""

    run_dir: tyro.conf.Positional[Path]
    """Run directory written by `python -m experiments.ppo` or `python -m experiments.dreamer`."""
    episodes: int = 100
    """Episodes per seed (one fresh environment each)."""
    max_steps: int = 0
    """Steps to play; 0: the task's max_steps_in_episode, else 1000."""
    env_name: str | None = None
    """Evaluate on this registered task instead of the training task."""
    env_options: dict[str, int | float | bool | str] = dataclasses.field(default_factory=dict)
    """Options of `envs.make` for --env-name."""
    greedy: bool = False
    """Act with the most likely action instead of sampling."""
    seed: int = 0
    """Random seed of the evaluation episodes."""
    checkpoint: Path | None = None
    """Checkpoint folder to load (default: the newest in RUN_DIR/checkpoints)."""
    output: Path | None = None
    """Where to write the JSON results (default: RUN_DIR/eval/...)."""
    record: int = 0
    """Render the first episodes of this many environments of seed 0 (GIF, PNG, text) into
    RUN_DIR/eval/record/<task>-<policy>-<update>/; 0: none."""

    def __post_init__(self) -> None:
        if self.episodes < 1:
            raise ValueError(f"episodes must be >= 1, got {self.episodes}.")
        if self.max_steps < 0:
            raise ValueError(f"max_steps must be >= 0, got {self.max_steps}.")
        if not 0 <= self.record <= self.episodes:
            raise ValueError(f"record must be in [0, episodes={self.episodes}], got {self.record}.")
        if self.env_options and self.env_name is None:
            raise ValueError("env_options need --env-name (the training task has its own).")


def check_compatible(trained: EnvSpec, other: EnvSpec, name: str) -> None:
    """Refuses a task whose observation or action spaces differ from the training task's."""
    pairs = {
        "observation size": (trained.obs_size, other.obs_size),
        "discrete actions": (trained.discrete, other.discrete),
        "action size": (trained.action_dim, other.action_dim),
    }
    diffs = [f"{k} {a} vs {b}" for k, (a, b) in pairs.items() if a != b]
    if diffs:
        raise ConfigError(f"{name} does not fit the trained policy: {', '.join(diffs)}.")


def horizon(args: EvalArgs, spec: EnvSpec) -> int:
    """Steps to play: `--max-steps`, else the task's episode limit, else a default."""
    if args.max_steps:
        return args.max_steps
    limit = getattr(spec.params, "max_steps_in_episode", None)
    return int(limit) if isinstance(limit, int) and limit > 0 else DEFAULT_MAX_STEPS


def num_trials(spec: EnvSpec) -> int:
    """Trials per episode of a meta-RL task (`envs.meta.Trials`), else 0."""
    count = getattr(spec.params, "num_trials", None)
    return count if isinstance(count, int) and count > 0 else 0


def trial_stats(trial_returns: np.ndarray, done: np.ndarray) -> dict:
    """Mean return of each trial over the finished first episodes, from `[N, B, K]` arrays."""
    per_seed = [
        r[d].mean(axis=0).tolist() if d.any() else None
        for r, d in zip(trial_returns, done, strict=True)
    ]
    finished = trial_returns[done]
    mean = finished.mean(axis=0) if finished.size else None
    return {
        "trial_return_mean": None if mean is None else mean.tolist(),
        "trial_return_std": None if mean is None else finished.std(axis=0).tolist(),
        "trial_return_per_seed": per_seed,
        "last_minus_first": None if mean is None else float(mean[-1] - mean[0]),
        "last_minus_first_se": standard_error(finished[:, -1] - finished[:, 0]),
    }


def standard_error(values: np.ndarray) -> float | None:
    """Standard error of the mean of `values` (None for fewer than two)."""
    return float(values.std(ddof=1) / np.sqrt(values.size)) if values.size > 1 else None


def seed_stats(returns: np.ndarray, lengths: np.ndarray, done: np.ndarray) -> list[dict]:
    """Return statistics per seed from `[N, B]` first-episode arrays."""
    stats = []
    for r, n, d in zip(returns, lengths, done, strict=True):
        r, n = r[d], n[d]
        finished = bool(r.size)
        stats.append(
            {
                "episodes": int(r.size),
                "unfinished": int((~d).sum()),
                "return_mean": float(r.mean()) if finished else None,
                "return_std": float(r.std()) if finished else None,
                "return_se": standard_error(r),
                "return_min": float(r.min()) if finished else None,
                "return_max": float(r.max()) if finished else None,
                "length_mean": float(n.mean()) if finished else None,
                "returns": r.tolist(),
            }
        )
    return stats


@dataclasses.dataclass(frozen=True)
class Kind:
    """What evaluating the runs of one trainer needs from it (config.json's `agent` picks it)."""

    trainer: Trainer
    build: Callable[[Any], Any]
    """`build(config)`: the trainer's cached agent (`.agent.spec`) and programs (`.programs`)."""
    task: Callable[[Any, str, dict], EnvSpec]
    """`task(config, name, options)`: another task, wrapped as the agent's training task."""
    rollout: Callable[[Any, Any, EnvSpec, bool], Callable]
    """`rollout(config, built, spec, greedy)`: agents.common.evaluate's loop with the policy."""
    policy: Callable[[Any], Any]
    """The policy's parameters in a restored training state (leaves lead with `N`)."""


KINDS = {
    "ppo": Kind(
        ppo_trainer.TRAINER,
        ppo_trainer.build,
        lambda config, name, options: environment.make_env(config, name, **options),
        lambda config, built, spec, greedy: make_policy_rollout(
            config, spec, built.agent.network, greedy
        ),
        lambda state: (state.train_state.params, state.obs_stats),
    ),
    "dreamer": Kind(
        dreamer_trainer.TRAINER,
        dreamer_trainer.build,
        lambda config, name, options: dreamer_evaluate.task_spec(name, options),
        lambda config, built, spec, greedy: dreamer_evaluate.make_evaluate(config, spec, greedy),
        dreamer_evaluate.policy_params,
    ),
}
"""The trainers whose runs `evaluate` reads, by config.json's `agent` tag."""


def kind_of(run_dir: RunDir) -> Kind:
    """The trainer of `run_dir`, from its config.json's `agent` (not from the folder's name)."""
    agent = run_dir.read_config().get("agent")
    if agent not in KINDS:
        raise ConfigError(
            f"{run_dir.config_path} records agent={agent!r}; experiments.evaluate reads runs of "
            f"{', '.join(KINDS)} (world-model runs: python -m experiments.world_model_eval)."
        )
    return KINDS[agent]


def restore(kind: Kind, config: Any, run, built, path: Path | None, run_dir: RunDir):
    """`(state of every seed, checkpoint path)`: `path`, or the newest checkpoint of the run."""
    path = path or checkpoint.latest(run_dir.checkpoints)
    if path is None:
        raise CheckpointError(f"{run_dir.checkpoints} holds no checkpoint yet.")
    template = jax.eval_shape(built.programs.init, seed_keys(kind.trainer, run))
    # An extended run's checkpoints from before the extension carry the earlier fingerprint.
    meta = checkpoint_meta(kind.trainer, run_dir.read_config(), config, run, path)
    return restore_state(kind.trainer, run, path, template, meta), path


def eval_task(args: EvalArgs, kind: Kind, config: Any, trained: EnvSpec) -> tuple[EnvSpec, str]:
    """`(spec, name)` of the task to play: the training task, or `--env-name` if it fits."""
    if args.env_name is None:
        return trained, config.env_name
    try:
        spec = kind.task(config, args.env_name, dict(args.env_options))
    except (TypeError, ValueError) as err:
        raise ConfigError(str(err)) from None
    check_compatible(trained, spec, args.env_name)
    return spec, args.env_name


def evaluate_run(args: EvalArgs) -> dict:
    """Runs the evaluation of `args`; returns (and writes) the results."""
    run_dir = RunDir.open(args.run_dir)
    kind = kind_of(run_dir)
    config, run, _ = load_config(kind.trainer, run_dir)
    built = kind.build(config)
    state, path = restore(kind, config, run, built, args.checkpoint, run_dir)
    spec, task = eval_task(args, kind, config, built.agent.spec)
    steps, trials = horizon(args, spec), num_trials(spec)
    rollout = kind.rollout(config, built, spec, args.greedy)
    evaluate = jax.jit(evaluate_seeds(rollout, args.episodes, steps, trials))
    keys = jax.random.split(jax.random.key(args.seed), run.num_seeds)
    out, by_trial = evaluate(kind.policy(state), keys)
    returns, lengths, done = (np.asarray(x) for x in jax.device_get(out))
    finished = returns[done]
    results = {
        "run_dir": str(run_dir.path),
        "agent": kind.trainer.agent,
        "checkpoint": str(path),
        "update": int(np.asarray(state.update)[0]),
        "task": task,
        "env_options": dict(args.env_options),
        "policy": "greedy" if args.greedy else "sampled",
        "max_steps": steps,
        "seed": args.seed,
        "episodes": int(done.sum()),
        "return_mean": float(finished.mean()) if finished.size else None,
        "return_std": float(finished.std()) if finished.size else None,
        "per_seed": seed_stats(returns, lengths, done),
    }
    if trials:
        results["num_trials"] = trials
        results.update(trial_stats(np.asarray(jax.device_get(by_trial)), done))
    if args.record:
        params = jax.tree.map(lambda x: x[0], kind.policy(state))
        folder = record_folder(run_dir, results)
        results["record"] = [
            str(p) for p in record_episodes(rollout, params, keys[0], args, steps, spec, folder)
        ]
    output = args.output or default_output(run_dir, results)
    output.parent.mkdir(parents=True, exist_ok=True)
    write_json(output, results)
    results["output"] = str(output)
    return results


def record_episodes(
    rollout: Callable, params: Any, key: jax.Array, args: EvalArgs, steps: int, spec, folder: Path
) -> list[Path]:
    """Plays seed 0's evaluation again keeping the observations of its first `--record`
    environments, and writes their first episodes into `folder` (experiments.record)."""
    play = jax.jit(rollout, static_argnames=("num_envs", "num_steps", "record"))
    result = play(params, key, num_envs=args.episodes, num_steps=steps, record=args.record)
    return recording.write_episodes(folder, spec, jax.device_get(result), folder.name)


def record_folder(run_dir: RunDir, results: dict) -> Path:
    """RUN_DIR/eval/record/<task>-<policy>-<update>/."""
    return run_dir.path / "eval" / "record" / default_output(run_dir, results).stem


def default_output(run_dir: RunDir, results: dict) -> Path:
    """RUN_DIR/eval/<task>-<policy>-<update>.json."""
    task = results["task"].replace("/", "-")
    return run_dir.path / "eval" / f"{task}-{results['policy']}-{results['update']:09d}.json"


def report(results: dict, console: Console) -> None:
    """Prints one row per seed and the overall mean."""
    table = Table("seed", "episodes", "return mean", "std", "min", "max", "length", "unfinished")
    for seed, s in enumerate(results["per_seed"]):
        cells = [s[k] for k in ("return_mean", "return_std", "return_min", "return_max")]
        numbers = ["-" if v is None else f"{v:.3f}" for v in cells]
        numbers.append("-" if s["length_mean"] is None else f"{s['length_mean']:.1f}")
        table.add_row(str(seed), str(s["episodes"]), *numbers, str(s["unfinished"]))
    agent = f"{results['agent']}, " if "agent" in results else ""
    console.print(
        f"{results['task']} ({agent}{results['policy']} policy, update {results['update']}, "
        f"{results['max_steps']} steps)"
    )
    console.print(table)
    mean = results["return_mean"]
    overall = "-" if mean is None else f"{mean:.3f} ± {results['return_std']:.3f}"
    console.print(f"all seeds: return {overall} over {results['episodes']} episodes")
    by_trial = results.get("trial_return_mean")
    if by_trial is not None:
        cells = " ".join(f"{v:.3f}" for v in by_trial)
        se = results["last_minus_first_se"]
        console.print(
            f"return per trial (1..{len(by_trial)}): {cells}; "
            f"last - first = {results['last_minus_first']:+.3f}"
            f" (s.e. {'-' if se is None else f'{se:.3f}'})"
        )
    console.print(f"saved {results['output']}")
    if results.get("record"):
        folder = Path(results["record"][0]).parent
        names = ", ".join(Path(p).name for p in results["record"])
        console.print(f"recorded {folder}: {names}")


def cli(argv: list[str] | None = None) -> int:
    """Entry point of `python -m experiments.evaluate` and `rlssm-evaluate`."""
    args = tyro.cli(EvalArgs, args=argv, prog="python -m experiments.evaluate")
    console = Console()
    try:
        results = evaluate_run(args)
    except (RunDirError, CheckpointError, ConfigError) as err:
        console.print(f"[red]error:[/red] {err}")
        return 2
    report(results, console)
    return 0


if __name__ == "__main__":
    sys.exit(cli())
