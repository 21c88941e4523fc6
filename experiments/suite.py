"""Agents x memory cores x POPGym tasks x seeds: train each cell, tabulate and plot MMER.

    python -m experiments.suite cpu                 # reduced S5 vs GRU comparison on a CPU
    python -m experiments.suite paper               # the S5 RL paper's comparison (GPU-sized)
    python -m experiments.suite cpu --cores s5 gru lru --tasks RepeatFirstEasy --num-seeds 3
    python -m experiments.suite cpu --agents ppo dreamer     # PPO vs the model-based agent

`--agents` picks who trains each (core, task) pair: `ppo` (recurrent PPO with the core; the
default) and `dreamer` (the model-based agent, agents.dreamer, with the core as its world
model's backbone, from the experiments.dreamer preset `--dreamer-preset`). Each (agent, core,
task) cell is an ordinary run directory (PPO's `OUT/runs/<core>/<task>/`, the model-based
agent's `OUT/runs-dreamer/<core>/<task>/`) trained with all seeds at once, so a killed suite
continues where it stopped when run again with the same `--out-dir` (finished cells are skipped,
interrupted ones resumed). A cell is reused only when its config.json records the config this
suite would train it with (the algorithm config, seeds and base seed); otherwise the suite refuses
before anything trains, naming the differing settings: `--retrain-mismatched` deletes such cells
and trains them again, or give another `--out-dir`. The score is POPGym's MMER
(experiments.scores): `OUT/mmer.csv` (one row per cell), `OUT/mmer.md` (tasks x (agent, core),
mean ± std over seeds, and the mean over tasks) and `OUT/mmer.png`, titled with the budget
(environment steps per seed, seeds); with PPO alone the columns are named by the core only.
"""

import csv
import dataclasses
import json
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal, get_args

import tyro
from rich.console import Console
from rich.table import Table

import rlssm.cores as cores
from experiments.dreamer import presets as dreamer_presets
from experiments.dreamer import trainer as dreamer_trainer
from experiments.ppo import trainer as ppo_trainer
from experiments.ppo.presets import presets
from experiments.run import plots, scores
from experiments.run.checkpoint import CheckpointError
from experiments.run.config import Args
from experiments.run.lifecycle import Trainer, main
from experiments.run.loop import FINISHED
from experiments.run.run_dir import RunDir, RunDirError, write_json
from experiments.run.serialize import ConfigError, to_dict

PAPER_FAMILIES = (
    "RepeatFirst",
    "RepeatPrevious",
    "Autoencode",
    "CountRecall",
    "HigherLower",
    "Concentration",
    "Battleship",
    "MineSweeper",
    "MultiarmedBandit",
    "StatelessCartPole",
    "NoisyStatelessCartPole",
    "StatelessPendulum",
    "NoisyStatelessPendulum",
)
"""The POPGym families of Lu et al. (2023), each at Easy, Medium and Hard."""
PAPER_TASKS = tuple(f"{f}{level}" for f in PAPER_FAMILIES for level in ("Easy", "Medium", "Hard"))
CPU_TASKS = ("RepeatFirstEasy", "RepeatPreviousEasy", "RepeatPreviousMedium")
"""The `cpu` suite's tasks: two Easy ones that S5 and GRU both solve, and a Medium one where
memory architectures separate at cpu-small's budget."""


def name_options(spec: str, what: str = "cores") -> tuple[str, dict[str, Any]]:
    """`NAME@option=value,...` -> `(NAME, {option: value})`; values as JSON where they parse
    (`true`, `2`, `0.5`), else strings; `what` names the flag in the error."""
    name, _, text = spec.partition("@")
    options: dict[str, Any] = {}
    for item in filter(None, text.split(",")):
        option, equals, value = item.partition("=")
        if not equals:
            raise ValueError(f"{what}: {spec!r}: write options as NAME@option=value,option=value.")
        try:
            options[option] = json.loads(value)
        except json.JSONDecodeError:
            options[option] = value
    return name, options


