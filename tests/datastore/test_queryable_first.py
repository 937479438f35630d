"""Queryable first (issue 10): a first CSV load is served through a typed view over its untyped copy while the
whole file is typed, then swapped to the typed table. The final answer is today's; the provisional view honours
grant scopes; a failed typing leaves the copy served with the error reported."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest

from cityhub import jobs
from cityhub.catalog.schemas import UploadedFile
from cityhub.datastore import actions as ds_actions
from cityhub.datastore import query, typedpass
from cityhub.datastore.ingest import IngestError, IngestOptions
from cityhub.datastore.query import grants
from cityhub.settings import get_settings
from tests.conftest import Store, call_as, open_dataset
from tests.datastore.conftest import VISIBLE

CSV = "编号,所属区,日期,数值,备注\n" + "".join(
    f"{i},{['天河区', '越秀区', '海珠区'][i % 3]},2020-01-{1 + i % 28:02d},{'abc' if i % 200 == 7 else 10 + i % 90},"
    f"{'' if i % 4 else '注' + str(i)}\n"
    for i in range(600))

#: files of the ingest tests that reach the one-pass path's cases (null markers, Chinese dates, codes, bad cells)
FILES = {
    "plain": CSV,
    "markers": "a,b,c,d\n" + "".join(f"{i},{'-' if i % 9 == 0 else i * 1.5},{'2018年9月1日' if i % 5 else 'NULL'},"
                                      f"{'0042' if i == 3 else i}\n" for i in range(300)),
    "bool_dates": "flag,when,amount\n" + "".join(f"{'是' if i % 2 else '否'},{20180901 + i % 20},{i}.25\n"
                                                  for i in range(200)),
    "ragged": "x,y\n1,2\n3,4,5\n6,7\n8,\n",
}


@pytest.fixture(autouse=True)
def _queryable_first(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The feature is on by default for files of 64 MiB or more (settings.datastore_queryable_first, _min_mb);
    these tests load small files. Set in the environment, as an operator would, so that a store's activation
    (which re-reads the settings) keeps it."""
    from cityhub.settings import get_settings

    monkeypatch.setenv("CITYHUB_DATASTORE_QUERYABLE_FIRST", "true")
    monkeypatch.setenv("CITYHUB_DATASTORE_QUERYABLE_FIRST_MIN_MB", "0")  # these tests' files are small
    get_settings.cache_clear()
    yield
    monkeypatch.delenv("CITYHUB_DATASTORE_QUERYABLE_FIRST")
    monkeypatch.delenv("CITYHUB_DATASTORE_QUERYABLE_FIRST_MIN_MB")
    get_settings.cache_clear()


def _final(path: Path, dest: Path) -> Any:
    from cityhub.datastore.ingest import ingest

    return ingest(path, path.name, dest, IngestOptions())


@pytest.mark.parametrize("name", sorted(FILES))
def test_provisional_view_gives_the_final_values_where_the_type_holds(tmp_path: Path, name: str) -> None:
    src = tmp_path / f"{name}.csv"
    src.write_text(FILES[name], encoding="utf-8")
    raw = typedpass.write_raw_copy(src, src.name, tmp_path / "v" / "raw.parquet", IngestOptions())
    assert raw is not None, "a plain CSV is served provisionally (None: typed first)"
    assert Path(raw.path).is_file() and raw.rows > 0
    final = _final(src, tmp_path / "final")
    assert raw.rows == final.rows
    assert [c["name"] for c in raw.columns] == [c.name for c in final.columns]
    con = duckdb.connect()
    prov = con.execute(f"SELECT {raw.select} FROM read_parquet(?) ORDER BY _id", [str(raw.path)]).fetchall()
    done = con.execute(f"SELECT {VISIBLE} FROM read_parquet(?) ORDER BY _id", [str(final.parquet_path)]).fetchall()
    assert [r[0] for r in prov] == [r[0] for r in done]  # the same _id for the same rows
    for k, (c, fc) in enumerate(zip(raw.columns, final.columns, strict=True), start=1):
        prov_col, done_col = [r[k] for r in prov], [r[k] for r in done]
        if c["type"] == fc.type == "string":
            assert prov_col == done_col, c["name"]
        elif c["type"] == fc.type:  # a provisional cell is NULL or the final value, never another value
            assert all(p is None or p == d for p, d in zip(prov_col, done_col, strict=True)), c["name"]
            assert sum(p is not None for p in prov_col) >= 0.5 * sum(d is not None for d in done_col), c["name"]
        else:  # proposal overturned by the whole file: the cells that fitted still read the same text
            assert all(p is None or str(p) == str(d) for p, d in zip(prov_col, done_col, strict=True)), c["name"]


