"""The one registry of named actions (``<noun>_<verb>``) that web, CLI and jobs call.

Each action runs as gate → validate → authorize → do → audit:

* a caller with no right to the action at all (anonymous on a write, a public user on a government-only or an
  admin-only action: the action's ``roles``) is refused first, before the input is looked at, as CKAN checks
  access before it validates; the denial is audited;
* its input is validated against the action's pydantic schema (``ValidationError`` with per-field messages);
* its authorization function — same name, in the domain's ``auth.py`` — decides (deny by default);
* the action does the work in one database transaction;
* writes, denials and failed writes are appended to the tamper-evident audit log.
"""

from __future__ import annotations

import importlib
import inspect
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import pydantic
from sqlalchemy.exc import OperationalError

from cityhub import audit, messages
from cityhub.context import ROLES, Context
from cityhub.db import IMMEDIATE, is_locked_error, session_factory
from cityhub.errors import CityHubError, NotAuthenticated, NotAuthorized, ValidationError

#: who may call an action at all (the coarse gate run before the input is validated); ``None``: anyone
Roles = frozenset[str] | None
SIGNED_IN: frozenset[str] = frozenset(ROLES)
GOVERNMENT: frozenset[str] = frozenset({"platform_admin", "dept_admin", "steward", "analyst"})
MANAGERS: frozenset[str] = frozenset({"platform_admin", "dept_admin", "steward"})
DEPT_ADMINS: frozenset[str] = frozenset({"platform_admin", "dept_admin"})
ADMINS: frozenset[str] = frozenset({"platform_admin"})
_WRITE_DEFAULT = object()

AuthFunc = Callable[[Context, Any], None]
F = TypeVar("F", bound=Callable[..., Any])

DOMAIN_MODULES = ("cityhub.accounts.actions", "cityhub.catalog.actions", "cityhub.datastore.actions", "cityhub.system",
                  "cityhub.audit_actions", "cityhub.catalog.publication_actions",
                  "cityhub.interop.datapackage_actions", "cityhub.harvest.actions",
                  "cityhub.interop.dcat_actions", "cityhub.interop.ckan_actions",
                  "cityhub.sharing.deid_actions", "cityhub.sharing.baseitems", "cityhub.sharing.corrections",
                  # the domains' background jobs (they register with cityhub.jobs when imported)
                  "cityhub.catalog.jobs", "cityhub.datastore.jobs", "cityhub.harvest.jobs",
                  "cityhub.sharing.actions", "cityhub.sharing.jobs",
                  "cityhub.sharing.exchange_actions", "cityhub.sharing.exchange_jobs",
                  "cityhub.sensing.actions", "cityhub.sensing.jobs",
                  "cityhub.transit.actions",
                  # data requests (issue 15): the actions and the hourly escalation job
                  "cityhub.engage.datareq_actions", "cityhub.engage.datareq_jobs",
                  # issue 15: activity streams, following, notifications (and their e-mail job)
                  "cityhub.social.actions", "cityhub.social.jobs",
                  # the public's voice (issue 15): discussions on datasets and reuses
                  "cityhub.engage.discuss_actions", "cityhub.engage.reuse_actions",
                  # plan indicators (issue 15)

                  "cityhub.indicators.actions",
                  # the data office's console (issue 15)
                  "cityhub.engage.office_actions")


@dataclass(frozen=True)
class ActionSpec:
    name: str
    func: Callable[[Context, Any], Any]
    auth: AuthFunc
    schema: type[pydantic.BaseModel] | None
    write: bool
    target: Callable[[Any, Any], str] | None
    roles: Roles = None


_REGISTRY: dict[str, ActionSpec] = {}