PARITY_TASKS = ("ParityEasy", "ParityMedium")
NEG = "@negative_eigenvalues=true"
STATE_CORES = (
    *(f"{core}{option}" for core in ("mingru", "gated_deltanet") for option in ("", NEG)),
    "gru",
)
"""The `state` suite: input-dependent linear cores without and with negative eigenvalues
(transition range (0, 1) vs (-1, 1)), and the GRU (s6 has the option too, but its PPO cells
take some 20 minutes each on 2 CPU cores: add `--cores s6 s6@negative_eigenvalues=true`)."""
AgentName = Literal["ppo", "dreamer"]
"""The agents a suite can train (see `AGENTS`)."""


@dataclasses.dataclass(frozen=True)
class SuiteConfig:
    """Which agents, cores, tasks and seeds to train, and from which presets."""

    agents: tuple[AgentName, ...] = ("ppo",)
    """Agents per cell: ppo (recurrent PPO), dreamer (the core as its world model's backbone)."""
    cores: tuple[str, ...] = ("s5", "gru")
    """Registered core names (see rlssm.cores.registered()), each optionally with options of
    its config: `mingru@negative_eigenvalues=true`, `s5@blocks=2,dt_max=0.2` (PPO cells)."""
    tasks: tuple[str, ...] = ("RepeatFirstEasy", "RepeatPreviousEasy")
    """Registered task names (POPGym tasks: returns in [-1, 1])."""
    num_seeds: int = 2
    """Seeds per cell (trained at once)."""
    base_preset: str = "cpu-small"
    """experiments.ppo preset giving every PPO hyperparameter not set here."""
    dreamer_preset: str = "cpu-small"
    """experiments.dreamer preset giving every value of the model-based agent not set here."""
    dreamer_options: dict[str, int | float | bool | str] = dataclasses.field(default_factory=dict)
    """DreamerConfig fields of the dreamer cells, e.g. `train_ratio 64 replay.length 64`."""
    hidden_size: int | None = None
    """Width H of every core (S5/LRU state size too); default: the preset core's width."""
    num_layers: int | None = None
    """Layers of every core; default: the preset's for its own core type, else 1."""
    total_timesteps: int | None = None
    """Environment steps per seed and cell; default: the preset's."""
    num_envs: int | None = None
    """Parallel environments; default: the preset's."""
    num_steps: int | None = None
    """PPO's rollout length; default: the preset's."""
    update_epochs: int | None = None
    """PPO's epochs per update; default: the preset's."""
    num_minibatches: int | None = None
    """PPO's minibatches per epoch; default: the preset's."""
    previous_action_reward: bool | None = None
    """Previous action, reward and start flag in PPO's observation; default: the preset's."""
    chunk_updates: int = 0
    """Updates (model-based agent: iterations) per jitted chunk; 0: automatic."""
    out_dir: Path = Path("runs/suite")
    """Suite directory (run again with the same directory to continue)."""
    progress: bool = True
    """Show a progress bar per cell."""
    retrain_mismatched: bool = False
    """Delete and train again the cells of --out-dir whose recorded config differs from this
    suite's (default: refuse to run, naming the differing settings)."""

    def __post_init__(self) -> None:
        unknown = sorted({name_options(c)[0] for c in self.cores} - set(cores.registered()))
        if unknown:
            raise ValueError(f"cores: unknown {unknown}; registered: {cores.registered()}.")
        for spec in self.cores:
            name, options = name_options(spec)
            cores.config_for(name, **options)  # an unknown option or a bad value fails here
        if self.base_preset not in presets():
            raise ValueError(f"base_preset={self.base_preset!r}; use one of {list(presets())}.")
        if self.dreamer_preset not in dreamer_presets.presets():
            known = list(dreamer_presets.presets())
            raise ValueError(f"dreamer_preset={self.dreamer_preset!r}; use one of {known}.")
        strange = sorted(set(self.agents) - set(get_args(AgentName)))
        if strange:
            raise ValueError(f"agents: unknown {strange}; use some of {get_args(AgentName)}.")
        if self.num_seeds < 1 or not self.cores or not self.tasks or not self.agents:
            raise ValueError("num_seeds must be >= 1 and agents, cores and tasks non-empty.")


