from __future__ import annotations

import pytest

from cityhub.transit.simulate import City, simulate


@pytest.fixture(scope="session")
def city() -> City:
    """A small simulated day (~25k taps), shared by the tests that only read it."""
    return simulate(25_000, seed=11)
