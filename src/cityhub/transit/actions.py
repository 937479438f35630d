"""Transit actions: start a run of the transit rules as a background job (simulated taps or Parquet inputs on
the server → pipeline → analyses → validation when the inputs carry the simulator's truth), follow its status
and percentage, read its run and validation reports, and publish its results as catalog datasets:

- the district × district OD matrix by time band, 无条件开放, loaded into the datastore (anyone may query it);
- the card-level stages, 不予开放 and private to the owning department, card numbers pseudonymised by
  HMAC-SHA256 with the platform key (``CITYHUB_DEID_PSEUDONYM_KEY``, as the de-identified views).

Runs are kept as files under ``CITYHUB_HOME/transit/runs/<id>/`` (``run.json`` and the run's Parquet outputs), not
in a table: a run's results are Parquet files anyway, the record is one small JSON document written by a single
job, and the list is short (runs are rare, heavy jobs) — no migration to chain."""

from __future__ import annotations

import datetime as dt
import io
import json
import secrets
import threading
from pathlib import Path
from typing import Any

from cityhub import jobs
from cityhub.actions import GOVERNMENT, action
from cityhub.context import Context, system_context
from cityhub.db import utcnow
from cityhub.errors import CityHubError, Conflict, NotFound, ValidationError
from cityhub.settings import get_settings
from cityhub.transit import auth
from cityhub.transit import schemas as s

OD_DATASET = "transit-od-district-{dept}"
STAGES_DATASET = "transit-stages-{dept}"
OD_COLUMNS = ("band", "origin_district", "destination_district", "journeys")
OD_STOP_DATASET = "transit-od-stop-{dept}"
OD_ZONE_DATASET = "transit-od-zone-{dept}"
OD_STOP_COLUMNS = ("band", "origin_stop", "destination_stop", "journeys")
OD_ZONE_COLUMNS = ("band", "origin_zone", "destination_zone", "journeys")
#: the OD tables of a run and their origin/destination columns (small cells suppressed in all of them)
OD_KEYS = {"od_district": ("origin_district", "destination_district"), "od_stop": ("origin_stop", "destination_stop"),
           "od_zone": ("origin_zone", "destination_zone")}
#: rows of the stop and zone OD matrices returned by transit_run_show (the whole tables are the datasets)
SHOW_ROWS = 500
_lock = threading.Lock()
#: a run queued or running for longer than this is taken as lost (its process stopped) and no longer blocks
STALE = dt.timedelta(hours=2)


def runs_dir() -> Path:
    d = get_settings().home / "transit" / "runs"
    d.mkdir(parents=True, exist_ok=True)
    return d


def _read(run_id: str) -> dict[str, Any] | None:
    path = runs_dir() / run_id / "run.json"
    if not path.exists():
        return None
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def _write(run: dict[str, Any]) -> None:
    folder = runs_dir() / run["id"]
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / "run.json.tmp"
    tmp.write_text(json.dumps(run, ensure_ascii=False, indent=1, default=str), encoding="utf-8")
    tmp.replace(folder / "run.json")


def _update(run_id: str, **changes: Any) -> dict[str, Any]:
    with _lock:
        run = _read(run_id) or {"id": run_id}
        run.update(changes)
        _write(run)
        return run


def _visible(ctx: Context, run: dict[str, Any]) -> bool:
    return auth.is_government(ctx) or (run.get("status") == "done" and bool(run.get("published")))


def _department_slug(ctx: Context, asked: str | None) -> str:
    from cityhub.accounts.models import Department

    if ctx.actor is None or ctx.actor.role == "platform_admin":
        return asked or "gz-transport"
    dept = ctx.db.get(Department, ctx.actor.department_id) if ctx.actor.department_id is not None else None
    mine = dept.slug if dept is not None else None
    if mine is None:
        raise ValidationError("您不属于任何部门,无法发布分析结果", "You belong to no department to publish the results",
                              {"department": ["no department"]})
    if asked and asked != mine:
        raise ValidationError("只能以本部门名义发起分析", "You may only start runs for your own department",
                              {"department": [asked]})
    return mine


def spark_available() -> bool:
    """Whether PySpark can be imported here (a run on the spark engine also needs Java: it fails with the reason)."""
    import importlib.util

    return importlib.util.find_spec("pyspark") is not None


