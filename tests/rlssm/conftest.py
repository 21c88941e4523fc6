"""Fixtures of the memory-core tests."""

import pytest

import rlssm.cores as cores


@pytest.fixture(params=cores.registered())
def core_name(request):
    """Every registered core, one test each."""
    return request.param
