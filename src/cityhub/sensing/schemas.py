"""Input schemas of the sensing actions."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from cityhub.sensing import devicetypes, rules
from cityhub.sensing.aqi import TABLES
from cityhub.urls import check_url

CODE = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,99}$"
DISTRICT = r"^(\d{6})?$"
Severity = Literal["critical", "major", "minor", "warning"]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


def _type(v: str) -> str:
    if devicetypes.get(v) is None:
        raise ValueError(f"未知设备类型 / unknown device type {v!r}; known: {', '.join(devicetypes.TYPES)}")
    return v


class DeviceFields(Strict):
    name: str = Field("", max_length=300)
    lat: float | None = Field(None, ge=-90, le=90)
    lon: float | None = Field(None, ge=-180, le=180)
    district_code: str = Field("", pattern=DISTRICT, description="six-digit administrative division code")
    asset: str = Field("", max_length=100, description="code of the asset the device belongs to")
    active: bool = True
    gateway_device: str = Field("", max_length=100, description="code of the gateway that relays its readings "
                                "(a gateway may publish only for the devices assigned to it)")


class DeviceCreate(DeviceFields):
    code: str = Field(pattern=CODE)
    type: str

    @field_validator("type")
    @classmethod
    def _t(cls, v: str) -> str:
        return _type(v)

    @property
    def gateway(self) -> bool:
        return self.type == "gateway"


class DeviceChange(Strict):
    """What may change on a registered device (``None``: unchanged)."""

    name: str | None = Field(None, max_length=300)
    lat: float | None = Field(None, ge=-90, le=90)
    lon: float | None = Field(None, ge=-180, le=180)
    district_code: str | None = Field(None, pattern=DISTRICT)
    asset: str | None = Field(None, max_length=100)
    active: bool | None = None
    gateway_device: str | None = Field(None, max_length=100, description="gateway code; \"\" unassigns")



class DeviceUpdate(DeviceChange):
    code: str = Field(pattern=CODE)

class DeviceRef(Strict):
    code: str = Field(pattern=CODE)


DeviceState = Literal["ok", "offline", "alarm", "inactive"]


class DeviceList(Strict):
    type: str | None = Field(None, max_length=40)
    district_code: str | None = Field(None, pattern=DISTRICT)
    state: DeviceState | None = Field(None, description="ok (seen in the last hour, no active alarm), offline, "
                                      "alarm (an active alarm), inactive")
    limit: int = Field(100, ge=1, le=10000)
    offset: int = Field(0, ge=0)


class DeviceImport(Strict):
    csv: str = Field(max_length=20_000_000, description="CSV text: code,type,name,lat,lon,district_code,asset")


class AssetCreate(Strict):
    code: str = Field(pattern=CODE)
    name: str = Field(min_length=1, max_length=300)
    kind: Literal["station", "pump_house", "road_segment", "district", "building", "other"] = "other"
    district_code: str = Field("", pattern=DISTRICT)
    lat: float | None = Field(None, ge=-90, le=90)
    lon: float | None = Field(None, ge=-180, le=180)
    parent: str = Field("", max_length=100, description="code of an asset that contains this one")


class TelemetryIngest(Strict):
    token: str = Field(min_length=1, max_length=200)
    device: str = Field("", max_length=100)
    kind: Literal["device", "gateway"] = "device"
    payload: str = Field(max_length=10_000_000, description="the JSON body as sent")


class AlarmList(Strict):
    status: Literal["active", "cleared", "active_unack", "active_ack", "cleared_unack", "cleared_ack", "all"] = \
        "active"
    device: str | None = Field(None, max_length=100)
    severity: Severity | None = None
    type: str | None = Field(None, max_length=100, description="alarm type")
    since: dt.datetime | None = Field(None, description="raised at or after")
    until: dt.datetime | None = Field(None, description="raised before")
    limit: int = Field(100, ge=1, le=10000)
    offset: int = Field(0, ge=0)


class AlarmRef(Strict):
    id: int = Field(ge=1)


class RuleCreate(Strict):
    name: str = Field(pattern=CODE)
    device_type: str
    device: str = Field("", max_length=100, description="only this device (default: every device of the type)")
    alarm_type: str = Field(min_length=1, max_length=100)
    severity: Severity = "major"
    condition: dict[str, Any]

    @field_validator("device_type")
    @classmethod
    def _t(cls, v: str) -> str:
        return _type(v)

    @field_validator("condition")
    @classmethod
    def _cond(cls, v: dict[str, Any]) -> dict[str, Any]:
        try:
            rules.parse(v)
        except rules.RuleError as exc:
            raise ValueError(f"规则条件不合法 / invalid condition: {exc}") from None
        return v


def _condition(v: dict[str, Any]) -> dict[str, Any]:
    try:
        rules.parse(v)
    except rules.RuleError as exc:
        raise ValueError(f"规则条件不合法 / invalid condition: {exc}") from None
    return v


class RuleRef(Strict):
    name: str = Field(pattern=CODE)


class RuleChange(Strict):
    """What may change on a rule (``None``: unchanged); its device type and device stay."""

    alarm_type: str | None = Field(None, min_length=1, max_length=100)
    severity: Severity | None = None
    condition: dict[str, Any] | None = None
    enabled: bool | None = None

    @field_validator("condition")
    @classmethod
    def _cond(cls, v: dict[str, Any] | None) -> dict[str, Any] | None:
        return None if v is None else _condition(v)


class RuleUpdate(RuleChange):
    name: str = Field(pattern=CODE)


class ListIn(Strict):
    limit: int = Field(100, ge=1, le=10000)
    offset: int = Field(0, ge=0)


class DeadLetterList(ListIn):
    reason: str | None = Field(None, max_length=30)
    device: str | None = Field(None, max_length=100)


class AqiShow(Strict):
    device: str = Field(pattern=CODE)
    date: dt.date | None = Field(None, description="day in Asia/Shanghai (default: today)")
    table: str | None = None

    @field_validator("table")
    @classmethod
    def _table(cls, v: str | None) -> str | None:
        if v is not None and v not in TABLES:
            raise ValueError(f"未知AQI标准 / unknown AQI table; known: {', '.join(TABLES)}")
        return v


class SeriesShow(Strict):
    device: str = Field(pattern=CODE)
    range: Literal["24h", "7d", "30d"] = Field("24h", description="24h: raw readings (at most MAX_POINTS per "
                                               "attribute); 7d: hourly aggregates; 30d: daily aggregates")
    attributes: list[str] | None = Field(None, max_length=50)


class SeriesIn(Strict):
    device: str = Field(pattern=CODE)
    hours: int = Field(24, ge=1, le=24 * 31)
    attributes: list[str] | None = None


class HourlyIn(Strict):
    type: str = "air_quality"
    date: dt.date | None = Field(None, description="day in Asia/Shanghai (default: today)")
    attributes: list[str] | None = None

    @field_validator("type")
    @classmethod
    def _t(cls, v: str) -> str:
        return _type(v)


class WebhookCreate(Strict):
    name: str = Field(pattern=CODE)
    url: str = Field(min_length=8, max_length=2000)
    secret: str = Field("", max_length=128)
    min_severity: Severity = "warning"

    @field_validator("url")
    @classmethod
    def _url(cls, v: str) -> str:
        check_url(v)
        if not v.lower().startswith(("http://", "https://")):
            raise ValueError("须为 http(s) URL / must be an http(s) URL")
        return v


def _hook_url(v: str) -> str:
    check_url(v)
    if not v.lower().startswith(("http://", "https://")):
        raise ValueError("须为 http(s) URL / must be an http(s) URL")
    return v


class WebhookRef(Strict):
    name: str = Field(pattern=CODE)


class WebhookChange(Strict):
    """What may change on a webhook (``None``: unchanged)."""

    url: str | None = Field(None, min_length=8, max_length=2000)
    secret: str | None = Field(None, max_length=128)
    min_severity: Severity | None = None
    enabled: bool | None = None

    @field_validator("url")
    @classmethod
    def _url(cls, v: str | None) -> str | None:
        return None if v is None else _hook_url(v)


class WebhookUpdate(WebhookChange):
    name: str = Field(pattern=CODE)


class Empty(Strict):
    pass
