"""World models: training and imagination speed per backbone, and imagination quality per task.

    python -m benchmarks.world_models --speed                      # speed grid, JSON lines
    python -m benchmarks.world_models --quality --tasks Memory/FourRooms --models s4wm rssm
    python -m benchmarks.world_models --speed --quality --write-docs   # both, into BENCHMARKS.md

Speed: for each sequence length `T` and model (S4WM on s5, RSSM on gru, TSSM, ...), one jitted
training update (loss, gradient, Adam) on `B` random `T`-record sequences of 16x16 RGB frames and
one jitted imagination of `T` frames from actions; models are the cpu-small preset's sizes. All
programs of a length are compiled first and then timed in alternating rounds (median per model),
so the models of a row saw the same machine load; ratios to S4WM are given too.

Quality: trains each model of `--models` on each task of `--tasks` with the world-model command
line (`experiments.world_model`, the `--preset` given, cpu-small by default; `--steps` overrides
its updates and `--train-episodes` the size of its training set) and reports the evaluation of
its summary: imagination MSE over the query (mean and per quarter of the horizon), the
reconstruction error and reward accuracy. Runs are kept in `--runs-dir` (one folder per task,
model, preset and budget): an unfinished run is resumed and a finished one is read again, so a
long grid can be built over several sessions. With cpu-small the Ten-room tasks use a longer
context (200 + 100 steps) so that the scripted explorer visits the rooms (about 5 of 10 in 100
steps, measured); cpu-recall keeps its own 30 + 10 on every task.

`--write-docs` merges into the `world_models` section of docs/BENCHMARKS.md: rows measured now
replace those with the same key (speed: model and T; quality: task, model, preset, updates and
training episodes), others are kept.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
import statistics
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import tyro

import envs
import rlssm.world_models as wm
from agents.world_model import init_train_state, make_optimizer, make_optimizer_step
from benchmarks.common import (
    compile_and_time,
    emit,
    machine,
    markdown_table,
    merge_rows,
    parse_table,
    read_section,
    write_section,
)
from experiments.run import lifecycle
from experiments.run.run_dir import RunDir
from experiments.world_model.config import Experiment
from experiments.world_model.presets import presets
from experiments.world_model.trainer import TRAINER

SECTION = "world_models"
MODELS = {
    "s4wm": ("s4wm", "s5", ""),
    "s4wm-parallel": ("s4wm", "s5", '{"scan_mode": "parallel"}'),
    "rssm": ("rssm", "gru", ""),
    "tssm": ("tssm", "transformer", ""),
    "memoryless": ("s4wm", "none", ""),
}
"""Benchmark label -> (world model, backbone, backbone options as JSON)."""
PRESETS = tuple(name for name in presets() if name.startswith("cpu-"))
"""Presets of `experiments.world_model` a quality run can start from (its CPU ones, in order)."""
LONG_CONTEXT = {"Memory/TenRooms": (200, 100), "Memory/Teleport-TenRooms": (200, 100)}
"""Tasks whose cpu-small quality runs use other (context, query) lengths than the preset's."""
SPEED_COLUMNS = (
    "model",
    "core",
    "T",
    "B",
    "train_steps_per_s",
    "train_vs_s4wm",
    "train_compile_s",
    "train_memory_mb",
    "imagine_frames_per_s",
    "imagine_vs_s4wm",
    "imagine_compile_s",
    "imagine_memory_mb",
    "load",
)
SPEED_KEY = ("model", "T")
QUALITY_COLUMNS = (
    "task",
    "model",
    "preset",
    "core",
    "steps",
    "episodes",
    "mse",
    "mse_first",
    "mse_q1",
    "mse_q2",
    "mse_q3",
    "mse_q4",
    "recon_mse",
    "vs_memoryless",
    "reward_acc",
    "reward_event_acc",
    "train_s",
)
QUALITY_KEY = ("task", "model", "preset", "steps", "episodes")


