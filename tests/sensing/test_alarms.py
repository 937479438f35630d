"""One active alarm per (device, alarm type), whatever the concurrency: the database enforces it."""

from __future__ import annotations

import datetime as dt
import threading
import time
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError, OperationalError

from cityhub.db import is_locked_error, session_scope
from cityhub.sensing import alarms
from cityhub.sensing.models import Alarm, Device
from tests.sensing.conftest import add_devices

UTC = dt.UTC


def _device_id(code: str) -> int:
    with session_scope() as s:
        return int(s.scalar(select(Device.id).where(Device.code == code)))  # type: ignore[arg-type]


def _raise(device_id: int, ts: dt.datetime) -> bool:
    for attempt in range(50):
        try:
            with session_scope() as s:
                return alarms.raise_alarm(s, device_id=device_id, type_="flooding", severity="critical", ts=ts)[1]
        except OperationalError as exc:
            if not is_locked_error(exc):
                raise
            time.sleep(0.01 * (attempt + 1))
    raise AssertionError("never got the lock")


def test_concurrent_raises_leave_one_active_alarm(empty_store: Any) -> None:
    add_devices()
    dev = _device_id("mh-1")
    n = 12
    barrier = threading.Barrier(n)
    created: list[bool] = []
    errors: list[BaseException] = []

    def work(i: int) -> None:
        try:
            barrier.wait()
            created.append(_raise(dev, dt.datetime(2026, 12, 1, 8, 0, i, tzinfo=UTC)))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert created.count(True) == 1
    with session_scope() as s:
        rows = s.scalars(select(Alarm)).all()
    assert len(rows) == 1 and rows[0].count == n and rows[0].active


def test_index_refuses_a_second_active_row_and_clear_allows_a_new_one(empty_store: Any) -> None:
    add_devices()
    dev = _device_id("mh-1")
    now = dt.datetime(2026, 12, 1, tzinfo=UTC)
    with session_scope() as s:
        s.add(Alarm(device_id=dev, type="flooding", severity="major", first_seen=now, last_seen=now))
    with pytest.raises(IntegrityError), session_scope() as s:
        s.add(Alarm(device_id=dev, type="flooding", severity="major", first_seen=now, last_seen=now))
        s.flush()
    with session_scope() as s:
        assert alarms.clear_alarm(s, device_id=dev, type_="flooding", ts=now) is not None
        assert alarms.clear_alarm(s, device_id=dev, type_="flooding", ts=now) is None
    assert _raise(dev, now) is True   # a cleared alarm does not block a new one
    with session_scope() as s:
        assert sorted((a.active, a.status) for a in s.scalars(select(Alarm))) == [
            (False, "cleared_unack"), (True, "active_unack")]
