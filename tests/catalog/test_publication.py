"""The publication workflow (draft → submitted → published): every transition and its refusals, who sees a
dataset before it is published on every path (actions, search, lists, counts, CKAN, DCAT, datastore, download),
the reviewers' queue, the steward's dashboard, the CLI, the API and the pages."""

from __future__ import annotations

import io
import json
import re
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from typer.testing import CliRunner

from cityhub import actions, db, jobs
from cityhub.catalog.schemas import UploadedFile
from cityhub.cli.main import app as cli
from cityhub.context import system_context
from cityhub.errors import Conflict, NotAuthenticated, NotAuthorized, NotFound, ValidationError
from tests.conftest import Store, call_as, dataset_payload, token_for, unique

HTML = {"Accept": "text/html"}
GOOD_CSV = "站点名称,所属区,日期\n天河站,天河区,2026-01-02\n越秀站,越秀区,2026-01-03\n"


@pytest.fixture(scope="module")
def people(demo_store: Store) -> dict[str, str]:
    """Users beside the demo's: an analyst of the transport department (a government user of the owning
    department) and the ecology department's admin (another department's reviewer)."""
    suffix = unique("u").replace("-", "_")
    names = {"own_analyst": f"tr_analyst_{suffix}", "other_admin": f"eco_admin_{suffix}"}
    call_as("system", "user_create", {"name": names["own_analyst"], "password": "A-very-long-passphrase-42",
                                      "role": "analyst", "department": "gz-transport"})
    call_as("system", "user_create", {"name": names["other_admin"], "password": "A-very-long-passphrase-42",
                                      "role": "dept_admin", "department": "gz-ecology-environment"})
    return names


def _draft(who: str = "steward", **over: Any) -> dict[str, Any]:
    return call_as(who, "dataset_create", dataset_payload(**over))


def _sees(who: str | None, name: str) -> bool:
    try:
        call_as(who, "dataset_show", {"id": name})
    except (NotAuthorized, NotAuthenticated, NotFound):
        return False
    return True


def _found(who: str | None, word: str, drafts: bool = True) -> bool:
    out = call_as(who, "dataset_search", {"q": word, "rows": 50, "include_drafts": drafts,
                                          "include_private": who is not None})
    return any(word in r["title"] for r in out["results"])


# -- transitions ------------------------------------------------------------------------------------------------


def test_a_persons_new_dataset_is_a_draft_and_goes_through_review(demo: Store) -> None:
    ds = _draft()
    name = ds["name"]
    assert ds["publication"] == "draft"
    with pytest.raises(Conflict):  # only a submission can be approved
        call_as("deptadmin", "dataset_approve", {"id": name})
    submitted = call_as("steward", "dataset_submit", {"id": name})
    assert submitted["publication"] == "submitted" and submitted["submitted_by"] == "steward"
    with pytest.raises(Conflict):
        call_as("steward", "dataset_submit", {"id": name})
    with pytest.raises(NotAuthorized):  # a steward never approves, their own submission least of all
        call_as("steward", "dataset_approve", {"id": name})
    with pytest.raises(ValidationError) as no_reason:
        call_as("deptadmin", "dataset_reject", {"id": name, "comment": "  "})
    assert "comment" in no_reason.value.fields
    rejected = call_as("deptadmin", "dataset_reject", {"id": name, "comment": "请补充数据项说明"})
    assert rejected["publication"] == "draft" and rejected["review_comment"] == "请补充数据项说明"
    assert call_as("steward", "dataset_show", {"id": name})["review_comment"] == "请补充数据项说明"  # kept, shown
    call_as("steward", "dataset_submit", {"id": name})
    approved = call_as("deptadmin", "dataset_approve", {"id": name})
    assert approved["publication"] == "published" and approved["review_comment"] == ""
    assert _sees(None, name)
    for step in ("dataset_submit", "dataset_approve"):
        with pytest.raises(Conflict):
            call_as("admin", step, {"id": name})
    with pytest.raises(NotAuthorized):  # withdrawing is the reviewer's
        call_as("steward", "dataset_withdraw", {"id": name, "comment": "过期"})
    with pytest.raises(ValidationError):
        call_as("deptadmin", "dataset_withdraw", {"id": name})
    withdrawn = call_as("admin", "dataset_withdraw", {"id": name, "comment": "数据有误,暂停开放"})
    assert withdrawn["publication"] == "draft" and not _sees(None, name)

    steps = [h["action"] for h in call_as("steward", "dataset_history", {"id": name, "limit": 20})]
    assert steps[:6] == ["withdraw", "approve", "submit", "reject", "submit", "create"]
    audit = {(r["action"], r["outcome"]) for r in call_as("system", "audit_list", {"limit": 200})
             if r["target"] == name}
    for action in ("dataset_submit", "dataset_approve", "dataset_reject", "dataset_withdraw"):
        assert (action, "success") in audit, action
    assert ("dataset_approve", "denied") in audit and ("dataset_approve", "conflict") in audit
    detail = next(r["detail"] for r in call_as("system", "audit_list", {"limit": 200, "action": "dataset_reject"})
                  if r["target"] == name)
    assert json.loads(detail) == {"from": "submitted", "to": "draft", "comment": "请补充数据项说明"}


