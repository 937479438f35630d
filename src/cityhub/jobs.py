"""Background jobs: plain functions that call actions, run by the web process or the CLI."""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from cityhub import actions
from cityhub.context import system_context


def flush_usage() -> dict[str, Any]:
    result: dict[str, Any] = actions.call("usage_flush", system_context("job"), {})
    return result


_loads: ThreadPoolExecutor | None = None


def _executor() -> ThreadPoolExecutor:
    """One load at a time per process: each load already uses the configured DuckDB threads."""
    global _loads
    if _loads is None:
        _loads = ThreadPoolExecutor(max_workers=1, thread_name_prefix="cityhub-load")
    return _loads


def submit_load(version_id: int) -> Future[Any]:
    return _executor().submit(run_load_job, version_id)


def run_load_job(version_id: int) -> dict[str, Any]:
    result: dict[str, Any] = actions.call("datastore_load_run", system_context("job"), {"version_id": version_id})
    return result


def recover() -> dict[str, Any]:
    """At start-up: loads a stopped process left queued or running are marked failed."""
    result: dict[str, Any] = actions.call("datastore_recover", system_context("job"), {})
    return result


_harvests: ThreadPoolExecutor | None = None


def submit_harvest(run_id: int) -> Future[Any]:
    """Queue a harvest run (one at a time per process, apart from datastore loads)."""
    global _harvests
    if _harvests is None:
        _harvests = ThreadPoolExecutor(max_workers=1, thread_name_prefix="cityhub-harvest")
    return _harvests.submit(run_harvest_job, run_id)


def run_harvest_job(run_id: int) -> dict[str, Any]:
    from cityhub.harvest.actions import harvester_context

    result: dict[str, Any] = actions.call("harvest_job_run", harvester_context(), {"id": run_id})
    return result


def harvest_due() -> dict[str, Any]:
    """Start the harvest sources whose schedule is due (the web process calls this periodically)."""
    result: dict[str, Any] = actions.call("harvest_due", system_context("job"), {})
    return result


def wait_idle(timeout: float = 120.0) -> None:
    """Wait until every submitted load has finished (tests, scripts)."""
    for pool in (_loads, _harvests):
        if pool is not None:
            pool.submit(lambda: None).result(timeout=timeout)
