"""Timing, memory and docs-table helpers shared by the benchmarks."""

import contextlib
import json
import os
import platform
import re
import statistics
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import jax

DOCS = Path(__file__).resolve().parents[1] / "docs" / "BENCHMARKS.md"


def cpu_name(cpuinfo: str) -> str | None:
    """The CPU named by the text of `/proc/cpuinfo`: its model name, with the family and model
    numbers and whether it has AVX-512, which the model name alone may not tell apart (two
    "AMD EPYC" hosts of different generations train the same seed to different numbers, XLA
    compiling for each one's instructions); None when the text names no model."""
    fields: dict[str, str] = {}
    for line in cpuinfo.splitlines():
        name, colon, value = line.partition(":")
        if not colon:
            if fields:
                break  # the first processor's block is enough
            continue
        fields.setdefault(name.strip(), value.strip())
    if "model name" not in fields:
        return None
    family, model = fields.get("cpu family"), fields.get("model")
    numbers = [f"family {family}"] if family else []
    numbers += [f"model {model}"] if model else []
    if "avx512f" in fields.get("flags", "").split():
        numbers.append("AVX-512")
    detail = f" ({', '.join(numbers)})" if numbers else ""
    return fields["model name"] + detail


def machine() -> str:
    """One line naming the machine the numbers come from."""
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        cpu = cpu_name(Path("/proc/cpuinfo").read_text()) or cpu
    device = jax.devices()[0].device_kind
    return f"{cpu}, {os.cpu_count()} cores, jax {jax.__version__} on {device}"


def section(name: str) -> str:
    """The BENCHMARKS.md section of `name` for this backend: `name` on the CPU (the reference
    machine), `name-gpu` (or `-tpu`) elsewhere, so an accelerator run never overwrites CPU rows."""
    backend = jax.default_backend()
    return name if backend == "cpu" else f"{name}-{backend}"


def time_compiled(compiled: Callable, *args, repeats: int = 5, min_seconds: float = 1.0) -> float:
    """Median seconds per call of an already compiled function (after one warm-up call)."""
    jax.block_until_ready(compiled(*args))
    times = []
    while len(times) < repeats or sum(times) < min_seconds:
        t0 = time.perf_counter()
        jax.block_until_ready(compiled(*args))
        times.append(time.perf_counter() - t0)
        if len(times) >= 50:
            break
    return statistics.median(times)


def compile_and_time(fn: Callable, *args, repeats: int = 5, min_seconds: float = 1.0) -> dict:
    """Compiles `fn` (jitted) for `args`, then times it; returns seconds and XLA memory sizes.

    Returns:
        `compile_s` (lowering + compilation), `run_s` (median over repeats, at least
        `min_seconds` of runs in all), `memory_mb` (XLA's buffer assignment: arguments, outputs
        and temporaries, the peak it plans for, where the backend reports it) and `compiled`.
    """
    t0 = time.perf_counter()
    compiled = jax.jit(fn).lower(*args).compile()
    compile_s = time.perf_counter() - t0
    run_s = time_compiled(compiled, *args, repeats=repeats, min_seconds=min_seconds)
    memory_mb = planned_memory_mb(compiled)
    return {"compile_s": compile_s, "run_s": run_s, "memory_mb": memory_mb, "compiled": compiled}


def planned_memory_mb(compiled) -> float | None:
    """XLA's planned peak of a compiled program in MiB (arguments, outputs and temporaries), or
    None where the backend does not report it."""
    analysis = compiled.memory_analysis()
    if analysis is None:
        return None
    total = analysis.argument_size_in_bytes + analysis.output_size_in_bytes
    total += analysis.temp_size_in_bytes
    return round(total / 2**20, 1)


def emit(record: dict) -> None:
    """Prints one JSON line."""
    print(json.dumps(record), flush=True)


def write_section(name: str, markdown: str) -> None:
    """Replaces the text between `<!-- name:start -->` and `<!-- name:end -->` in BENCHMARKS.md
    (`name` as made per backend by `section`)."""
    name = section(name)
    text = DOCS.read_text() if DOCS.exists() else "# Benchmarks\n"
    block = f"<!-- {name}:start -->\n{markdown.rstrip()}\n<!-- {name}:end -->"
    pattern = re.compile(rf"<!-- {name}:start -->.*?<!-- {name}:end -->", re.S)
    text = pattern.sub(lambda _: block, text) if pattern.search(text) else f"{text}\n{block}\n"
    DOCS.parent.mkdir(parents=True, exist_ok=True)
    DOCS.write_text(text)