def test_not_a_csv_or_declared_schema_is_not_served_provisionally(tmp_path: Path) -> None:
    src = tmp_path / "t.json"
    src.write_text('[{"a": 1}]', encoding="utf-8")
    assert typedpass.write_raw_copy(src, src.name, tmp_path / "raw.parquet", IngestOptions()) is None
    csv = tmp_path / "t.csv"
    csv.write_text("a\n1\n", encoding="utf-8")
    opts = IngestOptions(schema={"fields": [{"name": "a", "type": "string"}]})
    assert typedpass.write_raw_copy(csv, csv.name, tmp_path / "raw.parquet", opts) is None
    empty = tmp_path / "e.csv"
    empty.write_bytes(b"")
    assert typedpass.write_raw_copy(empty, empty.name, tmp_path / "raw.parquet", IngestOptions()) is None


def test_grant_scope_applies_to_the_provisional_view(tmp_path: Path) -> None:
    src = tmp_path / "t.csv"
    src.write_text(CSV, encoding="utf-8")
    raw = typedpass.write_raw_copy(src, src.name, tmp_path / "raw.parquet", IngestOptions())
    assert raw is not None, "a plain CSV is served provisionally (None: typed first)"
    ref = query.TableRef(resource_id="r1", path=raw.path, rows=raw.rows,
                         columns=[(c["name"], c["type"]) for c in raw.columns], select=raw.select)
    scoped = grants.scoped(ref, ["所属区", "数值"], {"所属区": "天河区"})
    out = query.search(scoped, limit=1000)
    assert out["total"] == 200
    assert {r["所属区"] for r in out["records"]} == {"天河区"}
    assert all(set(r) <= {"_id", "所属区", "数值"} for r in out["records"])
    with pytest.raises(query.QueryError):
        query.search(scoped, filters={"备注": "注4"})
    sql = query.run_sql('SELECT count(*) AS n, count(DISTINCT "所属区") AS d FROM "r1"', lambda n: scoped)
    assert sql["records"][0] == {"n": 200, "d": 1} or sql["records"][0] == [200, 1]
    with pytest.raises(query.QueryError):
        query.run_sql('SELECT "备注" FROM "r1"', lambda n: scoped)
    # unscoped, the provisional types hold: the bad cell 'abc' is NULL in an integer column
    whole = query.search(ref, filters={"编号": 7})
    assert whole["records"][0]["数值"] is None


# -- through the actions --------------------------------------------------------------------------------------


def _upload(ds: str, data: bytes, filename: str = "t.csv") -> dict[str, Any]:
    res = call_as("steward", "resource_create", {"dataset": ds, "upload": UploadedFile(filename, io.BytesIO(data))})
    jobs.wait_idle()
    return res


def test_typing_is_served_then_swapped_with_the_same_final_answer(demo: Store, monkeypatch) -> None:
    seen: dict[str, Any] = {}
    real = ds_actions.ingest

    def typing_then_real(source, name, dest, options, report=None):  # a reader during the typing
        rid = Path(dest).parent.name
        seen["search"] = call_as(None, "datastore_search", {"resource_id": rid, "filters": {"所属区": "天河区"}})
        seen["info"] = call_as(None, "datastore_info", {"id": rid})
        return real(source, name, dest, options, report)

    monkeypatch.setattr(ds_actions, "ingest", typing_then_real)
    ds = open_dataset()
    res = _upload(ds["name"], CSV.encode("utf-8"))
    rid = res["id"]
    assert seen["search"]["total"] == 200
    assert seen["search"]["typing"]["state"] == "typing" and seen["search"]["typing"]["provisional_types"] is True
    assert seen["info"]["typing"]["state"] == "typing"
    assert all(c.get("provisional") for c in seen["info"]["columns"])
    job = call_as("steward", "datastore_job_show", {"version_id": res["datastore_job"]["id"]})
    assert job["status"] == "complete"
    after = call_as(None, "datastore_search", {"resource_id": rid, "filters": {"所属区": "天河区"}})
    assert "typing" not in after and after["total"] == 200
    # the same final answer as a load without queryable first
    monkeypatch.setattr(ds_actions, "ingest", real)
    monkeypatch.setattr(get_settings(), "datastore_queryable_first", False)
    ds2 = open_dataset()
    res2 = _upload(ds2["name"], CSV.encode("utf-8"))
    job2 = call_as("steward", "datastore_job_show", {"version_id": res2["datastore_job"]["id"]})
    for key in ("rows", "columns", "bad_cell_count", "report", "warnings", "encoding", "delimiter"):
        assert job[key] == job2[key], key
    a = call_as(None, "datastore_search", {"resource_id": rid, "limit": 1000, "sort": "_id"})["records"]
    b = call_as(None, "datastore_search", {"resource_id": res2["id"], "limit": 1000, "sort": "_id"})["records"]
    assert a == b


