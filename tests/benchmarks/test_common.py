"""The docs-table writer replaces only its own section; the machine line names the CPU's
generation."""

import os

import jax
import jax.numpy as jnp

import benchmarks.common as common
from benchmarks.common import cpu_name


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


ZEN4 = """processor\t: 0
vendor_id\t: AuthenticAMD
cpu family\t: 25
model\t\t: 17
model name\t: AMD EPYC
flags\t\t: fpu sse2 avx2 avx512f avx512bw

processor\t: 1
model name\t: another block
"""


def test_the_cpu_name_tells_apart_generations_that_share_a_model_name():
    assert cpu_name(ZEN4) == "AMD EPYC (family 25, model 17, AVX-512)"
    zen2 = ZEN4.replace("model\t\t: 17", "model\t\t: 49").replace(" avx512f avx512bw", "")
    assert cpu_name(zen2.replace("cpu family\t: 25", "cpu family\t: 23")) == (
        "AMD EPYC (family 23, model 49)"
    )
    assert cpu_name("processor\t: 0\n") is None
    device = jax.devices()[0].device_kind
    assert common.machine().endswith(f"{os.cpu_count()} cores, jax {jax.__version__} on {device}")
