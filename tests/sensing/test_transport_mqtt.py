# ruff: noqa: F811 - the service fixtures are imported from tests/sensing/transport_services.py
"""The MQTT receiver against a real broker: topics and tokens, batching, acknowledge-after-store, malformed
payloads reaching the sink, redelivery after a receiver crash, and a broker restart during ingestion."""

from __future__ import annotations

import contextlib
import json
import threading
import time
import uuid
from collections.abc import Sequence

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from cityhub.sensing.message import RawMessage
from cityhub.sensing.transport.mqtt import MqttReceiver, parse_url
from cityhub.sensing.transport.topics import device_topic, gateway_topic, subscriptions, to_raw
from tests.sensing.transport_services import mqtt_url, prefix, private_mosquitto  # noqa: F401 - fixtures


class Collect:
    """A sink that keeps what it got (thread-safe), optionally failing or blocking."""

    def __init__(self, fail: bool = False) -> None:
        self.messages: list[RawMessage] = []
        self.batches = 0
        self.fail = fail
        self.lock = threading.Lock()

    def __call__(self, batch: Sequence[RawMessage]) -> None:
        if self.fail:
            raise RuntimeError("pipeline down")
        with self.lock:
            self.messages.extend(batch)
            self.batches += 1

    def ids(self) -> set[str]:
        out = set()
        for m in self.messages:
            with contextlib.suppress(ValueError, KeyError, TypeError):
                out.add(json.loads(m.payload)["id"])
        return out


def wait_for(cond, timeout: float = 20.0) -> bool:
    end = time.time() + timeout
    while time.time() < end:
        if cond():
            return True
        time.sleep(0.05)
    return cond()


def publisher(url: str, client_id: str | None = None) -> paho.Client:
    addr = parse_url(url)
    c = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id or f"pub-{uuid.uuid4().hex[:8]}",
                    clean_session=False, protocol=paho.MQTTv311)
    c.max_inflight_messages_set(100)
    c.max_queued_messages_set(0)
    c.reconnect_delay_set(0.2, 1)
    c.username_pw_set(addr.username or "device")
    c.connect(addr.host, addr.port)
    c.loop_start()
    return c


# --- topics (pure) ---------------------------------------------------------------------------------------
def test_token_in_topic_or_payload_and_malformed_handed_on() -> None:
    p = "cityhub/v1"
    assert device_topic(p, "AQ-1", "tok") == "cityhub/v1/devices/AQ-1/telemetry/tok"
    m = to_raw(p, "cityhub/v1/devices/AQ-1/telemetry/tok", b'{"ts":1,"values":{"pm25":3}}', 5.0)
    assert (m.kind, m.credential, m.device, m.payload, m.received_at, m.source) == \
        ("device", "tok", "AQ-1", b'{"ts":1,"values":{"pm25":3}}', 5.0, "mqtt")
    m = to_raw(p, "cityhub/v1/devices/AQ-1/telemetry", b'{"token":"t2","data":[{"ts":1,"values":{"a":1}}]}', 1.0)
    assert (m.credential, m.device, json.loads(m.payload)) == ("t2", "AQ-1", [{"ts": 1, "values": {"a": 1}}])
    m = to_raw(p, gateway_topic(p, "gw"), b'{"AQ-1":[]}', 1.0)
    assert (m.kind, m.credential, m.device, m.payload) == ("gateway", "gw", "", b'{"AQ-1":[]}')
    m = to_raw(p, gateway_topic(p), b'{"token":"gw","data":{"AQ-1":[{"ts":1}]}}', 1.0)
    assert (m.kind, m.credential, json.loads(m.payload)) == ("gateway", "gw", {"AQ-1": [{"ts": 1}]})
    for bad in (b"\xff\xfe not json", b'{"token": 5, "data": {}}', b'[1,2]', b'{"data": 1}'):
        m = to_raw(p, device_topic(p, "X"), bad, 1.0)
        assert (m.credential, m.payload, m.device) == ("", bad, "X")  # pipeline dead-letters it, as received
    assert subscriptions(p, "g")[0] == "$share/g/cityhub/v1/devices/+/telemetry"
    assert parse_url("mqtt://u:p%40ss@h:1884") .password == "p@ss"
    with pytest.raises(ValueError):
        parse_url("http://h")


