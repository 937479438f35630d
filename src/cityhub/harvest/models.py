"""Harvest tables: the sources we harvest, each run with its counts and log, and one row per harvested
record (the remote identifier, its modification marker and content hash) for incremental runs."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from cityhub.accounts.models import Department
from cityhub.db import Base, UTCDateTime, utcnow


class HarvestSource(Base):
    """A remote catalog: a CKAN Action API or a DCAT document/endpoint, harvested on a schedule."""

    __tablename__ = "harvest_source"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    title: Mapped[str] = mapped_column(String(300))
    kind: Mapped[str] = mapped_column(String(10))  # ckan | dcat
    url: Mapped[str] = mapped_column(String(2000))
    department_id: Mapped[int] = mapped_column(ForeignKey("department.id"), index=True)
    schedule: Mapped[str] = mapped_column(String(10), default="manual")  # manual | hourly | daily | weekly
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    config: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_by: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_run_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    next_run_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True, index=True)

    department: Mapped[Department] = relationship(lazy="joined")


class HarvestRun(Base):
    """One run of a source: gather → fetch → import, with counts and a bounded log."""

    __tablename__ = "harvest_run"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("harvest_source.id", ondelete="CASCADE"), index=True)
    status: Mapped[str] = mapped_column(String(10), default="queued", index=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    started_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    created_by: Mapped[str] = mapped_column(String(64), default="")
    gathered: Mapped[int] = mapped_column(Integer, default=0)
    new: Mapped[int] = mapped_column(Integer, default=0)
    updated: Mapped[int] = mapped_column(Integer, default=0)
    unchanged: Mapped[int] = mapped_column(Integer, default=0)
    withdrawn: Mapped[int] = mapped_column(Integer, default=0)
    errors: Mapped[int] = mapped_column(Integer, default=0)
    log: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    error: Mapped[str] = mapped_column(Text, default="")


class HarvestObject(Base):
    """What we hold of one remote record: its local dataset and the markers that make runs incremental."""

    __tablename__ = "harvest_object"
    __table_args__ = (UniqueConstraint("source_id", "guid"), Index("ix_harvest_object_dataset", "dataset_id"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("harvest_source.id", ondelete="CASCADE"))
    guid: Mapped[str] = mapped_column(String(500))
    dataset_id: Mapped[int] = mapped_column(ForeignKey("dataset.id", ondelete="CASCADE"))
    remote_modified: Mapped[str] = mapped_column(String(64), default="")
    content_hash: Mapped[str] = mapped_column(String(64), default="")
    withdrawn: Mapped[bool] = mapped_column(Boolean, default=False)
    last_seen_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
