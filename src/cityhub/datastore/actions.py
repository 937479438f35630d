"""Datastore actions: load a table (a background job per version), search, aggregate, SQL, export,
roll back. Tables are versioned Parquet files; the live version switches only when a load is complete."""

from __future__ import annotations

import logging
import os
import shutil
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pydantic_core
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError

from cityhub import audit
from cityhub.actions import ADMINS, MANAGERS, action
from cityhub.catalog import visibility
from cityhub.catalog.models import Dataset, Resource
from cityhub.catalog.schemas import UploadedFile
from cityhub.context import Context, system_context
from cityhub.datastore import auth, query
from cityhub.datastore import schemas as s
from cityhub.datastore.answers import AnswerCache, search_key
from cityhub.datastore.ingest import IngestError, IngestOptions, ingest
from cityhub.datastore.models import DatastoreTable, DatastoreVersion
from cityhub.db import is_locked_error, session_scope, utcnow
from cityhub.errors import CityHubError, Conflict, NotAuthorized, NotFound, TooManyRequests, ValidationError
from cityhub.settings import get_settings
from cityhub.storage import get_storage

log = logging.getLogger("cityhub.datastore")
TABULAR = frozenset({"CSV", "TSV", "TXT", "XLSX", "XLS", "JSON", "NDJSON", "JSONL", "PARQUET"})
PII_LABELS = {"resident_id": "居民身份证号", "mobile": "手机号码", "bank_card": "银行卡号", "email": "电子邮箱"}


# -- representation ------------------------------------------------------------------------------------------


def version_dict(v: DatastoreVersion, current: int | None = None) -> dict[str, Any]:
    return {
        "id": v.id, "resource_id": v.resource_id, "version": v.version, "status": v.status,
        "progress": round(v.progress, 1), "stage": v.stage, "live": current == v.version,
        "source_name": v.source_name, "source_bytes": v.source_bytes, "rows": v.rows, "columns": v.columns,
        "format": v.format, "encoding": v.encoding, "delimiter": v.delimiter, "bad_cell_count": v.bad_cell_count,
        "report": v.report, "warnings": v.warnings, "error_code": v.error_code, "error": v.error,
        "error_en": v.error_en, "created_by": v.created_by, "created_at": v.created_at.isoformat(),
        "started_at": v.started_at.isoformat() if v.started_at else None,
        "finished_at": v.finished_at.isoformat() if v.finished_at else None, "seconds": v.seconds,
        "declared_schema": v.declared_schema, "note": (v.options or {}).get("note", ""),
    }


def _version_dir(rid: str, version: int) -> Path:
    return get_settings().datastore_dir / rid / f"v{version}"


def _live(ctx: Context, rid: str) -> DatastoreVersion:
    preset = auth.preset(ctx, rid)
    if preset is not None and preset.live is not None:  # the sharing layer has just looked it up
        return preset.live
    found = _live_row(ctx, rid)
    if found is None or found[0] is None:
        raise NotFound("该资源还没有可查询的数据表", "This resource has no datastore table yet")
    v: DatastoreVersion | None = found[1]
    if v is None:
        raise NotFound("数据表版本缺失", "The live table version is missing")
    return v


def _live_row(ctx: Context, rid: str) -> Any:
    # one query for the table's live version (the table row and its version joined)
    return ctx.db.execute(
        select(DatastoreTable.current_version, DatastoreVersion)
        .outerjoin(DatastoreVersion, (DatastoreVersion.resource_id == DatastoreTable.resource_id)
                   & (DatastoreVersion.version == DatastoreTable.current_version))
        .where(DatastoreTable.resource_id == rid)).first()


def live_version(ctx: Context, rid: str) -> DatastoreVersion | None:
    """The table's live version, or ``None`` (no table, or its live version is missing)."""
    found = _live_row(ctx, rid)
    return None if found is None else found[1]


#: a version served provisionally (queryable first): "typing" while whole-file typing runs, "provisional" when
#: it failed (the untyped copy stays served, the error is on the version)
PROVISIONAL = ("typing", "provisional")
#: the untyped copy of a provisional version, beside its data.parquet
RAW_FILE = "raw.parquet"


def provisional_of(v: DatastoreVersion) -> dict[str, Any] | None:
    """The typed view of a version served provisionally, or None for a typed version."""
    if v.status not in PROVISIONAL:
        return None
    found: dict[str, Any] | None = (v.options or {}).get("provisional")
    return found


def table_ref(v: DatastoreVersion) -> query.TableRef:
    folder = _version_dir(v.resource_id, v.version)
    cols = [(c["name"], c["type"]) for c in v.columns]
    prov = provisional_of(v)
    if prov is not None:  # the untyped copy through its typed view; the file is never the one being written
        return query.TableRef(resource_id=v.resource_id, path=folder / RAW_FILE, rows=v.rows or 0, columns=cols,
                              select=str(prov["select"]))
    return query.TableRef(resource_id=v.resource_id, path=folder / "data.parquet", rows=v.rows or 0, columns=cols)


