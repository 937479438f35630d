"""The one-pass typed ingest (issue 10) gives the staged path's answer.

``run_ingest`` (conftest) runs both paths on every call and asserts the same report, types, bad cells and
values; these tests add the files that reach the pass's special cases: a benchmark-like file sampled across
the file, cells outside the cheap casts, a late surprise, parallel GB18030 transcoding."""

from __future__ import annotations

import duckdb
import pytest
from benchmarks.datastore_bench import generate_csv

from cityhub.datastore import formats, typedpass
from cityhub.datastore import ingest as ingest_mod
from cityhub.datastore.query.engine import open_sandbox
from tests.datastore.conftest import col, read_parquet


@pytest.fixture
def small_samples(monkeypatch):
    """Make a few-MB file 'large': spread sampling in the pass, strided sampling in the staged path."""
    monkeypatch.setattr(typedpass, "WHOLE_SAMPLE_BYTES", 256 << 10)
    monkeypatch.setattr(typedpass, "SAMPLE_BYTES", 128 << 10)
    monkeypatch.setattr(typedpass, "SAMPLE_CHUNKS", 8)
    monkeypatch.setattr(ingest_mod, "SAMPLE_ABOVE_ROWS", 5_000)
    monkeypatch.setattr(ingest_mod, "SAMPLE_ROWS", 2_000)


def test_benchmark_file_same_types_bad_cells_and_values(tmp_path, run_ingest, small_samples):
    src = tmp_path / "bench.csv"
    generate_csv(40_000, src)
    r = run_ingest(src, max_bad_cells_reported=5000)  # asserts equality with the staged path
    assert r.engine == "pass"
    assert {c.name: c.type for c in r.columns} == {
        "编号": "integer", "所属区": "string", "单位名称": "string", "许可类别": "string", "从业人数": "integer",
        "注册资本": "number", "发证日期": "date", "有效期至": "date", "评分": "number", "地址": "string",
    }
    assert r.bad_cell_count == sum(c.bad_cells for c in r.columns) > 100
    assert len(r.bad_cells) == r.bad_cell_count
    assert {b.value for b in r.bad_cells} == {"abc", "12..5元", "2018-13-45", "去年"}


def test_benchmark_file_gb18030_parallel_transcode(tmp_path, run_ingest, small_samples, monkeypatch):
    monkeypatch.setattr(formats, "PARALLEL_TRANSCODE_MIN_BYTES", 0)
    utf8 = tmp_path / "bench.csv"
    generate_csv(20_000, utf8)
    gb = tmp_path / "bench-gb.csv"
    gb.write_bytes(utf8.read_text(encoding="utf-8").encode("gb18030"))
    r = run_ingest(gb)
    assert r.engine == "pass"
    assert r.encoding == "gb18030"
    assert col(r, "有效期至").type == "date"
    ref = run_ingest(utf8)
    assert read_parquet(r) == read_parquet(ref)


def test_cells_outside_the_cheap_casts(write_file, run_ingest):
    good = [("7", "1.25", "2018-09-01", "2018-09-01 12:30:00", "yes")] * 400
    odd = [
        (" 5", "2", "2018/9/1", "2018-09-01T08:00:00", "no"),
        ("+5", "1_0.5", "20180901", "2018/9/1 8:00", "Y"),
        ("N/A", "1.5e3", "2018年9月1日", "2018-09-01 00:00:00", "是"),
        ("-5", ".5", "2018年09月01日", "2018-09-01 24:00:00", "否"),
        ("1_000", "1.5 ", " 2018-09-01", "2018-09-01 12:00+08", "1"),
        ("1.5", "-2.5", "2018-09-01 00:00:00", "2018-09-01", "0"),
        ("-12345678", "1.", "2018-13-45", "x", "true"),
        ("12345678", "abc", "去年", "—", "N"),
    ]
    lines = ["i,n,d,t,b"] + [",".join(row) for row in good + odd]
    r = run_ingest(write_file("odd.csv", "\n".join(lines) + "\n"))
    assert r.engine == "pass"
    assert [c.type for c in r.columns] == ["integer", "number", "date", "datetime", "boolean"]
    assert r.bad_cell_count > 0


def test_eight_digit_dates_and_codes_over_the_whole_file(write_file, run_ingest):
    dates = ["20180901", "20190215", "20201231"] * 200
    r = run_ingest(write_file("d8.csv", "d\n" + "\n".join([*dates, "2018-09-01"]) + "\n"))
    assert r.engine == "pass" and r.columns[0].type == "date"
    codes = [f"{10000000 + i * 7919}" for i in range(600)]
    r = run_ingest(write_file("c8.csv", "c\n" + "\n".join(codes) + "\n"))
    assert r.columns[0].type == "integer"
    zeros = ["0", "1"] * 300 + ["yes"]
    r = run_ingest(write_file("b.csv", "b\n" + "\n".join(zeros) + "\n"))
    assert r.columns[0].type == "boolean"


