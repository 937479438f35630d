"""The live demo feed of ``make run`` (``cityhub serve`` with ``CITYHUB_SENSING_DEMO`` true): in the server
process's background, an MQTT broker (the embedded amqtt one, or ``CITYHUB_MQTT_URL``), the MQTT receiver feeding
the ingest pipeline, and a small simulated fleet (the 11 national air stations + ``CITYHUB_SENSING_DEMO_DEVICES``
devices) publishing one round of readings every ``CITYHUB_SENSING_DEMO_INTERVAL_SECONDS`` (a few messages a
second), with the simulator's four incidents replayed every ``CITYHUB_SENSING_DEMO_CYCLE_MINUTES`` so alarms
rise and clear within minutes.

The fleet is registered once through ``device_import`` (and four demo rules through ``rule_create``), with the
issued tokens kept in ``$CITYHUB_HOME/sensing-demo-tokens.json``: a restart reuses them. ``DemoFeed.stop`` stops
the publisher, the receiver and the broker and joins their threads.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
import uuid
from importlib import resources
from pathlib import Path
from typing import Any

from cityhub.sensing import simulate as sim
from cityhub.settings import Settings, get_settings

log = logging.getLogger(__name__)

SEED = 11
#: the rules that make the incidents raise alarms (and clear them when they end)
DEMO_RULES: tuple[dict[str, Any], ...] = (
    {"name": "demo-pm25-high", "device_type": "air_quality", "alarm_type": "pm25_high", "severity": "major",
     "condition": {"attr": "pm25", "op": ">", "value": 75}},
    {"name": "demo-flood-alert", "device_type": "flood", "alarm_type": "flood_alert", "severity": "critical",
     "condition": {"attr": "currentLevel", "op": ">=", "value": 0.3}},
    {"name": "demo-manhole-tilt", "device_type": "manhole_cover", "alarm_type": "manhole_open", "severity": "major",
     "condition": {"attr": "tilt", "op": ">", "value": 30}},
    {"name": "demo-gas-pressure-low", "device_type": "gas_pipeline", "alarm_type": "gas_pressure_low",
     "severity": "critical", "condition": {"attr": "pressure", "op": "<", "value": 0.2}},
)


def _geojson() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(resources.files("cityhub.data").joinpath("guangzhou-districts.geojson")
                                      .read_text("utf-8"))
    return data


def ensure_fleet(devices: int, tokens_path: Path, seed: int = SEED) -> list[sim.Device]:
    """The demo fleet with registered tokens: registered (devices and demo rules) through the actions the first
    time, read back from ``tokens_path`` afterwards."""
    from sqlalchemy import select, update

    from cityhub import actions
    from cityhub.context import system_context
    from cityhub.db import session_scope
    from cityhub.sensing.models import Device, SensingRule

    fleet = sim.build_fleet(_geojson(), devices, seed)
    issued: dict[str, str] = {}
    if tokens_path.exists():
        issued = json.loads(tokens_path.read_text(encoding="utf-8"))
    with session_scope() as s:
        known = set(s.scalars(select(Device.code)))
        rules = set(s.scalars(select(SensingRule.name)))
    new = [d for d in fleet if d.code not in known]
    if new:
        rows = ["code,type,name,lat,lon,district_code,gateway"] + [
            f"{d.code},{d.type},{d.name},{d.lat:.6f},{d.lon:.6f},{d.district_code},{d.gateway}" for d in new]
        answer = actions.call("device_import", system_context("job"), {"csv": "\n".join(rows)})
        issued.update({t["code"]: t["token"] for t in answer["tokens"]})
        tokens_path.parent.mkdir(parents=True, exist_ok=True)
        tokens_path.write_text(json.dumps(issued), encoding="utf-8")
    with session_scope() as s:  # fleets registered before devices were assigned to gateways: assign them now
        ids = dict(s.execute(select(Device.code, Device.id)).all())
        unassigned = set(s.scalars(select(Device.code).where(Device.gateway_id.is_(None))))
        for d in fleet:
            if d.gateway and d.code in unassigned and d.gateway in ids and d.code in ids:
                s.execute(update(Device).where(Device.id == ids[d.code]).values(gateway_id=ids[d.gateway]))
    for rule in DEMO_RULES:
        if rule["name"] not in rules:
            actions.call("rule_create", system_context("job"), rule)
    missing = [d.code for d in fleet if d.code not in issued]
    if missing:  # devices registered by someone else under the same codes: we cannot speak for them
        log.warning("sensing demo: no token for %d devices (e.g. %s); they stay silent", len(missing), missing[0])
        fleet = [d for d in fleet if d.code in issued]
    return sim.with_tokens(fleet, issued)


class DemoFeed:
    def __init__(self, s: Settings | None = None, *, devices: int | None = None, interval: float | None = None,
                 cycle_seconds: float | None = None) -> None:
        self.s = s or get_settings()
        self.devices = self.s.sensing_demo_devices if devices is None else devices
        self.interval = self.s.sensing_demo_interval_seconds if interval is None else interval
        self.cycle = self.s.sensing_demo_cycle_minutes * 60 if cycle_seconds is None else cycle_seconds
        self.receiving: Any = None
        self.client: Any = None
        self.fleet: list[sim.Device] = []
        self.published = 0  # readings
        self.messages = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.where = ""

    def start(self) -> DemoFeed:
        import paho.mqtt.client as paho
        from paho.mqtt.enums import CallbackAPIVersion

        from cityhub.sensing.transport.mqtt import parse_url
        from cityhub.sensing.transport.service import start_receiving

        self.fleet = ensure_fleet(self.devices, self.s.home / "sensing-demo-tokens.json")
        self.receiving = start_receiving(self.s, any_port=True)
        if self.receiving.broker is not None:
            self.where = f"embedded amqtt broker 127.0.0.1:{self.receiving.broker.port}"
            url = f"mqtt://cityhub-demo-sim@127.0.0.1:{self.receiving.broker.port}"
        else:
            self.where = f"CITYHUB_MQTT_URL {parse_url(self.s.mqtt_url).host}:{parse_url(self.s.mqtt_url).port}"
            url = self.s.mqtt_url
        addr = parse_url(url)
        client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"cityhub-demo-{uuid.uuid4().hex[:8]}",
                             protocol=paho.MQTTv311, clean_session=True)
        client.username_pw_set(addr.username or "cityhub-demo-sim", addr.password)
        client.reconnect_delay_set(1, 30)
        try:
            client.connect(addr.host, addr.port)
        except OSError:
            self.receiving.stop()
            raise
        client.loop_start()
        self.client = client
        self._thread = threading.Thread(target=self._run, name="sensing-demo-sim", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        from cityhub.sensing.transport.topics import device_topic, gateway_topic

        rng = random.Random(SEED)  # noqa: S311 - a simulation, not a secret
        prefix = self.s.mqtt_topic_prefix
        cycle_start, incidents = 0.0, []
        while not self._stop.is_set():
            now = time.time()
            if now - cycle_start >= self.cycle:  # replay the incidents: each rises and clears within one cycle
                cycle_start = now
                incidents = sim.plan_incidents(self.fleet, now, self.cycle, SEED + int(now // max(self.cycle, 1)))
            try:
                for kind, code, token, payload in sim.batches(self.fleet, now, incidents, sim.GATEWAY_SIZE, rng):
                    topic = device_topic(prefix, code, token) if kind == "device" else gateway_topic(prefix, token)
                    self.client.publish(topic, json.dumps(payload, separators=(",", ":")), qos=1)
                    self.published += len(payload) if kind == "gateway" else 1
                    self.messages += 1
            except Exception:  # keep publishing: the next round retries
                log.exception("sensing demo: a round failed")
            self._stop.wait(self.interval)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)
        if self.client is not None:
            self.client.disconnect()
            self.client.loop_stop()
        if self.receiving is not None:
            self.receiving.stop()


_FEED: DemoFeed | None = None


def start_if_enabled() -> str:
    """Start the process's demo feed when ``CITYHUB_SENSING_DEMO`` is true; the line to print ("" when off)."""
    global _FEED
    s = get_settings()
    if not s.sensing_demo or _FEED is not None:
        return ""
    feed = DemoFeed(s).start()
    _FEED = feed
    return (f"感知演示 sensing demo: {len(feed.fleet)} simulated devices → MQTT via {feed.where} → pipeline "
            f"(a round every {feed.interval:g} s; incidents every {feed.cycle / 60:g} min)")


def stop() -> None:
    global _FEED
    if _FEED is not None:
        _FEED.stop()
        _FEED = None
