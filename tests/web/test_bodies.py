"""Request bodies are bounded before and while they are read (``cityhub/web/bodies.py``).

* A chunked upload without ``Content-Length`` is counted as it streams and stopped at the cap with a 413 in
  the caller's error shape, with nothing stored, for the native API, CKAN ``resource_create`` /
  ``resource_update`` and the portal's upload form.
* An upload from someone who may not upload (anonymous, a public user) is refused before one byte of its body
  is read.
* A JSON body nested 1,000 deep is a clear 422 (CKAN: its 400 ``JSON Error``), not a 500; an oversized JSON
  body is a 413.

The upload cases drive the ASGI app directly with a ``receive`` that hands out the body chunk by chunk and
counts what was taken (the test client would read a streamed body whole before the app sees it); one case
goes over a real socket to a real uvicorn server with ``Transfer-Encoding: chunked``.
"""

from __future__ import annotations

import asyncio
import json
import os
import select
import socket
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Store, dataset_payload, publish, token_for
from tests.live import serve_in_thread

CAP_MB = 1
CHUNK = 64 << 10
BOUNDARY = "cityhub-test-boundary"


@pytest.fixture
def small_cap(monkeypatch: pytest.MonkeyPatch, demo: Store) -> Iterator[Store]:
    from cityhub.settings import get_settings

    monkeypatch.setenv("CITYHUB_MAX_UPLOAD_MB", str(CAP_MB))
    get_settings.cache_clear()
    yield demo
    monkeypatch.delenv("CITYHUB_MAX_UPLOAD_MB")
    get_settings.cache_clear()


@pytest.fixture
def app(demo: Store) -> Any:
    from cityhub import actions
    from cityhub.web.app import create_app

    actions.load_all()
    return create_app()


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes
    taken: int  # body bytes the app took from the client
    calls: int  # times the app called receive()
    extra: dict[str, Any] = field(default_factory=dict)

    def json(self) -> Any:
        return json.loads(self.body)


