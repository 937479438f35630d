"""Inputs of the activity-stream, following and notification actions (CKAN's ``default_activity_list_schema``
and ``default_dashboard_activity_list_schema`` where CKAN has one)."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import Field, field_validator

from cityhub.catalog.schemas import Strict

FOLLOWABLE = ("dataset", "organization", "data_request", "indicator")


def _timestamp(value: object) -> dt.datetime | None:
    """CKAN's ``after`` / ``before``: a POSIX timestamp (int, float or a string of one) or an ISO 8601 instant."""
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    if isinstance(value, bool):
        raise ValueError("must be a POSIX timestamp or an ISO 8601 date-time")
    if isinstance(value, (int, float)):
        return dt.datetime.fromtimestamp(float(value), dt.UTC)
    text = str(value).strip()
    try:
        return dt.datetime.fromtimestamp(float(text), dt.UTC)
    except ValueError:
        pass
    try:
        parsed = dt.datetime.fromisoformat(text)
    except ValueError:
        raise ValueError("must be a POSIX timestamp or an ISO 8601 date-time") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


class Page(Strict):
    """``offset`` and ``limit`` (``None``: ``CITYHUB_ACTIVITY_LIST_LIMIT``; capped at
    ``CITYHUB_ACTIVITY_LIST_LIMIT_MAX`` as CKAN's ``limit_to_configured_maximum``)."""

    offset: int = Field(0, ge=0, le=1_000_000)
    limit: int | None = Field(None, ge=0)
    after: dt.datetime | None = None
    before: dt.datetime | None = None

    _ts = field_validator("after", "before", mode="before")(classmethod(lambda cls, v: _timestamp(v)))


class ActivityListIn(Page):
    id: str = Field(min_length=1, max_length=200, description="the package / organization / user id or name")
    include_hidden_activity: bool = False
    activity_types: list[str] | None = Field(None, max_length=50)
    exclude_activity_types: list[str] | None = Field(None, max_length=50)


class DashboardIn(Page):
    pass


class ActivityShowIn(Strict):
    id: str = Field(min_length=1, max_length=40)
    include_data: bool = True


class FollowRef(Strict):
    id: str = Field(min_length=1, max_length=200, description="the dataset (or organization) id or name")


class UserRef(Strict):
    id: str | None = Field(None, max_length=64, description="a user name or id (none: yourself)")
    q: str = Field("", max_length=100)


class Empty(Strict):
    pass


class FollowIn(Strict):
    object_type: Literal["dataset", "organization", "data_request", "indicator"]
    object_id: str = Field(min_length=1, max_length=64)


class FollowListIn(Strict):
    object_type: Literal["dataset", "organization", "data_request", "indicator"] | None = None
    limit: int = Field(100, ge=1, le=1000)


class NotificationListIn(Strict):
    unread_only: bool = False
    offset: int = Field(0, ge=0, le=1_000_000)
    limit: int = Field(30, ge=1, le=100)


class NotificationReadIn(Strict):
    ids: list[int] | None = Field(None, max_length=1000, description="these notifications; none: all of yours")


class PreferenceIn(Strict):
    email_notifications: bool


class FeedIn(Strict):
    id: str | None = Field(None, max_length=200, description="dataset or organization id or name; none: site-wide")
    kind: Literal["dataset", "organization", "recent"] = "recent"
    limit: int = Field(20, ge=1, le=100)
