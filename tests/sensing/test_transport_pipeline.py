# ruff: noqa: F811 - the service fixtures are imported from tests/sensing/transport_services.py
"""The MQTT receiver feeding the real ingest pipeline (sensing-core's Ingestor) through Mosquitto: device and
gateway readings stored, a wrong token and a malformed payload dead-lettered, the receiver still running."""

from __future__ import annotations

import json
import threading
import uuid

from cityhub.sensing.transport.mqtt import MqttReceiver
from cityhub.sensing.transport.topics import device_topic, gateway_topic
from tests.sensing.conftest import NOW
from tests.sensing.test_transport_mqtt import publisher, wait_for
from tests.sensing.transport_services import mqtt_url, prefix  # noqa: F401 - fixtures


def test_receiver_into_the_pipeline(pipe, mqtt_url: str, prefix: str) -> None:
    results = []
    lock = threading.Lock()

    def sink(batch):
        r = pipe.ingest(batch)
        with lock:
            results.append(r)
        return r

    rx = MqttReceiver(mqtt_url, sink, client_id=f"rx-{uuid.uuid4().hex[:8]}", prefix=prefix, batch_ms=20).start()
    pub = publisher(mqtt_url)
    ts = int(NOW * 1000)
    try:
        pub.publish(device_topic(prefix, "air-1", "tok-air-1"),
                    json.dumps([{"ts": ts, "values": {"pm25": 30}}, {"ts": ts + 1000, "values": {"pm25": 31}}]), qos=1)
        pub.publish(gateway_topic(prefix, "tok-gw-1"),
                    json.dumps({"air-2": [{"ts": ts, "values": {"pm25": 12}}], "mh-1": {"ts": ts, "values": {"open": 1}}}),
                    qos=1)
        pub.publish(device_topic(prefix, "air-1"), json.dumps({"token": "tok-air-1", "data": {"ts": ts + 2000,
                                                                                               "values": {"pm25": 33}}}), qos=1)
        pub.publish(device_topic(prefix, "air-2", "tok-air-1"), json.dumps({"ts": ts, "values": {"pm25": 5}}), qos=1)
        pub.publish(device_topic(prefix, "air-1"), b"\xff not json", qos=1)

        def totals():
            with lock:
                return (sum(r.messages for r in results), sum(r.readings for r in results),
                        sum(r.rejected for r in results))

        assert wait_for(lambda: totals()[0] == 5, 20), totals()
        assert totals() == (5, 5, 2)  # 2 + 2 via the gateway + 1 token-in-payload; wrong token and garbage refused
        reasons: dict[str, int] = {}
        for r in results:
            for k, v in r.reasons.items():
                reasons[k] = reasons.get(k, 0) + v
        assert sum(reasons.values()) == 2 and rx.connected.is_set()
    finally:
        pub.loop_stop()
        pub.disconnect()
        rx.stop()
