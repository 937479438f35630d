"""Authorization of the CKAN-surface read actions (one function per action, of the same name).

They list what the public may see (tags, formats and resources of public datasets), or apply the dataset rule
(``catalog.auth.can_read``) row by row, so anyone may call them. Two carry a record-level rule: the users of a
department (``member_list``) are shown to its own staff and to platform admins only, and another user's
organizations (``department_list_for_user``) to platform admins only."""

from __future__ import annotations

from typing import Any

from cityhub.context import Context
from cityhub.errors import NotAuthorized


def department_search(ctx: Context, p: Any) -> None:
    return None  # departments are public; counts follow the caller's visibility


def theme_search(ctx: Context, p: Any) -> None:
    return None


def tag_search(ctx: Context, p: Any) -> None:
    return None  # tags of public datasets


def tag_show(ctx: Context, p: Any) -> None:
    return None


def format_autocomplete(ctx: Context, p: Any) -> None:
    return None


def department_autocomplete(ctx: Context, p: Any) -> None:
    return None


def dataset_autocomplete(ctx: Context, p: Any) -> None:
    return None  # each match is checked with the dataset rule


def resource_search(ctx: Context, p: Any) -> None:
    return None  # resources of public datasets


def member_list(ctx: Context, p: Any) -> None:
    if p.object_type == "user" and not may_see_members(ctx, p.id):
        raise NotAuthorized("无权查看该组织的用户", "You may not list this organization's users")


def may_see_members(ctx: Context, department_id: int | str | None) -> bool:
    """Platform admins, and the department's own staff (CKAN's rule with ``ckan.auth.public_user_details =
    false``: members with read permission on the organization). ``department_id`` may be its slug."""
    actor = ctx.actor
    if actor is None:
        return False
    if actor.is_admin:
        return True
    if actor.department_id is None or actor.role not in ("dept_admin", "steward", "analyst"):
        return False
    if isinstance(department_id, str):
        from cityhub.interop.ckan_actions import department_id_of

        department_id = department_id_of(ctx, department_id)
    return department_id == actor.department_id


def department_list_for_user(ctx: Context, p: Any) -> None:
    actor = ctx.actor
    if p.id and (actor is None or (not actor.is_admin and p.id not in (actor.name, str(actor.id)))):
        raise NotAuthorized("只能查看自己所属的组织", "You may only list your own organizations")
