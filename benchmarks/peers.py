"""Side by side with the pip-installable peers: whole runs in alternating processes, one command.

    python -m benchmarks.peers                     # builds the peers' venv once, runs every pair
    python -m benchmarks.peers --write-docs        # and the "side by side" section of BENCHMARKS.md
    python -m benchmarks.peers --pairs ppo-cartpole core-gru --repeats 5
    python -m benchmarks.peers --dry-run           # resolve the peers' pins, install nothing

The peers (rejax 0.1.3, memax 0.1.1, popgym 1.0.7) live in a venv of their own
(`.peers-venv`, from the exact pins of `benchmarks/peer_scripts/requirements.txt`): rejax needs
gymnax 0.0.9, rlssm pins gymnax 1.0.x. Every pair is two scripts of `benchmarks/peer_scripts/`
that do the same job and print one JSON line (`pair.py` holds the shared sizes): the peer's,
run by the peers' Python, and ours, run by this one. Each repeat runs both, in turns (peer
first on even repeats, ours first on odd ones), so that drift of a shared machine hits both
sides; a PPO repeat trains seed `repeat`. A figure is the median over repeats with its min-max;
a ratio compares two medians of the same run. Speeds are timed inside the processes (compile
apart); the `process` pair times whole processes as a user starts them.

purejaxrl and popjaxrl cannot be installed (they are scripts in repositories): their figures are
written under the table as dated references, never in its columns.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import tyro

from benchmarks.common import emit, machine, write_section

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = Path(__file__).resolve().parent / "peer_scripts"
REQUIREMENTS = SCRIPTS / "requirements.txt"


@dataclasses.dataclass(frozen=True)
class Pair:
    """Two commands that do the same job: the peer's and ours."""

    what: str
    """The job, as the table says it."""
    peer: str
    """The peer's name and version."""
    peer_command: tuple[str, ...]
    """Script of `peer_scripts/` and its arguments (run by the peers' Python)."""
    ours_command: tuple[str, ...]
    """Script of `peer_scripts/` and its arguments, or `-m module ...` (run by this Python)."""
    target: str
    """What the issue asks of ours."""
    seeded: bool = False
    """Pass `--seed REPEAT` to both sides (PPO runs)."""
    process: bool = False
    """Compare whole-process wall times (lower is better) instead of the timed speeds."""


CORE_JOB = "one layer fwd+bwd, B=64, T=1024, H=256, starts every 128"
PAIRS = {
    "ppo-cartpole": Pair(
        "FF PPO, CartPole-v1, purejaxrl setting (976 updates, 499,712 env steps), one seed "
        "per process",
        "rejax 0.1.3",
        ("rejax_ppo.py",),
        ("ours_ppo.py",),
        ">= 1.2x rejax's steps/s, compile no longer",
        seeded=True,
    ),
    "ppo-cartpole-process": Pair(
        "the whole process as a user starts it: rejax's script with its final evaluation vs "
        "`python -m experiments.ppo cartpole` (run directory, checkpoints, plots)",
        "rejax 0.1.3",
        ("rejax_ppo.py", "--evaluate"),
        ("-m", "experiments.ppo", "cartpole", "--run-dir", "{tmp}/cartpole-{repeat}"),
        "<= 0.8x purejaxrl's script (a reference below, not run here)",
        seeded=True,
        process=True,
    ),
    "core-lru": Pair(
        f"LRU, {CORE_JOB}, state 256",
        "memax 0.1.1",
        ("memax_core.py", "--core", "lru"),
        ("ours_core.py", "--core", "lru"),
        "ahead of memax",
    ),
    "core-s6": Pair(
        f"S6, {CORE_JOB}, one state per channel",
        "memax 0.1.1",
        ("memax_core.py", "--core", "s6"),
        ("ours_core.py", "--core", "s6", "--state-size", "1"),
        "ahead of memax",
    ),
    "core-s6-n16": Pair(
        f"S6, {CORE_JOB}; ours at its default 16 states per channel, memax's at 1",
        "memax 0.1.1",
        ("memax_core.py", "--core", "s6"),
        ("ours_core.py", "--core", "s6", "--state-size", "16"),
        "within 2x of ours at 1 state",
    ),
    "core-gru": Pair(
        f"GRU, {CORE_JOB}",
        "memax 0.1.1",
        ("memax_core.py", "--core", "gru"),
        ("ours_core.py", "--core", "gru"),
        "<= 0.8x memax's time (>= 1.25x its speed)",
    ),
    "env-repeat-previous": Pair(
        "RepeatPreviousEasy, random actions, one environment (popgym: NumPy; ours: a jitted "
        "scan of 20,000 steps)",
        "popgym 1.0.7",
        ("popgym_env.py", "--steps", "20000"),
        ("ours_env.py", "--steps", "20000", "--num-envs", "1"),
        "-",
    ),
    "env-repeat-previous-512": Pair(
        "RepeatPreviousEasy, random actions; popgym one NumPy environment, ours 512 "
        "vectorised (as the agents run it)",
        "popgym 1.0.7",
        ("popgym_env.py", "--steps", "20000"),
        ("ours_env.py", "--steps", "2000", "--num-envs", "512"),
        "-",
    ),
}


