"""Account actions: departments, users, sign-in sessions and API tokens."""

from __future__ import annotations

import datetime as dt
import secrets
from typing import Any, NoReturn, cast

from pydantic import ValidationError as PydanticValidationError
from sqlalchemy import CursorResult, delete, func, select, update
from sqlalchemy.exc import IntegrityError

from cityhub import audit
from cityhub.accounts import auth, totp
from cityhub.accounts import schemas as s
from cityhub.accounts.models import ApiToken, Department, LoginAttempt, User, WebSession
from cityhub.accounts.security import (
    burn_time,
    hash_password,
    new_token,
    password_problems,
    temporary_password,
    token_hash,
    verify_password,
)
from cityhub.actions import ADMINS, DEPT_ADMINS, SIGNED_IN, action
from cityhub.context import Actor, Context
from cityhub.db import utcnow
from cityhub.errors import (
    Conflict,
    NotAuthenticated,
    NotAuthorized,
    NotFound,
    TooManyRequests,
    ValidationError,
)
from cityhub.settings import get_settings


def department_dict(d: Department, counts: dict[str, int] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": d.id,
        "slug": d.slug,
        "name": d.name,
        "short_name": d.short_name,
        "name_en": d.name_en,
        "uscc": d.uscc,
        "level": d.level,
        "district": d.district,
        "description": d.description,
        "contact_name": d.contact_name,
        "contact_phone": d.contact_phone,
        "contact_email": d.contact_email,
        "created_at": d.created_at.isoformat(),
    }
    if counts is not None:
        out.update(counts)
    return out


def user_dict(u: User) -> dict[str, Any]:
    return {
        "id": u.id,
        "name": u.name,
        "display_name": u.display_name,
        "email": u.email,
        "role": u.role,
        "department": u.department.slug if u.department else None,
        "department_name": u.department.name if u.department else None,
        "active": u.active,
        "totp_enabled": u.totp_enabled,
        "must_change_password": u.must_change_password,
        "password_changed_at": u.password_changed_at.isoformat() if u.password_changed_at else None,
        "created_at": u.created_at.isoformat(),
        "last_login_at": u.last_login_at.isoformat() if u.last_login_at else None,
    }


def get_department(ctx: Context, slug: str) -> Department:
    dept = ctx.db.scalar(select(Department).where(Department.slug == slug))
    if dept is None:
        raise NotFound(f"未找到部门 {slug}", f"Department not found: {slug}")
    return dept


def _unique_violation(exc: IntegrityError, what: str) -> Conflict:
    return Conflict(f"{what}已存在(名称、代码或统一社会信用代码重复)", f"{what} already exists (duplicate name or code)")


# -- departments ----------------------------------------------------------------------------------------


def _org_activity(ctx: Context, dept: Department, activity_type: str) -> None:
    """Record a CKAN-shaped organization activity (``data.group``: the organization as ``organization_show``
    gives it, as CKAN's group activities carry it) for the department's followers and stream (issue 15)."""
    from cityhub.interop import ckan_map
    from cityhub.social import activity

    org = ckan_map.organization(department_dict(dept), include_groups=False, include_tags=False,
                                include_users=False)
    activity.record(ctx, activity_type, "organization", dept.slug, data={"group": org, "actor": ctx.actor_name},
                    department_id=dept.id)


@action(auth.department_create, schema=s.DepartmentIn, write=True, roles=ADMINS)
def department_create(ctx: Context, p: s.DepartmentIn) -> dict[str, Any]:
    """Register a department (提供方) with its unified social credit code."""
    for col, value, label in ((Department.slug, p.slug, "slug"), (Department.name, p.name, "name"),
                              (Department.uscc, p.uscc, "uscc")):
        if ctx.db.scalar(select(Department.id).where(col == value)) is not None:
            raise Conflict(f"部门{label}已存在: {value}", f"A department with this {label} exists: {value}",
                           fields={label: ["duplicate"]})
    dept = Department(**p.model_dump())
    ctx.db.add(dept)
    ctx.db.flush()
    _org_activity(ctx, dept, "new organization")
    return department_dict(dept)


