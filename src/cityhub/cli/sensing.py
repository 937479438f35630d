"""``cityhub sensing`` — the sensing hub: devices (create, import from CSV with a progress bar, list, show, token
rotation), alarms (list, acknowledge, clear), rules, dead letters, a station's AQI, the overview, retention."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from cityhub.cli.common import call as _call
from cityhub.cli.common import err, out

sensing_app = typer.Typer(help="城市感知 / the sensing hub (devices, alarms, AQI)", no_args_is_help=True)
IMPORT_CHUNK = 500


@sensing_app.command("device-create")
def device_create(code: str = typer.Argument(..., help="device code"),
                  type: str = typer.Argument(..., help="device type, e.g. air_quality, manhole_cover, gateway"),
                  name: str = typer.Option("", help="name"), lat: float | None = typer.Option(None),
                  lon: float | None = typer.Option(None), district: str = typer.Option("", help="district code"),
                  asset: str = typer.Option("", help="asset code"),
                  gateway: str = typer.Option("", help="code of the gateway that relays its readings")) -> None:
    """Register a device and print its access token (shown only this once)."""
    d = _call("device_create", {"code": code, "type": type, "name": name, "lat": lat, "lon": lon,
                                "district_code": district, "asset": asset, "gateway_device": gateway})
    err.print(f"device {d['code']} ({d['type']}) registered; token (shown once):")
    out.print(d["token"], markup=False)


@sensing_app.command("device-import")
def device_import(path: Path = typer.Argument(..., exists=True, dir_okay=False, help="CSV: code,type[,name,lat,lon,"
                                              "district_code,asset]"),
                  tokens: Path = typer.Option(..., help="CSV file to write the new devices' tokens to")) -> None:
    """Register devices from a CSV file in chunks (each chunk all or nothing), writing their tokens to a file."""
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = raw.decode("gb18030")
    rows = list(csv.reader(io.StringIO(text)))
    if not rows:
        raise typer.BadParameter("empty file")
    header, body = rows[0], rows[1:]
    if "type" in header:  # gateways first: a later chunk's devices may name them as their gateway
        col = header.index("type")
        body.sort(key=lambda r: 0 if len(r) > col and r[col].strip() == "gateway" else 1)
    created = 0
    with tokens.open("w", newline="", encoding="utf-8") as f, Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=err) as bar:
        writer = csv.writer(f)
        writer.writerow(["code", "token"])
        task = bar.add_task("导入设备 / importing devices", total=len(body))
        for i in range(0, len(body), IMPORT_CHUNK):
            buf = io.StringIO()
            csv.writer(buf).writerows([header, *body[i:i + IMPORT_CHUNK]])
            result = _call("device_import", {"csv": buf.getvalue()})
            for t in result["tokens"]:
                writer.writerow([t["code"], t["token"]])
            created += result["created"]
            bar.advance(task, len(body[i:i + IMPORT_CHUNK]))
    err.print(f"{created} devices registered; tokens in {tokens}")


@sensing_app.command("device-list")
def device_list(type: str | None = typer.Option(None), limit: int = typer.Option(100)) -> None:
    """List devices."""
    data: dict[str, Any] = {"limit": limit}
    if type:
        data["type"] = type
    res = _call("device_list", data)
    table = Table("code", "type", "name", "district", "active", "last seen")
    for d in res["devices"]:
        table.add_row(d["code"], d["type"], d["name"], d["district_code"], "yes" if d["active"] else "no",
                      d["last_seen_at"] or "-")
    out.print(table)
    err.print(f"{res['count']} devices")


@sensing_app.command("device-show")
def device_show(code: str) -> None:
    """A device with its latest values and active alarms (JSON)."""
    out.print_json(json.dumps(_call("device_show", {"code": code}), ensure_ascii=False))


@sensing_app.command("token-rotate")
def token_rotate(code: str) -> None:
    """Give a device a new token (printed once); the old one stops working."""
    out.print(_call("device_token_rotate", {"code": code})["token"], markup=False)


@sensing_app.command("alarm-list")
def alarm_list(status: str = typer.Option("active", help="active | cleared | all | active_unack | …"),
               device: str | None = typer.Option(None), limit: int = typer.Option(100)) -> None:
    """List alarms."""
    data: dict[str, Any] = {"status": status, "limit": limit}
    if device:
        data["device"] = device
    res = _call("alarm_list", data)
    table = Table("id", "device", "type", "severity", "status", "count", "first seen", "last seen")
    for a in res["alarms"]:
        table.add_row(str(a["id"]), a["device"], a["type"], a["severity"], a["status"], str(a["count"]),
                      a["first_seen"], a["last_seen"])
    out.print(table)


@sensing_app.command("alarm-ack")
def alarm_ack(alarm_id: int) -> None:
    """Acknowledge an alarm."""
    a = _call("alarm_ack", {"id": alarm_id})
    err.print(f"alarm {a['id']}: {a['status']}")


@sensing_app.command("alarm-clear")
def alarm_clear(alarm_id: int) -> None:
    """Clear an alarm."""
    a = _call("alarm_clear", {"id": alarm_id})
    err.print(f"alarm {a['id']}: {a['status']}")


@sensing_app.command("rule-create")
def rule_create(name: str, device_type: str, alarm_type: str = typer.Option(...),
                condition: str = typer.Option(..., help='JSON, e.g. {"attr":"pm25","op":">","value":75,'
                                                        '"for_minutes":60}'),
                severity: str = typer.Option("major"), device: str = typer.Option("")) -> None:
    """Create an alarm rule."""
    r = _call("rule_create", {"name": name, "device_type": device_type, "alarm_type": alarm_type,
                              "condition": json.loads(condition), "severity": severity, "device": device})
    err.print(f"rule {r['name']} created")


@sensing_app.command("rule-list")
def rule_list() -> None:
    """List alarm rules."""
    table = Table("name", "type", "device", "alarm", "severity", "condition")
    for r in _call("rule_list", {}):
        table.add_row(r["name"], r["device_type"], r["device"] or "*", r["alarm_type"], r["severity"],
                      json.dumps(r["condition"], ensure_ascii=False))
    out.print(table)


@sensing_app.command("device-gateway")
def device_gateway(code: str, gateway: str = typer.Argument("", help="gateway code; empty: unassign")) -> None:
    """Assign a device to the gateway that relays its readings (only that gateway may publish for it)."""
    d = _call("device_update", {"code": code, "gateway_device": gateway})
    err.print(f"device {d['code']}: gateway {d['gateway_device'] or '-'}")


@sensing_app.command("rule-update")
def rule_update(name: str, alarm_type: str | None = typer.Option(None),
                condition: str | None = typer.Option(None, help="JSON condition"),
                severity: str | None = typer.Option(None), enabled: bool | None = typer.Option(None)) -> None:
    """Change an alarm rule (what is not given stays)."""
    data: dict[str, Any] = {"name": name, "alarm_type": alarm_type, "severity": severity, "enabled": enabled,
                            "condition": json.loads(condition) if condition else None}
    r = _call("rule_update", {k: v for k, v in data.items() if v is not None})
    err.print(f"rule {r['name']} updated")


@sensing_app.command("rule-delete")
def rule_delete(name: str) -> None:
    """Delete an alarm rule (the alarms it raised stay readable)."""
    r = _call("rule_delete", {"name": name})
    err.print(f"rule {r['name']} deleted; {r['alarms_kept']} alarms kept")


@sensing_app.command("webhook-list")
def webhook_list() -> None:
    """List webhook subscriptions."""
    table = Table("name", "url", "min severity", "enabled")
    for h in _call("webhook_list", {}):
        table.add_row(h["name"], h["url"], h["min_severity"], "yes" if h["enabled"] else "no")
    out.print(table)


@sensing_app.command("webhook-create")
def webhook_create(name: str, url: str, secret: str = typer.Option(""),
                   min_severity: str = typer.Option("warning")) -> None:
    """Subscribe a webhook to alarm changes."""
    h = _call("webhook_create", {"name": name, "url": url, "secret": secret, "min_severity": min_severity})
    err.print(f"webhook {h['name']} created")


@sensing_app.command("webhook-update")
def webhook_update(name: str, url: str | None = typer.Option(None), secret: str | None = typer.Option(None),
                   min_severity: str | None = typer.Option(None), enabled: bool | None = typer.Option(None)) -> None:
    """Change a webhook (what is not given stays)."""
    data = {"name": name, "url": url, "secret": secret, "min_severity": min_severity, "enabled": enabled}
    h = _call("webhook_update", {k: v for k, v in data.items() if v is not None})
    err.print(f"webhook {h['name']} updated")


@sensing_app.command("webhook-delete")
def webhook_delete(name: str) -> None:
    """Unsubscribe a webhook (its pending deliveries are dropped)."""
    h = _call("webhook_delete", {"name": name})
    err.print(f"webhook {h['name']} deleted")


@sensing_app.command("deadletters")
def deadletters(reason: str | None = typer.Option(None), limit: int = typer.Option(50)) -> None:
    """Refused readings with their reasons."""
    data: dict[str, Any] = {"limit": limit}
    if reason:
        data["reason"] = reason
    res = _call("deadletter_list", data)
    for k, v in res["by_reason"].items():
        err.print(f"{k}: {v['count']} ({v['label_zh']} / {v['label_en']})")
    table = Table("received", "source", "device", "reason", "detail")
    for d in res["dead_letters"]:
        table.add_row(d["received_at"], d["source"], d["device"], d["reason"], d["detail"])
    out.print(table)


@sensing_app.command("aqi")
def aqi(device: str, date: str | None = typer.Option(None, help="YYYY-MM-DD (Asia/Shanghai)"),
        table: str | None = typer.Option(None, help="HJ633-2012 | HJ633-2026")) -> None:
    """A station's hourly and daily AQI for a day."""
    data: dict[str, Any] = {"device": device}
    if date:
        data["date"] = date
    if table:
        data["table"] = table
    res = _call("aqi_show", data)
    t = Table("hour (local)", "AQI", "level", "category", "primary")
    for h in res["hourly"]:
        t.add_row(h["hour_local"][11:16], str(h["aqi"]), h["level_zh"], f"{h['category_zh']} {h['category_en']}",
                  ",".join(h["primary"]) or "-")
    out.print(t)
    d = res["daily"]
    err.print(f"daily AQI {res['date']}: {d['aqi']} {d['category_zh']} ({d['category_en']}), primary "
              f"{','.join(d['primary']) or '-'} [{res['table']}]")


@sensing_app.command("overview")
def overview() -> None:
    """The sensing hub at a glance (JSON)."""
    out.print_json(json.dumps(_call("sensing_overview", {}), ensure_ascii=False))


@sensing_app.command("retain")
def retain() -> None:
    """Aggregate finished days, compact them and drop raw readings past the retention period."""
    out.print_json(json.dumps(_call("sensing_retain", {})))
