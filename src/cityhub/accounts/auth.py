"""Authorization rules of the account actions: one function per action, of the same name. Deny by default."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from cityhub.accounts.models import ApiToken, Department, User
from cityhub.context import Context
from cityhub.errors import NotAuthenticated, NotAuthorized


def require_user(ctx: Context) -> None:
    if ctx.actor is None:
        raise NotAuthenticated("请先登录", "Sign-in required")


def require_admin(ctx: Context) -> None:
    require_user(ctx)
    assert ctx.actor is not None
    if not ctx.actor.is_admin:
        raise NotAuthorized("仅平台管理员可执行此操作", "Only platform admins may do this")


def allow_all(ctx: Context, params: Any) -> None:
    return None


def department_create(ctx: Context, params: Any) -> None:
    require_admin(ctx)


def department_update(ctx: Context, params: Any) -> None:
    require_user(ctx)
    assert ctx.actor is not None
    if ctx.actor.is_admin:
        return
    dept_id = ctx.db.scalar(select(Department.id).where(Department.slug == params.slug))
    if ctx.actor.role == "dept_admin" and dept_id is not None and ctx.actor.department_id == dept_id:
        return
    raise NotAuthorized("只能修改本部门信息", "You may only edit your own department")


def department_delete(ctx: Context, params: Any) -> None:
    require_admin(ctx)


def department_list(ctx: Context, params: Any) -> None:
    return None


def department_show(ctx: Context, params: Any) -> None:
    return None


def user_create(ctx: Context, params: Any) -> None:
    require_user(ctx)
    assert ctx.actor is not None
    if ctx.actor.is_admin:
        return
    if ctx.actor.role == "dept_admin" and params.role in ("steward", "analyst"):
        dept_id = ctx.db.scalar(select(Department.id).where(Department.slug == params.department))
        if dept_id is not None and dept_id == ctx.actor.department_id:
            return
    raise NotAuthorized("无权创建该用户", "You may not create this user")


def user_update(ctx: Context, params: Any) -> None:
    require_user(ctx)
    assert ctx.actor is not None
    if ctx.actor.is_admin:
        return
    if ctx.actor.name == params.name and params.role is None and params.active is None and params.department is None:
        return  # own profile and password
    if _dept_admin_adds_member(ctx, params):
        return
    raise NotAuthorized("无权修改该用户", "You may not change this user")


def _dept_admin_adds_member(ctx: Context, params: Any) -> bool:
    """A department admin may make a user with no department, or one of their own department's stewards and
    analysts, a steward or analyst of their department (CKAN's organization_member_create); nothing else."""
    assert ctx.actor is not None
    if ctx.actor.role != "dept_admin" or params.role not in ("steward", "analyst") or not params.department:
        return False
    if any(getattr(params, k) is not None for k in ("password", "active", "display_name", "email")):
        return False
    dept_id = ctx.db.scalar(select(Department.id).where(Department.slug == params.department))
    target = ctx.db.execute(select(User.role, User.department_id).where(User.name == params.name)).first()
    if dept_id is None or dept_id != ctx.actor.department_id or target is None:
        return False
    return target.role in ("public", "analyst", "steward") and target.department_id in (None, dept_id)


def user_list(ctx: Context, params: Any) -> None:
    require_user(ctx)
    assert ctx.actor is not None
    if ctx.actor.role not in ("platform_admin", "dept_admin"):
        raise NotAuthorized("无权查看用户列表", "You may not list users")


def user_show(ctx: Context, params: Any) -> None:
    require_user(ctx)
    assert ctx.actor is not None
    if ctx.actor.is_admin or ctx.actor.name == params.name:
        return
    raise NotAuthorized("只能查看自己的账户", "You may only view your own account")


def _self_or_admin(ctx: Context, user: str) -> None:
    require_user(ctx)
    assert ctx.actor is not None
    if not (ctx.actor.is_admin or ctx.actor.name == user):
        raise NotAuthorized("只能管理自己的两步验证", "You may only manage your own second factor")


def user_totp_begin(ctx: Context, params: Any) -> None:
    _self_or_admin(ctx, params.user)


def user_totp_enable(ctx: Context, params: Any) -> None:
    _self_or_admin(ctx, params.user)


def user_totp_disable(ctx: Context, params: Any) -> None:
    _self_or_admin(ctx, params.user)


def session_create(ctx: Context, params: Any) -> None:
    return None  # anyone may try to sign in; throttled and audited in the action


def session_delete(ctx: Context, params: Any) -> None:
    return None  # holding the session token is the authority


def session_resolve(ctx: Context, params: Any) -> None:
    return None


def token_resolve(ctx: Context, params: Any) -> None:
    return None


def token_create(ctx: Context, params: Any) -> None:
    require_user(ctx)
    assert ctx.actor is not None
    if not (ctx.actor.is_admin or ctx.actor.name == params.user):
        raise NotAuthorized("只能为自己创建令牌", "You may only create tokens for yourself")


def token_revoke(ctx: Context, params: Any) -> None:
    require_user(ctx)
    assert ctx.actor is not None
    if ctx.actor.is_admin:
        return
    tok = ctx.db.get(ApiToken, params.id)
    if tok is None or tok.user_id != ctx.actor.id:
        raise NotAuthorized("只能撤销自己的令牌", "You may only revoke your own tokens")


def token_list(ctx: Context, params: Any) -> None:
    require_user(ctx)
