"""Authorization rules of the sensing actions: platform admins manage devices, assets, rules and webhooks;
government users (the operations centre, the bureaus) read devices, alarms and dead letters and acknowledge or
clear alarms; the AQI and the city overview are public; telemetry is authenticated by the device's own token
inside the pipeline (a wrong token is dead-lettered), not by a user."""

from __future__ import annotations

from typing import Any

from cityhub.accounts.auth import require_admin
from cityhub.context import Context
from cityhub.errors import NotAuthenticated, NotAuthorized

GOVERNMENT = ("platform_admin", "dept_admin", "steward", "analyst")


def require_government(ctx: Context) -> None:
    if ctx.actor is None:
        raise NotAuthenticated("请先登录", "Sign-in required")
    if ctx.actor.role not in GOVERNMENT:
        raise NotAuthorized("仅政府用户可查看感知设备与告警", "Only government users may see devices and alarms")


#: device types whose places and readings the public sees (the rest is infrastructure — manhole covers, gas, water
#: and drainage pipelines, energy meters, gateways — for government users only)
PUBLIC_MAP_TYPES = ("air_quality", "water_quality", "noise", "flood", "streetlight", "parking_spot")


def sees_every_device(ctx: Context) -> bool:
    """Government users (and the system) see every device; everyone else only the public map types'."""
    return ctx.actor is not None and ctx.actor.role in GOVERNMENT


def device_visible(ctx: Context, device_type: str) -> bool:
    """The one visibility rule of a device (its page, latest values, series, the list, the overview's map)."""
    return sees_every_device(ctx) or device_type in PUBLIC_MAP_TYPES



def device_create(ctx: Context, p: Any) -> None:
    require_admin(ctx)


def device_update(ctx: Context, p: Any) -> None:
    require_admin(ctx)


def device_token_rotate(ctx: Context, p: Any) -> None:
    require_admin(ctx)


def device_import(ctx: Context, p: Any) -> None:
    require_admin(ctx)


def device_list(ctx: Context, p: Any) -> None:
    """Anyone; the action applies ``device_visible`` (a device the caller may not see is not found)."""
    return None


def device_show(ctx: Context, p: Any) -> None:
    """Anyone; the action applies ``device_visible`` (a device the caller may not see is not found)."""
    return None


def device_series(ctx: Context, p: Any) -> None:
    """Anyone; the action applies ``device_visible`` (a device the caller may not see is not found)."""
    return None


def device_series_show(ctx: Context, p: Any) -> None:
    """Anyone; the action applies ``device_visible`` (a device the caller may not see is not found)."""
    return None


def asset_create(ctx: Context, p: Any) -> None:
    require_admin(ctx)


def asset_list(ctx: Context, p: Any) -> None:
    require_government(ctx)


def telemetry_ingest(ctx: Context, p: Any) -> None:
    """Anyone may send; the pipeline checks the device token and dead-letters what it refuses."""
    return None


def alarm_list(ctx: Context, p: Any) -> None:
    require_government(ctx)


def alarm_ack(ctx: Context, p: Any) -> None:
    require_government(ctx)


def alarm_clear(ctx: Context, p: Any) -> None:
    require_government(ctx)


def rule_create(ctx: Context, p: Any) -> None:
    require_admin(ctx)


def rule_update(ctx: Context, p: Any) -> None:
    require_admin(ctx)


def rule_delete(ctx: Context, p: Any) -> None:
    require_admin(ctx)


def rule_list(ctx: Context, p: Any) -> None:
    require_government(ctx)


def deadletter_list(ctx: Context, p: Any) -> None:
    require_government(ctx)


def webhook_create(ctx: Context, p: Any) -> None:
    require_admin(ctx)


def webhook_update(ctx: Context, p: Any) -> None:
    require_admin(ctx)


def webhook_delete(ctx: Context, p: Any) -> None:
    require_admin(ctx)


def webhook_list(ctx: Context, p: Any) -> None:
    require_admin(ctx)


def aqi_show(ctx: Context, p: Any) -> None:
    """Public: the AQI of a monitoring station is open information."""
    return None


def sensing_overview(ctx: Context, p: Any) -> None:
    """Public: counts by type and district, active alarms by severity, the latest AQI per station."""
    return None


def sensing_hourly(ctx: Context, p: Any) -> None:
    """Public: city-wide hourly means of a device type (no device is named)."""
    return None


def sensing_retain(ctx: Context, p: Any) -> None:
    require_admin(ctx)


def sensing_aqi_publish(ctx: Context, p: Any) -> None:
    require_admin(ctx)
