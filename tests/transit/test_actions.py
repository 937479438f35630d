"""Transit runs as actions: a background job with status and percentage, the reports as JSON, and the results
published as catalog datasets (the OD matrix open in the datastore; the stages restricted, cards pseudonymised)."""

from __future__ import annotations

import time
from typing import Any

import pytest

from cityhub.errors import Conflict, NotAuthenticated, NotAuthorized, NotFound, ValidationError
from cityhub.transit.disclosure import SUPPRESSED
from tests.conftest import call_as


def _wait(run_id: str, timeout: float = 120) -> dict[str, Any]:
    from cityhub import jobs

    jobs.wait_idle(timeout)
    deadline = time.monotonic() + timeout
    while True:
        run = call_as("steward", "transit_run_show", {"id": run_id})
        if run["status"] in ("done", "failed") or time.monotonic() > deadline:
            return run
        time.sleep(0.2)


@pytest.fixture(scope="module")
def finished(sqlite_demo_store: Any) -> dict[str, Any]:
    """One small run (3,000 taps), shared by the tests of this module."""
    sqlite_demo_store.activate()
    from tests.transit.test_zones import CITY_ZONES

    started = call_as("steward", "transit_run_start", {"taps": 3000, "seed": 5, "zones": CITY_ZONES})
    return {"started": started, "run": _wait(started["id"])}


def test_run_publishes_open_od_and_restricted_stages(sqlite_demo_store: Any, finished: dict[str, Any]) -> None:
    sqlite_demo_store.activate()
    with pytest.raises(NotAuthenticated):
        call_as(None, "transit_run_start", {"taps": 3000})
    with pytest.raises(NotAuthorized):      # only platform admins may read a server directory
        call_as("steward", "transit_run_start", {"taps": 3000, "input_dir": "/etc"})
    with pytest.raises(ValidationError):
        call_as("steward", "transit_run_start", {"taps": 3000, "department": "gz-ecology-environment"})
    started = finished["started"]
    assert started["status"] == "queued" and started["department"] == "gz-transport"
    unfinished = call_as("steward", "transit_run_start", {"taps": 3000, "seed": 6, "publish": False})
    with pytest.raises(NotFound):           # the public does not see an unfinished (or unpublished) run
        call_as(None, "transit_run_show", {"id": unfinished["id"]})
    if call_as("steward", "transit_run_show", {"id": unfinished["id"]})["status"] in ("queued", "running"):
        with pytest.raises(Conflict):       # one run at a time per department
            call_as("steward", "transit_run_start", {"taps": 3000})
    with pytest.raises(ValidationError):    # a simulated day through the action is a small one
        call_as("admin", "transit_run_start", {"taps": 1_000_000})
    assert _wait(unfinished["id"])["status"] == "done"
    run = finished["run"]
    assert run["status"] == "done", run.get("error")
    assert run["progress"] == 100
    assert run["report"]["stages"]["stages"] > 1000
    assert run["validation"]["rate_multi_tap"] > 0.5 and "santiago_munizaga_palma_2012" in run["validation"]["published"]
    od_rows = run["od_district"]
    assert 0 < sum(r["journeys"] for r in od_rows) <= run["report"]["journeys"]["journeys"]
    pub = run["published"]
    from cityhub import jobs

    jobs.wait_idle(60)
    # anonymous: the OD matrix is open and queryable in the datastore
    ds = call_as(None, "dataset_show", {"id": pub["od_dataset"]})
    assert ds["opening_class"] == "无条件开放"
    deadline = time.monotonic() + 120   # the load shares the machine with the run that is still going
    while (state := call_as("steward", "resource_show", {"id": pub["od_resource_id"]}).get("load_state")):
        assert time.monotonic() < deadline, f"the OD table's load did not end: {state}"
        time.sleep(0.2)
        jobs.wait_idle(10)
    found = call_as(None, "datastore_search", {"resource_id": pub["od_resource_id"], "limit": 1000})
    assert found["total"] == len(od_rows)
    assert sum(int(r["journeys"]) for r in found["records"]) == sum(r["journeys"] for r in od_rows)
    # anonymous: the stages are not found at all; the department's steward sees them
    with pytest.raises(NotFound):
        call_as(None, "dataset_show", {"id": pub["stages_dataset"]})
    with pytest.raises(NotFound):
        call_as(None, "datastore_search", {"resource_id": pub["stages_resource_id"]})
    st = call_as("steward", "dataset_show", {"id": pub["stages_dataset"]})
    assert st["opening_class"] == "不予开放"
    # no raw card id in the published stages file
    import pyarrow.parquet as pq

    from cityhub.settings import get_settings
    from cityhub.transit.actions import runs_dir

    raw = set(pq.read_table(runs_dir() / run["id"] / "stages.parquet").column("card_id").to_pylist())
    files = [p for p in get_settings().files_dir.rglob("*") if p.is_file() and f"stages_{run['id']}" in p.name]
    assert len(files) == 1
    lines = files[0].read_text(encoding="utf-8").splitlines()
    assert lines[0].startswith('"card_id"') and len(lines) == run["report"]["stages"]["stages"] + 1
    assert all(line.startswith('"C') for line in lines[1:])
    text = "\n".join(lines)
    assert not any(card in text for card in raw)
    # lists: the public sees the finished run, without who started it
    listed = call_as(None, "transit_run_list", {})
    mine = [r for r in listed["results"] if r["id"] == run["id"]]
    assert mine and "started_by" not in mine[0]


