"""docs/MODEL_BASED.md's table of settings by task: every command parses into the agent of one
row of docs/BENCHMARKS.md's `dreamer-learning` table, and the figures quoted are that row's and
S5-PPO's row of the same task, budget and machine (a figure in the docs that its command does
not reproduce is a bug)."""

import shlex
from pathlib import Path

import pytest

import benchmarks.dreamer as bench
from benchmarks.common import parse_table, read_section
from experiments.dreamer import cli as dreamer
from experiments.suite import name_options

PAGE = Path(__file__).resolve().parents[1] / "docs" / "MODEL_BASED.md"
HEADING = "## Settings that learn, by task"
PREFIX = ["python", "-m", "experiments.dreamer"]


def settings() -> list[dict[str, str]]:
    """The rows of the page's settings table."""
    return parse_table(PAGE.read_text().partition(HEADING)[2])


def learning_rows() -> list[dict[str, str]]:
    return parse_table(read_section("dreamer-learning") or "")


def steps(cell: str) -> int:
    return int(cell.replace(",", ""))


def test_the_page_has_the_settings_table():
    assert len(settings()) >= 5 and all(r["command"].startswith("`python -m") for r in settings())


@pytest.mark.parametrize("documented", settings(), ids=lambda r: r["task"])
def test_each_documented_setting_is_the_benchmark_row_it_quotes(documented):
    argv = shlex.split(documented["command"].strip("`"))
    assert argv[:3] == PREFIX, argv
    config = dreamer.parse(argv[3:]).dreamer
    assert (config.env_name, config.env_options) == name_options(documented["task"], "task")
    budget = f"{config.num_iterations * config.steps_per_iteration:,}"
    key = (documented["task"], bench.agent_name(config), budget)
    rows = learning_rows()
    agent = [r for r in rows if (r["task"], r["agent"], r["env steps/seed"]) == key]
    assert len(agent) == 1, f"{key}: {len(agent)} rows in BENCHMARKS.md"
    assert agent[0]["MMER (s.e.)"] == documented["agent MMER"]
    ppo = [
        r
        for r in rows
        if (r["task"], r["agent"], r["machine"]) == (key[0], "ppo s5", agent[0]["machine"])
        and 0.95 * config.total_timesteps <= steps(r["env steps/seed"]) <= config.total_timesteps
    ]
    assert len(ppo) == 1, f"{key}: {len(ppo)} PPO rows of its budget and machine"
    assert ppo[0]["MMER (s.e.)"] == documented["S5-PPO MMER"]
