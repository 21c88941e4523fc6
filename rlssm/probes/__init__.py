"""Synthetic tasks that each isolate one ability of a memory core, with a trainer and evaluator.

task = rlssm.probes.make_task("parity")                       # or Parity(), ModularSum(5), ...
batch = task.sample(key, length, batch_size)                  # x[T, B, D], start, target, mask
fit = rlssm.probes.fit_probe(core_config, task, key, length=64, steps=1000)
acc = rlssm.probes.evaluate_probe(core_config, task, fit.params, key, length=1024)

Tasks: `parity`, `modular_sum` (addition mod m), `s5` (composition of permutations of 5
elements), `mqar` (multi-query associative recall), `copy_first`, `noisy_cue`. The original
copy task and its trainer (`copy_first_batch`, `fit_copy_first`) stay as they were.
"""

import dataclasses
import difflib

from rlssm.probes.batch import ProbeBatch, Task
from rlssm.probes.copy import CopyBatch, copy_first_batch, fit_copy_first
from rlssm.probes.memory import CopyFirst, NoisyCue
from rlssm.probes.recall import MultiQueryRecall, mqar_batch
from rlssm.probes.state_tracking import (
    ModularSum,
    Parity,
    S5Composition,
    cumulative_sum_mod,
    s5_composition_table,
    s5_permutations,
    s5_prefix_products,
)
from rlssm.probes.train import (
    FitResult,
    ProbeModel,
    evaluate_probe,
    fit_probe,
    length_matched,
    masked_metrics,
    probe_accuracy,
)

TASKS: dict[str, type[Task]] = {
    cls.name: cls
    for cls in (Parity, ModularSum, S5Composition, MultiQueryRecall, CopyFirst, NoisyCue)
}


def make_task(name: str, **options) -> Task:
    """The task registered as `name` with `options` (its dataclass fields)."""
    if name not in TASKS:
        close = difflib.get_close_matches(name, TASKS, n=3)
        hint = f" Did you mean {close}?" if close else ""
        raise ValueError(f"Unknown probe task {name!r}.{hint} Known tasks: {tuple(TASKS)}.")
    fields = {f.name for f in dataclasses.fields(TASKS[name])}
    unknown = sorted(set(options) - fields)
    if unknown:
        raise TypeError(f"Task {name!r} has no option {unknown}; its options are {sorted(fields)}.")
    return TASKS[name](**options)


__all__ = [
    "TASKS",
    "CopyBatch",
    "CopyFirst",
    "FitResult",
    "ModularSum",
    "MultiQueryRecall",
    "NoisyCue",
    "Parity",
    "ProbeBatch",
    "ProbeModel",
    "S5Composition",
    "Task",
    "copy_first_batch",
    "cumulative_sum_mod",
    "evaluate_probe",
    "fit_copy_first",
    "fit_probe",
    "length_matched",
    "make_task",
    "masked_metrics",
    "mqar_batch",
    "probe_accuracy",
    "s5_composition_table",
    "s5_permutations",
    "s5_prefix_products",
]