@action(auth.department_update, schema=s.DepartmentUpdate, write=True, roles=DEPT_ADMINS)
def department_update(ctx: Context, p: s.DepartmentUpdate) -> dict[str, Any]:
    """Change a department's names (Chinese, short, English), unified social credit code, level and district,
    description or contact point; the merged record is validated whole (the code's check character, a
    district-level department's district) and names and codes stay unique."""
    dept = get_department(ctx, p.slug)
    changes = p.model_dump(exclude={"slug"}, exclude_none=True)
    if "district" in changes and changes["district"] == "":
        changes["district"] = None
    merged = {**department_dict(dept), **changes}
    try:
        s.DepartmentIn.model_validate({k: merged[k] for k in s.DepartmentIn.model_fields})
    except PydanticValidationError as exc:
        fields: dict[str, list[str]] = {}
        for err in exc.errors():
            key = ".".join(str(x) for x in err["loc"]) or "__all__"
            fields.setdefault(key, []).append(err["msg"].removeprefix("Value error, "))
        raise ValidationError("部门信息不合法", "Invalid department", fields=fields) from None
    for col, label in ((Department.name, "name"), (Department.uscc, "uscc")):
        value = changes.get(label)
        if value is not None and ctx.db.scalar(select(Department.id).where(col == value, Department.id != dept.id)):
            raise Conflict(f"部门{label}已存在: {value}", f"A department with this {label} exists: {value}",
                           fields={label: ["duplicate"]})
    before = {k: getattr(dept, k) for k in changes}
    for key, value in changes.items():
        setattr(dept, key, value)
    try:
        ctx.db.flush()
    except IntegrityError as exc:
        raise _unique_violation(exc, "部门") from None
    ctx.extra["audit_detail"] = {"changed": sorted(k for k in changes if before[k] != changes[k])}
    if ctx.extra["audit_detail"]["changed"]:
        _org_activity(ctx, dept, "changed organization")
    return department_dict(dept)


@action(auth.department_delete, schema=s.SlugIn, write=True, roles=ADMINS)
def department_delete(ctx: Context, p: s.SlugIn) -> dict[str, Any]:
    """Remove a department that has no users and no data resources."""
    from cityhub.catalog.models import Dataset  # catalog depends on accounts, not the other way round

    dept = get_department(ctx, p.slug)
    used = ctx.db.scalar(select(func.count()).select_from(Dataset).where(Dataset.department_id == dept.id)) or 0
    users = ctx.db.scalar(select(func.count()).select_from(User).where(User.department_id == dept.id)) or 0
    if used or users:
        raise Conflict("部门仍有数据资源或用户,不能删除", "The department still has data resources or users")
    ctx.db.delete(dept)
    return {"slug": p.slug, "deleted": True}


@action(auth.department_list, schema=s.ListIn)
def department_list(ctx: Context, p: s.ListIn) -> list[dict[str, Any]]:
    """All departments with their dataset and user counts. The dataset counts are the datasets the caller can
    list (the visibility rule, read from the search index in one grouped scan), so a count never reveals a
    dataset the caller cannot see."""
    from cityhub.catalog import search, visibility

    scope, managed = visibility.search_scope(ctx.actor)
    counts = search.department_counts(ctx.db, scope, managed, include_private=True)
    users = dict(ctx.db.execute(select(User.department_id, func.count()).group_by(User.department_id)).all())
    depts = ctx.db.scalars(select(Department).order_by(Department.level.desc(), Department.id)
                           .limit(p.limit).offset(p.offset)).all()
    return [department_dict(d, {"dataset_count": int(counts.get(d.id, 0)), "user_count": int(users.get(d.id, 0))})
            for d in depts]


