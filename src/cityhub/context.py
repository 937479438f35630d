"""Who is calling, from where, and through which session: passed to every action."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

ROLES = ("platform_admin", "dept_admin", "steward", "analyst", "auditor", "public")
ROLE_LABELS = {
    "platform_admin": ("平台管理员", "Platform admin"),
    "dept_admin": ("部门管理员", "Department admin"),
    "steward": ("部门数据专员", "Department data steward"),
    "analyst": ("分析师", "Analyst"),
    "auditor": ("审计员", "Auditor"),
    "public": ("注册公众用户", "Registered public user"),
}


@dataclass(frozen=True)
class Actor:
    """The signed-in user as actions see it (no ORM object leaks out)."""

    id: int
    name: str
    role: str
    department_id: int | None
    display_name: str = ""

    @property
    def is_admin(self) -> bool:
        return self.role == "platform_admin"

    @property
    def may_upload(self) -> bool:
        """May send files at all (to some department's catalog): checked before an upload's body is read."""
        return self.role in ("platform_admin", "dept_admin", "steward")

    def manages(self, department_id: int | None) -> bool:
        """May write the department's catalog entries (stewards and department admins of it, admins)."""
        if self.is_admin:
            return True
        return (
            department_id is not None
            and self.department_id == department_id
            and self.role in ("dept_admin", "steward")
        )


@dataclass
class Context:
    """Per-call context. ``session`` is set by the action runner."""

    actor: Actor | None = None
    source: str = "-"
    via: str = "api"
    session: Session | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    web_session: str | None = None  # id (token hash) of the caller's web session, when signed in by cookie

    @property
    def db(self) -> Session:
        if self.session is None:
            raise RuntimeError("no session: call actions through cityhub.actions.call")
        return self.session

    @property
    def actor_name(self) -> str:
        return self.actor.name if self.actor else "anonymous"


def system_context(via: str = "cli") -> Context:
    """Context for trusted local operations (the CLI run by the operator, jobs)."""
    return Context(actor=Actor(id=0, name="system", role="platform_admin", department_id=None), source="local", via=via)