# --- against the local Mosquitto -------------------------------------------------------------------------
def test_device_and_gateway_messages_batched_into_sink(mqtt_url: str, prefix: str) -> None:
    sink = Collect()
    rx = MqttReceiver(mqtt_url, sink, client_id=f"rx-{uuid.uuid4().hex[:8]}", prefix=prefix,
                      batch_size=50, batch_ms=30).start()
    assert rx.connected.is_set()
    pub = publisher(mqtt_url)
    try:
        for i in range(300):
            if i % 3 == 0:
                pub.publish(gateway_topic(prefix, "gwtok"), json.dumps({"id": f"m{i}", "D1": []}), qos=1)
            else:
                pub.publish(device_topic(prefix, f"D{i % 7}", "tok"), json.dumps({"id": f"m{i}", "ts": i}), qos=1)
        assert wait_for(lambda: len(sink.ids()) == 300), len(sink.ids())
        assert sink.batches < 300  # batched, not one sink call per message
        assert wait_for(lambda: rx.batcher.stats.handed == 300)
        kinds = {m.kind for m in sink.messages}
        assert kinds == {"device", "gateway"}
        assert all(m.credential in ("tok", "gwtok") for m in sink.messages)
    finally:
        pub.loop_stop()
        pub.disconnect()
        rx.stop()


def test_malformed_payloads_reach_the_sink_and_receiver_keeps_going(mqtt_url: str, prefix: str) -> None:
    sink = Collect()
    rx = MqttReceiver(mqtt_url, sink, client_id=f"rx-{uuid.uuid4().hex[:8]}", prefix=prefix, batch_ms=20).start()
    pub = publisher(mqtt_url)
    try:
        bad = [b"\x00\xff garbage", b"{not json", b"", b'{"token": 3}', "温度=高".encode()]
        for body in bad:
            pub.publish(device_topic(prefix, "D1"), body, qos=1)
        pub.publish(device_topic(prefix, "D1", "tok"), b'{"id": "after", "ts": 1}', qos=1)
        assert wait_for(lambda: "after" in sink.ids())
        got = [m.payload for m in sink.messages if m.credential == ""]
        assert sorted(got) == sorted(bad)
        assert rx.connected.is_set()
    finally:
        pub.loop_stop()
        pub.disconnect()
        rx.stop()


def test_unstored_messages_are_redelivered_to_the_next_receiver(mqtt_url: str, prefix: str) -> None:
    """A receiver whose pipeline fails never acknowledges; when it dies, the persistent session keeps the
    messages and a receiver with the same client id gets every one of them."""
    client_id = f"rx-{uuid.uuid4().hex[:8]}"
    failing = Collect(fail=True)
    rx = MqttReceiver(mqtt_url, failing, client_id=client_id, prefix=prefix, batch_ms=20).start()
    pub = publisher(mqtt_url)
    try:
        for i in range(40):
            pub.publish(device_topic(prefix, "D1", "tok"), json.dumps({"id": f"r{i}", "ts": i}), qos=1)
        assert wait_for(lambda: rx.batcher.stats.received == 40 and rx.batcher.stats.sink_errors > 0)
        # crash: no DISCONNECT, no acknowledgement, the batcher is abandoned
        rx.client.loop_stop()
        sock = rx.client.socket()
        assert sock is not None, "the receiver holds no socket to drop"
        sock.close()
        rx.batcher.sink = lambda batch: None
        ok = Collect()
        rx2 = MqttReceiver(mqtt_url, ok, client_id=client_id, prefix=prefix, batch_ms=20).start()
        try:
            assert wait_for(lambda: ok.ids() == {f"r{i}" for i in range(40)}, 30), len(ok.ids())
        finally:
            rx2.stop()
    finally:
        pub.loop_stop()
        pub.disconnect()


def test_broker_restart_during_ingestion_loses_nothing(private_mosquitto, prefix: str) -> None:
    broker = private_mosquitto
    sink = Collect()
    rx = MqttReceiver(broker.url, sink, client_id=f"rx-{uuid.uuid4().hex[:8]}", prefix=prefix,
                      batch_size=100, batch_ms=20).start()
    pub = publisher(broker.url)
    total = 3000
    sent = threading.Event()

    def publish_all() -> None:
        for i in range(total):
            pub.publish(device_topic(prefix, f"D{i % 50}", "tok"), json.dumps({"id": f"b{i}", "ts": i}), qos=1)
            if i % 100 == 0:
                time.sleep(0.02)
        sent.set()

    t = threading.Thread(target=publish_all)
    try:
        t.start()
        assert wait_for(lambda: len(sink.messages) >= 300)
        broker.stop()  # mid-ingestion
        time.sleep(0.5)
        broker.start()
        t.join(60)
        assert sent.is_set()
        assert wait_for(lambda: len(sink.ids()) == total, 45), f"{len(sink.ids())} of {total} arrived"
        assert rx.connects >= 2
    finally:
        pub.loop_stop()
        pub.disconnect()
        rx.stop()
