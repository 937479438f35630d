"""Sharing pages (issue 12): the correction desk (校核工单: list, report form, a ticket with the provider's
accept / answer / apply buttons) and a resource's de-identification policy editor (a rule per column, the
quasi-identifiers, building and releasing the view with its k-anonymity report)."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse

from cityhub.errors import Conflict, NotAuthorized, NotFound, ValidationError
from cityhub.web.deps import call, check_csrf, lang
from cityhub.web.page_helpers import acall, field_errors, login_redirect, may_manage, redirect, render

router = APIRouter(include_in_schema=False)

GOVERNMENT = ("platform_admin", "dept_admin", "steward", "analyst")

#: the rule choices of the policy editor: value → (rule, Chinese label)
PRESETS: dict[str, tuple[dict[str, Any], str]] = {
    "drop": ({"op": "drop"}, "删除"),
    "keep": ({"op": "keep"}, "保留原值"),
    "mask_id": ({"op": "mask", "kind": "resident_id"}, "遮蔽身份证号"),
    "mask_mobile": ({"op": "mask", "kind": "mobile"}, "遮蔽手机号"),
    "mask_name": ({"op": "mask", "keep_first": 1}, "遮蔽(保留首字)"),
    "mask_card": ({"op": "mask", "keep_first": 4, "keep_last": 4}, "遮蔽(保留前4后4位)"),
    "pseudonym": ({"op": "pseudonym"}, "假名化"),
    "pseudonym_id": ({"op": "pseudonym", "kind": "resident_id"}, "假名化身份证号"),
    "pseudonym_mobile": ({"op": "pseudonym", "kind": "mobile"}, "假名化手机号"),
    "year": ({"op": "generalise", "to": "year"}, "泛化为年份"),
    "birth_year": ({"op": "generalise", "to": "birth_year"}, "身份证号→出生年份"),
    "region": ({"op": "generalise", "to": "region", "level": "city"}, "身份证号→地市代码"),
    "district": ({"op": "generalise", "to": "district"}, "地址→所在区"),
    "age_band": ({"op": "generalise", "to": "age_band"}, "年龄→10岁分段"),
    "redact": ({"op": "redact"}, "自由文本中的个人信息遮蔽"),
}


def _preset_of(rule: dict[str, Any] | None) -> str:
    if rule is None:
        return ""
    return next((key for key, (preset, _label) in PRESETS.items() if preset == rule), "custom")


# -- correction desk ----------------------------------------------------------------------------------------------


def _signed_in_gov(request: Request) -> Response | None:
    actor = request.state.actor
    if actor is None:
        return login_redirect(request)
    if actor.role not in GOVERNMENT:
        raise NotAuthorized("仅政务用户可使用校核工单", "Only government users use correction tickets")
    return None


@router.get("/corrections", response_class=HTMLResponse)
def correction_desk(request: Request) -> Response:
    gate = _signed_in_gov(request)
    if gate is not None:
        return gate
    status = request.query_params.get("status", "")
    if status not in ("", "open", "accepted", "upheld", "rejected", "applied"):
        status = ""
    tickets = call(request, "correction_list", {"status": status, "limit": 500})
    return render(request, "sharing/corrections.html", {"tickets": tickets, "status": status, "nav": "corrections"})


def _form(request: Request, values: dict[str, Any], errors: dict[str, list[str]] | None = None,
          general: list[str] | None = None, status: int = 200) -> Response:
    return render(request, "sharing/correction_form.html", {"values": values, "errors": errors or {},
                                                            "general": general or [], "nav": "corrections"},
                  status=status)


FORM_KEYS = ("resource_id", "key_column", "key_value", "field", "claimed_value", "evidence", "evidence_url")


@router.get("/corrections/new", response_class=HTMLResponse)
def correction_new(request: Request) -> Response:
    gate = _signed_in_gov(request)
    if gate is not None:
        return gate
    values = {k: request.query_params.get(k, "") for k in FORM_KEYS}
    values["key_column"] = values["key_column"] or "_id"
    return _form(request, values)


@router.post("/corrections/new", response_class=HTMLResponse)
async def correction_new_post(request: Request) -> Response:
    form = await request.form()
    check_csrf(request, str(form.get("csrf_token") or ""))
    gate = _signed_in_gov(request)
    if gate is not None:
        return gate
    values = {k: str(form.get(k) or "").strip() for k in FORM_KEYS}
    try:
        ticket = await acall(request, "correction_create", values)
    except (ValidationError, Conflict, NotFound) as exc:
        errors, general = field_errors(exc, lang(request))
        return await run_in_threadpool(_form, request, values, errors, general, exc.status)
    return redirect(f"/corrections/{ticket['id']}")


def _ticket_page(request: Request, cid: int, errors: dict[str, list[str]] | None = None,
                 general: list[str] | None = None, status: int = 200) -> Response:
    ticket = call(request, "correction_show", {"id": cid})
    provider = bool(ticket["department"]) and may_manage(request, ticket["department"])
    return render(request, "sharing/correction.html", {"t": ticket, "provider": provider, "errors": errors or {},
                                                       "general": general or [], "nav": "corrections"}, status=status)


@router.get("/corrections/{cid}", response_class=HTMLResponse)
def correction_page(request: Request, cid: int) -> Response:
    gate = _signed_in_gov(request)
    if gate is not None:
        return gate
    return _ticket_page(request, cid)


@router.post("/corrections/{cid}/{step}", response_class=HTMLResponse)
async def correction_step(request: Request, cid: int, step: str) -> Response:
    form = await request.form()
    check_csrf(request, str(form.get("csrf_token") or ""))
    gate = _signed_in_gov(request)
    if gate is not None:
        return gate
    if step not in ("accept", "resolve", "apply"):
        raise NotFound("未找到该操作", "No such step")
    data: dict[str, Any] = {"id": cid}
    if step == "resolve":
        value = str(form.get("corrected_value") or "")
        data.update(outcome=str(form.get("outcome") or ""), reason=str(form.get("reason") or ""),
                    corrected_value=value if value else None)
    try:
        await acall(request, f"correction_{step}", data)
    except (ValidationError, Conflict) as exc:
        errors, general = field_errors(exc, lang(request))
        return await run_in_threadpool(_ticket_page, request, cid, errors, general, exc.status)
    return redirect(f"/corrections/{cid}")


# -- de-identification policy editor ----------------------------------------------------------------------------


def _policy_page(request: Request, rid: str, errors: dict[str, list[str]] | None = None,
                 general: list[str] | None = None, status: int = 200, refused: dict[str, Any] | None = None,
                 posted: dict[str, Any] | None = None) -> Response:
    policy = call(request, "deid_policy_show", {"resource_id": rid})
    views = call(request, "deid_view_show", {"resource_id": rid})
    rules = posted["rules"] if posted else (policy["rules"] if policy["saved"] else policy["suggestions"])
    quasi = posted["quasi"] if posted else (policy["quasi"] if policy["saved"] else policy["suggested_quasi"])
    default = posted["default"] if posted else policy["default"]
    rows = [{**c, "preset": _preset_of(rules.get(c["name"])) or default, "rule": rules.get(c["name"]),
             "rule_json": json.dumps(rules.get(c["name"]), ensure_ascii=False) if rules.get(c["name"]) else "",
             "quasi": c["name"] in quasi} for c in policy["columns"]]
    return render(request, "sharing/deid_policy.html", {
        "rid": rid, "policy": policy, "rows": rows, "default": default, "views": views,
        "presets": [(k, label) for k, (_r, label) in PRESETS.items()], "errors": errors or {},
        "general": general or [], "refused": refused, "nav": "dataset"}, status=status)


@router.get("/deid/resource/{rid}", response_class=HTMLResponse)
def policy_page(request: Request, rid: str) -> Response:
    if request.state.actor is None:
        return login_redirect(request)
    return _policy_page(request, rid)


@router.post("/deid/resource/{rid}", response_class=HTMLResponse)
async def policy_post(request: Request, rid: str) -> Response:
    form = await request.form()
    check_csrf(request, str(form.get("csrf_token") or ""))
    if request.state.actor is None:
        return login_redirect(request)
    step = str(form.get("form_action") or "policy_save")
    try:
        if step == "view_build":
            await acall(request, "deid_view_build", {"resource_id": rid})
        elif step == "view_release":
            await acall(request, "deid_view_release", {"resource_id": rid})
        else:
            posted = _posted_policy(form)
            try:
                await acall(request, "deid_policy_set", {"resource_id": rid, **posted})
            except (ValidationError, Conflict) as exc:
                errors, general = field_errors(exc, lang(request))
                return await run_in_threadpool(_policy_page, request, rid, errors, general, exc.status, None, posted)
    except (ValidationError, Conflict) as exc:
        errors, general = field_errors(exc, lang(request))
        refused = exc.fields if step == "view_release" and "smallest" in exc.fields else None
        return await run_in_threadpool(_policy_page, request, rid, errors, general, exc.status, refused)
    return redirect(f"/deid/resource/{rid}")


def _posted_policy(form: Any) -> dict[str, Any]:
    """The editor's rows as ``deid_policy_set`` input (a custom rule is kept as it was, from its JSON)."""
    rules: dict[str, Any] = {}
    for name, choice, custom in zip(form.getlist("column"), form.getlist("rule"), form.getlist("custom"),
                                    strict=False):
        name, choice = str(name), str(choice)
        if choice in PRESETS:
            rules[name] = dict(PRESETS[choice][0])
        elif choice == "custom" and custom:
            try:
                rules[name] = json.loads(str(custom))
            except ValueError:
                raise ValidationError("自定义规则不是有效的JSON", "A custom rule is not valid JSON",
                                      fields={name: ["invalid JSON"]}) from None
    default = str(form.get("default") or "drop")
    return {"rules": rules, "default": default if default in ("drop", "keep") else "drop",
            "quasi": [str(q) for q in form.getlist("quasi")]}


