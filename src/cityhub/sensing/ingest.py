"""The ingest pipeline behind every transport: ``Ingestor()(messages)`` is a ``Sink``.

For a batch of raw messages it parses the JSON (one reading, a list of readings, or a gateway's
``{"<device>": [readings…]}``), authenticates each message's token against the device (token hashes cached,
compared in constant time), validates each reading against its device type (unknown attribute, unit, value,
range, a time more than ``CITYHUB_SENSING_FUTURE_MINUTES`` ahead), drops repeats of a (device, time) already
taken, appends the readings to the time-series store in one Arrow table, updates the latest values, runs the
alarm rules and stores every refused reading in the dead-letter table with its reason. It returns once all of
it is durable, so a transport may acknowledge then; after the commit, alarm changes and (only when a device page
listens, ``notify.device_listeners``) the watched devices' new readings go to this process's live listeners.

A reading is ``{"ts": <ms since epoch | ISO 8601>, "values": {attr: value}, "units": {attr: unit}?}`` or a flat
``{attr: value, …, "ts"?: …}`` (no ``ts``: the time the transport received it).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from itertools import chain
from typing import Any

import orjson
import pyarrow as pa
from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from cityhub.db import is_locked_error, session_scope, utcnow
from cityhub.sensing import alarms, devicetypes, notify, rules, tsstore
from cityhub.sensing.message import RawMessage
from cityhub.sensing.models import DeadLetter, Device, RuleState, SensingRule
from cityhub.settings import get_settings

log = logging.getLogger("cityhub.sensing.ingest")

PAYLOAD_CHARS = 2000
RECENT_KEYS = 4096          # per device: (time) keys remembered for de-duplication
STATE_SAVE_SECONDS = 10.0   # a rule state whose decision did not change is written at most this often
CACHE_SECONDS = 10.0        # devices and rules are re-read at least this often (other processes' changes)

# dead-letter reason codes (the type errors come from devicetypes)
INVALID_JSON = "invalid_json"
BAD_FORMAT = "bad_format"
UNKNOWN_DEVICE = "unknown_device"
WRONG_TOKEN = "wrong_token"  # noqa: S105 - a reason code, not a secret
INACTIVE_DEVICE = "inactive_device"
NOT_GATEWAY = "not_gateway"
NOT_ASSIGNED = "not_assigned_to_gateway"
BAD_TIMESTAMP = "bad_timestamp"
FUTURE_TIMESTAMP = "future_timestamp"
NO_VALUES = "no_values"
REASONS = {
    INVALID_JSON: ("消息不是合法的JSON", "Message is not valid JSON"),
    BAD_FORMAT: ("消息格式不正确", "Message has the wrong shape"),
    UNKNOWN_DEVICE: ("未知设备", "Unknown device"),
    WRONG_TOKEN: ("设备令牌错误", "Wrong device token"),
    INACTIVE_DEVICE: ("设备已停用", "Device is inactive"),
    NOT_GATEWAY: ("该令牌不属于网关设备", "Token is not a gateway's"),
    NOT_ASSIGNED: ("设备未分配给该网关", "Device is not assigned to this gateway"),
    BAD_TIMESTAMP: ("时间戳无法识别", "Timestamp not understood"),
    FUTURE_TIMESTAMP: ("时间戳超前于服务器时间", "Timestamp is in the future"),
    NO_VALUES: ("读数没有数值", "Reading has no values"),
    devicetypes.UNKNOWN_ATTRIBUTE: ("设备类型没有该属性", "Attribute unknown for the device type"),
    devicetypes.BAD_UNIT: ("单位不符", "Wrong unit"),
    devicetypes.BAD_VALUE: ("数值类型不正确", "Value of the wrong kind"),
    devicetypes.OUT_OF_RANGE: ("数值超出有效范围", "Value out of range"),
}


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class DeviceInfo:
    id: int
    code: str
    type: str
    token_hash: str
    gateway: bool
    active: bool
    gateway_id: int | None = None  # the gateway it is assigned to: the only one that may relay its readings


@dataclass
class Result:
    messages: int = 0
    readings: int = 0
    values: int = 0
    duplicates: int = 0
    rejected: int = 0
    raised: int = 0
    cleared: int = 0
    reasons: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"messages": self.messages, "readings": self.readings, "values": self.values,
                "duplicates": self.duplicates, "rejected": self.rejected, "alarms_raised": self.raised,
                "alarms_cleared": self.cleared, "reasons": dict(self.reasons)}


def parse_ts(raw: Any, default: float) -> float | None:
    """Seconds since the epoch from ms/s since the epoch or ISO 8601 (no zone: UTC); ``None`` if not understood."""
    if raw is None:
        return default
    if isinstance(raw, bool):
        return None
    if isinstance(raw, (int, float)):
        return raw / 1000.0 if raw > 1e11 else float(raw)
    if isinstance(raw, str):
        try:
            d = dt.datetime.fromisoformat(raw.replace("Z", "+00:00"))
        except ValueError:
            return None
        return (d if d.tzinfo else d.replace(tzinfo=dt.UTC)).timestamp()
    return None


class Ingestor:
    """The ingest pipeline. One per process; safe to call from several threads (calls are serialised)."""

    def __init__(self, store: Any = None, *, future_minutes: int | None = None,
                 now: Callable[[], float] = time.time) -> None:
        s = get_settings()
        self._store = store
        self.future = (future_minutes if future_minutes is not None else s.sensing_future_minutes) * 60
        self.now = now
        self._lock = threading.Lock()
        self._devices: dict[str, DeviceInfo] = {}
        self._by_hash: dict[str, DeviceInfo] = {}
        self._devices_at = 0.0
        self._rules: dict[str, list[tuple[SensingRuleInfo, rules.Condition]]] = {}
        self._rules_at = 0.0
        self._rule_sigs: dict[int, str] = {}
        self._states: dict[tuple[int, int], rules.State] = {}
        self._recent: dict[str, dict[int, None]] = {}
        self._seen_written: dict[int, float] = {}
        self._saved: dict[tuple[int, int], tuple[Any, float]] = {}
        # credentials that authenticated, per device-cache load: (named device code or "", token) → the sender;
        # spares the SHA-256 of every message (cleared whenever the devices are read again)
        self._auth_ok: dict[tuple[str, str], DeviceInfo] = {}
        self._applicable: dict[tuple[str, int], list[tuple[SensingRuleInfo, rules.Condition]]] = {}

    @property
    def store(self) -> Any:
        if self._store is None:
            self._store = default_store()
        return self._store

    # -- caches ------------------------------------------------------------------------------------------------

    def invalidate(self) -> None:
        self._devices_at = 0.0
        self._rules_at = 0.0

    def _load_devices(self, session: Session, force: bool = False) -> None:
        if not force and time.monotonic() - self._devices_at < CACHE_SECONDS:
            return
        rows = session.execute(select(Device.id, Device.code, Device.type, Device.token_hash, Device.gateway,
                                      Device.active, Device.gateway_id)).all()
        devices = {r[1]: DeviceInfo(r[0], r[1], r[2], r[3], bool(r[4]), bool(r[5]), r[6]) for r in rows}
        self._devices = devices
        self._by_hash = {d.token_hash: d for d in devices.values()}
        self._auth_ok = {}
        self._applicable = {}
        self._devices_at = time.monotonic()

    def _load_rules(self, session: Session) -> None:
        if time.monotonic() - self._rules_at < CACHE_SECONDS:
            return
        out: dict[str, list[tuple[SensingRuleInfo, rules.Condition]]] = {}
        signatures: dict[int, str] = {}
        for r in session.scalars(select(SensingRule).where(SensingRule.enabled.is_(True))):
            signatures[r.id] = json.dumps(r.condition, sort_keys=True)
            try:
                cond = rules.parse(r.condition)
            except rules.RuleError:
                log.warning("rule %s has a malformed condition; skipped", r.name)
                continue
            info = SensingRuleInfo(r.id, r.name, r.device_type, r.device_id, r.alarm_type, r.severity)
            out.setdefault(r.device_type, []).append((info, cond))
        # a rule changed (rule_update) or gone (rule_delete, disabled): its evaluation states start afresh
        stale = {rid for rid, sig in self._rule_sigs.items() if signatures.get(rid) != sig}
        if stale:
            for key in [k for k in self._states if k[0] in stale]:
                self._states.pop(key, None)
                self._saved.pop(key, None)
        self._rule_sigs = signatures
        self._rules = out
        self._applicable = {}
        self._rules_at = time.monotonic()

    def _device(self, session: Session, code: str) -> DeviceInfo | None:
        d = self._devices.get(code)
        if d is None and time.monotonic() - self._devices_at > 1.0:
            self._load_devices(session, force=True)
            d = self._devices.get(code)
        return d

    def _by_token(self, session: Session, token: str) -> DeviceInfo | None:
        h = token_hash(token)
        d = self._by_hash.get(h)
        if d is None and time.monotonic() - self._devices_at > 1.0:
            self._load_devices(session, force=True)
            d = self._by_hash.get(h)
        return d

    # -- the sink --------------------------------------------------------------------------------------------

    def __call__(self, messages: Sequence[RawMessage]) -> Result:
        with self._lock:
            for attempt in range(1, 6):
                try:
                    return self._ingest(messages)
                except BaseException as exc:
                    # the rule states advanced in memory with a transaction that did not commit: read them again
                    self._states.clear()
                    self._saved.clear()
                    if not isinstance(exc, OperationalError) or not is_locked_error(exc) or attempt == 5:
                        raise
                    time.sleep(0.05 * attempt)
        raise AssertionError("unreachable")

    def _ingest(self, messages: Sequence[RawMessage]) -> Result:
        res = Result(messages=len(messages))
        now = self.now()
        dead: list[dict[str, Any]] = []
        cols = _Columns()
        by_device: dict[str, list[tuple[float, dict[str, float]]]] = {}
        recent_added: set[tuple[str, int]] = set()
        events: list[dict[str, Any]] = []

        def reject(m: RawMessage, code: str, reason: str, raw: Any, detail: str = "") -> None:
            res.rejected += 1
            res.reasons[reason] = res.reasons.get(reason, 0) + 1
            text = raw if isinstance(raw, str) else (raw.decode("utf-8", "replace") if isinstance(raw, bytes)
                                                     else json.dumps(raw, ensure_ascii=False, default=str))
            dead.append({"received_at": dt.datetime.fromtimestamp(m.received_at, dt.UTC), "source": m.source[:10],
                         "device_code": code[:100], "reason": reason, "detail": detail[:500],
                         "payload": text[:PAYLOAD_CHARS]})

        with session_scope() as session:
            self._load_devices(session)
            self._load_rules(session)
            for m in messages:
                body = loads(m.payload)
                if body is INVALID:
                    reject(m, m.device, INVALID_JSON, m.payload)
                    continue
                groups = self._authenticate(session, m, body, reject)
                if groups:
                    self._readings(m, groups, now, cols, by_device, recent_added, res, reject)
            table = cols.table()
            res.values = table.num_rows if table is not None else 0
            if table is not None:
                self.store.append(table)
            if dead:
                session.connection().execute(insert(DeadLetter), dead)
            if by_device:
                for readings in by_device.values():
                    if len(readings) > 1:
                        readings.sort(key=_first)  # stable: readings of one time keep their arrival order
                self._latest(session, by_device)
                events = self._evaluate(session, by_device, res)
        for code, key in recent_added:
            keys = self._recent.setdefault(code, {})
            keys[key] = None
            if len(keys) > RECENT_KEYS:
                del keys[next(iter(keys))]
        for ev in events:
            notify.publish(ev)
        if by_device and notify.device_listeners:  # a device page is open: its new readings, else nothing built
            notify.publish_readings(by_device)
        return res

    def _remember(self, key: tuple[str, str], dev: DeviceInfo) -> None:
        if len(self._auth_ok) >= AUTH_CACHE:
            self._auth_ok = {}
        self._auth_ok[key] = dev

    def _token_holder(self, session: Session, cred: str | None) -> DeviceInfo | None:
        """The device whose token ``cred`` is (remembered once it has authenticated), or None."""
        if not cred:
            return None
        holder = self._auth_ok.get(("", cred))
        if holder is None:
            holder = self._by_token(session, cred)
            if holder is not None:
                self._remember(("", cred), holder)
        return holder

    def sender_ok(self, m: RawMessage) -> bool:
        """Whether the message's credential is a known, active sender: the device (named or by its token) or,
        for a gateway message, a gateway. A receiver that only queues the message (the HTTP route with JetStream
        configured) asks this before it answers; the pipeline checks everything again when it stores."""
        with self._lock, session_scope() as session:
            self._load_devices(session)
            if m.device and m.kind != "gateway":
                named = self._device(session, m.device)
                return (named is not None and named.active
                        and hmac.compare_digest(token_hash(m.credential or ""), named.token_hash))
            sender = self._token_holder(session, m.credential)
            return sender is not None and sender.active and (m.kind != "gateway" or sender.gateway)

    def _authenticate(self, session: Session, m: RawMessage, body: Any,
                      reject: Callable[..., None]) -> list[tuple[DeviceInfo, list[Any]]]:
        """The (device, readings) groups the message's token may send, rejecting the rest."""
        cred = m.credential
        if m.kind == "gateway":
            sender = self._token_holder(session, cred)
            if sender is None:
                reject(m, m.device, WRONG_TOKEN if m.device else UNKNOWN_DEVICE, m.payload)
                return []
            if not sender.gateway:
                reject(m, sender.code, NOT_GATEWAY, m.payload)
                return []
            if not sender.active:
                reject(m, sender.code, INACTIVE_DEVICE, m.payload)
                return []
            if not isinstance(body, dict):
                reject(m, sender.code, BAD_FORMAT, m.payload, "gateway payload must be an object of devices")
                return []
            groups: list[tuple[DeviceInfo, list[Any]]] = []
            devices = self._devices
            for code, readings in body.items():
                dev = devices.get(code)
                if dev is None:
                    dev = self._device(session, str(code))
                items = readings if isinstance(readings, list) else [readings]
                if dev is None or not dev.active:
                    for r in items:
                        reject(m, str(code), UNKNOWN_DEVICE if dev is None else INACTIVE_DEVICE, r,
                               f"via gateway {sender.code}")
                    continue
                if dev.gateway_id != sender.id:  # a gateway speaks only for the devices assigned to it
                    for r in items:
                        reject(m, dev.code, NOT_ASSIGNED, r, f"via gateway {sender.code}")
                    continue
                groups.append((dev, items))
            return groups
        if m.device:
            found = self._auth_ok.get((m.device, cred))
            if found is None:
                if cred:
                    self._by_token(session, cred)  # an unknown token re-reads the devices (a token just rotated)
                named = self._device(session, m.device)
                if named is None:
                    reject(m, m.device, UNKNOWN_DEVICE, m.payload)
                    return []
                if not hmac.compare_digest(token_hash(cred or ""), named.token_hash):
                    reject(m, named.code, WRONG_TOKEN, m.payload)
                    return []
                self._remember((m.device, cred), named)
                found = named
            sender = found
        else:
            sender = self._token_holder(session, cred)
            if sender is None:
                reject(m, m.device, UNKNOWN_DEVICE if not cred else WRONG_TOKEN, m.payload)
                return []
        if not sender.active:
            reject(m, sender.code, INACTIVE_DEVICE, m.payload)
            return []
        return [(sender, body if isinstance(body, list) else [body])]

    def _readings(self, m: RawMessage, groups: list[tuple[DeviceInfo, list[Any]]], now: float, cols: _Columns,
                  by_device: dict[str, list[tuple[float, dict[str, float]]]], recent_added: set[tuple[str, int]],
                  res: Result, reject: Callable[..., None]) -> None:
        """The readings of a message, per device. The usual reading (``{"ts": <int>, "values": {…}}``, plain
        numbers within their ranges, no units) is taken inline; anything else goes through ``_reading``, which
        decides it and gives the reason of every refusal."""
        limit = now + self.future
        recent_of = self._recent
        add_device, add_type, add_key, add_values = (cols.devices.append, cols.types.append, cols.keys.append,
                                                     cols.values.append)
        taken = 0
        for dev, items in groups:
            ranges = _RANGES.get(dev.type)
            if ranges is None:
                dtype = devicetypes.get(dev.type)
                ranges = _ranges(dtype) if dtype is not None else None
            code, type_ = dev.code, dev.type
            recent = recent_of.get(code, _NO_KEYS)
            mine = by_device.get(code)
            for reading in items:
                if ranges is not None and type(reading) is dict:
                    values = reading.get("values")
                    raw_ts = reading.get("ts")
                    if type(values) is dict and values and type(raw_ts) is int and reading.get("units") is None:
                        ts = raw_ts / 1000.0 if raw_ts > 1e11 else float(raw_ts)
                        clean: dict[str, float] | None = values
                        ints = False
                        for name, v in values.items():
                            rng = ranges.get(name)
                            t = type(v)
                            if rng is None or (t is not float and t is not int) or not rng[0] <= v <= rng[1]:
                                clean = None
                                break
                            if t is int:
                                ints = True
                        if clean is not None and ts <= limit:
                            if ints:
                                clean = {k: float(v) for k, v in values.items()}
                            key = int(ts * 1_000_000)
                            if key in recent or (code, key) in recent_added:
                                res.duplicates += 1
                                continue
                            recent_added.add((code, key))
                            add_device(code)
                            add_type(type_)
                            add_key(key)
                            add_values(clean)
                            taken += 1
                            if mine is None:
                                mine = by_device[code] = []
                            mine.append((ts, clean))
                            continue
                self._reading(m, dev, reading, now, cols, by_device, recent_added, res, reject)
                mine = by_device.get(code)
        res.readings += taken

    def _reading(self, m: RawMessage, dev: DeviceInfo, reading: Any, now: float, cols: _Columns,
                 by_device: dict[str, list[tuple[float, dict[str, float]]]],
                 recent_added: set[tuple[str, int]], res: Result, reject: Callable[..., None]) -> None:
        if not isinstance(reading, dict):
            reject(m, dev.code, BAD_FORMAT, reading, "a reading must be an object")
            return
        if "values" in reading:
            values, units = reading["values"], reading.get("units")
            if not isinstance(values, dict) or (units is not None and not isinstance(units, dict)):
                reject(m, dev.code, BAD_FORMAT, reading, "values (and units) must be objects")
                return
        else:
            values = {k: v for k, v in reading.items() if k != "ts"}
            units = None
        ts = parse_ts(reading.get("ts"), m.received_at)
        if ts is None:
            reject(m, dev.code, BAD_TIMESTAMP, reading)
            return
        if ts > now + self.future:
            reject(m, dev.code, FUTURE_TIMESTAMP, reading, f"{ts - now:.0f} s ahead")
            return
        if not values:
            reject(m, dev.code, NO_VALUES, reading)
            return
        dtype = devicetypes.get(dev.type)
        if dtype is None:
            reject(m, dev.code, devicetypes.UNKNOWN_ATTRIBUTE, reading, f"unknown device type {dev.type}")
            return
        clean: dict[str, float] = {}
        ranges = _RANGES.get(dev.type) or _ranges(dtype)
        for name, value in values.items():
            rng = ranges.get(name)  # fast path: a plain number within its range, no unit given
            if rng is not None and units is None and type(value) in (int, float) and rng[0] <= value <= rng[1]:
                clean[name] = float(value)
                continue
            v, why = devicetypes.check_value(dtype, name, value, units.get(name) if units else None)
            if v is None:
                reject(m, dev.code, why, reading, f"{name}={value!r}"[:200])
                return
            clean[name] = v
        key = int(ts * 1_000_000)
        if key in self._recent.get(dev.code, ()) or (dev.code, key) in recent_added:
            res.duplicates += 1
            return
        recent_added.add((dev.code, key))
        cols.add(dev.code, dev.type, key, clean)
        res.readings += 1
        by_device.setdefault(dev.code, []).append((ts, clean))

    def _latest(self, session: Session, by_device: dict[str, list[tuple[float, dict[str, float]]]]) -> None:
        """Upsert the latest value of each (device, attribute); each device's readings are in time order."""
        latest: dict[tuple[int, str], tuple[float, float]] = {}
        seen: dict[int, float] = {}
        devices = self._devices
        fromkeys = dict.fromkeys
        for code, readings in by_device.items():
            dev_id = devices[code].id
            seen[dev_id] = readings[-1][0]
            if len(readings) == 1:
                ts, values = readings[0]
                for attr, v in values.items():
                    latest[(dev_id, attr)] = (ts, v)
                continue
            last_value: dict[str, float] = {}
            last_ts: dict[str, float] = {}
            for ts, values in readings:  # in time order: the last reading of each attribute wins
                last_value.update(values)
                last_ts.update(fromkeys(values, ts))
            for attr, v in last_value.items():
                latest[(dev_id, attr)] = (last_ts[attr], v)
        # the hottest statement of the pipeline: sent to the driver as it is (SQLAlchemy's per-row type
        # processing cost more than the database's work); SQLite keeps SQLAlchemy's DATETIME text format
        conn = session.connection()
        pg = conn.dialect.name == "postgresql"
        mark = "%s" if pg else "?"
        sql = (f"INSERT INTO sensing_latest (device_id, attribute, ts, value) VALUES ({mark}, {mark}, {mark}, {mark}) "
               "ON CONFLICT (device_id, attribute) DO UPDATE SET ts = excluded.ts, value = excluded.value "
               "WHERE sensing_latest.ts <= excluded.ts")
        conv: Callable[[float], Any] = _dt if pg else _sqlite_ts
        stamps = {t: conv(t) for t in {t for t, _ in latest.values()}}
        rows = [(d, a, stamps[t], v) for (d, a), (t, v) in latest.items()]
        for i in range(0, len(rows), 5000):
            conn.exec_driver_sql(sql, rows[i:i + 5000])
        last = utcnow()
        mono = time.monotonic()  # last_seen_at is kept to the minute: written at most once a minute per device
        seen = {d: t for d, t in seen.items() if mono - self._seen_written.get(d, -1e9) >= 60}
        if not seen:
            return
        for d in seen:
            self._seen_written[d] = mono
        dev_t = Device.__table__
        conn.execute(update(dev_t).where(dev_t.c.id == bindparam("b_id")).values(last_seen_at=last),  # type: ignore[arg-type]
                     [{"b_id": d} for d in seen])

    def _state(self, session: Session, rule_id: int, device_id: int) -> rules.State:
        key = (rule_id, device_id)
        st = self._states.get(key)
        if st is None:
            row = session.get(RuleState, key)
            st = rules.State.from_json(row.state if row else None)
            self._states[key] = st
        return st

    def _evaluate(self, session: Session, by_device: dict[str, list[tuple[float, dict[str, float]]]],
                  res: Result) -> list[dict[str, Any]]:
        """Run each device's readings (in time order) through the rules of its type and its own."""
        events: list[dict[str, Any]] = []
        touched: list[tuple[int, int]] = []
        devices, applicable_of, states = self._devices, self._applicable, self._states
        for code, readings in by_device.items():
            dev = devices[code]
            applicable = applicable_of.get((dev.type, dev.id))
            if applicable is None:
                applicable = applicable_of[(dev.type, dev.id)] = [
                    (r, c) for r, c in self._rules.get(dev.type, ()) if r.device_id in (None, dev.id)]
            for info, cond in applicable:
                key = (info.id, dev.id)
                st = states.get(key)
                if st is None:
                    st = self._state(session, info.id, dev.id)
                edges = rules.evaluate(cond, readings, st)
                touched.append(key)
                if edges:
                    events.extend(self._apply(session, dev, info, edges, res))
        self._save_states(session, touched)
        return events

    def _apply(self, session: Session, dev: DeviceInfo, info: SensingRuleInfo, edges: list[rules.Edge],
               res: Result) -> list[dict[str, Any]]:
        events = []
        for e in edges:
            if e.kind == "raise":
                aid, created = alarms.raise_alarm(session, device_id=dev.id, type_=info.alarm_type,
                                                  severity=info.severity, ts=_dt(e.ts),
                                                  details={"rule": info.name, "values": e.values}, rule_id=info.id)
                res.raised += 1
                kind = "alarm_raised" if created else "alarm_repeated"
            else:
                found = alarms.clear_alarm(session, device_id=dev.id, type_=info.alarm_type, ts=_dt(e.ts))
                if found is None:
                    continue
                aid = found
                res.cleared += 1
                kind = "alarm_cleared"
            ev = {"event": kind, "alarm_id": aid, "device": dev.code, "device_type": dev.type,
                  "type": info.alarm_type, "severity": info.severity, "rule": info.name,
                  "ts": _dt(e.ts).isoformat(), "values": e.values}
            alarms.queue_webhooks(session, ev)
            events.append(ev)
        return events

    def _save_states(self, session: Session, touched: list[tuple[int, int]]) -> None:
        if not touched:
            return
        # a state is written when what decides the rule changed (active, since when a threshold holds, a rate
        # tripped) or every STATE_SAVE_SECONDS otherwise: after a restart a rate or no-data timer may start from a
        # value up to that old, never from a wrong decision
        mono = time.monotonic()
        rows = []
        states, saved_of = self._states, self._saved
        for key in set(touched):
            st = states[key]
            since, hit = st.since, st.rate_hit
            sig = (st.active, tuple(since.items()) if len(since) < 2 else tuple(sorted(since.items())),
                   tuple(hit.items()) if len(hit) < 2 else tuple(sorted(hit.items())))
            saved = saved_of.get(key)
            if saved is not None and saved[0] == sig and mono - saved[1] < STATE_SAVE_SECONDS:
                continue
            saved_of[key] = (sig, mono)
            rows.append({"rule_id": key[0], "device_id": key[1], "state": st.to_json()})
        if not rows:
            return
        table = RuleState.__table__
        ins = alarms._insert(session, table)
        session.connection().execute(ins.on_conflict_do_update(index_elements=["rule_id", "device_id"],
                                                               set_={"state": ins.excluded.state}), rows)

    def tick(self, now: float | None = None) -> Result:
        """Evaluate the rules that time alone can change (no data, durations) for every device of their type."""
        try:
            return self._tick(now)
        except BaseException:
            with self._lock:
                self._states.clear()  # advanced in memory by a transaction that did not commit
                self._saved.clear()
            raise

    def _tick(self, now: float | None) -> Result:
        res = Result()
        now = self.now() if now is None else now
        events: list[dict[str, Any]] = []
        with self._lock, session_scope() as session:
            self._load_devices(session)
            self._load_rules(session)
            touched: list[tuple[int, int]] = []
            for type_, entries in self._rules.items():
                timed = [(r, c) for r, c in entries if rules.has_timer(c)]
                if not timed:
                    continue
                for dev in self._devices.values():
                    if dev.type != type_ or not dev.active:
                        continue
                    for info, cond in timed:
                        if info.device_id not in (None, dev.id):
                            continue
                        st = self._state(session, info.id, dev.id)
                        edges = rules.tick(cond, st, now)
                        if edges:
                            touched.append((info.id, dev.id))
                            events.extend(self._apply(session, dev, info, edges, res))
            self._save_states(session, touched)
        for ev in events:
            notify.publish(ev)
        return res