def multipart_chunks(file_bytes: int, fields: dict[str, str] | None = None, filename: str = "big.csv",
                     file_field: str = "file") -> Iterator[bytes]:
    """A multipart body produced chunk by chunk: the fields, then a file of ``file_bytes`` bytes."""
    head = b""
    for key, value in (fields or {}).items():
        head += (f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{key}\"\r\n\r\n{value}\r\n").encode()
    head += (f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{file_field}\"; filename=\"{filename}\"\r\n"
             "Content-Type: text/csv\r\n\r\n").encode()
    yield head + b"a,b\n"
    sent = 4
    row = b"1,2\n" * (CHUNK // 4)
    while sent < file_bytes:
        piece = row[: min(CHUNK, file_bytes - sent)]
        sent += len(piece)
        yield piece
    yield f"\r\n--{BOUNDARY}--\r\n".encode()


def drive(app: Any, method: str, path: str, chunks: Iterator[bytes], headers: dict[str, str]) -> Answer:
    """Run one request through the ASGI app; the body is handed out one chunk per ``receive`` call."""
    taken = calls = 0
    out: dict[str, Any] = {"status": 0, "headers": {}, "body": b""}
    source = iter(chunks)
    pending: list[bytes] = []

    async def receive() -> dict[str, Any]:
        nonlocal taken, calls
        calls += 1
        chunk = pending.pop() if pending else next(source, None)
        if chunk is None:
            await asyncio.sleep(3600)  # like a server: nothing more until the client goes away
            return {"type": "http.disconnect"}
        nxt = next(source, None)
        if nxt is not None:
            pending.append(nxt)
        taken += len(chunk)
        return {"type": "http.request", "body": chunk, "more_body": nxt is not None}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            out["status"] = message["status"]
            out["headers"] = {k.decode().lower(): v.decode() for k, v in message.get("headers", [])}
        elif message["type"] == "http.response.body":
            out["body"] += message.get("body", b"")

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method,
             "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "",
             "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
             "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 8000), "state": {}}
    asyncio.run(asyncio.wait_for(app(scope, receive, send), 120))
    return Answer(out["status"], out["headers"], out["body"], taken, calls)


def deleted_open_files() -> int:
    """Files this process holds open that are already unlinked (spooled temporary files)."""
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            if os.readlink(f"/proc/self/fd/{fd}").endswith("(deleted)"):
                count += 1
        except OSError:
            pass
    return count


def stored_files(store: Store) -> list[Path]:
    return sorted(p for p in (store.home / "files").rglob("*") if p.is_file())


def temp_files() -> set[str]:
    return set(os.listdir(tempfile.gettempdir()))


MULTIPART = {"Content-Type": f"multipart/form-data; boundary={BOUNDARY}", "Transfer-Encoding": "chunked"}


@pytest.fixture
def steward_dataset(small_cap: Store) -> tuple[str, str, str]:
    """(token, dataset name, link resource id) of the demo steward."""
    from tests.conftest import call_as

    tok = token_for("steward")
    data = dataset_payload()
    call_as("steward", "dataset_create", data)
    publish(data["name"])
    res = call_as("steward", "resource_create", {"dataset": data["name"], "url": "https://example.org/a.csv"})
    return tok, data["name"], res["id"]


def _assert_stopped_at_cap(answer: Answer) -> None:
    cap = (CAP_MB << 20) + (1 << 20)
    assert answer.status == 413, answer.body[:500]
    assert answer.taken <= cap + CHUNK + 4096, answer.taken  # stopped at the cap, not at the end (3 MiB + 1)
    assert answer.headers.get("connection") == "close"


def test_chunked_uploads_past_the_cap_stop_at_the_cap(app: Any, small_cap: Store,
                                                      steward_dataset: tuple[str, str, str],
                                                      tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from cityhub import actions
    from cityhub.context import Context

    # a temporary directory of this test's own: /tmp is shared with the other test worker and anything else
    # running, so files appearing there say nothing about this upload's spooled parts
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))

    tok, name, rid = steward_dataset
    big = 3 << 20  # three times the cap, no Content-Length
    files_before, temp_before, deleted_before = stored_files(small_cap), temp_files(), deleted_open_files()
    resources_before = actions.call("dataset_show", Context(), {"id": name})["resources"]

    native = drive(app, "POST", f"/api/v1/datasets/{name}/resources", multipart_chunks(big),
                   {**MULTIPART, "Authorization": f"Bearer {tok}"})
    _assert_stopped_at_cap(native)
    err = native.json()["error"]
    assert err["type"] == "payload_too_large" and "MiB" in err["message"] and "MiB" in err["message_en"]

    for action, fields in (("resource_create", {"package_id": name, "name": "big"}), ("resource_update", {"id": rid})):
        ckan = drive(app, "POST", f"/api/3/action/{action}", multipart_chunks(big, fields, file_field="upload"),
                     {**MULTIPART, "Authorization": tok})
        _assert_stopped_at_cap(ckan)
        body = ckan.json()
        assert body["success"] is False and body["error"]["__type"] == "Validation Error"
        assert body["help"].endswith(f"help_show?name={action}")

    session = actions.call("session_create", Context(source="127.0.0.1"),
                           {"username": "steward", "password": small_cap.passwords["steward"]})
    portal = drive(app, "POST", f"/dataset/{name}/resource/new",
                   multipart_chunks(big, {"csrf_token": session["csrf_token"], "name": "big"}),
                   {**MULTIPART, "Cookie": f"cityhub_session={session['token']}", "Accept": "text/html"})
    _assert_stopped_at_cap(portal)
    assert portal.headers["content-type"].startswith("text/html") and "MiB" in portal.body.decode()

    assert stored_files(small_cap) == files_before
    assert temp_files() == temp_before
    assert deleted_open_files() <= deleted_before  # the parser's spooled files are closed, not left open
    assert actions.call("dataset_show", Context(), {"id": name})["resources"] == resources_before

    # the same upload under the cap goes through
    small = drive(app, "POST", f"/api/v1/datasets/{name}/resources", multipart_chunks(200_000),
                  {**MULTIPART, "Authorization": f"Bearer {tok}"})
    assert small.status == 201, small.body[:300]


@pytest.mark.parametrize("who", ["anonymous", "public_user"])
def test_uploads_from_callers_who_may_not_upload_are_refused_before_reading(
        app: Any, small_cap: Store, steward_dataset: tuple[str, str, str], who: str) -> None:
    from tests.conftest import call_as, unique

    _tok, name, rid = steward_dataset
    headers = dict(MULTIPART)
    if who == "public_user":
        user = unique("pub").replace("-", "")
        call_as("system", "user_create", {"name": user, "password": "Public-User-Pass-2026!x", "role": "public"})
        tok = token_for(user)
        headers["Authorization"] = f"Bearer {tok}"
    status, kind = (401, "not_authenticated") if who == "anonymous" else (403, "not_authorized")
    files_before = stored_files(small_cap)
    for path in (f"/api/v1/datasets/{name}/resources", f"/dataset/{name}/resource/new",
                 f"/api/v1/resources/{rid}/datastore"):
        answer = drive(app, "POST", path, multipart_chunks(3 << 20), {**headers, "Accept": "application/json"})
        assert (answer.status, answer.taken, answer.calls) == (status, 0, 0), (path, answer)
        err = answer.json()["error"]
        assert err["type"] == kind and err["message"] and err["message_en"]
    ckan_headers = {**headers}
    if "Authorization" in ckan_headers:
        ckan_headers["Authorization"] = ckan_headers["Authorization"].removeprefix("Bearer ")
    for action in ("resource_create", "resource_update"):
        answer = drive(app, "POST", f"/api/3/action/{action}", multipart_chunks(3 << 20, file_field="upload"),
                       ckan_headers)
        assert (answer.status, answer.taken, answer.calls) == (403, 0, 0), answer
        assert answer.json()["error"]["__type"] == "Authorization Error"
    assert stored_files(small_cap) == files_before


