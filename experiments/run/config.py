"""How a run is executed and recorded, and the command line of every trainer around it.

A trainer's command line is `TrainArgs`: its algorithm config and `RunConfig` nested, both
flattened on the command line (`--lr`, `--num-seeds`, ...), plus the preset's name.

    args = parse_presets(presets, argv, prog, description)   # a preset, then flags
    args.replace(num_envs=8, num_seeds=2)                    # routes each field to its part
"""

import dataclasses
import difflib
import json
import sys
from pathlib import Path
from typing import Annotated, Any

import tyro

from experiments.run.flags import config_errors, preset_first, speak_flags
from experiments.run.serialize import ConfigError, from_dict

SESSION_FIELDS = (
    "resume",
    "stop_after",
    "progress",
    "devices",
    "distributed",
    "coordinator_address",
    "num_processes",
    "process_id",
)
"""Run settings a resumed run may change (everything else is fixed by config.json)."""
BRANCH_FIELDS = ("branch_from", "from_checkpoint")
"""Run settings that start a new run from another run's checkpoint (never stored)."""


@dataclasses.dataclass(frozen=True)
class RunConfig:
    """How a run is executed and recorded (seeds, files, logging); not part of the algorithm."""

    num_seeds: int = 1
    """Seeds N trained at once (vmapped)."""
    seed: int = 0
    """Base random seed; seed i uses the i-th split of jax.random.key(seed)."""
    run_dir: Path | None = None
    """Run directory (default: runs/<preset>-<task>-<core>-<date>-<time>)."""
    chunk_updates: int = 0
    """Updates per jitted chunk (host logs between chunks); 0: about num_updates / 50, a divisor
    of it where one is near, so that one chunk program is compiled."""
    checkpoint_every: int = 5
    """Chunks between checkpoints (the last chunk is always checkpointed)."""
    keep_checkpoints: int = 2
    """Newest checkpoints kept (0: all)."""
    max_nonfinite_streak: int = 5
    """Stop when a seed had this many updates in a row with non-finite losses or gradients."""
    devices: int = 1
    """Devices of this host to train on (0: all): environments are split over them, gradients
    summed across them (the same updates as on one device, up to rounding); may change on
    --resume. With --distributed: 0 (every device of every process) or their global count."""
    distributed: bool = False
    """Train on several processes (hosts) through `jax.distributed.initialize`: each steps its
    share of the environments, process 0 writes the run files; without the three overrides
    below JAX detects the cluster (SLURM, Open MPI, ...); may change on --resume."""
    coordinator_address: str | None = None
    """With --distributed: host:port of process 0's coordinator (default: detected)."""
    num_processes: int | None = None
    """With --distributed: how many processes take part (default: detected)."""
    process_id: int | None = None
    """With --distributed: this process's index, 0 to --num-processes - 1 (default: detected)."""
    stop_after: int | None = None
    """Pause after this many updates of this invocation (checkpointed; continue with --resume)."""
    progress: bool = True
    """Show a progress bar (steps, steps/s, return, ETA)."""
    tensorboard: bool = False
    """Also log to TensorBoard in RUN_DIR/tensorboard (needs the `tensorboard` extra)."""
    wandb: bool = False
    """Also log to Weights & Biases (needs the `wandb` extra and a wandb login)."""
    wandb_project: str = "rlssm"
    """Weights & Biases project."""
    wandb_entity: str | None = None
    """Weights & Biases entity (team or user; default: wandb's default)."""
    resume: Path | None = None
    """Continue the run in this directory with its stored config (other flags: only
    --stop-after and --progress/--no-progress, and a larger budget to extend the run)."""
    branch_from: Annotated[Path | None, tyro.conf.arg(name="from")] = None
    """Start a new run from this run's newest checkpoint (or --from-checkpoint) with its
    config and the flags given here changed (e.g. --lr); the state must keep its shapes."""
    from_checkpoint: Path | None = None
    """With --from: the checkpoint to start from (a folder under RUN/checkpoints)."""

    def __post_init__(self) -> None:
        checks = (
            ("num_seeds", 1),
            ("chunk_updates", 0),
            ("checkpoint_every", 1),
            ("keep_checkpoints", 0),
            ("max_nonfinite_streak", 1),
            ("devices", 0),
        )
        for name, low in checks:
            if getattr(self, name) < low:
                raise ValueError(f"{name} must be >= {low}, got {getattr(self, name)}.")
        overrides = ("coordinator_address", "num_processes", "process_id")
        given = [name for name in overrides if getattr(self, name) is not None]
        if given and not self.distributed:
            names = ", ".join("--" + name.replace("_", "-") for name in given)
            raise ValueError(f"{names} only apply with --distributed.")
        if self.num_processes is not None and self.num_processes < 1:
            raise ValueError(f"num_processes must be >= 1, got {self.num_processes}.")
        if self.process_id is not None and self.process_id < 0:
            raise ValueError(f"process_id must be >= 0, got {self.process_id}.")
        if self.stop_after is not None and self.stop_after < 1:
            raise ValueError(f"stop_after must be >= 1, got {self.stop_after}.")


