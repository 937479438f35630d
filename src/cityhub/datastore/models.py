"""Datastore tables: which version of a resource's table is live, and every load (a version is its job)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from cityhub.db import Base, UTCDateTime, utcnow


class DatastoreTable(Base):
    __tablename__ = "datastore_table"

    resource_id: Mapped[str] = mapped_column(ForeignKey("resource.id", ondelete="CASCADE"), primary_key=True)
    current_version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)


class DatastoreVersion(Base):
    """One load of a table. ``status``: queued → running → complete | failed | blocked (personal data in a
    dataset that is open unconditionally). Only a complete version can be live."""

    __tablename__ = "datastore_version"
    __table_args__ = (UniqueConstraint("resource_id", "version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    resource_id: Mapped[str] = mapped_column(ForeignKey("resource.id", ondelete="CASCADE"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(12), default="queued", index=True)
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    stage: Mapped[str] = mapped_column(String(40), default="")
    source_name: Mapped[str] = mapped_column(String(300), default="")
    source_key: Mapped[str] = mapped_column(String(500), default="")
    source_bytes: Mapped[int | None] = mapped_column(Integer, nullable=True)
    declared_schema: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    options: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    rows: Mapped[int | None] = mapped_column(Integer, nullable=True)
    columns: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    format: Mapped[str] = mapped_column(String(20), default="")
    encoding: Mapped[str] = mapped_column(String(20), default="")
    delimiter: Mapped[str] = mapped_column(String(4), default="")
    bad_cell_count: Mapped[int] = mapped_column(Integer, default=0)
    report: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    warnings: Mapped[list[str]] = mapped_column(JSON, default=list)
    error_code: Mapped[str] = mapped_column(String(40), default="")
    error: Mapped[str] = mapped_column(Text, default="")
    error_en: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    started_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    seconds: Mapped[float | None] = mapped_column(Float, nullable=True)
