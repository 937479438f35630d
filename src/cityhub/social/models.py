"""Tables of activity streams and following (CKAN's ``activity`` and ``*_following_*`` tables, in one shape)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from cityhub.db import Base, UTCDateTime, utcnow


class Activity(Base):
    """One thing that happened to an object the public may follow.

    ``object_type``: ``dataset``, ``organization`` (a department), ``data_request``, ``user``, … ;
    ``object_id``: its id as text (a dataset's UUID, a department's name, a request's number);
    ``activity_type``: CKAN's words where CKAN has them (``new package``, ``changed package``,
    ``deleted package``, ``new organization``, …), else ``<new|changed|deleted> <noun>``.
    ``dataset_id`` / ``department_id`` index the dataset and department streams (an activity on a discussion
    of a dataset is in that dataset's and that department's stream)."""

    __tablename__ = "activity"
    __table_args__ = (
        Index("ix_activity_object", "object_type", "object_id", "ts"),
        Index("ix_activity_dataset_ts", "dataset_id", "ts"),
        Index("ix_activity_department_ts", "department_id", "ts"),
        Index("ix_activity_user_ts", "user_id", "ts"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ts: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    user_id: Mapped[int | None] = mapped_column(Integer, nullable=True)  # the actor (None: the system)
    actor: Mapped[str] = mapped_column(String(64), default="")
    object_type: Mapped[str] = mapped_column(String(32))
    object_id: Mapped[str] = mapped_column(String(64))
    activity_type: Mapped[str] = mapped_column(String(64))
    dataset_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    department_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    #: public: shown to anyone who may see the object; False: only to those who may see non-public changes
    public: Mapped[bool] = mapped_column(default=True)
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class Follow(Base):
    """A user follows an object (a dataset, a department, a data request, a user)."""

    __tablename__ = "follow"
    __table_args__ = (
        UniqueConstraint("user_id", "object_type", "object_id"),
        Index("ix_follow_object", "object_type", "object_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"), index=True)
    object_type: Mapped[str] = mapped_column(String(32))
    object_id: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)


#: a dataset's stream read from the index alone (issue 15's ``package_activity_list`` at 1M rows: the page's ids
#: are found without touching the rows, whatever the offset); migration 0018
Index("ix_activity_dataset_stream", Activity.dataset_id, Activity.ts, Activity.id, Activity.public, Activity.user_id)


class Notification(Base):
    """One activity a follower has not (or has) read: filled for every follower of the activity's object, dataset
    and department when it is recorded (one INSERT … SELECT, ``activity.fan_out``), the actor excluded.

    ``emailed_at`` / ``email_attempts``: the e-mail job's progress (sent, or tries so far; it gives up after
    ``CITYHUB_SMTP_MAX_ATTEMPTS``)."""

    __tablename__ = "notification"
    __table_args__ = (
        UniqueConstraint("user_id", "activity_id"),
        Index("ix_notification_user_read", "user_id", "read_at", "activity_id"),
        Index("ix_notification_email", "emailed_at", "email_attempts"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"))
    activity_id: Mapped[int] = mapped_column(ForeignKey("activity.id", ondelete="CASCADE"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    read_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    emailed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    email_attempts: Mapped[int] = mapped_column(Integer, default=0)


class SocialPreference(Base):
    """A user's choices about their streams: e-mail notifications (CKAN's user field
    ``activity_streams_email_notifications``; no row: on) and when they last viewed their dashboard (CKAN's
    ``dashboard.activity_stream_last_viewed``)."""

    __tablename__ = "social_preference"

    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"), primary_key=True)
    email_notifications: Mapped[bool] = mapped_column(default=True)
    dashboard_viewed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)