NESTED = tyro.conf.arg(name="")
"""tyro marker of a nested config whose flags carry no prefix (`--lr`, not `--ppo.lr`)."""


@dataclasses.dataclass(frozen=True)
class Args:
    """Base of a trainer's command line: subclasses add `run`, their config field and `preset`.

    The parts are nested dataclasses; `flat()` and `replace()` treat them as one flat set of
    fields, as the command line shows them.
    """

    def parts(self) -> dict[str, Any]:
        """The nested configs by field name (`{"ppo": PPOConfig, "run": RunConfig}`)."""
        return {
            f.name: getattr(self, f.name)
            for f in dataclasses.fields(self)
            if dataclasses.is_dataclass(getattr(self, f.name))
        }

    def flat(self) -> dict[str, Any]:
        """Every field of every part, by its command-line name (without dashes)."""
        return {
            f.name: getattr(part, f.name)
            for part in self.parts().values()
            for f in dataclasses.fields(part)
        }

    def __getattr__(self, name: str) -> Any:
        """A field of a part by its flat name (`args.lr` for `args.ppo.lr`)."""
        for part in vars(self).values():
            if dataclasses.is_dataclass(part) and name in {
                f.name for f in dataclasses.fields(part)
            }:
                return getattr(part, name)
        raise AttributeError(f"{type(self).__name__} has no field {name!r}")

    def replace(self, **changes: Any) -> "Args":
        """A copy with fields of any part changed (`preset` too); unknown names are refused."""
        parts = self.parts()
        own = {k: changes.pop(k) for k in list(changes) if k not in self.flat()}
        for name, part in parts.items():
            fields = {f.name for f in dataclasses.fields(part)}
            mine = {k: v for k, v in changes.items() if k in fields}
            if mine:
                parts[name] = dataclasses.replace(part, **mine)
        return dataclasses.replace(self, **parts, **own)


def is_config(value: Any) -> bool:
    """True for a dataclass instance (not a class)."""
    return dataclasses.is_dataclass(value) and not isinstance(value, type)


def check_resume_flags(
    args: Args, default: Args, session_fields: tuple[str, ...], budget: str | None = None
) -> None:
    """Refuses flags that `--resume` would ignore: the stored config.json wins.

    Args:
        args: the parsed command line.
        default: the preset `args` started from.
        session_fields: the fields a resumed run may change.
        budget: the field whose larger value extends the run (named in the message).

    Raises:
        ConfigError: naming the flags to drop and those that may change.
    """
    differs = list(changed_fields(args, default, session_fields))
    if differs:
        flags = ", ".join(flag(name) for name in differs)
        allowed = [flag(n) for n in session_fields if n not in ("resume", budget)]
        allowed = ", ".join(a if a != "--progress" else "--progress/--no-progress" for a in allowed)
        extend = f", and a larger {flag(budget)} extends the run" if budget else ""
        raise ConfigError(
            f"--resume uses the run's stored config.json; drop {flags} (only {allowed} may "
            f"change{extend}; --from RUN starts a new run from its checkpoint with other settings)."
        )


def changed_fields(args: Args, default: Args, ignored: tuple[str, ...] = ()) -> dict[str, Any]:
    """The flat fields the command line set, with their values: those of `args` that differ
    from the preset `default`, and those `parse_presets` saw named (even at the preset's value,
    e.g. `--from RUN --lr 1e-3` on a run whose lr is another)."""
    given, preset, named = _flat(args), _flat(default), named_fields(args)
    return {k: v for k, v in given.items() if k not in ignored and (v != preset[k] or k in named)}


def named_fields(args: Args) -> frozenset[str]:
    """The flat fields named on the command line that `parse_presets` parsed into `args`
    (empty for `Args` built in code, and after `replace`)."""
    return vars(args).get("_named", frozenset())


