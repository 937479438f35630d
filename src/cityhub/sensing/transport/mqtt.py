"""The MQTT receiver: subscribes with QoS 1 under a fixed client id and a persistent session, batches what
arrives into the sink and sends each PUBACK only after the sink returned (paho-mqtt 2.x ``manual_ack``).

Nothing is lost across a crash or a reconnect: a message the sink has not stored is not acknowledged, so
the broker keeps it in the session and delivers it again (MQTT 5 session expiry / MQTT 3.1.1
``clean_session=False``). Acknowledgements of messages received on an earlier connection are not sent on a
later one (their packet ids belong to the old connection); the broker redelivers those and the pipeline,
which is idempotent on (device, timestamp), stores them once. paho reconnects with back-off (1 s doubling
to 30 s) by itself. A malformed payload is handed on like any other: the pipeline dead-letters it.
"""

from __future__ import annotations

import logging
import struct
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from cityhub.sensing.message import Sink
from cityhub.sensing.transport.batcher import Ack, Batcher
from cityhub.sensing.transport.topics import subscriptions, to_raw

log = logging.getLogger(__name__)

SESSION_EXPIRY = 7 * 24 * 3600  # MQTT 5: the broker keeps our session (and queues QoS 1) for a week offline


@dataclass(frozen=True)
class BrokerAddress:
    host: str
    port: int
    username: str | None = None
    password: str | None = None
    tls: bool = False


def parse_url(url: str) -> BrokerAddress:
    """``mqtt://[user[:password]@]host[:port]`` (``mqtts://`` for TLS, default ports 1883 / 8883)."""
    parts = urlsplit(url if "://" in url else "mqtt://" + url)
    if parts.scheme not in ("mqtt", "mqtts", "tcp", "ssl") or not parts.hostname:
        raise ValueError(f"not an MQTT broker URL (mqtt://host:port): {url!r}")
    tls = parts.scheme in ("mqtts", "ssl")
    return BrokerAddress(parts.hostname, parts.port or (8883 if tls else 1883),
                         unquote(parts.username) if parts.username else None,
                         unquote(parts.password) if parts.password else None, tls)


_PUBACK = struct.Struct("!BBH")
READ_CHUNK = 65536
#: the properties of a PUBLISH that carried none (shared by every such message: read it, do not change it)
_NO_PROPERTIES = Properties(PacketTypes.PUBLISH)


