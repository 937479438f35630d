"""The discussion and showcase pages through the web client: posting and replying by form (CSRF checked), the
moderation queue for moderators only, the showcase's submit form for a public user."""

from __future__ import annotations

import re
from typing import Any

from tests.conftest import Store, open_dataset
from tests.engage.conftest import call_from, new_user
from tests.web.test_pages import signed_in


def _csrf(html: str) -> str:
    m = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert m
    return m.group(1)


def test_post_and_reply_by_form(demo: Store, app_client: Any) -> None:
    ds = open_dataset()["name"]
    signed_in(app_client, demo.passwords, "analyst")
    page = app_client.get(f"/dataset/{ds}").text
    assert 'id="discussion-form"' in page and "暂无讨论" in page
    token = _csrf(page)
    forged = app_client.post(f"/dataset/{ds}/discussion", data={"title": "t", "body": "b"})
    assert forged.status_code in (401, 403)
    resp = app_client.post(f"/dataset/{ds}/discussion", data={"csrf_token": token, "kind": "error_report",
                                                              "title": "数值有误", "body": "第3行*有误*"},
                           follow_redirects=False)
    assert resp.status_code == 303 and "#post-" in resp.headers["location"]
    pid = int(resp.headers["location"].rsplit("-", 1)[1])
    resp = app_client.post(f"/dataset/{ds}/discussion", data={"csrf_token": token, "parent_id": str(pid),
                                                              "body": "补充说明"}, follow_redirects=False)
    assert resp.status_code == 303
    page = app_client.get(f"/dataset/{ds}").text
    assert "数值有误" in page and "<em>有误</em>" in page and "补充说明" in page and "纠错" in page
    missing = app_client.post(f"/dataset/{ds}/discussion", data={"csrf_token": token, "title": "x", "body": ""})
    assert missing.status_code == 422


def test_moderation_queue_page(demo: Store, app_client: Any) -> None:
    assert app_client.get("/moderation", follow_redirects=False).status_code in (303, 307)
    newbie = new_user()
    signed_in(app_client, {newbie: "Correct-horse-battery-9"}, newbie)
    assert app_client.get("/moderation").status_code == 403
    ds = open_dataset()["name"]
    post = call_from(newbie, "discussion_post_create", {"dataset": ds, "title": "待审", "body": "新人帖子"})
    assert post["status"] == "held"
    app_client.cookies.clear()
    signed_in(app_client, demo.passwords, "steward")
    page = app_client.get("/moderation?status=pending").text
    assert f'id="queue-{post["id"]}"' in page and "新人帖子" in page
    token = _csrf(page)
    resp = app_client.post(f"/discussion/{post['id']}/hide", data={"csrf_token": token, "hidden": "0",
                                                                  "next": "moderation"}, follow_redirects=False)
    assert resp.status_code == 303 and resp.headers["location"] == "/moderation"
    assert f'id="queue-{post["id"]}"' not in app_client.get("/moderation?status=pending").text
    assert "新人帖子" in app_client.get(f"/dataset/{ds}").text
    assert app_client.get("/moderation?status=reported").status_code == 200


def test_showcase_submit_form_for_a_public_user(demo: Store, app_client: Any) -> None:
    ds = open_dataset()["name"]
    assert app_client.get("/showcase").status_code == 200
    signed_in(app_client, demo.passwords, "citizen")
    page = app_client.get(f"/showcase/new?dataset={ds}").text
    assert 'enctype="multipart/form-data"' in page and f'value="{ds}"' in page
    token = _csrf(page)
    bad = app_client.post("/showcase/new", data={"csrf_token": token, "title": "站点地图", "url": "https://m.example.cn",
                                                 "type": "app", "datasets": ds},
                          files={"image": ("x.png", b"<svg onload=alert(1)>", "image/png")})
    assert bad.status_code == 422 and "PNG" in bad.text
    ok = app_client.post("/showcase/new", data={"csrf_token": token, "title": "站点地图", "url": "https://m.example.cn",
                                                "type": "app", "datasets": ds}, follow_redirects=False)
    assert ok.status_code == 303 and ok.headers["location"] == "/showcase?submitted=1"


def test_dataset_page_shows_the_newest_replies_and_the_thread_page_all(demo: Store, app_client: Any,
                                                                       settings_env: dict[str, str]) -> None:
    from tests.conftest import set_settings

    set_settings(settings_env, discussion_posts_per_minute=100, discussion_address_posts_per_minute=100)
    ds = open_dataset()["name"]
    analyst = new_user("analyst")
    head = call_from(analyst, "discussion_post_create", {"dataset": ds, "title": "长讨论", "body": "开头"})
    for i in range(8):
        call_from(analyst, "discussion_post_create", {"dataset": ds, "kind": "reply", "parent_id": head["id"],
                                                        "body": f"回复编号R{i}"})
    page = app_client.get(f"/dataset/{ds}").text
    assert "回复编号R7" in page and "回复编号R3" in page and "回复编号R2" not in page  # the newest 5
    assert f"/dataset/{ds}/discussion?thread={head['id']}" in page
    whole = app_client.get(f"/dataset/{ds}/discussion?thread={head['id']}").text
    assert all(f"回复编号R{i}" in whole for i in range(8))
    api = app_client.get(f"/api/discussions?dataset={ds}&replies=2").json()["threads"][0]
    assert api["reply_count"] == 8 and [r["body"] for r in api["replies"]] == ["回复编号R6", "回复编号R7"]
