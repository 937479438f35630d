"""The demo's "data updated" dates survive its own datastore loads (some datasets are meant to be overdue), while
a steward's new upload still dates the data now."""

from __future__ import annotations

import datetime as dt
import io
from typing import Any

from cityhub import jobs
from cityhub.catalog import quality
from cityhub.catalog.schemas import UploadedFile
from cityhub.catalog.vocab import UPDATE_CYCLES
from cityhub.demo import content
from tests.conftest import Store, call_as, dataset_payload

CSV = "站点,所属区,数值\n" + "".join(f"站点{i},天河区,{i}\n" for i in range(20))


def _when(value: str | None) -> dt.datetime:
    assert value is not None, "a demo dataset came back without this date"
    return dt.datetime.fromisoformat(value)


def test_loading_the_demo_keeps_its_dates_and_its_overdue_datasets(demo: Store) -> None:
    demo_content = content.load(content.today())
    now = dt.datetime.now(dt.UTC)
    meant_overdue, shown_overdue, checked, loaded = set(), set(), 0, 0
    for ds in demo_content.datasets:
        got = call_as("admin", "dataset_show", {"id": ds.slug})
        assert got["resources"], ds.slug
        loaded += any(r["datastore_active"] for r in got["resources"])  # a table, loaded by the datastore
        meant = demo_content.data_updated(ds, now)
        updated = _when(got["data_updated_at"])
        # the load happened earlier in this session: the dates relative to "now" moved by as much, no more
        assert abs(updated - meant) < dt.timedelta(hours=1), f"{ds.slug}: data updated {updated}, meant {meant}"
        fresh = quality.freshness(UPDATE_CYCLES.get(ds.update_cycle), meant, now)
        if fresh.due is not None and abs(now - (fresh.due + quality.GRACE)) < dt.timedelta(hours=2):
            continue  # on the edge of being due: either answer is right
        checked += 1
        if fresh.overdue:
            meant_overdue.add(ds.slug)
        if got["quality"]["overdue"]:
            shown_overdue.add(ds.slug)
    assert checked >= 80 and loaded >= 80
    assert meant_overdue, "the demo means some datasets to be overdue"
    assert shown_overdue == meant_overdue
    stats = call_as(None, "portal_stats", {})
    assert stats["overdue_datasets"] >= len({s for s in meant_overdue if demo_content.dataset[s].is_open})


def test_a_stewards_upload_dates_the_data_and_a_reload_does_not(demo: Store) -> None:
    ds = call_as("steward", "dataset_create", dataset_payload(update_cycle="每月"))["name"]
    long_ago = dt.datetime.now(dt.UTC) - dt.timedelta(days=100)
    res = call_as("steward", "resource_create", {"dataset": ds, "upload": UploadedFile("a.csv", io.BytesIO(CSV.encode())),
                                                 "last_modified": long_ago.isoformat()})
    jobs.wait_idle()
    rid = res["id"]

    def shown() -> dict[str, Any]:
        out: dict[str, Any] = call_as("steward", "dataset_show", {"id": ds})
        return out

    got = shown()
    assert got["resources"][0]["datastore_active"]
    assert abs(_when(got["data_updated_at"]) - long_ago) < dt.timedelta(seconds=2)  # the load kept the given date
    assert got["quality"]["overdue"] and got["quality"]["days_overdue"] >= 60

    # loading the same file again (new column types, a failed load fixed) is not new data
    call_as("steward", "datastore_create", {"resource_id": rid, "wait": True})
    jobs.wait_idle()
    assert abs(_when(shown()["data_updated_at"]) - long_ago) < dt.timedelta(seconds=2)

    # a new table uploaded to the datastore is new data
    before = dt.datetime.now(dt.UTC)
    job = call_as("steward", "datastore_create", {"resource_id": rid, "wait": True,
                                                  "upload": UploadedFile("b.csv", io.BytesIO(CSV.encode()))})
    jobs.wait_idle()
    assert call_as("steward", "datastore_job_show", {"version_id": job["id"]})["status"] == "complete"
    got = shown()
    assert _when(got["data_updated_at"]) >= before - dt.timedelta(seconds=1) and not got["quality"]["overdue"]
