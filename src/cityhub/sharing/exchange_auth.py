"""Authentication and authorization of the exchange actions (same names as the actions). Deny by default.

A call comes from a registered system (``sharing_system``, an X-Road subsystem) that names itself in the header
``X-Road-Client: <department>/<system code>`` (the department by its slug or its unified social credit code) and
proves it with ``Authorization: Bearer <system token>``. The route puts both in ``ctx.extra`` (never in the
action's input, so they reach no log); ``authenticate`` checks them:

* no or malformed header, unknown token, or a token of another system than the header names → 401;
* the system is deactivated → 403.

Then ``authorize_read`` decides what the system may read of the resource:

* 不予共享 → 403; the provider's own systems and 无条件共享 resources → the whole table;
* 有条件共享 → the grants of this system on this resource that are in force (not revoked, not expired), or
  the one named by ``grant_id`` if it is in force; none → 403. One grant's columns and row filter become the scope
  every datastore query of the call runs in (``datastore.query.grants``); several grants (two approved requests
  with different columns or rows) are read together, cell by cell (``query.grants.scoped_union``: the rows of
  any grant; a value shown only where one grant covers both its row and its column, NULL elsewhere; a column of
  no grant refused), see ``docs/sharing.md``. ``grant_id`` reads through that one grant alone.
* Another department's system reads the resource's released de-identified view when it has one
  (``views.released_for_exchange``), with the grant's columns and rows on top; personal-data columns the view's
  policy kept unchanged are left out unless the grant allows personal data. No released view: columns the load
  flagged as personal data are left out unless the grant allows personal data (the datastore applies it with the
  live version's column flags). The provider's own systems read the live table.

A decision (credentials, grants, view, the live version) is cached in the process and reused while the database's
change counter is unchanged (``exchange_change``, bumped by triggers in the same transaction as any change to a
table the decision reads: migration 0023, whoever writes — the actions, another worker, SQL by hand) and the
earliest expiry of the grants it read has not passed (checked in memory on every call). Every call reads the
counter (one primary-key query; on SQLite none while ``PRAGMA data_version`` shows no commit since it was last
read, see ``_FileWatch``); a revocation, a deactivation, a rotated token or an expiry holds from the next
call on, in every worker. Refusals are never cached.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import joinedload

from cityhub.accounts.models import Department
from cityhub.accounts.security import token_hash
from cityhub.catalog.models import Resource
from cityhub.context import Actor, Context
from cityhub.datastore.actions import live_version
from cityhub.datastore.auth import PRESET, Preset
from cityhub.datastore.query.grants import GRANTED_READ, GrantedRead, GrantPart
from cityhub.db import utcnow
from cityhub.errors import NotAuthenticated, NotAuthorized, NotFound
from cityhub.sharing import views
from cityhub.sharing.exchange_models import ExchangeChange
from cityhub.sharing.exchange_schemas import CLIENT, TOKEN
from cityhub.sharing.models import ShareGrant, SharingSystem

CALLER = "exchange_caller"
PROVIDER = "exchange_provider"
LOADED = "exchange_loaded"
MAX_CLIENT = 250
#: grants in force of one system on one resource read together (the newest ones; a bound on the view's size)
MAX_GRANTS_COMBINED = 20
#: decisions cached per process (credentials × resource × grant asked for); all forgotten when full
MAX_CACHED = 4096


@dataclass(frozen=True)
class Caller:
    """The authenticated system of one exchange call."""

    system_id: int
    department_id: int
    client: str  # "<department slug>/<system code>"


def _bad_credentials() -> NotAuthenticated:
    return NotAuthenticated("系统凭证无效（X-Road-Client 与令牌不符或不存在）",
                            "Invalid system credentials (X-Road-Client and token do not match a registered system)")


def authenticate(ctx: Context) -> Caller:
    """The registered system that makes this call (checked against the database now)."""
    client = ctx.extra.get(CLIENT)
    token = ctx.extra.get(TOKEN)
    if not isinstance(client, str) or not isinstance(token, str) or not token or len(client) > MAX_CLIENT:
        raise NotAuthenticated("需要系统凭证：X-Road-Client 头和 Bearer 令牌",
                               "System credentials required: the X-Road-Client header and a Bearer token")
    # the department's slug or credit code holds no "/"; a system code may (``GZ-GA/population-check``)
    dept_code, sep, system_code = client.strip().partition("/")
    if not sep or not dept_code or not system_code:
        raise NotAuthenticated("X-Road-Client 应为 <部门>/<系统代码>",
                               "X-Road-Client must be <department>/<system code>")
    found = ctx.db.execute(
        select(SharingSystem, Department).join(Department, Department.id == SharingSystem.department_id)
        .where(SharingSystem.token_hash == token_hash(token))).first()
    if found is None:
        raise _bad_credentials()
    system, dept = found
    if system.code != system_code or dept_code not in (dept.slug, dept.uscc):  # a forged or borrowed name
        raise _bad_credentials()
    if not system.active:
        raise NotAuthorized("该系统已停用", "This system is deactivated")
    caller = Caller(system.id, dept.id, f"{dept.slug}/{system.code}")
    ctx.extra[CALLER] = caller
    if ctx.actor is None:  # who the audit log and nested datastore calls name
        ctx.actor = Actor(id=-system.id, name=caller.client[:64], role="analyst", department_id=dept.id,
                          display_name=system.name)
    return caller


def caller_of(ctx: Context) -> Caller:
    caller = ctx.extra.get(CALLER)
    if not isinstance(caller, Caller):
        raise NotAuthenticated("需要系统凭证", "System credentials required")
    return caller


def authorize_read(ctx: Context, caller: Caller, rid: str, grant_id: int | None) -> GrantedRead:
    """What ``caller`` may read of resource ``rid`` now, as the scope the datastore applies; refuses otherwise."""
    return _authorize(ctx, caller, rid, grant_id)[0]


def _authorize(ctx: Context, caller: Caller, rid: str, grant_id: int | None) -> tuple[GrantedRead, dt.datetime | None]:
    """``authorize_read`` and until when its answer holds (the earliest expiry of the grants it read; ``None``: no
    grant, no expiry)."""
    res = ctx.db.get(Resource, rid, options=[joinedload(Resource.dataset)])  # one query for both
    if res is None or res.dataset.state != "active":
        raise NotFound(f"未找到资源 {rid}", f"Resource not found: {rid}")
    ds = res.dataset
    ctx.extra[PROVIDER] = ds.department_id
    # the session's identity map holds objects weakly: kept here, the nested datastore call's checks find the
    # resource and its dataset there instead of loading both again (two queries fewer per call)
    ctx.extra[LOADED] = (res, ds)
    now = utcnow()
    grant: ShareGrant | None = None
    if grant_id is not None or (ds.sharing_class != "无条件共享" and ds.department_id != caller.department_id):
        if ds.sharing_class == "不予共享" and ds.department_id != caller.department_id:
            raise NotAuthorized("该资源不予共享", "This resource is not shared (不予共享)")
        q = (select(ShareGrant).where(ShareGrant.system_id == caller.system_id, ShareGrant.resource_id == rid)
             .order_by(ShareGrant.created_at.desc(), ShareGrant.id.desc()))
        if grant_id is not None:
            q = q.where(ShareGrant.id == grant_id)
        else:
            q = q.where(ShareGrant.revoked_at.is_(None), ShareGrant.expires_at > now)
        found = list(ctx.db.scalars(q.limit(MAX_GRANTS_COMBINED)))
        grant = found[0] if found else None
        others = found[1:] if grant_id is None else []
        if grant is None:
            raise NotAuthorized("该系统没有此资源的有效授权", "This system holds no grant in force for this resource")
        if grant.revoked_at is not None:
            raise NotAuthorized("授权已撤销", "The grant has been revoked")
        if grant.expires_at <= now:
            raise NotAuthorized("授权已过期", "The grant has expired")
    # another department reads the released de-identified view when there is one (the provider's own systems
    # read their own table); its personal-data columns the policy kept unchanged only with allow_personal
    released = views.released_for_exchange(ctx, rid) if ds.department_id != caller.department_id else None
    allow_personal = grant.allow_personal if grant is not None else False
    view = released.path if released is not None else None
    exclude = released.raw_personal if released is not None and not allow_personal else ()
    if grant is None:
        return GrantedRead(rid, None, None, None, exclude=exclude, view=view), None
    columns = tuple(grant.columns) if grant.columns is not None else None
    also = tuple(GrantPart(tuple(g.columns) if g.columns is not None else None, g.row_filter or None, g.id,
                           allow_personal=g.allow_personal,
                           exclude=released.raw_personal if released is not None and not g.allow_personal else ())
                 for g in others)
    until = min(g.expires_at for g in (grant, *others))
    return GrantedRead(rid, columns, grant.row_filter or None, grant.id, allow_personal=allow_personal,
                       exclude=exclude, view=view, also=also), until


# -- the per-process decision cache ------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Decision:
    """One call's authentication and authorization, as of change counter ``counter``."""

    counter: int
    caller: Caller
    actor: Actor
    granted: GrantedRead
    provider: int
    preset: Preset
    until: dt.datetime | None  # the earliest expiry of the grants it read


