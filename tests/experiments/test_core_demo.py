"""Smoke tests of the demo command line."""

import math
import subprocess
import sys

import pytest

from experiments.core_demo import DemoConfig, main


def test_demo_runs_and_reports_each_core():
    results = main(DemoConfig(cores=("none", "mingru"), length=8, steps=20, hidden_size=8))
    assert [r["core"] for r in results] == ["none", "mingru"]
    assert all(r["params"] > 0 and r["first_loss"] > 0 for r in results)


def test_unknown_core_is_refused_before_training():
    with pytest.raises(ValueError, match=r"unknown \['s7'\]"):
        DemoConfig(cores=("s7",))


def test_help_and_bad_flag_exit_codes():
    ok = subprocess.run(
        [sys.executable, "-m", "experiments.core_demo", "--help"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert ok.returncode == 0 and "--cores" in ok.stdout
    bad = subprocess.run(
        [sys.executable, "-m", "experiments.core_demo", "--stepz", "3"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert bad.returncode != 0 and "--stepz" in bad.stdout + bad.stderr


@pytest.mark.slow  # the whole default demo: 1-3 min on 2 CPU cores
def test_default_demo_keeps_its_docstring_claim():
    """Every core with memory ends near zero loss; the memoryless core stays at chance."""
    results = {r["core"]: r for r in main(DemoConfig())}
    chance = math.log(DemoConfig().num_symbols)
    learned = {name: r["final_loss"] for name, r in results.items() if name != "none"}
    assert all(loss < 0.1 for loss in learned.values()), learned
    assert results["none"]["final_loss"] > 0.9 * chance
