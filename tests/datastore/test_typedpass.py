"""The one-pass typed ingest (issue 10) gives the staged path's answer.

``run_ingest`` (conftest) runs both paths on every call and asserts the same report, types, bad cells and
values; these tests add the files that reach the pass's special cases: a benchmark-like file sampled across
the file, cells outside the cheap casts, a late surprise, parallel GB18030 transcoding."""

from __future__ import annotations

import duckdb
import pyarrow as pa
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


# --- the cheap casts against the exact rules, cell by cell ------------------------------------------------

_PIECES = {
    "integer": ["0", "00", "1", "7", "42", "-", "+", " ", "\u3000", ".", "5", "e", "E", "_", "x", "9" * 15, "12345678",
                "19990101", "20181301", "1e2", "0x10", "0b1", "-0", "N/A"],
    "number": ["0", "1", "05", ".", "5", "25", "-", "+", " ", "e", "E", "_", "inf", "nan", "1e5", "12..5", "元", ","],
    "date": ["2018", "18", "1", "0999", "10000", "-", "/", ".", "年", "月", "日", " ", "9", "09", "1", "01", "30", "31",
             "13", "00", "T", "BC", "20180901", "\\", ":", "2018-02-29", "2016-02-29"],
    "datetime": ["2018-09-01", "18-09-01", "2018/09/01", " ", "T", "00:00:00", "12:30:45", "24:00:00", "1", ":", "-",
                 ".5", "2018-9-1", "0999-01-01"],
    "boolean": ["true", "false", "TRUE", "是", "否", "yes", "no", "1", "0", " ", "t", "f", "Y", "N", "on", "off"],
}


@pytest.mark.parametrize("type_", sorted(_PIECES))
def test_cheap_casts_agree_with_the_exact_rules(type_):
    """On generated cells (tricky pieces glued at random): wherever the pass's cheap cast gives a value, it is the
    exact rule's value, and the counts the pass assumes for those cells (``_fast_stats`` with the derived counts)
    are the exact rules' counts. A cell '18-9-1' (year 18) once slipped through as a date."""
    import random

    from cityhub.datastore import infer

    rng = random.Random(20261205)
    pieces = _PIECES[type_]
    cells = list(pieces) + ["".join(rng.choice(pieces) for _ in range(rng.randint(1, 4))) for _ in range(30_000)]
    if type_ == "date":
        cells += [f"{y}{s}{m}{s}{d}" for y in ("18", "2018", "0999") for s in "-/" for m in ("9", "09") for d in ("1", "01", "31")]
        cells += [f"{y}年{m}月{d}日" for y in ("18", "2018", "0999") for m in ("9", "09", "13") for d in ("1", "01", "31")]
    con = duckdb.connect()
    con.execute("CREATE TABLE t AS SELECT unnest(CAST(? AS VARCHAR[])) AS v", [cells])
    fast = typedpass._fast_value("v", "x", type_)
    exact = infer.sql_cast(f"({infer.sql_clean('v')})", type_)
    con.execute(
        f"CREATE TABLE hits AS SELECT v, f, {exact} AS e FROM (SELECT v, {fast} AS f FROM "
        f"(SELECT v, {typedpass._fast_inner('v', type_)} AS x FROM t)) WHERE f IS NOT NULL"
    )
    wrong = con.execute("SELECT v, f, e FROM hits WHERE f IS DISTINCT FROM e LIMIT 5").fetchall()
    assert wrong == []
    n = con.execute("SELECT count(*) FROM hits").fetchall()[0][0]
    assert n > 0  # the generator reaches the cheap casts
    tally = typedpass._Tally([(0, "f", type_)])
    tally(con.sql(f"SELECT f, NULL::VARCHAR AS {typedpass.SIDE_PREFIX}0 FROM hits").to_arrow_table())
    derived = tally.counts[0]
    stage = ingest_mod._Stage(relation=f"(SELECT {infer.sql_clean('v')} AS c FROM hits)", rowid="", cols=[])
    counted = ingest_mod._compute_stats(con, stage, [ingest_mod._Col(src="c", source_name="", name="v")])[0]
    assert vars(counted) == vars(typedpass._fast_stats(type_, n, derived))