OVERRIDES = (
    "total_timesteps",
    "num_envs",
    "num_steps",
    "update_epochs",
    "num_minibatches",
    "previous_action_reward",
)
"""SuiteConfig fields that replace the preset's PPO values when set."""
SUITES = {
    "cpu": (
        "Reduced S5 vs GRU comparison on two easy POPGym tasks and RepeatPreviousMedium, where"
        " memory architectures separate; CPU-sized (6 cells of 1M steps x 2 seeds: some 5 to 10"
        " minutes on a laptop CPU).",
        SuiteConfig(tasks=CPU_TASKS, previous_action_reward=True, out_dir=Path("runs/suite-cpu")),
    ),
    "state": (
        "State tracking in RL (Grazzi et al.'s negative eigenvalues): Parity at 16 and 64 steps;"
        " minGRU and Gated DeltaNet with and without negative eigenvalues, the GRU as the"
        " nonlinear reference; one layer of width 64, cpu-small's budget (1M steps x 2 seeds).",
        SuiteConfig(
            tasks=PARITY_TASKS,
            cores=STATE_CORES,
            num_layers=1,
            out_dir=Path("runs/suite-state"),
        ),
    ),
    "paper": (
        "S5 (4x256) vs GRU (256) on the POPGym tasks of Lu et al. (2023), popgym-paper PPO.",
        SuiteConfig(
            tasks=PAPER_TASKS,
            num_seeds=3,
            base_preset="popgym-paper",
            out_dir=Path("runs/suite-paper"),
        ),
    ),
}


def core_config(cfg: SuiteConfig, spec: str, base: cores.CoreConfig) -> cores.CoreConfig:
    """The core of a cell: the preset's own core when the type matches, else a fresh one,
    with the options of `spec` (`NAME@option=value,...`).

    `--hidden-size` and `--num-layers` override both; S5/LRU state sizes follow the width.
    """
    name, extra = name_options(spec)
    return dataclasses.replace(_sized_core(cfg, name, base), **extra)


def _sized_core(cfg: SuiteConfig, name: str, base: cores.CoreConfig) -> cores.CoreConfig:
    has_state = "state_size" in {f.name for f in dataclasses.fields(cores.CONFIGS[name])}
    options: dict = {}
    if cfg.num_layers is not None:
        options["num_layers"] = cfg.num_layers
    if name == base.name:
        if cfg.hidden_size is not None:
            options["hidden_size"] = cfg.hidden_size
            options.update({"state_size": cfg.hidden_size} if has_state else {})
        return dataclasses.replace(base, **options)
    width = cfg.hidden_size or base.hidden_size
    options["hidden_size"] = width
    options.update({"state_size": width} if has_state else {})
    return cores.config_for(name, **options)


def ppo_args(cfg: SuiteConfig, core: str, task: str) -> Args:
    """PPO's training arguments of one (core, task) cell."""
    base = presets()[cfg.base_preset][1]
    overrides = {k: getattr(cfg, k) for k in OVERRIDES if getattr(cfg, k) is not None}
    return base.replace(env_name=task, core=core_config(cfg, core, base.ppo.core), **overrides)


def dreamer_args(cfg: SuiteConfig, core: str, task: str) -> Args:
    """The model-based agent's training arguments of one (core, task) cell: its preset with the
    core as the world model's backbone, the suite's budget and `--dreamer-options`."""
    base = dreamer_presets.presets()[cfg.dreamer_preset][1]
    if name_options(core)[1]:
        raise ConfigError(
            f"cores: {core!r}: core options apply to PPO cells only; the model-based agent's "
            "backbone takes its options from --dreamer-options."
        )
    options: dict = dict(cfg.dreamer_options)
    replay = {
        k.removeprefix("replay."): options.pop(k) for k in list(options) if k.startswith("replay.")
    }
    if cfg.hidden_size is not None:
        options |= {"core_size": cfg.hidden_size, "state_size": cfg.hidden_size}
    if cfg.num_layers is not None:
        options["core_layers"] = cfg.num_layers
    shared = ("total_timesteps", "num_envs")
    options |= {k: getattr(cfg, k) for k in shared if getattr(cfg, k) is not None}
    try:
        if replay:
            options["replay"] = dataclasses.replace(base.dreamer.replay, **replay)
        return base.replace(env_name=task, core=core, **options)
    except (TypeError, ValueError) as err:  # an unknown field, a value out of range
        raise ConfigError(f"--dreamer-options: {err}") from None