class FastClient(paho.Client):
    """paho's client (2.2, pinned) without three per-message costs that a receiver of thousands of small messages a
    second pays in Python (profiled: they were most of the transport's time):

    - paho reads a packet with three ``recv`` calls (command byte, length, body) and one ``select`` per packet;
      here the socket is read in chunks of ``READ_CHUNK`` bytes and ``loop_read`` handles every packet buffered;
    - with no per-topic callback (``message_callback_add``), a message goes straight to ``on_message`` instead of
      through paho's topic matcher;
    - ``ack_many`` sends the PUBACKs of a whole batch as one write (``ack`` queues a packet and wakes the network
      thread once per message);
    - a QoS 1 PUBLISH without MQTT 5 properties (what devices and gateways send) is decoded here in a few slices,
      without paho's per-message ``Properties`` object (built, cleared and unpacked for every MQTT 5 message:
      ~8 % of the receiver's CPU with single-reading messages) or its topic decode for the debug log.

    Everything else (keep-alive, reconnects, session, flow control) is paho's own."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._rbuf = b""
        self._rpos = 0
        self._rsock: Any = None

    def _sock_recv(self, bufsize: int) -> bytes:
        if self._sock is not self._rsock:  # a new connection: nothing read from the old one is kept
            self._rsock, self._rbuf, self._rpos = self._sock, b"", 0
        if self._rpos >= len(self._rbuf):
            data = super()._sock_recv(max(bufsize, READ_CHUNK))  # BlockingIOError when nothing is there
            if len(data) <= bufsize:
                return data  # b"" (the connection closed) included
            self._rbuf, self._rpos = data, 0
        start = self._rpos
        self._rpos = min(start + bufsize, len(self._rbuf))
        return self._rbuf[start:self._rpos]

    def buffered(self) -> int:
        """Bytes read from the socket and not yet handled."""
        return len(self._rbuf) - self._rpos if self._sock is not None and self._sock is self._rsock else 0

    def loop_read(self, max_packets: int = 1) -> paho.MQTTErrorCode:
        rc = super().loop_read(max_packets)
        while rc == paho.MQTTErrorCode.MQTT_ERR_SUCCESS and self.buffered():
            rc = super().loop_read(max_packets)  # each call takes at least one buffered byte
        return rc

    def _handle_on_message(self, message: paho.MQTTMessage) -> None:
        if self._on_message_filtered._root._children:  # per-topic callbacks: paho decides
            super()._handle_on_message(message)
            return
        on_message = self.on_message
        if on_message is None:
            return
        with self._in_callback_mutex:
            try:
                on_message(self, self._userdata, message)
            except Exception as err:
                self._easy_log(paho.MQTT_LOG_ERR, "Caught exception in on_message: %s", err)
                if not self.suppress_exceptions:
                    raise

    def _handle_publish(self) -> paho.MQTTErrorCode:
        header = self._in_packet["command"]
        packet = self._in_packet["packet"]
        if header & 0x06 != 0x02 or self.on_log is not None or self._logger is not None:  # not QoS 1, or logging
            return super()._handle_publish()
        n = len(packet)
        end = 2 + ((packet[0] << 8) | packet[1]) if n >= 2 else n + 1  # the topic's end
        v5 = self._protocol == paho.MQTTv5
        start = end + 3 if v5 else end + 2  # the payload's start: after the packet id (and an empty property list)
        if n < start or (v5 and packet[end + 2] != 0) or (not v5 and end == 2):
            return super()._handle_publish()  # properties, an empty MQTT 3 topic or a short packet: paho decides
        message = paho.MQTTMessage(mid=(packet[end] << 8) | packet[end + 1], topic=bytes(packet[2:end]))
        message.dup = bool(header & 0x08)
        message.qos = 1
        message.retain = bool(header & 0x01)
        message.properties = _NO_PROPERTIES if v5 else None
        message.payload = bytes(packet[start:])
        message.timestamp = time.monotonic()
        self._handle_on_message(message)
        return paho.MQTTErrorCode.MQTT_ERR_SUCCESS if self._manual_ack else self._send_puback(message.mid)

    def ack_many(self, mids: Sequence[int]) -> None:
        """PUBACK (QoS 1, manual acknowledgement) each of ``mids`` in one queued write."""
        if mids:
            self._packet_queue(paho.PUBACK, b"".join([_PUBACK.pack(paho.PUBACK, 2, mid) for mid in mids]), 0, 0)


class _Ack:
    """The acknowledgement of one received message (called alone, or gathered by ``MqttReceiver._ack_batch``)."""

    __slots__ = ("generation", "mid", "qos", "receiver")

    def __init__(self, receiver: MqttReceiver, generation: int, mid: int, qos: int) -> None:
        self.receiver, self.generation, self.mid, self.qos = receiver, generation, mid, qos

    def __call__(self) -> None:
        if self.generation == self.receiver._generation:  # same connection: the packet id still names it
            self.receiver.client.ack(self.mid, self.qos)


class MqttReceiver:
    """Receive telemetry from ``url`` into ``sink``; ``start()`` returns at once, ``stop()`` drains."""

    def __init__(self, url: str, sink: Sink, *, client_id: str = "cityhub-ingest", prefix: str = "cityhub/v1",
                 shared_group: str = "", batch_size: int = 500, batch_ms: int = 50, receive_maximum: int = 2000,
                 protocol: int = 5, keep_latencies: bool = False) -> None:
        self.address = parse_url(url)
        self.prefix = prefix
        self.filters = subscriptions(prefix, shared_group)
        self.protocol = paho.MQTTv5 if protocol == 5 else paho.MQTTv311
        self.receive_maximum = receive_maximum
        self.batcher = Batcher(sink, batch_size, batch_ms / 1000, keep_latencies=keep_latencies,
                               acknowledge=self._ack_batch)
        self.connected = threading.Event()
        self.connects = 0
        self._generation = 0
        kwargs: dict[str, Any] = {"client_id": client_id, "protocol": self.protocol, "manual_ack": True}
        if self.protocol != paho.MQTTv5:
            kwargs["clean_session"] = False
        self.client = FastClient(CallbackAPIVersion.VERSION2, **kwargs)
        if self.address.username is not None:
            self.client.username_pw_set(self.address.username, self.address.password)
        if self.address.tls:
            self.client.tls_set()
        self.client.reconnect_delay_set(min_delay=1, max_delay=30)
        self.client.max_inflight_messages_set(receive_maximum)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_subscribe = self._on_subscribe
        self.client.on_message = self._on_message

    # --- lifecycle ---------------------------------------------------------------------------------------
    def start(self, wait: float = 10.0) -> MqttReceiver:
        kwargs: dict[str, Any] = {"keepalive": 30}
        if self.protocol == paho.MQTTv5:
            props = Properties(PacketTypes.CONNECT)
            props.SessionExpiryInterval = SESSION_EXPIRY
            props.ReceiveMaximum = min(self.receive_maximum, 65535)
            kwargs.update(clean_start=False, properties=props)
        try:
            self.client.connect(self.address.host, self.address.port, **kwargs)
        except OSError as exc:  # broker not up yet: paho's loop keeps trying with back-off
            log.warning("MQTT broker %s:%s not reachable (%s); retrying", self.address.host, self.address.port, exc)
            self.client.connect_async(self.address.host, self.address.port, **kwargs)
        self.client.loop_start()
        if wait:
            self.connected.wait(wait)
        return self

    def stop(self) -> None:
        """Hand on and acknowledge what was received, then disconnect (the session stays on the broker)."""
        self.batcher.close()
        self.client.disconnect()
        self.client.loop_stop()

    # --- callbacks (paho's network thread) ---------------------------------------------------------------
    def _on_connect(self, client: paho.Client, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        if getattr(reason, "is_failure", False):
            log.error("MQTT connection refused: %s", reason)
            return
        self._generation += 1
        self.connects += 1
        client.subscribe([(f, 1) for f in self.filters])
        log.info("MQTT connected to %s:%s (session present: %s)", self.address.host, self.address.port,
                 getattr(flags, "session_present", None))

    def _on_subscribe(self, client: paho.Client, userdata: Any, mid: int, reasons: Any, properties: Any) -> None:
        """Ready once the broker has acknowledged the subscriptions (SUBACK): a message published before that
        may find no subscriber and be dropped by the broker."""
        refused = [str(r) for r in reasons if getattr(r, "is_failure", False)]
        if refused and len(refused) == len(self.filters):
            log.error("MQTT subscriptions refused: %s", ", ".join(refused))
            return
        if refused:
            log.warning("MQTT subscriptions partly refused: %s", ", ".join(refused))
        self.connected.set()

    def _on_disconnect(self, client: paho.Client, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        self.connected.clear()
        log.warning("MQTT disconnected (%s); reconnecting with back-off", reason)

    def _on_message(self, client: paho.Client, userdata: Any, msg: paho.MQTTMessage) -> None:
        payload = msg.payload if isinstance(msg.payload, bytes) else bytes(msg.payload)
        raw = to_raw(self.prefix, msg.topic, payload, time.time())
        if msg.qos == 0:
            self.batcher.put(raw, _noop)
            return
        self.batcher.put(raw, _Ack(self, self._generation, msg.mid, msg.qos))

    def _ack_batch(self, acks: Sequence[Ack]) -> None:
        """The acknowledgements of a stored batch: the QoS 1 PUBACKs of this connection in one write."""
        mids = []
        generation = self._generation
        for a in acks:
            if type(a) is _Ack and a.qos == 1 and a.generation == generation:
                mids.append(a.mid)
            else:
                a()  # QoS 0 (nothing to send), QoS 2, or a message of an earlier connection (dropped)
        self.client.ack_many(mids)


def _noop() -> None:
    return None
