"""The model-based agent's benchmark: learning curves binned by env steps, MMER and tables."""

import dataclasses

import jax
import numpy as np
import pytest

import benchmarks.dreamer as bench
from benchmarks.common import parse_table, read_section


def test_curves_of_different_row_sizes_bin_onto_one_env_step_axis():
    # Rows of 100 env steps over a 400-step budget in 2 spans: rows 0-1 and rows 2-3.
    returns = np.array([[0.0, 1.0, np.nan, 3.0], [1.0, np.nan, np.nan, np.nan]])
    curve = bench.binned(returns, 100, 400, 2)
    np.testing.assert_allclose(curve, [[0.5, 3.0], [1.0, np.nan]])
    # One PPO update of 400 steps lands in the last span only.
    np.testing.assert_allclose(bench.binned(np.array([[2.0]]), 400, 400, 2), [[np.nan, 2.0]])


def test_mmer_is_the_best_span_per_seed_then_averaged():
    returns = np.array([[0.0, 1.0, 2.0, -1.0], [4.0, 0.0, 0.0, 0.0]])
    row = bench.scores(returns, 100, 400, 2)
    # Spans: seed 0 (0.5, 0.5), seed 1 (2.0, 0.0).
    assert row["mmer_per_seed"] == [0.5, 2.0] and row["mmer"] == 1.25
    assert row["mmer_se"] == round(np.std([0.5, 2.0], ddof=1) / np.sqrt(2), 3)
    assert row["final"] == 0.25 and row["curve"] == [1.25, 0.25]


def test_the_reward_error_halves_where_a_seeds_plateau_ends():
    # Rows of 100 env steps, 4 spans of 200: seed 0 halves in span 2 (ends at 600 steps);
    # seed 1 only falls to 0.6 of its first span; seed 2 has no error before span 1 (the
    # replay was filling) and halves from there in span 3.
    errors = np.array(
        [
            [1.0, 1.0, 0.9, 0.9, 0.4, 0.4, 0.1, 0.1],
            [1.0, 1.0, 0.8, 0.8, 0.6, 0.6, 0.6, 0.6],
            [np.nan, np.nan, 1.0, 1.0, 0.8, 0.8, 0.2, 0.2],
        ]
    )
    assert bench.halved_at(errors, 100, 800, 4) == [600, None, 800]
    assert bench.steps_list([1500, None]) == "[1,500, -]" and bench.steps_list(None) == ""


