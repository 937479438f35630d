"""Services for the sensing transport tests (imported by tests/sensing/test_transport_*.py; not a conftest, so the
sensing-core tests keep their own): the local Mosquitto (127.0.0.1:1883) and NATS JetStream (127.0.0.1:4222). In CI
(CI=true) a missing service fails the test; elsewhere it is skipped with the reason."""
from __future__ import annotations

import getpass
import os
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

IN_CI = os.environ.get("CI", "").lower() == "true"
MQTT_URL = os.environ.get("CITYHUB_TEST_MQTT", "mqtt://127.0.0.1:1883")
NATS_URL = os.environ.get("CITYHUB_TEST_NATS", "nats://127.0.0.1:4222")


def _reachable(url: str) -> str | None:
    host, port = url.split("://", 1)[1].rsplit(":", 1)
    try:
        socket.create_connection((host, int(port)), timeout=2).close()
    except OSError as exc:
        return f"{url} not reachable ({exc})"
    return None


def need(problem: str | None) -> None:
    if problem:
        if IN_CI:
            pytest.fail(f"required in CI: {problem}")
        pytest.skip(f"{problem}; runs in CI")


@pytest.fixture
def mqtt_url() -> str:
    need(_reachable(MQTT_URL))
    return MQTT_URL


@pytest.fixture
def nats_url() -> str:
    need(_reachable(NATS_URL))
    return NATS_URL


@pytest.fixture
def prefix() -> str:
    """A topic prefix of this test alone (tests share the broker)."""
    return f"test-{uuid.uuid4().hex[:10]}/v1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PrivateMosquitto:
    """A mosquitto process of one test, with persistence, that the test may stop and start again."""

    def __init__(self, home: Path) -> None:
        self.port = free_port()
        self.home = home
        self.conf = home / "mosquitto.conf"
        self.conf.write_text(
            f"listener {self.port} 127.0.0.1\nallow_anonymous true\npersistence true\nuser {getpass.getuser()}\n"
            f"persistence_location {home}/\nmax_queued_messages 0\nlog_dest file {home}/log.txt\n")
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.proc = subprocess.Popen([shutil.which("mosquitto") or "mosquitto", "-c", str(self.conf)])
        for _ in range(100):
            if _reachable(self.url) is None:
                return
            time.sleep(0.05)
        raise RuntimeError("private mosquitto did not start")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()  # SIGTERM: mosquitto writes its persistence file (sessions, queued QoS 1)
            self.proc.wait(10)


@pytest.fixture
def private_mosquitto(tmp_path: Path) -> Iterator[PrivateMosquitto]:
    if not shutil.which("mosquitto") and not os.path.exists("/usr/sbin/mosquitto"):
        need("the mosquitto binary is not installed")
    if not shutil.which("mosquitto"):
        os.environ["PATH"] += os.pathsep + "/usr/sbin"
    broker = PrivateMosquitto(tmp_path)
    broker.start()
    yield broker
    broker.stop()
