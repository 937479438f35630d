"""De-identified views (issue 12): a steward's per-column policy on a datastore resource, the de-identified
Parquet copy built from it with DuckDB, and its release after a k-anonymity check (``CITYHUB_DEID_MIN_K``).

Raw personal data never leaves: grantees get only the released view (``sharing.views.released_view``)."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import select

from cityhub.actions import MANAGERS, action
from cityhub.context import Context
from cityhub.datastore.models import DatastoreTable, DatastoreVersion
from cityhub.db import utcnow
from cityhub.errors import Conflict, NotFound, ValidationError
from cityhub.settings import get_settings
from cityhub.sharing import deid_auth as auth
from cityhub.sharing import deid_schemas as s
from cityhub.sharing import deidsql, views
from cityhub.sharing.deid_models import DeidPolicy, DeidView
from cityhub.sharing.problems import SharingInputError

#: what the personal-data scan's finding suggests for a column (the steward decides)
PII_SUGGESTIONS: dict[str, dict[str, Any]] = {
    "resident_id": {"op": "pseudonym", "kind": "resident_id"},
    "mobile": {"op": "mask", "kind": "mobile"},
    "bank_card": {"op": "mask", "keep_first": 4, "keep_last": 4},
    "email": {"op": "pseudonym"},
}
#: suggestions from a column's name, for quasi-identifiers and names the scan does not flag
NAME_SUGGESTIONS: tuple[tuple[re.Pattern[str], dict[str, Any]], ...] = (
    (re.compile(r"姓名|^name$|联系人", re.I), {"op": "mask", "keep_first": 1}),
    (re.compile(r"出生日期|生日|birth", re.I), {"op": "generalise", "to": "year"}),
    (re.compile(r"住址|地址|address", re.I), {"op": "generalise", "to": "district"}),
    (re.compile(r"年龄|^age$", re.I), {"op": "generalise", "to": "age_band"}),
    (re.compile(r"备注|描述|说明|内容|remark|note|comment", re.I), {"op": "redact"}),
)
QUASI_HINT = re.compile(r"出生|生日|birth|性别|sex|gender|住址|地址|address|年龄|age|区|district", re.I)


def _invalid(exc: SharingInputError) -> ValidationError:
    name = exc.field or "rules"
    return ValidationError(exc.zh, exc.en, fields={name: [exc.en]}, fields_zh={name: [exc.zh]})


def live_version(ctx: Context, rid: str) -> DatastoreVersion:
    """The resource's current datastore version (what de-identified views and corrections start from)."""
    table = ctx.db.get(DatastoreTable, rid)
    v = None
    if table is not None and table.current_version is not None:
        v = ctx.db.scalar(select(DatastoreVersion).where(DatastoreVersion.resource_id == rid,
                                                         DatastoreVersion.version == table.current_version))
    if v is None:
        raise NotFound("该资源还没有可查询的数据表", "This resource has no datastore table yet")
    return v


