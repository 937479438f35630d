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
from tests.sensing.transport_services import mqtt_url, nats_url, prefix  # noqa: F401 - fixtures


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


def test_jetstream_worker_into_the_pipeline(pipe, nats_url: str) -> None:
    """Receiver side appends to JetStream; a worker consumes into the real pipeline and acks after it."""
    import asyncio

    import nats

    from cityhub.sensing.message import RawMessage
    from cityhub.sensing.transport.stream import StreamAppender, StreamConfig, consumer_state, run_worker

    uid = uuid.uuid4().hex[:10]
    cfg = StreamConfig(url=nats_url, stream=f"TEST_{uid}", subject=f"test.{uid}.telemetry", consumer=f"w-{uid}",
                       ack_wait=5.0)
    ts = int(NOW * 1000)
    appender = StreamAppender(cfg)
    results = []
    stop = threading.Event()

    def sink(batch):
        r = pipe.ingest(batch)
        results.append(r)
        return r

    worker = threading.Thread(target=run_worker, args=(sink, cfg), kwargs={"batch": 10, "stop": stop})
    try:
        appender([RawMessage("device", "tok-air-1", json.dumps({"ts": ts + i, "values": {"pm25": 20}}).encode(),
                             NOW, "http", "air-1") for i in range(30)]
                 + [RawMessage("gateway", "tok-gw-1", json.dumps({"mh-1": [{"ts": ts, "values": {"open": 0}}]}).encode(),
                               NOW, "mqtt"),
                    RawMessage("device", "nope", b'{"pm25": 1}', NOW, "mqtt", "air-2")])
        worker.start()
        assert wait_for(lambda: sum(r.messages for r in results) == 32, 20)
        assert (sum(r.readings for r in results), sum(r.rejected for r in results)) == (31, 1)
        assert wait_for(lambda: consumer_state(cfg)["ack_pending"] == 0, 10)
        assert consumer_state(cfg)["pending"] == 0
    finally:
        stop.set()
        worker.join(10)
        appender.close()

        async def drop() -> None:
            nc = await nats.connect(nats_url)
            await nc.jetstream().delete_stream(cfg.stream)
            await nc.close()

        asyncio.run(drop())