_lock = threading.Lock()
_decisions: dict[tuple[str, str, str, int | None], _Decision] = {}
_engine: list[Engine | Connection | None] = [None]  # whose database the decisions are of


class _FileWatch:
    """SQLite: a read-only connection of this process's own that asks nothing but ``PRAGMA data_version``, which
    changes whenever any *other* connection (of this process or another) has committed to the database file since
    this connection last asked (https://sqlite.org/pragma.html#pragma_data_version; each ask is its own read
    transaction, which is what notices a commit). This connection never writes (``mode=ro``), so an unchanged
    value means no commit at all, hence an unchanged change counter: the counter read after a value stays valid for
    as long as that value is seen again, and a cached call needs no query. Any error: fall back to the query."""

    def __init__(self, path: str) -> None:
        self._con = sqlite3.connect(f"{Path(path).resolve().as_uri()}?mode=ro", uri=True, check_same_thread=False,
                                    isolation_level=None)
        self._lock = threading.Lock()
        self.seen: tuple[int, int] | None = None  # (data_version, the counter read after it)

    def version(self) -> int | None:
        try:
            with self._lock:
                row = self._con.execute("PRAGMA data_version").fetchone()
        except sqlite3.Error:
            return None
        return int(row[0]) if row else None

    def close(self) -> None:
        with self._lock:
            self._con.close()