def test_transit_page_in_both_languages_offline(sqlite_demo_store: Any, finished: dict[str, Any]) -> None:
    import re

    from fastapi.testclient import TestClient

    from cityhub.web.app import create_app

    sqlite_demo_store.activate()
    run = finished["run"]
    with TestClient(create_app(), base_url="http://127.0.0.1:8000") as client:
        api = client.get(f"/api/transit/runs/{run['id']}")          # anonymous: the finished, published run
        assert api.status_code == 200 and api.json()["report"]["stages"]["stages"] == run["report"]["stages"]["stages"]
        assert client.get("/api/transit/runs/000000000000").status_code == 404
        page = client.get("/transit")
        assert page.status_code == 200, page.text
        assert "公交地铁客流分析" in page.text and "区间出行 OD 流向图" in page.text and "&gt; 80%" in page.text
        assert f"{run['report']['stages']['stages']:,}" in page.text
        config = re.search(r'<script type="application/json" id="transit-config">(.*?)</script>', page.text, re.S)
        assert config is not None, "the page carries its charts' data as a JSON script block"
        import json

        cfg = json.loads(config.group(1))
        assert cfg["flows"] and cfg["heat"] and "早高峰 07–09" in cfg["bands"]
        # every journey is on the page: in the heat map (by origin) or in the band's placeless suppressed figure
        assert sum(c[2] for c in cfg["heat"]) + cfg["placeless"] == sum(r["journeys"] for r in run["od_district"])
        assert all("区" in d for d in cfg["districts"])
        tops = run["line_load_top"]
        assert tops and len(cfg["loads"]["lines"]) == len(tops) <= 10
        assert all(t["peak"] == max(t["bands"].values()) for t in tops)
        assert [t["peak"] for t in tops] == sorted((t["peak"] for t in tops), reverse=True)
        client.cookies.set("cityhub_lang", "en")
        en = client.get("/transit")
        assert "Transit ridership analysis" in en.text and "District OD flow map" in en.text
        assert "Tianhe" in en.text or "Haizhu" in en.text or "Baiyun" in en.text
        for text in (page.text, en.text):
            sources = re.findall(r'(?:src|href)="([^"]+)"', text)
            assert sources and all(s.startswith(("/", "#", "?")) and not s.startswith("//") for s in sources), sources
            assert "http://" not in text.replace("http://127.0.0.1:8000", "") and "https://" not in text


def test_bad_inputs_fail_the_run_with_a_bilingual_reason(sqlite_demo_store: Any, finished: dict[str, Any],
                                                         tmp_path: Any) -> None:
    import pyarrow.parquet as pq

    from cityhub.transit.simulate import simulate

    sqlite_demo_store.activate()
    city = simulate(500, seed=3)
    pq.write_table(city.taps.drop_columns(["kind"]), tmp_path / "taps.parquet")
    pq.write_table(city.stops, tmp_path / "stops.parquet")
    pq.write_table(city.route_stops, tmp_path / "route_stops.parquet")
    with pytest.raises(ValidationError):     # a directory without the inputs is refused at once
        call_as("admin", "transit_run_start", {"input_dir": str(tmp_path / "nowhere")})
    before = call_as(None, "transit_run_list", {})["count"]
    started = call_as("admin", "transit_run_start", {"input_dir": str(tmp_path), "department": "gz-ecology-environment"})
    run = _wait(started["id"])
    assert run["status"] == "failed" and "kind" in run["error"]["zh"] and "kind" in run["error"]["en"]
    assert run["published"] is None and call_as(None, "transit_run_list", {})["count"] == before


