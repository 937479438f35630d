"""Discussions on datasets: threads and replies, the visibility rule on every path, held posts of new accounts,
rate limits (429, nothing accepted is lost), reports, moderation (hide, lock; audited), script-laden posts and
an error report turned into a correction ticket."""

from __future__ import annotations

import io
from typing import Any

import pytest
from sqlalchemy import select

from cityhub.errors import Conflict, NotAuthorized, NotFound, TooManyRequests, ValidationError
from tests.conftest import Store, call_as, open_dataset, set_settings
from tests.engage.conftest import call_from, new_address, new_user


def _thread(who: str, ds: str, **over: Any) -> dict[str, Any]:
    data = {"dataset": ds, "kind": "question", "title": "字段含义?", "body": "**线路名称**指什么?"}
    data.update(over)
    return call_from(who, "discussion_post_create", data)


def elements(html: str) -> list[tuple[str, list[tuple[str, str | None]]]]:
    """Every element of ``html`` with its attributes (as a browser's parser sees them)."""
    from html.parser import HTMLParser

    found: list[tuple[str, list[tuple[str, str | None]]]] = []

    class Collect(HTMLParser):
        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            found.append((tag, attrs))

    parser = Collect()
    parser.feed(html)
    return found


def _audit(action: str, target: str) -> list[Any]:
    from cityhub import db
    from cityhub.audit import AuditRecord

    with db.session_factory()() as s:
        return list(s.scalars(select(AuditRecord).where(AuditRecord.action == action, AuditRecord.target == target)))


def test_thread_with_replies_and_activity(demo: Store, settings_env: dict[str, str]) -> None:
    set_settings(settings_env, discussion_held_first_posts=0)
    ds = open_dataset()["name"]
    citizen = new_user()
    opener = _thread(citizen, ds)
    assert opener["status"] == "visible" and opener["thread_id"] == opener["id"]
    reply = call_from("steward", "discussion_post_create", {"dataset": ds, "kind": "reply", "body": "见数据项说明",
                                                            "parent_id": opener["id"]})
    nested = call_from(citizen, "discussion_post_create", {"dataset": ds, "kind": "reply", "body": "谢谢",
                                                           "parent_id": reply["id"]})
    assert nested["thread_id"] == opener["id"] and nested["parent_id"] == reply["id"]
    listed = call_as(None, "discussion_list", {"dataset": ds})
    assert listed["count"] == 1 and [r["id"] for r in listed["threads"][0]["replies"]] == [reply["id"], nested["id"]]
    from cityhub import db
    from cityhub.social.models import Activity

    with db.session_factory()() as s:
        kinds = list(s.scalars(select(Activity.activity_type).where(Activity.object_type == "dataset",
                                                                     Activity.data["dataset"].as_string() == ds)))
    assert kinds.count("new discussion post") == 3


def test_script_laden_post_is_stored_as_written_and_rendered_harmless(demo: Store, app_client: Any,
                                                                      settings_env: dict[str, str]) -> None:
    set_settings(settings_env, discussion_held_first_posts=0)
    ds = open_dataset()["name"]
    evil = ('<script>alert(1)</script><img src=x onerror="alert(2)"> [点我](javascript:alert(3)) '
            '[b](JaVaScRiPt&#58;alert(4)) <a href="javascript:alert(5)" onclick="x()">a</a> '
            '<iframe src="https://evil.example"></iframe> [ok](https://example.org/x)')
    post = _thread(new_user(), ds, title="<b onmouseover=alert(6)>标题</b>", body=evil)
    assert post["body"] == evil  # kept as written: the Markdown source is the record
    page = app_client.get(f"/dataset/{ds}").text
    page = page[page.index('id="discussion"'):]
    page = page[:page.index("</section>")]  # the discussion section (the page's own site.js is elsewhere)
    assert "javascript" in page.lower()  # the attack is there, as text
    api = app_client.get(f"/api/discussions?dataset={ds}").json()["threads"][0]["body_html"]
    for html in (page, api):
        tags = elements(html)
        assert not [t for t, _ in tags if t in ("script", "iframe", "img", "object", "embed", "style")]
        assert not [(t, a) for t, attrs in tags for a, _ in attrs if a.startswith("on")]
        hrefs = [v or "" for _, attrs in tags for a, v in attrs if a in ("href", "src")]
        assert not [h for h in hrefs if h.replace(" ", "").lower().startswith(("javascript", "data:", "vbscript"))]
    assert [v for t, attrs in elements(api) for a, v in attrs if t == "a" and a == "href"] == ["https://example.org/x"]
    assert "&lt;script&gt;" in api  # the would-be script is shown as text