@dataclasses.dataclass(frozen=True)
class Agent:
    """How the suite trains one agent's cells."""

    trainer: Trainer
    args: Callable[[SuiteConfig, str, str], Args]
    """`args(cfg, core, task)`: the cell's training arguments (before the run settings)."""
    preset: Callable[[SuiteConfig], Args]
    """The preset the cells start from (a stopped cell resumes through it)."""
    runs: str
    """Folder of its cells in the suite directory."""


AGENTS = {
    "ppo": Agent(ppo_trainer.TRAINER, ppo_args, lambda cfg: presets()[cfg.base_preset][1], "runs"),
    "dreamer": Agent(
        dreamer_trainer.TRAINER,
        dreamer_args,
        lambda cfg: dreamer_presets.presets()[cfg.dreamer_preset][1],
        "runs-dreamer",
    ),
}
"""The agents of `--agents`; each keeps its cells in a folder of its own."""


def cell_args(cfg: SuiteConfig, core: str, task: str, agent: str = "ppo") -> Args:
    """Training arguments of one (agent, core, task) cell."""
    return (
        AGENTS[agent]
        .args(cfg, core, task)
        .replace(
            num_seeds=cfg.num_seeds,
            chunk_updates=cfg.chunk_updates,
            run_dir=cell_dir(cfg, core, task, agent),
            progress=cfg.progress,
        )
    )


def cell_dir(cfg: SuiteConfig, core: str, task: str, agent: str = "ppo") -> Path:
    return cfg.out_dir / AGENTS[agent].runs / core / task.replace("/", "-")


def label(cfg: SuiteConfig, agent: str, core: str) -> str:
    """The column (and bar series) of a cell: the core, or `agent core` when not PPO alone."""
    return core if tuple(cfg.agents) == ("ppo",) else f"{agent} {core}"


def labels(cfg: SuiteConfig) -> list[str]:
    return [label(cfg, agent, core) for agent in cfg.agents for core in cfg.cores]


def flat_dict(value: Any, prefix: str = "") -> dict[str, Any]:
    """Nested dicts as `{"a.b": leaf}`."""
    if not isinstance(value, dict):
        return {prefix: value}
    out: dict[str, Any] = {}
    for key, item in value.items():
        out |= flat_dict(item, f"{prefix}.{key}" if prefix else str(key))
    return out


UNSET = "unset"
"""A setting that one of the two configs compared lacks."""


def recorded_differences(args: Args, agent: str) -> dict[str, tuple[Any, Any]] | None:
    """`{setting: (recorded, intended)}` where the cell's config.json differs from `args` (the
    algorithm config, `num_seeds` and `seed`); None when the cell has no config.json."""
    trainer, path = AGENTS[agent].trainer, args.run.run_dir
    existing = RunDir(path)
    if not existing.config_path.exists():
        return None
    record = existing.read_config()
    field, run = trainer.config_field, args.parts()["run"]
    intended = {field: to_dict(args.parts()[field]), "num_seeds": run.num_seeds, "seed": run.seed}
    intended = flat_dict(json.loads(json.dumps(intended)))  # tuples as lists, as stored
    stored = dict(record.get("run", {}))
    recorded = flat_dict(
        {field: record.get(field), **{k: stored.get(k) for k in ("num_seeds", "seed")}}
    )
    if record.get("agent") != trainer.agent:
        return {"agent": (record.get("agent"), trainer.agent)}
    if record.get(field) is None:
        return {field: (None, "a config")}
    pairs = {name: (recorded.get(name, UNSET), intended.get(name, UNSET)) for name in intended}
    pairs |= {name: (recorded[name], UNSET) for name in recorded if name not in intended}
    return {name: pair for name, pair in sorted(pairs.items()) if pair[0] != pair[1]}