def read_section(name: str) -> str | None:
    """The text between `<!-- name:start -->` and `<!-- name:end -->` in BENCHMARKS.md, or None
    (`name` as made per backend by `section`)."""
    name = section(name)
    if not DOCS.exists():
        return None
    pattern = rf"<!-- {name}:start -->\n(.*?)\n?<!-- {name}:end -->"
    match = re.search(pattern, DOCS.read_text(), re.S)
    return None if match is None else match.group(1)


def parse_table(markdown: str) -> list[dict[str, str]]:
    """The rows of the first markdown table in `markdown`, as `{column: cell text}` dicts.

    Cells are kept as the text written (numbers are not parsed), so that rows read back and
    written again are unchanged; an empty cell gives an empty string.
    """
    lines = [line.strip() for line in markdown.splitlines()]
    start = next((i for i, line in enumerate(lines) if line.startswith("|")), None)
    if start is None:
        return []

    def cells(line: str) -> list[str]:
        return [cell.strip() for cell in line.strip("|").split("|")]

    columns = cells(lines[start])
    rows = []
    for line in lines[start + 2 :]:  # skip the |---| line
        if not line.startswith("|"):
            break
        rows.append(dict(zip(columns, cells(line), strict=True)))
    return rows


def merged_table(section: str, table: str, columns: tuple[str, ...], key: tuple[str, ...]) -> str:
    """`table` (a markdown table of `columns`, just measured) followed by the rows of `section`'s
    table whose cells of `key` no row of `table` has: a run replaces the rows it measured again
    and keeps the others."""
    measured = {tuple(r[c] for c in key) for r in parse_table(table)}
    kept = [
        "| " + " | ".join(r[c] for c in columns) + " |"
        for r in parse_table(section)
        if tuple(r[c] for c in key) not in measured
    ]
    return "\n".join([*table.splitlines(), *kept])


def write_merged_section(
    name: str, header: str, table: str, columns: tuple[str, ...], key: tuple[str, ...]
) -> None:
    """Writes section `name` as `header` above `merged_table` of the section's current rows and
    `table` (a run replaces the rows it measured again and keeps the others)."""
    merged = merged_table(read_section(name) or "", table, columns, key)
    write_section(name, f"{header}\n\n{merged}")


def markdown_table(rows: Sequence[dict | Sequence], columns: Sequence[str]) -> str:
    """A markdown table of `columns`: a row is a dict of cells by column (missing cells left
    empty) or the sequence of its cells."""

    def cells(row: dict | Sequence) -> list:
        return [row.get(c, "") for c in columns] if isinstance(row, dict) else list(row)

    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(str(c) for c in cells(r)) + " |" for r in rows]
    return "\n".join(lines)


def table(records: Sequence[dict], header: str, columns: Sequence[str]) -> str:
    """`header`, an empty line and the markdown table of `records` (missing cells left empty)."""
    return f"{header}\n\n{markdown_table(records, columns)}"


def merge_rows(
    old: Sequence[dict], new: Sequence[dict], key: Sequence[str], order: Sequence[str] = ()
) -> list[dict]:
    """Rows of `old` and `new`, one per key; a row of `new` replaces the `old` row of its key.

    Args:
        old: rows already in the table (cells as text or numbers).
        new: rows just measured.
        key: the columns that identify a row (compared as text, so `64` matches `"64"`).
        order: task names in the order the rows are listed by (rows of one task by their
            `num_envs`); tasks not in it go last, keeping their relative order (old rows
            first, in their place, then new keys).

    Returns:
        The merged rows.
    """
    merged = {tuple(str(row.get(c, "")) for c in key): row for row in old}
    merged.update({tuple(str(row.get(c, "")) for c in key): row for row in new})
    rank = {task: i for i, task in enumerate(order)}

    def position(row: dict) -> tuple[int, int]:
        num_envs = str(row.get("num_envs", ""))
        task_rank = rank.get(str(row.get("task", "")), len(rank))
        return task_rank, int(num_envs) if num_envs.isdigit() else 0

    return sorted(merged.values(), key=position)


def steps_list(values: Sequence[int | None] | None) -> str:
    """`[37,500, -]` for counts per seed (`-`: never), empty for no values."""
    if values is None:
        return ""
    return "[" + ", ".join("-" if v is None else f"{v:,}" for v in values) + "]"