def test_a_real_server_answers_a_chunked_upload_before_reading_it(small_cap: Store,
                                                                 steward_dataset: tuple[str, str, str]) -> None:
    """Over a socket, to uvicorn: an anonymous chunked upload gets its 401 with no body byte sent, and an
    authorised one past the cap gets its 413 after about the cap, not after the whole body."""
    from cityhub.web.app import create_app

    tok, name, _rid = steward_dataset
    with serve_in_thread(create_app(), lifespan="auto") as url:
        port = int(url.rsplit(":", 1)[1])
        head = (f"POST /api/v1/datasets/{name}/resources HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\nTransfer-Encoding: chunked\r\n")

        def upload(extra_headers: str, total: int) -> tuple[bytes, int]:
            """Send the headers, then chunks until the server answers; (answer, body bytes sent)."""
            with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
                sock.sendall((head + extra_headers + "\r\n").encode())
                sent = 0
                for chunk in multipart_chunks(total):
                    if select.select([sock], [], [], 0.2 if sent == 0 else 0)[0]:
                        break  # the server answered: stop sending
                    try:
                        sock.sendall(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
                    except (BrokenPipeError, ConnectionResetError):
                        break
                    sent += len(chunk)
                answer = b""
                while b"\r\n\r\n" not in answer:
                    part = sock.recv(65536)
                    if not part:
                        break
                    answer += part
                return answer, sent

        answer, sent = upload("", 50 << 20)
        assert answer.startswith(b"HTTP/1.1 401") and sent == 0, (answer[:200], sent)
        answer, sent = upload(f"Authorization: Bearer {tok}\r\n", 50 << 20)
        assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
        assert sent < 8 << 20, sent  # stopped near the 2 MiB cap, far from the 50 MiB body


def _nested(depth: int) -> bytes:
    return b'{"a":' * depth + b"1" + b"}" * depth


def test_deep_json_is_a_clear_error_not_a_500(app_client: Any, demo: Store) -> None:
    tok = token_for("steward")
    deep = _nested(1000)
    r = app_client.post("/api/v1/datasets", content=deep, headers={"Content-Type": "application/json",
                                                                   "Authorization": f"Bearer {tok}"})
    assert r.status_code == 422, r.text
    err = r.json()["error"]
    assert err["type"] == "validation_error" and "64" in err["message"] and "64" in err["message_en"]
    for path in ("/api/3/action/package_search", "/api/3/action/package_create", "/api/action/package_show"):
        r = app_client.post(path, content=deep, headers={"Content-Type": "application/json"})
        assert r.status_code == 400 and r.json().startswith("Bad request - JSON Error"), (path, r.text)
    # the same document sent as a form (curl -d), and percent-encoded
    r = app_client.post("/api/3/action/package_search", content=deep,
                        headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert r.status_code == 400 and r.json().startswith("Bad request - JSON Error"), r.text
    encoded = deep.replace(b"{", b"%7B").replace(b"}", b"%7D")
    r = app_client.post("/api/3/action/package_search", content=encoded,
                        headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert r.status_code == 400 and r.json().startswith("Bad request - JSON Error"), r.text
    # no content type at all (FastAPI reads JSON then), and arrays
    r = app_client.post("/api/v1/session", content=b"[" * 5000 + b"]" * 5000)
    assert r.status_code == 422, r.text
    # nesting within the limit is fine
    ok = app_client.post("/api/3/action/package_search", json={"q": "", "rows": 1, "x": json.loads(_nested(30))})
    assert ok.status_code in (200, 409), ok.text


def test_oversized_json_is_413_in_both_shapes(app_client: Any, demo: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    from cityhub.settings import get_settings

    monkeypatch.setenv("CITYHUB_MAX_JSON_MB", "1")
    get_settings.cache_clear()
    try:
        body = json.dumps({"q": "x" * (2 << 20)}).encode()
        r = app_client.post("/api/3/action/package_search", content=iter([body[:1 << 20], body[1 << 20:]]),
                            headers={"Content-Type": "application/json"})
        assert r.status_code == 413 and r.json()["error"]["__type"] == "Validation Error", r.text
        r = app_client.post("/api/v1/session", content=body, headers={"Content-Type": "application/json"})
        assert r.status_code == 413 and r.json()["error"]["type"] == "payload_too_large", r.text
    finally:
        monkeypatch.delenv("CITYHUB_MAX_JSON_MB")
        get_settings.cache_clear()
