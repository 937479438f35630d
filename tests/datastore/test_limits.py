"""Every datastore query is bounded by the engine (issue 9, the two High findings on queries): time, memory,
answer bytes, spill disk and the number of queries running at once. The attack queries of the review are
replayed with small limits so they end fast; peak memory is measured in a separate process."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from cityhub import jobs
from cityhub.catalog.schemas import UploadedFile
from cityhub.datastore.actions import query_limits
from cityhub.datastore.query import Limits, QueryError, TableRef, aggregate, column_stats, export, search
from cityhub.datastore.query.engine import query_slot
from tests.conftest import Store, call_as, open_dataset
from tests.datastore.test_query import write_range_table

ROOT = Path(__file__).resolve().parents[2]

# Runs the attack queries through run_sql in a fresh process (the "server") and reports, per query, the
# outcome and seconds, then the peak RSS of the process itself and of its (reaped) SQL worker processes.
ATTACKS = r"""
import json, resource, sys, time
from cityhub import jobs
from cityhub.catalog.schemas import UploadedFile
from cityhub.datastore.actions import query_limits
from cityhub.datastore.query import Limits, QueryError, run_sql
from cityhub.datastore.query import sql as sqlmod
out = []
for sql, lim in json.loads(sys.argv[1]):
    t0 = time.monotonic()
    try:
        r = run_sql(sql, lambda name: None, limits=Limits(**lim))
        got = {"ok": True, "rows": len(r["records"]), "truncated": r["truncated"], "records": r["records"][:1]}
    except QueryError as e:
        got = {"ok": False, "code": e.code, "message": e.message, "message_en": e.message_en}
    got["seconds"] = time.monotonic() - t0
    out.append(got)
