"""Data Package export, judged by the real Frictionless tools (the ``frictionless`` CLI and Python API):
demo datasets on SQLite and PostgreSQL, a dataset with every column type, files and links, a corrupted copy that
must fail, visibility (private, not yet opened) and bad input."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest

from cityhub import jobs
from cityhub.catalog.schemas import UploadedFile
from cityhub.demo import content
from cityhub.interop import datapackage as dp
from tests.conftest import Store, call_as, open_dataset, token_for

BASE = "http://127.0.0.1:8000"  # settings.base_url in tests, and the test client's base
FRICTIONLESS = Path(sys.executable).parent / "frictionless"
TYPED_CSV = (
    "编号,名称,金额,达标,日期,时间戳,备注\n"
    '1,"天河站, 一号",12.5,是,2024-01-02,2024-01-02 08:30:00,\n'
    "2,越秀站,7,否,2024/1/3,2024-01-03 09:15:30.25,NULL\n"
    '3,"引号""站""",,是,2024年1月4日,,无\n'
    "4,海珠站,1000.5,否,,2024-01-05 00:00:01,说明\n"
)


# -- helpers ---------------------------------------------------------------------------------------------------


def _cli(descriptor: Path) -> tuple[int, dict[str, Any]]:
    """``frictionless validate --json datapackage.json`` in the package folder: exit code and report."""
    proc = subprocess.run([str(FRICTIONLESS), "validate", "--json", descriptor.name], cwd=descriptor.parent,
                          capture_output=True, text=True, timeout=120)
    assert proc.stdout.strip(), proc.stderr
    return proc.returncode, json.loads(proc.stdout)


def _api(descriptor: Path) -> Any:
    import frictionless

    return frictionless.validate(str(descriptor))


def _error_types(report: Any) -> set[str]:
    return {row[0] for row in report.flatten(["type"])}


def _extract(client: Any, name: str, dest: Path, **kw: Any) -> Path:
    resp = client.get(f"/dataset/{name}/datapackage.zip", **kw)
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"] == "application/zip"
    assert f"{name}-datapackage.zip" in resp.headers["content-disposition"]
    with zipfile.ZipFile(io.BytesIO(resp.content)) as zf:
        assert zf.testzip() is None
        names = zf.namelist()
        assert names[0] == "datapackage.json"
        assert all(not n.startswith("/") and ".." not in n for n in names)
        zf.extractall(dest)
    return dest / "datapackage.json"


def _demo_tables(limit_per_format: int = 1) -> list[dict[str, Any]]:
    """Open demo datasets whose uploaded table is live in the datastore, one per source file format."""
    chosen: dict[str, dict[str, Any]] = {}
    for d in content.current().datasets:
        fmt = d.file_format.upper()
        if fmt in chosen or d.opening_class != "无条件开放":
            continue
        ds = call_as(None, "dataset_show", {"id": d.slug})
        if ds["private"] or not any(r["datastore_active"] for r in ds["resources"]):
            continue
        chosen[fmt] = ds
    assert "CSV" in chosen, "the demo has open datasets with CSV tables in the datastore"
    return list(chosen.values())


def _dataset(**over: Any) -> dict[str, Any]:
    return open_dataset(**over)


def _upload(ds: str, filename: str, data: bytes, **extra: Any) -> dict[str, Any]:
    res = call_as("steward", "resource_create", {"dataset": ds, "upload": UploadedFile(filename, io.BytesIO(data)),
                                                 **extra})
    jobs.wait_idle()
    return res


def _fetch(client: Any, url: str) -> bytes:
    assert url.startswith(BASE + "/"), url
    resp = client.get(url[len(BASE):])
    assert resp.status_code == 200, (url, resp.status_code)
    return resp.content


# -- demo datasets: the zip validates with the CLI and the Python API ---------------------------------------------