def action(
    auth: AuthFunc,
    *,
    schema: type[pydantic.BaseModel] | None = None,
    write: bool = False,
    target: Callable[[Any, Any], str] | None = None,
    roles: Roles | object = _WRITE_DEFAULT,
) -> Callable[[F], F]:
    """Register ``func`` under its own name with its authorization function of the same name.

    ``roles``: the roles that may call the action at all, checked before the input is validated (the record
    level — which department, which dataset — stays with ``auth``, after validation). Default: any signed-in
    user for a write, anyone (``None``) for a read."""
    if roles is _WRITE_DEFAULT:
        gate: Roles = SIGNED_IN if write else None
    else:
        gate = roles  # type: ignore[assignment]

    def decorate(func: F) -> F:
        name = func.__name__
        if auth.__name__ != name:
            raise TypeError(f"action {name} must be paired with an auth function of the same name")
        if name in _REGISTRY:
            raise TypeError(f"action {name} registered twice")
        _REGISTRY[name] = ActionSpec(name, func, auth, schema, write, target, gate)
        return func

    return decorate


_loaded = False


def load_all() -> dict[str, ActionSpec]:
    """Import every domain module once (their ``@action`` decorators fill the registry)."""
    global _loaded
    if not _loaded:
        for module in DOMAIN_MODULES:
            importlib.import_module(module)
        _loaded = True
    return _REGISTRY


def registry() -> dict[str, ActionSpec]:
    return load_all()


def _nul_fields(value: Any, path: str = "") -> list[str]:
    """Where the input holds a NUL character: no text column takes one (PostgreSQL refuses it outright)."""
    if isinstance(value, str):
        return [path or "__all__"] if "\x00" in value else []
    if isinstance(value, pydantic.BaseModel):
        value = {**dict(value), **(value.model_extra or {})}
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in _nul_fields(v, f"{path}.{k}" if path else str(k))]
    if isinstance(value, (list, tuple)):
        return [p for i, v in enumerate(value) for p in _nul_fields(v, f"{path}.{i}" if path else str(i))]
    return []


def _validate(spec: ActionSpec, data: Any) -> Any:
    if spec.schema is None:
        return data if data is not None else {}
    nul = _nul_fields(data)
    if nul:
        raise ValidationError("输入含有NUL字符", "Input contains a NUL character",
                              fields={p: ["NUL character not allowed"] for p in nul})
    if isinstance(data, spec.schema):
        return data
    try:
        return spec.schema.model_validate(data or {})
    except pydantic.ValidationError as exc:
        fields: dict[str, list[str]] = {}
        fields_zh: dict[str, list[str]] = {}
        for err in exc.errors():
            key = ".".join(str(p) for p in err["loc"]) or "__all__"
            msg = err["msg"]
            if msg.startswith("Value error, "):
                msg = msg[len("Value error, ") :]
            fields.setdefault(key, []).append(msg)
            fields_zh.setdefault(key, []).append(messages.pydantic_message(err)[0])
        raise ValidationError("输入数据不合法", "Invalid input", fields=fields, fields_zh=fields_zh) from None


def _target(spec: ActionSpec, params: Any, result: Any) -> str:
    if spec.target is not None:
        try:
            return spec.target(params, result)
        except Exception:
            return "-"
    for key in ("id", "name", "username", "dataset", "slug"):
        value = getattr(params, key, None) if not isinstance(params, dict) else params.get(key)
        if value:
            return str(value)
    return "-"


def call(name: str, ctx: Context, data: Any = None) -> Any:
    """Run action ``name`` for ``ctx`` with input ``data`` (a dict or the action's schema instance)."""
    spec = registry().get(name)
    if spec is None:
        raise CityHubError(f"未知操作 {name}", f"Unknown action {name}")
    if ctx.session is not None:  # nested call: reuse the caller's transaction
        return _run(spec, ctx, data)
    for attempt in range(1, LOCK_RETRIES + 1):
        session = session_factory()()
        ctx.session = session
        try:
            if spec.write or spec.name in WRITES_SOMETIMES:
                session.connection(execution_options={IMMEDIATE: True})
            result = _run(spec, ctx, data)
            session.commit()
        except OperationalError as exc:
            session.rollback()
            _run_hooks(ctx, "on_rollback")
            if not is_locked_error(exc) or attempt == LOCK_RETRIES:
                raise
            time.sleep(0.05 * attempt)
            continue
        except BaseException:
            session.rollback()
            _run_hooks(ctx, "on_rollback")
            raise
        finally:
            ctx.session = None
            session.close()
        _run_hooks(ctx, "after_commit")
        return result
    raise AssertionError("unreachable")