def test_other_departments_may_not_take_steps(demo: Store, people: dict[str, str]) -> None:
    name = _draft()["name"]
    with pytest.raises(NotFound):  # another department's draft is not even there for them
        call_as("eco_steward", "dataset_submit", {"id": name})
    call_as("steward", "dataset_submit", {"id": name})
    for step, data in (("dataset_approve", {}), ("dataset_reject", {"comment": "不行"})):
        with pytest.raises(NotFound):
            call_as(people["other_admin"], step, {"id": name, **data})
    with pytest.raises((NotAuthorized, NotAuthenticated)):
        call_as(None, "dataset_approve", {"id": name})
    with pytest.raises(NotAuthorized):  # the role gate: analysts and citizens take no step
        call_as(people["own_analyst"], "dataset_submit", {"id": name})
    with pytest.raises(NotAuthorized):
        call_as("citizen", "dataset_approve", {"id": name})
    assert call_as("admin", "dataset_approve", {"id": name})["publication"] == "published"
    with pytest.raises(NotAuthorized):  # published now: visible, but still not theirs to withdraw
        call_as(people["other_admin"], "dataset_withdraw", {"id": name, "comment": "x"})


def test_nobody_approves_their_own_submission(demo: Store) -> None:
    name = _draft("deptadmin")["name"]
    call_as("deptadmin", "dataset_submit", {"id": name})
    with pytest.raises(NotAuthorized) as refused:
        call_as("deptadmin", "dataset_approve", {"id": name})
    assert "own submission" in refused.value.message_en
    assert call_as("admin", "dataset_approve", {"id": name})["publication"] == "published"


def test_publication_asked_at_creation(demo: Store) -> None:
    # a reviewer's (or the data office's) dataset may be published at once; a steward's is submitted
    assert _draft("deptadmin", publication="published")["publication"] == "published"
    asked = _draft("steward", publication="published")
    assert asked["publication"] == "submitted" and asked["submitted_by"] == "steward"
    assert _draft("admin")["publication"] == "draft"  # a person's default
    # the local operator (CLI, demo) creates published datasets unless it asks for a draft
    assert call_as("system", "dataset_create", dataset_payload())["publication"] == "published"
    assert call_as("system", "dataset_create", dataset_payload(publication="draft"))["publication"] == "draft"
    with pytest.raises(ValidationError):
        _draft(publication="submitted")


def test_harvested_datasets_take_no_steps(demo: Store) -> None:
    ds = actions.call("dataset_create", system_context("harvest"), {**dataset_payload(), "publication": None})
    assert ds["publication"] == "published"
    with db.session_scope() as s:
        s.execute(text("UPDATE dataset SET harvest_source_id = 1 WHERE name = :n"), {"n": ds["name"]})
    with pytest.raises(NotAuthorized):
        call_as("deptadmin", "dataset_withdraw", {"id": ds["name"], "comment": "在来源处修改"})


# -- visibility -----------------------------------------------------------------------------------------------


