"""The side-by-side command: exact pins, our scripts run and report, the table's arithmetic."""

import json
import os
import subprocess
import sys

import pytest

import benchmarks.peers as peers

ROOT = peers.ROOT


def test_the_peers_requirements_pin_every_package_exactly(tmp_path):
    pins = peers.pinned()
    assert pins["rejax"] == "0.1.3" and pins["memax"] == "0.1.1"
    assert pins["gymnax"] == "0.0.9"  # rejax's; the reason the peers have a venv of their own
    assert "popgym" in pins and "jax" in pins
    loose = tmp_path / "requirements.txt"
    loose.write_text("rejax==0.1.3\nmemax>=0.1\n")
    with pytest.raises(ValueError, match="not pinned"):
        peers.pinned(loose)


@pytest.mark.skipif(
    os.environ.get("RLSSM_NETWORK_TESTS") != "1",
    reason="resolving the pins needs PyPI; set RLSSM_NETWORK_TESTS=1 to run it",
)
def test_the_peers_requirements_resolve():
    assert peers.dry_run() == 0


def run_ours(*argv: str) -> dict:
    """One of our side's scripts, as the command runs it; its JSON line."""
    side = peers.command(peers.Path(sys.executable), argv, {})
    done = subprocess.run(
        side,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize(
    "argv",
    [
        ("ours_ppo.py", "--updates", "1"),
        ("ours_core.py", "--core", "gru", "--batch", "2", "--length", "16", "--hidden", "8"),
        ("ours_env.py", "--steps", "10"),
    ],
)
def test_our_side_of_each_pair_runs_and_reports(argv):
    report = run_ours(*argv)
    assert report["compile_s"] > 0 and report["run_s"] > 0
    assert report.get("env_steps", report.get("steps")) > 0


def test_every_pair_names_scripts_that_exist():
    for pair in peers.pairs().values():
        assert (peers.SCRIPTS / pair.peer_command[0]).exists()
        assert pair.ours_command[0] == "-m" or (peers.SCRIPTS / pair.ours_command[0]).exists()


def runs(values: list[float], key: str = "steps") -> list[dict]:
    return [{key: 1000, "run_s": 1000 / v, "compile_s": 2.0, "wall_s": v} for v in values]


def test_rows_compare_medians_of_the_same_run():
    pair = peers.pairs()["core-gru"]
    result = {"pair": "core-gru", "peer": runs([100, 90, 110]), "ours": runs([150, 200, 160])}
    row = peers.row(result, pair)
    assert "100/s (90-110)" in row and "160/s (150-200)" in row
    assert "1.60x the peer's speed" in row
    process = peers.pairs()["ppo-cartpole-process"]
    # A whole process prints no JSON of its own (ours is the command line): wall time only.
    walls = [{"wall_s": wall} for wall in (15, 14)]
    result = {"pair": "ppo-cartpole-process", "peer": runs([20, 21, 19]), "ours": walls}
    assert "0.72x the peer's time" in peers.row(result, process)


def test_a_section_names_the_command_that_made_it():
    args = peers.Args(pairs=("core-gru",), repeats=3)
    result = {"pair": "core-gru", "peer": runs([100] * 3), "ours": runs([120] * 3)}
    text = peers.section([result], {"core-gru": peers.pairs()["core-gru"]}, args)
    assert "`python -m benchmarks.peers --write-docs --pairs core-gru`" in text
    assert "purejaxrl" in text.split("| core-gru")[1]  # references below the table only