@action(auth.department_show, schema=s.SlugIn)
def department_show(ctx: Context, p: s.SlugIn) -> dict[str, Any]:
    """One department."""
    return department_dict(get_department(ctx, p.slug))


# -- users ----------------------------------------------------------------------------------------------


def _check_password(password: str, username: str) -> None:
    problems = password_problems(password, username)
    if problems:
        raise ValidationError("密码不符合要求", "Password does not meet the policy", fields={"password": problems})


@action(auth.user_create, schema=s.UserCreate, write=True, target=lambda p, r: p.name, roles=DEPT_ADMINS)
def user_create(ctx: Context, p: s.UserCreate) -> dict[str, Any]:
    """Create a user account with a role (and a department for department roles)."""
    _check_password(p.password, p.name)
    if ctx.db.scalar(select(User.id).where(func.lower(User.name) == p.name.lower())) is not None:
        raise Conflict(f"用户名已存在: {p.name}", f"User name taken: {p.name}", fields={"name": ["duplicate"]})
    dept_id = get_department(ctx, p.department).id if p.department else None
    user = User(name=p.name, display_name=p.display_name or p.name, email=p.email,
                password_hash=hash_password(p.password), role=p.role, department_id=dept_id)
    ctx.db.add(user)
    ctx.db.flush()
    return user_dict(user)


def get_user(ctx: Context, name: str) -> User:
    user = ctx.db.scalar(select(User).where(User.name == name))
    if user is None:
        raise NotFound(f"未找到用户 {name}", f"User not found: {name}")
    return user


@action(auth.user_update, schema=s.UserUpdate, write=True, target=lambda p, r: p.name)
def user_update(ctx: Context, p: s.UserUpdate) -> dict[str, Any]:
    """Change a user's role, department, display name or e-mail (passwords: ``user_password_change`` and
    ``user_password_reset``; sign-in: ``user_disable`` / ``user_enable``)."""
    user = get_user(ctx, p.name)
    if p.department is not None:  # the relationship, not the id: the answer below shows the new department
        user.department = get_department(ctx, p.department) if p.department else None
    for key in ("role", "display_name", "email"):
        value = getattr(p, key)
        if value is not None:
            setattr(user, key, value)
    if user.role in ("dept_admin", "steward") and user.department is None:
        raise ValidationError("部门角色须指定部门", "Department roles need a department",
                              fields={"department": ["required"]})
    return user_dict(user)


def end_sessions_and_tokens(ctx: Context, user: User, keep_session: str | None = None) -> dict[str, int]:
    """End the user's web sessions (but ``keep_session``, a token hash) and revoke all their API tokens."""
    cond = [WebSession.user_id == user.id]
    if keep_session:
        cond.append(WebSession.token_hash != keep_session)
    ended = cast("CursorResult[Any]", ctx.db.execute(delete(WebSession).where(*cond))).rowcount
    revoked = cast("CursorResult[Any]", ctx.db.execute(
        update(ApiToken).where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
        .values(revoked_at=utcnow()))).rowcount
    return {"sessions_ended": int(ended or 0), "tokens_revoked": int(revoked or 0)}


def _ended_message(counts: dict[str, int], what_zh: str, what_en: str) -> dict[str, str]:
    return {"message": f"{what_zh};已结束其他 {counts['sessions_ended']} 个登录会话,"
                       f"并撤销全部 {counts['tokens_revoked']} 个API令牌",
            "message_en": f"{what_en}; {counts['sessions_ended']} other sign-in sessions were ended and all "
                          f"{counts['tokens_revoked']} API tokens revoked"}