def typing_state(v: DatastoreVersion) -> dict[str, Any] | None:
    """What a read answer says about a table served provisionally: its types are being checked (percentage), or
    checking failed (error); None for a typed table."""
    if v.status not in PROVISIONAL:
        return None
    return {"state": v.status, "provisional_types": True, "progress": round(v.progress, 1), "version_id": v.id,
            "message": "列类型正在核对,类型为暂定,不符合的单元格暂显示为空" if v.status == "typing"
            else "列类型核对失败,类型为暂定,不符合的单元格显示为空",
            "message_en": "Column types are being checked: types are provisional and cells that do not fit show as "
            "null" if v.status == "typing" else "Type checking failed: types are provisional and cells that do "
            "not fit show as null",
            "error": v.error, "error_en": v.error_en}


def read_ref(ctx: Context, v: DatastoreVersion) -> query.TableRef:
    """The table a read action queries: the whole live version, or, for a call the sharing layer authorised with
    a grant, only the grant's columns and rows (every query path then reads the scoped view) of the live version,
    or of the resource's released de-identified view when the sharing layer names one (``GrantedRead.view``)."""
    ref = table_ref(v)
    granted = auth.granted_read(ctx)
    if granted is None:
        return ref
    if granted.resource_id != v.resource_id:  # never another table than the one granted
        raise NotFound(f"未找到资源 {v.resource_id}", f"Resource not found: {v.resource_id}")
    try:
        if granted.view is not None:  # the released de-identified view in place of the live table
            return granted.apply(query.file_table(v.resource_id, granted.view))
        # no view: personal-data columns (flagged by the load's scan) only for a grant that allows them
        return granted.apply(ref, [c["name"] for c in v.columns if c.get("pii")])
    except query.QueryError as exc:
        raise _query_error(exc) from None


def _count(ctx: Context, rid: str, kind: str) -> None:
    from cityhub.catalog.actions import record_usage

    preset = auth.preset(ctx, rid)
    if preset is not None:
        record_usage(preset.dataset_id, kind)
        return
    res = ctx.db.get(Resource, rid)
    if res is not None:
        record_usage(res.dataset_id, kind)


def query_limits() -> query.Limits:
    """What one datastore query may use, from the settings (see ``query.Limits``)."""
    s = get_settings()
    return query.Limits(
        timeout_s=s.datastore_sql_timeout_s, memory_limit=s.datastore_memory_limit, threads=s.datastore_threads,
        max_result_bytes=s.datastore_max_result_mb << 20, temp_dir=s.datastore_dir / "tmp" / "duckdb",
        max_temp_bytes=s.datastore_temp_max_mb << 20, export_timeout_s=s.datastore_export_timeout_s,
        slots=s.datastore_query_slots, slots_dir=s.datastore_dir / "tmp" / "slots",
        queue_wait_s=s.datastore_queue_wait_s)


def search_limits() -> query.Limits:
    """``query_limits`` with the row search's own DuckDB thread count (``datastore_search_threads``)."""
    return replace(query_limits(), threads=max(1, get_settings().datastore_search_threads))


#: seconds a client is told to wait (Retry-After) when every query slot is taken
BUSY_RETRY_AFTER_S = 2


def _audit_denied(ctx: Context, action_name: str, rid: str, reason: str) -> None:
    """A read refused inside the action (the resource is known only there), in the audit log with its
    resource id; recorded in its own transaction, so it survives the refusal."""
    audit.record_separately(ctx, action_name, rid, "denied", {"reason": reason})


def _query_error(exc: query.QueryError) -> CityHubError:
    if exc.code == "busy":
        return TooManyRequests(exc.message, exc.message_en, retry_after=BUSY_RETRY_AFTER_S)
    fld = getattr(exc, "field", None) or getattr(exc, "code", "query")
    return ValidationError(exc.message, exc.message_en, fields={str(fld): [exc.message_en]},
                           fields_zh={str(fld): [exc.message]})


# -- loads ------------------------------------------------------------------------------------------------------


@action(auth.datastore_create, schema=s.LoadIn, write=True, target=lambda p, r: p.resource_id, roles=MANAGERS)
def datastore_create(ctx: Context, p: s.LoadIn) -> dict[str, Any]:
    """Queue a load of the resource's table (an uploaded file, or the resource's own stored file) as a new
    version; it runs as a background job and goes live only when complete."""
    res = auth.find_resource(ctx, p.resource_id)
    storage = get_storage()
    number = (ctx.db.scalar(select(func.max(DatastoreVersion.version))
                            .where(DatastoreVersion.resource_id == res.id)) or 0) + 1
    if p.upload is not None:
        upload: UploadedFile = p.upload
        name = Path(upload.filename).name or "upload"
        key = f"datastore-src/{res.id}/{uuid.uuid4().hex}"
        size: int | None
        size, _digest = storage.put(key, upload.stream, get_settings().max_upload_mb << 20)
        ctx.extra.setdefault("on_rollback", []).append(lambda: storage.delete(key))
    elif res.file_path:
        name, key, size = res.name if Path(res.name).suffix else f"{res.name}.{res.format.lower()}", res.file_path, res.size
    else:
        raise ValidationError("该资源是外部链接,请上传文件", "This resource is a link; upload a file to load",
                              fields={"upload": ["required"]})
    options: dict[str, Any] = {"encoding": p.encoding, "delimiter": p.delimiter}
    if p.note:
        options["note"] = p.note
    declared = p.table_schema.model_dump() if p.table_schema else None
    if declared is None:  # no types given: the column types chosen for this resource before apply again
        declared = kept_schema(ctx, res.id)
        if declared is not None:
            options["schema_kept"] = True
    v = DatastoreVersion(resource_id=res.id, version=number, status="queued", source_name=name, source_key=key,
                         source_bytes=size, options=options, created_by=ctx.actor_name, created_at=utcnow(),
                         declared_schema=declared)
    ctx.db.add(v)
    if ctx.db.get(DatastoreTable, res.id) is None:
        ctx.db.add(DatastoreTable(resource_id=res.id, current_version=None))
    ctx.db.flush()
    version_id = v.id
    if key == res.file_path:  # the resource's own file: withheld until this load (and its personal-data scan) ends
        _set_load_state(ctx.db, res.id, number, "checking")
    from cityhub import jobs

    inline = p.wait or ctx.extra.get("jobs") == "inline" or get_settings().jobs_inline
    progress = ctx.extra.get("progress")
    department = str(res.dataset.department_id)  # loads are scheduled fairly across departments
    serial = f"resource:{res.id}"  # and one table's loads one at a time, in order: the last asked goes live last
    ctx.extra.setdefault("after_commit", []).append(
        (lambda: run_load(version_id, progress)) if inline
        else (lambda: jobs.submit("datastore_load", version_id, key=department, serial=serial)))
    return version_dict(v)


