"""Webhooks: a hanging endpoint neither slows ingestion nor holds up another endpoint's deliveries; failures are
retried with back-off."""

from __future__ import annotations

import datetime as dt
import http.server
import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select

from cityhub.db import session_scope
from cityhub.sensing.models import SensingRule, WebhookDelivery
from tests.conftest import call_as, set_settings
from tests.sensing.conftest import Pipe, msg, wait_for


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True


@pytest.fixture
def endpoints() -> Iterator[dict[str, Any]]:
    received: list[dict[str, Any]] = []
    release = threading.Event()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            if self.path == "/hang":
                release.wait(30)
            else:
                received.append({"body": json.loads(body), "sig": self.headers.get("X-CityHub-Signature")})
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = _Server(("127.0.0.1", 0), Handler)
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    yield {"base": f"http://127.0.0.1:{server.server_address[1]}", "received": received}
    release.set()
    server.shutdown()
    server.server_close()


def test_hanging_webhook_does_not_slow_ingest_or_other_webhooks(
        sqlite_pipe: Pipe, endpoints: dict[str, Any], settings_env: dict[str, str]) -> None:
    from cityhub import jobs
    from cityhub.sensing import jobs as sensing_jobs
    from cityhub.sensing import notify

    set_settings(settings_env, sensing_webhook_timeout_seconds=1)
    call_as("system", "webhook_create", {"name": "dead", "url": endpoints["base"] + "/hang"})
    call_as("system", "webhook_create", {"name": "ops", "url": endpoints["base"] + "/ok", "secret": "s3cret",
                                         "min_severity": "major"})
    call_as("system", "webhook_create", {"name": "critical-only", "url": endpoints["base"] + "/crit",
                                         "min_severity": "critical"})
    with session_scope() as s:
        s.add(SensingRule(name="tilt", device_type="manhole_cover", alarm_type="井盖倾斜", severity="major",
                          condition={"attr": "tilt", "op": ">", "value": 15}))
    t0 = sqlite_pipe.clock[0] - 600
    started = time.perf_counter()
    for i in range(5):  # five raise/clear cycles: ten alarm changes, thirty deliveries queued
        r = sqlite_pipe.ingest([msg({"ts": t0 + 2 * i, "tilt": 30}, "tok-mh-1"),
                                msg({"ts": t0 + 2 * i + 1, "tilt": 1}, "tok-mh-1")])
        assert (r.raised, r.cleared) == (1, 1)
    assert time.perf_counter() - started < 2.0   # ingestion never waits on an endpoint

    jobs.reset()
    first = time.perf_counter()
    sensing_jobs.sensing_webhooks()
    wait_for(lambda: len(endpoints["received"]) == 10, timeout=15)
    assert time.perf_counter() - first < 6.0   # not 10 × the dead endpoint's timeout
    body = endpoints["received"][0]
    assert body["body"]["device"] == "mh-1" and body["body"]["event"] in ("alarm_raised", "alarm_cleared")
    raw = json.dumps(body["body"], ensure_ascii=False, sort_keys=True).encode()
    assert body["sig"] == "sha256=" + notify.sign("s3cret", raw)

    def dead_rows() -> list[WebhookDelivery]:
        with session_scope() as s:
            return list(s.scalars(select(WebhookDelivery).where(WebhookDelivery.webhook_id == 1)))

    wait_for(lambda: any(d.attempts >= 1 for d in dead_rows()), timeout=10)
    failed = next(d for d in dead_rows() if d.attempts >= 1)
    assert failed.status == "pending" and "Timeout" in failed.last_error
    assert failed.next_at > dt.datetime.now(dt.UTC) + dt.timedelta(seconds=2)   # backed off
    with session_scope() as s:
        crit = s.scalars(select(WebhookDelivery).where(WebhookDelivery.webhook_id == 3)).all()
    assert crit == []   # below its minimum severity
    jobs.reset()


def test_backoff_grows_and_caps() -> None:
    from cityhub.sensing.notify import backoff

    assert [backoff(n).total_seconds() for n in (1, 2, 3, 4)] == [5, 10, 20, 40]
    assert backoff(30).total_seconds() == 3600