@action(auth.transit_run_start, schema=s.RunStart, write=True, target=lambda p, r: r["id"], roles=GOVERNMENT)
def transit_run_start(ctx: Context, p: s.RunStart) -> dict[str, Any]:
    """Start a run in the background; returns its record (status ``queued``; follow it with transit_run_show)."""
    if p.input_dir:
        folder = Path(p.input_dir)
        missing = [n for n in ("taps", "stops", "route_stops") if not (folder / f"{n}.parquet").is_file()]
        if missing:
            raise ValidationError(f"输入目录缺少文件:{', '.join(m + '.parquet' for m in missing)}",
                                  f"The input directory lacks: {', '.join(m + '.parquet' for m in missing)}",
                                  {"input_dir": missing})
    if p.engine == "spark" and not spark_available():
        raise ValidationError("本服务器未安装 PySpark,无法使用 Spark 引擎;请选择 numpy 引擎",
                              "PySpark is not installed on this server: the spark engine is unavailable; choose numpy",
                              {"engine": ["PySpark is not installed here: choose numpy"]},
                              {"engine": ["本服务器未安装 PySpark,请选择 numpy"]})
    zones = None
    if p.zones:
        from cityhub.transit import zones as zmod

        try:
            zones = zmod.parse(p.zones)
        except zmod.ZoneError as exc:
            raise ValidationError(f"区域文件有误:{exc.message}", f"Bad zones file: {exc.message_en}",
                                  {"zones": [f"Bad zones file: {exc.message_en}"]}, {"zones": [f"区域文件有误:{exc.message}"]}) from None
    department = _department_slug(ctx, p.department)
    since = (utcnow() - STALE).isoformat()
    for path in runs_dir().glob("*/run.json"):
        other = json.loads(path.read_text(encoding="utf-8"))
        if (other.get("department") == department and other.get("status") in ("queued", "running")
                and (other.get("created") or "") > since):
            raise Conflict(f"本部门已有一个运行尚未结束({other['id']}),请等待其完成",
                           f"Your department's run {other['id']} has not finished yet; wait for it", {"id": [other["id"]]})
    run_id = secrets.token_hex(6)
    run = {"id": run_id, "status": "queued", "progress": 0, "step": "queued", "department": department,
           "started_by": ctx.actor.name if ctx.actor else "", "created": utcnow().isoformat(),
           "params": p.model_dump(exclude={"zones"}), "zones": [z.zone_id for z in zones] if zones else None,
           "report": None, "validation": None, "published": None, "error": None}
    _write(run)
    if p.zones:
        (runs_dir() / run_id / "zones.geojson").write_text(p.zones, encoding="utf-8")

    def submit() -> None:
        jobs.submit("transit_run", run_id)

    ctx.extra.setdefault("after_commit", []).append(submit)
    ctx.extra["audit_detail"] = {"taps": p.taps, "seed": p.seed, "input_dir": p.input_dir or "", "engine": p.engine}
    return run


def _public(run: dict[str, Any], full: bool) -> dict[str, Any]:
    out = {k: v for k, v in run.items() if k != "params" or full}
    if not full:
        out.pop("started_by", None)
    return out


@action(auth.transit_run_show, schema=s.RunRef)
def transit_run_show(ctx: Context, p: s.RunRef) -> dict[str, Any]:
    """One run: status, percentage, the run report and the validation report (JSON), what it published and the
    district OD matrix by time band."""
    run = _read(p.id)
    if run is None or not _visible(ctx, run):
        raise NotFound(f"未找到客流分析运行 {p.id}", f"Transit run not found: {p.id}")
    out = _public(run, auth.is_government(ctx))
    od = runs_dir() / p.id / "od_district.parquet"
    if od.exists():
        import pyarrow.parquet as pq

        out["od_district"] = _open_rows(run, "od_district", pq.read_table(od)).to_pylist()
    for name in ("od_stop", "od_zone"):
        path = runs_dir() / p.id / f"{name}.parquet"
        if path.exists():
            out[f"{name}_top"] = od_top(_open_rows(run, name, pq.read_table(path)))
    out["line_load_top"] = line_load_top(runs_dir() / p.id / "line_load.parquet")
    return out


def od_top(table: Any, n: int = SHOW_ROWS) -> list[dict[str, Any]]:
    """The ``n`` largest cells of an OD matrix (all bands), largest first."""
    keys = [("journeys", "descending")] + [(c, "ascending") for c in table.column_names if c != "journeys"]
    rows: list[dict[str, Any]] = table.sort_by(keys).slice(0, n).to_pylist()
    return rows


