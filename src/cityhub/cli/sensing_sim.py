"""``cityhub sensing simulate | receive | worker | broker`` — the transport side of the sensing hub: a
Guangzhou-like fleet publishing over MQTT, the MQTT receiver, the JetStream ingest worker and the embedded
broker. The commands join the ``sensing`` group of ``cli/sensing.py`` when it exists."""

from __future__ import annotations

import csv
import json
import random
import signal
import threading
import time
import uuid
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import typer
from rich.live import Live
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from cityhub.cli.common import err
from cityhub.sensing import simulate as sim
from cityhub.settings import get_settings


def _stop_event() -> threading.Event:
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    return stop


def simulate(
    mqtt_url: str = typer.Option("", help="broker (default: CITYHUB_MQTT_URL, else the embedded broker's port)"),
    devices: int = typer.Option(3000, help="devices besides the 11 national air-quality stations"),
    seed: int = typer.Option(7, help="fleet seed (same seed: same devices and tokens)"),
    rate: float = typer.Option(1000.0, help="readings per second to publish"),
    seconds: float = typer.Option(60.0, help="how long to publish (real seconds)"),
    speed: float = typer.Option(60.0, help="simulated seconds per real second (60: one simulated hour a minute); "
                                "the simulated period ends at the present, so it starts seconds × speed ago"),
    batch: int = typer.Option(100, help="readings per gateway message"),
    csv_out: Path | None = typer.Option(None, "--csv", help="write the device list (bulk-import CSV) here"),
    csv_only: bool = typer.Option(False, help="write the CSV and publish nothing"),
    register: bool = typer.Option(False, help="register the fleet in this CityHub (device_import) and keep the "
                                  "issued tokens in --tokens"),
    tokens_file: Path | None = typer.Option(None, "--tokens", help="JSON {code: token} of issued tokens (read; "
                                            "written by --register; default $CITYHUB_HOME/sensing-sim-tokens.json)"),
) -> None:
    """Publish realistic readings of a Guangzhou-like fleet over MQTT (QoS 1), with daily cycles and four
    injected incidents: a pollution episode, a flooded underpass, an opened manhole, a gas pressure drop."""
    import paho.mqtt.client as paho
    from paho.mqtt.enums import CallbackAPIVersion

    from cityhub.sensing.transport.mqtt import parse_url
    from cityhub.sensing.transport.topics import device_topic, gateway_topic

    s = get_settings()
    geo = json.loads(resources.files("cityhub.data").joinpath("guangzhou-districts.geojson").read_text("utf-8"))
    fleet = sim.build_fleet(geo, devices, seed)
    tokens_path = tokens_file or s.home / "sensing-sim-tokens.json"
    if register:
        from cityhub.cli.common import call

        rows = ["code,type,name,lat,lon,district_code,gateway"] + [
            f"{d.code},{d.type},{d.name},{d.lat:.6f},{d.lon:.6f},{d.district_code},{d.gateway}" for d in fleet]
        answer = call("device_import", {"csv": "\n".join(rows)})
        issued = {t["code"]: t["token"] for t in answer["tokens"]}
        tokens_path.parent.mkdir(parents=True, exist_ok=True)
        tokens_path.write_text(json.dumps(issued), encoding="utf-8")
        err.print(f"{answer['created']} devices registered; their tokens → {tokens_path}")
    if register or tokens_file is not None or tokens_path.exists():
        fleet = sim.with_tokens(fleet, json.loads(tokens_path.read_text(encoding="utf-8")))
    if csv_out is not None:
        with csv_out.open("w", newline="", encoding="utf-8") as fh:
            csv.writer(fh).writerows(sim.csv_rows(fleet))
        err.print(f"{len(fleet)} devices → {csv_out} (columns {', '.join(sim.CSV_COLUMNS)})")
    if csv_only:
        return
    url = mqtt_url or s.mqtt_url or f"mqtt://sim@127.0.0.1:{s.mqtt_embedded_port}"
    addr = parse_url(url)
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"cityhub-sim-{uuid.uuid4().hex[:8]}",
                         protocol=paho.MQTTv311, clean_session=False)
    client.username_pw_set(addr.username or "cityhub-sim", addr.password)
    client.max_inflight_messages_set(1000)
    client.max_queued_messages_set(0)
    client.reconnect_delay_set(1, 30)
    try:
        client.connect(addr.host, addr.port)
    except OSError as exc:
        err.print(f"[red]错误 error[/red]: 无法连接 MQTT 代理 / cannot reach the MQTT broker {addr.host}:{addr.port}: "
                  f"{exc}")
        raise typer.Exit(2) from None
    client.loop_start()
    start = time.time()
    # the simulated period ends now: readings are never stamped in the future (the pipeline refuses those)
    sim_start = start - seconds * speed
    incidents = sim.plan_incidents(fleet, sim_start, seconds * speed, seed)
    for inc in incidents:
        err.print(f"事件 incident: {inc.label} — {len(inc.devices)} devices, simulated "
                  f"+{(inc.start - sim_start) / 3600:.1f} h … +{(inc.end - sim_start) / 3600:.1f} h")
    stop = _stop_event()
    rng = random.Random(seed)  # noqa: S311 - a simulation, not a secret
    sent = messages = 0
    infos: list[Any] = []
    prefix = s.mqtt_topic_prefix
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  TextColumn("{task.fields[note]}"), console=err) as bar:
        task = bar.add_task("模拟发布 publishing readings", total=int(rate * seconds), note="")
        round_t = 0.0
        pending: Iterator[tuple[str, str, str, Any]] = iter(())
        while not stop.is_set() and time.time() - start < seconds:
            now = time.time()
            due = int((now - start) * rate) - sent
            while due > 0:
                item = next(pending, None)
                if item is None:  # next round of every device, at the simulated time of now
                    round_t = min(sim_start + (now - start) * speed, now)
                    pending = iter(list(sim.batches(fleet, round_t, incidents, batch, rng)))
                    continue
                kind, code, token, payload = item
                topic = device_topic(prefix, code, token) if kind == "device" else gateway_topic(prefix, token)
                infos.append(client.publish(topic, json.dumps(payload, separators=(",", ":")), qos=1))
                n = len(payload) if kind == "gateway" else 1
                sent += n
                due -= n
                messages += 1
            if len(infos) > 5000:
                infos = [i for i in infos if not i.is_published()]
            bar.update(task, completed=min(sent, int(rate * seconds)),
                       note=f"{messages} msgs, simulated {time.strftime('%H:%M', time.gmtime(round_t + 8 * 3600))}")
            time.sleep(0.05)
    for info in infos:
        info.wait_for_publish(30)
    client.disconnect()
    client.loop_stop()
    err.print(f"{sent} readings in {messages} messages, {sent / max(time.time() - start, 1e-9):.0f} readings/s")


