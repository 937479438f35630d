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
