"""Sensing tables: assets and their relations, devices (with their hashed access token), the latest value of each
device attribute, alarm rules with their per-device state, alarms (one active per device and alarm type,
enforced by a unique partial index), dead letters and webhook subscriptions with their delivery queue.

Readings themselves are not here: they live in the time-series store (``sensing.tsstore``)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, Boolean, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from cityhub.db import Base, UTCDateTime, utcnow

ASSET_KINDS = ("station", "pump_house", "road_segment", "district", "building", "other")
SEVERITIES = ("critical", "major", "minor", "warning")
STATUSES = ("active_unack", "active_ack", "cleared_unack", "cleared_ack")


class SensingAsset(Base):
    """A place or thing that groups devices: a monitoring station, a pump house, a road segment, a district."""

    __tablename__ = "sensing_asset"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(100), unique=True)
    name: Mapped[str] = mapped_column(String(300))
    kind: Mapped[str] = mapped_column(String(20), default="other")
    district_code: Mapped[str] = mapped_column(String(12), default="", index=True)
    lat: Mapped[float | None] = mapped_column(Float, nullable=True)
    lon: Mapped[float | None] = mapped_column(Float, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)


class SensingAssetRelation(Base):
    """A directed relation between assets (``contains``, ``feeds``, ``upstream_of``…)."""

    __tablename__ = "sensing_asset_relation"
    __table_args__ = (UniqueConstraint("from_id", "to_id", "kind"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    from_id: Mapped[int] = mapped_column(ForeignKey("sensing_asset.id", ondelete="CASCADE"), index=True)
    to_id: Mapped[int] = mapped_column(ForeignKey("sensing_asset.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(30), default="contains")


class Device(Base):
    """A device that sends readings, identified by its code; its access token is stored as a SHA-256 hash."""

    __tablename__ = "sensing_device"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(100), unique=True)
    type: Mapped[str] = mapped_column(String(40), index=True)  # a code of sensing.devicetypes.TYPES
    name: Mapped[str] = mapped_column(String(300), default="")
    lat: Mapped[float | None] = mapped_column(Float, nullable=True)
    lon: Mapped[float | None] = mapped_column(Float, nullable=True)
    district_code: Mapped[str] = mapped_column(String(12), default="", index=True)
    asset_id: Mapped[int | None] = mapped_column(ForeignKey("sensing_asset.id", ondelete="SET NULL"), nullable=True,
                                                 index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    gateway: Mapped[bool] = mapped_column(Boolean, default=False)
    # the gateway that relays this device's readings: a gateway may publish only for the devices assigned to it
    gateway_id: Mapped[int | None] = mapped_column(ForeignKey("sensing_device.id", ondelete="SET NULL"),
                                                   nullable=True, index=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_by: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_seen_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class DeviceLatest(Base):
    """The latest value of each attribute of each device (instant reads without the time-series store)."""

    __tablename__ = "sensing_latest"

    device_id: Mapped[int] = mapped_column(ForeignKey("sensing_device.id", ondelete="CASCADE"), primary_key=True)
    attribute: Mapped[str] = mapped_column(String(60), primary_key=True)
    ts: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    value: Mapped[float] = mapped_column(Float)


class SensingRule(Base):
    """An alarm rule: a condition (``sensing.rules``) on the devices of a type (or one device)."""

    __tablename__ = "sensing_rule"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    device_type: Mapped[str] = mapped_column(String(40), index=True)
    device_id: Mapped[int | None] = mapped_column(ForeignKey("sensing_device.id", ondelete="CASCADE"), nullable=True)
    alarm_type: Mapped[str] = mapped_column(String(100))
    severity: Mapped[str] = mapped_column(String(10), default="major")
    condition: Mapped[dict[str, Any]] = mapped_column(JSON)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_by: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)


class RuleState(Base):
    """The evaluation state of a rule for one device, carried between batches (``rules.State.to_json``)."""

    __tablename__ = "sensing_rule_state"

    rule_id: Mapped[int] = mapped_column(ForeignKey("sensing_rule.id", ondelete="CASCADE"), primary_key=True)
    device_id: Mapped[int] = mapped_column(ForeignKey("sensing_device.id", ondelete="CASCADE"), primary_key=True)
    state: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class Alarm(Base):
    """An alarm of one device and type. While ``active`` it is the only one of its (device, type): a repeat
    updates it (``last_seen``, ``count``) instead of adding a duplicate (unique partial index)."""

    __tablename__ = "sensing_alarm"
    __table_args__ = (
        Index("uq_sensing_alarm_active", "device_id", "type", unique=True,
              sqlite_where=text("active"), postgresql_where=text("active")),
        Index("ix_sensing_alarm_status", "status", "last_seen"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    device_id: Mapped[int] = mapped_column(ForeignKey("sensing_device.id", ondelete="CASCADE"), index=True)
    type: Mapped[str] = mapped_column(String(100))
    severity: Mapped[str] = mapped_column(String(10))
    status: Mapped[str] = mapped_column(String(16), default="active_unack")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    rule_id: Mapped[int | None] = mapped_column(ForeignKey("sensing_rule.id", ondelete="SET NULL"), nullable=True)
    first_seen: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_seen: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    count: Mapped[int] = mapped_column(Integer, default=1)
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    ack_by: Mapped[str] = mapped_column(String(64), default="")
    ack_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    clear_by: Mapped[str] = mapped_column(String(64), default="")  # a user's name, or "rule" when it cleared itself
    cleared_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class DeadLetter(Base):
    """A reading (or message) refused by the ingest pipeline, with why."""

    __tablename__ = "sensing_dead_letter"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    source: Mapped[str] = mapped_column(String(10), default="")
    device_code: Mapped[str] = mapped_column(String(100), default="", index=True)
    reason: Mapped[str] = mapped_column(String(30), index=True)
    detail: Mapped[str] = mapped_column(String(500), default="")
    payload: Mapped[str] = mapped_column(Text, default="")  # truncated to DEAD_LETTER_PAYLOAD_CHARS


class Webhook(Base):
    """An HTTP endpoint told about alarms (raised, repeated severity change, acknowledged, cleared)."""

    __tablename__ = "sensing_webhook"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    url: Mapped[str] = mapped_column(String(2000))
    secret: Mapped[str] = mapped_column(String(128), default="")  # HMAC-SHA256 key for the signature header
    min_severity: Mapped[str] = mapped_column(String(10), default="warning")
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_by: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)


class WebhookDelivery(Base):
    """One notification waiting for (or done with) delivery to one webhook, retried with back-off."""

    __tablename__ = "sensing_webhook_delivery"
    __table_args__ = (Index("ix_sensing_webhook_delivery_due", "status", "next_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    webhook_id: Mapped[int] = mapped_column(ForeignKey("sensing_webhook.id", ondelete="CASCADE"), index=True)
    body: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(10), default="pending")  # pending | done | failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_error: Mapped[str] = mapped_column(String(500), default="")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
