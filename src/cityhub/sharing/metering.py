"""Metering of exchange calls: each call is counted in memory on the request path (no database write there)
and the ``exchange_call_flush`` job writes the buffered calls every second (and once more when the process
stops); the usage report flushes its own process's buffer first, so it includes every call this process served.

Each buffered call remembers the database it belongs to, so a process that switches stores (tests run SQLite and
PostgreSQL stores one after the other) writes every call into its own store.
"""

from __future__ import annotations

import datetime as dt
import threading
from typing import Any

from cityhub.db import SH, utcnow
from cityhub.settings import get_settings

#: calls kept in memory before a request flushes them itself (a stalled job never grows the buffer unbounded)
MAX_PENDING = 50_000

_pending: list[tuple[str, dict[str, Any]]] = []
_lock = threading.Lock()


def month_of(at: dt.datetime) -> str:
    """The call's month in Asia/Shanghai, ``2026-12``."""
    return at.astimezone(SH).strftime("%Y-%m")


def _store() -> str:
    return get_settings().resolved_database_url


def record(*, system_id: int, consumer_department_id: int, provider_department_id: int, grant_id: int | None,
           resource_id: str, action: str, status: str, rows: int, size: int, ms: float) -> bool:
    """Count one call; True when the buffer is full and the caller should flush it."""
    at = utcnow()
    row = {"at": at, "month": month_of(at), "system_id": system_id, "consumer_department_id": consumer_department_id,
           "provider_department_id": provider_department_id, "grant_id": grant_id, "resource_id": resource_id,
           "action": action, "status": status[:20], "rows": int(rows), "bytes": int(size), "ms": round(ms)}
    store = _store()
    with _lock:
        _pending.append((store, row))
        if len(_pending) > 2 * MAX_PENDING:  # another store's calls nobody flushes: the oldest go
            del _pending[: len(_pending) - 2 * MAX_PENDING]
        return len(_pending) >= MAX_PENDING


def drain() -> list[dict[str, Any]]:
    """The buffered calls of the current store (the others stay for their store)."""
    store = _store()
    with _lock:
        mine = [row for s, row in _pending if s == store]
        _pending[:] = [(s, row) for s, row in _pending if s != store]
    return mine


def put_back(rows: list[dict[str, Any]]) -> None:
    """Calls a failed flush could not write: kept for the next one."""
    store = _store()
    with _lock:
        _pending[:0] = [(store, row) for row in rows]