def kept_schema(ctx: Context, rid: str) -> dict[str, Any] | None:
    """The column types chosen for a resource: the Table Schema declared with its newest load that had one
    (an empty ``fields`` list means "infer every column" and is kept too)."""
    found: dict[str, Any] | None = ctx.db.scalar(
        select(DatastoreVersion.declared_schema).where(DatastoreVersion.resource_id == rid,
                                                       DatastoreVersion.declared_schema.is_not(None))
        .order_by(DatastoreVersion.version.desc()).limit(1))
    return found


def _ingest_kept(source: Path, source_name: str, dest: Path, options: IngestOptions,
                 report: Callable[[float, str], None]) -> tuple[Any, list[str]]:
    """Ingest with column types kept from an earlier load; a kept type for a column the new file no longer has
    is dropped (with a warning) instead of failing the load."""
    schema = dict(options.schema or {})
    dropped: list[str] = []
    while True:
        try:
            return ingest(source, source_name, dest, replace(options, schema=schema)), dropped
        except IngestError as exc:
            missing = exc.params.get("field") if exc.code == "schema_mismatch" else None
            fields = schema.get("fields") or []
            if not missing or not any(str(f.get("name")) == missing for f in fields):
                raise
            shutil.rmtree(dest, ignore_errors=True)
            dropped.append(str(missing))
            schema = {**schema, "fields": [f for f in fields if str(f.get("name")) != missing]}


@action(auth.datastore_load_run, schema=s.RunIn, roles=ADMINS)
def datastore_load_run(ctx: Context, p: s.RunIn) -> dict[str, Any]:
    """Run a queued load (background jobs call this)."""
    return run_load(p.version_id, ctx.extra.get("progress"))


def _update(version_id: int, **values: Any) -> None:
    with session_scope() as db:
        v = db.get(DatastoreVersion, version_id)
        if v is not None:
            for key, value in values.items():
                setattr(v, key, value)


def _set_load_state(db: Any, rid: str, version: int, state: str) -> None:
    """Record on the resource what its newest load means for serving it (``Resource.load_state``, read by the
    visibility rule): "failed" or "blocked" withhold its file and everything made from it; "" serves it. A load
    older than the newest one changes nothing."""
    newest = db.scalar(select(func.max(DatastoreVersion.version)).where(DatastoreVersion.resource_id == rid))
    res = db.get(Resource, rid)
    if res is not None and (newest is None or version >= newest) and res.load_state != state:
        res.load_state = state
        # what the dataset lists changed: move its modification time (response caches and harvesters follow it)
        res.modified_at = res.dataset.modified_at = utcnow()
        from cityhub.catalog.search import index_formats

        index_formats(db, [res.dataset])  # its format is no longer (or again) one the dataset is found by


def _failed(version_id: int, rid: str, version: int, source_key: str, **values: Any) -> None:
    """A failed load. When it read the resource's own stored file, that file is a failed file and is withheld
    (``load_state``); a failed load of a separately uploaded table leaves the file and the live version served."""
    _update(version_id, status="failed", **values)
    with session_scope() as db:
        res = db.get(Resource, rid)
        if res is not None and res.file_path and res.file_path == source_key:
            _set_load_state(db, rid, version, "failed")