def test_late_surprise_takes_the_second_pass(tmp_path, run_ingest, small_samples):
    rows = [f"{i + 1},名称{i}" for i in range(300_000)]
    rows[25_000] = "0042,意外"  # between the first two sample chunks: the sample proposes integer
    src = tmp_path / "late.csv"
    src.write_text("n,name\n" + "\n".join(rows) + "\n", encoding="utf-8")
    r = run_ingest(src)
    assert r.engine == "staged"  # the pass counted the code over the whole file and handed over
    assert col(r, "n").type == "string"
    assert read_parquet(r)[25_000] == (25_001, "0042", "意外")


def test_sparse_column_counted_over_the_file(tmp_path, run_ingest, small_samples):
    lines = ["v,w"] + [f"{i}," for i in range(30_000)] + [f"{i},{i}" for i in range(50)]
    src = tmp_path / "sparse.csv"
    src.write_text("\n".join(lines) + "\n", encoding="utf-8")
    r = run_ingest(src)
    assert col(r, "w").type == "integer"


def test_invalid_gb18030_in_the_second_half(tmp_path, run_ingest, monkeypatch):
    monkeypatch.setattr(formats, "PARALLEL_TRANSCODE_MIN_BYTES", 0)
    monkeypatch.setattr(ingest_mod, "ENCODING_CHECK_BYTES", 64)
    body = "名称,编号\n" + "".join(f"广州{i},{i}\n" for i in range(2000))
    data = body.encode("gb18030") + b"\x81\x20,1\n"
    src = tmp_path / "bad-gb.csv"
    src.write_bytes(data)
    with pytest.raises(formats.IngestError):  # the same error as the staged path (asserted by run_ingest)
        run_ingest(src)


def test_side_columns_hidden(write_file, run_ingest):
    r = run_ingest(write_file("a.csv", "x,y\n" + "\n".join(f"{i},2018-09-0{i % 9 + 1}" for i in range(200)) + "\nabc,去年\n"))
    con = duckdb.connect()
    names = [d[0] for d in con.execute("DESCRIBE SELECT * FROM read_parquet(?)", [str(r.parquet_path)]).fetchall()]
    assert any(n.startswith(typedpass.SIDE_PREFIX) for n in names)  # in the file...
    sandbox = open_sandbox({"t": r.parquet_path})
    try:
        shown = [d[0] for d in sandbox.execute("DESCRIBE SELECT * FROM t").fetchall()]
    finally:
        sandbox.close()
    assert shown == ["_id", "x", "y"]  # ...never in what a query sees


def test_column_named_like_a_side_column(write_file, run_ingest):
    r = run_ingest(write_file("a.csv", "__side_0,b\n1,2\n3,4\n"))
    assert r.engine == "staged"
    assert [c.name for c in r.columns] == ["__side_0", "b"]


def test_cluster_of_odd_cells_in_the_sample_is_counted_over_the_file(tmp_path, run_ingest, small_samples):
    rows = ["x"] * 2_500 + [str(i) for i in range(297_500)]  # 0.83 % text, all of it in the first sample chunk
    src = tmp_path / "cluster.csv"
    src.write_text("v\n" + "\n".join(rows) + "\n", encoding="utf-8")
    r = run_ingest(src)
    assert col(r, "v").type == "integer"
    assert r.bad_cell_count == 2_500


def test_writer_numbers_rows_in_order_in_whole_row_groups(tmp_path):
    """``_id`` is the row position even though DuckDB computes the rows on two threads; row groups are whole."""
    out = tmp_path / "w.parquet"
    con = duckdb.connect()
    con.execute("SET threads = 2")
    con.execute("SET preserve_insertion_order = true")
    n = 2 * typedpass.ROW_GROUP_ROWS + 1234
    src = tmp_path / "n.csv"
    src.write_text("v,d\n" + "".join(f"{i},{i * 0.5}\n" for i in range(n)))
    sql = f"SELECT CAST(v AS BIGINT) AS v, CAST(d AS DOUBLE) AS d FROM read_csv('{src}', header = true, all_varchar = true)"
    assert typedpass.write_parquet_with_id(con, sql, out) == n
    got = con.execute(f"SELECT count(*), count_if(_id = v + 1), min(_id), max(_id) FROM read_parquet('{out}')").fetchone()
    assert got == (n, n, 1, n)
    sizes = [r for (r,) in con.execute(f"SELECT row_group_num_rows FROM parquet_metadata('{out}') WHERE column_id = 0 ORDER BY row_group_id").fetchall()]
    assert sizes == [typedpass.ROW_GROUP_ROWS, typedpass.ROW_GROUP_ROWS, 1234]
    # a DuckDB error while streaming stays a DuckDB error (the pass then hands the file to the staged path)
    with pytest.raises(duckdb.Error, match="boom"):
        typedpass.write_parquet_with_id(
            con, "SELECT CASE WHEN i = 300000 THEN error('boom') ELSE i END AS x FROM range(400000) t(i)", out
        )
