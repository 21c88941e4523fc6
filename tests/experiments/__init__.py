"""Helpers shared by the experiments tests."""

import os


def fake_devices_env(count: int) -> dict[str, str]:
    """This process's environment for a subprocess with `count` fake CPU devices: the device
    count appended to `XLA_FLAGS`, so the suite's compile flags (tests/conftest.py) stay."""
    flags = f"{os.environ.get('XLA_FLAGS', '')} --xla_force_host_platform_device_count={count}"
    return {**os.environ, "XLA_FLAGS": flags.strip()}