def test_run_publishes_open_od_by_stop_and_by_custom_zone(sqlite_demo_store: Any, finished: dict[str, Any]) -> None:
    """The zones uploaded with the run give an OD matrix by zone; with the stop matrix both are open datasets in
    the datastore, like the district one (aggregates only, same rule)."""
    from cityhub import jobs

    sqlite_demo_store.activate()
    run = finished["run"]
    assert run["status"] == "done", run.get("error")
    assert finished["started"]["zones"] == ["west", "east"] and "zones" not in finished["started"]["params"]
    pub = run["published"]
    assert pub["od_stop_dataset"] == "transit-od-stop-gz-transport"
    assert pub["od_zone_dataset"] == "transit-od-zone-gz-transport"
    assert {r["origin_zone"] for r in run["od_zone_top"]} <= {"west", "east", SUPPRESSED} and run["od_zone_top"]
    top = run["od_stop_top"]
    assert top and top[0]["journeys"] >= top[-1]["journeys"]
    jobs.wait_idle(60)
    for key in ("od_stop", "od_zone"):
        ds = call_as(None, "dataset_show", {"id": pub[f"{key}_dataset"]})
        assert ds["opening_class"] == "无条件开放"
        deadline = time.monotonic() + 120
        while call_as("steward", "resource_show", {"id": pub[f"{key}_resource_id"]}).get("load_state"):
            assert time.monotonic() < deadline
            time.sleep(0.2)
            jobs.wait_idle(10)
        found = call_as(None, "datastore_search", {"resource_id": pub[f"{key}_resource_id"], "limit": 5})
        assert found["total"] > 0
        assert set(found["records"][0]) >= {"band", "journeys"}
    zone_total = call_as(None, "datastore_search", {"resource_id": pub["od_zone_resource_id"], "limit": 1000})
    assert sum(int(r["journeys"]) for r in zone_total["records"]) == sum(r["journeys"] for r in run["od_zone_top"])


def test_no_open_od_row_below_the_threshold(sqlite_demo_store: Any, finished: dict[str, Any]) -> None:
    """In every open OD dataset (district, stop, zone) no row that names a place has fewer journeys than
    CITYHUB_TRANSIT_OD_MIN_COUNT; the suppressed journeys are still counted (the totals are the true ones)."""
    from cityhub import jobs
    from cityhub.settings import get_settings

    sqlite_demo_store.activate()
    k = get_settings().transit_od_min_count
    assert k == 10
    run, pub = finished["run"], finished["run"]["published"]
    disclosure = run["report"]["disclosure"]
    assert disclosure["min_count"] == k
    assert disclosure["od_stop"]["journeys_suppressed"] > 0  # a 3,000-tap day has small stop cells: the rule bites
    jobs.wait_idle(60)
    for key, (origin, destination) in {"od": ("origin_district", "destination_district"),
                                       "od_stop": ("origin_stop", "destination_stop"),
                                       "od_zone": ("origin_zone", "destination_zone")}.items():
        rid = pub[f"{key}_resource_id"]
        deadline = time.monotonic() + 120
        while call_as("steward", "resource_show", {"id": rid}).get("load_state"):
            assert time.monotonic() < deadline
            time.sleep(0.2)
            jobs.wait_idle(10)
        found = call_as(None, "datastore_search", {"resource_id": rid, "limit": 10000})
        records = found["records"]
        assert found["total"] == len(records) > 0
        for r in records:
            if r[origin] != SUPPRESSED:  # a place is named: the cell, or the origin's "other destinations"
                assert int(r["journeys"]) >= k, (key, r)
            else:                        # the band's remainder names no place
                assert r[destination] == SUPPRESSED
        name = "od_district" if key == "od" else key
        assert sum(int(r["journeys"]) for r in records) == disclosure[name]["journeys"]
    assert all(r["journeys"] >= k for r in run["od_stop_top"] if r["origin_stop"] != SUPPRESSED)


def test_bad_zones_are_refused_before_a_run_starts(sqlite_demo_store: Any) -> None:
    from tests.transit.test_zones import box, collection, feature

    sqlite_demo_store.activate()
    with pytest.raises(NotAuthenticated):   # access first, then the input
        call_as(None, "transit_run_start", {"taps": 3000, "zones": "not json"})
    for bad in ("not json", collection(feature([box(500000, 2500000, 510000, 2510000)])),
                collection(feature([box(0, 0, 1, 1)], id="a"), feature([box(2, 2, 3, 3)], id="a"))):
        with pytest.raises(ValidationError) as exc:
            call_as("steward", "transit_run_start", {"taps": 3000, "zones": bad})
        assert "zones" in exc.value.fields
    with pytest.raises(ValidationError):    # bounded size
        call_as("steward", "transit_run_start", {"taps": 3000, "zones": "x" * 2_000_001})
