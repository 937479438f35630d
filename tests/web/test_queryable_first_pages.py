"""Queryable first on the resource page (issue 10): while the whole file is typed the preview already shows the
rows, with a "types are being checked (NN %)" status in Chinese or English; a failed check says so."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from cityhub.datastore import actions as ds_actions
from cityhub.datastore.ingest import IngestError
from tests.web.test_datastore_pages import new_dataset, table_rows, upload_via_form
from tests.web.test_pages import page, signed_in

CSV = "线路名称,所属区,站点数\n" + "".join(f"{i}路,{['越秀区', '天河区'][i % 2]},{10 + i}\n" for i in range(40))


@pytest.fixture(autouse=True)
def _queryable_first(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The feature is on by default for files of 64 MiB or more (settings.datastore_queryable_first, _min_mb);
    these tests load small files. Set in the environment, as an operator would, so that a store's activation
    (which re-reads the settings) keeps it."""
    from cityhub.settings import get_settings

    monkeypatch.setenv("CITYHUB_DATASTORE_QUERYABLE_FIRST", "true")
    monkeypatch.setenv("CITYHUB_DATASTORE_QUERYABLE_FIRST_MIN_MB", "0")
    get_settings.cache_clear()
    yield
    monkeypatch.delenv("CITYHUB_DATASTORE_QUERYABLE_FIRST")
    monkeypatch.delenv("CITYHUB_DATASTORE_QUERYABLE_FIRST_MIN_MB")
    get_settings.cache_clear()


def test_preview_during_typing_shows_rows_and_the_checking_status(app_client: TestClient,
                                                                   demo_passwords: dict[str, str],
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from cityhub import jobs

    seen: dict[str, Any] = {}
    real = ds_actions.ingest
    ds = new_dataset()

    def typing_then_real(source: Any, name: str, dest: Any, options: Any, report: Any = None) -> Any:
        rid = Path(dest).parent.name
        seen["zh"] = page(app_client, f"/dataset/{ds['name']}/resource/{rid}")
        seen["en"] = page(app_client, f"/dataset/{ds['name']}/resource/{rid}?lang=en")
        return real(source, name, dest, options, report)

    monkeypatch.setattr(ds_actions, "ingest", typing_then_real)
    signed_in(app_client, demo_passwords, "steward")
    resp = upload_via_form(app_client, ds["name"], "线路.csv", CSV.encode())
    assert resp.status_code == 303
    jobs.wait_idle()
    body = seen["zh"]
    assert 'id="typing-status"' in body and 'data-state="typing"' in body
    assert "列类型正在核对" in body and 'class="typing-pct"' in body
    assert len(table_rows(body)) > 0 and table_rows(body)[0][1:] == ["0路", "越秀区", "10"]
    assert "Column types are being checked" in seen["en"] and "provisional" in seen["en"]
    after = page(app_client, resp.headers["location"].split("#")[0])
    assert 'id="typing-status"' not in after


def test_failed_typing_keeps_the_preview_and_says_so(app_client: TestClient, demo_passwords: dict[str, str],
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    from cityhub import jobs

    def boom(*args: Any, **kwargs: Any) -> Any:
        raise IngestError("too_big", "测试失败", "test failure")

    monkeypatch.setattr(ds_actions, "ingest", boom)
    ds = new_dataset()
    signed_in(app_client, demo_passwords, "steward")
    resp = upload_via_form(app_client, ds["name"], "线路.csv", CSV.encode())
    jobs.wait_idle()
    body = page(app_client, resp.headers["location"].split("#")[0])
    assert 'data-state="provisional"' in body and "列类型核对失败" in body and "测试失败" in body
    assert table_rows(body)[0][1:] == ["0路", "越秀区", "10"]
