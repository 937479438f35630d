"""The custom-zones upload form of /transit: government users (an analyst too, who may not upload catalog files)
start a run with zones from a GeoJSON file; bad files are answered on the page with the zones module's reason in
both languages; other senders and files past 2 MB are refused before the body is read; the engine choice."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import call_as
from tests.transit.test_zones import CITY_ZONES, box, collection, feature
from tests.web.test_admin_pages import PASSWORD, new_user
from tests.web.test_pages import HTML, csrf_of, web_login


def _post(client: TestClient, token: str, data: bytes, engine: str = "numpy", name: str = "zones.geojson") -> Any:
    return client.post("/transit/zones", data={"csrf_token": token, "taps": "3000", "engine": engine},
                       files={"zones": (name, data, "application/geo+json")}, headers=HTML, follow_redirects=False)


def _wait(run_id: str, timeout: float = 180) -> dict[str, Any]:
    from cityhub import jobs

    jobs.wait_idle(timeout)
    deadline = time.monotonic() + timeout
    while True:
        run = call_as("steward", "transit_run_show", {"id": run_id})
        if run["status"] in ("done", "failed") or time.monotonic() > deadline:
            return run
        time.sleep(0.2)


def test_zones_upload_form(app_client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    # anonymous and non-government senders: refused before the body is read (no form for them either)
    assert "zones-form" not in app_client.get("/transit", headers=HTML).text
    assert app_client.post("/transit/zones", files={"zones": ("z.geojson", CITY_ZONES.encode(), "application/json")},
                           headers=HTML, follow_redirects=False).status_code == 401
    citizen = new_user("public", department=None)
    web_login(app_client, citizen, PASSWORD)
    page = app_client.get("/transit", headers=HTML).text
    assert "zones-form" not in page
    assert app_client.post("/transit/zones", files={"zones": ("z.geojson", CITY_ZONES.encode(), "application/json")},
                           headers=HTML, follow_redirects=False).status_code == 403
    app_client.cookies.clear()

    # an analyst (no catalog uploads) may start a run, as transit_run_start allows
    analyst = new_user("analyst")
    web_login(app_client, analyst, PASSWORD)
    page = app_client.get("/transit", headers=HTML).text
    assert 'id="zones-form"' in page
    token = csrf_of(page, "zones-form")

    # bad files: the zones module's reason, in Chinese on the zh page, in English on the en page
    open_ring = collection(feature([[[113.0, 23.0], [113.1, 23.0], [113.1, 23.1], [113.0, 23.1]]], zone_id="a"))
    bad = _post(app_client, token, open_ring.encode())
    assert bad.status_code == 422, bad.text[:500]
    assert 'id="err-zones"' in bad.text and "区域文件有误" in bad.text and "第 1 个要素" in bad.text
    app_client.cookies.set("cityhub_lang", "en")
    bad_en = _post(app_client, csrf_of(bad.text, "zones-form"), b"{not json")
    assert bad_en.status_code == 422 and "Bad zones file" in bad_en.text and "not valid JSON" in bad_en.text
    app_client.cookies.set("cityhub_lang", "zh")
    metres = collection(feature([box(500000.0, 2500000.0, 510000.0, 2510000.0)], zone_id="m"))
    assert "区域文件有误" in _post(app_client, token, metres.encode()).text
    empty = _post(app_client, token, b"")
    assert empty.status_code == 422 and "请选择区域 GeoJSON 文件" in empty.text
    assert "UTF-8" in _post(app_client, token, "区域".encode("gb18030") + b"\xff").text
    # past 2 MB but within the form's slack: the route's check; far past it: the middleware's 413
    padded = json.dumps({"type": "FeatureCollection", "features": [], "pad": "x" * 2_000_000}).encode()
    over = _post(app_client, token, padded)
    assert over.status_code == 422 and "区域文件超过 2 MB 上限" in over.text
    assert _post(app_client, token, b"x" * 3_000_000).status_code == 413

    # spark where PySpark is missing: a clear bilingual refusal, no run started
    import cityhub.transit.actions as tactions

    monkeypatch.setattr(tactions, "spark_available", lambda: False)
    before = len(list(tactions.runs_dir().glob("*/run.json")))
    nospark = _post(app_client, token, CITY_ZONES.encode(), engine="spark")
    assert nospark.status_code == 422 and "本服务器未安装 PySpark" in nospark.text
    assert _post(app_client, token, CITY_ZONES.encode(), engine="gpu").status_code == 422
    assert len(list(tactions.runs_dir().glob("*/run.json"))) == before

    # a good file: a run with the zones, on numpy, redirected back to the page with its id
    good = _post(app_client, token, CITY_ZONES.encode())
    assert good.status_code == 303, good.text[:500]
    run_id = good.headers["location"].split("started=")[1].split("#")[0]
    assert 'id="t-started"' in app_client.get(good.headers["location"], headers=HTML).text
    run = _wait(run_id)
    assert run["status"] == "done", run.get("error")
    assert run["zones"] == ["west", "east"] and run["params"]["engine"] == "numpy"
    assert run["published"]["od_zone_dataset"] == "transit-od-zone-gz-transport"
    app_client.cookies.clear()


def test_engine_choice_through_the_action(demo: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    import cityhub.transit.actions as tactions
    from cityhub.errors import ValidationError

    monkeypatch.setattr(tactions, "spark_available", lambda: False)
    with pytest.raises(ValidationError) as err:
        call_as("steward", "transit_run_start", {"taps": 3000, "engine": "spark", "publish": False})
    assert "PySpark" in err.value.message and "PySpark" in err.value.message_en
    assert err.value.fields == {"engine": ["PySpark is not installed here: choose numpy"]}
    with pytest.raises(ValidationError):
        call_as("steward", "transit_run_start", {"taps": 3000, "engine": "dask"})