def line_load_top(path: Path, n: int = 10) -> list[dict[str, Any]]:
    """The ``n`` route directions with the highest segment load: the heaviest segment's riders per time band."""
    if not path.exists():
        return []
    import duckdb

    con = duckdb.connect()
    try:
        rows = con.execute(f"""
            WITH seg AS (SELECT route_id, direction, band, max(riders) AS riders FROM read_parquet(?)
                         GROUP BY ALL),
                 top AS (SELECT route_id, direction, max(riders) AS peak FROM seg GROUP BY ALL
                         ORDER BY peak DESC, route_id, direction LIMIT {int(n)})
            SELECT s.route_id, s.direction, s.band, s.riders, t.peak FROM seg s JOIN top t USING (route_id, direction)
            ORDER BY t.peak DESC, s.route_id, s.direction, s.band""", [str(path)]).fetchall()
    finally:
        con.close()
    out: dict[tuple[str, Any], dict[str, Any]] = {}
    for route, direction, band, riders, peak in rows:
        item = out.setdefault((route, direction), {"route_id": route, "direction": direction, "peak": int(peak),
                                                   "bands": {}})
        item["bands"][band] = int(riders)
    return list(out.values())


@action(auth.transit_run_list, schema=s.RunList)
def transit_run_list(ctx: Context, p: s.RunList) -> dict[str, Any]:
    """Runs, newest first (the public sees finished, published runs only)."""
    runs = []
    for path in runs_dir().glob("*/run.json"):
        try:
            run = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if _visible(ctx, run):
            runs.append(_public(run, auth.is_government(ctx)))
    runs.sort(key=lambda r: r.get("created") or "", reverse=True)
    return {"count": len(runs), "results": runs[: p.limit]}


# -- the job ----------------------------------------------------------------------------------------------------


