"""The installed versions are the pinned ones, and inside the ranges the project supports.

Each supported Python has its own constraints file (`make install` picks the interpreter's):
constraints.txt for 3.11, constraints-py3.12.txt for 3.12.
"""

import sys
import tomllib
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
RANGES = {
    "jax": ">=0.10,<0.12",
    "jaxlib": ">=0.10,<0.12",
    "flax": ">=0.12.8,<0.13",
    "gymnax": ">=1.0.1,<1.1",
    "distrax": "==0.1.9",
    "tfp-nightly": "==0.26.0.dev20261027",
}

SUPPORTED = ("3.11", "3.12")
RUNNING = f"{sys.version_info.major}.{sys.version_info.minor}"


def constraints_file(python: str = RUNNING) -> Path:
    """The pins of one Python version (the Makefile's choice: constraints.txt is 3.11's)."""
    return ROOT / ("constraints.txt" if python == "3.11" else f"constraints-py{python}.txt")


def pins(python: str = RUNNING) -> dict[str, str]:
    lines = constraints_file(python).read_text().splitlines()
    reqs = [Requirement(line) for line in lines if line.strip() and not line.startswith("#")]
    return {r.name.lower().replace("_", "-"): str(r.specifier)[2:] for r in reqs}


def test_requires_python_is_the_supported_versions():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    allowed = SpecifierSet(project["requires-python"])
    assert [v for v in ("3.10", *SUPPORTED, "3.13") if f"{v}.0" in allowed] == list(SUPPORTED)
    assert RUNNING in SUPPORTED, f"Python {RUNNING} is not supported: use {SUPPORTED}"


@pytest.mark.parametrize("python", SUPPORTED)
def test_constraints_pin_every_key_package_exactly(python):
    pinned = pins(python)
    for name in (*RANGES, "optax", "chex", "brax", "tyro", "orbax-checkpoint"):
        assert name in pinned, f"{name} is not pinned in {constraints_file(python).name}"


@pytest.mark.parametrize("python", SUPPORTED[1:])
def test_key_pins_are_the_same_on_every_python(python):
    first, other = pins(SUPPORTED[0]), pins(python)
    differ = [f"{n}: {first[n]} vs {other[n]}" for n in RANGES if first[n] != other[n]]
    assert not differ, f"{constraints_file(python).name} differs from constraints.txt: {differ}"


@pytest.mark.parametrize("name", sorted(RANGES))
def test_resolved_version_in_supported_range(name):
    installed = Version(version(name))
    assert installed in Requirement(f"{name}{RANGES[name]}").specifier, (
        f"{name} {installed} is outside {RANGES[name]}: run `make install` "
        f"({constraints_file().name})."
    )


def test_installed_versions_equal_the_pins():
    drift = []
    for name, pinned in pins().items():
        try:
            installed = version(name)
        except PackageNotFoundError:
            continue  # optional extras (logging) need not be installed
        if Version(installed) != Version(pinned):
            drift.append(f"{name}: installed {installed}, pinned {pinned}")
    assert not drift, f"Versions drifted from {constraints_file().name}: " + "; ".join(drift)


def test_gpu_extras_name_jaxs_cuda_plugins():
    text = (ROOT / "pyproject.toml").read_text()
    for line in ('cuda12 = ["jax[cuda12]>=0.10,<0.12"]', 'cuda13 = ["jax[cuda13]>=0.10,<0.12"]'):
        assert line in text
