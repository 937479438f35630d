"""The Spark path gives exactly the single-machine tables (hubs from the simulator; smart cards from the Shenzhen
sample plus bad rows)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from cityhub.transit.cards import read_taps
from cityhub.transit.hubs import HubParams, presence, stays, visits
from cityhub.transit.hubsim import HUB_ZONE_IDS, simulate_days
from cityhub.transit.spark import (
    hub_presence,
    hub_stays,
    hub_visits,
    hubs_to_arrow,
    java_time_pattern,
    normalise_taps,
    pings_frame,
)
from tests.conftest import IN_CI
from tests.transit.test_cards import ROWS, SAMPLE, write

pytestmark = pytest.mark.spark


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


def test_java_time_patterns() -> None:
    assert java_time_pattern("%Y-%m-%d %H:%M:%S") == "yyyy-M-d H:m:s"
    assert java_time_pattern("%Y%m%dT%H%M") == "yyyyMMdd'T'HHmm"
    assert java_time_pattern("%d/%m/%Y %H:%M") == "d/M/yyyy H:m"


def test_hubs_in_spark_equal_duckdb(spark: Any) -> None:
    sim = simulate_days([(date(2026, 9, 24), False), (date(2026, 10, 1), True)], people=150, seed=3)
    sim.pings = pa.concat_tables([sim.pings, sim.pings.slice(0, 40)])  # exact duplicate pings too
    params = HubParams(gap_s=900, interval_s=1800, dwell_threshold_s=1800, hub_zones=HUB_ZONE_IDS)
    v = visits(sim.pings, params)
    s = stays(v, params)
    p = presence(v, s, params)
    sv = hub_visits(pings_frame(spark, sim.pings), params).cache()
    ss = hub_stays(sv, params).cache()
    sp = hub_presence(sv, ss, params)
    v2, s2, p2 = hubs_to_arrow(sv, ss, sp, params)
    assert v.num_rows > 1000 and s.num_rows == sim.truth.num_rows
    assert v2.equals(v)
    assert s2.equals(s)
    assert p2.equals(p)


def test_card_normalisation_in_spark_equals_duckdb(spark: Any, tmp_path: Path) -> None:
    files = [write(tmp_path, "bad.csv", ROWS), write(tmp_path, "bad-gbk.csv", ROWS, encoding="gb18030")]
    if SAMPLE.is_file():
        files.append(SAMPLE)
    for f in files:
        expected, want = read_taps(f)
        got, report = normalise_taps(spark, str(f))
        assert got.equals(expected), f
        for key in ("rows_read", "rows_loaded", "rejected", "duplicates", "cards", "bad_fare"):
            assert getattr(report, key) == getattr(want, key), (f, key)
