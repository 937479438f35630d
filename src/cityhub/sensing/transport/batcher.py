"""Batches raw messages into the sink and acknowledges each message only after the sink returned.

``put(message, ack)`` is called by a transport's receive thread; one flusher thread hands batches of up to
``size`` messages (or whatever arrived within ``window`` seconds of the oldest) to the sink, then calls the
acks in arrival order. When the sink raises, the batch is kept and offered again after a back-off (0.1 s
doubling to 5 s): no acknowledgement is sent for it, so the broker still holds it if we die meanwhile.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from cityhub.sensing.message import RawMessage, Sink

log = logging.getLogger(__name__)

Ack = Callable[[], None]


@dataclass
class BatchStats:
    received: int = 0
    handed: int = 0          # messages the sink accepted
    batches: int = 0
    sink_errors: int = 0
    last_error: str = ""
    latencies: list[float] = field(default_factory=list)  # receive → sink returned, seconds (last 100k)


class Batcher:
    def __init__(self, sink: Sink, size: int = 500, window: float = 0.05, *, keep_latencies: bool = False,
                 acknowledge: Callable[[Sequence[Ack]], None] | None = None) -> None:
        """``acknowledge``: called with a stored batch's acks in arrival order, instead of calling each (a
        transport that can acknowledge many messages at once)."""
        if size < 1 or window <= 0:
            raise ValueError("batch size must be ≥ 1 and window > 0")
        self.sink, self.size, self.window = sink, size, window
        self._acknowledge = acknowledge
        self.stats = BatchStats()
        self._keep_latencies = keep_latencies
        self._items: list[tuple[RawMessage, Ack]] = []
        self._cond = threading.Condition()
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="sensing-batcher", daemon=True)
        self._thread.start()

    def put(self, message: RawMessage, ack: Ack) -> None:
        with self._cond:
            self._items.append((message, ack))
            self.stats.received += 1
            if len(self._items) >= self.size:
                self._cond.notify()

    def pending(self) -> int:
        with self._cond:
            return len(self._items)

    def close(self, timeout: float = 30.0) -> None:
        """Hand on what is pending, then stop the flusher."""
        with self._cond:
            self._stopping = True
            self._cond.notify()
        self._thread.join(timeout)

    def _take(self) -> list[tuple[RawMessage, Ack]] | None:
        with self._cond:
            while True:
                if self._items:
                    age = time.time() - self._items[0][0].received_at
                    if len(self._items) >= self.size or age >= self.window or self._stopping:
                        batch, self._items = self._items[:self.size], self._items[self.size:]
                        return batch
                    self._cond.wait(self.window - age)
                elif self._stopping:
                    return None
                else:
                    self._cond.wait(self.window)

    def _run(self) -> None:
        while (batch := self._take()) is not None:
            delay = 0.1
            messages = [m for m, _ in batch]
            while True:
                try:
                    self.sink(messages)
                    break
                except Exception as exc:  # the pipeline failed as a whole: keep the batch, retry, never ack
                    self.stats.sink_errors += 1
                    self.stats.last_error = f"{type(exc).__name__}: {exc}"
                    log.exception("sensing sink failed; retrying the batch of %d in %.1f s", len(batch), delay)
                    if self._stopping and delay >= 5.0:
                        return  # shutting down with a broken sink: leave the messages unacknowledged
                    time.sleep(delay)
                    delay = min(delay * 2, 5.0)
            done = time.time()
            if self._acknowledge is not None:
                try:
                    self._acknowledge([ack for _, ack in batch])
                except Exception:  # a lost connection: the broker redelivers, the pipeline is idempotent
                    log.warning("acknowledgement failed", exc_info=True)
            else:
                for _, ack in batch:
                    try:
                        ack()
                    except Exception:  # as above
                        log.warning("acknowledgement failed", exc_info=True)
            self.stats.handed += len(batch)
            self.stats.batches += 1
            if self._keep_latencies:
                lat = self.stats.latencies
                lat.extend(done - m.received_at for m in messages)
                if len(lat) > 200_000:
                    del lat[:100_000]
