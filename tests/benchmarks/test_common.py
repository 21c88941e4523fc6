"""The docs-table writer replaces only its own section."""

import jax.numpy as jnp

import benchmarks.common as common


def test_write_section_replaces_only_its_block(tmp_path, monkeypatch):
    docs = tmp_path / "BENCHMARKS.md"
    docs.write_text("# B\n\nintro\n<!-- a:start -->\nold\n<!-- a:end -->\ntail\n")
    monkeypatch.setattr(common, "DOCS", docs)
    common.write_section("a", "new table")
    common.write_section("b", "other")
    text = docs.read_text()
    assert "old" not in text and "new table" in text and "intro" in text and "tail" in text
    assert text.count("<!-- b:start -->") == 1 and text.rstrip().endswith("<!-- b:end -->")


def test_compile_and_time_reports_positive_numbers():
    out = common.compile_and_time(
        lambda x: jnp.sin(x) @ x, jnp.ones((8, 8)), repeats=2, min_seconds=0.0
    )
    assert out["compile_s"] > 0 and out["run_s"] > 0
