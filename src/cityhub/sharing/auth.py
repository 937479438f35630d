"""Authorization rules of the sharing actions: one function per action, of the same name. Deny by default.

The sides of a request:

* the **requester**: for ``kind='share'`` the requesting department (its members see the request; its stewards
  and department admins, and whoever filed it, may withdraw it); for ``kind='open'`` the applicant alone;
* the **provider**: the department holding the data. Its stewards and department admins answer (approve,
  narrow, refuse) and revoke grants; its other members see the request;
* the **city data office** (platform admins) sees every request; it answers a request only once it has been
  escalated for missing its deadline.

Anyone else is told the request does not exist (404), so a request's existence does not leak.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from cityhub.accounts.auth import require_admin, require_user
from cityhub.accounts.models import Department
from cityhub.context import Actor, Context
from cityhub.errors import NotAuthorized, NotFound, ValidationError
from cityhub.sharing.models import ShareGrant, ShareRequest, SharingSystem

GOVERNMENT_ROLES = frozenset({"platform_admin", "dept_admin", "steward", "analyst"})
ANSWERING_ROLES = frozenset({"dept_admin", "steward"})


def _actor(ctx: Context) -> Actor:
    require_user(ctx)
    assert ctx.actor is not None
    return ctx.actor


# -- lookups (once per call: the auth check and the action share them) -------------------------------------


def find_request(ctx: Context, rid: int) -> ShareRequest:
    key = f"share_request:{rid}"
    cached = ctx.extra.get(key)
    if isinstance(cached, ShareRequest) and cached in ctx.db:
        return cached
    req = ctx.db.get(ShareRequest, rid)
    if req is None:
        raise NotFound(f"未找到共享申请 {rid}", f"Share request not found: {rid}")
    ctx.extra[key] = req
    return req


def find_system(ctx: Context, sid: int) -> SharingSystem:
    system = ctx.db.get(SharingSystem, sid)
    if system is None:
        raise NotFound(f"未找到应用系统 {sid}", f"System not found: {sid}")
    return system


def find_grant(ctx: Context, gid: int) -> ShareGrant:
    grant = ctx.db.get(ShareGrant, gid)
    if grant is None:
        raise NotFound(f"未找到授权 {gid}", f"Grant not found: {gid}")
    return grant


def department_id_of(ctx: Context, slug: str) -> int:
    dept_id = ctx.db.scalar(select(Department.id).where(Department.slug == slug))
    if dept_id is None:
        raise NotFound(f"未找到部门 {slug}", f"Department not found: {slug}")
    return int(dept_id)


# -- sides ---------------------------------------------------------------------------------------------------


def is_requester(actor: Actor, req: ShareRequest) -> bool:
    """On the requesting side: a member of the requesting department (share) or the applicant (open)."""
    if req.kind == "share":
        return actor.department_id is not None and actor.department_id == req.department_id \
            and actor.role in GOVERNMENT_ROLES
    return req.user_id is not None and actor.id == req.user_id


def is_provider_member(actor: Actor, req: ShareRequest) -> bool:
    return actor.department_id is not None and actor.department_id == req.provider_department_id \
        and actor.role in GOVERNMENT_ROLES


def answers_for_provider(actor: Actor, department_id: int) -> bool:
    """A steward or department admin of the providing department (not the data office: see ``may_answer``)."""
    return actor.role in ANSWERING_ROLES and actor.department_id == department_id


def may_see(actor: Actor, req: ShareRequest) -> bool:
    return actor.is_admin or is_requester(actor, req) or is_provider_member(actor, req)


def may_answer(actor: Actor, req: ShareRequest) -> bool:
    """The provider's stewards and department admins; the data office once the request was escalated."""
    return answers_for_provider(actor, req.provider_department_id) or (actor.is_admin and req.escalated_at is not None)


def _visible_request(ctx: Context, rid: int) -> tuple[Actor, ShareRequest]:
    actor = _actor(ctx)
    req = find_request(ctx, rid)
    if not may_see(actor, req):
        raise NotFound(f"未找到共享申请 {rid}", f"Share request not found: {rid}")
    return actor, req


# -- systems -------------------------------------------------------------------------------------------------


