"""Data-request pages over HTTP without a browser: the public board (filters, search, overdue badge, paging),
the ask form (sign-in, errors next to the fields), the request page (escaped and sanitised text, the timeline,
the forms each party sees), the office's routing queue and the department page's overdue section."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import call_as
from tests.engage.conftest import ask


@pytest.fixture
def client(w: dict[str, Any]) -> Iterator[TestClient]:
    from cityhub.web.app import create_app

    with TestClient(create_app(), base_url="http://127.0.0.1:8000") as c:
        yield c


def signed_in(client: TestClient, w: dict[str, Any], name: str) -> str:
    """Sign in by the JSON endpoint (session cookie); returns the CSRF token for forms."""
    client.cookies.clear()
    resp = client.post("/api/v1/session", json={"username": name, "password": w["store"].passwords[name]})
    assert resp.status_code == 200, resp.text
    return str(resp.json()["csrf_token"])


def test_board_is_public_with_filters_and_overdue_badge(client: TestClient, w: dict[str, Any], today: Any) -> None:
    today("2026-09-28")
    word = "夜间经济" + str(id(client))[-4:]
    r = ask(title=f"{word}热力数据")
    call_as("admin", "data_request_route", {"id": r["id"], "department": "gz-transport"})
    page = client.get("/requests", params={"q": word})
    assert page.status_code == 200 and f'id="request-{r["id"]}"' in page.text and "待答复" in page.text
    assert "已逾期" not in page.text.split('id="requests"')[1]
    today("2026-11-04")  # past the deadline (30 October): overdue badge, the overdue filter finds it
    page = client.get("/requests", params={"q": word, "overdue": "1", "department": "gz-transport"})
    row = page.text.split(f'id="request-{r["id"]}"')[1].split("</tr>")[0]
    assert "overdue-badge" in row and "已逾期" in row
    assert client.get("/requests", params={"q": word, "status": "answered"}).text.count('id="request-') == 0
    assert client.get("/requests", params={"q": word, "age": "30"}).text.count('id="request-') == 0  # asked today
    english = client.get("/requests", params={"q": word, "lang": "en"})
    assert "Overdue" in english.text and "Data requests" in english.text
    dept = client.get("/organization/gz-transport")
    assert dept.status_code == 200 and f'id="dept-request-{r["id"]}"' in dept.text
    assert re.search(r'id="dept-overdue-count">\s*[1-9]', dept.text)
    # junk parameters are ignored or bounded, never a 500
    assert client.get("/requests", params={"status": "nope", "cursor": "x", "q": "x" * 500}).status_code == 200


def test_board_pages_by_cursor(client: TestClient, w: dict[str, Any]) -> None:
    word = "共享单车" + str(id(client))[-4:]
    for i in range(52):
        call_as("citizen", "data_request_create", {"title": f"{word} {i}", "description": "共享单车停放点数据说明。"})
    first = client.get("/requests", params={"q": word})
    assert first.text.count('id="request-') == 50
    nxt = re.search(r'href="([^"]+)" id="next-page"', first.text)
    assert nxt
    second = client.get(nxt.group(1).replace("&amp;", "&"))
    assert second.text.count('id="request-') == 2 and 'id="next-page"' not in second.text


def test_ask_form_route_answer_and_escaping(client: TestClient, w: dict[str, Any]) -> None:
    resp = client.get("/requests/new", follow_redirects=False)
    assert resp.status_code == 303 and resp.headers["location"].startswith("/login")
    csrf = signed_in(client, w, "citizen")
    bad = client.post("/requests/new", data={"csrf_token": csrf, "title": "长" * 201, "description": "短",
                                             "department": ""})
    assert bad.status_code == 422 and 'class="field has-error"' in bad.text
    script = '<script>alert("x")</script>**需要**公交 <img src=x onerror=alert(1)>'
    made = client.post("/requests/new", data={"csrf_token": csrf, "title": '<b onmouseover="x">实时公交</b>',
                                              "description": script, "purpose": "<script>bad()</script>",
                                              "department": "gz-transport", "contact": "me@example.com"},
                       follow_redirects=False)
    assert made.status_code == 303, made.text
    rid = int(made.headers["location"].rsplit("/", 1)[1])
    client.cookies.clear()
    page = client.get(f"/requests/{rid}")
    assert page.status_code == 200
    assert "<script>alert" not in page.text and "<script>bad" not in page.text and "<img" not in page.text
    assert "&lt;script&gt;bad()" in page.text  # shown as the text it is
    assert "<strong>需要</strong>" in page.text  # Markdown rendered, then sanitised (nh3)
    assert "&lt;b onmouseover" in page.text  # the title escaped
    assert "me@example.com" not in page.text  # the contact is not public
    assert 'id="answer-form"' not in page.text and 'id="route-form"' not in page.text

    # the data office routes from its queue
    csrf = signed_in(client, w, "admin")
    queue = client.get("/requests/queue")
    assert queue.status_code == 200 and f'id="queue-{rid}"' in queue.text
    routed = client.post(f"/requests/{rid}/route", data={"csrf_token": csrf, "department": "gz-transport",
                                                         "back": "queue"}, follow_redirects=False)
    assert routed.status_code == 303 and routed.headers["location"] == "/requests/queue"
    unknown = client.post(f"/requests/{rid}/route", data={"csrf_token": csrf, "department": "nowhere"})
    assert unknown.status_code == 422

    # another department's steward sees no answer form and is refused
    csrf = signed_in(client, w, "eco_steward")
    assert 'id="answer-form"' not in client.get(f"/requests/{rid}").text
    assert client.post(f"/requests/{rid}/answer", data={"csrf_token": csrf, "kind": "will_open",
                                                        "open_by": "2030-01-01"}).status_code == 403
    assert client.get("/requests/queue").status_code == 403

    # the department answers from the request page (a refusal needs its legal basis)
    csrf = signed_in(client, w, "steward")
    page = client.get(f"/requests/{rid}")
    assert 'id="answer-form"' in page.text and "me@example.com" in page.text
    missing = client.post(f"/requests/{rid}/answer", data={"csrf_token": csrf, "kind": "cannot_open",
                                                           "open_by": "2030-01-01"})
    assert missing.status_code == 422 and "has-error" in missing.text
    done = client.post(f"/requests/{rid}/answer", data={
        "csrf_token": csrf, "kind": "already_open", "dataset": w["dataset"], "url": "", "open_by": "2030-01-01",
        "text": "<script>x()</script>已在目录中开放"}, follow_redirects=False)
    assert done.status_code == 303, done.text
    page = client.get(f"/requests/{rid}")
    assert 'id="answer-dataset"' in page.text and "<script>x()" not in page.text
    timeline = page.text.split('id="history"')[1]
    assert timeline.index("提出需求") < timeline.index("分派至部门") < timeline.index("部门答复")


def test_withdraw_and_close_by_page(client: TestClient, w: dict[str, Any]) -> None:
    r, dup = ask(), ask()
    csrf = signed_in(client, w, "citizen2")
    assert 'id="withdraw-form"' not in client.get(f"/requests/{r['id']}").text
    assert client.post(f"/requests/{r['id']}/withdraw", data={"csrf_token": csrf}).status_code == 403
    csrf = signed_in(client, w, "citizen")
    assert client.post(f"/requests/{r['id']}/withdraw", data={"csrf_token": "forged"}).status_code == 401
    assert client.post(f"/requests/{r['id']}/withdraw", data={"csrf_token": csrf},
                       follow_redirects=False).status_code == 303
    assert "已撤回" in client.get(f"/requests/{r['id']}").text
    csrf = signed_in(client, w, "admin")
    assert client.post(f"/requests/{dup['id']}/close", data={"csrf_token": csrf, "duplicate_of": "abc"}
                       ).status_code == 422
    closed = client.post(f"/requests/{dup['id']}/close", data={"csrf_token": csrf, "duplicate_of": str(r["id"])},
                         follow_redirects=False)
    assert closed.status_code == 303
    assert f'id="merged-into" href="/requests/{r["id"]}"' in client.get(f"/requests/{dup['id']}").text