def run_load(version_id: int, progress: Callable[[float, str], None] | None = None) -> dict[str, Any]:
    """Ingest one version; on success (and no personal data in an unconditionally open dataset) make it live."""
    settings = get_settings()
    with session_scope() as db:
        v = db.get(DatastoreVersion, version_id)
        if v is None or v.status not in ("queued",):
            return {"id": version_id, "status": v.status if v else "missing"}
        v.status, v.started_at, v.stage = "running", utcnow(), "start"
        rid, number, source_key, source_name = v.resource_id, v.version, v.source_key, v.source_name
        declared, opts = v.declared_schema, dict(v.options or {})
    dest = _version_dir(rid, number)
    last = [0.0]

    def report(fraction: float, stage: str) -> None:
        if progress is not None:
            progress(fraction, stage)
        now = time.monotonic()
        if now - last[0] > 0.5 or fraction >= 1.0:
            last[0] = now
            try:
                _update(version_id, progress=round(fraction * 100, 1), stage=stage)
            except OperationalError as exc:  # SQLite's single writer was busy: a progress figure is not worth the
                if not is_locked_error(exc):  # load (the next report, or the end of the load, writes it)
                    raise
                log.info("datastore load %s: progress not recorded (database busy)", version_id)

    started = time.perf_counter()
    provisional = False
    try:
        source = get_storage().path(source_key)
        ingest_options = IngestOptions(
            encoding=opts.get("encoding"), delimiter=opts.get("delimiter"), schema=declared,
            max_columns=settings.datastore_max_columns, memory_limit=settings.datastore_memory_limit,
            threads=settings.datastore_threads, temp_dir=settings.datastore_dir / "tmp",
            memory_scratch_mb=settings.datastore_memory_scratch_mb)
        queryable_first = settings.datastore_queryable_first and not declared and not opts.get("schema_kept")
        if queryable_first and source.stat().st_size >= settings.datastore_queryable_first_min_mb * (1 << 20):
            provisional = _serve_provisional(version_id, rid, number, source, source_name, dest, ingest_options,
                                             progress)
            if provisional:  # the whole-file typing reports its own percentage from here on
                last[0] = 0.0
        if opts.get("schema_kept"):
            result, dropped = _ingest_kept(source, source_name, dest, ingest_options, report)
            result.warnings += [f"kept column type for {name!r} not applied: the file has no such column"
                                for name in dropped]
        else:
            result = ingest(source, source_name, dest, ingest_options, report)
    except IngestError as exc:
        if provisional:  # the untyped copy stays served; nothing stored is lost
            return _typing_failed(version_id, exc.code, exc.message, exc.message_en, started)
        shutil.rmtree(dest, ignore_errors=True)
        _failed(version_id, rid, number, source_key, error_code=exc.code, error=exc.message, error_en=exc.message_en,
                finished_at=utcnow(), seconds=time.perf_counter() - started)
        return {"id": version_id, "status": "failed", "error": exc.message_en}
    except Exception as exc:  # a crash must not leave the job "running" forever
        log.exception("datastore load %s failed", version_id)
        if provisional:
            return _typing_failed(version_id, "internal", "类型核对失败:内部错误",
                                  f"Type checking failed: {type(exc).__name__}", started)
        shutil.rmtree(dest, ignore_errors=True)
        _failed(version_id, rid, number, source_key, error_code="internal", error="导入失败:内部错误",
                error_en=f"Load failed: {type(exc).__name__}", finished_at=utcnow(),
                seconds=time.perf_counter() - started)
        return {"id": version_id, "status": "failed", "error": type(exc).__name__}
    columns = [{"name": c.name, "source_name": c.source_name, "type": c.type, "nulls": c.nulls,
                "bad_cells": c.bad_cells, "pii": c.pii} for c in result.columns]
    report_rows = [{"row": b.row, "column": b.column, "value": b.value, "reason": b.reason}
                   for b in result.bad_cells]
    pii = [c for c in columns if c["pii"]]
    with session_scope() as db:
        v = db.get(DatastoreVersion, version_id)
        assert v is not None
        res = db.get(Resource, rid)
        assert res is not None
        ds = res.dataset
        v.rows, v.columns, v.format, v.encoding = result.rows, columns, result.format, result.encoding or ""
        v.delimiter, v.bad_cell_count, v.report = result.delimiter or "", result.bad_cell_count, report_rows
        v.warnings, v.finished_at, v.progress = result.warnings, utcnow(), 100.0
        v.seconds = round(time.perf_counter() - started, 3)
        if provisional:  # the typed table replaces the untyped copy in this same commit (the swap)
            v.options = {k: val for k, val in (v.options or {}).items() if k != "provisional"}
            v.stage = "done"
        ctx = system_context("job")
        if pii and ds.opening_class == "无条件开放" and not ds.private:
            names = "、".join(f"{c['name']}({PII_LABELS.get(str(c['pii']), str(c['pii']))})" for c in pii)
            v.status, v.error_code = "blocked", "personal_data"
            v.error = f"数据资源为无条件开放,不能发布含个人信息的列:{names}"
            v.error_en = "An unconditionally open dataset cannot publish columns with personal data: " + ", ".join(
                f"{c['name']} ({c['pii']})" for c in pii)
            audit.record(db, ctx, "datastore_load", rid, "blocked", {"columns": [c["name"] for c in pii]})
            _set_load_state(db, rid, number, "blocked")
            if provisional:  # the provisional copy was served (its scan found none): withdraw it
                table = db.get(DatastoreTable, rid)
                if table is not None and table.current_version == number:
                    table.current_version = None
                    res.datastore_active = False
            blocked = True
        else:
            v.status = "complete"
            table = db.get(DatastoreTable, rid) or DatastoreTable(resource_id=rid)
            table.current_version, table.updated_at = number, utcnow()
            db.add(table)
            now = utcnow()
            ds.modified_at = now
            if source_key != res.file_path:  # a table uploaded to the datastore: new data, updated now
                res.modified_at, ds.data_updated_at = now, now
            # loading the resource's own file adds no data: its upload already dated it (with the steward's
            # "last modified" when given, as the demo's files are), and a re-load must not make it look fresh
            res.datastore_active = True
            _set_load_state(db, rid, number, "")
            audit.record(db, ctx, "datastore_load", rid, "success", {"version": number, "rows": result.rows})
            blocked = False
    if blocked:
        shutil.rmtree(dest, ignore_errors=True)
    elif provisional:
        _remove_later(dest / RAW_FILE)
    return {"id": version_id, "status": "blocked" if blocked else "complete", "rows": result.rows}


