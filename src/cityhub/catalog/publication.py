"""The publication workflow of a data resource: draft → submitted → published.

A department's steward drafts a dataset and submits it; the department's reviewer (its ``dept_admin``) or the
data office (a platform admin) approves it, or rejects it back to draft with a comment; a department admin or a
platform admin may withdraw a published dataset to draft. Nobody approves their own submission.

Until it is published a dataset is hidden as a private one is (the visibility rule, ``catalog/visibility.py``,
whose ``_published`` hook calls :func:`is_published`): seen only by its department's stewards and admins and by
platform admins, on every path. :func:`search_condition` keeps unpublished datasets out of a search unless the
caller asks for drafts (CKAN's ``include_drafts``).
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


def is_published(ds: Any) -> bool:
    """Whether ``ds`` (an ORM object or a row with a ``publication`` column) has been published."""
    return bool(ds.publication == PUBLISHED)


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