@dataclasses.dataclass(frozen=True)
class Args:
    """What to measure."""

    speed: bool = False
    """Measure training and imagination speed."""
    quality: bool = False
    """Train and evaluate models on tasks."""
    models: tuple[str, ...] = ("s4wm", "rssm", "tssm", "memoryless")
    """Models (labels of MODELS): s4wm, s4wm-parallel, rssm, tssm, memoryless."""
    lengths: tuple[int, ...] = (256, 1000, 2000)
    """Speed: sequence lengths T."""
    batch_size: int = 4
    """Speed: sequences per update and imagination."""
    rounds: int = 3
    """Speed: timing rounds (each times every model once)."""
    tasks: tuple[str, ...] = (
        "Memory/TwoRooms",
        "Memory/FourRooms",
        "Memory/TenRooms",
        "Memory/Teleport-TwoRooms",
        "Memory/Teleport-FourRooms",
        "Memory/Teleport-TenRooms",
        "Memory/RewardCue",
        "Memory/KeysDoors",
    )
    """Quality: tasks."""
    preset: str = "cpu-small"
    """Quality: the `experiments.world_model` preset every run starts from (cpu-small: the
    task's lengths, 200 + 100 on the Ten-room tasks; cpu-recall: 30 + 10 steps, sharp frames,
    blind query training); its sizes, lengths and budget hold unless the flags below change
    them."""
    steps: int = 0
    """Quality: updates per run (0: the preset's)."""
    train_episodes: int = 0
    """Quality: episodes of each task's training set (0: the preset's)."""
    runs_dir: Path = Path("runs/bench-world-models")
    """Quality: where the runs (and their shared dataset cache) are kept."""
    finished_only: bool = False
    """Quality: train nothing; report the runs of the grid already finished in --runs-dir
    (e.g. to gather a grid trained by several processes at once)."""
    write_docs: bool = False
    """Merge the tables into docs/BENCHMARKS.md."""

    def __post_init__(self) -> None:
        unknown = sorted(set(self.models) - set(MODELS))
        if unknown:
            raise ValueError(f"unknown models {unknown}; known: {tuple(MODELS)}.")
        if self.preset not in PRESETS:
            raise ValueError(f"preset={self.preset!r} is not one of {PRESETS}.")
        if not (self.speed or self.quality):
            raise ValueError("choose --speed and/or --quality.")


def experiment(label: str, preset: str = "cpu-small", **changes) -> Experiment:
    """The experiment of model `label` in `preset` (with `changes`)."""
    name, core, options = MODELS[label]
    base = presets()[preset][1].experiment
    return dataclasses.replace(base, model=name, core=core, core_options=options, **changes)


def random_batch(model: wm.WorldModel, length: int, batch: int) -> wm.Batch:
    """Uniform random frames and actions, `[T, B, ...]`, one episode per row."""
    obs_key, action_key = jax.random.split(jax.random.key(0))
    shape = (length, batch)
    return wm.Batch(
        obs=jax.random.uniform(obs_key, (*shape, *model.config.obs_shape)),
        action=jax.random.randint(action_key, shape, 0, model.config.action_dim),
        reward=jnp.zeros(shape),
        terminated=jnp.zeros(shape, bool),
        start=jnp.zeros(shape, bool).at[0].set(True),
    )


def speed_programs(label: str, length: int, batch_size: int) -> dict:
    """Compiled training update and imagination of one model, with their compile times."""
    model = experiment(label).world_model()
    optimizer = make_optimizer(1e-3, 100.0)
    update = make_optimizer_step(model, optimizer)
    key = jax.random.key(0, impl="rbg")
    train_state = init_train_state(model, optimizer, key)
    batch = random_batch(model, length, batch_size)
    carry = model.initial_carry(batch_size)

    def imagine(params, carry, actions, key):
        return model.imagine(params, carry, actions, key, sample=False)[1].obs

    train = compile_and_time(update, train_state, batch, key, repeats=1, min_seconds=0.0)
    dream = compile_and_time(
        imagine, train_state.params, carry, batch.action, key, repeats=1, min_seconds=0.0
    )
    return {
        "train": (train, (train_state, batch, key)),
        "imagine": (dream, (train_state.params, carry, batch.action, key)),
    }


def timed(compiled, args) -> float:
    t0 = time.perf_counter()
    jax.block_until_ready(compiled(*args))
    return time.perf_counter() - t0


def measure_speed(args: Args) -> list[dict]:
    """Speed rows: every model at every length, timed in alternating rounds."""
    records = []
    for length in args.lengths:
        programs = {label: speed_programs(label, length, args.batch_size) for label in args.models}
        times = {label: {"train": [], "imagine": []} for label in args.models}
        loads = []
        for _ in range(args.rounds):
            for label, kinds in programs.items():
                for kind, (timing, call_args) in kinds.items():
                    times[label][kind].append(timed(timing["compiled"], call_args))
            loads.append(os.getloadavg()[0])
        rows = [
            speed_row(label, length, args.batch_size, programs[label], times[label], loads)
            for label in args.models
        ]
        add_ratios(rows)
        for row in rows:
            emit(row)
        records += rows
    return records