STACKED = [
    (
        {"replay_length": 128, "batch_size": 4},
        "--recon-scale 10 --replay-length 128 --batch-size 4 --write-docs",
        {"replay.length": 128, "batch_size": 4, "replay.context": "stored"},
        "recon x10 window 128x4",
    ),
    (
        {"reward_loss_scale": 100.0},
        "--recon-scale 10 --reward-loss-scale 100 --replay-length 128 --batch-size 4 --write-docs",
        {"reward_loss_scale": 100.0},
        "recon x10 reward loss x100 window 128x4",
    ),
    (
        {"replay_capacity": 25000},
        "--replay-length 128 --batch-size 4 --replay-capacity 25000 --write-docs",
        {"replay.capacity": 25000, "replay.length": 128, "replay.context": "stored"},
        "reward loss x100 window 128x4 ring 25000",
    ),
    (
        {"replay_burn_in": 32},
        "--replay-capacity 25000 --replay-burn-in 32 --write-docs",
        {"replay.capacity": 25000, "replay.burn_in": 32, "replay.window": 160},
        "window 128x4 ring 25000 burn-in 32",
    ),
    (
        {"train_ratio": 64.0},
        "--replay-burn-in 32 --train-ratio 64 --write-docs",
        {"train_ratio": 64.0},
        "ring 25000 burn-in 32 ratio 64",
    ),
    (
        {"actor_unimix": 0.001},
        "--train-ratio 64 --actor-unimix 0.001 --write-docs",
        {"actor_unimix": 0.001},
        "burn-in 32 ratio 64 unimix 0.001",
    ),
    (
        {"entropy_coef": 0.003},
        "--actor-unimix 0.001 --entropy-coef 0.003 --write-docs",
        {"entropy_coef": 0.003},
        "ratio 64 unimix 0.001 entropy 0.003",
    ),
    (
        {"actor_replay_scale": 1.0},
        "--entropy-coef 0.003 --actor-replay-scale 1 --write-docs",
        {"actor_replay_scale": 1.0},
        "entropy 0.003 replay actor x1",
    ),
    (
        {"actor_gradient": "expected"},
        "--bins 20 --actor-gradient expected --reward-scale 50 --recon-scale 10",
        {"actor_gradient": "expected"},
        "replay actor x1 expected gradient",
    ),
    (
        {"reward_head": "action"},
        "--actor-gradient expected --reward-head action --reward-scale 50",
        {"reward_head": "action"},
        "expected gradient action reward head",
    ),
    (
        {"actor_gradient": "target", "target_temperature": 0.01},
        "--actor-gradient target --reward-head action --reward-scale 50",
        {"actor_gradient": "target", "target_temperature": 0.01},
        "replay actor x1 target gradient tau 0.01 action reward head",
    ),
    (
        {"first_row_weight": 15.0},
        "--target-temperature 0.01 --first-row-weight 15 --write-docs",
        {"first_row_weight": 15.0},
        "target gradient tau 0.01 first rows x15 action reward head",
    ),
    (
        {"start_gradient_rows": "first"},
        "--actor-gradient target --start-gradient-rows first --reward-head action",
        {"start_gradient_rows": "first"},
        "target gradient (first rows) tau 0.01 first rows x15 action reward head",
    ),
    (
        {"first_flag": True},
        "--reward-head action --first-flag --reward-scale 50",
        {"first_flag": True},
        "(first rows) tau 0.01 first rows x15 first flag action reward head",
    ),
    (
        {"first_head": True},
        "--first-flag --first-head --reward-scale 50",
        {"first_head": True},
        "tau 0.01 first rows x15 first flag first head action reward head",
    ),
    (
        {"first_head_lr": 3e-4},
        "--first-row-weight 15 --first-head-lr 0.0003 --write-docs",
        {"first_head_lr": 3e-4},
        "first flag first head (lr 0.0003) action reward head",
    ),
    (
        {"first_explore": 0.05},
        "--first-head-lr 0.0003 --first-explore 0.05 --write-docs",
        {"first_explore": 0.05},
        "first head (lr 0.0003) first explore 0.05 action reward head",
    ),
    (
        {"first_branches": 16},
        "--first-explore 0.05 --first-branches 16 --write-docs",
        {"first_branches": 16},
        "first explore 0.05 first branches 16 action reward head",
    ),
    (
        {"action_relabel": 0.25},
        "--first-branches 16 --action-relabel 0.25 --write-docs",
        {"action_relabel": 0.25},
        "first branches 16 action relabel 0.25 action reward head",
    ),
]
"""Settings a learning run adds one at a time (each to the ones before): the fields changed,
a piece of the reproducing command, the agent config's fields that carry them (dotted paths)
and the end of the row's agent name."""


def config_of(args: bench.Args):
    """The agent config a benchmark run of `args` trains."""
    return bench.base_config(**bench.agent_overrides(args))