def test_demo_packages_validate_with_frictionless(demo: Store, app_client: Any, tmp_path: Path) -> None:
    from frictionless import Package

    for ds in _demo_tables():
        descriptor_path = _extract(app_client, ds["name"], tmp_path / ds["name"])
        code, report = _cli(descriptor_path)
        assert code == 0 and report["valid"] is True, (ds["name"], report.get("errors"), report.get("tasks"))
        assert report["stats"]["tasks"] >= 1 and all(t["valid"] for t in report["tasks"])
        api_report = _api(descriptor_path)
        assert api_report.valid is True, api_report.flatten(["type", "note"])

        package = Package(str(descriptor_path))
        descriptor = json.loads(descriptor_path.read_text("utf-8"))
        assert descriptor["$schema"] == dp.PROFILE and descriptor["name"] == ds["name"]
        tables = [r for r in descriptor["resources"] if r.get("type") == "table"]
        assert tables, "each demo dataset here has a datastore table"
        for res in tables:
            assert res["path"].startswith("data/") and res["path"].endswith(".csv")
            data = (descriptor_path.parent / res["path"]).read_bytes()
            assert res["bytes"] == len(data) and res["hash"] == "sha256:" + hashlib.sha256(data).hexdigest()
            rid = next(r["id"] for r in ds["resources"] if r["datastore_active"])
            info = call_as(None, "datastore_info", {"id": rid})
            schema = res["schema"]
            assert schema["primaryKey"] == ["_id"] and schema["missingValues"] == [""]
            assert [f["name"] for f in schema["fields"]] == ["_id"] + [c["name"] for c in info["columns"]]
            assert [f["type"] for f in schema["fields"][1:]] == [
                dp.FIELD_TYPES[c["type"]]["type"] for c in info["columns"]]
            items = {i["name"]: i["description"] for i in ds["data_items"]}
            assert all(f.get("description") == items[f["name"]] for f in schema["fields"][1:] if f["name"] in items)
            rows = package.get_resource(res["name"]).read_rows()
            assert len(rows) == info["rows"] and rows[0]["_id"] == 1


def test_corrupted_cell_makes_the_package_invalid(demo: Store, app_client: Any, tmp_path: Path) -> None:
    """The negative check: the same tools must reject a table whose cell breaks its declared type."""
    ds = _demo_tables()[0]
    descriptor_path = _extract(app_client, ds["name"], tmp_path / "pkg")
    descriptor = json.loads(descriptor_path.read_text("utf-8"))
    table = next(r for r in descriptor["resources"] if r.get("type") == "table")
    csv_path = descriptor_path.parent / table["path"]
    typed = [i for i, f in enumerate(table["schema"]["fields"]) if f["type"] != "string" and f["name"] != "_id"]
    column = typed[0] if typed else 0  # a typed data column, else the integer row number
    rows = list(csv.reader(io.StringIO(csv_path.read_text("utf-8"))))
    rows[2][column] = "not-a-value"
    with csv_path.open("w", encoding="utf-8", newline="") as fh:
        csv.writer(fh, lineterminator="\n").writerows(rows)

    code, report = _cli(descriptor_path)
    assert code != 0 and report["valid"] is False
    api_report = _api(descriptor_path)
    assert api_report.valid is False
    assert "type-error" in _error_types(api_report)
    # without the size and digest the schema alone still catches it
    for res in descriptor["resources"]:
        res.pop("hash", None)
        res.pop("bytes", None)
    descriptor_path.write_text(json.dumps(descriptor, ensure_ascii=False), "utf-8")
    api_report = _api(descriptor_path)
    assert api_report.valid is False
    assert _error_types(api_report) == ({"type-error"} if typed else {"type-error", "primary-key"})
    assert api_report.tasks[0].errors[0].row_number == 3


def test_remote_descriptor_points_at_the_downloads(demo: Store, app_client: Any) -> None:
    from frictionless import Package

    ds = _demo_tables()[0]
    resp = app_client.get(f"/dataset/{ds['name']}/datapackage.json")
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("application/json")
    descriptor = resp.json()
    assert list(Package.metadata_validate(descriptor)) == []
    assert descriptor["homepage"] == f"{BASE}/dataset/{ds['name']}"
    assert descriptor["title"] == ds["title"] and descriptor["description"] == ds["abstract"]
    assert descriptor["licenses"][0]["path"] == ds["license_url"]
    assert descriptor["contributors"][0] == {"title": ds["department_name"], "roles": ["publisher"],
                                             "path": f"{BASE}/organization/{ds['department']}"}
    assert set(ds["tags"]) <= set(descriptor["keywords"])
    assert descriptor["created"].endswith("Z") and descriptor["modified"].endswith("Z")
    names = [r["name"] for r in descriptor["resources"]]
    assert len(names) == len(set(names)) and all(dp.NAME_RE.match(n) for n in names)
    for res in descriptor["resources"]:
        body = _fetch(app_client, res["path"])  # absolute URLs that serve exactly the described bytes
        assert res["bytes"] == len(body) and res["hash"] == "sha256:" + hashlib.sha256(body).hexdigest()
        if res.get("type") == "table":
            assert res["path"].endswith("/datastore/download") and res["encoding"] == "utf-8"
            header = next(csv.reader(io.StringIO(body.decode("utf-8"))))
            assert header == [f["name"] for f in res["schema"]["fields"]]