def receive(sink: str = typer.Option("", help="module:factory of the sink (default: the ingest pipeline), or "
                                    "parquet:DIR (stand-in: no token checks)")) -> None:
    """Receive telemetry over MQTT until Ctrl-C: an embedded broker when CITYHUB_MQTT_URL is empty; appends to
    JetStream when CITYHUB_NATS_URL is set, else hands batches to the pipeline in this process."""
    from cityhub.sensing.transport.service import load_sink, start_receiving

    s = get_settings()
    try:
        target = None if s.nats_url else load_sink(sink) if sink else load_sink()
    except (ImportError, AttributeError) as exc:
        err.print(f"[red]错误 error[/red]: 接入管道不可用 / the ingest pipeline is not available ({exc}); "
                  "use --sink parquet:DIR to try the transport alone")
        raise typer.Exit(2) from None
    stop = _stop_event()
    running = start_receiving(s, target)
    stats = running.receiver.batcher.stats
    where = "embedded amqtt 127.0.0.1:" + str(s.mqtt_embedded_port) if running.broker else s.mqtt_url
    with Live(console=err, refresh_per_second=2) as live:
        while not stop.wait(0.5):
            live.update(f"MQTT {where} {'connected' if running.receiver.connected.is_set() else 'reconnecting…'}"
                        f" → {'JetStream ' + s.nats_stream if s.nats_url else 'pipeline'}: received "
                        f"{stats.received}, handed on {stats.handed} in {stats.batches} batches, "
                        f"sink errors {stats.sink_errors}")
    running.stop()


def worker(sink: str = typer.Option("", help="module:factory of the sink (default: the ingest pipeline)"),
           batch: int = typer.Option(500, help="messages per fetch")) -> None:
    """Consume the JetStream stream (CITYHUB_NATS_URL) into the pipeline until Ctrl-C; run any number of
    workers on any number of machines: they share one durable consumer."""
    from cityhub.sensing.transport.service import load_sink, stream_config
    from cityhub.sensing.transport.stream import run_worker

    s = get_settings()
    if not s.nats_url:
        err.print("[red]错误 error[/red]: 未配置 CITYHUB_NATS_URL / CITYHUB_NATS_URL is not set")
        raise typer.Exit(2)
    stop = _stop_event()
    done = [0]

    def counted(n: int) -> None:
        done[0] += n

    with Live(console=err, refresh_per_second=1) as live:
        thread = threading.Thread(target=run_worker, args=(load_sink(sink) if sink else load_sink(),
                                                             stream_config(s)),
                                  kwargs={"batch": batch, "stop": stop, "on_batch": counted}, daemon=True)
        thread.start()
        while thread.is_alive() and not stop.wait(1):
            live.update(f"JetStream {s.nats_stream}/{s.nats_consumer}: {done[0]} messages stored and acked")
        thread.join(30)


def broker() -> None:
    """Run the embedded amqtt MQTT broker (127.0.0.1:CITYHUB_MQTT_EMBEDDED_PORT) until Ctrl-C."""
    from cityhub.sensing.transport.broker import EmbeddedBroker

    s = get_settings()
    b = EmbeddedBroker(port=s.mqtt_embedded_port).start()
    err.print(f"embedded amqtt broker on 127.0.0.1:{s.mqtt_embedded_port} (MQTT 3.1.1; development only)")
    _stop_event().wait()
    b.stop()


def register(group: typer.Typer) -> None:
    """Add the transport commands (simulate, receive, worker, broker) to the ``sensing`` command group."""
    for fn in (simulate, receive, worker, broker):
        group.command(fn.__name__)(fn)
