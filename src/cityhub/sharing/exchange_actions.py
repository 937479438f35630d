"""Exchange actions (issue 12): registered systems read shared resources, every call is metered.

* ``exchange_search`` -- ``datastore_search`` for a system, inside the scope of its grant (or the whole table of
  an unconditionally shared resource); every datastore parameter works (filters, q, fields, sort, distinct,
  totals, cursor, records formats) and can reach no column or row outside the grant.
* ``exchange_sql`` -- ``datastore_search_sql`` for a system: the resource id is the only table name that
  resolves, to the scoped view; another resource looks absent.
* ``exchange_usage_show`` -- usage reports: per month (city-wide: the plan's records exchanged), per consumer
  department, per provider department, per grant.
* ``exchange_call_flush`` -- the job writing the metered calls buffered in memory (``metering``), with one
  tamper-evident audit record per call (system, grant(s), resource, rows returned) in the same transaction.

Authentication and authorization run on every call (``exchange_auth``: credentials, grant in force); a decision
is reused only while the database's change counter (migration 0023) is unchanged and its grants have not expired,
so a revocation or an expiry holds from the next call on, in every worker. The datastore actions are
called with the grant's ``GrantedRead`` in ``ctx.extra`` and apply it to every query.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pydantic_core
from sqlalchemy import case, func, insert, select

from cityhub import actions, audit
from cityhub.accounts.models import Department
from cityhub.actions import action
from cityhub.context import Context
from cityhub.datastore.query.grants import GRANTED_READ, GrantedRead
from cityhub.errors import CityHubError
from cityhub.sharing import exchange_auth as auth
from cityhub.sharing import exchange_schemas as s
from cityhub.sharing import metering
from cityhub.sharing.exchange_models import ExchangeCall

USAGE_ROLES = frozenset({"platform_admin", "dept_admin", "steward", "analyst", "auditor"})


def _rows_and_bytes(out: dict[str, Any]) -> tuple[int, int]:
    records = out.get("records")
    if isinstance(records, str):  # csv / tsv
        return records.count("\n"), len(records.encode("utf-8"))
    if isinstance(records, list):  # the records' compact UTF-8 JSON size (pydantic-core's encoder: no Python per value)
        return len(records), len(pydantic_core.to_json(records, fallback=str))
    return 0, 0


def _metered(ctx: Context, name: str, rid: str, run: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """Run the datastore call and count it (also when it fails after the caller was let in)."""
    caller = auth.caller_of(ctx)
    granted = ctx.extra.get(GRANTED_READ)
    grant_id = granted.grant_id if isinstance(granted, GrantedRead) else None
    grant_ids = granted.grant_ids if isinstance(granted, GrantedRead) else ()
    provider = int(ctx.extra.get(auth.PROVIDER) or caller.department_id)
    t0 = time.perf_counter()
    status, rows, size = "ok", 0, 0
    try:
        out = run()
        rows, size = _rows_and_bytes(out)
        out["grant_id"] = grant_id
        if len(grant_ids) > 1:  # several grants read together (``exchange_auth.authorize_read``)
            out["grant_ids"] = list(grant_ids)
        return out
    except CityHubError as exc:
        status = f"error:{exc.status}"
        raise
    finally:
        full = metering.record(system_id=caller.system_id, consumer_department_id=caller.department_id,
                               provider_department_id=provider, grant_id=grant_id, resource_id=rid, action=name,
                               status=status, rows=rows, size=size, ms=(time.perf_counter() - t0) * 1000,
                               client=caller.client, source=ctx.source, via=ctx.via,
                               grant_ids=grant_ids or ((grant_id,) if grant_id is not None else ()))
        if full:
            flush_pending()


@action(auth.exchange_search, schema=s.ExchangeSearchIn, target=lambda p, r: p.resource_id)
def exchange_search(ctx: Context, p: s.ExchangeSearchIn) -> dict[str, Any]:
    """Rows of a shared resource for a registered system, within its grant (``datastore_search`` parameters)."""
    # the validated input as it is: an ExchangeSearchIn is a SearchIn (grant_id aside, which datastore_search
    # never reads), so the nested call neither dumps nor validates it again
    return _metered(ctx, "exchange_search", p.resource_id, lambda: actions.call("datastore_search", ctx, p))


@action(auth.exchange_sql, schema=s.ExchangeSqlIn, target=lambda p, r: p.resource_id)
def exchange_sql(ctx: Context, p: s.ExchangeSqlIn) -> dict[str, Any]:
    """One read-only SELECT over a shared resource (named by its id) for a registered system, within its grant."""
    data = {"sql": p.sql, "row_cap": p.row_cap}
    return _metered(ctx, "exchange_sql", p.resource_id, lambda: actions.call("datastore_search_sql", ctx, data))


#: one flush at a time per process: a flush drains the buffer before its commit, so a reader that flushes to see
#: every call so far (``exchange_usage_show``) waits for a flush under way (the job's) instead of finding the buffer
#: empty and reading before that flush's rows are committed
_flushing = threading.Lock()


def flush_pending() -> int:
    """Write this process's buffered calls now (in their own transaction); returns once every call buffered before
    it is committed, whichever flush wrote it."""
    from cityhub.context import system_context

    with _flushing:
        result: dict[str, Any] = actions.call("exchange_call_flush", system_context("job"), {})
    return int(result["written"])


def _audit_calls(ctx: Context, rows: list[dict[str, Any]]) -> None:
    """One audit record per call, in the flush's transaction (the audit head is locked once for all of them):
    the action, the resource as target, the system as actor, the call's own source and channel; the detail holds
    the system, the grant(s), the rows and bytes returned and the call's time (the record's own time is the
    flush's)."""
    for row in rows:
        facts = row.get(metering.AUDIT) or {}
        call_ctx = Context(actor=None, source=str(facts.get("source") or "-"), via=str(facts.get("via") or "exchange"))
        detail = {"system_id": row["system_id"], "client": facts.get("client", ""), "grant_id": row["grant_id"],
                  "grant_ids": facts.get("grant_ids") or [], "resource_id": row["resource_id"], "rows": row["rows"],
                  "bytes": row["bytes"], "ms": row["ms"], "at": row["at"].isoformat(),
                  "consumer_department_id": row["consumer_department_id"],
                  "provider_department_id": row["provider_department_id"]}
        outcome = "success" if row["status"] == "ok" else row["status"]
        audit.record(ctx.db, call_ctx, row["action"], row["resource_id"], outcome, detail,
                     actor=str(facts.get("client") or f"system:{row['system_id']}"))