def test_flood_from_one_account_is_refused_after_the_limit_and_nothing_accepted_is_lost(
        demo: Store, settings_env: dict[str, str]) -> None:
    set_settings(settings_env, discussion_posts_per_minute=5, discussion_held_first_posts=0)
    ds = open_dataset()["name"]
    who = new_user()
    accepted, refused = [], 0
    for i in range(12):
        try:
            accepted.append(_thread(who, ds, title=f"第{i}帖", body=f"内容 {i}")["id"])
        except TooManyRequests as exc:
            refused += 1
            assert exc.status == 429 and "每分钟" in exc.message and "a minute" in exc.message_en
    assert len(accepted) == 5 and refused == 7
    listed = call_as("admin", "discussion_list", {"dataset": ds, "limit": 100})
    assert sorted(t["id"] for t in listed["threads"]) == sorted(accepted)
    assert len(_audit("discussion_post_create", ds)) >= 7  # every refusal is in the audit log
    assert any(r.outcome == "too_many_requests" for r in _audit("discussion_post_create", ds))


def test_daily_and_address_limits(demo: Store, settings_env: dict[str, str]) -> None:
    set_settings(settings_env, discussion_posts_per_minute=100, discussion_posts_per_day=3,
                 discussion_address_posts_per_minute=4, discussion_held_first_posts=0)
    ds = open_dataset()["name"]
    who = new_user()
    for i in range(3):
        _thread(who, ds, title=f"日{i}")
    with pytest.raises(TooManyRequests, match="今日"):
        _thread(who, ds)
    shared = new_address()  # many accounts behind one address
    for _ in range(4):
        call_from(new_user(), "discussion_post_create", {"dataset": ds, "title": "同址", "body": "x"}, source=shared)
    with pytest.raises(TooManyRequests, match="该地址"):
        call_from(new_user(), "discussion_post_create", {"dataset": ds, "title": "同址", "body": "x"}, source=shared)


def test_http_flood_answers_429_with_the_shared_error_shape(demo: Store, app_client: Any,
                                                           settings_env: dict[str, str]) -> None:
    set_settings(settings_env, discussion_posts_per_minute=2, discussion_held_first_posts=0)
    from tests.conftest import token_for

    ds = open_dataset()["name"]
    headers = {"Authorization": token_for(new_user())}
    codes = [app_client.post("/api/discussions", json={"dataset": ds, "title": "刷屏", "body": "x"},
                             headers=headers) for _ in range(3)]
    assert [r.status_code for r in codes] == [201, 201, 429]
    err = codes[2].json()["error"]
    assert err["type"] == "too_many_requests" and err["message"] and err["message_en"]
    assert codes[2].headers["Retry-After"] == "60"


def test_new_accounts_first_posts_are_held(demo: Store, settings_env: dict[str, str]) -> None:
    set_settings(settings_env, discussion_held_first_posts=2)
    ds = open_dataset()["name"]
    newbie = new_user()
    first = _thread(newbie, ds, title="新人帖")
    assert first["status"] == "held"
    other = new_user()
    assert call_from(other, "discussion_list", {"dataset": ds})["count"] == 0
    assert call_as(None, "discussion_list", {"dataset": ds})["count"] == 0
    assert call_from(newbie, "discussion_list", {"dataset": ds})["count"] == 1  # the author sees it
    with pytest.raises(NotFound):
        call_from(other, "discussion_post_show", {"id": first["id"]})
    queue = call_as("steward", "discussion_queue", {"status": "pending"})
    assert first["id"] in [p["id"] for p in queue]
    assert first["id"] not in [p["id"] for p in call_as("eco_steward", "discussion_queue", {"status": "pending"})]
    call_as("steward", "discussion_post_hide", {"id": first["id"], "hidden": False, "note": "ok"})
    assert call_as(None, "discussion_list", {"dataset": ds})["count"] == 1
    assert _thread(newbie, ds, title="第二帖")["status"] == "held"  # one approved, two needed
    assert call_from("analyst", "discussion_post_create", {"dataset": ds, "title": "政务", "body": "x"})[
        "status"] == "visible"  # government users are not held


def test_a_dataset_the_user_cannot_see_is_not_found_on_every_path(demo: Store, app_client: Any,
                                                                   settings_env: dict[str, str]) -> None:
    set_settings(settings_env, discussion_held_first_posts=0)
    closed = open_dataset(opening_class="不予开放")["name"]
    hidden = open_dataset(private=True)["name"]
    post = call_from("steward", "discussion_post_create", {"dataset": closed, "title": "内部", "body": "x"})
    citizen = new_user()
    for ds in (closed, hidden):
        with pytest.raises(NotFound):
            _thread(citizen, ds)
        with pytest.raises(NotFound):
            call_from(citizen, "discussion_list", {"dataset": ds})
        with pytest.raises(NotFound):
            call_as(None, "discussion_list", {"dataset": ds})
        assert app_client.get(f"/api/discussions?dataset={ds}").status_code == 404
    for action in ("discussion_post_show", "discussion_post_report"):
        with pytest.raises(NotFound):
            call_from(citizen, action, {"id": post["id"]})
    with pytest.raises(NotFound):  # a reply to a post on it
        call_from(citizen, "discussion_post_create", {"dataset": open_dataset()["name"], "kind": "reply",
                                                      "body": "x", "parent_id": post["id"]})
    assert app_client.get(f"/api/discussions/{post['id']}").status_code == 404
    assert call_as("analyst", "discussion_list", {"dataset": closed})["count"] == 1  # government sees 不予开放