def test_tables_and_commands_name_what_was_run():
    args = bench.Args(kinds=("learning",), tasks=("RepeatPreviousEasy",), steps=1000, seeds=2)
    assert bench.command(args, "learning") == (
        "python -m benchmarks.dreamer --kinds learning --tasks RepeatPreviousEasy --steps 1000 "
        "--seeds 2 --bins 20 --write-docs"
    )
    rates = bench.Args(kinds=("learning",), steps=1000, model_lr=3e-3, actor_lr=3e-5)
    assert bench.command(rates, "learning") == (
        "python -m benchmarks.dreamer --kinds learning --tasks RepeatPreviousEasy --steps 1000 "
        "--seeds 3 --bins 20 --model-lr 0.003 --actor-lr 3e-05 --write-docs"
    )
    config = bench.base_config(model_lr=3e-3, actor_lr=3e-5)
    assert bench.agent_name(config) == "dreamer s4wm(s5) lr 0.003/3e-05/0.0003"
    assert bench.agent_name(bench.base_config(features="full")) == "dreamer s4wm(s5) full"
    config, ppo = bench.task_configs("MemoryChain-bsuite@memory_length=30", 8192, {})
    assert (config.env_name, config.env_options) == ("MemoryChain-bsuite", {"memory_length": 30})
    assert (ppo.env_name, ppo.env_options) == ("MemoryChain-bsuite", {"memory_length": 30})
    assert bench.task_configs("CartPole-v1", 8192, {})[0].env_options == {}
    scaled = bench.Args(kinds=("learning",), steps=1000, reward_scale=50.0)
    assert bench.command(scaled, "learning").endswith("--bins 20 --reward-scale 50 --write-docs")
    assert bench.agent_name(bench.base_config(reward_scale=50.0)) == "dreamer s4wm(s5) reward x50"
    both = dataclasses.replace(scaled, recon_scale=10.0)
    assert bench.command(both, "learning").endswith(
        "--reward-scale 50 --recon-scale 10 --write-docs"
    )
    ppo_alone = bench.Args(kinds=("learning",), steps=10**6, agents=("ppo",))
    assert bench.command(ppo_alone, "learning").endswith("--bins 20 --agents ppo --write-docs")
    named = bench.agent_name(bench.base_config(reward_scale=50.0, recon_scale=10.0))
    assert named == "dreamer s4wm(s5) reward x50 recon x10"
    args = both
    for changes, fragment, fields, name_tail in STACKED:
        before = config_of(args)
        args = dataclasses.replace(args, **changes)
        config = config_of(args)
        assert fragment in bench.command(args, "learning"), fragment
        for path, value in fields.items():
            assert bench.field_value(config, path) == value, path
        assert any(bench.field_value(before, p) != value for p, value in fields.items()), changes
        assert bench.agent_name(config).endswith(name_tail), name_tail
    row = {"task": "T", "agent": "ppo s5", "env_steps_per_seed": 4096, "seeds": 2, "mmer": 0.5,
           "mmer_se": 0.1, "mmer_per_seed": [0.4, 0.6], "final": 0.3, "run_s": 1.0,
           "compile_s": 2.0}  # fmt: skip
    table = bench.learning_table([row], "M")
    assert "| T | ppo s5 | 4,096 | 0.5 (0.1) | [0.4, 0.6] | 0.3 |  | 1.0 s + 2.0 s | M |" in table
    halved = {**row, "agent": "dreamer", "reward_halved_per_seed": [44966, None]}
    assert "| 0.3 | [44,966, -] | 1.0 s + 2.0 s | M |" in bench.learning_table([halved], "M")


def test_a_learning_run_replaces_its_rows_and_keeps_the_others(tmp_path, monkeypatch):
    monkeypatch.setattr("benchmarks.common.DOCS", tmp_path / "BENCHMARKS.md")

    def row(task, agent, mmer, steps=100):
        return {"task": task, "agent": agent, "env_steps_per_seed": steps, "seeds": 1, "mmer": mmer,
                "mmer_se": 0.0, "mmer_per_seed": [mmer], "final": mmer, "run_s": 1.0,
                "compile_s": 1.0}  # fmt: skip

    args = bench.Args(kinds=("learning",), write_docs=True)
    monkeypatch.setattr(bench, "machine", lambda: "M1")
    bench.write_docs(args, {"learning": [row("A", "ppo s5", 0.1), row("B", "ppo s5", 0.2)]})
    monkeypatch.setattr(bench, "machine", lambda: "M2")
    bench.write_docs(args, {"learning": [row("A", "ppo s5", 0.3), row("A", "x full", 0.4)]})
    # The same task and agent at another budget is another row; on the same machine again,
    # the same row.
    bench.write_docs(args, {"learning": [row("B", "ppo s5", 0.5, steps=300)]})
    bench.write_docs(args, {"learning": [row("A", "x full", 0.6)]})
    table = parse_table(read_section("dreamer-learning"))
    assert [(r["task"], r["agent"], r["final"], r["machine"]) for r in table] == [
        ("A", "x full", "0.6", "M2"), ("B", "ppo s5", "0.5", "M2"), ("A", "ppo s5", "0.3", "M2"),
        ("A", "ppo s5", "0.1", "M1"), ("B", "ppo s5", "0.2", "M1"),
    ]  # fmt: skip