def _derived_sql(t: str, side: str, type_: str) -> list[tuple[str, str]]:
    """The counts ``typedpass._Tally`` takes, in SQL over the written file (how the pass once counted them)."""
    fast = f"{side} IS NULL AND {t} IS NOT NULL"
    out = [("n", f"count_if({fast})")]
    if type_ == "integer":
        out += [
            ("int8", f"count_if({fast} AND ({t} BETWEEN 10000000 AND 99999999 OR {t} BETWEEN -9999999 AND -1000000))"),
            ("date8", f"count(CASE WHEN {fast} AND {t} BETWEEN 19000000 AND 21999999 "
                      f"THEN try_strptime(CAST({t} AS VARCHAR), '%Y%m%d') END)"),
            ("b01", f"count_if({fast} AND {t} IN (0, 1))"),
        ]
    elif type_ == "datetime":
        out.append(("midnight", f"count_if({fast} AND CAST({t} AS TIME) = TIME '00:00:00')"))
    return out


@pytest.mark.parametrize("type_", ["integer", "datetime", "number"])
def test_tally_counts_what_the_sql_counts(type_):
    """The writer thread's counts over row groups equal the SQL definition over the whole table: 8-digit
    integers (both signs), yyyymmdd dates (leap years, 1900, month 13, day 31 of a 30-day month), 0/1,
    midnight, side cells and nulls."""
    import random

    rng = random.Random(7)
    side = f"{typedpass.SIDE_PREFIX}3"
    if type_ == "integer":
        special = [19000229, 20000229, 21000229, 20240229, 20230229, 20181301, 20180431, 20180430, 19000101,
                   21991231, 22000101, 18991231, 0, 1, -1, 10_000_000, 99_999_999, -9_999_999, -1_000_000, -999_999]
        values = special + [rng.choice([rng.randint(-10**9, 10**9), rng.randint(19_000_000, 21_999_999),
                                        rng.randint(-2, 2)]) for _ in range(20_000)]
        sql_values = "unnest(CAST(? AS BIGINT[]))"
    elif type_ == "datetime":
        values = [rng.randint(-900_000, 900_000) * rng.choice([86_400_000_000, 3_600_000_000, 1_000_000, 1])
                  for _ in range(20_000)]  # microseconds: whole days (before and after 1970), hours, seconds
        sql_values = "make_timestamp(unnest(CAST(? AS BIGINT[])))"
    else:
        values = [rng.random() * 1000 for _ in range(20_000)]
        sql_values = "unnest(CAST(? AS DOUBLE[]))"
    con = duckdb.connect()
    con.execute(
        f"CREATE TABLE t AS SELECT CASE WHEN r % 10 = 0 THEN NULL ELSE v END AS v, "
        f"CASE WHEN r % 7 = 0 THEN 'odd cell' END AS {side} FROM (SELECT {sql_values} AS v, "
        f"unnest(range(?)) AS r)",
        [values, len(values)],
    )
    tally = typedpass._Tally([(3, "v", type_)])
    for batch in con.sql(f"SELECT v, {side} FROM t").to_arrow_table().to_batches(max_chunksize=1000):
        tally(pa.Table.from_batches([batch]))
    for key, expr in _derived_sql("v", side, type_):
        assert tally.counts[3][key] == con.execute(f"SELECT {expr} FROM t").fetchall()[0][0], key
    assert tally.counts[3]["n"] > 0


def test_side_cells_of_many_columns_counted_in_one_scan(tmp_path, run_ingest, small_samples, monkeypatch):
    """Above ``SIDE_SCANS_ALONE`` typed columns the side cells are counted together, every cell (not distinct
    values with weights): the same answer as the staged path."""
    monkeypatch.setattr(typedpass, "SIDE_SCANS_ALONE", 1)
    src = tmp_path / "bench.csv"
    generate_csv(20_000, src)
    r = run_ingest(src, max_bad_cells_reported=5000)  # asserts equality with the staged path
    assert r.engine == "pass" and r.bad_cell_count > 50


def test_transcoded_copy_in_memory_and_removed(tmp_path, run_ingest, monkeypatch):
    """A GB18030 file's UTF-8 copy goes to the memory-backed directory when it fits, in a directory of its own
    that is removed after the load (answer: the staged path's, asserted by run_ingest)."""
    shm = tmp_path / "shm"
    shm.mkdir()
    monkeypatch.setattr(typedpass, "MEMORY_SCRATCH_DIR", shm)
    monkeypatch.setattr(formats, "PARALLEL_TRANSCODE_MIN_BYTES", 0)
    used: list[str] = []
    real = formats.transcode_parallel

    def spy(src, dst, *a, **k):
        used.append(str(dst))
        return real(src, dst, *a, **k)

    monkeypatch.setattr(formats, "transcode_parallel", spy)
    utf8 = tmp_path / "bench.csv"
    generate_csv(5_000, utf8)
    gb = tmp_path / "bench-gb.csv"
    gb.write_bytes(utf8.read_text(encoding="utf-8").encode("gb18030"))
    r = run_ingest(gb)
    assert r.engine == "pass" and r.encoding == "gb18030"
    assert used and used[0].startswith(str(shm)) and list(shm.iterdir()) == []


