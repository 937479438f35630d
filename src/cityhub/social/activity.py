"""Record what happened, in the caller's transaction: the one seam of activity streams and notifications."""

from __future__ import annotations

from typing import Any

from cityhub.context import Context
from cityhub.social.models import Activity


def record(ctx: Context, activity_type: str, object_type: str, object_id: str | int, *,
           data: dict[str, Any] | None = None, dataset_id: int | None = None,
           department_id: int | None = None, public: bool = True) -> Activity:
    """Append one activity by ``ctx``'s actor to the streams of the object (and of its dataset and department).

    Runs inside the action's transaction, so a failed action leaves no activity behind."""
    actor = ctx.actor
    row = Activity(
        user_id=actor.id if actor is not None and actor.id > 0 else None,
        actor=actor.name if actor is not None else "anonymous",
        object_type=object_type, object_id=str(object_id), activity_type=activity_type,
        dataset_id=dataset_id, department_id=department_id, public=public, data=data or {},
    )
    ctx.db.add(row)
    return row
