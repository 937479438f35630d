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
import threading
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from cityhub.sensing.message import Sink
from cityhub.sensing.transport.batcher import Batcher
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
        self.batcher = Batcher(sink, batch_size, batch_ms / 1000, keep_latencies=keep_latencies)
        self.connected = threading.Event()
        self.connects = 0
        self._generation = 0
        kwargs: dict[str, Any] = {"client_id": client_id, "protocol": self.protocol, "manual_ack": True}
        if self.protocol != paho.MQTTv5:
            kwargs["clean_session"] = False
        self.client = paho.Client(CallbackAPIVersion.VERSION2, **kwargs)
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
        generation, mid, qos = self._generation, msg.mid, msg.qos

        def ack() -> None:
            if generation == self._generation:  # same connection: the packet id still names this message
                client.ack(mid, qos)

        self.batcher.put(raw, ack)


def _noop() -> None:
    return None
