"""The embedded MQTT broker for a checkout without one: amqtt (pure Python, asyncio) run in a daemon thread
of the calling process with its own event loop, listening on 127.0.0.1 only. It accepts any client that gives a user name (devices give their token, as
with ThingsBoard) and checks no password: amqtt keeps no session for anonymous clients.

Meant for ``make run`` and trying things out: it keeps sessions and queued QoS 1 messages (of named, not anonymous, clients) in memory only (a
restart of the process loses what the broker held) and speaks MQTT 3.1.1. Production runs Mosquitto or an
EMQX cluster (docs/sensing-scale.md) and sets ``CITYHUB_MQTT_URL``.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any

log = logging.getLogger(__name__)


class EmbeddedBroker:
    def __init__(self, port: int = 1883, host: str = "127.0.0.1") -> None:
        self.host, self.port = host, port
        self._loop: asyncio.AbstractEventLoop | None = None
        self._broker: Any = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="amqtt-broker", daemon=True)

    @property
    def url(self) -> str:
        """Where the receiver connects. With a user name: amqtt keeps no queued messages for anonymous
        sessions, and the receiver's session must keep them while it is away."""
        return f"mqtt://cityhub-ingest@{self.host}:{self.port}"

    def start(self, timeout: float = 15.0) -> EmbeddedBroker:
        self._thread.start()
        if not self._ready.wait(timeout):
            raise RuntimeError("the embedded MQTT broker did not start in time")
        if self._error is not None:
            raise RuntimeError(f"the embedded MQTT broker did not start: {self._error}") from self._error
        return self

    def _run(self) -> None:
        from amqtt.broker import Broker

        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)
        config = {
            "listeners": {"default": {"type": "tcp", "bind": f"{self.host}:{self.port}", "max_connections": 0}},
            "plugins": {"amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": False}},
        }

        async def main() -> None:
            self._broker = Broker(config)
            await self._broker.start()

        try:
            loop.run_until_complete(main())
        except BaseException as exc:  # port in use, …: reported by start()
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        loop.run_forever()
        loop.close()

    def stop(self) -> None:
        loop, broker = self._loop, self._broker
        if loop is None or broker is None or not loop.is_running():
            return
        asyncio.run_coroutine_threadsafe(broker.shutdown(), loop).result(15)
        loop.call_soon_threadsafe(loop.stop)
        self._thread.join(15)