@action(auth.user_password_change, schema=s.PasswordChange, write=True, target=lambda p, r: p.name)
def user_password_change(ctx: Context, p: s.PasswordChange) -> dict[str, Any]:
    """Change one's own password: needs the current one (a wrong one counts as a failed sign-in and is
    throttled like one); every other session of the user ends and all their API tokens are revoked."""
    user = get_user(ctx, p.name)
    now = utcnow()
    _refuse_if_throttled(ctx, user.name, now, "user_password_change")
    if not verify_password(user.password_hash, p.current_password):
        ctx.db.rollback()
        ctx.db.add(LoginAttempt(username=user.name, source=ctx.source, ts=now, success=False))
        ctx.db.commit()
        raise ValidationError("当前密码不正确", "The current password is wrong",
                              fields={"current_password": ["当前密码不正确 / the current password is wrong"]})
    _set_password(user, p.new_password, now)
    counts = end_sessions_and_tokens(ctx, user, keep_session=ctx.web_session)
    ctx.extra["audit_detail"] = counts
    return {"user": user_dict(user), **counts, **_ended_message(counts, "密码已修改", "Password changed")}


def _set_password(user: User, new: str, now: dt.datetime, field: str = "new_password") -> None:
    problems = password_problems(new, user.name)
    if not problems and verify_password(user.password_hash, new):
        problems = ["新密码不能与当前密码相同 / the new password must differ from the current one"]
    if problems:
        raise ValidationError("新密码不符合要求", "The new password does not meet the policy", fields={field: problems})
    user.password_hash = hash_password(new)
    user.password_changed_at = now
    user.must_change_password = False
    user.temporary_password_until = None


@action(auth.user_password_reset, schema=s.UserName, write=True, target=lambda p, r: p.name, roles=DEPT_ADMINS)
def user_password_reset(ctx: Context, p: s.UserName) -> dict[str, Any]:
    """An administrator's reset: a one-time password (returned once, never stored in clear) that works for
    CITYHUB_TEMPORARY_PASSWORD_HOURS and only to choose a new password at the next sign-in; the user's sessions
    end and their API tokens are revoked."""
    user = get_user(ctx, p.name)
    now = utcnow()
    secret = temporary_password()
    user.password_hash = hash_password(secret)
    user.must_change_password = True
    user.temporary_password_until = now + dt.timedelta(hours=get_settings().temporary_password_hours)
    counts = end_sessions_and_tokens(ctx, user)
    ctx.extra["audit_detail"] = counts
    return {"user": user_dict(user), "temporary_password": secret,
            "expires_at": user.temporary_password_until.isoformat(), **counts,
            **_ended_message(counts, "已设置一次性密码,用户下次登录时须设置新密码",
                             "One-time password set; the user must choose a new password at the next sign-in")}


def _other_active_admins(ctx: Context, user: User) -> int:
    return ctx.db.scalar(select(func.count()).select_from(User).where(
        User.role == "platform_admin", User.active.is_(True), User.id != user.id)) or 0


@action(auth.user_disable, schema=s.UserName, write=True, target=lambda p, r: p.name, roles=DEPT_ADMINS)
def user_disable(ctx: Context, p: s.UserName) -> dict[str, Any]:
    """Disable an account: it can no longer sign in, its sessions end and its API tokens are revoked."""
    user = get_user(ctx, p.name)
    if user.role == "platform_admin" and user.active and not _other_active_admins(ctx, user):
        raise Conflict("不能停用最后一个平台管理员", "The last active platform admin cannot be disabled")
    user.active = False
    counts = end_sessions_and_tokens(ctx, user)
    ctx.extra["audit_detail"] = counts
    return {"user": user_dict(user), **counts,
            **_ended_message(counts, "账户已停用", "Account disabled")}


@action(auth.user_enable, schema=s.UserName, write=True, target=lambda p, r: p.name, roles=DEPT_ADMINS)
def user_enable(ctx: Context, p: s.UserName) -> dict[str, Any]:
    """Enable a disabled account again (its revoked API tokens stay revoked)."""
    user = get_user(ctx, p.name)
    user.active = True
    return {"user": user_dict(user)}