def pseudonymise_cards(table: Any, key: bytes) -> Any:
    """``card_id`` replaced by ``C`` + 16 hex of HMAC-SHA256(key, card) (one HMAC per distinct card)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from cityhub.sharing.deid import pseudonym

    if "card_id" not in table.column_names:
        return table
    enc = pc.dictionary_encode(table.column("card_id").combine_chunks())
    names = pa.array([None if v is None else pseudonym(v, key, prefix="C") for v in enc.dictionary.to_pylist()],
                     pa.string())
    pseudo = pc.take(names, enc.indices)
    return table.set_column(table.column_names.index("card_id"), "card_id", pseudo)


def _csv_bytes(table: Any) -> bytes:
    import pyarrow.csv as pcsv

    buf = io.BytesIO()
    pcsv.write_csv(table, buf)
    return buf.getvalue()


def _ensure_dataset(ctx: Context, name: str, fields: dict[str, Any]) -> None:
    from cityhub import actions

    try:
        actions.call("dataset_show", ctx, {"id": name})
        return
    except NotFound:
        pass
    actions.call("dataset_create", ctx, {"name": name, **fields})
    ds = actions.call("dataset_show", ctx, {"id": name})
    if ds.get("publication") == "draft":
        actions.call("dataset_submit", ctx, {"id": name})
        ds = actions.call("dataset_show", ctx, {"id": name})
    if ds.get("publication") != "published":
        actions.call("dataset_approve", ctx, {"id": name})


def publish(run: dict[str, Any], od: Any, stages: Any, od_stop: Any = None, od_zone: Any = None) -> dict[str, Any]:
    """Publish a finished run's OD matrices (open, into the datastore: by district, and by stop and by custom zone
    when given) and its stages (restricted, pseudonymised). The stop and zone matrices follow the district one's
    rule: aggregated journey counts, no card numbers; the caller passes the OD tables with small cells already
    suppressed (:func:`open_od`)."""
    from cityhub import actions
    from cityhub.catalog.schemas import UploadedFile

    ctx = system_context("job")
    ctx.extra["jobs"] = "inline"  # load the tables in this (background) job: the run is done when they are served
    dept = run["department"]
    common = {"department": dept, "catalog_type": "主题", "class_item": "06", "class_category": "001",
              "class_sub": "1", "format": "电子表格", "update_cycle": "不定期", "theme": "transport",
              "license_id": "cc-by-4.0"}
    od_name, st_name = OD_DATASET.format(dept=dept), STAGES_DATASET.format(dept=dept)
    _ensure_dataset(ctx, od_name, {
        **common, "title": "公交地铁分区客流 OD 矩阵(分时段)", "title_en": "Transit district OD matrix by time band",
        "abstract": "由公交地铁刷卡数据按出行链规则推断下车站点并串联出行后,按出发时段汇总的区×区出行量(OD 矩阵)。"
                    "仅含聚合数量,不含任何卡号。"
                    f"出行量少于 {get_settings().transit_od_min_count} 的单元格不予发布,其出行量按起点或按时段"
                    "合计后另列一行发布,总量不变。",
        "data_items": [{"name": c, "type": "string", "description": c} for c in OD_COLUMNS],
        "sharing_class": "无条件共享", "opening_class": "无条件开放", "tags": ["公交", "地铁", "OD", "客流"]})
    _ensure_dataset(ctx, st_name, {
        **common, "title": "公交地铁刷卡出行段(卡号已假名化)", "title_en": "Transit card stages (pseudonymised cards)",
        "abstract": "逐卡的乘车出行段(上车站、推断的下车站、换乘),卡号以平台密钥 HMAC-SHA256 假名化。属个人信息,不予开放,"
                    "仅限本部门使用。",
        "data_items": [{"name": c, "type": "string", "description": c} for c in stages.column_names],
        "sharing_class": "有条件共享", "opening_class": "不予开放", "private": True,
        "sharing_basis": "《中华人民共和国个人信息保护法》:逐卡出行记录属个人信息,仅限履职所需范围内使用",
        "sharing_condition": "仅向承担交通规划、运营监管职责的部门共享,且须经本部门审批", "tags": ["公交", "地铁", "刷卡"]})
    label = f"运行 {run['id']}"
    od_res = actions.call("resource_create", ctx, {
        "dataset": od_name, "name": f"区级 OD 矩阵 · {label}", "description": "band, origin_district, "
        "destination_district, journeys", "format": "CSV",
        "upload": UploadedFile(filename=f"od_district_{run['id']}.csv", stream=io.BytesIO(_csv_bytes(od)))})
    pseudo = pseudonymise_cards(stages, get_settings().resolved_deid_key)
    st_res = actions.call("resource_create", ctx, {
        "dataset": st_name, "name": f"出行段 · {label}", "description": "card_id pseudonymised (HMAC-SHA256)",
        "format": "CSV",
        "upload": UploadedFile(filename=f"stages_{run['id']}.csv", stream=io.BytesIO(_csv_bytes(pseudo)))})
    out = {"od_dataset": od_name, "od_resource_id": od_res["id"], "stages_dataset": st_name,
           "stages_resource_id": st_res["id"]}
    extra = (("stop", od_stop, OD_STOP_DATASET, OD_STOP_COLUMNS, "公交地铁站点客流 OD 矩阵(分时段)",
              "Transit stop/station OD matrix by time band", "站点级 OD 矩阵", "按上车站与推断的下车站"),
             ("zone", od_zone, OD_ZONE_DATASET, OD_ZONE_COLUMNS, "公交地铁自定义区域客流 OD 矩阵(分时段)",
              "Transit custom-zone OD matrix by time band", "自定义区域 OD 矩阵", "按用户上传的区域多边形"))
    for key, table, pattern, columns, title, title_en, res_name, how in extra:
        if table is None:
            continue
        name = pattern.format(dept=dept)
        _ensure_dataset(ctx, name, {
            **common, "title": title, "title_en": title_en,
            "abstract": f"由公交地铁刷卡数据按出行链规则推断下车站点并串联出行后,{how}按出发时段汇总的出行量(OD 矩阵)。"
                        "仅含聚合数量,不含任何卡号。"
                    f"出行量少于 {get_settings().transit_od_min_count} 的单元格不予发布,其出行量按起点或按时段"
                    "合计后另列一行发布,总量不变。",
            "data_items": [{"name": c, "type": "string", "description": c} for c in columns],
            "sharing_class": "无条件共享", "opening_class": "无条件开放", "tags": ["公交", "地铁", "OD", "客流"]})
        res = actions.call("resource_create", ctx, {
            "dataset": name, "name": f"{res_name} · {label}", "description": ", ".join(columns), "format": "CSV",
            "upload": UploadedFile(filename=f"od_{key}_{run['id']}.csv", stream=io.BytesIO(_csv_bytes(table)))})
        out[f"od_{key}_dataset"] = name
        out[f"od_{key}_resource_id"] = res["id"]
    return out


def open_od(aggregates: dict[str, Any], k: int | None = None) -> dict[str, Any]:
    """Small-cell suppression (``CITYHUB_TRANSIT_OD_MIN_COUNT``, transit/disclosure.py) of the OD tables in
    ``aggregates``, in place: only these suppressed tables are written to the run folder, published and shown.
    Returns, per table, how much was suppressed."""
    from cityhub.transit import disclosure

    k = get_settings().transit_od_min_count if k is None else k
    out: dict[str, Any] = {"min_count": k}
    for name, (origin, destination) in OD_KEYS.items():
        if aggregates.get(name) is not None:
            before = aggregates[name]
            aggregates[name] = disclosure.suppress(before, origin, destination, k)
            out[name] = disclosure.summary(before, aggregates[name], k)
    return out


def _open_rows(run: dict[str, Any], name: str, table: Any) -> Any:
    """A run's OD table as published: a run from before the suppression rule is suppressed when read."""
    if (run.get("report") or {}).get("disclosure") is None:
        holder = {name: table}
        open_od(holder)
        return holder[name]
    return table