def pairs() -> dict[str, Pair]:
    """Every pair by name."""
    return dict(PAIRS)


# Not installable, so never run here: figures of the issue that asked for this benchmark, measured
# on this project's 2-core CPU before this command existed (Dec 2026).
REFERENCES = (
    "purejaxrl `ppo.py` (FF PPO, CartPole-v1, its own setting): 149k env steps/s, compile "
    "4.5 s; the whole `python ppo.py` process 21.2 s (with its default debug printing).",
    "purejaxrl `ppo_rnn.py` (GRU 128, CartPole-v1): 4.46k env steps/s (4.2-4.5k).",
    "popjaxrl (S5 4x256 on RepeatPreviousEasy): compile 171 s, 1.4k env steps/s.",
)


@dataclasses.dataclass(frozen=True)
class Args:
    """Which pairs, how often, and where the peers' venv is."""

    pairs: tuple[str, ...] = ()
    """Pair names (default: all); see `pairs()`."""
    repeats: int = 3
    """Runs of each side per pair (at least 3 for a figure in the docs)."""
    venv: Path = ROOT / ".peers-venv"
    """The peers' venv (built from the pins on first use)."""
    dry_run: bool = False
    """Only resolve the pins with pip (network needed), print pip's report and stop."""
    timeout: int = 900
    """Seconds one process may take."""
    write_docs: bool = False
    """Write the section `side-by-side` of docs/BENCHMARKS.md."""


def requirements_hash() -> str:
    return hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()[:16]


def pinned(path: Path = REQUIREMENTS) -> dict[str, str]:
    """`{name: version}` of the pins; every line must be `name==version`."""
    pins = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, sep, version = line.partition("==")
            if not sep or not version:
                raise ValueError(f"{path.name}: {line!r} is not pinned as name==version")
            pins[name.lower()] = version
    return pins


