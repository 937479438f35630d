"""The live demo feed of ``make run``: the embedded broker, the receiver into the pipeline and a tiny simulated
fleet, in-process; readings are stored and counted by the overview within seconds, the replayed pollution episode
raises PM2.5 alarms that clear when it ends, and stopping leaves no thread behind. A restart reuses the fleet."""

from __future__ import annotations

import socket
import threading
import time

from sqlalchemy import func, select

from tests.conftest import set_settings
from tests.sensing.transport_services import free_port


def _wait(pred, timeout: float) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(0.1)
    return False


def test_demo_feed_stores_readings_raises_alarms_and_stops_cleanly(sqlite_empty, settings_env) -> None:
    from cityhub import actions
    from cityhub.context import system_context
    from cityhub.db import session_scope
    from cityhub.sensing import demo_feed
    from cityhub.sensing.ingest import get_ingestor
    from cityhub.sensing.models import Alarm, Device, SensingRule
    from cityhub.settings import get_settings

    set_settings(settings_env, mqtt_url="", nats_url="", mqtt_embedded_port=free_port(), mqtt_batch_ms=20,
                 mqtt_client_id="rx-demo-test", sensing_flush_seconds=0.2, sensing_demo="true",
                 sensing_demo_devices=20, sensing_demo_interval_seconds=0.3, sensing_demo_cycle_minutes=0.1)
    before = {t.ident for t in threading.enumerate()}

    def overview() -> dict:
        return actions.call("sensing_overview", system_context("test"), {})

    def alarms(active: bool) -> int:
        with session_scope() as s:
            return s.scalar(select(func.count()).select_from(Alarm).where(Alarm.type == "pm25_high",
                                                                          Alarm.active.is_(active))) or 0

    line = demo_feed.start_if_enabled()
    try:
        assert "embedded amqtt broker 127.0.0.1" in line, line
        assert demo_feed._FEED is not None
        n = len(demo_feed._FEED.fleet)
        assert n >= 31  # 11 stations + 20 devices (+ their gateways)
        assert overview()["devices"] == n
        assert _wait(lambda: overview()["online_last_hour"] >= 11, 10), overview()
        assert _wait(lambda: len(overview()["stations"]) == 11, 5)
        # readings reach the time-series store and the overview counts them, growing
        def stored() -> int:
            get_ingestor().store.flush_if_due()
            return overview()["values_stored"] or 0

        assert _wait(lambda: stored() >= n - 1, 10), overview()["values_stored"]
        first = stored()
        assert _wait(lambda: stored() > first, 10)
        assert demo_feed._FEED.published > n
        points = overview()["map"]
        assert len(points) == sum(1 for d in demo_feed._FEED.fleet if d.type != "gateway")
        assert {p["state"] for p in points} <= {"ok", "offline", "critical", "major", "minor", "warning"}
        # the pollution episode (5 %…55 % of each 6 s cycle) raises PM2.5 alarms at central stations, and clears
        assert _wait(lambda: alarms(True) > 0, 12), "no PM2.5 alarm rose"
        assert _wait(lambda: "major" in {p["state"] for p in overview()["map"]}, 5)  # an alarmed station on the map
        assert _wait(lambda: alarms(False) > 0, 12), "no PM2.5 alarm cleared"
    finally:
        demo_feed.stop()
    assert demo_feed._FEED is None
    assert _wait(lambda: not ({t.ident for t in threading.enumerate()} - before), 10), \
        [t.name for t in threading.enumerate() if t.ident not in before]
    # a restart reuses the registered devices and rules (the tokens file), registering nothing new
    with session_scope() as s:
        devices = s.scalar(select(func.count()).select_from(Device))
        rules = s.scalar(select(func.count()).select_from(SensingRule))
    # …and when another broker already holds the configured port (Mosquitto on 1883), the demo's own broker
    # takes a free one instead of giving up
    get_settings.cache_clear()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = taken.getsockname()[1]
        set_settings(settings_env, mqtt_embedded_port=busy)
        line = demo_feed.start_if_enabled()
        try:
            assert "embedded amqtt broker 127.0.0.1" in line and f":{busy} " not in line + " ", line
            assert _wait(lambda: demo_feed._FEED is not None and demo_feed._FEED.published > 0, 5)
        finally:
            demo_feed.stop()
    with session_scope() as s:
        assert s.scalar(select(func.count()).select_from(Device)) == devices
        assert s.scalar(select(func.count()).select_from(SensingRule)) == rules


def test_demo_feed_is_off_by_default(sqlite_empty, settings_env) -> None:
    from cityhub.sensing import demo_feed

    assert demo_feed.start_if_enabled() == ""
    assert demo_feed._FEED is None