# -- every column type, files and links -------------------------------------------------------------------------


def test_types_files_and_links(demo: Store, app_client: Any, tmp_path: Path) -> None:
    ds = _dataset(license_id="gz-open-data-1.0")
    table = _upload(ds["name"], "station-readings.csv", TYPED_CSV.encode("gb18030"))
    geo = json.dumps({"type": "FeatureCollection", "features": []}).encode()
    _upload(ds["name"], "stations.geojson", geo)
    call_as("steward", "resource_create", {"dataset": ds["name"], "name": "上游门户", "format": "HTML",
                                           "url": "https://data.gz.gov.cn/portal/stations"})
    assert call_as(None, "resource_show", {"id": table["id"]})["datastore_active"] is True

    remote = app_client.get(f"/dataset/{ds['name']}/datapackage.json").json()
    by_name = {r["name"]: r for r in remote["resources"]}
    assert set(by_name) == {"station-readings", "stations", "resource-3"}
    fields = {f["name"]: f for f in by_name["station-readings"]["schema"]["fields"]}
    assert {n: f["type"] for n, f in fields.items()} == {
        "_id": "integer", "编号": "integer", "名称": "string", "金额": "number", "达标": "boolean", "日期": "date",
        "时间戳": "datetime", "备注": "string"}
    assert fields["达标"]["trueValues"] == ["true"] and fields["时间戳"]["format"] == "any"
    assert by_name["stations"]["format"] == "geojson" and "schema" not in by_name["stations"]
    assert by_name["stations"]["hash"] == "sha256:" + hashlib.sha256(geo).hexdigest()
    link = by_name["resource-3"]
    assert link["path"] == "https://data.gz.gov.cn/portal/stations" and "hash" not in link
    assert remote["licenses"] == [{"name": "gz-open-data-1.0", "title": "开放广州数据使用协议"}]

    descriptor_path = _extract(app_client, ds["name"], tmp_path / "pkg")
    local = json.loads(descriptor_path.read_text("utf-8"))
    assert [r["path"] for r in local["resources"]] == ["data/station-readings.csv", "data/stations.geojson"]
    assert local["sources"] == [{"title": "上游门户", "path": "https://data.gz.gov.cn/portal/stations"}]
    code, report = _cli(descriptor_path)
    assert code == 0 and report["valid"] is True, report
    api_report = _api(descriptor_path)
    assert api_report.valid is True, api_report.flatten(["type", "note"])

    from frictionless import Package

    rows = Package(str(descriptor_path)).get_resource("station-readings").read_rows()
    assert [r["名称"] for r in rows] == ["天河站, 一号", "越秀站", '引号"站"', "海珠站"]
    assert [r["达标"] for r in rows] == [True, False, True, False]
    assert rows[1]["日期"] == dt.date(2024, 1, 3) and rows[3]["日期"] is None
    assert rows[1]["时间戳"] == dt.datetime(2024, 1, 3, 9, 15, 30, 250000)
    assert [r["备注"] for r in rows] == [None, None, None, "说明"]  # the null markers became empty cells
    assert float(rows[3]["金额"]) == 1000.5 and rows[2]["金额"] is None


# -- visibility and bad input ------------------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", ["json", "zip"])
def test_unknown_dataset_is_a_json_404(demo: Store, app_client: Any, suffix: str) -> None:
    resp = app_client.get(f"/dataset/no-such-dataset/datapackage.{suffix}", headers={"Accept": "text/html"})
    assert resp.status_code == 404
    assert resp.json() == {"error": {"type": "not_found", "message": "未找到数据资源 no-such-dataset",
                                     "message_en": "Dataset not found: no-such-dataset"}}


def test_private_and_unopened_datasets_are_hidden(demo: Store, app_client: Any) -> None:
    hidden = [_dataset(private=True), _dataset(published_on=(dt.date.today() + dt.timedelta(days=30)).isoformat())]
    token = token_for("steward")
    for ds in hidden:
        _upload(ds["name"], "t.csv", b"a,b\n1,x\n")
        for suffix in ("json", "zip"):
            url = f"/dataset/{ds['name']}/datapackage.{suffix}"
            anonymous = app_client.get(url)
            assert anonymous.status_code == 404 and anonymous.json()["error"]["type"] == "not_found"
            assert "private" not in anonymous.text
            citizen = app_client.get(url, headers={"Authorization": token_for("citizen")})
            assert citizen.status_code == 404
            owner = app_client.get(url, headers={"Authorization": token})
            assert owner.status_code == 200


