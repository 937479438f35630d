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


# what a department admin may change about their own department; names, code, level and district are the data
# office's (they identify the provider in the national catalog)
DEPT_ADMIN_DEPARTMENT_FIELDS = frozenset({"name_en", "description", "contact_name", "contact_phone", "contact_email"})


def department_update(ctx: Context, params: Any) -> None:
    require_user(ctx)
    assert ctx.actor is not None
    if ctx.actor.is_admin:
        return
    dept_id = ctx.db.scalar(select(Department.id).where(Department.slug == params.slug))
    if ctx.actor.role == "dept_admin" and dept_id is not None and ctx.actor.department_id == dept_id:
        changed = {k for k, v in params.model_dump(exclude={"slug"}).items() if v is not None}
        if changed <= DEPT_ADMIN_DEPARTMENT_FIELDS:
            return
        raise NotAuthorized("部门名称、信用代码、层级和所属区只能由平台管理员修改",
                            "Only platform admins may change a department's names, credit code, level or district",
                            fields={k: ["仅平台管理员可修改 / platform admins only"]
                                    for k in sorted(changed - DEPT_ADMIN_DEPARTMENT_FIELDS)})
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


def manages_user(ctx: Context, name: str) -> bool:
    """Platform admins manage every account; a department admin manages their own department's stewards and
    analysts (never other admins, never accounts of another department)."""
    assert ctx.actor is not None
    if ctx.actor.is_admin:
        return True
    if ctx.actor.role != "dept_admin" or ctx.actor.department_id is None:
        return False
    target = ctx.db.execute(select(User.role, User.department_id).where(User.name == name)).first()
    return target is not None and target.role in ("steward", "analyst") and target.department_id == ctx.actor.department_id


def user_update(ctx: Context, params: Any) -> None:
    require_user(ctx)
    assert ctx.actor is not None
    if ctx.actor.is_admin:
        return
    if ctx.actor.name == params.name and params.role is None and params.department is None:
        return  # own display name and e-mail
    if _dept_admin_changes_member(ctx, params):
        return
    raise NotAuthorized("无权修改该用户", "You may not change this user")


def _dept_admin_changes_member(ctx: Context, params: Any) -> bool:
    """A department admin may make a user with no department, or one of their own department's stewards and
    analysts, a steward or analyst of their department (CKAN's organization_member_create), and change the
    profile of their own department's stewards and analysts; nothing else."""
    assert ctx.actor is not None
    if ctx.actor.role != "dept_admin" or ctx.actor.department_id is None:
        return False
    if params.role is not None and params.role not in ("steward", "analyst"):
        return False
    if params.department is not None:
        dept_id = ctx.db.scalar(select(Department.id).where(Department.slug == params.department))
        if dept_id is None or dept_id != ctx.actor.department_id:
            return False
    target = ctx.db.execute(select(User.role, User.department_id).where(User.name == params.name)).first()
    if target is None:
        return False
    if manages_user(ctx, params.name):
        return True
    # taking a user with no department into the department: role and department only
    joins = params.role is not None and params.department is not None
    profile = params.display_name is not None or params.email is not None
    return (joins and not profile and target.role in ("public", "analyst", "steward")
            and target.department_id in (None, ctx.actor.department_id))


def _manage(ctx: Context, name: str, what_zh: str, what_en: str) -> None:
    require_user(ctx)
    assert ctx.actor is not None
    if ctx.actor.name == name:
        raise NotAuthorized(f"不能{what_zh}自己的账户", f"You may not {what_en} your own account")
    if not manages_user(ctx, name):
        raise NotAuthorized(f"无权{what_zh}该用户", f"You may not {what_en} this user")


def user_disable(ctx: Context, params: Any) -> None:
    _manage(ctx, params.name, "停用", "disable")


def user_enable(ctx: Context, params: Any) -> None:
    _manage(ctx, params.name, "启用", "enable")


def user_password_reset(ctx: Context, params: Any) -> None:
    _manage(ctx, params.name, "重置", "reset the password of")


def user_password_change(ctx: Context, params: Any) -> None:
    require_user(ctx)
    assert ctx.actor is not None
    if ctx.actor.name != params.name:
        raise NotAuthorized("只能修改自己的密码(管理员请用重置密码)",
                            "You may only change your own password (administrators reset others')")


def user_list(ctx: Context, params: Any) -> None:
    require_user(ctx)
    assert ctx.actor is not None
    if ctx.actor.role not in ("platform_admin", "dept_admin"):
        raise NotAuthorized("无权查看用户列表", "You may not list users")


def user_show(ctx: Context, params: Any) -> None:
    require_user(ctx)
    assert ctx.actor is not None
    if ctx.actor.name == params.name or manages_user(ctx, params.name):
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