_watch: list[_FileWatch | None] = [None]  # of ``_engine[0]``


def _watch_of(bind: Engine | Connection) -> _FileWatch | None:
    """The data_version watch of ``bind``'s SQLite file (made once per engine), or None (PostgreSQL, memory)."""
    if not isinstance(bind, Engine) or bind.dialect.name != "sqlite":
        return None
    database = bind.url.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    with _lock:
        if _engine[0] is bind and _watch[0] is not None:
            return _watch[0]
    try:
        watch = _FileWatch(database)
    except sqlite3.Error:
        return None
    with _lock:
        if _engine[0] is not bind:  # _read switches the engine first; a race with a switch: no watch this time
            watch.close()
            return None
        if _watch[0] is None:
            _watch[0] = watch
            return watch
    watch.close()
    return _watch[0]


def _counter_now(ctx: Context, bind: Engine | Connection) -> int | None:
    """The change counter now: from SQLite's data_version without a query when no commit happened since the
    counter was last read, otherwise by the query (read after the data_version it is paired with)."""
    watch = _watch_of(bind)
    version = watch.version() if watch is not None else None
    if watch is None or version is None:
        return change_counter(ctx)
    seen = watch.seen
    if seen is not None and seen[0] == version:
        return seen[1]
    counter = change_counter(ctx)
    if counter is not None:
        watch.seen = (version, counter)
    return counter