def test_dataset_without_files_has_no_package(demo: Store, app_client: Any) -> None:
    ds = _dataset()
    for suffix in ("json", "zip"):
        resp = app_client.get(f"/dataset/{ds['name']}/datapackage.{suffix}")
        assert resp.status_code == 404 and resp.json()["error"]["type"] == "not_found"
    call_as("steward", "resource_create", {"dataset": ds["name"], "name": "link", "url": "https://example.org/x.csv"})
    assert app_client.get(f"/dataset/{ds['name']}/datapackage.json").status_code == 200
    assert app_client.get(f"/dataset/{ds['name']}/datapackage.zip").status_code == 404  # nothing to put in it


def test_dataset_page_links_to_the_package(demo: Store, app_client: Any) -> None:
    ds = _demo_tables()[0]
    html = app_client.get(f"/dataset/{ds['name']}").text
    assert f'href="/dataset/{ds["name"]}/datapackage.zip"' in html
    assert f'href="/dataset/{ds["name"]}/datapackage.json"' in html and "下载数据包" in html
    assert "Download Data Package (ZIP)" in app_client.get(f"/dataset/{ds['name']}?lang=en").text


# -- the pure builder --------------------------------------------------------------------------------------------


def test_builder_names_types_and_licences() -> None:
    assert dp.spec_name("Bus Routes 2024.v2", "x") == "bus-routes-2024.v2"
    assert dp.spec_name("公交线路", "resource-1") == "resource-1"
    assert dp.unique_names(["a", "a", "b", "a"]) == ["a", "a-2", "b", "a-3"]
    assert dp.archive_path("bus", "CSV") == "data/bus.csv"
    schema = dp.table_schema([{"name": "n", "type": "integer"}, {"name": "t", "type": "time"},
                              {"name": "x", "type": "blob"}])
    assert [(f["name"], f["type"]) for f in schema["fields"]] == [
        ("_id", "integer"), ("n", "integer"), ("t", "time"), ("x", "string")]
    assert dp.licenses("cc-by-4.0", "CC BY", "https://creativecommons.org/licenses/by/4.0/") == [
        {"name": "CC-BY-4.0", "path": "https://creativecommons.org/licenses/by/4.0/", "title": "CC BY"}]
    assert dp.licenses("", "", "") == []
    part = dp.Part(title="T", path="data/t.csv", format="CSV", stem="t", bytes=3, sha256="ab",
                   columns=[{"name": "a", "type": "string"}])
    out = dp.package_descriptor({"name": "ds-1", "title": "标题", "department": "d", "tags": ["x"],
                                 "created_at": "2024-01-01T00:00:00+00:00"}, [part], base_url="http://h/")
    assert out["resources"][0]["hash"] == "sha256:ab" and out["resources"][0]["format"] == "csv"
    assert out["created"] == "2024-01-01T00:00:00Z" and out["homepage"] == "http://h/dataset/ds-1"


def test_zip_is_streamed_in_bounded_chunks(tmp_path: Path) -> None:
    """The zip is produced as it is read: no chunk much larger than the copy buffer, and the result is whole."""
    from cityhub.interop.datapackage_actions import CHUNK, zip_chunks

    big = tmp_path / "big.csv"
    big.write_bytes(b"".join(f"{i},{hashlib.sha256(str(i).encode()).hexdigest()}\n".encode() for i in range(60_000)))
    blob = tmp_path / "blob.bin"
    blob.write_bytes(hashlib.sha256(b"x").digest() * 100_000)  # 3.2 MB, stored uncompressed
    chunks = list(zip_chunks(b'{"name": "x"}', [("data/big.csv", big), ("data/blob.bin", blob)]))
    assert len(chunks) > 4 and max(len(c) for c in chunks) <= CHUNK + 64 * 1024
    with zipfile.ZipFile(io.BytesIO(b"".join(chunks))) as zf:
        assert zf.namelist() == ["datapackage.json", "data/big.csv", "data/blob.bin"]
        assert zf.read("data/big.csv") == big.read_bytes() and zf.read("data/blob.bin") == blob.read_bytes()
        assert zf.getinfo("data/big.csv").compress_type == zipfile.ZIP_DEFLATED
        assert zf.getinfo("data/blob.bin").compress_type == zipfile.ZIP_STORED