def check_reused_cells(cfg: SuiteConfig, cells: list[tuple[str, str, str, Args]]) -> list[Path]:
    """The cells of `--out-dir` trained with other settings (to train again with
    `--retrain-mismatched`); refuses them otherwise, naming the first one's differences."""
    mismatched = []
    for _, agent, _, args in cells:
        differences = recorded_differences(args, agent)
        if differences:
            mismatched.append((args.run.run_dir, differences))
    if mismatched and not cfg.retrain_mismatched:
        path, differences = mismatched[0]
        shown = ", ".join(
            f"{name} {'nothing' if old is None else old!r} -> {new!r}"
            for name, (old, new) in list(differences.items())[:4]
        )
        more = f" (+{len(differences) - 4} more)" if len(differences) > 4 else ""
        others = f" and {len(mismatched) - 1} other cell(s)" if len(mismatched) > 1 else ""
        raise ConfigError(
            f"{path}{others} was trained with other settings ({shown}{more}); pass "
            "--retrain-mismatched to delete and retrain such cells, or give another --out-dir."
        )
    return [path for path, _ in mismatched]


def train_cell(cfg: SuiteConfig, args: Args, agent: str, console: Console) -> list[dict]:
    """Trains (or continues, or skips when finished) one cell; returns its metrics rows."""
    trainer, path = AGENTS[agent].trainer, args.run.run_dir
    existing = RunDir(path)
    if existing.config_path.exists():
        summary = existing.read_summary()
        if summary is None or summary["status"] != FINISHED:
            default = AGENTS[agent].preset(cfg)
            main(trainer, default.replace(resume=path, progress=cfg.progress), console)
    else:
        main(trainer, args, console)
    return RunDir.open(path).read_metrics()


def run_suite(cfg: SuiteConfig, console: Console | None = None) -> list[dict]:
    """Trains every cell, then writes the MMER table and chart; returns one record per cell.

    Every cell's arguments are made (and validated) before the first cell trains."""
    console = console or Console()
    cells = [
        (task, agent, core, cell_args(cfg, core, task, agent))
        for task in cfg.tasks
        for agent in cfg.agents
        for core in cfg.cores
    ]
    for path in check_reused_cells(cfg, cells):
        console.print(f"retraining {path}: it was trained with other settings")
        shutil.rmtree(path)
    cfg.out_dir.mkdir(parents=True, exist_ok=True)
    write_json(cfg.out_dir / "suite.json", to_dict(cfg))
    records = []
    for task, agent, core, args in cells:
        console.rule(f"{label(cfg, agent, core)} on {task}")
        per_seed = scores.mmer(train_cell(cfg, args, agent, console))
        mean, std = scores.mean_std(per_seed)
        records.append(
            {
                "task": task,
                "agent": agent,
                "core": core,
                "label": label(cfg, agent, core),
                "mmer_mean": mean,
                "mmer_std": std,
                "mmer": per_seed,
            }
        )
    write_tables(cfg, records)
    console.print(results_table(cfg, records))
    console.print(f"wrote {cfg.out_dir / 'mmer.md'}, mmer.csv and mmer.png")
    return records


def score_table(records: list[dict]) -> dict[str, dict[str, tuple[float, float]]]:
    """`{task: {label: (mean, std)}}` of MMER (the label names agent and core)."""
    table: dict[str, dict[str, tuple[float, float]]] = {}
    for r in records:
        table.setdefault(r["task"], {})[r["label"]] = (r["mmer_mean"], r["mmer_std"])
    return table


