"""The publication workflow of a data resource: draft → submitted → published.

A department's steward drafts a dataset and submits it; the department's reviewer (its ``dept_admin``) or the
data office (a platform admin) approves it, or rejects it back to draft with a comment; a department admin or a
platform admin may withdraw a published dataset to draft. Nobody approves their own submission.

Until it is published a dataset is seen only by its own department's government users and platform admins.
That condition lives here, in :func:`is_published` (a loaded dataset or row) and :func:`search_condition` (the
search index query), and nowhere else: ``auth.can_read`` and ``search.search`` call them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

DRAFT = "draft"
SUBMITTED = "submitted"
PUBLISHED = "published"
STATES = (DRAFT, SUBMITTED, PUBLISHED)
# (from, to) of each transition action
TRANSITIONS: dict[str, tuple[tuple[str, ...], str]] = {
    "dataset_submit": ((DRAFT,), SUBMITTED),
    "dataset_approve": ((SUBMITTED,), PUBLISHED),
    "dataset_reject": ((SUBMITTED,), DRAFT),
    "dataset_withdraw": ((PUBLISHED,), DRAFT),
}
STATE_LABELS = {DRAFT: ("草稿", "Draft"), SUBMITTED: ("待审核", "Awaiting review"), PUBLISHED: ("已发布", "Published")}
GOVERNMENT_ROLES = ("platform_admin", "dept_admin", "steward", "analyst")


def is_published(ds: Any) -> bool:
    """Whether ``ds`` (an ORM object or a row with a ``publication`` column) has been published."""
    return bool(ds.publication == PUBLISHED)


def may_see_unpublished(actor: Any, department_id: int | None) -> bool:
    """Who sees a dataset before it is published: platform admins and its own department's government users."""
    if actor is None:
        return False
    if actor.role == "platform_admin":
        return True
    return actor.role in GOVERNMENT_ROLES and department_id is not None and actor.department_id == department_id


def search_condition(visibility: str, department_id: int | None, include_drafts: bool,
                     bind: Callable[[Any], str]) -> str | None:
    """The index query's condition on ``search_doc d`` (its ``published`` column): unpublished datasets only with
    ``include_drafts``, and then only those the caller may see. ``None``: no condition (an admin asking for
    drafts). ``visibility`` as in ``auth.visibility``: public | government | all."""
    if not include_drafts or visibility == "public":
        return f"d.published = {bind(True)}"
    if visibility == "government":
        return f"(d.published = {bind(True)} OR d.department_id = {bind(department_id or -1)})"
    return None
