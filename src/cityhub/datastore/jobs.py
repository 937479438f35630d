"""The datastore's background jobs: loads run in a fair pool (round-robin across departments, so one
department's queue of big workbooks cannot hold back another department's file) sized to the machine, and
loads a stopped process left behind are marked failed before the server starts."""

from __future__ import annotations

import os
import re
from typing import Any

from cityhub import actions, jobs
from cityhub.context import system_context
from cityhub.settings import get_settings

MAX_AUTO_WORKERS = 16
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(i?)B?\s*$", re.I)


def size_bytes(text: str) -> int | None:
    """``"1GB"``, ``"512MiB"``, ``"2g"`` → bytes (DuckDB's memory-limit spelling); ``None`` when unreadable."""
    m = _SIZE.match(text)
    if not m:
        return None
    power = " KMGT".index(m.group(2).upper() or " ")
    return int(float(m.group(1)) * ((1024 if m.group(3) else 1000) ** power))


def physical_memory() -> int | None:
    """Bytes of RAM (``None`` where the platform does not say)."""
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def load_workers() -> int:
    """Concurrent loads per process: ``CITYHUB_LOAD_WORKERS``, or when 0 one per CPU (at least two, so one big
    file never holds the only worker), as many as half the memory allows at ``CITYHUB_DATASTORE_MEMORY_LIMIT``
    each, at most 16 and at least one."""
    settings = get_settings()
    if settings.load_workers > 0:
        return settings.load_workers
    by_cpu = max(2, os.cpu_count() or 1)
    per_load = size_bytes(settings.datastore_memory_limit) or (1 << 30)
    memory = physical_memory()
    by_memory = max(1, (memory // 2) // per_load) if memory else by_cpu
    return max(1, min(by_cpu, by_memory, MAX_AUTO_WORKERS))


def run_load_job(version_id: int) -> dict[str, Any]:
    result: dict[str, Any] = actions.call("datastore_load_run", system_context("job"), {"version_id": version_id})
    return result


def recover() -> dict[str, Any]:
    """Loads a stopped process left queued or running are marked failed."""
    result: dict[str, Any] = actions.call("datastore_recover", system_context("job"), {})
    return result


def _recover_at_startup() -> str | None:
    failed = recover()["failed"]
    return f"{failed} interrupted datastore loads marked failed" if failed else None


jobs.pool("datastore_load", workers=load_workers, fair=True)
jobs.register("datastore_load", run_load_job, pool="datastore_load")
jobs.at_startup("datastore_recover", _recover_at_startup)