def test_a_draft_is_seen_by_its_department_and_the_data_office_only(
        demo: Store, people: dict[str, str], app_client: TestClient) -> None:
    word = unique("草稿停车")
    ds = _draft(title=f"{word}泊位数据")
    name = ds["name"]
    res = call_as("steward", "resource_create", {"dataset": name, "upload": UploadedFile("p.csv", io.BytesIO(
        GOOD_CSV.encode()))})
    jobs.wait_idle()
    rid = res["id"]
    # the visibility rule (catalog/visibility.py): an unpublished dataset is hidden like a private one, seen by
    # the owning department's stewards and admins and by platform admins
    own = ["steward", "deptadmin", "admin"]
    others = [None, "citizen", "eco_steward", people["other_admin"], "analyst", people["own_analyst"]]
    for who in own:
        assert _sees(who, name), who
        assert _found(who, word), who
        assert not _found(who, word, drafts=False), who  # drafts only when asked for
    for who in others:
        assert not _sees(who, name), who
        assert not _found(who, word), who
        for action, data in (("resource_show", {"id": rid}), ("resource_download", {"id": rid}),
                             ("datastore_search", {"resource_id": rid}), ("dataset_history", {"id": name})):
            with pytest.raises((NotAuthorized, NotAuthenticated, NotFound)):
                call_as(who, action, data)
    assert name not in call_as(None, "dataset_list", {"limit": 1000})
    stats = call_as(None, "portal_stats", {})
    assert all(d["name"] != name for d in stats["newest"])

    # the HTTP paths: page, download, CKAN, DCAT
    # hidden datasets are not found (the visibility rule), not refused
    assert app_client.get(f"/dataset/{name}", headers=HTML).status_code == 404
    assert app_client.get(f"/dataset/{name}/resource/{rid}/download").status_code == 404
    assert app_client.get(f"/api/3/action/package_show?id={name}").status_code == 404
    search = app_client.get(f"/api/3/action/package_search?q={word}&include_drafts=true&include_private=true"
                            ).json()["result"]
    assert search["count"] == 0
    assert name not in app_client.get("/api/3/action/package_list").json()["result"]
    assert name not in app_client.get("/catalog.ttl").text
    tok = token_for("steward")
    shown = app_client.get(f"/api/3/action/package_show?id={name}", headers={"Authorization": tok}).json()
    assert shown["result"]["state"] == "draft"  # CKAN's name for not published yet
    mine = app_client.get(f"/api/3/action/package_search?q={word}&include_drafts=true&include_private=true",
                          headers={"Authorization": tok}).json()["result"]
    assert mine["count"] == 1
    before = call_as(None, "portal_stats", {})["open_datasets"]
    call_as("steward", "dataset_submit", {"id": name})
    assert not _sees(None, name) and not _sees("eco_steward", name)
    call_as("deptadmin", "dataset_approve", {"id": name})
    assert _sees(None, name) and _found(None, word, drafts=False)
    assert call_as(None, "portal_stats", {})["open_datasets"] == before + 1
    assert app_client.get(f"/api/3/action/package_show?id={name}").json()["result"]["state"] == "active"
    assert app_client.get(f"/dataset/{name}/resource/{rid}/download").status_code == 200
    assert call_as(None, "datastore_search", {"resource_id": rid})["total"] == 2


def test_ckan_package_create_follows_the_caller(demo: Store, app_client: TestClient) -> None:
    """A reviewer's package is active at once (as CKAN creates it); a steward's awaits review (CKAN ``draft``);
    ``state: draft`` asks for a draft either way (docs/ckan.md)."""
    def create(who: str, **extra: Any) -> dict[str, Any]:
        pkg = {"name": unique("pkg"), "title": "CKAN 创建的数据集", "owner_org": "gz-transport",
               "notes": "通过 CKAN 接口创建的数据集,用于检查发布流程。", **extra}
        resp = app_client.post("/api/3/action/package_create", json=pkg, headers={"Authorization": token_for(who)})
        assert resp.status_code == 200, resp.text
        result: dict[str, Any] = resp.json()["result"]
        return result

    assert create("deptadmin")["state"] == "active"
    assert create("admin")["state"] == "active"
    pending = create("steward")
    assert pending["state"] == "draft"
    assert call_as("deptadmin", "review_list", {})[0]["name"] in {pending["name"]} | {
        d["name"] for d in call_as("deptadmin", "review_list", {})}
    assert create("admin", state="draft")["state"] == "draft"
    assert app_client.get(f"/api/3/action/package_show?id={pending['name']}").status_code == 404


# -- the queue, the dashboard ---------------------------------------------------------------------------------


