# ruff: noqa: F811 - the service fixtures are imported from tests/sensing/transport_services.py
"""The receiver's paho client without its per-message costs (buffered reads, no topic matcher, PUBACKs of a
batch in one write) against the real broker: a burst of small and large messages arrives whole and in order,
every one acknowledged (a receiver with the same session afterwards gets nothing again)."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Sequence

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from cityhub.sensing.message import RawMessage
from cityhub.sensing.transport.mqtt import READ_CHUNK, FastClient, MqttReceiver, _Ack
from cityhub.sensing.transport.topics import device_topic
from tests.sensing.test_transport_mqtt import publisher, wait_for
from tests.sensing.transport_services import mqtt_url, prefix  # noqa: F401 - fixtures


class Keep:
    def __init__(self) -> None:
        self.messages: list[RawMessage] = []
        self.lock = threading.Lock()

    def __call__(self, batch: Sequence[RawMessage]) -> None:
        with self.lock:
            self.messages.extend(batch)


def test_burst_of_small_and_large_messages_arrives_whole_and_is_acknowledged(mqtt_url: str, prefix: str) -> None:
    client_id = f"rx-{uuid.uuid4().hex[:8]}"
    got = Keep()
    rx = MqttReceiver(mqtt_url, got, client_id=client_id, prefix=prefix, batch_size=400, batch_ms=20).start()
    assert isinstance(rx.client, FastClient)
    pub = publisher(mqtt_url)
    big = "x" * (READ_CHUNK * 3 + 17)  # a payload longer than several reads
    sent = []
    try:
        for i in range(1500):
            body = {"id": i, "pad": big} if i % 500 == 7 else {"id": i}
            sent.append(body)
            pub.publish(device_topic(prefix, "D1", "tok"), json.dumps(body), qos=1)
        assert wait_for(lambda: len(got.messages) >= 1500, 60), len(got.messages)
        assert [json.loads(m.payload) for m in got.messages] == sent  # whole, in order, once
        assert wait_for(lambda: rx.batcher.stats.handed == 1500)
        time.sleep(0.5)  # the last PUBACKs leave the socket
    finally:
        rx.stop()
        pub.loop_stop()
        pub.disconnect()
    again = Keep()
    rx2 = MqttReceiver(mqtt_url, again, client_id=client_id, prefix=prefix, batch_ms=20).start()
    try:
        time.sleep(2.0)
        assert again.messages == []  # every message was acknowledged: the session holds none for redelivery
    finally:
        rx2.stop()


def test_per_topic_callbacks_still_go_through_paho() -> None:
    c = FastClient(CallbackAPIVersion.VERSION2, client_id="x")
    seen: list[str] = []
    c.on_message = lambda client, userdata, m: seen.append("any:" + m.topic)
    msg = paho.MQTTMessage(mid=1, topic=b"a/b")
    c._handle_on_message(msg)
    c.message_callback_add("a/+", lambda client, userdata, m: seen.append("filtered:" + m.topic))
    c._handle_on_message(msg)
    c._handle_on_message(paho.MQTTMessage(mid=2, topic=b"c/d"))
    assert seen == ["any:a/b", "filtered:a/b", "any:c/d"]


def test_batch_acknowledgement_sends_this_connections_qos1_acks_at_once() -> None:
    class FakeClient:
        def __init__(self) -> None:
            self.many: list[list[int]] = []
            self.single: list[tuple[int, int]] = []

        def ack_many(self, mids: Sequence[int]) -> None:
            self.many.append(list(mids))

        def ack(self, mid: int, qos: int) -> None:
            self.single.append((mid, qos))

    rx = MqttReceiver.__new__(MqttReceiver)
    rx.client = FakeClient()  # type: ignore[assignment]
    rx._generation = 3
    plain: list[str] = []
    acks = [_Ack(rx, 3, 10, 1), _Ack(rx, 2, 11, 1), _Ack(rx, 3, 12, 2), lambda: plain.append("qos0"),
            _Ack(rx, 3, 13, 1)]
    rx._ack_batch(acks)
    assert rx.client.many == [[10, 13]]          # type: ignore[attr-defined]
    assert rx.client.single == [(12, 2)]         # QoS 2 alone; 11 came on an earlier connection: not sent
    assert plain == ["qos0"]


def _publish_packet(topic: bytes, mid: int, payload: bytes, props: bytes | None, *, qos: int = 1,
                    dup: bool = False, retain: bool = False) -> tuple[int, bytes]:
    """(fixed-header command byte, the rest) of a PUBLISH; ``props`` None for MQTT 3.1.1, else the encoded
    property list (length byte included)."""
    body = len(topic).to_bytes(2, "big") + topic + (mid.to_bytes(2, "big") if qos else b"")
    body += (props or b"") if props is not None else b""
    return 0x30 | (0x08 if dup else 0) | (qos << 1) | (1 if retain else 0), body + payload


def _decoded(protocol: int, command: int, packet: bytes, fast: bool) -> paho.MQTTMessage:
    cls = FastClient if fast else paho.Client
    c = cls(CallbackAPIVersion.VERSION2, client_id="decode-test", protocol=protocol, manual_ack=True)
    got: list[paho.MQTTMessage] = []
    c.on_message = lambda _c, _u, m: got.append(m)
    c._in_packet = {"command": command, "packet": bytearray(packet)}
    assert c._handle_publish() == paho.MQTTErrorCode.MQTT_ERR_SUCCESS
    assert len(got) == 1
    return got[0]


def test_publish_decoding_matches_paho() -> None:
    """The QoS 1 fast path decodes what paho decodes (topic, id, payload, flags; MQTT 5 and 3.1.1); properties,
    QoS 0/2 and odd packets go to paho itself."""
    cases = [
        (paho.MQTTv5, _publish_packet(b"cityhub/v1/d/D1/tok", 513, b'{"pm25":31.5}', b"\x00")),
        (paho.MQTTv5, _publish_packet("城市/v1/设备".encode(), 65535, b"", b"\x00", dup=True, retain=True)),
        # properties present (payload format indicator, an empty response topic): paho's own decoding
        (paho.MQTTv5, _publish_packet(b"t", 7, b"\x00\xffbinary", b"\x05\x01\x01\x08\x00\x00")),
        (paho.MQTTv311, _publish_packet(b"cityhub/v1/g/tok", 1, b"[1,2,3]", None)),
        (paho.MQTTv5, _publish_packet(b"q0", 0, b"zero", b"\x00", qos=0)),
        (paho.MQTTv311, _publish_packet(b"q0", 0, b"zero", None, qos=0)),
    ]
    for protocol, (command, packet) in cases:
        ours, theirs = _decoded(protocol, command, packet, True), _decoded(protocol, command, packet, False)
        assert (ours.topic, ours.mid, ours.payload, ours.qos, ours.dup, ours.retain) == \
            (theirs.topic, theirs.mid, theirs.payload, theirs.qos, theirs.dup, theirs.retain)
        assert isinstance(ours.payload, bytes)
        if protocol == paho.MQTTv5:
            assert ours.properties is not None and theirs.properties is not None
            assert ours.properties.json() == theirs.properties.json()
        else:
            assert ours.properties is None and theirs.properties is None
