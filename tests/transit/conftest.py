from __future__ import annotations

import shutil
from collections.abc import Iterator
from typing import Any

import pytest

from cityhub.transit.simulate import City, simulate
from tests.conftest import IN_CI


@pytest.fixture(scope="session")
def city() -> City:
    """A small simulated day (~25k taps), shared by the tests that only read it."""
    return simulate(25_000, seed=11)


@pytest.fixture(scope="session")
def spark() -> Iterator[Any]:
    """One local Spark session for the run (starting the JVM is the slow part)."""
    try:
        import pyspark  # noqa: F401
    except ImportError:
        if IN_CI:
            pytest.fail("PySpark is missing in CI: the dev extra installs it")
        pytest.skip("PySpark is not installed (pip install -e '.[spark]')")
    if shutil.which("java") is None:
        if IN_CI:
            pytest.fail("Java is missing in CI: Spark needs Java 17")
        pytest.skip("Java is not installed: Spark needs Java 17")
    from cityhub.transit.spark import spark_session

    session = spark_session(cores=2, app="cityhub-tests")
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()