def test_review_queue(demo: Store, people: dict[str, str]) -> None:
    mine = _draft()["name"]
    theirs = _draft("eco_steward", department="gz-ecology-environment")["name"]
    call_as("steward", "dataset_submit", {"id": mine})
    call_as("eco_steward", "dataset_submit", {"id": theirs})
    assert {mine} <= {d["name"] for d in call_as("deptadmin", "review_list", {})}
    assert theirs not in {d["name"] for d in call_as("deptadmin", "review_list", {})}
    assert {mine, theirs} <= {d["name"] for d in call_as("admin", "review_list", {})}
    assert theirs in {d["name"] for d in call_as(people["other_admin"], "review_list", {})}
    with pytest.raises(NotAuthorized):
        call_as("steward", "review_list", {})
    with pytest.raises(NotAuthorized):
        call_as("deptadmin", "review_list", {"department": "gz-ecology-environment"})


def test_dashboard_lists_drafts_submissions_overdue_and_failed_loads(demo: Store) -> None:
    import datetime as dt

    draft = _draft()["name"]
    rejected = _draft()["name"]
    call_as("steward", "dataset_submit", {"id": rejected})
    call_as("deptadmin", "dataset_reject", {"id": rejected, "comment": "标题不清楚"})
    waiting = _draft()["name"]
    call_as("steward", "dataset_submit", {"id": waiting})
    late = call_as("system", "dataset_create", dataset_payload(update_cycle="每月"))["name"]
    old = (dt.datetime.now(dt.UTC) - dt.timedelta(days=90)).isoformat()
    call_as("steward", "resource_create", {"dataset": late, "url": "https://example.org/late.csv",
                                           "last_modified": old})
    broken = call_as("steward", "resource_create", {"dataset": draft, "upload": UploadedFile(
        "坏文件.csv", io.BytesIO(b"\x00\x01\x02" * 500))})
    jobs.wait_idle()

    board = call_as("steward", "dashboard_show", {})
    drafts = {d["name"]: d for d in board["drafts"]}
    assert draft in drafts and rejected in drafts and waiting not in drafts
    assert drafts[rejected]["review_comment"] == "标题不清楚" and drafts[draft]["review_comment"] == ""
    assert waiting in {d["name"] for d in board["submitted"]}
    overdue = {d["name"]: d for d in board["overdue"]}
    assert late in overdue and overdue[late]["days_overdue"] >= 90 - 31 - 1
    failed = {f["resource_id"]: f for f in board["failed_loads"]}
    assert failed[broken["id"]]["status"] == "failed" and failed[broken["id"]]["dataset"] == draft
    assert failed[broken["id"]]["error"] and failed[broken["id"]]["error_en"]
    assert board["counts"]["rejected"] >= 1

    # another department's board shows none of it, and a steward may not open another department's
    eco = call_as("eco_steward", "dashboard_show", {})
    assert draft not in {d["name"] for d in eco["drafts"]} and broken["id"] not in {
        f["resource_id"] for f in eco["failed_loads"]}
    with pytest.raises(NotAuthorized):
        call_as("eco_steward", "dashboard_show", {"department": "gz-transport"})
    with pytest.raises(NotAuthorized):
        call_as("citizen", "dashboard_show", {})
    assert draft in {d["name"] for d in call_as("admin", "dashboard_show", {})["drafts"]}

    # fixing the load (a good file over the bad one) clears it
    call_as("steward", "resource_update", {"id": broken["id"], "upload": UploadedFile(
        "好文件.csv", io.BytesIO(GOOD_CSV.encode()))})
    jobs.wait_idle()
    board = call_as("steward", "dashboard_show", {})
    assert broken["id"] not in {f["resource_id"] for f in board["failed_loads"]}


# -- CLI, API, pages ------------------------------------------------------------------------------------------


def test_cli_takes_the_steps(demo: Store) -> None:
    name = _draft()["name"]
    runner = CliRunner()
    assert runner.invoke(cli, ["dataset", "submit", name]).exit_code == 0
    queue = runner.invoke(cli, ["dataset", "review-queue", "--department", "gz-transport"])
    assert queue.exit_code == 0 and name in queue.stdout
    out = runner.invoke(cli, ["dataset", "approve", name])
    assert out.exit_code == 0, out.output
    assert call_as(None, "dataset_show", {"id": name})["publication"] == "published"
    refused = runner.invoke(cli, ["dataset", "approve", name])
    assert refused.exit_code == 2
    assert runner.invoke(cli, ["dataset", "withdraw", name, "--comment", "暂停"]).exit_code == 0
    assert runner.invoke(cli, ["dataset", "dashboard", "--department", "gz-transport"]).exit_code == 0