sqlmod.shutdown_workers()
# VmHWM, not ru_maxrss: a process started by fork keeps its parent's (pytest's) resident size in ru_maxrss
hwm = [int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:")][0]
print(json.dumps({"results": out, "self_mb": hwm / 1024,
                  "children_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}))
"""


def run_attacks(cases: list[tuple[str, dict[str, Any]]]) -> dict[str, Any]:
    proc = subprocess.run([sys.executable, "-c", ATTACKS, json.dumps(cases)], capture_output=True, text=True,
                          timeout=300, cwd=ROOT, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_sql_attacks_stop_at_the_limits_and_memory_stays_bounded() -> None:
    """The review's attacks: ``SELECT len(range(300000000))`` (52-71 s, 15-20 GB before), list-producing
    table functions, an uninterruptible list computation, ``SELECT repeat('x',1000000) s FROM range(1000)``
    (a 1 GB answer, 3.1 GB server peak before) and a wide answer past the byte cap. Each ends with a clear
    error within its deadline; the server process stays small and each SQL worker under its kernel cap."""
    mem = {"memory_limit": "256MB", "timeout_s": 5.0, "max_result_bytes": 1 << 20}
    cases = [
        ("SELECT len(range(300000000))", mem),
        ("SELECT * FROM unnest(range(300000000))", mem),
        ("SELECT list(range) FROM range(300000000)", mem),
        ("SELECT repeat('x',1000000) s FROM range(1000)", mem),
        ("SELECT repeat('x',10000) s FROM range(100000)", mem),  # 1 GB in 10 kB rows: the byte cap
        ("SELECT len(list_distinct(range(3000000)))", {**mem, "timeout_s": 0.3}),  # 9 s in one uninterruptible call
        ("SELECT count(*) FROM range(100000000000)", {**mem, "timeout_s": 0.3}),
        ("SELECT * FROM range(100000000000)", mem),  # the row cap
        ("SELECT 42 AS answer", mem),  # and the next query is served
    ]
    got = run_attacks(cases)
    r = got["results"]
    for i in (0, 1, 2, 3):
        assert r[i]["ok"] is False and r[i]["code"] == "too_large", (cases[i][0], r[i])
        assert "内存" in r[i]["message"] and "memory" in r[i]["message_en"]
        assert r[i]["seconds"] < 5, (cases[i][0], r[i])
    assert r[4]["code"] == "too_large" and "1 MB" in r[4]["message_en"] and "1 MB" in r[4]["message"], r[4]
    assert r[4]["seconds"] < 5
    for i in (5, 6):
        assert r[i]["ok"] is False and r[i]["code"] == "timeout", (cases[i][0], r[i])
        assert "0.3" in r[i]["message_en"] and "超时" in r[i]["message"]
        assert r[i]["seconds"] < 0.3 + 0.5 + 1.5, r[i]  # the deadline, the kill grace, scheduling
    assert r[7] == {**r[7], "ok": True, "rows": 10_000, "truncated": True}
    assert r[8]["ok"] is True and r[8]["records"] == [{"answer": 42}]
    # the server never held the data; every worker stayed under memory_limit + 256 MiB (512 MiB here)
    assert got["self_mb"] < 300, got
    assert got["children_mb"] < 512 + 32, got


@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory) -> TableRef:
    return write_range_table(tmp_path_factory.mktemp("limits") / "t1m.parquet", 1_000_000, "res-1m")


def test_answer_bytes_are_capped_for_search_aggregate_and_stats(big: TableRef) -> None:
    small = Limits(max_result_bytes=20_000)
    with pytest.raises(QueryError) as ei:
        search(big, limit=1000, limits=small)
    assert ei.value.code == "too_large" and "19.53 KB" in ei.value.message_en and "上限" in ei.value.message
    assert len(search(big, limit=100, limits=small)["records"]) == 100  # under the cap: served
    with pytest.raises(QueryError) as ei:
        search(big, q="天河区", limit=1000, limits=Limits(max_result_bytes=20_000, timeout_s=60))  # a text search
    assert ei.value.code == "too_large"
    with pytest.raises(QueryError) as ei:
        aggregate(big, group_by=["备注"], limit=10_000, limits=small)
    assert ei.value.code == "too_large"
    with pytest.raises(QueryError) as ei:
        column_stats(big, "备注", limits=Limits(max_result_bytes=100))
    assert ei.value.code == "too_large"


def test_memory_and_spill_disk_are_capped(big: TableRef, tmp_path: Path) -> None:
    """DuckDB memory_limit binds the sorts and hash tables of our queries; with a spill directory they go
    to disk up to max_temp_directory_size, and past it stop cleanly. The directory is gone afterwards."""
    with pytest.raises(QueryError) as ei:
        search(big, distinct=True, fields=["备注"], limit=10, limits=Limits(memory_limit="32MB"))
    assert ei.value.code == "too_large" and "memory" in ei.value.message_en
    spill = tmp_path / "spill"
    with pytest.raises(QueryError) as ei:
        search(big, distinct=True, fields=["备注"], limit=10,
               limits=Limits(memory_limit="32MB", temp_dir=spill, max_temp_bytes=1 << 20))
    assert ei.value.code == "too_large" and "disk" in ei.value.message_en and "磁盘" in ei.value.message
    r = search(big, distinct=True, fields=["备注"], limit=10,
               limits=Limits(memory_limit="32MB", temp_dir=spill, max_temp_bytes=1 << 30, threads=1))
    assert r["total"] == 1_000_000
    assert all(d.name.startswith(f"q-{os.getpid()}-") for d in spill.iterdir())


def test_exports_have_a_time_budget_of_engine_time(big: TableRef) -> None:
    """A streamed export may take as long as the client reads, but DuckDB's own work is budgeted."""
    with pytest.raises(QueryError) as ei:
        for _ in export(big, "csv", sort="备注 desc", limits=Limits(export_timeout_s=0.05)):
            pass
    assert ei.value.code == "timeout" and "0.05" in ei.value.message_en
    chunks = export(big, "csv", fields=["_id"], limits=Limits(export_timeout_s=30), batch_rows=100_000)
    first = next(chunks)
    time.sleep(0.3)  # a slow client: waiting does not count and holds no query slot
    assert sum(len(c) for c in chunks) + len(first) > 1_000_000


def test_a_third_query_waits_then_is_refused_as_busy(big: TableRef, tmp_path: Path) -> None:
    """Two slots: two queries hold them; the third waits queue_wait_s, then gets a clear busy error; once a
    slot is free it runs. The slots are shared across processes through lock files."""
    lim = Limits(slots=2, slots_dir=tmp_path / "slots", queue_wait_s=0.3)
    held = threading.Event()
    release = threading.Event()

    def hold() -> None:
        with query_slot(lim):
            held.set()
            release.wait(10)

    holders = [threading.Thread(target=hold) for _ in range(2)]
    for t in holders:
        t.start()
        held.wait(5)
        held.clear()
    t0 = time.monotonic()
    with pytest.raises(QueryError) as ei:
        search(big, limit=1, limits=lim)
    waited = time.monotonic() - t0
    assert ei.value.code == "busy" and "retry" in ei.value.message_en and "稍后重试" in ei.value.message
    assert 0.25 <= waited < 2, waited
    release.set()
    for t in holders:
        t.join()
    assert search(big, limit=1, limits=lim)["records"][0]["_id"] == 1

    # another process holding both slots (by their lock files) makes this one wait, then refuse
    script = ("import fcntl, os, sys, time\n"
              "fds = [os.open(os.path.join(sys.argv[1], f'slot-{i}.lock'), os.O_RDWR | os.O_CREAT) for i in (0, 1)]\n"
              "[fcntl.flock(fd, fcntl.LOCK_EX) for fd in fds]\nprint('held', flush=True)\ntime.sleep(30)\n")
    other = subprocess.Popen([sys.executable, "-c", script, str(tmp_path / "slots")], stdout=subprocess.PIPE, text=True)
    try:
        assert other.stdout is not None and other.stdout.readline().strip() == "held"
        with pytest.raises(QueryError) as ei:
            search(big, limit=1, limits=lim)
        assert ei.value.code == "busy"
    finally:
        other.kill()
        other.wait()
    assert search(big, limit=1, limits=lim)["records"][0]["_id"] == 1  # the kernel released its locks


@pytest.fixture
def small_limits(monkeypatch: pytest.MonkeyPatch, demo: Store):
    from cityhub.settings import get_settings

    monkeypatch.setenv("CITYHUB_DATASTORE_QUERY_SLOTS", "1")
    monkeypatch.setenv("CITYHUB_DATASTORE_QUEUE_WAIT_S", "0.2")
    monkeypatch.setenv("CITYHUB_DATASTORE_MAX_RESULT_MB", "1")
    get_settings.cache_clear()
    yield
    monkeypatch.undo()
    get_settings.cache_clear()


def test_busy_and_too_large_through_the_apis(app_client: Any, small_limits: None) -> None:
    """Native API: 429 with Retry-After and the bilingual message; CKAN API: 429 with CKAN's envelope. A SQL
    answer past the byte cap is a 409 Validation Error keyed ``query`` (CKAN) / a 422 (native)."""
    ds = open_dataset()
    csv = "a,b\n" + "".join(f"{i},{'x' * 50}\n" for i in range(2000))
    res = call_as("steward", "resource_create",
                  {"dataset": ds["name"], "upload": UploadedFile("t.csv", io.BytesIO(csv.encode()))})
    jobs.wait_idle()
    rid = res["id"]
    with query_slot(query_limits()):
        r = app_client.get(f"/api/v1/resources/{rid}/datastore/search")
        assert r.status_code == 429 and r.headers["retry-after"] == "2"
        body = r.json()["error"]
        assert body["type"] == "too_many_requests" and "稍后重试" in body["message"] and "retry" in body["message_en"]
        c = app_client.get("/api/3/action/datastore_search", params={"resource_id": rid})
        assert c.status_code == 429 and c.json()["success"] is False
    assert app_client.get(f"/api/v1/resources/{rid}/datastore/search").status_code == 200
    big_sql = f'SELECT b || b || b AS c FROM "{rid}", range(20)'
    r = app_client.post("/api/v1/datastore/sql", json={"sql": big_sql})
    assert r.status_code == 422 and "1 MB" in r.json()["error"]["message_en"]
    c = app_client.post("/api/3/action/datastore_search_sql", json={"sql": big_sql})
    assert c.status_code == 409 and "1 MB" in json.dumps(c.json()["error"])