def _named_in(argv: list[str], fields: set[str]) -> frozenset[str]:
    """Flat field names that `argv`'s flags name (`--lr`, `--no-anneal-lr`, `--core.x`, core:x)."""
    named = set()
    for word in argv:
        if word.startswith("core:") or word.startswith("--core."):
            named.add("core")
        if not word.startswith("--"):
            continue
        key = word[2:].split("=", 1)[0].replace("-", "_")
        key = {"from": "branch_from"}.get(key, key)
        for name in (key, key.removeprefix("no_")):
            if name in fields:
                named.add(name)
    return frozenset(named)


def flag(name: str) -> str:
    """The command-line flag of a flat field name."""
    return "--" + {"branch_from": "from"}.get(name, name).replace("_", "-")


def _flat(args: Any) -> dict[str, Any]:
    if isinstance(args, Args):
        return args.flat()
    return {f.name: getattr(args, f.name) for f in dataclasses.fields(args)}


def parse_presets(table: dict, argv: list[str] | None, prog: str, description: str):
    """Parses a command line whose subcommands are the presets of `table` (`{name: (text,
    args)}`, `cpu-small` the default); exits on bad flags."""
    argv = preset_first(list(sys.argv[1:] if argv is None else argv), table, table["cpu-small"][1])
    if argv and not set(argv) & {*table, "-h", "--help"}:
        misspelt = _misspelt_preset(argv[0], table)
        if misspelt:
            print(f"{prog}: error: {misspelt}", file=sys.stderr)
            sys.exit(2)
        # Name the default preset: tyro's implicit choice misreads a leading `--no-<flag>`.
        argv = ["cpu-small", *argv]
    preset = next((word for word in argv if word in table), "cpu-small")
    default = _run_defaults(table[preset][1], argv) if preset in argv else None
    if default is not None:  # flags apply to (and validate against) that run's settings
        table = {**table, preset: (table[preset][0], default)}
    choice = tyro.extras.subcommand_type_from_defaults(
        {name: args for name, (_, args) in table.items()},
        {name: text for name, (text, _) in table.items()},
        prefix_names=False,
    )
    try:
        with config_errors():
            args = tyro.cli(
                choice,
                default=table["cpu-small"][1],
                args=argv,
                prog=prog,
                description=description,
                config=(tyro.conf.CascadeSubcommandArgs,),
            )
    except ValueError as err:  # a config's own validation, raised while tyro builds it
        print(f"{prog}: error: {speak_flags(str(err), table[preset][1])}", file=sys.stderr)
        sys.exit(2)
    object.__setattr__(args, "_named", _named_in(argv, set(args.flat())))  # see changed_fields
    object.__setattr__(args, "_default", table[args.preset][1])  # see defaults
    return args


def defaults(args: Args, presets: dict) -> Args:
    """What the command line of `args` started from: the preset or, with `--resume RUN` or
    `--from RUN` parsed by `parse_presets`, that run's stored settings."""
    return vars(args).get("_default") or presets[args.preset][1]


def _run_defaults(preset: Args, argv: list[str]) -> Args | None:
    """`preset` with the settings stored in the config.json of the run that `argv` resumes
    (`--resume RUN`) or branches from (`--from RUN`; without its run directory), so that
    flags change and are validated against that run's values; None when there is no such
    readable run (the lifecycle then reports what is wrong with it)."""
    for name, branch in (("--resume", False), ("--from", True)):
        words = [w for w in argv if w == name or w.startswith(name + "=")]
        if not words:
            continue
        word = words[0]
        path = (
            word.split("=", 1)[1] if "=" in word else next(iter(argv[argv.index(word) + 1 :]), "")
        )
        try:
            record = json.loads((Path(path) / "config.json").read_text())
            parts = {
                field: from_dict(type(part), record[field], field)
                for field, part in preset.parts().items()
            }
        except (OSError, ValueError, KeyError, TypeError):
            return None
        session = {name: getattr(preset.run, name) for name in SESSION_FIELDS}
        parts["run"] = dataclasses.replace(parts["run"], **session)  # this invocation's own
        if branch:
            parts["run"] = dataclasses.replace(parts["run"], run_dir=None)
        return dataclasses.replace(preset, **parts)
    return None


def _misspelt_preset(word: str, table: dict) -> str | None:
    """An error naming the presets when `word` (not a flag or a subcommand) is close to one."""
    if word.startswith("-") or ":" in word:
        return None
    close = difflib.get_close_matches(word, list(table), n=1)
    if not close:
        return None
    return f"unknown preset {word!r}; did you mean {close[0]!r}? Presets: {', '.join(table)}."