#: seconds the untyped copy is kept after the swap, so a query or download that opened it finishes on it
RAW_GRACE_MIN_S = 60.0


def _remove_later(path: Path) -> None:
    """Remove a replaced untyped copy once every reader that may hold it is done (the longest is a download,
    ``datastore_export_timeout_s``); new readers already get the typed table."""
    grace = max(RAW_GRACE_MIN_S, get_settings().datastore_export_timeout_s)
    timer = threading.Timer(grace, lambda: path.unlink(missing_ok=True))
    timer.daemon = True
    timer.start()


def _serve_provisional(version_id: int, rid: str, number: int, source: Path, source_name: str, dest: Path,
                       options: IngestOptions, progress: Callable[[float, str], None] | None) -> bool:
    """Queryable first: on a resource's first load, write the untyped copy of a CSV file and make the version
    live through its typed view (status "typing") before whole-file typing starts. Not for an update (the
    previous version stays live until the typed one is complete), nor when the copy shows personal data in an
    unconditionally open dataset. True when the version is now served provisionally."""
    from cityhub.datastore import typedpass

    with session_scope() as db:
        table = db.get(DatastoreTable, rid)
        if table is not None and table.current_version is not None:
            return False

    def report(fraction: float, stage: str) -> None:  # the copy's own percentage, told apart by its stage name
        if progress is not None:
            progress(fraction, f"copy:{stage}")

    raw = typedpass.write_raw_copy(source, source_name, dest / RAW_FILE, options, report)
    if raw is None:
        return False
    with session_scope() as db:
        v = db.get(DatastoreVersion, version_id)
        res = db.get(Resource, rid)
        if v is None or res is None:
            return False
        ds = res.dataset
        if any(c["pii"] for c in raw.columns) and ds.opening_class == "无条件开放" and not ds.private:
            raw.path.unlink(missing_ok=True)
            return False
        table = db.get(DatastoreTable, rid) or DatastoreTable(resource_id=rid)
        if table.current_version is not None:  # another load went live meanwhile
            raw.path.unlink(missing_ok=True)
            return False
        v.status, v.stage, v.progress = "typing", "typing", 0.0
        v.rows, v.columns = raw.rows, raw.columns
        v.options = {**(v.options or {}), "provisional": {"select": raw.select, "seconds": round(raw.seconds, 3)}}
        table.current_version, table.updated_at = number, utcnow()
        db.add(table)
        res.datastore_active = True
        res.modified_at = ds.modified_at = utcnow()
        _set_load_state(db, rid, number, "")
        audit.record(db, system_context("job"), "datastore_load", rid, "provisional",
                     {"version": number, "rows": raw.rows})
    if progress is not None:
        progress(0.0, "typing")
    return True


def _typing_failed(version_id: int, code: str, message: str, message_en: str, started: float) -> dict[str, Any]:
    """Whole-file typing failed after the untyped copy went live: it stays live (status "provisional") with the
    error on the version; the load's file is not withheld, since its data is served."""
    _update(version_id, status="provisional", error_code=code, error=message, error_en=message_en,
            finished_at=utcnow(), seconds=time.perf_counter() - started)
    return {"id": version_id, "status": "provisional", "error": message_en}


@action(auth.datastore_job_show, schema=s.VersionIn)
def datastore_job_show(ctx: Context, p: s.VersionIn) -> dict[str, Any]:
    """Status and percentage of a load (a table version)."""
    v = ctx.db.get(DatastoreVersion, p.version_id)
    if v is None:
        raise NotFound("未找到导入任务", "Load job not found")
    res = auth.find_resource(ctx, v.resource_id)
    manager = ctx.actor is not None and ctx.actor.manages(res.dataset.department_id)
    if not manager and not (auth.readable(ctx, res) and v.status in ("complete", *PROVISIONAL)):
        _audit_denied(ctx, "datastore_job_show", v.resource_id, "not the owner of an unfinished or unreadable load")
        raise NotAuthorized("无权查看该导入任务", "You may not view this load job")
    table = ctx.db.get(DatastoreTable, v.resource_id)
    out = version_dict(v, table.current_version if table else None)
    if not manager:
        out.pop("report", None)
    return out


