"""The exchange API (issue 12): registered systems of departments read shared resources, within their grants.

``/api/exchange/{resource_id}/search`` (GET with query parameters as the native datastore search, or POST with
a JSON body of ``datastore_search`` parameters) and ``/api/exchange/{resource_id}/sql`` (GET ``?sql=`` or POST
``{"sql": …}``). Every call carries ``X-Road-Client: <department>/<system code>`` and
``Authorization: Bearer <system token>``; the actions check both and the grant on every call (deny by default)
and meter it. Errors have the one JSON error shape. ``/api/v1/exchange/usage`` is the usage report for signed-in
users (the data office city-wide, departments their own calls).
"""

from __future__ import annotations

import asyncio
import functools
import json
from typing import Any

import anyio
import anyio.to_thread
from fastapi import APIRouter, Body, Query, Request, Response

from cityhub import actions
from cityhub.context import Context
from cityhub.errors import ValidationError
from cityhub.settings import get_settings
from cityhub.sharing.exchange_schemas import CLIENT, TOKEN
from cityhub.web import openapi as o
from cityhub.web.deps import call, client_ip, token_from_header
from cityhub.web.openapi import Record, ok

router = APIRouter(tags=["exchange"], generate_unique_id_function=o.operation_id)

CLIENT_HEADER = "x-road-client"


class ExchangeUsage(Record):
    """Exchange usage: calls, records, bytes and failed calls, in total and per month, department and grant."""

    month_from: str | None
    month_to: str | None
    department_id: int | None
    grant_id: int | None
    flushed: int
    total: dict[str, int]
    by_month: list[dict[str, Any]]
    by_consumer: list[dict[str, Any]]
    by_provider: list[dict[str, Any]]
    by_grant: list[dict[str, Any]]


def _system_ctx(request: Request) -> Context:
    """A context with the calling system's credentials for the exchange actions to check (no user)."""
    ctx = Context(actor=None, source=client_ip(request), via="exchange")
    ctx.extra[CLIENT] = request.headers.get(CLIENT_HEADER)
    ctx.extra[TOKEN] = token_from_header(request)
    return ctx


def _run(request: Request, response: Response, name: str, data: dict[str, Any]) -> Any:
    response.headers["Cache-Control"] = "no-store"  # every answer is for one system only
    ctx = _system_ctx(request)
    if not ctx.extra[CLIENT] or not ctx.extra[TOKEN]:
        # no credentials at all: the action refuses (and audits) that before it looks at the rest of the input
        data = {"resource_id": str(data.get("resource_id"))[:36], **({"sql": "SELECT 1"} if name == "exchange_sql" else {})}
    return actions.call(name, ctx, data)


#: (threads, event loop) -> the limiter of the exchange searches (``exchange_search_threads``)
_limiters: dict[tuple[int, int], anyio.CapacityLimiter] = {}


def _search_limiter() -> anyio.CapacityLimiter | None:
    n = get_settings().exchange_search_threads
    if n <= 0:
        return None
    key = (n, id(asyncio.get_running_loop()))
    found = _limiters.get(key)
    if found is None:
        if len(_limiters) > 16:  # event loops of tests come and go
            _limiters.clear()
        found = _limiters[key] = anyio.CapacityLimiter(n)
    return found


async def _search(request: Request, response: Response, data: dict[str, Any]) -> Any:
    """``exchange_search`` on a thread of its own small pool (``exchange_search_threads``): waiting calls queue in
    arrival order instead of all contending for the interpreter lock (the latency tail under load)."""
    return await anyio.to_thread.run_sync(functools.partial(_run, request, response, "exchange_search", data),
                                          limiter=_search_limiter())


def _json_param(raw: str | None, name: str) -> Any:
    if not raw:
        return None
    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        raise ValidationError(f"{name} 须为 JSON", f"{name} must be JSON", fields={name: ["invalid JSON"]}) from None


@router.get("/api/exchange/{resource_id}/search", summary="Rows of a shared resource for a registered system",
            responses=ok(o.DatastoreRows, 403, 404))
async def search_get(request: Request, response: Response, resource_id: str,
               filters: str | None = Query(None, max_length=10000, description="JSON object column → value or list"),
               q: str | None = Query(None, max_length=1000), fields: str | None = Query(None, max_length=10000),
               sort: str | None = Query(None, max_length=1000), limit: int = Query(100, ge=0, le=o.MAX_OFFSET),
               offset: int = Query(0, ge=0, le=o.MAX_OFFSET), include_total: bool = True, distinct: bool = False,
               cursor: str | None = Query(None, max_length=100),
               records_format: str = Query("objects", pattern="^(objects|lists|csv|tsv)$"),
               grant_id: int | None = Query(None, ge=1, le=o.MAX_ID)) -> Any:
    return await _search(request, response, {
        "resource_id": resource_id, "filters": _json_param(filters, "filters") or {}, "q": q,
        "fields": [f.strip() for f in fields.split(",") if f.strip()] if fields else None, "sort": sort,
        "limit": limit, "offset": offset, "include_total": include_total, "distinct": distinct, "cursor": cursor,
        "records_format": records_format, "grant_id": grant_id})


@router.post("/api/exchange/{resource_id}/search", summary="Rows of a shared resource (datastore_search body)",
             responses=ok(o.DatastoreRows, *o.body_errors(403, 404)))
async def search_post(request: Request, response: Response, resource_id: str,
                      body: dict[str, Any] = Body(default_factory=dict)) -> Any:
    return await _search(request, response, {**body, "resource_id": resource_id})


@router.get("/api/exchange/{resource_id}/sql", summary="One SELECT over a shared resource (its id as table name)",
            responses=ok(o.QueryResult, 403, 404))
def sql_get(request: Request, response: Response, resource_id: str,
            sql: str = Query(..., max_length=20000), row_cap: int = Query(10000, ge=1, le=100000),
            grant_id: int | None = Query(None, ge=1, le=o.MAX_ID)) -> Any:
    return _run(request, response, "exchange_sql",
                {"resource_id": resource_id, "sql": sql, "row_cap": row_cap, "grant_id": grant_id})


@router.post("/api/exchange/{resource_id}/sql", summary="One SELECT over a shared resource (JSON body)",
             responses=ok(o.QueryResult, *o.body_errors(403, 404)))
def sql_post(request: Request, response: Response, resource_id: str,
             body: dict[str, Any] = Body(default_factory=dict)) -> Any:
    return _run(request, response, "exchange_sql", {**body, "resource_id": resource_id})


@router.get("/api/v1/exchange/usage", summary="Exchange usage: per month, department (consumer, provider), grant",
            responses=ok(ExchangeUsage, 403))
def usage(request: Request, month_from: str | None = Query(None, max_length=7),
          month_to: str | None = Query(None, max_length=7),
          department_id: int | None = Query(None, ge=1, le=o.MAX_ID),
          grant_id: int | None = Query(None, ge=1, le=o.MAX_ID)) -> Any:
    return call(request, "exchange_usage_show", {"month_from": month_from, "month_to": month_to,
                                                 "department_id": department_id, "grant_id": grant_id}, via="api")
