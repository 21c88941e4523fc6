"""docs/PPO.md's "From Python" snippet runs as printed (on a budget of two updates), and the
README points to that page."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "PPO.md"


def snippet() -> str:
    blocks = re.findall(r"```python\n(.*?)```", PAGE.read_text(), re.S)
    (block,) = [b for b in blocks if "make_train" in b and "from agents.ppo import" in b]
    return block


def test_the_snippet_starts_from_the_command_lines_default_preset():
    # PPOConfig() is cpu-small (tests/experiments/test_ppo_cli.py checks the equality).
    assert "config = PPOConfig()" in snippet() and "jax.vmap(make_train(config))" in snippet()


@pytest.mark.slow  # compiles the cpu-small PPO program (~15 s)
def test_the_python_snippet_trains_two_seeds():
    code = snippet().replace("total_timesteps=200_000", "total_timesteps=8192")
    scope: dict = {}
    exec(compile(code, "docs/PPO.md", "exec"), scope)  # the page's own code
    assert scope["metrics"]["return_mean"].shape == (2, 2)
    assert scope["config"].env_name == "RepeatFirstEasy"


def test_the_readme_links_the_ppo_page():
    assert "(docs/PPO.md)" in (ROOT / "README.md").read_text()