def test_locked_thread_refuses_replies(demo: Store, settings_env: dict[str, str]) -> None:
    set_settings(settings_env, discussion_held_first_posts=0)
    ds = open_dataset()["name"]
    who = new_user()
    t = _thread(who, ds)
    r = call_from(who, "discussion_post_create", {"dataset": ds, "kind": "reply", "body": "a", "parent_id": t["id"]})
    with pytest.raises(NotAuthorized):
        call_from(who, "discussion_thread_lock", {"id": t["id"]})
    with pytest.raises(NotAuthorized):
        call_as("eco_steward", "discussion_thread_lock", {"id": t["id"]})
    with pytest.raises(ValidationError):
        call_as("steward", "discussion_thread_lock", {"id": r["id"]})  # a reply is not a thread
    call_as("steward", "discussion_thread_lock", {"id": t["id"], "note": "已答复"})
    for parent in (t["id"], r["id"]):
        with pytest.raises(Conflict, match="锁定"):
            call_from(who, "discussion_post_create", {"dataset": ds, "kind": "reply", "body": "b", "parent_id": parent})
    assert _audit("discussion_thread_lock", f"discussion_thread:{t['id']}")[-1].outcome == "success"
    call_as("admin", "discussion_thread_lock", {"id": t["id"], "locked": False})
    call_from(who, "discussion_post_create", {"dataset": ds, "kind": "reply", "body": "c", "parent_id": t["id"]})


def test_hidden_post_invisible_to_public_visible_to_moderators_and_audited(
        demo: Store, app_client: Any, settings_env: dict[str, str]) -> None:
    set_settings(settings_env, discussion_held_first_posts=0)
    ds = open_dataset()["name"]
    spammer, reader = new_user(), new_user()
    t = _thread(spammer, ds, title="广告帖", body="买买买 SPAMWORD")
    call_from(reader, "discussion_post_report", {"id": t["id"], "reason": "广告"})
    call_from(reader, "discussion_post_report", {"id": t["id"], "reason": "广告"})  # once per reader
    reported = call_as("steward", "discussion_queue", {"status": "reported"})
    assert [p["report_count"] for p in reported if p["id"] == t["id"]] == [1]
    with pytest.raises(NotAuthorized):
        call_from(reader, "discussion_post_hide", {"id": t["id"]})
    call_as("steward", "discussion_post_hide", {"id": t["id"], "note": "广告"})
    assert call_as(None, "discussion_list", {"dataset": ds})["count"] == 0
    assert call_from(reader, "discussion_list", {"dataset": ds})["count"] == 0
    with pytest.raises(NotFound):
        call_from(spammer, "discussion_post_show", {"id": t["id"]})
    seen = call_as("steward", "discussion_list", {"dataset": ds})
    assert seen["moderator"] and seen["threads"][0]["status"] == "hidden" and "SPAMWORD" in seen["threads"][0]["body"]
    assert call_as("admin", "discussion_list", {"dataset": ds})["count"] == 1
    assert "SPAMWORD" not in app_client.get(f"/dataset/{ds}").text
    records = _audit("discussion_post_hide", f"discussion_post:{t['id']}")
    assert [r.outcome for r in records] == ["success"]
    assert [r.outcome for r in _audit("discussion_post_hide", str(t["id"]))] == ["denied"]  # refused at the gate
    assert records[-1].actor == "steward"


def test_error_report_becomes_a_correction_ticket(demo: Store, settings_env: dict[str, str]) -> None:
    from cityhub import jobs
    from cityhub.catalog.schemas import UploadedFile

    set_settings(settings_env, discussion_held_first_posts=0)
    ds = open_dataset()["name"]
    res = call_as("steward", "resource_create", {"dataset": ds, "upload": UploadedFile(
        "lines.csv", io.BytesIO("线路,所属区\n1路,天河区\n2路,越秀区\n".encode()))})
    jobs.wait_idle()
    question = _thread(new_user(), ds)
    report = _thread(new_user(), ds, kind="error_report", title="2路所属区错误", body="2路应属海珠区")
    fields = {"resource_id": res["id"], "key_value": "2", "field": "所属区", "claimed_value": "海珠区"}
    with pytest.raises(Conflict):
        call_as("steward", "discussion_post_correction", {"id": question["id"], **fields})
    with pytest.raises(NotAuthorized):
        call_as("eco_steward", "discussion_post_correction", {"id": report["id"], **fields})
    out = call_as("steward", "discussion_post_correction", {"id": report["id"], **fields})
    ticket = call_as("steward", "correction_show", {"id": out["correction"]["id"]})
    assert ticket["claimed_value"] == "海珠区" and ticket["current_value"] == "越秀区"
    assert f"#post-{report['id']}" in ticket["evidence_url"] and "2路应属海珠区" in ticket["evidence"]
    assert call_as(None, "discussion_post_show", {"id": report["id"]})["correction_id"] == ticket["id"]
    with pytest.raises(Conflict):
        call_as("steward", "discussion_post_correction", {"id": report["id"], **fields})