def test_transcoded_copy_on_disk_when_memory_is_short(tmp_path, monkeypatch):
    shm = tmp_path / "shm"
    shm.mkdir()
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.setattr(typedpass, "MEMORY_SCRATCH_DIR", shm)
    fits = typedpass._TextScratch(work, 1 << 20, 4096)
    assert fits.path().parent.parent == shm
    fits.close()
    assert list(shm.iterdir()) == []
    assert typedpass._TextScratch(work, 1 << 20, 0).path() == work / "utf8.txt"  # turned off
    assert typedpass._TextScratch(work, 8 << 30, 4096).path() == work / "utf8.txt"  # larger than the limit
    monkeypatch.setattr(typedpass, "_meminfo_available", lambda: 1 << 20)
    assert typedpass._TextScratch(work, 1 << 20, 4096).path() == work / "utf8.txt"  # not enough memory
    monkeypatch.setattr(typedpass, "MEMORY_SCRATCH_DIR", tmp_path / "missing")
    assert typedpass._TextScratch(work, 1 << 20, 4096).path() == work / "utf8.txt"


# --- the compiled casts (fastcast) against the exact rules ---------------------------------------------------


def _generated_cells(type_: str) -> list[str | None]:
    import random

    rng = random.Random(20261206)
    pieces = _PIECES[type_]
    cells: list[str | None] = list(pieces)
    cells += ["".join(rng.choice(pieces) for _ in range(rng.randint(1, 4))) for _ in range(30_000)]
    if type_ == "date":
        cells += [f"{y}{s}{m}{s}{d}" for y in ("18", "2018", "0999") for s in "-/" for m in ("9", "09") for d in ("1", "01", "31")]
        cells += [f"{y}年{m}月{d}日" for y in ("18", "2018", "0999", "2024") for m in ("9", "09", "12", "13")
                  for d in ("1", "01", "31", "29")]  # fmt: skip
    if type_ == "number":
        cells += ["9007199254740993.5", "0.1", "0.30000000000000004", "123456789012345678.5", "1." + "5" * 22,
                  "1." + "5" * 23, "99999999999999999.9", "3.14159265358979323846"]  # fmt: skip
    if type_ == "integer":
        cells += ["9" * 16, "-" + "9" * 14, "-" + "9" * 15, "12" * 8]
    # well-formed cells of every fast shape, edges included (leap days, day 31, 23:59:59, 18 digits of decimals)
    for _ in range(5_000):
        y, m, d = rng.randint(1000, 9999), rng.randint(1, 12), rng.randint(1, 31)
        if type_ == "integer":
            cells.append(str(rng.randint(-(10**14), 10**15 - 1)))
        elif type_ == "number":
            whole, frac = rng.randint(1, 17), rng.randint(1, 17)
            cells.append(f"{rng.randrange(10**whole)}.{rng.randrange(10**frac):0{frac}d}")
        elif type_ == "date":
            cells.append(rng.choice([f"{y}-{m:02d}-{d:02d}", f"{y}/{m}/{d}", f"{y}年{m}月{d}日", f"{y}-{m}-{d}"]))
        elif type_ == "datetime":
            t = f"{rng.randint(0, 24):02d}:{rng.randint(0, 60):02d}:{rng.randint(0, 60):02d}"
            cells.append(f"{y}-{m:02d}-{d:02d}{rng.choice(' T')}{t}")
        else:
            cells.append(rng.choice(["true", "false", "是", "否", "yes", "no"]))
    return [*cells, None, "", None]