LOCK_RETRIES = 5
# read actions that write now and then (session touch, token last-use, counters, sign-in attempts)
WRITES_SOMETIMES = frozenset({"session_create", "session_delete", "usage_flush", "denial_record"})


def _run_hooks(ctx: Context, kind: str) -> None:
    """Side effects outside the database (files) that must follow the transaction's outcome."""
    hooks = ctx.extra.pop(kind, [])
    ctx.extra.pop("on_rollback" if kind == "after_commit" else "after_commit", None)
    for hook in hooks:
        try:
            hook()
        except Exception:
            logging.getLogger("cityhub.actions").exception("%s hook failed", kind)


def refusal(spec: ActionSpec, ctx: Context) -> CityHubError | None:
    """Why the caller may not call the action at all (``None``: the gate lets them through to validation)."""
    if spec.roles is None:
        return None
    if ctx.actor is None:
        return NotAuthenticated("请先登录", "Sign-in required")
    if ctx.actor.role not in spec.roles:
        return NotAuthorized(f"当前角色无权执行 {spec.name}", f"Your role may not call {spec.name}")
    return None


def gate(name: str, ctx: Context, data: Any = None) -> None:
    """Refuse (and audit) a caller with no right to action ``name`` at all, without running it: for a caller
    (a web route, the CKAN API) that must answer that before it parses or validates anything itself."""
    spec = registry().get(name)
    if spec is None:
        raise CityHubError(f"未知操作 {name}", f"Unknown action {name}")
    exc = refusal(spec, ctx)
    if exc is None:
        return
    if ctx.session is not None:
        _audit_failure(ctx, name, _raw_target(data), "denied", {"reason": exc.message_en})
        raise exc
    session = session_factory()()
    ctx.session = session
    try:
        _audit_failure(ctx, name, _raw_target(data), "denied", {"reason": exc.message_en})
    finally:
        ctx.session = None
        session.close()
    raise exc


def _raw_target(data: Any) -> str:
    """The target of a refused call, from input that was never validated (so kept short)."""
    if isinstance(data, dict):
        for key in ("id", "name", "username", "dataset", "slug", "resource_id"):
            value = data.get(key)
            if isinstance(value, (str, int)) and value != "":
                return str(value)[:200]
    return "-"


def _run(spec: ActionSpec, ctx: Context, data: Any) -> Any:
    refused = refusal(spec, ctx)
    if refused is not None:
        _audit_failure(ctx, spec.name, _raw_target(data), "denied", {"reason": refused.message_en})
        raise refused
    try:
        params = _validate(spec, data)
    except ValidationError as exc:
        if spec.write:
            _audit_failure(ctx, spec.name, "-", "invalid", exc.fields)
        raise
    try:
        spec.auth(ctx, params)
    except (NotAuthorized, NotAuthenticated) as exc:
        _audit_failure(ctx, spec.name, _target(spec, params, None), "denied", {"reason": exc.message_en})
        raise
    try:
        result = spec.func(ctx, params)
        if spec.write:
            ctx.db.flush()
    except CityHubError as exc:
        if spec.write:
            _audit_failure(ctx, spec.name, _target(spec, params, None), exc.type,
                           {"reason": exc.message_en, **exc.fields})
        raise
    if spec.write:
        audit.record(ctx.db, ctx, spec.name, _target(spec, params, result), "success",
                     ctx.extra.pop("audit_detail", None))
    return result


def _audit_failure(ctx: Context, name: str, target: str, outcome: str, detail: dict[str, Any]) -> None:
    """Record a refusal or failure so that it survives: undo the action's changes, then commit the audit
    record on the same connection (a second connection would wait on SQLite's write lock held by this one)."""
    ctx.db.rollback()
    audit.record(ctx.db, ctx, name, target, outcome, detail)
    ctx.db.commit()


def describe(name: str) -> dict[str, Any]:
    spec = registry()[name]
    return {
        "name": name,
        "doc": inspect.getdoc(spec.func) or "",
        "write": spec.write,
        "roles": sorted(spec.roles) if spec.roles is not None else None,
        "schema": spec.schema.model_json_schema() if spec.schema else None,
    }
