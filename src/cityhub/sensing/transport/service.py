"""Starting the transports from the settings: the one place that decides embedded broker or configured one,
in-process pipeline or JetStream (used by ``cityhub sensing receive`` / ``worker`` and by a web process that
wants to receive in-process)."""

from __future__ import annotations

import importlib
import logging
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cityhub.sensing.message import Sink
from cityhub.sensing.transport.broker import EmbeddedBroker
from cityhub.sensing.transport.mqtt import MqttReceiver
from cityhub.sensing.transport.stream import StreamAppender, StreamConfig
from cityhub.settings import Settings

log = logging.getLogger(__name__)

#: the ingest pipeline's sink factory (sensing-core): called with no argument, returns a ``Sink`` (the Ingestor)
PIPELINE_SINK = "cityhub.sensing.ingest:get_ingestor"


def stream_config(s: Settings) -> StreamConfig:
    return StreamConfig(url=s.nats_url, stream=s.nats_stream, subject=s.nats_subject, consumer=s.nats_consumer,
                        ack_wait=s.nats_ack_wait_seconds, duplicate_window=s.nats_duplicate_window_seconds)


def load_sink(spec: str = PIPELINE_SINK) -> Sink:
    """``module:factory`` → ``factory()``; ``parquet:DIR`` → the Parquet stand-in sink (no authentication;
    benchmarks and trials only)."""
    if spec.startswith("parquet:"):
        from cityhub.sensing.transport.parquet_sink import ParquetSink

        return ParquetSink(spec.split(":", 1)[1])
    module, _, attr = spec.partition(":")
    factory: Callable[[], Sink] = getattr(importlib.import_module(module), attr or "get_ingestor")
    return factory()


@dataclass
class Receiving:
    receiver: MqttReceiver
    broker: EmbeddedBroker | None = None
    appender: StreamAppender | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def stop(self) -> None:
        self.receiver.stop()
        if self.appender is not None:
            self.appender.close()
        if self.broker is not None:
            self.broker.stop()


def _port_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as probe:
        try:
            probe.bind((host, port))
        except OSError:
            return False
        return True


def _any_free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as probe:
        probe.bind((host, 0))
        port: int = probe.getsockname()[1]
        return port


def start_receiving(s: Settings, sink: Sink | None = None, *, any_port: bool = False) -> Receiving:
    """Start the MQTT receiver as the settings say. Without ``CITYHUB_MQTT_URL`` an embedded amqtt broker is
    started first; with ``CITYHUB_NATS_URL`` the receiver appends to JetStream (workers run the pipeline),
    else it hands batches to ``sink`` (default: the pipeline's). ``any_port``: when the embedded broker's port is
    taken (another broker on 1883), take a free one instead (for publishers in this process, such as the demo
    feed, which read the port from the answer)."""
    broker = None
    url, protocol = s.mqtt_url, 5
    if not url:
        port = s.mqtt_embedded_port
        if any_port and not _port_free(port):
            port = _any_free_port()
        broker = EmbeddedBroker(port=port).start()
        url, protocol = broker.url, 4  # amqtt speaks MQTT 3.1.1
        log.info("embedded amqtt broker on 127.0.0.1:%s", port)
    appender = None
    if s.nats_url:
        appender = StreamAppender(stream_config(s))
        target: Sink = appender
    else:
        target = sink or load_sink()
    rx = MqttReceiver(url, target, client_id=s.mqtt_client_id, prefix=s.mqtt_topic_prefix,
                      shared_group=s.mqtt_shared_group, batch_size=s.mqtt_batch_size, batch_ms=s.mqtt_batch_ms,
                      receive_maximum=s.mqtt_receive_maximum, protocol=protocol).start()
    return Receiving(rx, broker, appender)


_receiving_sink: Sink | None = None


def receiving_sink(s: Settings) -> Sink:
    """The sink a receiver in this process (the HTTP telemetry route, an in-process MQTT receiver) hands raw
    messages to: the JetStream appender when ``CITYHUB_NATS_URL`` is set (one per process), else the
    pipeline's sink. The HTTP route answers 2xx only after it returned, as the MQTT receiver acknowledges."""
    global _receiving_sink
    if _receiving_sink is None:
        _receiving_sink = StreamAppender(stream_config(s)) if s.nats_url else load_sink()
    return _receiving_sink
