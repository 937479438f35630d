"""The batcher: batches by size and by time, acknowledges only after the sink returned, keeps and retries a
batch whose sink call failed (no acknowledgement meanwhile), hands on what is pending when closed."""

from __future__ import annotations

import threading
import time

import pytest

from cityhub.sensing.message import RawMessage
from cityhub.sensing.transport.batcher import Batcher


def msg(i: int) -> RawMessage:
    return RawMessage("device", "t", str(i).encode(), time.time(), device="D")


def test_size_and_time_windows_and_ack_after_sink() -> None:
    events: list[str] = []
    lock = threading.Lock()

    def sink(batch):
        with lock:
            events.append(f"sink:{len(batch)}")

    b = Batcher(sink, size=10, window=0.2)
    for i in range(25):
        b.put(msg(i), lambda i=i: events.append(f"ack:{i}"))
    time.sleep(0.05)
    with lock:
        assert events[:1] == ["sink:10"] and "ack:20" not in events  # full batches go at once, the rest waits
    time.sleep(0.4)
    b.close()
    sinks = [e for e in events if e.startswith("sink")]
    assert sinks == ["sink:10", "sink:10", "sink:5"]
    sink_at = [n for n, e in enumerate(events) if e.startswith("sink")]
    for i in range(25):  # message i is in batch i // 10; its ack comes after that batch's sink call
        assert events.index(f"ack:{i}") > sink_at[i // 10]
    assert b.stats.handed == 25 and b.stats.batches == 3


def test_failed_sink_is_retried_and_nothing_acked_until_it_succeeds() -> None:
    calls: list[int] = []
    acks: list[int] = []

    def sink(batch):
        calls.append(len(batch))
        if len(calls) < 3:
            raise RuntimeError("database down")

    b = Batcher(sink, size=5, window=0.02)
    for i in range(5):
        b.put(msg(i), lambda i=i: acks.append(i))
    deadline = time.time() + 5
    while len(calls) < 2 and time.time() < deadline:
        time.sleep(0.01)
    assert acks == []  # failed twice so far: nothing acknowledged
    while not acks and time.time() < deadline:
        time.sleep(0.01)
    b.close()
    assert calls == [5, 5, 5] and acks == [0, 1, 2, 3, 4]
    assert b.stats.sink_errors == 2 and "database down" in b.stats.last_error


def test_close_hands_on_what_is_pending_and_bad_arguments() -> None:
    got: list[int] = []
    b = Batcher(lambda batch: got.append(len(batch)), size=1000, window=30)
    for i in range(7):
        b.put(msg(i), lambda: None)
    b.close()
    assert got == [7]
    with pytest.raises(ValueError):
        Batcher(lambda batch: None, size=0)
