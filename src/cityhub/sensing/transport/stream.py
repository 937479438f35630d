"""Beyond one machine: NATS JetStream between the receivers and the ingest workers (docs/sensing-scale.md).

- ``StreamAppender`` is a ``Sink`` for a receiver (MQTT or HTTP): it appends each raw message to the durable
  stream and returns once JetStream acknowledged every one (stored on disk, replicated in a cluster), so the
  receiver's own acknowledgement (MQTT PUBACK, HTTP 2xx) comes after the message is safe in the stream.
  Each message carries ``Nats-Msg-Id`` = a hash of its content (kind, token, device, payload; plus the receipt
  time when the payload has no ``"ts"``): a receiver that re-publishes after a crash (the broker redelivered
  an unacknowledged message) is stored once within the stream's duplicate window.
- ``run_worker`` consumes the stream through one durable pull consumer shared by every worker on every
  machine: each message goes to one worker; the worker hands a batch to the pipeline sink and acknowledges
  the batch's messages only after the sink returned. A worker that dies (even by SIGKILL, mid-batch) leaves
  its messages unacknowledged; after ``ack_wait`` JetStream delivers them to another worker. The pipeline is
  idempotent on (device, timestamp), so a batch stored in part before the crash is stored once.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import nats
from nats.js import api

from cityhub.sensing.message import RawMessage, Sink

log = logging.getLogger(__name__)

H_KIND, H_CRED, H_DEVICE, H_RECEIVED, H_SOURCE = "CH-Kind", "CH-Token", "CH-Device", "CH-Received", "CH-Source"


@dataclass(frozen=True)
class StreamConfig:
    url: str = "nats://127.0.0.1:4222"
    stream: str = "CITYHUB_TELEMETRY"
    subject: str = "cityhub.telemetry"
    consumer: str = "cityhub-ingest"
    ack_wait: float = 30.0
    duplicate_window: float = 120.0


async def _log_error(exc: Exception) -> None:
    log.warning("NATS: %s", exc)


def _connect(url: str) -> Any:
    return nats.connect(url, max_reconnect_attempts=-1, reconnect_time_wait=1, error_cb=_log_error)


def message_id(m: RawMessage) -> str:
    h = hashlib.sha256()
    for part in (m.kind, m.credential, m.device):
        h.update(part.encode())
        h.update(b"\0")
    h.update(m.payload)
    if b'"ts"' not in m.payload:  # the reading will be stamped with the receipt time: that is part of it
        h.update(repr(m.received_at).encode())
    return h.hexdigest()[:32]


def encode(m: RawMessage) -> dict[str, str]:
    return {"Nats-Msg-Id": message_id(m), H_KIND: m.kind, H_CRED: m.credential, H_DEVICE: m.device,
            H_RECEIVED: repr(m.received_at), H_SOURCE: m.source}


def decode(headers: dict[str, str] | None, data: bytes) -> RawMessage:
    h = headers or {}
    kind = h.get(H_KIND, "device")
    return RawMessage("gateway" if kind == "gateway" else "device", h.get(H_CRED, ""), data,
                      float(h.get(H_RECEIVED, "0") or 0), h.get(H_SOURCE, "stream"), h.get(H_DEVICE, ""))


async def ensure_stream(js: Any, cfg: StreamConfig) -> None:
    """Create the stream (file storage, limits retention, the duplicate window), or bring its config along."""
    conf = api.StreamConfig(name=cfg.stream, subjects=[cfg.subject], storage=api.StorageType.FILE,
                            retention=api.RetentionPolicy.LIMITS, duplicate_window=cfg.duplicate_window)
    try:
        await js.stream_info(cfg.stream)
    except nats.js.errors.NotFoundError:
        await js.add_stream(conf)
        return
    await js.update_stream(conf)


class StreamAppender:
    """A ``Sink`` that appends to the JetStream stream (its own event loop in a daemon thread)."""

    def __init__(self, cfg: StreamConfig, *, chunk: int = 1000, timeout: float = 30.0) -> None:
        self.cfg, self.chunk, self.timeout = cfg, chunk, timeout
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="jetstream-appender", daemon=True)
        self._thread.start()
        self.nc: Any = self._run(self._connect())
        self.appended = 0
        self.duplicates = 0

    def _run(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(self.timeout * 2)

    async def _connect(self) -> Any:
        nc = await _connect(self.cfg.url)
        await ensure_stream(nc.jetstream(), self.cfg)
        return nc

    async def _append(self, batch: Sequence[RawMessage]) -> None:
        js = self.nc.jetstream()
        for start in range(0, len(batch), self.chunk):
            part = batch[start:start + self.chunk]
            acks = await asyncio.gather(*(js.publish(self.cfg.subject, m.payload, timeout=self.timeout,
                                                     stream=self.cfg.stream, headers=encode(m)) for m in part))
            self.appended += len(part)
            self.duplicates += sum(1 for a in acks if a.duplicate)

    def __call__(self, batch: Sequence[RawMessage]) -> None:
        """Returns when JetStream stored every message of the batch (raises otherwise: nothing is acked)."""
        if batch:
            self._run(self._append(batch))

    def close(self) -> None:
        self._run(self.nc.close())  # every append was awaited: nothing is left to flush
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)


async def _work(sink: Sink, cfg: StreamConfig, batch: int, stop: threading.Event,
                on_batch: Callable[[int], None] | None) -> None:
    nc = await _connect(cfg.url)
    js = nc.jetstream()
    await ensure_stream(js, cfg)
    sub = await js.pull_subscribe(
        cfg.subject, durable=cfg.consumer, stream=cfg.stream,
        config=api.ConsumerConfig(ack_policy=api.AckPolicy.EXPLICIT, ack_wait=cfg.ack_wait,
                                  max_ack_pending=max(batch * 20, 1000), max_deliver=-1))
    try:
        while not stop.is_set():
            try:
                msgs = await sub.fetch(batch, timeout=1.0)
            except (TimeoutError, nats.errors.TimeoutError):  # nothing to do (both are raised)
                continue
            raw = [decode(m.headers, m.data) for m in msgs]
            try:
                await asyncio.to_thread(sink, raw)
            except Exception:  # the pipeline failed as a whole: ask for redelivery soon instead of ack_wait
                log.exception("sensing sink failed on a stream batch of %d; it will be redelivered", len(msgs))
                await asyncio.gather(*(m.nak(delay=1.0) for m in msgs))
                continue
            await asyncio.gather(*(m.ack() for m in msgs))
            if on_batch:
                on_batch(len(msgs))
    finally:
        try:
            await nc.drain()
        except (TimeoutError, nats.errors.Error):  # unacked messages are redelivered anyway
            await nc.close()


def run_worker(sink: Sink, cfg: StreamConfig, *, batch: int = 500, stop: threading.Event | None = None,
               on_batch: Callable[[int], None] | None = None) -> None:
    """Consume the stream into ``sink`` until ``stop`` is set (forever by default)."""
    asyncio.run(_work(sink, cfg, batch, stop or threading.Event(), on_batch))


def consumer_state(cfg: StreamConfig) -> dict[str, int]:
    """Pending (not yet delivered) and unacknowledged counts of the shared consumer, and the stream's size."""

    async def go() -> dict[str, int]:
        nc = await nats.connect(cfg.url, error_cb=_log_error)
        try:
            js = nc.jetstream()
            info = await js.consumer_info(cfg.stream, cfg.consumer)
            sinfo = await js.stream_info(cfg.stream)
            return {"pending": info.num_pending or 0, "ack_pending": info.num_ack_pending or 0,
                    "redelivered": info.num_redelivered or 0, "messages": sinfo.state.messages}
        finally:
            await nc.close()

    return asyncio.run(go())
