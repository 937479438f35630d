"""Record what happened, in the caller's transaction: the one seam of activity streams and notifications."""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import Table, and_, literal, or_, select

from cityhub.context import Context
from cityhub.db import utcnow
from cityhub.social.models import Activity, Follow, Notification

#: the data of one activity is kept whole (CKAN stores the whole package dict); a dict beyond this many bytes of
#: JSON (a dataset with thousands of resources) keeps its top-level scalar fields and says it was cut
MAX_DATA_BYTES = 256 * 1024


def record(ctx: Context, activity_type: str, object_type: str, object_id: str | int, *,
           data: dict[str, Any] | None = None, dataset_id: int | None = None,
           department_id: int | None = None, public: bool = True) -> Activity:
    """Append one activity by ``ctx``'s actor to the streams of the object (and of its dataset and department).

    Runs inside the action's transaction, so a failed action leaves no activity behind. Every follower of the
    object, of its dataset and of its department but the actor gets a notification (:func:`fan_out`)."""
    actor = ctx.actor
    row = Activity(
        user_id=actor.id if actor is not None and actor.id > 0 else None,
        actor=actor.name if actor is not None else "anonymous",
        object_type=object_type, object_id=str(object_id), activity_type=activity_type,
        dataset_id=dataset_id, department_id=department_id, public=public, data=bounded(data or {}),
        ts=utcnow(),
    )
    ctx.db.add(row)
    ctx.db.flush()
    fan_out(ctx, row)
    return row


def bounded(data: dict[str, Any]) -> dict[str, Any]:
    """``data`` as it is, unless its JSON passes :data:`MAX_DATA_BYTES`: then each nested dict keeps its scalar
    fields only (title, name, id…) and ``"truncated": true`` says so."""
    import json

    if len(json.dumps(data, ensure_ascii=False, default=str)) <= MAX_DATA_BYTES:
        return data
    out: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, dict):
            out[key] = {k: v for k, v in value.items() if not isinstance(v, (dict, list))}
        elif not isinstance(value, list):
            out[key] = value
    out["truncated"] = True
    return out


def follower_condition(object_type: str, object_id: str, dataset_id: int | None,
                       department_id: int | None) -> Any:
    """Follow rows of the object itself, of its dataset and of its department."""
    conds = [and_(Follow.object_type == object_type, Follow.object_id == object_id)]
    if dataset_id is not None:
        conds.append(and_(Follow.object_type == "dataset", Follow.object_id == str(dataset_id)))
    if department_id is not None:
        conds.append(and_(Follow.object_type == "organization", Follow.object_id == str(department_id)))
    return or_(*conds)


def fan_out(ctx: Context, row: Activity) -> None:
    """One ``INSERT … SELECT DISTINCT`` of a notification per follower (the actor excluded): no per-follower
    round trip, whatever the number of followers. Visibility is checked when they are read and mailed."""
    now = utcnow()
    followers = (select(Follow.user_id, literal(row.id), literal(now, type_=Notification.created_at.type),
                        literal(0))
                 .where(follower_condition(row.object_type, row.object_id, row.dataset_id, row.department_id))
                 .distinct())
    if row.user_id is not None:
        followers = followers.where(Follow.user_id != row.user_id)
    table = cast(Table, Notification.__table__)
    ctx.db.execute(table.insert().from_select(["user_id", "activity_id", "created_at", "email_attempts"], followers))