@pytest.mark.parametrize("type_", sorted(_PIECES))
@pytest.mark.parametrize("start", [0, 3])  # an Arrow slice: offsets and the validity bitmap do not start at 0
def test_compiled_casts_give_the_exact_rules_values(type_, start):
    """Every cell through the compiled casts (``typedpass._Caster``): the typed value is the exact rule's value
    (cell by cell, fast or not), the side column holds the raw text of exactly the cells the kernels did not
    take, and the counts the pass assumes for the fast cells (``_fast_stats``) are the exact rules' counts."""
    from cityhub.datastore import fastcast, infer

    assert fastcast.ready()
    cells = _generated_cells(type_)
    raw = pa.array(cells, pa.string()).slice(start)
    caster = typedpass._Caster(["v"], [type_])
    try:
        out = caster(pa.RecordBatch.from_arrays([raw], names=["c0"]))
    finally:
        caster.close()
    assert out.schema.names == ["v", f"{typedpass.SIDE_PREFIX}0"]
    assert out.schema.field(0).type == typedpass.ARROW_TYPES[type_]
    con = duckdb.connect()
    con.register("got", pa.table({"v": raw, "t": out.column(0), "s": out.column(1)}))
    exact = infer.sql_cast(f"({infer.sql_clean('v')})", type_)
    wrong = con.execute(f"SELECT v, t, {exact} AS e FROM got WHERE t IS DISTINCT FROM ({exact}) LIMIT 5").fetchall()
    assert wrong == []
    # side cells: raw text where the kernel said no, NULL elsewhere (and never for a null cell)
    assert con.execute("SELECT count(*) FROM got WHERE s IS NOT NULL AND s IS DISTINCT FROM v").fetchone() == (0,)
    assert con.execute("SELECT count(*) FROM got WHERE v IS NULL AND s IS NOT NULL").fetchone() == (0,)
    fast_n = con.execute("SELECT count(*) FROM got WHERE s IS NULL AND t IS NOT NULL").fetchone()[0]
    assert fast_n > 1000  # the generator reaches the kernels' fast shapes
    assert con.execute("SELECT count(*) FROM got WHERE s IS NOT NULL").fetchone()[0] > 1000
    tally = typedpass._Tally([(0, "v", type_)])
    tally(pa.Table.from_batches([out]))
    assert tally.counts[0]["n"] == fast_n
    fast = f"(SELECT {infer.sql_clean('v')} AS c FROM got WHERE s IS NULL AND t IS NOT NULL)"
    stage = ingest_mod._Stage(relation=fast, rowid="", cols=[])
    counted = ingest_mod._compute_stats(con, stage, [ingest_mod._Col(src="c", source_name="", name="v")])[0]
    assert vars(counted) == vars(typedpass._fast_stats(type_, fast_n, tally.counts[0]))


def test_compiled_casts_remember_few_side_texts(tmp_path, run_ingest, small_samples, monkeypatch):
    """A column's remembered exact values start afresh past ``EXACT_CACHE`` distinct side texts: same answer."""
    monkeypatch.setattr(typedpass, "EXACT_CACHE", 3)
    src = tmp_path / "bench.csv"
    generate_csv(30_000, src)
    r = run_ingest(src, max_bad_cells_reported=100)  # asserts equality with the staged path
    assert r.engine == "pass" and r.bad_cell_count > 100


def test_pass_casts_in_sql_without_the_kernels(tmp_path, run_ingest, small_samples, monkeypatch):
    """Where the kernels cannot run (no numba, or it fails to compile them), the pass casts in SQL: same answer,
    same file as with the kernels."""
    from cityhub.datastore import fastcast

    src = tmp_path / "bench.csv"
    generate_csv(30_000, src)
    with_kernels = run_ingest(src)
    monkeypatch.setattr(fastcast, "ready", lambda: False)
    monkeypatch.setattr(typedpass, "_Caster", None)  # the SQL casts must not touch it
    in_sql = run_ingest(src)  # asserts equality with the staged path
    assert in_sql.engine == with_kernels.engine == "pass"
    assert read_parquet(in_sql) == read_parquet(with_kernels)


def test_kernels_unavailable_when_numba_cannot_compile(monkeypatch):
    """``fastcast.ready`` says False (and logs) when a kernel fails, instead of failing the load."""
    from cityhub.datastore import fastcast

    def broken(array, type_):
        raise RuntimeError("numba: cannot compile")

    monkeypatch.setattr(fastcast, "_ready", [])
    monkeypatch.setattr(fastcast, "cast", broken)
    assert fastcast.ready() is False
    monkeypatch.setattr(fastcast, "_ready", [])


def test_kernels_compile_without_a_cache_directory(numba_without_disk_cache):
    """A read-only install (no directory for numba's cache): the kernels are compiled for the process alone and
    cast as before."""
    from cityhub.datastore import fastcast

    fastcast._kernels.cache_clear()
    try:
        cells = pa.array(["42", "007", None, "2018年9月1日", "1.25"])
        values, status, fast = fastcast.cast(cells, "integer")
        assert (status.tolist(), int(values[0]), fast) == ([1, 2, 0, 2, 2], 42, 1)
        values, status, fast = fastcast.cast(cells, "date")
        assert (status.tolist(), int(values[3]), fast) == ([2, 2, 0, 1, 2], 17775, 1)
    finally:
        fastcast._kernels.cache_clear()
