"""The installed versions are the pinned ones, and inside the ranges the project supports."""

from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import pytest
from packaging.requirements import Requirement
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


def pins() -> dict[str, str]:
    lines = (ROOT / "constraints.txt").read_text().splitlines()
    reqs = [Requirement(line) for line in lines if line.strip() and not line.startswith("#")]
    return {r.name.lower(): str(r.specifier)[2:] for r in reqs}


def test_constraints_pin_every_key_package_exactly():
    pinned = pins()
    for name in (*RANGES, "optax", "chex", "brax", "tyro", "orbax-checkpoint"):
        assert name in pinned, f"{name} is not pinned in constraints.txt"


@pytest.mark.parametrize("name", sorted(RANGES))
def test_resolved_version_in_supported_range(name):
    installed = Version(version(name))
    assert installed in Requirement(f"{name}{RANGES[name]}").specifier, (
        f"{name} {installed} is outside {RANGES[name]}: run `make install` (constraints.txt)."
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
    assert not drift, "Versions drifted from constraints.txt: " + "; ".join(drift)