def test_a_speed_run_replaces_its_machines_row_and_keeps_the_others(tmp_path, monkeypatch):
    monkeypatch.setattr("benchmarks.common.DOCS", tmp_path / "BENCHMARKS.md")

    def row(speed):
        return {"case": "speed T", "compile_s": 20.0, "env_steps_per_s": speed,
                "env_steps_per_s_range": [speed - 1, speed + 1], "updates_per_s": 1.5,
                "imagined_steps_per_s": 12345, "seeds4_over_1": 3.9,
                "share": {"act": 0.01, "world_model": 0.2, "actor_critic": 0.79},
                "update_s_at_length_256": {"s4wm(s5)": 0.1, "rssm(gru)": 0.2}}  # fmt: skip

    args = bench.Args(kinds=("speed",), tasks=("T",), write_docs=True)
    for where, speed in (("M1", 100.0), ("M2", 200.0), ("M1", 300.0)):
        monkeypatch.setattr(bench, "machine", lambda where=where: where)
        bench.write_docs(args, {"speed": [row(speed)]})
    section = read_section("dreamer-speed")
    assert "`python -m benchmarks.dreamer --kinds speed --tasks T " in section
    table = parse_table(section)
    assert [(r["env steps/s (median, min-max)"], r["machine"]) for r in table] == [
        ("300.0 (299.0-301.0)", "M1"), ("200.0 (199.0-201.0)", "M2"),
    ]  # fmt: skip
    assert table[0]["imagined steps/s"] == "12,345" and table[0]["4 seeds / 1"] == "3.9x"
    assert table[0]["acting / world model / actor-critic"] == "1% / 20% / 79%"
    assert table[0]["one update at T=256: s4wm(s5), rssm(gru)"] == "100 ms , 200 ms"


def test_an_in_context_run_replaces_its_cases_and_keeps_the_others(tmp_path, monkeypatch):
    """A run's rows name their own machine and command; a case run again on the same machine
    is replaced, one measured on another machine kept."""
    monkeypatch.setattr("benchmarks.common.DOCS", tmp_path / "BENCHMARKS.md")

    def row(case, first):
        return {"case": case, "first_trial": first, "last_trial": 0.5, "rise": 0.5 - first,
                "rise_se": 0.01, "episodes": 8, "final_return": [1.5], "run_s": 2.0}  # fmt: skip

    monkeypatch.setattr(bench, "machine", lambda: "M1")
    args = bench.Args(kinds=("in-context",), tasks=("T",), write_docs=True)
    bench.write_docs(args, {"in-context": [row("T dreamer", 0.1), row("T ppo s5", 0.3)]})
    monkeypatch.setattr(bench, "machine", lambda: "M2")
    args = bench.Args(kinds=("in-context",), tasks=("T",), reward_scale=200.0, write_docs=True)
    bench.write_docs(
        args, {"in-context": [row("T dreamer reward x200", 0.25), row("T ppo s5", 0.4)]}
    )
    bench.write_docs(args, {"in-context": [row("T ppo s5", 0.5)]})
    table = parse_table(read_section("dreamer-in-context"))
    assert [(r["case"], r["first trial"], r["machine"]) for r in table] == [
        ("T ppo s5", "0.5", "M2"), ("T dreamer reward x200", "0.25", "M2"),
        ("T dreamer", "0.1", "M1"), ("T ppo s5", "0.3", "M1"),
    ]  # fmt: skip
    assert "--reward-scale 200 --write-docs`" in table[1]["command"]
    assert "--reward-scale" not in table[2]["command"]
    assert table[1]["last - first (s.e.)"] == "+0.25 (0.01)"