def system_register(ctx: Context, p: Any) -> None:
    actor = _actor(ctx)
    if p.department is None:
        if actor.department_id is None:
            raise ValidationError("请指定系统所属部门", "Name the system's department",
                                  fields={"department": ["required"]})
        return
    if not actor.manages(department_id_of(ctx, p.department)):
        raise NotAuthorized("只能为本部门登记应用系统", "You may only register systems of your own department")


def system_list(ctx: Context, p: Any) -> None:
    actor = _actor(ctx)
    if p.department is not None and not actor.is_admin \
            and department_id_of(ctx, p.department) != actor.department_id:
        raise NotAuthorized("只能查看本部门的应用系统", "You may only list your own department's systems")


def _manage_system(ctx: Context, p: Any) -> None:
    actor = _actor(ctx)
    system = find_system(ctx, p.id)
    if not actor.manages(system.department_id):
        raise NotAuthorized("只能管理本部门的应用系统", "You may only manage your own department's systems")


def system_token_rotate(ctx: Context, p: Any) -> None:
    _manage_system(ctx, p)


def system_deactivate(ctx: Context, p: Any) -> None:
    _manage_system(ctx, p)


# -- requests ------------------------------------------------------------------------------------------------


def share_request_create(ctx: Context, p: Any) -> None:
    actor = _actor(ctx)
    if p.kind == "share" and (actor.role not in GOVERNMENT_ROLES or actor.department_id is None):
        raise NotAuthorized("共享申请由政务部门的工作人员提出;公众请申请有条件开放数据",
                            "Sharing requests are filed by a department's staff; the public applies for "
                            "conditionally open data (kind 'open')")


def share_request_show(ctx: Context, p: Any) -> None:
    _visible_request(ctx, p.id)


def share_request_list(ctx: Context, p: Any) -> None:
    actor = _actor(ctx)
    if p.box == "all" and not actor.is_admin:
        raise NotAuthorized("只有市数据管理机构可查看全部申请", "Only the city data office sees every request")
    if p.box == "review" and not (actor.is_admin or (actor.role in ANSWERING_ROLES and actor.department_id)):
        raise NotAuthorized("只有数据提供部门的数据专员或部门管理员审核申请",
                            "Only the providing department's stewards and department admins review requests")


def _answer(ctx: Context, p: Any) -> None:
    actor, req = _visible_request(ctx, p.id)
    if not may_answer(actor, req):
        if actor.is_admin:
            raise NotAuthorized("申请未逾期升级前,由数据提供部门答复",
                                "The providing department answers until the request is escalated as overdue")
        raise NotAuthorized("只有数据提供部门的数据专员或部门管理员可以答复该申请",
                            "Only the providing department's stewards and department admins may answer this "
                            "request")


def share_request_approve(ctx: Context, p: Any) -> None:
    _answer(ctx, p)


def share_request_refuse(ctx: Context, p: Any) -> None:
    _answer(ctx, p)


def share_request_withdraw(ctx: Context, p: Any) -> None:
    actor, req = _visible_request(ctx, p.id)
    filed_it = req.user_id is not None and actor.id == req.user_id
    manages = req.kind == "share" and req.department_id is not None and actor.department_id == req.department_id \
        and actor.role in ANSWERING_ROLES
    if not (filed_it or manages):
        raise NotAuthorized("只有申请人或申请部门的数据专员可以撤回申请",
                            "Only the applicant or the requesting department's stewards may withdraw a request")


def share_request_escalate(ctx: Context, p: Any) -> None:
    require_admin(ctx)


# -- grants --------------------------------------------------------------------------------------------------


def grant_list(ctx: Context, p: Any) -> None:
    actor = _actor(ctx)
    if p.side == "all" and not actor.is_admin:
        raise NotAuthorized("只有市数据管理机构可查看全部授权", "Only the city data office sees every grant")


def grant_revoke(ctx: Context, p: Any) -> None:
    actor = _actor(ctx)
    if p.id is not None:
        grant = find_grant(ctx, p.id)
        req = find_request(ctx, grant.request_id)
    else:
        req = find_request(ctx, p.request_id)
    if actor.is_admin or answers_for_provider(actor, req.provider_department_id):
        return
    if may_see(actor, req):
        raise NotAuthorized("只有数据提供部门的数据专员或部门管理员可以撤销授权",
                            "Only the providing department's stewards and department admins may revoke a grant")
    raise NotFound(f"未找到共享申请 {req.id}", f"Share request not found: {req.id}")