def test_api_steps_and_lists(demo: Store, app_client: TestClient) -> None:
    steward, reviewer = token_for("steward"), token_for("deptadmin")
    name = _draft()["name"]

    def post(step: str, token: str, **body: Any) -> Any:
        return app_client.post(f"/api/v1/datasets/{name}/{step}", json=body or None,
                               headers={"Authorization": f"Bearer {token}"})

    assert post("approve", steward).status_code == 403  # the role gate, before anything else
    assert post("submit", steward).json()["publication"] == "submitted"
    queue = app_client.get("/api/v1/review-queue", headers={"Authorization": f"Bearer {reviewer}"})
    assert name in {d["name"] for d in queue.json()}
    assert app_client.get("/api/v1/review-queue").status_code == 401
    resp = post("reject", reviewer)
    assert resp.status_code == 422  # the comment is required
    resp = post("reject", reviewer, comment="补充说明")
    assert resp.status_code == 200 and resp.json()["review_comment"] == "补充说明"
    assert post("approve", reviewer).status_code == 409
    board = app_client.get("/api/v1/dashboard", headers={"Authorization": f"Bearer {steward}"}).json()
    assert name in {d["name"] for d in board["drafts"]}


def _csrf(body: str) -> str:
    m = re.search(r'name="csrf_token" value="([^"]*)"', body)
    assert m
    return m.group(1)


def _sign_in(client: TestClient, passwords: dict[str, str], user: str) -> None:
    form = client.get("/login", headers=HTML).text
    resp = client.post("/login", data={"username": user, "password": passwords[user], "next": "/",
                                       "csrf_token": _csrf(form)}, headers=HTML, follow_redirects=False)
    assert resp.status_code == 303, resp.text[:300]


def test_pages_show_the_state_and_the_callers_steps(demo: Store, app_client: TestClient) -> None:
    name = _draft()["name"]
    _sign_in(app_client, demo.passwords, "steward")
    body = app_client.get(f"/dataset/{name}", headers=HTML).text
    assert 'id="publication-badge"' in body and 'id="btn-submit"' in body and 'id="btn-approve"' not in body
    assert 'href="/dashboard"' in body
    resp = app_client.post(f"/dataset/{name}/publication/submit", data={"csrf_token": _csrf(body)},
                           headers=HTML, follow_redirects=False)
    assert resp.status_code == 303
    body = app_client.get(f"/dataset/{name}", headers=HTML).text
    assert 'data-state="submitted"' in body and 'id="btn-submit"' not in body
    board = app_client.get("/dashboard", headers=HTML)
    assert board.status_code == 200 and f'id="submitted-{name}"' in board.text
    assert app_client.get("/review", headers=HTML).status_code == 403
    en = app_client.get("/dashboard?lang=en", headers=HTML).text
    assert "Steward&#39;s dashboard" in en or "Steward's dashboard" in en
    app_client.cookies.clear()

    _sign_in(app_client, demo.passwords, "deptadmin")
    queue = app_client.get("/review", headers=HTML).text
    assert f'id="review-{name}"' in queue
    body = app_client.get(f"/dataset/{name}", headers=HTML).text
    assert 'id="btn-approve"' in body and 'id="btn-reject"' in body
    resp = app_client.post(f"/dataset/{name}/publication/approve", data={"csrf_token": _csrf(body), "next": "/review"},
                           headers=HTML, follow_redirects=False)
    assert resp.status_code == 303 and resp.headers["location"].endswith("/review")
    body = app_client.get(f"/dataset/{name}", headers=HTML).text
    assert 'id="publication-badge"' not in body and 'id="btn-withdraw"' in body
    forged = app_client.post(f"/dataset/{name}/publication/withdraw", data={"csrf_token": "x", "comment": "x"},
                             headers=HTML, follow_redirects=False)
    assert forged.status_code in (401, 403)
    app_client.cookies.clear()
    assert app_client.get(f"/dataset/{name}", headers=HTML).status_code == 200
