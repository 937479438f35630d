"""Tables of de-identified views, base data items (一数一源) and correction tickets (校核), issue 12.

A policy holds no secret: pseudonym rules take the platform key from the settings when a view is built."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, Boolean, Date, Float, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from cityhub.db import Base, UTCDateTime, utcnow


class DeidPolicy(Base):
    """The steward's per-column de-identification policy of one datastore resource and its quasi-identifiers."""

    __tablename__ = "deid_policy"

    resource_id: Mapped[str] = mapped_column(ForeignKey("resource.id", ondelete="CASCADE"), primary_key=True)
    rules: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # column -> {"op": ..., params}
    default: Mapped[str] = mapped_column(String(8), default="drop")
    quasi: Mapped[list[str]] = mapped_column(JSON, default=list)  # quasi-identifier columns for the k check
    updated_by: Mapped[str] = mapped_column(String(64), default="")
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)


class DeidView(Base):
    """One built de-identified copy of a resource's live table. ``status``: built → released | superseded."""

    __tablename__ = "deid_view"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    resource_id: Mapped[str] = mapped_column(ForeignKey("resource.id", ondelete="CASCADE"), index=True)
    source_version: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(12), default="built", index=True)
    policy: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # snapshot: rules, default, quasi
    columns: Mapped[list[str]] = mapped_column(JSON, default=list)
    rows: Mapped[int] = mapped_column(Integer, default=0)
    k: Mapped[int | None] = mapped_column(Integer, nullable=True)
    report: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # the last k-anonymity report
    built_by: Mapped[str] = mapped_column(String(64), default="")
    built_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    seconds: Mapped[float] = mapped_column(Float, default=0.0)
    released_by: Mapped[str] = mapped_column(String(64), default="")
    released_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class BaseItem(Base):
    """A base data item (人口、法人、地理空间、电子证照、信用) and its one authoritative department (一数一源)."""

    __tablename__ = "base_item"

    code: Mapped[str] = mapped_column(String(20), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    name_en: Mapped[str] = mapped_column(String(100), default="")
    department_id: Mapped[int] = mapped_column(ForeignKey("department.id"), index=True)
    resource_id: Mapped[str | None] = mapped_column(ForeignKey("resource.id", ondelete="SET NULL"), nullable=True)
    updated_by: Mapped[str] = mapped_column(String(64), default="")
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Correction(Base):
    """A disputed record (校核工单): reported by a consumer, accepted within 2 and answered within 10 working days
    by the providing department, then applied to the next datastore version when upheld."""

    __tablename__ = "correction"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    resource_id: Mapped[str] = mapped_column(ForeignKey("resource.id", ondelete="CASCADE"), index=True)
    department_id: Mapped[int] = mapped_column(ForeignKey("department.id"), index=True)  # the provider
    key_column: Mapped[str] = mapped_column(String(200), default="_id")
    key_value: Mapped[str] = mapped_column(String(500))
    field: Mapped[str] = mapped_column(String(200))
    current_value: Mapped[str | None] = mapped_column(Text, nullable=True)
    claimed_value: Mapped[str] = mapped_column(Text)
    evidence: Mapped[str] = mapped_column(Text, default="")
    evidence_url: Mapped[str] = mapped_column(String(2000), default="")
    reporter: Mapped[str] = mapped_column(String(64))
    reporter_department_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    status: Mapped[str] = mapped_column(String(12), default="open", index=True)  # open accepted upheld rejected applied
    filed_on: Mapped[dt.date] = mapped_column(Date)
    accept_due: Mapped[dt.date] = mapped_column(Date)
    answer_due: Mapped[dt.date] = mapped_column(Date)
    provisional: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    accepted_by: Mapped[str] = mapped_column(String(64), default="")
    accepted_on: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    resolved_by: Mapped[str] = mapped_column(String(64), default="")
    resolved_on: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    corrected_value: Mapped[str | None] = mapped_column(Text, nullable=True)
    reason: Mapped[str] = mapped_column(Text, default="")
    applied_version: Mapped[int | None] = mapped_column(Integer, nullable=True)
