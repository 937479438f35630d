"""The job runner (``cityhub.jobs``): domains register their kinds, pools and periodic jobs; loads run in a
pool sized to the machine and scheduled fairly across departments."""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cityhub import jobs
from tests.conftest import Store, call_as, dataset_payload


def _recorder() -> tuple[list[str], Any]:
    started: list[str] = []
    lock = threading.Lock()

    def job(name: str, gate: threading.Event | None = None) -> str:
        with lock:
            started.append(name)
        if gate is not None:
            assert gate.wait(30)
        return name

    return started, job


def test_fair_pool_serves_another_key_before_draining_the_first() -> None:
    """One worker: department A's blocker runs, A queues three more, B queues one; B's goes next."""
    pool = jobs.FairPool("test-one", workers=1)
    started, job = _recorder()
    gate = threading.Event()
    first = pool.submit("A", job, "A1", gate)
    deadline = time.monotonic() + 10
    while not started:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    rest = [pool.submit("A", job, f"A{i}") for i in (2, 3, 4)] + [pool.submit("B", job, "B1")]
    assert pool.pending() == {"A": 3, "B": 1}
    gate.set()
    pool.join(30)
    assert first.result() == "A1" and [f.result() for f in rest] == ["A2", "A3", "A4", "B1"]
    assert started == ["A1", "B1", "A2", "A3", "A4"]
    pool.shutdown()


def test_fair_pool_keeps_a_worker_for_the_other_key() -> None:
    """Two workers both busy with A: when one frees, B's single job starts before A's queued ones."""
    pool = jobs.FairPool("test-two", workers=2)
    started, job = _recorder()
    gates = {name: threading.Event() for name in ("A1", "A2")}
    pool.submit("A", job, "A1", gates["A1"])
    pool.submit("A", job, "A2", gates["A2"])
    deadline = time.monotonic() + 10
    while len(started) < 2:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    pool.submit("A", job, "A3")
    pool.submit("A", job, "A4")
    pool.submit("B", job, "B1")
    gates["A1"].set()
    deadline = time.monotonic() + 10
    while len(started) < 3:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert started[2] == "B1"
    gates["A2"].set()
    pool.join(30)
    assert started[3:] == ["A3", "A4"]
    pool.shutdown()


def test_jobs_of_one_serial_key_run_one_at_a_time_in_order() -> None:
    """Two workers, two loads of the same table: the second waits for the first (else the first to finish,
    not the last asked for, would go live), while another table's load takes the free worker."""
    pool = jobs.FairPool("test-serial", workers=2)
    started, job = _recorder()
    gate = threading.Event()
    pool.submit("A", job, "r1-v1", gate, serial="r1")
    pool.submit("A", job, "r1-v2", serial="r1")
    pool.submit("A", job, "r2-v1", serial="r2")
    deadline = time.monotonic() + 10
    while len(started) < 2:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    time.sleep(0.1)  # a wrongly free second load of r1 would have started by now
    assert started == ["r1-v1", "r2-v1"]
    gate.set()
    pool.join(30)
    assert started == ["r1-v1", "r2-v1", "r1-v2"]
    pool.shutdown()


def test_a_failing_job_reports_its_error_and_the_pool_goes_on() -> None:
    pool = jobs.FairPool("test-fail", workers=1)

    def boom() -> None:
        raise ValueError("bad file")

    failed = pool.submit("A", boom)
    after = pool.submit("A", lambda: 42)
    with pytest.raises(ValueError, match="bad file"):
        failed.result(10)
    assert after.result(10) == 42
    pool.shutdown()


def test_wait_idle_waits_for_jobs_that_jobs_submit_to_a_pool_already_passed() -> None:
    """A job in one pool that queues a job in another pool (a dataset rewrite queues its datastore load): wait_idle
    returns only once both have run, whichever pool it looked at first."""
    done: list[str] = []

    def second() -> None:
        time.sleep(0.3)
        done.append("second")

    def first() -> None:
        time.sleep(0.2)
        jobs.submit("test_idle_second")
        done.append("first")

    jobs.pool("test-idle-a", workers=1)
    jobs.pool("test-idle-b", workers=1)
    jobs.register("test_idle_second", second, pool="test-idle-a")
    jobs.register("test_idle_first", first, pool="test-idle-b")
    jobs.submit("test_idle_second")  # starts pool a first: it is looked at before pool b
    jobs.wait_idle(timeout=30)
    done.clear()
    jobs.submit("test_idle_first")
    jobs.wait_idle(timeout=30)
    assert done == ["first", "second"]


