"""Tables of the plan indicators: the indicator, its observed values, and the full history of both.

``indicator`` — one row of the plan's table (area, name, unit, baseline, target and direction, responsible
department, source); ``kind`` ``live`` (computed from the platform by ``compute_key``, never typed in) or
``reported`` (a department reports values, the data office reviews them). ``min_value``/``max_value``: the
plausible bounds a reported value must fall in (percentages 0–100).

``indicator_observation`` — one reported value for a period (``2019`` or ``2019-06``) with its evidence (an
uploaded document or a dataset link) and review status ``reported`` → ``approved`` | ``rejected``; a later approved
value for the same period makes the earlier one ``superseded`` (kept). Only approved values count.

``indicator_history`` — every change to either, as (old, new) of the changed fields, kept for good (the audit log
holds the same actions with their outcome)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, Boolean, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from cityhub.db import Base, UTCDateTime, utcnow


class Indicator(Base):
    __tablename__ = "indicator"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    area: Mapped[str] = mapped_column(String(40), index=True)
    name: Mapped[str] = mapped_column(String(300))
    name_en: Mapped[str] = mapped_column(String(300), default="")
    unit: Mapped[str] = mapped_column(String(40))
    baseline_year: Mapped[int | None] = mapped_column(Integer, nullable=True)
    baseline_value: Mapped[float | None] = mapped_column(Float, nullable=True)
    baseline_note: Mapped[str] = mapped_column(Text, default="")
    target_year: Mapped[int] = mapped_column(Integer)
    target_value: Mapped[float | None] = mapped_column(Float, nullable=True)  # None: monitored only
    target_note: Mapped[str] = mapped_column(Text, default="")
    direction: Mapped[str] = mapped_column(String(10))
    department_id: Mapped[int | None] = mapped_column(ForeignKey("department.id"), nullable=True, index=True)
    source: Mapped[str] = mapped_column(Text, default="")
    kind: Mapped[str] = mapped_column(String(10))
    compute_key: Mapped[str] = mapped_column(String(40), default="")
    frequency: Mapped[str] = mapped_column(String(10), default="yearly")
    min_value: Mapped[float | None] = mapped_column(Float, nullable=True)
    max_value: Mapped[float | None] = mapped_column(Float, nullable=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    modified_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Observation(Base):
    __tablename__ = "indicator_observation"
    __table_args__ = (
        Index("ix_indicator_observation_indicator_period", "indicator_id", "period"),
        Index("ix_indicator_observation_status", "status", "reported_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    indicator_id: Mapped[int] = mapped_column(ForeignKey("indicator.id", ondelete="CASCADE"))
    period: Mapped[str] = mapped_column(String(7))
    value: Mapped[float] = mapped_column(Float)
    unit: Mapped[str] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(12), default="reported")
    note: Mapped[str] = mapped_column(Text, default="")
    evidence_url: Mapped[str] = mapped_column(String(2000), default="")
    evidence_dataset: Mapped[str] = mapped_column(String(100), default="")
    evidence_file: Mapped[str] = mapped_column(String(500), default="")
    evidence_name: Mapped[str] = mapped_column(String(300), default="")
    evidence_sha256: Mapped[str] = mapped_column(String(64), default="")
    reporter: Mapped[str] = mapped_column(String(64))
    reported_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    reviewer: Mapped[str] = mapped_column(String(64), default="")
    reviewed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    review_comment: Mapped[str] = mapped_column(Text, default="")


class IndicatorHistory(Base):
    __tablename__ = "indicator_history"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    indicator_id: Mapped[int] = mapped_column(ForeignKey("indicator.id", ondelete="CASCADE"), index=True)
    observation_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    ts: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(40))
    changes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
