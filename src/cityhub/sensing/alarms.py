"""Alarm storage: raise (one active alarm per device and type, a repeat updates it), clear, acknowledge; and the
webhook deliveries an alarm change queues. Every statement runs in the caller's transaction.

The single active alarm per (device, type) is the database's job: a unique index on (device_id, type) over the
active rows, and ``INSERT … ON CONFLICT (device_id, type) WHERE active DO UPDATE``, so two readings raising the
same alarm at once (two threads, two processes) leave one row whose ``count`` is 2."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import bindparam, case, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from cityhub.sensing.models import SEVERITIES, Alarm, Webhook, WebhookDelivery

SEVERITY_RANK = {s: i for i, s in enumerate(reversed(SEVERITIES))}  # warning 0 … critical 3


def _insert(session: Session, model: Any) -> Any:
    return (postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert)(model)


_RAISE: dict[str, Any] = {}  # the raise statement per dialect, built once (building it cost more than running it)


def _raise_statement(session: Session) -> Any:
    name = session.get_bind().dialect.name
    stmt = _RAISE.get(name)
    if stmt is None:
        t = Alarm.__table__
        ins = _insert(session, t).values(
            device_id=bindparam("p_device", type_=t.c.device_id.type), type=bindparam("p_type", type_=t.c.type.type),
            severity=bindparam("p_severity", type_=t.c.severity.type), status="active_unack", active=True,
            rule_id=bindparam("p_rule", type_=t.c.rule_id.type), first_seen=bindparam("p_first", type_=t.c.first_seen.type),
            last_seen=bindparam("p_last", type_=t.c.last_seen.type), count=1,
            details=bindparam("p_details", type_=t.c.details.type), ack_by="", clear_by="")
        stmt = _RAISE[name] = ins.on_conflict_do_update(
            index_elements=["device_id", "type"], index_where=text("active"),
            set_={"last_seen": ins.excluded.last_seen, "count": t.c.count + 1, "severity": ins.excluded.severity,
                  "details": ins.excluded.details},
        ).returning(t.c.id, t.c.count)
    return stmt


def raise_alarm(session: Session, *, device_id: int, type_: str, severity: str, ts: dt.datetime,
                details: dict[str, Any] | None = None, rule_id: int | None = None) -> tuple[int, bool]:
    """Raise (or repeat) the alarm; returns (alarm id, whether a new alarm was created)."""
    row = session.execute(_raise_statement(session), {
        "p_device": device_id, "p_type": type_, "p_severity": severity, "p_rule": rule_id, "p_first": ts,
        "p_last": ts, "p_details": details or {}}).one()
    return int(row[0]), int(row[1]) == 1


def clear_alarm(session: Session, *, device_id: int, type_: str, ts: dt.datetime, by: str = "rule") -> int | None:
    """Clear the device's active alarm of that type (``None``: there was none)."""
    stmt = (update(Alarm).where(Alarm.device_id == device_id, Alarm.type == type_, Alarm.active.is_(True))
            .values(active=False, cleared_at=ts, clear_by=by,
                    status=case((Alarm.status == "active_ack", "cleared_ack"), else_="cleared_unack"))
            .returning(Alarm.id))
    return session.execute(stmt).scalar()


def alarm_dict(a: Alarm, device_code: str = "") -> dict[str, Any]:
    return {"id": a.id, "device": device_code, "type": a.type, "severity": a.severity, "status": a.status,
            "active": a.active, "first_seen": a.first_seen.isoformat(), "last_seen": a.last_seen.isoformat(),
            "count": a.count, "details": a.details or {}, "ack_by": a.ack_by,
            "ack_at": a.ack_at.isoformat() if a.ack_at else None, "clear_by": a.clear_by,
            "cleared_at": a.cleared_at.isoformat() if a.cleared_at else None, "rule_id": a.rule_id}


def queue_webhooks(session: Session, event: dict[str, Any]) -> int:
    """Queue one delivery of ``event`` to each enabled webhook whose minimum severity it reaches."""
    rank = SEVERITY_RANK.get(str(event.get("severity")), 0)
    hooks = session.execute(select(Webhook.id, Webhook.min_severity).where(Webhook.enabled.is_(True))).all()
    n = 0
    for hid, min_sev in hooks:
        if rank >= SEVERITY_RANK.get(min_sev, 0):
            session.add(WebhookDelivery(webhook_id=hid, body=event))
            n += 1
    return n