def speed_row(label, length, batch_size, programs, times, loads) -> dict:
    train_s = statistics.median(times["train"])
    imagine_s = statistics.median(times["imagine"])
    return {
        "model": label,
        "core": MODELS[label][1],
        "T": length,
        "B": batch_size,
        "train_steps_per_s": round(1.0 / train_s, 3),
        "train_compile_s": round(programs["train"][0]["compile_s"], 1),
        "train_memory_mb": programs["train"][0]["memory_mb"],
        "imagine_frames_per_s": round(length * batch_size / imagine_s),
        "imagine_compile_s": round(programs["imagine"][0]["compile_s"], 1),
        "imagine_memory_mb": programs["imagine"][0]["memory_mb"],
        "load": round(statistics.mean(loads), 1),
    }


def add_ratios(rows: list[dict]) -> None:
    """Speed relative to S4WM measured in the same rounds (above 1: faster than S4WM)."""
    base = next((r for r in rows if r["model"] == "s4wm"), None)
    for row in rows:
        if base is None:
            row["train_vs_s4wm"] = row["imagine_vs_s4wm"] = ""
            continue
        row["train_vs_s4wm"] = round(row["train_steps_per_s"] / base["train_steps_per_s"], 2)
        row["imagine_vs_s4wm"] = round(
            row["imagine_frames_per_s"] / base["imagine_frames_per_s"], 2
        )


def quality_run(task: str, label: str, args: Args) -> dict | None:
    """Trains (or resumes, or reads) the run of `label` on `task`; returns its summary (None:
    not finished and `args.finished_only`)."""
    changes = {"task": task}
    if args.preset == "cpu-small" and task in LONG_CONTEXT:
        changes["context_length"], changes["query_length"] = LONG_CONTEXT[task]
    if args.steps:
        changes["steps"] = args.steps
    if args.train_episodes:
        changes["train_episodes"] = args.train_episodes
    wanted = experiment(label, args.preset, **changes)
    base = presets()[args.preset][1]
    name = f"{task.replace('/', '-')}-{label}-{wanted.steps}"
    if wanted.train_episodes != base.train_episodes:
        name += f"-e{wanted.train_episodes}"
    if args.preset != "cpu-small":
        name += f"-{args.preset}"
    run_dir = args.runs_dir / name
    if (run_dir / "config.json").exists():
        stored, _, _ = lifecycle.load_config(TRAINER, RunDir(run_dir))
        if stored != wanted:
            raise ValueError(f"{run_dir} holds another experiment; delete it or use --runs-dir.")
        summary = RunDir(run_dir).read_summary()
        if summary is not None and summary.get("eval") is not None:
            return summary
        if args.finished_only:
            return None
        session = base.replace(resume=run_dir, progress=False)
    elif args.finished_only:
        return None
    else:
        session = dataclasses.replace(base, experiment=wanted).replace(
            run_dir=run_dir, dataset_dir=args.runs_dir / "data", progress=False
        )
    return lifecycle.main(TRAINER, session).summary


def train_episodes(summary: dict) -> int:
    """Training episodes of a run (summaries written before they recorded it: the dataset's rows
    less the held-out episodes)."""
    if "train_episodes" in summary:
        return summary["train_episodes"]
    return summary["dataset"]["rows"] - summary["eval"]["episodes"]


def frame_values(summary: dict) -> int:
    """Pixel values of one frame of a run's task (height x width x channels)."""
    env, _ = envs.make(summary["task"], flat_obs=False, tile_size=summary["dataset"]["tile_size"])
    return math.prod(env.image_shape)


def quality_row(summary: dict, label: str, preset: str) -> dict:
    e = summary["eval"]
    recon_mse = e["loss_terms"]["recon"] / frame_values(summary)
    buckets = [f"{v:.4f}" for v in e["mse_buckets"]]
    event = e["reward_event_accuracy"]
    return {
        "task": summary["task"],
        "model": label,
        "preset": preset,
        "core": summary["core"],
        "steps": summary["updates"],
        "episodes": train_episodes(summary),
        "mse": f"{e['mse_mean']:.4f}",
        "mse_first": f"{e['mse_per_frame'][0]:.4f}",
        **{f"mse_q{i + 1}": value for i, value in enumerate(buckets)},
        "recon_mse": f"{recon_mse:.4f}",
        "reward_acc": f"{e['reward_accuracy']:.3f}",
        "reward_event_acc": "-" if event is None or math.isnan(event) else f"{event:.3f}",
        "train_s": round(summary["train_seconds"]),
    }


def measure_quality(args: Args) -> list[dict]:
    """Quality rows: every model on every task."""
    rows = []
    for task in args.tasks:
        for label in args.models:
            summary = quality_run(task, label, args)
            if summary is None:
                continue
            row = quality_row(summary, label, args.preset)
            emit(row)
            rows.append(row)
    return rows