@action(auth.datastore_recover, schema=s.Empty, write=True, target=lambda p, r: "datastore", roles=ADMINS)
def datastore_recover(ctx: Context, p: s.Empty) -> dict[str, Any]:
    """Mark loads left queued or running by a stopped process as failed (their files are discarded)."""
    stuck = ctx.db.scalars(select(DatastoreVersion).where(
        DatastoreVersion.status.in_(("queued", "running", "typing")))).all()
    for v in stuck:
        if v.status == "typing":  # its untyped copy is live: it stays served, with the interruption reported
            v.status, v.error_code, v.finished_at = "provisional", "interrupted", utcnow()
            v.error, v.error_en = "类型核对被中断(服务重启),请重新导入", "Type checking interrupted by a restart; load again"
            continue
        v.status, v.error_code = "failed", "interrupted"
        v.error, v.error_en, v.finished_at = "导入被中断(服务重启),请重新上传", "Interrupted by a restart; load again", utcnow()
        shutil.rmtree(_version_dir(v.resource_id, v.version), ignore_errors=True)
        ctx.db.flush()
        res = ctx.db.get(Resource, v.resource_id)
        if res is not None and res.file_path and res.file_path == v.source_key:
            _set_load_state(ctx.db, v.resource_id, v.version, "failed")
    return {"failed": len(stuck)}


@action(auth.datastore_rollback, schema=s.RollbackIn, write=True, target=lambda p, r: f"{p.resource_id}@{p.version}", roles=MANAGERS)
def datastore_rollback(ctx: Context, p: s.RollbackIn) -> dict[str, Any]:
    """Serve an earlier complete version again."""
    v = ctx.db.scalar(select(DatastoreVersion).where(DatastoreVersion.resource_id == p.resource_id,
                                                     DatastoreVersion.version == p.version))
    if v is None or v.status != "complete" or not (_version_dir(v.resource_id, v.version) / "data.parquet").exists():
        raise Conflict("只能回滚到已完成的版本", "Only a complete version can be made live",
                       fields={"version": ["not a complete version"]})
    res = auth.find_resource(ctx, p.resource_id)
    if any(c.get("pii") for c in v.columns) and res.dataset.opening_class == "无条件开放" and not res.dataset.private:
        raise Conflict("该版本含个人信息,不能在无条件开放的数据资源中发布", "That version holds personal data")
    table = ctx.db.get(DatastoreTable, p.resource_id)
    assert table is not None
    table.current_version, table.updated_at = p.version, utcnow()
    now = utcnow()
    res.modified_at, res.dataset.modified_at = now, now
    return version_dict(v, p.version)


@action(auth.datastore_delete, schema=s.ResourceIdIn, write=True, target=lambda p, r: p.resource_id, roles=MANAGERS)
def datastore_delete(ctx: Context, p: s.ResourceIdIn) -> dict[str, Any]:
    """Remove the resource's datastore table and all its versions."""
    table = ctx.db.get(DatastoreTable, p.resource_id)
    if table is None:
        raise NotFound("该资源没有数据表", "This resource has no datastore table")
    for v in ctx.db.scalars(select(DatastoreVersion).where(DatastoreVersion.resource_id == p.resource_id)):
        ctx.db.delete(v)
    ctx.db.delete(table)
    res = ctx.db.get(Resource, p.resource_id)
    if res is not None:
        res.datastore_active = False
        res.load_state = ""  # no load left: the department has decided about its file
        res.modified_at = res.dataset.modified_at = utcnow()
        from cityhub.catalog.search import index_formats

        index_formats(ctx.db, [res.dataset])  # its format is no longer (or again) one the dataset is found by
    folder = get_settings().datastore_dir / p.resource_id
    ctx.extra.setdefault("after_commit", []).append(lambda: shutil.rmtree(folder, ignore_errors=True))
    return {"resource_id": p.resource_id, "deleted": True}


# -- reads ------------------------------------------------------------------------------------------------------


@action(auth.datastore_info, schema=s.InfoIn)
def datastore_info(ctx: Context, p: s.InfoIn) -> dict[str, Any]:
    """The live table's columns (type, nulls, personal-data flags), row count and the load history."""
    res = auth.find_resource(ctx, p.id)
    table = ctx.db.get(DatastoreTable, p.id)
    if table is None:
        raise NotFound("该资源还没有数据表", "This resource has no datastore table")
    manager = ctx.actor is not None and ctx.actor.manages(res.dataset.department_id)
    versions = ctx.db.scalars(select(DatastoreVersion).where(DatastoreVersion.resource_id == p.id)
                              .order_by(DatastoreVersion.version.desc())).all()
    live = next((v for v in versions if v.version == table.current_version), None)
    shown = [version_dict(v, table.current_version) for v in versions
             if manager or v.status == "complete" or (v.status in PROVISIONAL and v.version == table.current_version)]
    if not manager:
        for v in shown:
            v.pop("report", None)
    return {"resource_id": p.id, "dataset": res.dataset.name, "resource_name": res.name,
            "current_version": table.current_version, "rows": live.rows if live else None,
            "columns": live.columns if live else [], "versions": shown,
            "typing": typing_state(live) if live else None,
            "kept_schema": kept_schema(ctx, p.id) if manager else None}


_answer_cache: AnswerCache | None = None
_answer_cache_lock = threading.Lock()


def answer_cache() -> AnswerCache:
    """This process's cache of ``datastore_search`` answers (``datastore_answer_cache_mb``; remade when it
    changes)."""
    global _answer_cache
    size = max(0, get_settings().datastore_answer_cache_mb) << 20
    found = _answer_cache
    if found is None or found.max_bytes != size:
        with _answer_cache_lock:
            found = _answer_cache
            if found is None or found.max_bytes != size:
                found = _answer_cache = AnswerCache(size)
    return found


