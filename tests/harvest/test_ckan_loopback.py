"""A second CityHub on loopback is the CKAN source: full harvest, incremental re-run, a change and a
deletion at the source, read-only harvested datasets with their origin link, and harvesting the other way
(the second instance harvests this one through its REST API)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import Store, call_as, dataset_payload, token_for, unique
from tests.harvest.conftest import (
    Instance,
    harvest,
    local_state,
    make_department,
    start_instance,
    stop_instance,
)
from tests.live import free_port


@pytest.fixture(scope="module")
def remote(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Instance]:
    inst = start_instance(tmp_path_factory.mktemp("remote-cityhub"), free_port())
    yield inst
    stop_instance(inst)


def _public_count(url: str, fq: str = "") -> int:
    body = httpx.get(f"{url}/api/3/action/package_search", params={"rows": 0, "fq": fq}, timeout=30).json()
    count: int = body["result"]["count"]
    return count


def _serve_local(store: Store) -> tuple[str, object, threading.Thread]:
    import uvicorn

    from cityhub.web.app import create_app

    store.activate()
    port = free_port()
    srv = uvicorn.Server(uvicorn.Config(create_app(), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not srv.started:
        assert time.monotonic() < deadline and thread.is_alive(), "local uvicorn did not start"
        time.sleep(0.05)
    return f"http://127.0.0.1:{port}", srv, thread


def test_harvest_from_second_instance_and_back(remote: Instance, empty_store: Store) -> None:
    """On SQLite and PostgreSQL (this side's store); the second instance runs on SQLite."""
    empty_store.activate()
    dept = make_department()
    src = unique("peer")
    call_as("system", "harvest_source_create", {"name": src, "title": "另一个 CityHub", "kind": "ckan",
                                                "url": remote.url + "/", "department": dept})
    public = _public_count(remote.url)
    assert public > 20

    first = harvest(src)
    assert first["status"] == "succeeded", first
    assert (first["new"], first["updated"], first["withdrawn"], first["errors"]) == (public, 0, 0, 0)
    names = local_state(src)
    assert len(names) == public and set(names.values()) == {"active"}
    assert call_as(None, "dataset_search", {"rows": 0})["count"] == public

    second = harvest(src)
    assert (second["new"], second["updated"], second["unchanged"], second["withdrawn"]) == (0, 0, public, 0), second

    # at the source: one dataset changes, another is deleted (through its API, with a token)
    changed, deleted = sorted(names)[:2]
    admin = remote.api(remote.token("admin"))
    new_title = f"源站已修改的标题 {unique('v')}"
    resp = admin.patch(f"/api/v1/datasets/{changed}", json={"title": new_title, "tags": ["改过"]})
    assert resp.status_code == 200, resp.text
    assert admin.delete(f"/api/v1/datasets/{deleted}").status_code == 200

    third = harvest(src)
    assert (third["new"], third["updated"], third["unchanged"], third["withdrawn"], third["errors"]) == \
        (0, 1, public - 2, 1, 0), third
    shown = call_as(None, "dataset_show", {"id": changed})
    assert shown["title"] == new_title and shown["tags"] == ["改过"]
    assert shown["harvested"] and shown["origin_url"] == f"{remote.url}/dataset/{changed}"
    assert local_state(src)[deleted] == "withdrawn"

    # read-only here: a steward of the department gets 403 through the native API; the page links the origin
    from fastapi.testclient import TestClient

    from cityhub.web.app import create_app

    steward = unique("st").replace("-", "")
    call_as("system", "user_create", {"name": steward, "password": "Steward-Pass-2026!x", "role": "steward",
                                      "department": dept})
    with TestClient(create_app(), base_url="http://127.0.0.1:8000") as client:
        headers = {"Authorization": f"Bearer {token_for(steward)}"}
        refused = client.patch(f"/api/v1/datasets/{changed}", json={"title": "本地改一下"}, headers=headers)
        assert refused.status_code == 403, refused.text
        assert "edit it at the source" in refused.json()["error"]["message_en"]
        assert client.delete(f"/api/v1/datasets/{changed}", headers=headers).status_code == 403
        page = client.get(f"/dataset/{changed}", headers={"Accept": "text/html"})
        assert page.status_code == 200
        assert 'id="harvested-badge"' in page.text and f'href="{remote.url}/dataset/{changed}"' in page.text
        assert 'id="steward-actions"' not in page.text
        # the admin pages: sources, a run with its log, "run now"
        admin_name = unique("adm").replace("-", "")
        call_as("system", "user_create", {"name": admin_name, "password": "Admin-Pass-2026!xyz",
                                          "role": "platform_admin"})
        as_admin = {"Authorization": f"Bearer {token_for(admin_name)}", "Accept": "text/html"}
        listing = client.get("/admin/harvest", headers=as_admin)
        assert listing.status_code == 200 and f'href="/admin/harvest/{src}"' in listing.text
        assert client.get(f"/admin/harvest/{src}", headers=as_admin).status_code == 200
        shown_run = client.get(f"/admin/harvest/runs/{third['id']}", headers=as_admin)
        assert shown_run.status_code == 200 and "withdrawn at the source" in shown_run.text
        assert client.get("/admin/harvest", headers={"Authorization": headers["Authorization"],
                                                     "Accept": "text/html"}).status_code == 403
        started = client.post(f"/admin/harvest/{src}/run", headers=as_admin, follow_redirects=False)
        assert started.status_code == 303 and started.headers["location"].startswith("/admin/harvest/runs/")

    # the other way: the second instance harvests this one's own department through its REST API
    own = make_department()
    mine = [call_as("system", "dataset_create", dataset_payload(department=own))["name"] for _ in range(2)]
    from cityhub import jobs

    jobs.wait_idle(timeout=300)  # the run started from the admin page
    local_url, srv, thread = _serve_local(empty_store)
    try:
        back = unique("back")
        made = admin.post("/api/harvest/sources", json={
            "name": back, "title": "回采", "kind": "ckan", "url": local_url, "department": "gz-transport",
            "config": {"fq": f"organization:{own}"}})
        assert made.status_code == 201, made.text
        run = admin.post(f"/api/harvest/sources/{back}/runs", json={"wait": True})
        assert run.status_code == 202, run.text
        assert run.json()["status"] == "succeeded" and run.json()["new"] == 2, run.json()
        for name in mine:
            there = admin.get(f"/api/v1/datasets/{name}").json()
            assert there["harvested"] and there["origin_url"] == f"{local_url}/dataset/{name}"
            assert there["department"] == "gz-transport"
        listed = admin.get(f"/api/harvest/sources/{back}/runs").json()
        assert listed[0]["new"] == 2
        assert admin.get(f"/api/harvest/runs/{listed[0]['id']}").json()["log"]
        assert '"status": "succeeded"' in remote.cli("harvest", "runs", "--id", str(listed[0]["id"]))
    finally:
        srv.should_exit = True  # type: ignore[attr-defined]
        thread.join(timeout=10)


def test_dcat_catalog_of_second_instance(remote: Instance, sqlite_empty: Store) -> None:
    """The second instance's own DCAT-AP export (``/catalog.ttl``, Hydra pages of 25) as a DCAT source."""
    sqlite_empty.activate()
    dept = make_department()
    src = unique("dcat-peer")
    call_as("system", "harvest_source_create", {"name": src, "title": "DCAT", "kind": "dcat", "department": dept,
                                                "url": f"{remote.url}/catalog.ttl?page_size=25"})
    public = _public_count(remote.url)
    run = harvest(src)
    assert run["status"] == "succeeded", run
    assert (run["new"], run["errors"]) == (public, 0)
    again = harvest(src)
    assert (again["new"], again["updated"], again["unchanged"]) == (0, 0, public)
    harvested = local_state(src)
    name = sorted(harvested)[0]
    there = httpx.get(f"{remote.url}/api/v1/datasets/{name}", timeout=30).json()
    here = call_as(None, "dataset_show", {"id": name})
    for key in ("title", "title_en", "update_cycle", "theme", "license_id", "published_on"):
        assert here[key] == there[key], key
    for key in ("tags", "districts"):  # RDF keeps no order
        assert sorted(here[key]) == sorted(there[key]), key
    assert [r["url"] for r in here["resources"]] == [r["url"] for r in there["resources"]]
    assert here["origin_url"] == f"{remote.url}/dataset/{name}"