@dataclass(frozen=True)
class SensingRuleInfo:
    id: int
    name: str
    device_type: str
    device_id: int | None
    alarm_type: str
    severity: str


_RANGES: dict[str, dict[str, tuple[float, float]]] = {}
_NO_KEYS: dict[int, None] = {}
AUTH_CACHE = 100_000  # authenticated (device, token) pairs remembered at most (then forgotten all at once)
INVALID = object()    # what ``loads`` gives for a payload that is not JSON


def loads(payload: bytes | str) -> Any:
    """The JSON document of a payload, or ``INVALID``. orjson first (several times faster than the standard
    library); what it refuses is tried with ``json`` too (NaN, Infinity, UTF-16/32), so the pipeline accepts and
    refuses what it did with ``json`` alone. (orjson reads an integer past 64 bits as the nearest float: out of
    every attribute's range, and stored values are floats anyway.) A payload nested too deep for both is
    refused (it used to raise, failing the whole batch again and again)."""
    try:
        return orjson.loads(payload)
    except orjson.JSONDecodeError:
        pass
    try:
        return json.loads(payload)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return INVALID


def _first(reading: tuple[float, dict[str, float]]) -> float:
    return reading[0]


class _Columns:
    """A batch's stored readings, gathered per reading (device, type, time key, values) and expanded to one row
    per value by ``tsstore.table_from_readings`` (Arrow ``take`` instead of Python lists per value)."""

    __slots__ = ("devices", "keys", "types", "values")

    def __init__(self) -> None:
        self.devices: list[str] = []
        self.types: list[str] = []
        self.keys: list[int] = []
        self.values: list[dict[str, float]] = []

    def add(self, device: str, type_: str, key: int, values: dict[str, float]) -> None:
        self.devices.append(device)
        self.types.append(type_)
        self.keys.append(key)
        self.values.append(values)

    def table(self) -> pa.Table | None:
        if not self.values:
            return None
        return tsstore.table_from_readings(self.devices, self.types, self.keys, list(map(len, self.values)),
                                           list(chain.from_iterable(self.values)),
                                           list(chain.from_iterable(map(dict.values, self.values))))


