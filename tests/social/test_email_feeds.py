"""Notification e-mails through a local SMTP sink (aiosmtpd), header-injection attempts, Atom feed validity and
visibility, and the portal's bell, follow button and notification pages."""

from __future__ import annotations

import email
import re
import socket
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from email.policy import default as default_policy
from typing import Any

import pytest

from cityhub.errors import NotAuthorized, ValidationError
from tests.conftest import Store, call_as, login, open_dataset, set_settings

ATOM = "{http://www.w3.org/2005/Atom}"


class Sink:
    """aiosmtpd handler keeping every message it receives."""

    def __init__(self) -> None:
        self.messages: list[tuple[list[str], bytes]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append((list(envelope.rcpt_tos), bytes(envelope.content)))
        return "250 OK"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def smtp_sink(settings_env: dict[str, str]) -> Iterator[Sink]:
    from aiosmtpd.controller import Controller

    sink = Sink()
    port = _free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    set_settings(settings_env, smtp_host="127.0.0.1", smtp_port=port, smtp_from="noreply@open.gz.example")
    try:
        yield sink
    finally:
        controller.stop()


def _send() -> dict[str, Any]:
    result: dict[str, Any] = call_as("system", "notification_email_send", {})
    return result


def _drain() -> None:
    """Mark what earlier tests left pending as handled (SMTP off: nothing is sent, so send with a dead host)."""
    while _send()["sent"] or _send()["skipped"]:
        pass


def _email_of(user: str) -> str:
    return str(call_as("system", "user_show", {"name": user})["email"])


def test_followers_get_mail_in_the_sink(demo: Store, smtp_sink: Sink) -> None:
    ds = open_dataset()
    call_as("system", "user_update", {"name": "citizen", "email": "citizen@example.com"})
    call_as("citizen", "follow_dataset", {"id": ds["name"]})
    _drain()
    smtp_sink.messages.clear()
    call_as("steward", "dataset_update", {"id": ds["name"], "title": "邮件通知测试"})
    out = _send()
    assert out["enabled"] and out["sent"] >= 1
    to_citizen = [raw for rcpt, raw in smtp_sink.messages if "citizen@example.com" in rcpt]
    assert len(to_citizen) == 1
    msg = email.message_from_bytes(to_citizen[0], policy=default_policy)
    assert msg.get_content_type() == "text/plain" and not msg.is_multipart()
    assert "邮件通知测试" in str(msg["Subject"]) and "邮件通知测试" in msg.get_content()
    assert f"/dataset/{ds['name']}" in msg.get_content()
    # sent once: the next round has nothing for them
    smtp_sink.messages.clear()
    _send()
    assert not [r for r, _ in smtp_sink.messages if "citizen@example.com" in r]
    call_as("citizen", "unfollow_dataset", {"id": ds["name"]})


def test_opted_out_user_gets_no_mail(demo: Store, smtp_sink: Sink) -> None:
    ds = open_dataset()
    call_as("system", "user_update", {"name": "analyst", "email": "analyst@example.com"})
    call_as("analyst", "follow_dataset", {"id": ds["name"]})
    call_as("analyst", "notification_preference_update", {"email_notifications": False})
    _drain()
    smtp_sink.messages.clear()
    call_as("steward", "dataset_update", {"id": ds["name"], "title": "不发邮件"})
    _send()
    assert not [r for r, _ in smtp_sink.messages if "analyst@example.com" in r]
    assert call_as("analyst", "notification_count", {})["unread"] >= 1  # still in the portal
    call_as("analyst", "notification_preference_update", {"email_notifications": True})
    call_as("analyst", "unfollow_dataset", {"id": ds["name"]})


def test_failed_send_is_retried(demo: Store, settings_env: dict[str, str]) -> None:
    ds = open_dataset()
    call_as("system", "user_update", {"name": "citizen", "email": "citizen@example.com"})
    call_as("citizen", "follow_dataset", {"id": ds["name"]})
    set_settings(settings_env, smtp_host="127.0.0.1", smtp_port=_free_port(), smtp_max_attempts=2)
    call_as("steward", "dataset_update", {"id": ds["name"], "title": "重试"})
    assert _send()["failed"] >= 1  # nobody listens: kept for the next round
    assert _send()["failed"] >= 1
    assert _send()["failed"] == 0  # given up after two tries
    call_as("citizen", "unfollow_dataset", {"id": ds["name"]})


def test_header_injection_in_a_title_adds_no_header(demo: Store, smtp_sink: Sink) -> None:
    """A dataset title carrying CR/LF (and other line breaks: U+2028, NEL) stays text in the subject: no Bcc or
    other header is added, and nothing goes to the injected address."""
    ds = open_dataset()
    call_as("system", "user_update", {"name": "citizen", "email": "citizen@example.com"})
    call_as("citizen", "follow_dataset", {"id": ds["name"]})
    _drain()
    smtp_sink.messages.clear()
    for sneaky in ("公交\r\nBcc: victim@example.com\r\nX-Injected: yes",
                   "公交\u2028Bcc: victim@example.com\u0085X-Injected: yes"):
        try:
            call_as("steward", "dataset_update", {"id": ds["name"], "title": sneaky})
        except ValidationError:
            continue  # refused by the catalog: nothing to inject
        _send()
    raws = [raw for rcpt, raw in smtp_sink.messages if "citizen@example.com" in rcpt]
    assert raws
    assert all("victim@example.com" not in r for rcpt, _ in smtp_sink.messages for r in rcpt)
    for raw in raws:
        msg = email.message_from_bytes(raw, policy=default_policy)
        assert msg["Bcc"] is None and msg["X-Injected"] is None
        headers = raw.split(b"\r\n\r\n", 1)[0].decode("ascii")
        assert not re.search(r"^(Bcc|X-Injected):", headers, re.M | re.I)
    call_as("citizen", "unfollow_dataset", {"id": ds["name"]})


def test_mail_module_strips_line_breaks() -> None:
    from cityhub.social import mail

    subject = mail.subject("开放广州", [{"verb": "修改了数据集", "title": "a\r\nBcc: x@y\nZ: 1", "actor": "s",
                                         "when": "", "url": ""}])
    assert "\r" not in subject and "\n" not in subject
    msg = mail.message("noreply@x", "to@x\r\nBcc: evil@x", subject, "body")
    assert msg["Bcc"] is None and "\n" not in str(msg["To"])


def test_email_send_is_admin_only(demo: Store) -> None:
    with pytest.raises(NotAuthorized):
        call_as("steward", "notification_email_send", {})


def _parse_atom(body: bytes) -> ET.Element:
    root = ET.fromstring(body)
    assert root.tag == f"{ATOM}feed"
    for required in ("id", "title", "updated"):
        assert root.find(f"{ATOM}{required}") is not None and root.find(f"{ATOM}{required}").text, required
    assert root.find(f"{ATOM}author/{ATOM}name") is not None
    for entry in root.findall(f"{ATOM}entry"):
        for required in ("id", "title", "updated"):
            assert entry.find(f"{ATOM}{required}") is not None, required
    return root


def test_atom_feeds_are_valid_and_respect_visibility(app_client: Any) -> None:
    ds = open_dataset()
    call_as("steward", "dataset_update", {"id": ds["name"], "title": "Atom <&> 标题"})
    resp = app_client.get(f"/feeds/dataset/{ds['name']}.atom")
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("application/atom+xml")
    root = _parse_atom(resp.content)
    titles = [e.find(f"{ATOM}title").text for e in root.findall(f"{ATOM}entry")]
    assert any("Atom <&> 标题" in (t or "") for t in titles)
    org = _parse_atom(app_client.get("/feeds/organization/gz-transport.atom").content)
    assert org.findall(f"{ATOM}entry")
    _parse_atom(app_client.get("/feeds/recent.atom").content)
    # private: not found, and gone from the department's and the site's feeds
    call_as("steward", "dataset_update", {"id": ds["name"], "private": True, "title": "私密 Atom 标题"})
    assert app_client.get(f"/feeds/dataset/{ds['name']}.atom").status_code == 404
    for url in ("/feeds/organization/gz-transport.atom", "/feeds/recent.atom"):
        assert "私密 Atom 标题" not in app_client.get(url).text
    assert app_client.get("/feeds/organization/no-such-dept.atom").status_code == 404


def test_pages_follow_button_bell_and_notifications(app_client: Any, demo_passwords: dict[str, str]) -> None:
    ds = open_dataset()
    page = app_client.get(f"/dataset/{ds['name']}")
    assert page.status_code == 200 and 'id="activity-stream"' in page.text and "登录后关注" in page.text
    body = login(app_client, "citizen", demo_passwords["citizen"])
    resp = app_client.post(f"/follow/dataset/{ds['name']}", data={"csrf_token": body["csrf_token"]},
                           follow_redirects=False)
    assert resp.status_code == 303
    assert call_as("citizen", "am_following_dataset", {"id": ds["name"]}) is True
    call_as("citizen", "dashboard_mark_activities_old", {})
    call_as("steward", "dataset_update", {"id": ds["name"], "title": "铃铛标题"})
    home = app_client.get("/")
    assert re.search(r'id="bell-count">1<', home.text), home.text[:2000]
    notes = app_client.get("/notifications")
    assert notes.status_code == 200 and "铃铛标题" in notes.text
    assert "铃铛标题" in app_client.get("/news").text
    org = app_client.get("/organization/gz-transport")
    assert 'id="follow-button"' in org.text
    app_client.post("/notifications/read", data={"csrf_token": body["csrf_token"]})
    assert 'id="bell-count"' not in app_client.get("/").text
    # no CSRF token: refused
    assert app_client.post(f"/unfollow/dataset/{ds['name']}", data={}).status_code in (400, 401, 403)
    app_client.post(f"/unfollow/dataset/{ds['name']}", data={"csrf_token": body["csrf_token"]})
    assert call_as("citizen", "am_following_dataset", {"id": ds["name"]}) is False
