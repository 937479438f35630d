"""Live notifications: server-sent events for the process's listeners (alarm changes; a device's readings), and
webhook deliveries.

Ingestion never waits on a listener or a webhook: an alarm change is put on each listener's bounded queue (a full
queue loses its oldest event, never blocks) and written as a ``sensing_webhook_delivery`` row in the ingest
transaction. A device page's listener (``subscribe_device``) gets that device's alarm changes and its new
readings; the pipeline looks at ``device_listeners`` (a dict, empty when nobody watches a device) before it
builds anything, so readings cost nothing when no page is open. Readings are coalesced: while the listener has
not taken its events, new readings merge into its last pending ``readings`` event, at most ``POINTS`` points per
attribute (the oldest dropped). Listeners are per process: a page sees what the process serving it ingests. The periodic job ``sensing_webhooks`` claims due deliveries and hands each to the fair pool
``sensing_webhook`` keyed by webhook, so a slow or dead endpoint holds at most its share of the workers; a failed
delivery is retried with exponential back-off (5 s, 10 s, 20 s … capped at one hour) up to ``MAX_ATTEMPTS``.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hashlib
import hmac
import json
import threading
from collections import deque
from collections.abc import Mapping, Sequence
from typing import Any

import httpx
from sqlalchemy import select, update

from cityhub.db import session_scope, utcnow
from cityhub.sensing.models import Webhook, WebhookDelivery

MAX_ATTEMPTS = 10
QUEUE_SIZE = 1000
POINTS = 200  # per attribute, in one pending readings event of a device listener (the oldest dropped)


class Listener:
    """One live-alarm subscriber (an SSE connection): a bounded queue fed from any thread."""

    def __init__(self, loop: asyncio.AbstractEventLoop | None) -> None:
        self.loop = loop
        self.events: deque[dict[str, Any]] = deque(maxlen=QUEUE_SIZE)
        self.ready = asyncio.Event() if loop is not None else None
        self.cond = threading.Condition()

    def put(self, event: dict[str, Any]) -> None:
        with self.cond:
            self.events.append(event)
            self.cond.notify_all()
        self._wake()

    def _wake(self) -> None:
        if self.loop is not None and self.ready is not None:
            with contextlib.suppress(RuntimeError):  # its loop has closed
                self.loop.call_soon_threadsafe(self.ready.set)

    def take(self) -> list[dict[str, Any]]:
        with self.cond:
            out = list(self.events)
            self.events.clear()
        if self.ready is not None:
            self.ready.clear()
        return out

    def wait(self, timeout: float) -> list[dict[str, Any]]:
        """Block (in a thread) until events arrive or ``timeout`` passes."""
        with self.cond:
            if not self.events:
                self.cond.wait(timeout)
        return self.take()


class DeviceListener(Listener):
    """A device page's subscriber: that device's alarm changes and its readings, coalesced (see the module)."""

    def __init__(self, loop: asyncio.AbstractEventLoop | None, device: str) -> None:
        super().__init__(loop)
        self.device = device

    def put_readings(self, readings: Sequence[tuple[float, Mapping[str, float]]]) -> None:
        """Merge readings (time in seconds, values) into the pending ``readings`` event, or start one."""
        with self.cond:
            last = self.events[-1] if self.events else None
            if last is None or last.get("event") != "readings":
                last = {"event": "readings", "device": self.device, "points": {}}
                self.events.append(last)
            points: dict[str, deque[tuple[float, float]]] = last["points"]
            for ts, values in readings:
                for attr, v in values.items():
                    q = points.get(attr)
                    if q is None:
                        q = points[attr] = deque(maxlen=POINTS)
                    q.append((ts, v))
            self.cond.notify_all()
        self._wake()


_listeners: set[Listener] = set()
#: device code → its device pages' listeners; empty when nobody watches a device (what the pipeline checks)
device_listeners: dict[str, set[DeviceListener]] = {}
_lock = threading.Lock()


def subscribe(loop: asyncio.AbstractEventLoop | None = None) -> Listener:
    listener = Listener(loop)
    with _lock:
        _listeners.add(listener)
    return listener


def subscribe_device(device: str, loop: asyncio.AbstractEventLoop | None = None) -> DeviceListener:
    listener = DeviceListener(loop, device)
    with _lock:
        device_listeners.setdefault(device, set()).add(listener)
    return listener


def unsubscribe(listener: Listener) -> None:
    with _lock:
        _listeners.discard(listener)
        if isinstance(listener, DeviceListener):
            mine = device_listeners.get(listener.device)
            if mine is not None:
                mine.discard(listener)
                if not mine:
                    del device_listeners[listener.device]


def publish(event: dict[str, Any]) -> None:
    """An alarm change to every alarm listener and to the listeners of its device."""
    with _lock:
        targets = list(_listeners)
        if device_listeners:
            targets.extend(device_listeners.get(event.get("device") or "", ()))
    for listener in targets:
        listener.put(event)


def publish_readings(by_device: Mapping[str, Sequence[tuple[float, Mapping[str, float]]]]) -> None:
    """New readings of devices (each device's in time order) to the listeners of those devices. The pipeline calls
    it only when ``device_listeners`` is not empty."""
    with _lock:
        targets = [(listener, by_device[code]) for code in device_listeners.keys() & by_device.keys()
                   for listener in device_listeners[code]]
    for listener, readings in targets:
        listener.put_readings(readings)


# -- webhooks -------------------------------------------------------------------------------------------------


def backoff(attempts: int) -> dt.timedelta:
    return dt.timedelta(seconds=min(5 * 2 ** max(attempts - 1, 0), 3600))


def claim_due(limit: int = 200) -> list[tuple[int, int]]:
    """Mark due pending deliveries as sending; returns (delivery id, webhook id) pairs."""
    now = utcnow()
    with session_scope() as s:
        rows = s.execute(select(WebhookDelivery.id, WebhookDelivery.webhook_id)
                         .where(WebhookDelivery.status == "pending", WebhookDelivery.next_at <= now)
                         .order_by(WebhookDelivery.next_at).limit(limit)).all()
        ids = [r[0] for r in rows]
        if ids:
            s.execute(update(WebhookDelivery).where(WebhookDelivery.id.in_(ids),
                                                    WebhookDelivery.status == "pending")
                      .values(status="sending"))
    return [(int(r[0]), int(r[1])) for r in rows]


def sign(secret: str, body: bytes) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def deliver(delivery_id: int, timeout: float) -> str:
    """POST one delivery; on failure schedule the retry. Returns the new status."""
    with session_scope() as s:
        d = s.get(WebhookDelivery, delivery_id)
        if d is None or d.status not in ("sending", "pending"):
            return "gone"
        hook = s.get(Webhook, d.webhook_id)
        if hook is None or not hook.enabled:
            d.status = "failed"
            d.last_error = "webhook disabled or deleted"
            return d.status
        url, secret, body = hook.url, hook.secret, d.body
    raw = json.dumps(body, ensure_ascii=False, sort_keys=True).encode()
    headers = {"Content-Type": "application/json", "User-Agent": "CityHub-sensing"}
    if secret:
        headers["X-CityHub-Signature"] = "sha256=" + sign(secret, raw)
    error = ""
    try:
        resp = httpx.post(url, content=raw, headers=headers, timeout=timeout, follow_redirects=False)
        if resp.status_code >= 300:
            error = f"HTTP {resp.status_code}"
    except httpx.HTTPError as exc:
        error = f"{type(exc).__name__}: {exc}"[:500]
    with session_scope() as s:
        d = s.get(WebhookDelivery, delivery_id)
        if d is None:
            return "gone"
        d.attempts += 1
        if not error:
            d.status = "done"
            d.last_error = ""
        elif d.attempts >= MAX_ATTEMPTS:
            d.status = "failed"
            d.last_error = error
        else:
            d.status = "pending"
            d.last_error = error
            d.next_at = utcnow() + backoff(d.attempts)
        return d.status