def test_only_files_from_the_size_threshold_are_served_first(demo: Store, monkeypatch) -> None:
    """On by default, for files of ``datastore_queryable_first_min_mb`` or more: a smaller file is typed directly
    (it takes a few seconds), a file at the threshold is served provisionally, and the switch turns it off."""
    served: list[str] = []
    real = ds_actions._serve_provisional

    def spy(version_id, rid, *args, **kwargs):  # type: ignore[no-untyped-def]
        served.append(rid)
        return real(version_id, rid, *args, **kwargs)

    monkeypatch.setattr(ds_actions, "_serve_provisional", spy)
    settings = get_settings()
    size_mb = len(CSV.encode("utf-8")) / (1 << 20)
    monkeypatch.setattr(settings, "datastore_queryable_first_min_mb", size_mb * 1.01)  # just above this file
    small = _upload(open_dataset()["name"], CSV.encode("utf-8"))
    monkeypatch.setattr(settings, "datastore_queryable_first_min_mb", size_mb)  # this file is at the threshold
    large = _upload(open_dataset()["name"], CSV.encode("utf-8"))
    monkeypatch.setattr(settings, "datastore_queryable_first", False)
    off = _upload(open_dataset()["name"], CSV.encode("utf-8"))
    assert served == [large["id"]]
    for res in (small, large, off):
        job = call_as("steward", "datastore_job_show", {"version_id": res["datastore_job"]["id"]})
        assert job["status"] == "complete" and job["rows"] == 600


def test_failed_typing_leaves_the_copy_served_and_reports_the_error(demo: Store, monkeypatch) -> None:
    def boom(*args: Any, **kwargs: Any) -> Any:
        raise IngestError("too_big", "测试失败", "test failure")

    monkeypatch.setattr(ds_actions, "ingest", boom)
    ds = open_dataset()
    res = _upload(ds["name"], CSV.encode("utf-8"))
    job = call_as("steward", "datastore_job_show", {"version_id": res["datastore_job"]["id"]})
    assert job["status"] == "provisional" and job["error_en"] == "test failure" and job["live"] is True
    out = call_as(None, "datastore_search", {"resource_id": res["id"], "filters": {"所属区": "越秀区"}})
    assert out["total"] == 200 and out["typing"]["state"] == "provisional"
    assert out["typing"]["error_en"] == "test failure"
    assert (get_settings().datastore_dir / res["id"] / "v1" / "raw.parquet").exists()


def test_an_update_keeps_the_previous_version_live_until_typed(demo: Store, monkeypatch) -> None:
    ds = open_dataset()
    res = _upload(ds["name"], CSV.encode("utf-8"))

    def boom(*args: Any, **kwargs: Any) -> Any:
        raise IngestError("too_big", "测试失败", "test failure")

    monkeypatch.setattr(ds_actions, "ingest", boom)
    again = call_as("steward", "datastore_create", {"resource_id": res["id"], "upload": UploadedFile(
        "t.csv", io.BytesIO(CSV.replace("天河区", "白云区").encode("utf-8")))})
    jobs.wait_idle()
    assert call_as("steward", "datastore_job_show", {"version_id": again["id"]})["status"] == "failed"
    info = call_as(None, "datastore_info", {"id": res["id"]})
    assert info["current_version"] == 1 and info["typing"] is None
    assert call_as(None, "datastore_search", {"resource_id": res["id"], "filters": {"所属区": "天河区"}})["total"] == 200


def test_cli_load_shows_the_queryable_copy_then_the_typing(demo: Store, tmp_path: Path, monkeypatch) -> None:
    from typer.testing import CliRunner

    from cityhub.cli.main import app as cli

    ds = open_dataset()
    path = tmp_path / "表.csv"
    path.write_bytes(CSV.encode("gb18030"))
    result = CliRunner().invoke(cli, ["datastore", "load", ds["name"], str(path)])
    assert result.exit_code == 0, result.output
    assert "queryable, provisional types" in result.output and "checking types" in result.output

    def boom(*args: Any, **kwargs: Any) -> Any:
        raise IngestError("too_big", "测试失败", "test failure")

    monkeypatch.setattr(ds_actions, "ingest", boom)
    ds2 = open_dataset()
    failed = CliRunner().invoke(cli, ["datastore", "load", ds2["name"], str(path)])
    said = " ".join(failed.output.split())  # rich wraps long lines
    assert failed.exit_code == 1 and "the data stays queryable" in said and "test failure" in said


def test_restart_during_typing_keeps_the_copy_served(demo: Store, monkeypatch) -> None:
    from sqlalchemy import text

    from cityhub import db
    from cityhub.datastore import jobs as datastore_jobs

    def boom(*args: Any, **kwargs: Any) -> Any:
        raise IngestError("too_big", "测试失败", "test failure")

    monkeypatch.setattr(ds_actions, "ingest", boom)
    ds = open_dataset()
    res = _upload(ds["name"], CSV.encode("utf-8"))
    with db.get_engine().begin() as conn:  # as a process stopped during the typing leaves it
        conn.execute(text("UPDATE datastore_version SET status = 'typing', error_code = '', error = '', error_en = '' "
                          "WHERE id = :i"), {"i": res["datastore_job"]["id"]})
    assert call_as(None, "datastore_info", {"id": res["id"]})["typing"]["state"] == "typing"
    assert datastore_jobs.recover()["failed"] >= 1
    info = call_as("steward", "datastore_info", {"id": res["id"]})
    assert info["typing"]["state"] == "provisional" and info["versions"][0]["error_code"] == "interrupted"
    assert info["current_version"] == 1
    assert call_as(None, "datastore_search", {"resource_id": res["id"], "filters": {"所属区": "海珠区"}})["total"] == 200