@action(auth.user_list, schema=s.UserListIn, roles=DEPT_ADMINS)
def user_list(ctx: Context, p: s.UserListIn) -> list[dict[str, Any]]:
    """Users, optionally of one department, one role, enabled or disabled only (a department admin sees the users
    of their department)."""
    q = select(User).order_by(User.id).limit(p.limit).offset(p.offset)
    assert ctx.actor is not None
    if not ctx.actor.is_admin:
        q = q.where(User.department_id == ctx.actor.department_id)
    if p.department == "":
        q = q.where(User.department_id.is_(None))
    elif p.department is not None:
        q = q.where(User.department_id == get_department(ctx, p.department).id)
    if p.role is not None:
        q = q.where(User.role == p.role)
    if p.active is not None:
        q = q.where(User.active.is_(p.active))
    return [user_dict(u) for u in ctx.db.scalars(q).all()]


@action(auth.user_show, schema=s.UserName, roles=SIGNED_IN)
def user_show(ctx: Context, p: s.UserName) -> dict[str, Any]:
    """One user account."""
    return user_dict(get_user(ctx, p.name))


# -- sign-in sessions -----------------------------------------------------------------------------------


def actor_of(user: User) -> Actor:
    return Actor(id=user.id, name=user.name, role=user.role, department_id=user.department_id,
                 display_name=user.display_name)


def _account_lock(ctx: Context, username: str, now: dt.datetime) -> dt.datetime | None:
    """Until when ``username`` is locked, or None. After CITYHUB_LOGIN_MAX_FAILURES failures since its last
    success the name is locked for CITYHUB_LOGIN_LOCK_MINUTES from the last failure, doubling with each further
    failure up to CITYHUB_LOGIN_LOCK_MAX_MINUTES (failures older than that are forgotten). Kept per name whether
    or not an account has it, so a lock tells nothing about which names exist."""
    settings = get_settings()
    horizon = now - dt.timedelta(minutes=settings.login_lock_max_minutes)
    last_ok = ctx.db.scalar(select(func.max(LoginAttempt.ts)).where(
        LoginAttempt.username == username, LoginAttempt.success.is_(True), LoginAttempt.ts > horizon))
    count, last_failure = ctx.db.execute(select(func.count(), func.max(LoginAttempt.ts)).where(
        LoginAttempt.username == username, LoginAttempt.success.is_(False),
        LoginAttempt.ts > (max(horizon, last_ok) if last_ok else horizon))).one()
    if not count or count < settings.login_max_failures or last_failure is None:
        return None
    doublings = min(count - settings.login_max_failures, 20)
    minutes = min(settings.login_lock_minutes * 2 ** doublings, settings.login_lock_max_minutes)
    until: dt.datetime = last_failure + dt.timedelta(minutes=minutes)
    return until if until > now else None


def _address_throttled(ctx: Context, now: dt.datetime) -> bool:
    """Whether the caller's address has reached CITYHUB_LOGIN_ADDRESS_MAX_FAILURES failures (any names) in the
    window: much higher than the per-account limit, since many users can share an address."""
    settings = get_settings()
    since = now - dt.timedelta(minutes=settings.login_window_minutes)
    failures = ctx.db.scalar(select(func.count()).select_from(LoginAttempt).where(
        LoginAttempt.source == ctx.source, LoginAttempt.success.is_(False), LoginAttempt.ts > since)) or 0
    return failures >= settings.login_address_max_failures