def _ranges(dtype: devicetypes.DeviceType) -> dict[str, tuple[float, float]]:
    """The numeric attributes of a type with both bounds: what the fast validation path checks."""
    out = {a.name: (a.min, a.max) for a in dtype.attributes
           if a.kind == "number" and a.min is not None and a.max is not None}
    _RANGES[dtype.code] = out
    return out


def _sqlite_ts(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def _dt(ts: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(ts, dt.UTC)


def default_store() -> Any:
    s = get_settings()
    url = s.sensing_ts_url or (s.resolved_database_url if s.sensing_ts_backend == "postgres" else "")
    return tsstore.open_store(backend=s.sensing_ts_backend, home=s.home, url=url, flush_rows=s.sensing_flush_rows,
                              flush_seconds=s.sensing_flush_seconds)


_INGESTOR: Ingestor | None = None
_INGESTOR_LOCK = threading.Lock()


def get_ingestor() -> Ingestor:
    """The process's pipeline (what the HTTP route and the MQTT/JetStream workers feed)."""
    global _INGESTOR
    with _INGESTOR_LOCK:
        home = str(get_settings().home)
        if _INGESTOR is None or getattr(_INGESTOR, "_home", None) != home:
            _INGESTOR = Ingestor()
            _INGESTOR._home = home  # type: ignore[attr-defined]
        return _INGESTOR