def budget(row: dict) -> tuple[str, str, str]:
    """`(preset, updates, training episodes)` of a quality row: the runs that compare."""
    return row["preset"], str(row["steps"]), str(row["episodes"])


def budget_order(spent: tuple[str, str, str]) -> tuple:
    preset, steps, episodes = spent
    return PRESETS.index(preset) if preset in PRESETS else len(PRESETS), int(steps), int(episodes)


def budget_text(preset: str, steps: str, episodes: str) -> str:
    return f"{preset}, {steps} updates on {episodes} episodes"


def add_memoryless_ratio(rows: list[dict]) -> None:
    """Each row's MSE over the memoryless baseline's (same task and budget; below 1: better)."""
    baseline = {
        (r["task"], *budget(r)): float(r["mse"]) for r in rows if r["model"] == "memoryless"
    }
    for row in rows:
        base = baseline.get((row["task"], *budget(row)))
        row["vs_memoryless"] = f"{float(row['mse']) / base:.2f}" if base else ""


def stored_tables() -> tuple[list[dict], list[dict], str]:
    """Speed rows, quality rows and the targets paragraph already in the docs section."""
    text = read_section(SECTION) or ""
    speed_text, _, quality_text = text.partition("### Quality")
    quality = parse_table(quality_text)
    default = str(presets()["cpu-small"][1].train_episodes)
    for row in quality:  # rows measured before these columns existed: cpu-small, its episodes
        row["episodes"] = row.get("episodes") or default
        row["preset"] = row.get("preset") or "cpu-small"
    return parse_table(speed_text), quality, text


def number(row: dict, column: str) -> float | None:
    try:
        return float(row[column])
    except (KeyError, TypeError, ValueError):
        return None


def imagination_targets(mse: dict, budgets: list[str]) -> list[str]:
    """S4WM's imagination MSE below RSSM's on the four- and ten-room tasks, per training budget."""
    lines = []
    for task in ("Memory/FourRooms", "Memory/TenRooms"):
        pairs = [(b, mse.get((task, "s4wm", b)), mse.get((task, "rssm", b))) for b in budgets]
        pairs = [(n, a, b) for n, a, b in pairs if a is not None and b is not None]
        target = f"S4WM's imagination MSE below RSSM's on {task}"
        if not pairs:
            lines.append(f"- {target}: not measured.")
        for spent, s4, rs in pairs:
            verdict = "met" if s4 < rs else "not met"
            lines.append(f"- {target}, {budget_text(*spent)}: {verdict} ({s4:.4f} vs {rs:.4f}).")
    return lines


def speed_target(speed: list[dict]) -> str:
    """S4WM training faster per step than RSSM at every measured T >= 1000."""
    steps = {(r["model"], int(r["T"])): number(r, "train_steps_per_s") for r in speed}
    long = sorted({t for _, t in steps if t >= 1000})
    pairs = [(t, steps.get(("s4wm", t)), steps.get(("rssm", t))) for t in long]
    pairs = [(t, a, b) for t, a, b in pairs if a is not None and b is not None]
    target = "S4WM training faster per step than RSSM at T >= 1000"
    if not pairs:
        return f"- {target}: not measured."
    verdict = "met" if all(a > b for _, a, b in pairs) else "not met"
    detail = ", ".join(f"T={t}: {a:.2f} vs {b:.2f} steps/s" for t, a, b in pairs)
    return f"- {target}: {verdict} ({detail})."


def recall_targets(mse: dict, budgets: list[str]) -> list[str]:
    """S4WM and RSSM at least 10% below the memoryless baseline's MSE on the recall tasks."""
    lines = []
    tasks = sorted({key[0] for key in mse if "Teleport" in key[0]})
    for task in tasks:
        for spent in budgets:
            base = mse.get((task, "memoryless", spent))
            models = [m for m in ("s4wm", "rssm") if mse.get((task, m, spent)) is not None]
            if base is None or not models:
                continue
            better = [m for m in models if mse[(task, m, spent)] < 0.9 * base]
            if len(better) < len(models):
                verdict = "not met"
            else:
                verdict = "met" if len(models) == 2 else "partly measured, met so far"
            detail = ", ".join(f"{m} {mse[(task, m, spent)]:.4f}" for m in models)
            lines.append(
                f"- S4WM and RSSM clearly better (MSE at least 10% lower) than the memoryless "
                f"baseline on {task} (recall), {budget_text(*spent)}: {verdict} ({detail}; "
                f"memoryless {base:.4f})."
            )
    if not lines:
        lines.append(
            "- S4WM and RSSM clearly better than the memoryless baseline on recall: not measured."
        )
    return lines


