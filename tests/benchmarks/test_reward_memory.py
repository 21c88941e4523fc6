"""The reward-memory benchmark: its episodes follow the world model's row convention and the
task's rule, and its readings are what they say."""

import dataclasses

import jax
import numpy as np

from benchmarks import reward_memory as bench
from benchmarks.common import parse_table, read_section


def test_episode_rows_pay_for_naming_the_suit_shown_k_rows_before():
    # An independent statement of RepeatPrevious' rule on the benchmark's rows: the action of
    # row t (t >= k) is paid +1/(52 - k) when it names the suit of row t - k's card, else
    # -1/(52 - k).
    k = 3
    _, data = bench.dataset(k, episodes=8)
    obs, action, reward = (np.asarray(x) for x in (data.obs, data.action, data.reward))
    assert obs.shape == (51, 8, 4) and action.shape == reward.shape == (51, 8)
    assert np.asarray(data.start)[0].all() and not np.asarray(data.start)[1:].any()
    assert not np.asarray(data.terminated).any()
    assert (reward[:k] == 0).all()
    suit_k_before = obs[:-k].argmax(-1)
    expected = np.where(action[k:] == suit_k_before, 1.0, -1.0) / (52 - k)
    np.testing.assert_allclose(reward[k:], expected, rtol=1e-6)


def test_constant_error_and_first_span_below_a_level():
    reward = jax.numpy.array([[-1.0, -1.0, -1.0, 1.0]])
    # The median (-1) misses by 2 once in four rows.
    assert bench.constant_error(reward) == 0.5
    assert bench.first_below(np.array([0.7, 0.6, 0.2, 0.1]), 0.25, every=100) == 300
    assert bench.first_below(np.array([0.7, 0.6]), 0.25, every=100) is None


def test_a_tiny_run_reports_its_row():
    args = bench.Args(lags=(1,), recon_scales=(10.0,), updates=4, every=2, episodes=16)
    (row,) = bench.main(args)
    assert (row["lag"], row["recon_scale"], row["updates"]) == (1, 10.0, 4)
    assert np.isfinite(row["final_mae"]) and row["constant_mae"] > 0
    assert "| 1 | 10 |" in bench.table([row], args)


def test_chain_episodes_pay_at_the_terminal_row_for_naming_the_cue():
    # An independent statement of MemoryChain's rule (one context bit, shown as +-1 in the
    # observation's last entry at the start): only the terminal row L + 1 pays, +1 when its
    # action names the bit, else -1.
    length = 4
    _, data = bench.chain_dataset(length, episodes=32)
    obs, action, reward = (np.asarray(x) for x in (data.obs, data.action, data.reward))
    terminated = np.asarray(data.terminated)
    assert obs.shape == (length + 2, 32, 3)
    assert terminated[-1].all() and not terminated[:-1].any()
    assert (reward[:-1] == 0).all()
    cue = (obs[0, :, -1] > 0).astype(int)
    np.testing.assert_array_equal(reward[-1], np.where(action[-1] == cue, 1.0, -1.0))
    assert {-1.0, 1.0} <= set(reward[-1].tolist())


def test_a_tiny_weight_study_reports_a_row_per_case_and_merges_its_table(tmp_path, monkeypatch):
    monkeypatch.setattr("benchmarks.common.DOCS", tmp_path / "BENCHMARKS.md")
    args = bench.Args(
        kinds=("weight",), memory_length=3, weights=(1.0, 10.0), seeds=2, updates=4, every=2,
        episodes=16, write_docs=True,
    )  # fmt: skip
    rows = bench.main(args)
    assert [r["weight"] for r in rows] == [1.0, 10.0]
    assert all(len(r["updates_to_half"]) == len(r["final_mae"]) == 2 for r in rows)
    assert rows[0]["constant_mae"] == round(1 / 5, 4)  # one paying row of five, median 0
    assert "| 3 | 10 | state | " in bench.weight_table(rows)
    # A second run measures (10, state) again and (10, action) anew: one row per case stays.
    again = bench.main(dataclasses.replace(args, weights=(10.0,), reward_heads=("state", "action")))
    assert [r["reward_head"] for r in again] == ["state", "action"]
    table = parse_table(read_section(bench.WEIGHT_SECTION))
    cases = [tuple(r[c] for c in bench.WEIGHT_KEY) for r in table]
    assert cases == [("3", "10", "state"), ("3", "10", "action"), ("3", "1", "state")]
    assert bench.weight_config(args, 10.0, "action").reward_head == "action"
    assert bench.weight_config(args, 10.0).reward_head == "state"