def test_domains_register_their_jobs() -> None:
    """The runner imports no domain; the domains' own jobs modules register kinds, pools and periodic jobs."""
    import ast
    from pathlib import Path

    import cityhub.jobs

    tree = ast.parse(Path(cityhub.jobs.__file__).read_text(encoding="utf-8"))
    imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module} | {
        a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    assert not {m for m in imported if m.startswith("cityhub.")}, imported
    names = {p.name for p in jobs.periodic()}
    assert {"usage_flush", "harvest_due"} <= names
    assert [p.at_exit for p in jobs.periodic() if p.name == "usage_flush"] == [True]
    assert {"datastore_load", "harvest_run"} <= set(jobs._KINDS)
    assert jobs._POOL_SPECS["datastore_load"].fair
    with pytest.raises(KeyError, match="unknown job kind"):
        jobs.submit("no_such_job")


def test_load_workers_follow_the_machine(monkeypatch: pytest.MonkeyPatch) -> None:
    from cityhub.datastore import jobs as dj
    from cityhub.settings import get_settings

    monkeypatch.setattr(dj.os, "cpu_count", lambda: 8)
    monkeypatch.setattr(dj, "physical_memory", lambda: 64 << 30)
    get_settings.cache_clear()
    assert dj.load_workers() == 8  # one per CPU when memory allows
    monkeypatch.setattr(dj, "physical_memory", lambda: 6 << 30)
    assert dj.load_workers() == 3  # half of 6 GB at 1 GB a load
    monkeypatch.setattr(dj.os, "cpu_count", lambda: 1)
    monkeypatch.setattr(dj, "physical_memory", lambda: 64 << 30)
    assert dj.load_workers() == 2  # never a single worker that one big file can hold
    monkeypatch.setattr(dj, "physical_memory", lambda: 1 << 30)
    assert dj.load_workers() == 1  # ... unless memory allows only one
    monkeypatch.setenv("CITYHUB_LOAD_WORKERS", "5")
    get_settings.cache_clear()
    assert dj.load_workers() == 5
    monkeypatch.delenv("CITYHUB_LOAD_WORKERS")
    get_settings.cache_clear()
    assert dj.size_bytes("512MiB") == 512 << 20 and dj.size_bytes("2GB") == 2_000_000_000
    assert dj.size_bytes("lots") is None


@pytest.fixture
def one_load_worker(demo: Store, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    from cityhub.settings import get_settings

    jobs.wait_idle()
    jobs.reset()
    monkeypatch.setenv("CITYHUB_LOAD_WORKERS", "1")
    monkeypatch.setenv("CITYHUB_JOBS_INLINE", "false")
    get_settings.cache_clear()
    yield
    jobs.wait_idle()
    jobs.reset()
    monkeypatch.delenv("CITYHUB_LOAD_WORKERS")
    get_settings.cache_clear()


def _hold(gate: threading.Event) -> None:
    assert gate.wait(60)


CSV = ("站点,所属区,数值\n" + "".join(f"站点{i},天河区,{i}\n" for i in range(2000))).encode()


def test_a_departments_load_starts_before_another_departments_queue_drains(one_load_worker: None) -> None:
    """Department A (transport) queues several loads while the only load worker is busy with A's first
    file; department B (ecology) queues one. B's load starts before A's queue has drained (with the single
    worker of before, it started last)."""
    from cityhub.catalog.schemas import UploadedFile

    gate = threading.Event()
    a_dept = str(call_as("system", "department_show", {"slug": "gz-transport"})["id"])
    jobs.register("test_hold", _hold, pool="datastore_load")
    jobs.submit("test_hold", gate, key=a_dept)  # A's big workbook, still loading

    def queue_load(who: str, department: str) -> int:
        ds = call_as(who, "dataset_create", dataset_payload(department=department))
        res = call_as(who, "resource_create", {"dataset": ds["name"], "upload": UploadedFile("t.csv", io.BytesIO(CSV))})
        job: dict[str, Any] = res["datastore_job"]
        return int(job["id"])

    a_loads = [queue_load("steward", "gz-transport") for _ in range(3)]
    b_load = queue_load("eco_steward", "gz-ecology-environment")
    gate.set()
    jobs.wait_idle(timeout=300)
    shown = {v: call_as("system", "datastore_job_show", {"version_id": v}) for v in [*a_loads, b_load]}
    assert all(j["status"] == "complete" for j in shown.values()), shown
    a_starts = sorted(shown[v]["started_at"] for v in a_loads)
    assert shown[b_load]["started_at"] < a_starts[-1]  # before A's queue drained
    assert shown[b_load]["started_at"] < a_starts[0]  # in fact first: A had just been served


def test_a_new_file_is_withheld_until_its_load_and_scan_end(one_load_worker: None) -> None:
    """Issue 9: a file with resident IDs was downloadable between its upload and the end of its load (the scan
    had not run). While its load waits (the only load worker is held), the public cannot list or fetch it; its
    department can. Once loaded, a clean file is served and the one with resident IDs stays withheld."""
    from cityhub.catalog.schemas import UploadedFile
    from cityhub.errors import NotFound
    from tests.conftest import open_dataset
    from tests.test_visibility import PII_CSV

    gate = threading.Event()
    jobs.register("test_hold", _hold, pool="datastore_load")
    jobs.submit("test_hold", gate, key="0")
    ds = open_dataset(opening_class="无条件开放")
    clean = call_as("steward", "resource_create", {"dataset": ds["name"], "upload": UploadedFile("ok.csv", io.BytesIO(CSV))})
    pii = call_as("steward", "resource_create",
                  {"dataset": ds["name"], "upload": UploadedFile("pii.csv", io.BytesIO(PII_CSV.encode()))})
    try:
        for res in (clean, pii):
            with pytest.raises(NotFound):
                call_as(None, "resource_download", {"id": res["id"]})
        assert call_as(None, "dataset_show", {"id": ds["name"]})["resources"] == []
        own = {r["id"]: r for r in call_as("steward", "dataset_show", {"id": ds["name"]})["resources"]}
        assert own[pii["id"]]["load_state"] == "checking" and own[pii["id"]]["withheld"]
    finally:
        gate.set()
    jobs.wait_idle(timeout=300)
    served = call_as(None, "resource_download", {"id": clean["id"]})
    assert Path(served["path"]).read_bytes() == CSV  # the clean file itself, to anyone
    with pytest.raises(NotFound):
        call_as(None, "resource_download", {"id": pii["id"]})
    listed = [r["id"] for r in call_as(None, "dataset_show", {"id": ds["name"]})["resources"]]
    assert listed == [clean["id"]]
    assert call_as("steward", "dataset_show", {"id": ds["name"]})["resources"][1]["load_state"] == "blocked"
