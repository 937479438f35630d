"""Authorization of the data-request actions: one function per action, of the same name. Deny by default.

* Requests and answers are public: anyone, signed in or not, reads the board and each request (the asker's
  contact only shows to the asker, the data office and the department the request is routed to).
* Anyone signed in asks; only the asker withdraws.
* The city data office (platform admins) routes, re-routes and closes (duplicates).
* The stewards and department admins of the department a request is routed to answer it; the data office
  answers on the department's behalf only once the request has been escalated as overdue. Anyone else: 403.
"""

from __future__ import annotations

from typing import Any

from cityhub.accounts.auth import require_admin, require_user
from cityhub.context import Actor, Context
from cityhub.engage.datareq_models import DataRequest
from cityhub.errors import NotAuthenticated, NotAuthorized, NotFound

ANSWERING_ROLES = frozenset({"dept_admin", "steward"})


def find_request(ctx: Context, rid: int) -> DataRequest:
    """The request (looked up once per call: the auth check and the action share it)."""
    key = f"data_request:{rid}"
    cached = ctx.extra.get(key)
    if isinstance(cached, DataRequest) and cached in ctx.db:
        return cached
    req = ctx.db.get(DataRequest, rid)
    if req is None:
        raise NotFound(f"未找到数据需求 {rid}", f"Data request not found: {rid}")
    ctx.extra[key] = req
    return req


def answers_for(actor: Actor | None, req: DataRequest) -> bool:
    """May ``actor`` answer ``req`` (its routed department's steward or admin; the office once escalated)?"""
    if actor is None or req.department_id is None:
        return False
    if actor.is_admin:
        return req.escalated_at is not None
    return actor.role in ANSWERING_ROLES and actor.department_id == req.department_id


def is_asker(actor: Actor | None, req: DataRequest) -> bool:
    return actor is not None and req.user_id is not None and actor.id == req.user_id


def sees_contact(actor: Actor | None, req: DataRequest) -> bool:
    if actor is None:
        return False
    return actor.is_admin or is_asker(actor, req) or (
        req.department_id is not None and actor.department_id == req.department_id)


def data_request_create(ctx: Context, p: Any) -> None:
    require_user(ctx)


def data_request_show(ctx: Context, p: Any) -> None:
    """Public."""


def data_request_list(ctx: Context, p: Any) -> None:
    if p.mine and ctx.actor is None:
        raise NotAuthenticated("请先登录", "Sign-in required")


def data_request_route(ctx: Context, p: Any) -> None:
    require_admin(ctx)


def data_request_answer(ctx: Context, p: Any) -> None:
    require_user(ctx)
    req = find_request(ctx, p.id)
    if not answers_for(ctx.actor, req):
        if ctx.actor is not None and ctx.actor.is_admin and req.department_id is not None:
            raise NotAuthorized("该需求尚未逾期升级:应由承办部门答复",
                                "The request has not been escalated: its department answers it")
        raise NotAuthorized("该需求未分派给您的部门,不能答复",
                            "The request is not routed to your department: you may not answer it")


def data_request_withdraw(ctx: Context, p: Any) -> None:
    require_user(ctx)
    if not is_asker(ctx.actor, find_request(ctx, p.id)):
        raise NotAuthorized("只有提出人可以撤回该需求", "Only the asker may withdraw the request")


def data_request_close(ctx: Context, p: Any) -> None:
    require_admin(ctx)


def data_request_escalate(ctx: Context, p: Any) -> None:
    require_admin(ctx)