def run_job(run_id: str) -> dict[str, Any]:
    """The background job: simulate or read → pipeline → analyses → validation → publish; status and % in
    run.json. An error marks the run failed with a bilingual message; nothing published before stays."""
    import pyarrow.parquet as pq

    from cityhub.transit import analysis, pipeline
    from cityhub.transit import validate as val
    from cityhub.transit.params import TransitParams

    run = _read(run_id)
    if run is None:
        return {}
    params = run["params"]
    folder = runs_dir() / run_id
    try:
        _update(run_id, status="running", progress=1, step="input", started=utcnow().isoformat())
        if params.get("input_dir"):
            src = Path(params["input_dir"])
            tables = {n: pq.read_table(src / f"{n}.parquet") if (src / f"{n}.parquet").exists() else None
                      for n in ("taps", "stops", "route_stops", "avl", "truth")}
        else:
            from cityhub.transit.simulate import simulate

            city = simulate(int(params["taps"]), int(params["seed"]))
            tables = {n: getattr(city, n) for n in ("taps", "stops", "route_stops", "avl", "truth")}
        _update(run_id, progress=10, step="pipeline")
        tp = TransitParams.from_dict({"max_walk_m": params["max_walk_m"]} if params.get("max_walk_m") else {})

        def progress(step: str, done: int, total: int) -> None:
            _update(run_id, progress=10 + int(60 * done / max(total, 1)), step=step)

        session, own_session = None, False
        if params.get("engine") == "spark":
            from cityhub.transit.ioreport import TransitInputError as SparkMissing
            from cityhub.transit.spark import active_session, spark_session

            _update(run_id, step="spark")
            try:
                session = active_session()  # a session this process already runs is reused and left running
                own_session = session is None
                if session is None:
                    session = spark_session(cores=2, app="cityhub-transit-web")
            except SparkMissing as exc:
                raise pipeline.TransitInputError(exc.zh, exc.en, {"engine": ["spark"]}) from None
        try:
            result = pipeline.run(tables["taps"], tables["stops"], tables["route_stops"], tables["avl"], tp,
                                  progress=progress, spark=session)
        finally:
            if own_session and session is not None:
                session.stop()
        _update(run_id, progress=72, step="analysis")
        zone_table = None
        if (folder / "zones.geojson").exists():
            from cityhub.transit import zones as zmod

            zone_table = zmod.stop_zones(tables["stops"], zmod.parse((folder / "zones.geojson").read_text("utf-8")))
        aggregates = analysis.analyse(result.stages, result.journeys, tables["stops"], tables["route_stops"], tp,
                                      zone_table)
        report = dict(result.report)
        report["analysis"] = analysis.summary(aggregates)
        report["disclosure"] = open_od(aggregates)  # from here on the OD tables are the open (suppressed) ones
        for name in ("od_district", "od_stop", "od_zone", "peak_line", "line_load", "transfer_share"):
            if name in aggregates:
                pq.write_table(aggregates[name], folder / f"{name}.parquet")
        pq.write_table(result.stages, folder / "stages.parquet")
        validation = None
        if tables.get("truth") is not None:
            _update(run_id, progress=85, step="validation")
            validation = val.compare(result.stages, tables["truth"], tables["route_stops"])
        _update(run_id, progress=90, step="publish", report=report, validation=validation)
        published = (publish(run, aggregates["od_district"], result.stages, aggregates["od_stop"],
                             aggregates.get("od_zone")) if params.get("publish", True) else None)
        return _update(run_id, status="done", progress=100, step="done", published=published,
                       finished=utcnow().isoformat())
    except pipeline.TransitInputError as exc:
        return _update(run_id, status="failed", step="failed", finished=utcnow().isoformat(),
                       error={"zh": exc.message, "en": exc.message_en})
    except CityHubError as exc:
        return _update(run_id, status="failed", step="failed", finished=utcnow().isoformat(),
                       error={"zh": exc.message, "en": exc.message_en, "fields": exc.fields})
    except Exception as exc:  # a failed job is recorded on the run, never lost
        return _update(run_id, status="failed", step="failed", finished=utcnow().isoformat(),
                       error={"zh": f"运行失败:{type(exc).__name__}", "en": f"Run failed: {exc!r}"[:500]})


jobs.pool("transit", workers=1)
jobs.register("transit_run", run_job, pool="transit")