def test_a_random_policys_trials_are_a_random_policys(monkeypatch):
    """The random row's trial returns against an independent random rollout of the same task:
    MetaCartPole pays 1/200 per step, so a trial's return is its length / 200, and a random
    CartPole trial lasts about 22 steps."""
    config = bench.base_config(env_name="MetaCartPole", total_timesteps=1024)
    by_trial, done = bench.random_trials(config, seeds=2, episodes=8)
    assert by_trial.shape == (2, 8, 16) and done.all()
    name = "MetaCartPole random policy"
    row = bench.ppo_benchmark.trial_row(name, by_trial, done, final_return="-", run_s=None)
    assert 0.07 < row["first_trial"] < 0.16 and 0.07 < row["last_trial"] < 0.16
    assert row["episodes"] == 16
    table = bench.trials_table([row], "M", "cmd")
    assert "| [..." not in table and "| - | - | M | `cmd` |" in table
    # The actions are uniform: half of each of CartPole's two.
    spec = bench.dreamer.make_agent(config).spec
    rollout = bench.make_rollout(spec, bench.random_act(spec), lambda num_envs: None)
    actions = np.asarray(
        jax.jit(rollout, static_argnums=(2, 3))(None, jax.random.key(0), 64, 50).action
    )
    assert abs(actions.mean() - 0.5) < 0.02


def test_random_agent_is_refused_for_learning_rows():
    args = bench.Args(kinds=("learning",), agents=("dreamer", "random"))
    with pytest.raises(ValueError, match="in-context rows only"):
        bench.main(args)
    in_context = bench.Args(kinds=("in-context",), tasks=("MetaCartPole",), agents=("random",))
    assert bench.command(in_context, "in-context") == (
        "python -m benchmarks.dreamer --kinds in-context --tasks MetaCartPole --seeds 3 "
        "--episodes 256 --agents random --write-docs"
    )


def test_learning_rows_run_only_the_agents_asked_for(monkeypatch):
    built = []
    monkeypatch.setattr(bench.dreamer, "make_train", lambda c: built.append("dreamer"))
    monkeypatch.setattr(bench, "make_ppo_train", lambda c: built.append("ppo"))
    curve = np.linspace(-1.0, 1.0, 8)[None].repeat(2, 0)
    curves = {"return_mean": curve}
    monkeypatch.setattr(bench, "train_curve", lambda train, seeds, jit_of: (curves, 1.0, 2.0))
    (row,) = bench.measure_learning("RepeatPreviousEasy", 8 * 4096, 2, 4, {}, ("ppo",))
    assert built == ["ppo"] and row["agent"] == "ppo s5"
    assert row["reward_halved_per_seed"] is None
    per_update = bench.ppo_config("RepeatPreviousEasy", 8 * 4096).steps_per_update
    assert row["env_steps_per_seed"] == 8 * per_update
    rows = bench.measure_learning("RepeatPreviousEasy", 8 * 4096, 2, 4, {})
    assert built == ["ppo", "dreamer", "ppo"] and [r["agent"] for r in rows][1] == "ppo s5"
    curves["wm_reward_mae"] = np.array([[1.0] * 8, [1.0] * 6 + [0.1] * 2])
    (row,) = bench.measure_learning("RepeatPreviousEasy", 8 * 4096, 2, 4, {}, ("dreamer",))
    # Seed 1's error halves in the last of 4 spans, which ends at the budget.
    assert row["reward_halved_per_seed"] == [None, row["env_steps_per_seed"]]