def suggestions(columns: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """A starting policy: the personal-data scan's findings first, then hints from the column names; every
    other column kept (the steward reviews it before saving)."""
    out: dict[str, dict[str, Any]] = {}
    for c in columns:
        name = str(c["name"])
        if name == "_id":
            continue
        if c.get("pii") in PII_SUGGESTIONS:
            out[name] = dict(PII_SUGGESTIONS[str(c["pii"])])
            continue
        hint = next((rule for pattern, rule in NAME_SUGGESTIONS if pattern.search(name)), None)
        out[name] = dict(hint) if hint else {"op": "keep"}
        if c.get("type") in ("integer", "number") and out[name].get("op") == "redact":
            out[name] = {"op": "keep"}
    return out


def _policy_dict(ctx: Context, rid: str, pol: DeidPolicy | None, live: DatastoreVersion | None) -> dict[str, Any]:
    cols = [c for c in (live.columns if live else []) if c["name"] != "_id"]
    return {
        "resource_id": rid,
        "rules": dict(pol.rules) if pol else {},
        "default": pol.default if pol else "drop",
        "quasi": list(pol.quasi) if pol else [],
        "saved": pol is not None,
        "updated_by": pol.updated_by if pol else "",
        "updated_at": pol.updated_at.isoformat() if pol else None,
        "columns": [{"name": c["name"], "type": c["type"], "pii": c.get("pii")} for c in cols],
        "suggestions": suggestions(cols),
        "suggested_quasi": [c["name"] for c in cols if QUASI_HINT.search(str(c["name"])) and not c.get("pii")],
        "min_k": get_settings().deid_min_k,
    }


@action(auth.deid_policy_show, schema=s.ResourceRef, roles=MANAGERS)
def deid_policy_show(ctx: Context, p: s.ResourceRef) -> dict[str, Any]:
    """The de-identification policy of a resource (if saved), its live columns with the personal-data scan's
    findings, and suggested rules and quasi-identifiers."""
    table = ctx.db.get(DatastoreTable, p.resource_id)
    live = live_version(ctx, p.resource_id) if table is not None and table.current_version is not None else None
    return _policy_dict(ctx, p.resource_id, ctx.db.get(DeidPolicy, p.resource_id), live)


@action(auth.deid_policy_set, schema=s.PolicySet, write=True, target=lambda p, r: p.resource_id, roles=MANAGERS)
def deid_policy_set(ctx: Context, p: s.PolicySet) -> dict[str, Any]:
    """Save a resource's de-identification policy: a rule per column (drop, keep, mask, pseudonym, generalise,
    redact), what happens to columns without one, and the quasi-identifiers for the k-anonymity check. The
    policy holds no secret: pseudonyms take the platform key from the settings."""
    live = live_version(ctx, p.resource_id)
    names = [(c["name"], c["type"]) for c in live.columns if c["name"] != "_id"]
    for rule in p.rules.values():
        if "key" in rule:
            raise ValidationError("策略中不能保存密钥,假名化使用平台密钥", "A policy holds no key: pseudonyms use "
                                  "the platform key", fields={"rules": ["key not allowed"]})
    try:
        compiled = deidsql.compile_policy(names, p.rules, default=p.default, key=get_settings().resolved_deid_key)
    except SharingInputError as exc:
        raise _invalid(exc) from None
    missing = [q for q in p.quasi if q not in compiled.columns]
    if missing:
        raise ValidationError(f"准标识符必须是视图中保留的列:{'、'.join(missing)}",
                              f"Quasi-identifiers must be columns the view keeps: {', '.join(missing)}",
                              fields={"quasi": [f"not in the view: {', '.join(missing)}"]})
    pol = ctx.db.get(DeidPolicy, p.resource_id) or DeidPolicy(resource_id=p.resource_id)
    pol.rules, pol.default, pol.quasi = p.rules, p.default, list(dict.fromkeys(p.quasi))
    pol.updated_by, pol.updated_at = ctx.actor_name, utcnow()
    ctx.db.add(pol)
    ctx.db.flush()
    return _policy_dict(ctx, p.resource_id, pol, live)


def view_dict(v: DeidView, live_version: int | None = None) -> dict[str, Any]:
    return {"id": v.id, "resource_id": v.resource_id, "source_version": v.source_version, "status": v.status,
            "columns": list(v.columns), "rows": v.rows, "k": v.k, "report": dict(v.report or {}),
            "policy": dict(v.policy or {}), "built_by": v.built_by, "built_at": v.built_at.isoformat(),
            "seconds": round(v.seconds, 3), "released_by": v.released_by,
            "released_at": v.released_at.isoformat() if v.released_at else None,
            "stale": live_version is not None and live_version != v.source_version}


@action(auth.deid_view_build, schema=s.ViewBuild, write=True, target=lambda p, r: p.resource_id, roles=MANAGERS)
def deid_view_build(ctx: Context, p: s.ViewBuild) -> dict[str, Any]:
    """Build the de-identified Parquet copy of the resource's live table from its saved policy (DuckDB, whole
    columns at a time) and report its k-anonymity over the policy's quasi-identifiers. Not yet released."""
    pol = ctx.db.get(DeidPolicy, p.resource_id)
    if pol is None:
        raise Conflict("请先设置脱敏策略", "Set a de-identification policy first", fields={"rules": ["no policy"]})
    live = live_version(ctx, p.resource_id)
    source = get_settings().datastore_dir / p.resource_id / f"v{live.version}" / "data.parquet"
    v = DeidView(resource_id=p.resource_id, source_version=live.version, status="built",
                 policy={"rules": pol.rules, "default": pol.default, "quasi": pol.quasi},
                 built_by=ctx.actor_name, built_at=utcnow(), report={})
    ctx.db.add(v)
    ctx.db.flush()
    dest = views.view_path(p.resource_id, v.id)
    ctx.extra.setdefault("on_rollback", []).append(lambda: dest.unlink(missing_ok=True))
    try:
        built = views.build(source, [(c["name"], c["type"]) for c in live.columns], dict(pol.rules), pol.default,
                            get_settings().resolved_deid_key, dest)
    except SharingInputError as exc:
        raise _invalid(exc) from None
    v.columns, v.rows, v.seconds = built.columns, built.rows, built.seconds
    if pol.quasi:
        report = views.k_report(dest, pol.quasi, get_settings().deid_min_k)
        v.k, v.report = report.k, views.report_dict(report)
    ctx.extra["audit_detail"] = {"view": v.id, "version": live.version, "rows": built.rows, "k": v.k}
    return view_dict(v, live.version)


@action(auth.deid_view_release, schema=s.ViewRelease, write=True, target=lambda p, r: p.resource_id,
        roles=MANAGERS)
def deid_view_release(ctx: Context, p: s.ViewRelease) -> dict[str, Any]:
    """Release a built view after the k-anonymity check over the quasi-identifiers: refused (with k and the
    smallest classes) below ``CITYHUB_DEID_MIN_K``. The released view is the only copy grantees receive."""
    q = select(DeidView).where(DeidView.resource_id == p.resource_id, DeidView.status.in_(("built", "released")))
    v = ctx.db.scalar(q.where(DeidView.id == p.view_id) if p.view_id else q.order_by(DeidView.id.desc()).limit(1))
    if v is None:
        raise NotFound("没有可发布的脱敏视图,请先生成", "No de-identified view to release; build one first")
    quasi = p.quasi if p.quasi is not None else list((v.policy or {}).get("quasi") or [])
    if not quasi:
        raise ValidationError("请选择准标识符以检查k-匿名", "Choose the quasi-identifiers for the k-anonymity check",
                              fields={"quasi": ["required"]})
    missing = [q for q in quasi if q not in v.columns]
    if missing:
        raise ValidationError(f"准标识符不在视图中:{'、'.join(missing)}",
                              f"Quasi-identifiers not in the view: {', '.join(missing)}",
                              fields={"quasi": [f"not in the view: {', '.join(missing)}"]})
    path = views.view_path(v.resource_id, v.id)
    if not path.exists():
        raise Conflict("脱敏视图文件缺失,请重新生成", "The view's file is missing; build it again")
    min_k = get_settings().deid_min_k
    report = views.k_report(path, quasi, min_k)
    if not report.meets_target:
        groups = [", ".join(f"{c}={g.values[i]}" for i, c in enumerate(report.quasi)) + f": {g.size}"
                  for g in report.smallest]
        raise Conflict(f"k={report.k},低于发布所需的最小k值 {min_k},不能发布;最小的等价类见 smallest",
                       f"k={report.k} is below the minimum k of {min_k} for release; the smallest classes are in "
                       "'smallest'",
                       fields={"k": [str(report.k)], "min_k": [str(min_k)], "records": [str(report.records)],
                               "below_target": [str(report.below_target)], "smallest": groups})
    for old in ctx.db.scalars(select(DeidView).where(DeidView.resource_id == v.resource_id,
                                                     DeidView.status == "released", DeidView.id != v.id)):
        old.status = "superseded"
    v.status, v.released_by, v.released_at = "released", ctx.actor_name, utcnow()
    v.k, v.report = report.k, views.report_dict(report)
    ctx.extra["audit_detail"] = {"view": v.id, "k": report.k, "quasi": quasi}
    table = ctx.db.get(DatastoreTable, v.resource_id)
    return view_dict(v, table.current_version if table else None)


@action(auth.deid_view_show, schema=s.ResourceRef, roles=MANAGERS)
def deid_view_show(ctx: Context, p: s.ResourceRef) -> dict[str, Any]:
    """The de-identified views of a resource, newest first, and which one is released."""
    table = ctx.db.get(DatastoreTable, p.resource_id)
    live = table.current_version if table else None
    rows = ctx.db.scalars(select(DeidView).where(DeidView.resource_id == p.resource_id)
                          .order_by(DeidView.id.desc()).limit(50)).all()
    released = next((r for r in rows if r.status == "released"), None)
    return {"resource_id": p.resource_id, "views": [view_dict(r, live) for r in rows],
            "released": view_dict(released, live) if released else None, "min_k": get_settings().deid_min_k}
