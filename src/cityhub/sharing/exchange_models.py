"""The exchange log (issue 12): one row per call a registered system makes through the exchange API.

``exchange_call`` -- which system (and its department, the consumer) read which resource (and the department that
holds it, the provider) under which grant (null: unconditionally shared), through which action, with what outcome,
how many rows and bytes it got and how long it took. ``month`` is the call's month in Asia/Shanghai (``2026-12``),
what the usage reports and the plan's indicator (records exchanged per month) group by.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from cityhub.db import Base, UTCDateTime, utcnow


class ExchangeCall(Base):
    """One metered exchange call."""

    __tablename__ = "exchange_call"
    __table_args__ = (
        Index("ix_exchange_call_month_consumer", "month", "consumer_department_id"),
        Index("ix_exchange_call_month_provider", "month", "provider_department_id"),
        Index("ix_exchange_call_grant_month", "grant_id", "month"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    month: Mapped[str] = mapped_column(String(7))
    system_id: Mapped[int] = mapped_column(ForeignKey("sharing_system.id"), index=True)
    consumer_department_id: Mapped[int] = mapped_column(ForeignKey("department.id"))
    provider_department_id: Mapped[int] = mapped_column(ForeignKey("department.id"))
    # null: an unconditionally shared resource, read without a grant
    grant_id: Mapped[int | None] = mapped_column(ForeignKey("share_grant.id", ondelete="SET NULL"), nullable=True)
    resource_id: Mapped[str] = mapped_column(String(36), index=True)
    action: Mapped[str] = mapped_column(String(40))
    # ok, or the error code of a call that failed after its caller was authenticated and authorised
    status: Mapped[str] = mapped_column(String(20), default="ok")
    rows: Mapped[int] = mapped_column(Integer, default=0)
    bytes: Mapped[int] = mapped_column(Integer, default=0)
    ms: Mapped[int] = mapped_column(Integer, default=0)


class ExchangeChange(Base):
    """One row (id 1): a counter the database's triggers bump in the same transaction as any change to a table an
    exchange decision reads (migration 0023: systems, departments, grants, datasets, resources, de-identified
    views, datastore tables and versions). The exchange's per-process decision cache is valid while it is unchanged."""

    __tablename__ = "exchange_change"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    n: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
