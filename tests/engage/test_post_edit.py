"""A discussion post's sanitised HTML stored when written (and rendered lazily for a row still without it), the
author's edit and delete (a moderator's too; nobody else's: 403), a locked thread refusing edits, the posting
limits and the new-account hold applying to edits, the page's edit and delete forms (CSRF checked), and
migration 0021's backfill of the rows written before it. Both engines."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from sqlalchemy import select, text, update

from cityhub.errors import Conflict, NotAuthenticated, NotAuthorized, TooManyRequests, ValidationError
from tests.conftest import Store, call_as, open_dataset, set_settings, token_for
from tests.engage.conftest import call_from, new_user
from tests.engage.test_discussions import elements
from tests.web.test_pages import signed_in

EVIL = ('<script>alert(1)</script><img src=x onerror="alert(2)"> [点我](javascript:alert(3)) '
        '<a href="javascript:alert(5)" onclick="x()">a</a> [ok](https://example.org/x) **粗体**')


def _thread(who: str, ds: str, **over: Any) -> dict[str, Any]:
    data = {"dataset": ds, "kind": "question", "title": "字段含义?", "body": "**线路名称**指什么?", **over}
    return call_from(who, "discussion_post_create", data)


def _reply(who: str, ds: str, parent: int, body: str = "回复内容") -> dict[str, Any]:
    return call_from(who, "discussion_post_create", {"dataset": ds, "kind": "reply", "body": body,
                                                     "parent_id": parent})


def _row(pid: int) -> Any:
    from cityhub import db
    from cityhub.engage.discuss_models import DiscussionPost

    with db.session_factory()() as s:
        return s.get(DiscussionPost, pid)


def _set(pid: int, **values: Any) -> None:
    from cityhub import db
    from cityhub.engage.discuss_models import DiscussionPost

    with db.session_scope() as s:
        s.execute(update(DiscussionPost).where(DiscussionPost.id == pid).values(**values))


def _harmless(html: str) -> None:
    tags = elements(html)
    assert not [t for t, _ in tags if t in ("script", "iframe", "img", "object", "embed", "style")]
    assert not [(t, a) for t, attrs in tags for a, _ in attrs if a.startswith("on")]
    assert [v for t, attrs in tags for a, v in attrs if t == "a" and a == "href"] == ["https://example.org/x"]


def _audit(action: str, target: str) -> list[Any]:
    from cityhub import db
    from cityhub.audit import AuditRecord

    with db.session_factory()() as s:
        return list(s.scalars(select(AuditRecord).where(AuditRecord.action == action, AuditRecord.target == target)))


def _csrf(html: str) -> str:
    m = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert m
    return m.group(1)


def test_the_sanitised_html_is_stored_when_written_and_shown_from_the_store(
        demo: Store, app_client: Any, settings_env: dict[str, str]) -> None:
    from cityhub.markup import render

    set_settings(settings_env, discussion_held_first_posts=0)
    ds = open_dataset()["name"]
    post = _thread(new_user(), ds, body=EVIL)
    stored = _row(post["id"]).body_html
    assert stored == render(EVIL) and "<strong>粗体</strong>" in stored and "&lt;script&gt;" in stored
    _harmless(stored)
    assert post["body_html"] == stored and post["body"] == EVIL
    # pages and the API show what is stored, rendering nothing: a changed stored value is what they show
    _set(post["id"], body_html="<p>STORED-RENDERING</p>")
    page = app_client.get(f"/dataset/{ds}").text
    assert "STORED-RENDERING" in page and "粗体" not in page
    api = app_client.get(f"/api/discussions?dataset={ds}").json()["threads"][0]
    assert api["body_html"] == "<p>STORED-RENDERING</p>" and api["body"] == EVIL
    assert app_client.get(f"/api/discussions/{post['id']}").json()["body_html"] == "<p>STORED-RENDERING</p>"


def test_a_row_without_its_rendering_is_rendered_on_read_and_stored(demo: Store, app_client: Any,
                                                                    settings_env: dict[str, str]) -> None:
    from cityhub.markup import render

    set_settings(settings_env, discussion_held_first_posts=0)
    ds = open_dataset()["name"]
    post = _thread(new_user(), ds, body=EVIL)
    _set(post["id"], body_html=None)  # as written past the actions
    listed = call_as(None, "discussion_list", {"dataset": ds})
    assert listed["threads"][0]["body_html"] == render(EVIL)
    assert _row(post["id"]).body_html == render(EVIL)  # stored once the read was over
    _harmless(app_client.get(f"/api/discussions?dataset={ds}").json()["threads"][0]["body_html"])


def test_edit_rerenders_keeps_the_old_text_and_is_audited(demo: Store, settings_env: dict[str, str]) -> None:
    from cityhub import db
    from cityhub.engage.discuss_models import DiscussionRevision

    set_settings(settings_env, discussion_held_first_posts=0)
    ds = open_dataset()["name"]
    author = new_user()
    t = _thread(author, ds, body="第一版 *原文*")
    assert "<em>原文</em>" in t["body_html"] and t["edited_at"] is None
    edited = call_from(author, "discussion_post_update", {"id": t["id"], "body": EVIL, "title": "改过的标题"})
    assert edited["body"] == EVIL and edited["title"] == "改过的标题" and edited["edited_at"]
    row = _row(t["id"])
    assert "原文" not in row.body_html and "<strong>粗体</strong>" in row.body_html
    _harmless(row.body_html)
    shown = call_as(None, "discussion_post_show", {"id": t["id"]})
    assert shown["body_html"] == row.body_html and shown["title"] == "改过的标题"
    with db.session_factory()() as s:
        revs = list(s.scalars(select(DiscussionRevision).where(DiscussionRevision.post_id == t["id"])))
    assert [(r.change, r.body, r.title) for r in revs] == [("edit", "第一版 *原文*", "字段含义?")]
    records = _audit("discussion_post_update", f"discussion_post:{t['id']}")
    assert [r.outcome for r in records] == ["success"] and records[0].actor == author
    # a reply has no title; a thread keeps one
    r = _reply(author, ds, t["id"])
    with pytest.raises(ValidationError):
        call_from(author, "discussion_post_update", {"id": r["id"], "body": "x", "title": "回复标题"})
    with pytest.raises(ValidationError):
        call_from(author, "discussion_post_update", {"id": t["id"], "body": "x", "title": ""})


def test_only_the_author_or_a_moderator_edits_or_deletes(demo: Store, app_client: Any,
                                                         settings_env: dict[str, str]) -> None:
    set_settings(settings_env, discussion_held_first_posts=0)
    ds = open_dataset()["name"]
    author, other = new_user(), new_user()
    t = _thread(author, ds, body="作者原文")
    for who in (other, "eco_steward", "analyst"):  # another user, another department's steward, not a moderator
        with pytest.raises(NotAuthorized):
            call_from(who, "discussion_post_update", {"id": t["id"], "body": "篡改"})
        with pytest.raises(NotAuthorized):
            call_from(who, "discussion_post_delete", {"id": t["id"]})
    with pytest.raises(NotAuthenticated):
        call_as(None, "discussion_post_update", {"id": t["id"], "body": "匿名"})
    headers = {"Authorization": token_for(other)}
    resp = app_client.patch(f"/api/discussions/{t['id']}", json={"body": "篡改"}, headers=headers)
    assert resp.status_code == 403 and resp.json()["error"]["message_en"]
    assert app_client.delete(f"/api/discussions/{t['id']}", headers=headers).status_code == 403
    assert _row(t["id"]).body == "作者原文" and _row(t["id"]).deleted_at is None
    assert [r.outcome for r in _audit("discussion_post_update", f"discussion_post:{t['id']}")] == ["denied"] * 4  # three users and the API call
    # the author over the API, then the dataset's steward (a moderator)
    mine = {"Authorization": token_for(author)}
    resp = app_client.patch(f"/api/discussions/{t['id']}", json={"body": "作者*改*"}, headers=mine)
    assert resp.status_code == 200 and "<em>改</em>" in resp.json()["body_html"]
    moderated = call_as("steward", "discussion_post_update", {"id": t["id"], "body": "管理员修订"})
    assert moderated["body"] == "管理员修订" and _audit("discussion_post_update",
                                                    f"discussion_post:{t['id']}")[-1].actor == "steward"
    assert app_client.delete(f"/api/discussions/{t['id']}", headers=mine).json()["deleted"] is True


def test_a_locked_thread_refuses_edits(demo: Store, settings_env: dict[str, str]) -> None:
    set_settings(settings_env, discussion_held_first_posts=0)
    ds = open_dataset()["name"]
    author = new_user()
    t = _thread(author, ds)
    r = _reply(author, ds, t["id"], "锁定前的回复")
    call_as("steward", "discussion_thread_lock", {"id": t["id"], "note": "结帖"})
    for pid in (t["id"], r["id"]):
        with pytest.raises(Conflict, match="锁定") as e:
            call_from(author, "discussion_post_update", {"id": pid, "body": "锁定后修改"})
        assert e.value.status == 409
    with pytest.raises(Conflict):
        call_as("steward", "discussion_post_update", {"id": r["id"], "body": "锁定后修改"})
    assert _row(r["id"]).body == "锁定前的回复"
    call_as("steward", "discussion_thread_lock", {"id": t["id"], "locked": False})
    assert call_from(author, "discussion_post_update", {"id": r["id"], "body": "解锁后修改"})["body"] == "解锁后修改"


def test_delete_keeps_the_thread_with_a_placeholder(demo: Store, app_client: Any,
                                                    settings_env: dict[str, str]) -> None:
    set_settings(settings_env, discussion_held_first_posts=0)
    ds = open_dataset()["name"]
    author, replier = new_user(), new_user()
    t = _thread(author, ds, title="会被删除的首帖", body="SECRET-OPENER")
    r1 = _reply(replier, ds, t["id"], "第一条回复")
    r2 = _reply(author, ds, r1["id"], "SECRET-LEAF")
    gone = call_from(author, "discussion_post_delete", {"id": r2["id"]})  # no replies: gone
    assert gone["status"] == "deleted" and gone["deleted"]
    out = call_from(author, "discussion_post_delete", {"id": t["id"]})  # has replies: a placeholder
    assert out["deleted"] and out["status"] == "visible" and out["body"] == "" and out["body_html"] == ""
    assert out["deleted_label"] == ["此帖已删除", "This post was deleted"]
    listed = call_as(None, "discussion_list", {"dataset": ds})
    thread = listed["threads"][0]
    assert listed["count"] == 1 and thread["deleted"] and thread["title"] == "" and thread["body"] == ""
    assert [x["id"] for x in thread["replies"]] == [r1["id"]] and thread["replies"][0]["body"] == "第一条回复"
    page = app_client.get(f"/dataset/{ds}").text
    assert f'data-deleted="{t["id"]}"' in page and "此帖已删除" in page and "第一条回复" in page
    for gone_text in ("SECRET-OPENER", "SECRET-LEAF", "会被删除的首帖"):  # not on the page, nor its activity stream
        assert gone_text not in page, page[max(0, page.find(gone_text) - 300):page.find(gone_text) + 100]
    assert "This post was deleted" in app_client.get(f"/dataset/{ds}?lang=en").text
    with pytest.raises(Conflict):
        call_from(author, "discussion_post_update", {"id": t["id"], "body": "删后再改"})
    with pytest.raises(Conflict):
        call_from(author, "discussion_post_delete", {"id": t["id"]})
    # the moderators still read what it said
    assert call_as("steward", "discussion_post_show", {"id": t["id"]})["body"] == "SECRET-OPENER"
    # the last reply goes: nothing hangs on the placeholder any more, the thread is gone
    call_from(replier, "discussion_post_delete", {"id": r1["id"]})
    assert call_as(None, "discussion_list", {"dataset": ds})["count"] == 0
    assert _row(t["id"]).status == "deleted"
    records = _audit("discussion_post_delete", f"discussion_post:{t['id']}")
    assert [r.outcome for r in records] == ["success", "conflict"] and records[0].actor == author
    cascade = _audit("discussion_post_delete", f"discussion_post:{r1['id']}")[-1]
    assert cascade.outcome == "success" and json.loads(cascade.detail)["removed"] == [r1["id"], t["id"]]


def test_edits_count_against_the_limits_and_a_new_account_is_held_again(demo: Store,
                                                                         settings_env: dict[str, str]) -> None:
    set_settings(settings_env, discussion_held_first_posts=0, discussion_posts_per_minute=3)
    ds = open_dataset()["name"]
    author = new_user()
    t = _thread(author, ds)  # 1
    call_from(author, "discussion_post_update", {"id": t["id"], "body": "第二版"})  # 2
    call_from(author, "discussion_post_update", {"id": t["id"], "body": "第三版"})  # 3
    with pytest.raises(TooManyRequests) as e:
        call_from(author, "discussion_post_update", {"id": t["id"], "body": "第四版"})
    assert e.value.status == 429 and _row(t["id"]).body == "第三版"
    with pytest.raises(TooManyRequests):  # and the edits count against new posts too
        _thread(author, ds, title="又一帖")
    # a new account (one approved post of the two needed) editing its shown post: held for a moderator again
    set_settings(settings_env, discussion_held_first_posts=2, discussion_posts_per_minute=100)
    newbie = new_user()
    first = _thread(newbie, ds, title="新人帖", body="正常内容")
    assert first["status"] == "held"
    call_as("steward", "discussion_post_hide", {"id": first["id"], "hidden": False})
    edited = call_from(newbie, "discussion_post_update", {"id": first["id"], "body": "改成广告 SPAMWORD"})
    assert edited["status"] == "held"
    assert "SPAMWORD" not in str(call_as(None, "discussion_list", {"dataset": ds}))
    assert first["id"] in [p["id"] for p in call_as("steward", "discussion_queue", {"status": "pending"})]


def test_edit_and_delete_forms_on_the_page(demo: Store, app_client: Any, settings_env: dict[str, str]) -> None:
    set_settings(settings_env, discussion_held_first_posts=0)
    ds = open_dataset()["name"]
    author, other = new_user(), new_user()
    t = _thread(author, ds, body="页面原文")
    signed_in(app_client, {other: "Correct-horse-battery-9"}, other)
    page = app_client.get(f"/dataset/{ds}").text
    assert f'data-edit="{t["id"]}"' not in page and f'data-delete="{t["id"]}"' not in page
    refused = app_client.post(f"/discussion/{t['id']}/edit", data={"csrf_token": _csrf(page), "body": "篡改"})
    assert refused.status_code == 403
    app_client.cookies.clear()
    signed_in(app_client, {author: "Correct-horse-battery-9"}, author)
    page = app_client.get(f"/dataset/{ds}").text
    assert f'data-edit="{t["id"]}"' in page and f'data-delete="{t["id"]}"' in page and "页面原文</textarea>" in page
    forged = app_client.post(f"/discussion/{t['id']}/edit", data={"body": "伪造"})
    assert forged.status_code in (401, 403) and _row(t["id"]).body == "页面原文"
    token = _csrf(page)
    resp = app_client.post(f"/discussion/{t['id']}/edit", data={"csrf_token": token, "title": "新标题",
                                                                "body": "页面*修改*"}, follow_redirects=False)
    assert resp.status_code == 303 and resp.headers["location"].endswith(f"#post-{t['id']}")
    page = app_client.get(f"/dataset/{ds}").text
    assert "<em>修改</em>" in page and "新标题" in page and "已编辑" in page
    english = app_client.get(f"/dataset/{ds}?lang=en").text
    assert "edited" in english and ">Edit<" in english and ">Delete<" in english
    resp = app_client.post(f"/discussion/{t['id']}/delete", data={"csrf_token": token}, follow_redirects=False)
    assert resp.status_code == 303 and "deleted=1" in resp.headers["location"]
    page = app_client.get(f"/dataset/{ds}?deleted=1&lang=zh").text
    assert "帖子已删除" in page and "页面" not in page.split('id="discussion"')[1].split("</section>")[0]


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_migration_0021_renders_the_rows_written_before_it(backend: str, tmp_path: Any) -> None:
    """Rows of a store at 0015 (before the column) get their rendering when 0021 runs, in batches, sanitised."""
    from alembic import command

    from cityhub import db
    from cityhub.markup import render
    from cityhub.migrate import alembic_config, current
    from tests.conftest import _drop_pg_database, make_store
    from tests.engage.conftest import build_world

    store, db_name = make_store(tmp_path, backend)
    try:
        world = build_world(store)
        ds = world["dataset"]
        t = call_as("citizen", "discussion_post_create", {"dataset": ds, "title": "旧帖", "body": EVIL})
        reuse = call_as("citizen", "reuse_create", {"title": "旧成果", "url": "https://app.example.cn",
                                                    "type": "app", "datasets": [ds], "description": EVIL})
        command.downgrade(alembic_config(store.url), "0015")
        db.reset_caches()
        assert current(store.url) == "0015"
        with db.session_scope() as s:
            cols = list(s.execute(text("SELECT * FROM discussion_post WHERE id = :i"), {"i": t["id"]}).keys())
            assert "body_html" not in cols
            # more old rows than one batch, as an older version wrote them
            row = dict(s.execute(text("SELECT * FROM discussion_post WHERE id = :i"), {"i": t["id"]}).mappings().one())
            many = [{**row, "id": t["id"] + 1 + i, "body": f"旧回复 {i} <script>x()</script> [a](javascript:y)",
                     "kind": "reply", "parent_id": t["id"], "title": ""} for i in range(1203)]
            s.execute(text(f"INSERT INTO discussion_post ({', '.join(row)}) VALUES ({', '.join(':' + k for k in row)})"),
                      many)
        command.upgrade(alembic_config(store.url), "head")
        db.reset_caches()
        with db.session_scope() as s:
            rows = list(s.execute(text("SELECT id, body, body_html FROM discussion_post ORDER BY id")))
            reuse_row = s.execute(text("SELECT description, description_html FROM reuse WHERE id = :i"),
                                  {"i": reuse["id"]}).one()
        assert len(rows) == 1204 and all(r[2] == render(r[1]) for r in rows)
        for r in rows:  # no element of a script, no handler, no javascript: link in any of them
            tags = elements(r[2])
            assert "script" not in [t for t, _ in tags] and "&lt;script&gt;" in r[2]
            assert not [v for _, attrs in tags for a, v in attrs if a.startswith("on") or "javascript" in (v or "")]
        assert reuse_row[1] == render(EVIL)
        _harmless(rows[0][2])
        listed = call_as("admin", "discussion_list", {"dataset": ds, "replies": 5})  # held: a new account
        assert listed["threads"][0]["body_html"] == render(EVIL) and listed["threads"][0]["reply_count"] == 1203
    finally:
        db.reset_caches()
        if db_name:
            _drop_pg_database(db_name)