@action(auth.exchange_call_flush, schema=s.Empty)
def exchange_call_flush(ctx: Context, p: s.Empty) -> dict[str, Any]:
    """Write the exchange calls counted in memory into ``exchange_call`` (the metering job, every second) and
    append one audit record per call to the tamper-evident audit log, in one transaction."""
    rows = metering.drain()
    if not rows:
        return {"written": 0}
    # a flush that fails, here or at the commit (the audit records are written then), keeps the calls for the next
    ctx.extra.setdefault("on_rollback", []).append(lambda: metering.put_back(rows))
    ctx.db.execute(insert(ExchangeCall), [{k: v for k, v in row.items() if k != metering.AUDIT} for row in rows])
    _audit_calls(ctx, rows)
    ctx.db.flush()
    return {"written": len(rows)}


def _dept_names(ctx: Context, ids: set[int]) -> dict[int, dict[str, str]]:
    if not ids:
        return {}
    return {d.id: {"slug": d.slug, "name": d.name, "name_en": d.name_en}
            for d in ctx.db.scalars(select(Department).where(Department.id.in_(ids)))}


@action(auth.exchange_usage_show, schema=s.ExchangeUsageIn, roles=USAGE_ROLES)
def exchange_usage_show(ctx: Context, p: s.ExchangeUsageIn) -> dict[str, Any]:
    """Exchange usage: calls, records and bytes per month (city-wide, the plan's indicator), per consumer and per
    provider department and per grant. Department users see their own department's calls (either side)."""
    written = flush_pending()  # this process's calls so far are in the report
    assert ctx.actor is not None
    department_id = p.department_id
    if department_id is None and ctx.actor.role not in ("platform_admin", "auditor"):
        department_id = ctx.actor.department_id
    conds = []
    if p.month_from:
        conds.append(ExchangeCall.month >= p.month_from)
    if p.month_to:
        conds.append(ExchangeCall.month <= p.month_to)
    if department_id is not None:
        conds.append((ExchangeCall.consumer_department_id == department_id)
                     | (ExchangeCall.provider_department_id == department_id))
    if p.grant_id is not None:
        conds.append(ExchangeCall.grant_id == p.grant_id)
    calls = func.count(ExchangeCall.id)
    records = func.coalesce(func.sum(ExchangeCall.rows), 0)
    size = func.coalesce(func.sum(ExchangeCall.bytes), 0)
    errors = func.coalesce(func.sum(case((ExchangeCall.status != "ok", 1), else_=0)), 0)

    def grouped(*keys: Any) -> list[Any]:
        q = select(*keys, calls, records, size, errors).where(*conds)
        if keys:
            q = q.group_by(*keys).order_by(*keys)
        return list(ctx.db.execute(q).all())

    def numbers(row: Any, at: int) -> dict[str, int]:
        return {"calls": int(row[at]), "records": int(row[at + 1]), "bytes": int(row[at + 2]),
                "errors": int(row[at + 3])}

    (total,) = grouped()
    by_month = [{"month": r[0], **numbers(r, 1)} for r in grouped(ExchangeCall.month)]
    consumers = grouped(ExchangeCall.consumer_department_id)
    providers = grouped(ExchangeCall.provider_department_id)
    names = _dept_names(ctx, {int(r[0]) for r in consumers} | {int(r[0]) for r in providers})
    by_grant = [{"grant_id": r[0], "resource_id": r[1], **numbers(r, 2)}
                for r in grouped(ExchangeCall.grant_id, ExchangeCall.resource_id)]
    return {
        "month_from": p.month_from, "month_to": p.month_to, "department_id": department_id,
        "grant_id": p.grant_id, "flushed": written,
        "total": numbers(total, 0),
        "by_month": by_month,
        "by_consumer": sorted(({"department_id": int(r[0]), **names.get(int(r[0]), {}), **numbers(r, 1)}
                               for r in consumers), key=lambda x: -x["records"]),
        "by_provider": sorted(({"department_id": int(r[0]), **names.get(int(r[0]), {}), **numbers(r, 1)}
                               for r in providers), key=lambda x: -x["records"]),
        "by_grant": sorted(by_grant, key=lambda x: -x["records"]),
    }