def targets(speed: list[dict], quality: list[dict]) -> list[str]:
    """One line per target of the issue: met, not met, or not measured, with the numbers."""
    mse = {(r["task"], r["model"], budget(r)): number(r, "mse") for r in quality}
    budgets = sorted({budget(r) for r in quality}, key=budget_order)
    return [
        *imagination_targets(mse, budgets),
        speed_target(speed),
        *recall_targets(mse, budgets),
    ]


def write_docs(speed: list[dict], quality: list[dict], command: str) -> None:
    old_speed, old_quality, _ = stored_tables()
    speed = merge_rows(old_speed, speed, SPEED_KEY)
    quality = merge_rows(old_quality, quality, QUALITY_KEY)
    add_memoryless_ratio(quality)
    text = [
        "## World models: training and imagination speed, imagination quality",
        "",
        f"Machine: {machine()}. Last command: `{command}` (rows of earlier runs of other "
        "models, lengths or tasks are kept). A speed row is reproduced by `python -m "
        "benchmarks.world_models --speed --lengths T --models s4wm MODEL` and a quality row by "
        "`python -m benchmarks.world_models --quality --preset PRESET --tasks TASK --models MODEL "
        "--steps STEPS --train-episodes EPISODES`.",
        "",
        "### Speed",
        "",
        "One jitted training update (loss, gradient, Adam) on B sequences of T records and one "
        "jitted imagination of T frames per model, cpu-small sizes (width 64, 16x16 RGB frames); "
        "the models of one T were timed in alternating rounds (median), so a row's ratio to S4WM "
        "compares numbers taken under the same load (`load`: the 1-minute load average of the "
        "shared 2-core machine). Memory is XLA's planned peak of the program (arguments, outputs "
        "and temporaries). RSSM encodes all frames at once and scans only its recurrence "
        "(posterior, prior and GRU step), as DreamerV3 does.",
        "",
        markdown_table(speed, SPEED_COLUMNS),
        "",
        "### Quality",
        "",
        "Each model trained by `python -m experiments.world_model` from its `preset` (`steps` "
        "updates of batch 8 whole episodes drawn from `episodes` training episodes, 1 seed; "
        "cpu-small: width-64 models, 8x8 latents, 100 context + 60 query steps, 200 + 100 on "
        "the Ten-room tasks; cpu-recall: 30 + 10 steps, width-128 MLPs, 32x16 latents, "
        "reconstruction weighted x16, half the sequences' queries observed blind in training) "
        "and evaluated on 32 held-out episodes: "
        "observe the context, generate the query from its actions alone (modes of the latents). "
        "`mse`: per-frame MSE of the generated frames (pixels in [0, 1]) averaged over the "
        "query; `mse_first`: that of the first query frame alone (on the Teleport tasks the "
        "start room just after the teleport, seen only early in the context: recall in one "
        "frame); `mse_q1..q4`: its quarters, early to late; `recon_mse`: per-pixel MSE of the "
        "teacher-forced reconstruction of the same episodes (each frame decoded from its "
        "posterior latent), i.e. how well the model draws a frame it sees; `vs_memoryless`: "
        "ratio to the "
        "memoryless baseline (S4WM on the `none` core) on the same task; `reward_acc`: share "
        "of query steps whose predicted reward is nearest to the true one among the task's "
        "reward values (`reward_event_acc`: on steps with a nonzero reward only).",
        "",
        markdown_table(quality, QUALITY_COLUMNS),
        "",
        "### Targets",
        "",
        *targets(speed, quality),
    ]
    write_section(SECTION, "\n".join(text))


def command_line(args: Args) -> str:
    parts = ["python -m benchmarks.world_models"]
    defaults = Args(speed=True)
    for field in dataclasses.fields(Args):
        value = getattr(args, field.name)
        flag = "--" + field.name.replace("_", "-")
        if isinstance(value, bool):
            if value:
                parts.append(flag)
        elif value != getattr(defaults, field.name):
            shown = " ".join(map(str, value)) if isinstance(value, tuple) else str(value)
            parts.append(f"{flag} {shown}")
    return re.sub(r"\s+", " ", " ".join(parts))


def main(args: Args) -> None:
    speed = measure_speed(args) if args.speed else []
    quality = measure_quality(args) if args.quality else []
    if args.write_docs:
        write_docs(speed, quality, command_line(args))
        emit({"written": SECTION, "rows": {"speed": len(speed), "quality": len(quality)}})
    else:
        emit({"rows": {"speed": len(speed), "quality": len(quality)}})


if __name__ == "__main__":
    main(tyro.cli(Args))