def _refuse_if_throttled(ctx: Context, username: str, now: dt.datetime, action_name: str) -> None:
    locked_until = _account_lock(ctx, username, now)
    if locked_until is not None:
        seconds = max(1, int((locked_until - now).total_seconds() + 0.999))
        minutes = max(1, (seconds + 59) // 60)
        refusal = TooManyRequests(
            f"该账户登录失败次数过多,已暂时锁定,请{minutes}分钟后再试",
            f"Too many failed sign-ins to this account; it is locked, try again in {minutes} minutes",
            retry_after=seconds)
    elif _address_throttled(ctx, now):
        window = get_settings().login_window_minutes
        refusal = TooManyRequests(
            f"来自该地址的登录失败次数过多,请{window}分钟后再试",
            f"Too many failed sign-ins from this address; try again in {window} minutes",
            retry_after=window * 60)
    else:
        return
    ctx.db.rollback()
    audit.record(ctx.db, ctx, action_name, username, "throttled", {"reason": refusal.message_en}, actor=username)
    ctx.db.commit()
    raise refusal


def _needs_more(ctx: Context, username: str, outcome: str, exc: Exception) -> NoReturn:
    """The password was right but the sign-in needs more (a TOTP code, a new password): audit and refuse
    without counting a failure and without keeping anything (a TOTP step stays usable for the retry)."""
    ctx.db.rollback()
    audit.record(ctx.db, ctx, "session_create", username, outcome, actor=username)
    ctx.db.commit()
    raise exc


@action(auth.session_create, schema=s.SessionCreate)
def session_create(ctx: Context, p: s.SessionCreate) -> dict[str, Any]:
    """Sign in: check the password (throttled per account and per address) and open a web session; every
    attempt is audited. Any name, existing or not, enabled or not, costs one argon2 verification, so the
    answer's timing tells nothing about which accounts exist. After an administrator's reset the one-time
    password only serves to set ``new_password``."""
    settings = get_settings()
    now = utcnow()
    _refuse_if_throttled(ctx, p.username, now, "session_create")
    user = ctx.db.scalar(select(User).where(User.name == p.username))
    if user is None:
        burn_time(p.password)
        ok = False
    else:
        ok = verify_password(user.password_hash, p.password) and user.active  # one verification either way
    outcome = "success" if ok else "failure"
    if ok and user is not None:
        outcome = _second_factor(user, p.totp_code, settings.admin_totp_enforced)
    if outcome == "totp_required":
        _needs_more(ctx, p.username, outcome, NotAuthenticated(
            "请输入身份验证器中的动态验证码", "Enter the one-time code from your authenticator app",
            fields={"totp_code": ["required"]}))
    if outcome == "totp_not_enrolled":
        _needs_more(ctx, p.username, outcome, NotAuthorized(
            f"平台管理员须先启用两步验证:在服务器上运行 cityhub user totp-enable {p.username}",
            f"Platform admins must enrol a second factor first: run `cityhub user totp-enable {p.username}`"))
    if outcome == "success" and user is not None and user.must_change_password:
        expired = user.temporary_password_until is not None and user.temporary_password_until < now
        if expired:
            _needs_more(ctx, p.username, "temporary_password_expired", NotAuthenticated(
                "一次性密码已过期,请联系管理员重新设置", "The one-time password has expired; ask an administrator "
                "to reset it again"))
        if not p.new_password:
            _needs_more(ctx, p.username, "password_change_required", NotAuthenticated(
                "管理员已重置您的密码:请设置新密码后登录", "Your password was reset by an administrator: choose a "
                "new password to sign in", fields={"new_password": ["required"]}))
        _set_password(user, p.new_password, now)  # ValidationError with the policy's reasons
        end_sessions_and_tokens(ctx, user)
    ctx.db.add(LoginAttempt(username=p.username, source=ctx.source, ts=now, success=outcome == "success"))
    audit.record(ctx.db, ctx, "session_create", p.username, outcome, actor=p.username)
    if outcome != "success" or user is None:
        ctx.db.commit()
        if outcome == "totp_failure":
            raise NotAuthenticated("动态验证码错误或已使用", "Wrong or already used one-time code",
                                   fields={"totp_code": ["invalid"]})
        raise NotAuthenticated("用户名或密码错误", "Wrong user name or password")
    token = new_token("s_")
    csrf = secrets.token_urlsafe(24)
    ctx.db.add(WebSession(token_hash=token_hash(token), user_id=user.id, csrf_token=csrf, created_at=now,
                          last_seen_at=now, source=ctx.source))
    user.last_login_at = now
    return {"token": token, "csrf_token": csrf, "user": user_dict(user)}


def _second_factor(user: User, code: str, admin_required: bool) -> str:
    """After a correct password: success, totp_required, totp_failure or totp_not_enrolled."""
    if not user.totp_enabled:
        return "totp_not_enrolled" if admin_required and user.role == "platform_admin" else "success"
    if not code.strip():
        return "totp_required"
    secret = totp.unseal(user.totp_secret, get_settings().secret_key)
    step = totp.matching_step(secret, code, user.totp_last_step) if secret else None
    if step is None:
        return "totp_failure"
    user.totp_last_step = step
    return "success"


# -- second factor (TOTP) ------------------------------------------------------------------------------------


def _check_code(user: User, code: str) -> None:
    secret = totp.unseal(user.totp_secret, get_settings().secret_key) if user.totp_secret else None
    step = totp.matching_step(secret, code, user.totp_last_step) if secret else None
    if step is None:
        raise ValidationError("动态验证码错误", "Wrong one-time code", fields={"code": ["invalid"]})
    user.totp_last_step = step


@action(auth.user_totp_begin, schema=s.TotpUser, write=True, target=lambda p, r: p.user)
def user_totp_begin(ctx: Context, p: s.TotpUser) -> dict[str, Any]:
    """Start enrolling a second factor: a new secret (returned once) that a confirmed code then enables."""
    user = get_user(ctx, p.user)
    if user.totp_enabled:
        raise Conflict("两步验证已启用;请先停用", "A second factor is already enabled; disable it first")
    secret = totp.new_secret()
    user.totp_secret = totp.seal(secret, get_settings().secret_key)
    user.totp_last_step = None
    return {"user": user.name, "secret": secret,
            "uri": totp.provisioning_uri(secret, user.name, get_settings().site_title)}


@action(auth.user_totp_enable, schema=s.TotpCode, write=True, target=lambda p, r: p.user)
def user_totp_enable(ctx: Context, p: s.TotpCode) -> dict[str, Any]:
    """Confirm enrolment with a code from the authenticator app; sign-ins then need a code."""
    user = get_user(ctx, p.user)
    if user.totp_enabled:
        raise Conflict("两步验证已启用", "The second factor is already enabled")
    if not user.totp_secret:
        raise ValidationError("请先生成密钥", "Start enrolment first", fields={"code": ["no pending secret"]})
    _check_code(user, p.code)
    user.totp_enabled = True
    return user_dict(user)


@action(auth.user_totp_disable, schema=s.TotpCode, write=True, target=lambda p, r: p.user)
def user_totp_disable(ctx: Context, p: s.TotpCode) -> dict[str, Any]:
    """Turn the second factor off: users confirm with a current code; a platform admin may reset another
    user's (lost phone) without one."""
    user = get_user(ctx, p.user)
    assert ctx.actor is not None
    if not (ctx.actor.is_admin and ctx.actor.name != user.name) and user.totp_enabled:
        _check_code(user, p.code)
    user.totp_enabled = False
    user.totp_secret = ""
    user.totp_last_step = None
    return user_dict(user)


@action(auth.session_delete, schema=s.SessionToken)
def session_delete(ctx: Context, p: s.SessionToken) -> dict[str, Any]:
    """Sign out: end the session."""
    sess = ctx.db.get(WebSession, token_hash(p.token))
    if sess is not None:
        audit.record(ctx.db, ctx, "session_delete", sess.user.name, "success", actor=sess.user.name)
        ctx.db.delete(sess)
    return {"ended": sess is not None}


@action(auth.session_resolve, schema=s.SessionToken)
def session_resolve(ctx: Context, p: s.SessionToken) -> dict[str, Any] | None:
    """The user of a live session (idle and absolute timeouts applied), or None."""
    settings = get_settings()
    sess = ctx.db.get(WebSession, token_hash(p.token))
    if sess is None:
        return None
    now = utcnow()
    idle = now - sess.last_seen_at > dt.timedelta(minutes=settings.session_idle_minutes)
    absolute = now - sess.created_at > dt.timedelta(hours=settings.session_absolute_hours)
    if idle or absolute or not sess.user.active:
        ctx.db.delete(sess)
        return None
    if now - sess.last_seen_at > dt.timedelta(seconds=30):
        sess.last_seen_at = now
    return {"actor": actor_of(sess.user), "csrf_token": sess.csrf_token, "user": user_dict(sess.user),
            "session_id": sess.token_hash}


# -- API tokens -----------------------------------------------------------------------------------------


@action(auth.token_create, schema=s.TokenCreate, write=True, target=lambda p, r: p.user)
def token_create(ctx: Context, p: s.TokenCreate) -> dict[str, Any]:
    """Create an API token; the token is returned once and stored only as a hash."""
    user = get_user(ctx, p.user)
    token = new_token("ch_")
    now = utcnow()
    row = ApiToken(user_id=user.id, name=p.name, prefix=token[:8], token_hash=token_hash(token), created_at=now,
                   expires_at=now + dt.timedelta(days=p.days))
    ctx.db.add(row)
    ctx.db.flush()
    return {"id": row.id, "token": token, "user": user.name, "name": p.name,
            "expires_at": row.expires_at.isoformat()}


@action(auth.token_revoke, schema=s.TokenRevoke, write=True)
def token_revoke(ctx: Context, p: s.TokenRevoke) -> dict[str, Any]:
    """Revoke an API token at once."""
    tok = ctx.db.get(ApiToken, p.id)
    if tok is None:
        raise NotFound("未找到令牌", "Token not found")
    tok.revoked_at = tok.revoked_at or utcnow()
    return {"id": tok.id, "revoked_at": tok.revoked_at.isoformat()}


@action(auth.token_list, schema=s.ListIn, roles=SIGNED_IN)
def token_list(ctx: Context, p: s.ListIn) -> list[dict[str, Any]]:
    """The caller's tokens (admins: all), without their secrets."""
    assert ctx.actor is not None
    q = select(ApiToken).order_by(ApiToken.id.desc()).limit(p.limit).offset(p.offset)
    if not ctx.actor.is_admin:
        q = q.where(ApiToken.user_id == ctx.actor.id)
    return [{"id": t.id, "user": t.user.name, "name": t.name, "prefix": t.prefix,
             "created_at": t.created_at.isoformat(), "expires_at": t.expires_at.isoformat(),
             "revoked_at": t.revoked_at.isoformat() if t.revoked_at else None,
             "last_used_at": t.last_used_at.isoformat() if t.last_used_at else None} for t in ctx.db.scalars(q)]


@action(auth.token_resolve, schema=s.TokenResolve)
def token_resolve(ctx: Context, p: s.TokenResolve) -> Actor:
    """The user of an API token; expired, revoked or unknown tokens are refused (401)."""
    tok = ctx.db.scalar(select(ApiToken).where(ApiToken.token_hash == token_hash(p.token)))
    now = utcnow()
    problem = None
    if tok is None:
        problem = ("API令牌无效", "Invalid API token")
    elif tok.revoked_at is not None:
        problem = ("API令牌已撤销", "API token revoked")
    elif tok.expires_at < now:
        problem = ("API令牌已过期", "API token expired")
    elif not tok.user.active:
        problem = ("账户已停用", "Account disabled")
    if problem is not None or tok is None:
        who = tok.user.name if tok is not None else "unknown-token"
        ctx.db.rollback()
        audit.record(ctx.db, ctx, "token_resolve", p.token[:8], "failure", {"reason": problem and problem[1]},
                     actor=who)
        ctx.db.commit()
        raise NotAuthenticated(*(problem or ("API令牌无效", "Invalid API token")))
    if tok.last_used_at is None or now - tok.last_used_at > dt.timedelta(minutes=5):
        tok.last_used_at = now
    return actor_of(tok.user)
