"""The probe benchmark's rows: which options each core runs, and the docs table they make."""

import numpy as np

import benchmarks.common as common
import benchmarks.probes as bench


def test_cores_with_the_field_run_with_and_without_negative_eigenvalues():
    assert bench.options("s6") == (False, True) and bench.options("mingru") == (False, True)
    assert bench.options("gru") == (None,)
    config = bench.core_config("s5", None, bench.Args(hidden_size=8))
    assert config.hidden_size == config.state_size == 8


def test_summary_and_lengths():
    assert bench.summary(np.array([0.5, 1.0])) == "0.750 (0.500-1.000)"
    assert bench.summary(np.array([0.25])) == "0.250"
    args = bench.Args(length=8, multiples=(1, 4), long_lengths=(100,))
    assert bench.eval_lengths("parity", args) == (8, 32)
    assert bench.eval_lengths("noisy_cue", args) == (8, 32, 100)


def fake_row(task, core, option, accuracy):
    return {"task": task, "core": core, "option": option, "seeds": 2, "T=8": accuracy}


def test_docs_table_merges_rows_by_task_core_and_option(tmp_path, monkeypatch):
    docs = tmp_path / "BENCHMARKS.md"
    docs.write_text("# B\n")
    monkeypatch.setattr(common, "DOCS", docs)
    args = bench.Args(length=8, multiples=(1,), long_lengths=())
    first = [fake_row("mqar", "gru", "-", "0.1"), fake_row("parity", "s6", "neg=no", "0.5")]
    common.write_section("probes", bench.table(first, bench.header(args), bench.columns(args)))
    new = [fake_row("parity", "s6", "neg=no", "0.6"), fake_row("parity", "s6", "neg=yes", "1.0")]
    old = common.parse_table(common.read_section("probes"))
    rows = bench.merge_rows(old, new, bench.KEY, tuple(bench.probes.TASKS))
    common.write_section("probes", bench.table(rows, bench.header(args), bench.columns(args)))
    text = common.read_section("probes")
    assert text.startswith("## State tracking and length\n\nMachine: ")
    assert "`python -m benchmarks.probes --write-docs`" in text
    table = common.parse_table(text)
    assert [(r["task"], r["option"], r["T=8"]) for r in table] == [
        ("parity", "neg=no", "0.6"),
        ("parity", "neg=yes", "1.0"),
        ("mqar", "-", "0.1"),
    ]
    assert list(table[0]) == list(bench.columns(args))