def task_means(cfg: SuiteConfig, records: list[dict]) -> dict[str, float]:
    """Mean over tasks of each (agent, core)'s MMER (NaN if a task has none)."""
    return {
        name: sum(r["mmer_mean"] for r in records if r["label"] == name) / len(cfg.tasks)
        for name in labels(cfg)
    }


def cell_text(mean: float, std: float) -> str:
    return "-" if mean != mean else f"{mean:.3f} ± {std:.3f}"


def presets_text(cfg: SuiteConfig) -> str:
    """Which presets the cells started from, for the table's caption."""
    used = {"ppo": f"PPO preset {cfg.base_preset}"}
    used["dreamer"] = f"model-based agent preset {cfg.dreamer_preset}"
    return ", ".join(used[agent] for agent in cfg.agents)


def budget_text(cfg: SuiteConfig) -> str:
    """The budget of every cell, for titles: `1,000,000 env steps per seed, 2 seeds`."""
    name = {"ppo": "PPO", "dreamer": "model-based agent"}
    steps = {
        agent: cell_args(cfg, cfg.cores[0], cfg.tasks[0], agent).total_timesteps
        for agent in cfg.agents
    }
    if len(set(steps.values())) == 1:
        text = f"{next(iter(steps.values())):,} env steps per seed"
    else:
        text = ", ".join(f"{name[a]} {n:,}" for a, n in steps.items()) + " env steps per seed"
    return f"{text}, {cfg.num_seeds} seed{'s' if cfg.num_seeds > 1 else ''}"


def write_tables(cfg: SuiteConfig, records: list[dict]) -> None:
    """mmer.csv, mmer.md and mmer.png in the suite directory."""
    with open(cfg.out_dir / "mmer.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["task", "core", "mmer_mean", "mmer_std", "mmer_per_seed", "agent"])
        for r in records:
            per_seed = " ".join(f"{v:.4f}" for v in r["mmer"])
            row = [r["task"], r["core"], r["mmer_mean"], r["mmer_std"], per_seed, r["agent"]]
            writer.writerow(row)
    table, columns = score_table(records), labels(cfg)
    lines = [
        f"MMER (max-mean episodic return, mean ± std over seeds), {budget_text(cfg)}, "
        f"{presets_text(cfg)}.",
        "",
        "| task | " + " | ".join(columns) + " |",
        "|---|" + "---|" * len(columns),
    ]
    for task, row in table.items():
        cells = [cell_text(*row[c]) for c in columns]
        lines.append(f"| {task} | " + " | ".join(cells) + " |")
    means = task_means(cfg, records)
    lines.append("| mean over tasks | " + " | ".join(f"{means[c]:.3f}" for c in columns) + " |")
    (cfg.out_dir / "mmer.md").write_text("\n".join(lines) + "\n")
    plots.score_chart(table, cfg.out_dir / "mmer.png", f"MMER ({budget_text(cfg)})")


def results_table(cfg: SuiteConfig, records: list[dict]) -> Table:
    """The MMER table for the terminal."""
    columns = labels(cfg)
    table = Table("task", *columns, title=f"MMER (mean ± std over seeds), {budget_text(cfg)}")
    for task, row in score_table(records).items():
        table.add_row(task, *(cell_text(*row[c]) for c in columns))
    means = task_means(cfg, records)
    table.add_row("mean over tasks", *(f"{means[c]:.3f}" for c in columns))
    return table


def cli(argv: list[str] | None = None) -> int:
    """Entry point of `python -m experiments.suite` and `rlssm-suite`."""
    choice = tyro.extras.subcommand_type_from_defaults(
        {name: cfg for name, (_, cfg) in SUITES.items()},
        {name: text for name, (text, _) in SUITES.items()},
        prefix_names=False,
    )
    cfg = tyro.cli(
        choice,
        default=SUITES["cpu"][1],
        args=argv,
        prog="python -m experiments.suite",
        config=(tyro.conf.CascadeSubcommandArgs,),
    )
    console = Console()
    try:
        run_suite(cfg, console)
    except (RunDirError, CheckpointError, ConfigError) as err:
        console.print(f"[red]error:[/red] {err}")
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(cli())
