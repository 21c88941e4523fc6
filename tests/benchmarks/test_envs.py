"""The env benchmark's docs table: rows are merged by key, so a partial run keeps the others."""

import jax

import benchmarks.common as common
import benchmarks.envs as bench

OLD_TABLE = """Machine: old. Command: old.

| task | num_envs | steps_per_s | cartpole_steps_per_s | vs_cartpole | compile_s |
|---|---|---|---|---|---|
| RepeatFirstEasy | 64 | 111 | 222 | 0.5 | 0.7 |
| CartPole-v1 | 64 | 333 | 444 | 0.75 |  |
| CartPole-v1 | 1024 | 555 | 666 | 0.833 | 0.9 |
| Gone-v0 | 64 | 1 | 2 | 0.5 | 0.1 |
"""


def write_docs(tmp_path, monkeypatch, section: str, text: str):
    docs = tmp_path / "BENCHMARKS.md"
    docs.write_text(f"# B\n\n<!-- {section}:start -->\n{text}<!-- {section}:end -->\ntail\n")
    monkeypatch.setattr(common, "DOCS", docs)
    return docs


def test_parse_table_reads_back_what_table_writes():
    rows = common.parse_table(OLD_TABLE)
    tasks = ["RepeatFirstEasy", "CartPole-v1", "CartPole-v1", "Gone-v0"]
    assert [row["task"] for row in rows] == tasks
    assert rows[1] == {
        "task": "CartPole-v1",
        "num_envs": "64",
        "steps_per_s": "333",
        "cartpole_steps_per_s": "444",
        "vs_cartpole": "0.75",
        "compile_s": "",
    }
    columns = tuple(rows[0])
    rendered = bench.table(rows, "Machine: old. Command: old.", columns)
    assert rendered == OLD_TABLE.rstrip("\n")
    assert common.parse_table("no table here") == []


def test_read_section(tmp_path, monkeypatch):
    write_docs(tmp_path, monkeypatch, "envs", OLD_TABLE)
    assert common.read_section("envs") == OLD_TABLE.rstrip("\n")
    assert common.read_section("other") is None


def test_merge_replaces_rows_by_key_and_keeps_the_others():
    old = common.parse_table(OLD_TABLE)
    new = [
        {"task": "CartPole-v1", "num_envs": 64, "steps_per_s": 999, "load": 2.5},
        {"task": "brax/ant", "num_envs": 64, "steps_per_s": 7},
    ]
    order = ("RepeatFirstEasy", "CartPole-v1", "brax/ant")
    merged = bench.merge_rows(old, new, bench.TASK_KEY, order)
    assert [(row["task"], str(row["num_envs"])) for row in merged] == [
        ("RepeatFirstEasy", "64"),
        ("CartPole-v1", "64"),
        ("CartPole-v1", "1024"),
        ("brax/ant", "64"),
        ("Gone-v0", "64"),  # not in `order`: kept, listed last
    ]
    assert merged[1] is new[0] and merged[2]["steps_per_s"] == "555"


def test_partial_run_updates_only_its_rows(tmp_path, monkeypatch):
    docs = write_docs(tmp_path, monkeypatch, "envs", OLD_TABLE)
    args = bench.Args(tasks=("CartPole-v1",), num_envs=(2,), steps=2, write_docs=True)
    bench.main(args)
    rows = common.parse_table(common.read_section("envs"))
    by_key = {(row["task"], row["num_envs"]): row for row in rows}
    assert set(by_key) == {
        ("RepeatFirstEasy", "64"),
        ("CartPole-v1", "2"),
        ("CartPole-v1", "64"),
        ("CartPole-v1", "1024"),
        ("Gone-v0", "64"),
    }
    assert by_key[("RepeatFirstEasy", "64")]["steps_per_s"] == "111"
    assert by_key[("CartPole-v1", "64")]["steps_per_s"] == "333"
    fresh = by_key[("CartPole-v1", "2")]
    assert int(fresh["steps_per_s"]) > 0 and float(fresh["load"]) >= 0
    assert float(fresh["vs_cartpole"]) > 0
    assert by_key[("RepeatFirstEasy", "64")]["load"] == ""  # an old row: load not recorded
    assert docs.read_text().startswith("# B\n") and docs.read_text().endswith("tail\n")


def test_rollout_is_not_optimised_away():
    """MountainCar-v0's rewards are a constant -1: the timed function must still simulate."""
    env, params = bench.envs.make("MountainCar-v0")
    rollout = jax.jit(bench.make_rollout(env, params, 2, 3))
    first, second = rollout(jax.random.key(0)), rollout(jax.random.key(1))
    assert first != second  # the final observations differ, so they were computed
