"""Metering of exchange calls: each call is counted in memory on the request path (no database write there)
and the ``exchange_call_flush`` job writes the buffered calls every second (and once more when the process
stops); the usage report flushes its own process's buffer first, so it includes every call this process served.

The same flush appends one record per call to the tamper-evident audit log (``cityhub.audit``: system, grant(s),
resource, rows returned, outcome, the call's own time, source and channel), all in the one transaction that
writes the calls: the hot path pays no Merkle append and no database write, the audit head's row lock is taken
once a second rather than once per call, and a call is in ``exchange_call`` if and only if it is in the audit
log. A call is in neither until the flush after it (at most about a second; a process killed outright loses
the calls of its last second from both, as it would lose a call it had not answered yet).

Each buffered call remembers the database it belongs to, so a process that switches stores (tests run SQLite and
PostgreSQL stores one after the other) writes every call into its own store.
"""

from __future__ import annotations

import datetime as dt
import threading
from typing import Any

from cityhub.db import SH, utcnow
from cityhub.settings import get_settings

#: the key of a buffered call's audit-only facts (not a column of ``exchange_call``)
AUDIT = "_audit"

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
           resource_id: str, action: str, status: str, rows: int, size: int, ms: float, client: str = "",
           source: str = "-", via: str = "exchange", grant_ids: tuple[int, ...] = ()) -> bool:
    """Count one call; True when the buffer is full and the caller should flush it. ``client`` (the system's
    ``<department>/<code>``), ``source``, ``via`` and ``grant_ids`` (every grant the call read through) go to the
    call's audit record only (``AUDIT``)."""
    at = utcnow()
    row = {"at": at, "month": month_of(at), "system_id": system_id, "consumer_department_id": consumer_department_id,
           "provider_department_id": provider_department_id, "grant_id": grant_id, "resource_id": resource_id,
           "action": action, "status": status[:20], "rows": int(rows), "bytes": int(size), "ms": round(ms),
           AUDIT: {"client": client, "source": source, "via": via, "grant_ids": list(grant_ids)}}
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