def _answer_key(v: DatastoreVersion, ref: query.TableRef, params: dict[str, Any]) -> Any:
    """The cache key of a row search: the live version (its id and number), the file read (its path, size and
    modification time: a released de-identified view, or a table removed and loaded again, is another file), the
    typed view over a provisional copy, the readable columns and rows (``TableRef.scope``: a grant's columns, rows,
    masks and hidden columns) and the normalised parameters. None: not cached (the file cannot be looked at)."""
    try:
        st = os.stat(ref.path)
    except OSError:
        return None
    table = (v.id, v.version, ref.resource_id, str(ref.path), st.st_size, st.st_mtime_ns, ref.select, ref.rows,
             tuple(ref.columns), ref.scope)
    return search_key(table, params)


#: Python objects of a page of records take about this many times their compact JSON
OBJECT_FACTOR = 5


def answer_size(out: dict[str, Any]) -> int:
    """The bytes an answer is counted at in the cache: text records as they are, other records their JSON size
    times ``OBJECT_FACTOR`` (an estimate of their Python objects)."""
    records = out.get("records")
    if isinstance(records, str):
        return len(records) * 2 + 1024
    return len(pydantic_core.to_json(records, fallback=str)) * OBJECT_FACTOR + 1024


@action(auth.datastore_search, schema=s.SearchIn, target=lambda p, r: p.resource_id)
def datastore_search(ctx: Context, p: s.SearchIn) -> dict[str, Any]:
    """Rows of the live table: filters, full-text q / full_text (words, with rank; plain, language), fields,
    sort (nulls first|last), limit (capped as CKAN) / offset or a keyset cursor, exact totals (no scan when
    unfiltered), records as objects, lists, CSV or TSV (CKAN datastore_search)."""
    v = _live(ctx, p.resource_id)
    # CKAN caps limit at ckan.datastore.search.rows_max (limit_to_configured_maximum) and echoes the cap
    limit = min(p.limit, query.CSV_LIMIT if p.records_format in ("csv", "tsv") else query.CKAN_LIMIT)
    ref = read_ref(ctx, v)  # the caller's scope: authorised above, on every call, cached answer or not
    params: dict[str, Any] = {"filters": p.filters, "q": p.q, "full_text": p.full_text, "plain": p.plain, "language": p.language,
              "fields": p.fields, "sort": p.sort, "limit": limit, "offset": p.offset,
              "include_total": p.include_total, "distinct": p.distinct, "cursor": p.cursor,
              "records_format": p.records_format}
    cache = answer_cache()
    key = _answer_key(v, ref, params) if cache.enabled else None
    cached = cache.get(key) if key is not None else None
    if cached is not None:
        out = {**cached, "fields": [dict(f) for f in cached["fields"]]}  # the records are shared, read-only
    else:
        try:
            out = query.search(ref, **params, limits=search_limits())
        except query.QueryError as exc:
            raise _query_error(exc) from None
        if key is not None:
            cache.put(key, {**out, "fields": [dict(f) for f in out["fields"]]}, answer_size(out))
    _count(ctx, p.resource_id, "api_calls")
    out["resource_id"] = p.resource_id
    typing = typing_state(v)
    if typing is not None:
        out["typing"] = typing
    return out


@action(auth.datastore_aggregate, schema=s.AggregateIn, target=lambda p, r: p.resource_id)
def datastore_aggregate(ctx: Context, p: s.AggregateIn) -> dict[str, Any]:
    """Group by one or two columns with count/sum/avg/min/max (for charts)."""
    v = _live(ctx, p.resource_id)
    try:
        return query.aggregate(read_ref(ctx, v), group_by=p.group_by, metrics=p.metrics, filters=p.filters, q=p.q,
                               limit=p.limit, limits=query_limits())
    except query.QueryError as exc:
        raise _query_error(exc) from None


@action(auth.datastore_stats, schema=s.StatsIn, target=lambda p, r: p.resource_id)
def datastore_stats(ctx: Context, p: s.StatsIn) -> dict[str, Any]:
    """Column statistics: type, nulls, distinct, min/max/mean, top values, histogram."""
    v = _live(ctx, p.resource_id)
    try:
        return query.column_stats(read_ref(ctx, v), p.column, bins=p.bins, limits=query_limits())
    except query.QueryError as exc:
        raise _query_error(exc) from None


@action(auth.datastore_search_sql, schema=s.SqlIn)
def datastore_search_sql(ctx: Context, p: s.SqlIn) -> dict[str, Any]:
    """One read-only SELECT over live tables named by resource id, sandboxed (no files, no settings), with a
    time limit and a row cap. Tables the caller may not read look nonexistent."""

    granted = auth.granted_read(ctx)

    def resolve(name: str) -> query.TableRef | None:
        # the grant's own resource, checked by the sharing layer (``auth.Preset``): no need to look it up again
        checked = granted is not None and name == granted.resource_id and auth.preset(ctx, name) is not None
        res = None if checked else ctx.db.get(Resource, name)
        if not checked and (res is None or res.dataset.state != "active"):
            return None
        if granted is not None:  # a grant reads its own resource, scoped; any other table looks absent
            if name != granted.resource_id:
                _audit_denied(ctx, "datastore_search_sql", name, "the SQL names a table outside the caller's grant")
                return None
            try:
                return read_ref(ctx, _live(ctx, name))
            except NotFound:
                return None
        assert res is not None
        refused = visibility.refusal(ctx, res.dataset, res)
        if refused is not None:
            _audit_denied(ctx, "datastore_search_sql", name, "the SQL names a table the caller may not read")
            if isinstance(refused, NotAuthorized) and visibility.can_see(ctx.actor, res.dataset):
                raise refused  # conditionally open: the caller sees the dataset, so say what it takes
            return None
        try:
            return table_ref(_live(ctx, name))
        except NotFound:
            return None

    settings = get_settings()
    try:
        out = query.run_sql(p.sql, resolve, row_cap=min(p.row_cap, settings.datastore_row_cap),
                            limits=query_limits())
    except query.QueryError as exc:
        if getattr(exc, "code", "") == "not_found":
            raise NotFound(exc.message, exc.message_en) from None
        raise _query_error(exc) from None
    return out