def dry_run() -> int:
    """Resolves the pins with pip without installing; returns pip's exit status."""
    command = [sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed"]
    return subprocess.call([*command, "--quiet", "--report", "-", "-r", str(REQUIREMENTS)])


def peer_python(venv: Path) -> Path:
    """The peers' Python, after building the venv if it is missing or its pins changed."""
    python = venv / "bin" / "python"
    stamp = venv / ".requirements"
    if python.exists() and stamp.exists() and stamp.read_text() == requirements_hash():
        return python
    print(f"building the peers' venv {venv} from {REQUIREMENTS.name} (once)", file=sys.stderr)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    install = [str(python), "-m", "pip", "install", "--quiet", "-r", str(REQUIREMENTS)]
    subprocess.run(install, check=True)
    stamp.write_text(requirements_hash())
    return python


def command(python: Path, parts: tuple[str, ...], fields: dict) -> list[str]:
    """The argv of one side: a `peer_scripts/` script, or `-m module ...`."""
    parts = tuple(part.format(**fields) for part in parts)
    if parts[0] == "-m":
        return [str(python), *parts]
    return [str(python), str(SCRIPTS / parts[0]), *parts[1:]]


def run_side(argv: list[str], timeout: int) -> dict:
    """Runs one process; its last JSON line (if any) plus `wall_s` of the whole process."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    t0 = time.perf_counter()
    done = subprocess.run(
        argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    wall_s = time.perf_counter() - t0
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    return {**(json.loads(lines[-1]) if lines else {}), "wall_s": wall_s}


def measure_pair(name: str, pair: Pair, peer: Path, repeats: int, timeout: int) -> dict:
    """Both sides `repeats` times, in alternating order; the per-repeat results of each side."""
    results = {"peer": [], "ours": []}
    with tempfile.TemporaryDirectory() as tmp:
        for repeat in range(repeats):
            fields = {"tmp": tmp, "repeat": repeat}
            seed = ("--seed", str(repeat)) if pair.seeded else ()
            sides = {
                "peer": command(peer, pair.peer_command, fields) + list(seed),
                "ours": command(Path(sys.executable), pair.ours_command, fields) + list(seed),
            }
            order = ("peer", "ours") if repeat % 2 == 0 else ("ours", "peer")
            for side in order:
                results[side].append(run_side(sides[side], timeout))
    return {"pair": name, **results}


def spread(values: list[float]) -> tuple[float, float, float]:
    """`(median, min, max)`."""
    return statistics.median(values), min(values), max(values)


def side_figures(runs: list[dict], process: bool) -> dict:
    """Median and min-max of a side's speed (or whole-process seconds) and compile seconds."""
    if process:
        value = spread([run["wall_s"] for run in runs])
    else:
        value = spread([run.get("env_steps", run.get("steps")) / run["run_s"] for run in runs])
    compiles = [run["compile_s"] for run in runs if "compile_s" in run]
    return {"value": value, "compile_s": spread(compiles) if compiles else None}


def speed_text(figure: tuple[float, float, float], process: bool) -> str:
    median, low, high = figure
    if process:
        return f"{median:.1f} s ({low:.1f}-{high:.1f})"
    return f"{median:,.0f}/s ({low:,.0f}-{high:,.0f})"


def row(result: dict, pair: Pair) -> str:
    """One markdown row: both sides' medians (min-max) and ours relative to the peer."""
    peer = side_figures(result["peer"], pair.process)
    ours = side_figures(result["ours"], pair.process)
    ratio = ours["value"][0] / peer["value"][0]
    if pair.process:
        relative = f"{ratio:.2f}x the peer's time"
        compile_text = "-"
    else:
        relative = f"{ratio:.2f}x the peer's speed"
        compile_text = f"{peer['compile_s'][0]:.1f} s / {ours['compile_s'][0]:.1f} s"
    cells = (
        result["pair"],
        pair.what,
        pair.peer,
        speed_text(peer["value"], pair.process),
        speed_text(ours["value"], pair.process),
        relative,
        compile_text,
        pair.target,
    )
    return "| " + " | ".join(cells) + " |"


def section(results: list[dict], chosen: dict[str, Pair], args: Args) -> str:
    """The docs section: how it was made, the table and the dated references."""
    names = " ".join(result["pair"] for result in results)
    command_line = "python -m benchmarks.peers --write-docs"
    if set(chosen) != set(pairs()):
        command_line += f" --pairs {names}"
    if args.repeats != 3:
        command_line += f" --repeats {args.repeats}"
    lines = [
        f"Command: `{command_line}`; machine: {machine()}; {args.repeats} repeats per side, "
        "alternating peer and ours. Figures: median (min-max) over repeats; the speeds are env "
        "steps/s for PPO and environments, sequence steps/s for cores (compile apart); the "
        "`process` row is whole-process seconds.",
        "",
        "| pair | job | peer | peer figure | ours | ours relative | compile peer / ours | target |",
        "|---|---|---|---|---|---|---|---|",
        *(row(result, chosen[result["pair"]]) for result in results),
        "",
        "Not installable, so not in the table (dated references, same machine):",
        *(f"- {reference}" for reference in REFERENCES),
    ]
    return "\n".join(lines)


def main(args: Args) -> list[dict]:
    if args.dry_run:
        raise SystemExit(dry_run())
    known = pairs()
    unknown = sorted(set(args.pairs) - set(known))
    if unknown:
        raise SystemExit(f"--pairs: unknown {unknown}; known: {sorted(known)}")
    if args.repeats < 1:
        raise SystemExit("--repeats must be >= 1 (3 or more for a figure in the docs)")
    chosen = {name: known[name] for name in args.pairs or tuple(known)}
    peer = peer_python(args.venv)
    results = []
    for name, pair in chosen.items():
        result = measure_pair(name, pair, peer, args.repeats, args.timeout)
        emit(result)
        results.append(result)
    if args.write_docs:
        write_section("side-by-side", section(results, chosen, args))
    return results


if __name__ == "__main__":
    main(tyro.cli(Args))
