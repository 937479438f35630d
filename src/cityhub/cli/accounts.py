"""``cityhub user``, ``cityhub department``, ``cityhub token`` — accounts as the data office manages them from the
server: create and change users, disable and enable them, reset a password to a one-time password, enrol or
remove a second factor, change departments, create and revoke API tokens. Every command is an action, audited
as the local operator (``system``)."""

from __future__ import annotations

from typing import Any

import typer

from cityhub.cli.common import call as _call
from cityhub.cli.common import err, out

user_app = typer.Typer(help="用户 / users", no_args_is_help=True)
department_app = typer.Typer(help="部门 / departments", no_args_is_help=True)
token_app = typer.Typer(help="API 令牌 / API tokens", no_args_is_help=True)


def _given(**values: Any) -> dict[str, Any]:
    """Only the options that were given (None: leave the field as it is)."""
    return {k: v for k, v in values.items() if v is not None}


# -- users ----------------------------------------------------------------------------------------------------


@user_app.command("create")
def user_create(name: str = typer.Argument(..., help="login name"),
                role: str = typer.Option("public", help="platform_admin|dept_admin|steward|analyst|public"),
                department: str = typer.Option(None, help="department slug (department roles)"),
                display_name: str = typer.Option("", help="display name"),
                email: str = typer.Option("", help="e-mail"),
                password: str = typer.Option(..., prompt=True, hide_input=True, confirmation_prompt=True,
                                             help="password (prompted when omitted)")) -> None:
    """Create a user account."""
    user = _call("user_create", {"name": name, "role": role, "department": department, "password": password,
                                 "display_name": display_name, "email": email})
    err.print(f"created user {user['name']} ({user['role']})")


@user_app.command("update")
def user_update(name: str = typer.Argument(..., help="login name"),
                role: str = typer.Option(None, help="platform_admin|dept_admin|steward|analyst|public"),
                department: str = typer.Option(None, help='department slug ("" for none)'),
                display_name: str = typer.Option(None, help="display name"),
                email: str = typer.Option(None, help='e-mail ("" for none)')) -> None:
    """Change a user's role, department, display name or e-mail (only the options given)."""
    changes = _given(role=role, department=department, display_name=display_name, email=email)
    if not changes:
        err.print("nothing to change: give --role, --department, --display-name or --email")
        raise typer.Exit(2)
    user = _call("user_update", {"name": name, **changes})
    err.print(f"updated user {user['name']}: role {user['role']}, department {user['department'] or '-'}")


def _ended(result: dict[str, Any]) -> None:
    err.print(f"{result['message']} / {result['message_en']}")


@user_app.command("disable")
def user_disable(name: str = typer.Argument(..., help="login name")) -> None:
    """Disable an account: no more sign-ins; its sessions end and its API tokens are revoked."""
    _ended(_call("user_disable", {"name": name}))


@user_app.command("enable")
def user_enable(name: str = typer.Argument(..., help="login name")) -> None:
    """Enable a disabled account again."""
    _call("user_enable", {"name": name})
    err.print(f"enabled user {name}")


@user_app.command("reset-password")
def user_reset_password(name: str = typer.Argument(..., help="login name")) -> None:
    """Set a one-time password (printed on stdout, once) that the user must replace at the next sign-in; the
    user's sessions end and API tokens are revoked."""
    result = _call("user_password_reset", {"name": name})
    out.print(result["temporary_password"], soft_wrap=True, highlight=False)
    _ended(result)
    err.print(f"the one-time password expires {result['expires_at']}")


@user_app.command("totp-enable")
def user_totp_enable(name: str = typer.Argument(..., help="login name"),
                     code: str = typer.Option(None, help="a code from the app (prompted when omitted)")) -> None:
    """Enrol a TOTP second factor: prints the secret and otpauth URI, then asks for a code to confirm."""
    begun = _call("user_totp_begin", {"user": name})
    err.print("在身份验证器应用中添加此账户 / add this account to your authenticator app:")
    out.print(begun["uri"], soft_wrap=True, highlight=False)
    err.print(f"secret: {begun['secret']}")
    if code is None:
        code = typer.prompt("动态验证码 / one-time code")
    _call("user_totp_enable", {"user": name, "code": code})
    err.print(f"second factor enabled for {name}")


@user_app.command("totp-disable")
def user_totp_disable(name: str = typer.Argument(..., help="login name")) -> None:
    """Remove a user's second factor (lost device); audited."""
    _call("user_totp_disable", {"user": name, "code": ""})
    err.print(f"second factor removed for {name}")


# -- departments --------------------------------------------------------------------------------------------------


@department_app.command("update")
def department_update(slug: str = typer.Argument(..., help="department slug"),
                      name: str = typer.Option(None, help="full Chinese name"),
                      short_name: str = typer.Option(None, help="short name"),
                      name_en: str = typer.Option(None, help="English name"),
                      uscc: str = typer.Option(None, help="unified social credit code (checked)"),
                      level: str = typer.Option(None, help="市 | 区"),
                      district: str = typer.Option(None, help='district name ("" for none)'),
                      description: str = typer.Option(None, help="description"),
                      contact_name: str = typer.Option(None, help="contact person"),
                      contact_phone: str = typer.Option(None, help="contact telephone"),
                      contact_email: str = typer.Option(None, help="contact e-mail")) -> None:
    """Change a department (only the options given; the result is validated whole)."""
    changes = _given(name=name, short_name=short_name, name_en=name_en, uscc=uscc, level=level, district=district,
                     description=description, contact_name=contact_name, contact_phone=contact_phone,
                     contact_email=contact_email)
    if not changes:
        err.print("nothing to change: give at least one option (see --help)")
        raise typer.Exit(2)
    dept = _call("department_update", {"slug": slug, **changes})
    err.print(f"updated department {dept['slug']}: {dept['name']} / {dept['name_en'] or '-'} ({dept['uscc']})")


# -- API tokens -----------------------------------------------------------------------------------------------------


@token_app.command("create")
def token_create(user: str = typer.Option(..., "--user", help="user name"),
                 name: str = typer.Option("", help="label"),
                 days: int = typer.Option(90, help="lifetime in days")) -> None:
    """Create an API token and print it on stdout (shown once)."""
    result = _call("token_create", {"user": user, "name": name, "days": days})
    out.print(result["token"], soft_wrap=True, highlight=False)
    err.print(f"token {result['id']} for {user}, expires {result['expires_at']}")


@token_app.command("revoke")
def token_revoke(token_id: int = typer.Argument(..., help="token id")) -> None:
    """Revoke an API token."""
    _call("token_revoke", {"id": token_id})
    err.print(f"revoked token {token_id}")