EXPORT_MEDIA = {"csv": "text/csv; charset=utf-8", "json": "application/json",
                "parquet": "application/vnd.apache.parquet",
                "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}


@action(auth.datastore_export, schema=s.ExportIn, target=lambda p, r: p.resource_id)
def datastore_export(ctx: Context, p: s.ExportIn) -> dict[str, Any]:
    """A streamed download of the live table, whole or filtered: CSV (optionally with a BOM for Excel), XLSX,
    JSON or Parquet. Returns a file path (whole-table CSV, cached per version) or a chunk iterator."""
    v = _live(ctx, p.resource_id)
    res = auth.find_resource(ctx, p.resource_id)
    ref = read_ref(ctx, v)
    stem = f"{res.dataset.name}-{Path(res.name).stem}-v{v.version}"[:120]
    out: dict[str, Any] = {"filename": f"{stem}.{p.format}", "media_type": EXPORT_MEDIA[p.format],
                           "path": None, "prefix": b"", "chunks": None}
    unfiltered = not (p.filters or p.q or p.fields or p.sort) and ref.scope is None  # the cached file is whole
    try:
        if p.format == "csv" and unfiltered:
            out["path"] = str(query.full_csv_path(ref, get_settings().datastore_dir / "cache",
                                                  limits=query_limits()))
            out["prefix"] = b"\xef\xbb\xbf" if p.bom else b""
        else:
            chunks: Iterator[bytes] = query.export(ref, p.format, filters=p.filters, q=p.q, fields=p.fields,
                                                   sort=p.sort, bom=p.bom,
                                                   temp_dir=get_settings().datastore_dir / "tmp",
                                                   limits=query_limits())
            out["chunks"] = chunks
    except query.QueryError as exc:
        raise _query_error(exc) from None
    _count(ctx, p.resource_id, "downloads")
    return out


@action(auth.datastore_pii_columns, schema=s.DatasetIdIn)
def datastore_pii_columns(ctx: Context, p: s.DatasetIdIn) -> list[dict[str, Any]]:
    """Live tables of a dataset that hold personal data, with the columns (for the publish rule)."""
    out = []
    rows = ctx.db.execute(select(DatastoreTable, Resource).join(Resource, Resource.id == DatastoreTable.resource_id)
                          .where(Resource.dataset_id == p.dataset_id)).all()
    for table, res in rows:
        if table.current_version is None:
            continue
        v = ctx.db.scalar(select(DatastoreVersion).where(DatastoreVersion.resource_id == res.id,
                                                         DatastoreVersion.version == table.current_version))
        cols = [c["name"] for c in (v.columns if v else []) if c.get("pii")]
        if cols:
            out.append({"resource_id": res.id, "resource_name": res.name, "columns": cols})
    return out


def is_tabular(fmt: str) -> bool:
    return fmt.upper() in TABULAR




@action(auth.datastore_failure_list, schema=s.FailureListIn, roles=MANAGERS)
def datastore_failure_list(ctx: Context, p: s.FailureListIn) -> list[dict[str, Any]]:
    """Resources whose latest load failed or was blocked (personal data in an open dataset), newest first: what a
    steward has to fix (the steward's dashboard). A later successful load of the resource clears it."""
    latest = (select(DatastoreVersion.resource_id, func.max(DatastoreVersion.version).label("v"))
              .group_by(DatastoreVersion.resource_id).subquery())
    q = (select(DatastoreVersion, Resource.name, Dataset.name, Dataset.title)
         .join(latest, (latest.c.resource_id == DatastoreVersion.resource_id) & (latest.c.v == DatastoreVersion.version))
         .join(Resource, Resource.id == DatastoreVersion.resource_id)
         .join(Dataset, Dataset.id == Resource.dataset_id)
         .where(DatastoreVersion.status.in_(("failed", "blocked")), Dataset.state == "active"))
    if p.department_id is not None:
        q = q.where(Dataset.department_id == p.department_id)
    q = q.order_by(DatastoreVersion.created_at.desc(), DatastoreVersion.id.desc()).limit(p.limit)
    return [{"resource_id": v.resource_id, "resource_name": rname, "dataset": dname, "dataset_title": dtitle,
             "version": v.version, "status": v.status, "error_code": v.error_code, "error": v.error,
             "error_en": v.error_en, "source_name": v.source_name,
             "finished_at": v.finished_at.isoformat() if v.finished_at else None}
            for v, rname, dname, dtitle in ctx.db.execute(q)]