#: the counter's query as the driver takes it (no statement to build, compile or look up in a cache per call)
COUNTER_SQL = f"SELECT n FROM {ExchangeChange.__tablename__} WHERE id = 1"


def change_counter(ctx: Context) -> int | None:
    """The database's exchange change counter now (migration 0023), ``None`` if it has no row."""
    n = ctx.db.connection().exec_driver_sql(COUNTER_SQL).scalar()
    return None if n is None else int(n)


def forget() -> None:
    """Drop this process's cached decisions (tests; never needed for correctness)."""
    with _lock:
        _decisions.clear()


def _key(ctx: Context, rid: str, grant_id: int | None) -> tuple[str, str, str, int | None] | None:
    client, token = ctx.extra.get(CLIENT), ctx.extra.get(TOKEN)
    if not isinstance(client, str) or not isinstance(token, str) or not token or len(client) > MAX_CLIENT:
        return None
    return client, token_hash(token), rid, grant_id


def _read(ctx: Context, p: Any) -> None:
    key = _key(ctx, p.resource_id, p.grant_id)
    bind = ctx.db.get_bind()
    if key is not None:
        with _lock:
            if _engine[0] is not bind:  # another database (tests switch stores)
                _decisions.clear()
                _engine[0] = bind
                if _watch[0] is not None:
                    _watch[0].close()
                    _watch[0] = None
    counter = _counter_now(ctx, bind) if key is not None else None  # before anything the decision reads
    if key is not None and counter is not None:
        with _lock:
            found = _decisions.get(key)
        if (found is not None and found.counter == counter and ctx.actor is None
                and (found.until is None or utcnow() < found.until)):
            ctx.extra[CALLER] = found.caller
            ctx.actor = found.actor
            ctx.extra[PROVIDER] = found.provider
            ctx.extra[GRANTED_READ] = found.granted
            ctx.extra[PRESET] = found.preset
            return
    as_system = ctx.actor is None  # ``authenticate`` names the system as the actor
    caller = authenticate(ctx)
    granted, until = _authorize(ctx, caller, p.resource_id, p.grant_id)
    ctx.extra[GRANTED_READ] = granted
    res, ds = ctx.extra[LOADED]
    live = live_version(ctx, res.id)
    if live is not None:  # out of the session: its rollback (a call failing after this) would expire it for good
        ctx.db.expunge(live)
    preset = Preset(res.id, ds.id, live)
    ctx.extra[PRESET] = preset
    if key is None or counter is None or not as_system:
        return
    assert ctx.actor is not None
    decision = _Decision(counter, caller, ctx.actor, granted, ds.department_id, preset, until)
    with _lock:
        if _engine[0] is bind:
            if len(_decisions) >= MAX_CACHED:
                _decisions.clear()
            _decisions[key] = decision


def exchange_search(ctx: Context, p: Any) -> None:
    _read(ctx, p)


def exchange_sql(ctx: Context, p: Any) -> None:
    _read(ctx, p)


def exchange_usage_show(ctx: Context, p: Any) -> None:
    """Platform admins and auditors see the whole city; anyone else of a department, their department's calls
    (as consumer or provider) only."""
    if ctx.actor is None:
        raise NotAuthenticated("请先登录", "Sign-in required")
    if ctx.actor.role in ("platform_admin", "auditor"):
        return
    if ctx.actor.department_id is None or (p.department_id is not None and p.department_id != ctx.actor.department_id):
        raise NotAuthorized("只能查看本部门的交换用量", "You may see your own department's exchange usage only")


def exchange_call_flush(ctx: Context, p: Any) -> None:
    if ctx.actor is None or not (ctx.actor.name == "system" or ctx.actor.is_admin):
        raise NotAuthorized("仅后台任务可执行", "Only background jobs flush the exchange log")


__all__ = ["Caller", "authenticate", "authorize_read", "caller_of", "change_counter", "forget"]
