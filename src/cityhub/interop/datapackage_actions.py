"""Data Package actions: a dataset as a Frictionless Data Package (v2).

* ``dataset_datapackage`` — the ``datapackage.json`` descriptor with absolute download URLs: tables loaded in the
  datastore point at the datastore's whole-table CSV download (the file the Table Schema describes), other
  uploaded files at their download, links at their URL.
* ``dataset_datapackage_zip`` — the same package self-contained: ``datapackage.json`` with relative paths plus
  the files (tables as the datastore's CSV export, other uploads as stored), as a zip streamed chunk by chunk.
  Links cannot be inside the zip; they are listed in the descriptor's ``sources``.

Sizes and SHA-256 digests of uploads come from the catalog (computed at upload); those of the datastore CSV are
computed once per cached file and remembered in this process.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cityhub.actions import action
from cityhub.catalog import schemas as cs
from cityhub.catalog import visibility
from cityhub.catalog.actions import dataset_dict, record_usage
from cityhub.catalog.auth import find_dataset
from cityhub.catalog.models import Dataset, Resource
from cityhub.context import Context
from cityhub.datastore import query
from cityhub.datastore.actions import _live, query_limits, table_ref
from cityhub.errors import NotFound
from cityhub.interop import datapackage as dp
from cityhub.interop import datapackage_auth as auth
from cityhub.settings import get_settings
from cityhub.storage import get_storage

log = logging.getLogger("cityhub.interop.datapackage")
CHUNK = 1 << 20
ZIP_MEDIA_TYPE = "application/zip"


@dataclass
class Entry:
    """A resource of the package: its descriptor part, and the local file that holds its bytes (None: a link)."""

    part: dp.Part
    file: Path | None


# -- digests of the datastore's CSV exports -------------------------------------------------------------------

_digests: dict[tuple[str, int, int], tuple[int, str]] = {}
_digests_lock = threading.Lock()
_DIGESTS_KEPT = 256


def file_digest(path: Path) -> tuple[int, str]:
    """Size and SHA-256 of ``path``, remembered per (path, size, mtime) so a cached export is read once."""
    st = path.stat()
    key = (str(path), st.st_size, st.st_mtime_ns)
    with _digests_lock:
        known = _digests.get(key)
    if known is not None:
        return known
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as fh:
        while chunk := fh.read(CHUNK):
            size += len(chunk)
            digest.update(chunk)
    value = (size, digest.hexdigest())
    with _digests_lock:
        if len(_digests) >= _DIGESTS_KEPT:
            _digests.pop(next(iter(_digests)))
        _digests[key] = value
    return value


# -- the package's parts ----------------------------------------------------------------------------------------


def _stored_filename(res: Resource) -> str:
    """The uploaded file's (sanitised) name: storage keys end in ``<8 hex>-<filename>``."""
    tail = Path(res.file_path).name
    return tail.split("-", 1)[1] if "-" in tail else tail


def _stem(res: Resource) -> str:
    """A name source for the resource: the uploaded file's stem when it makes a valid name, else its title."""
    stem = Path(_stored_filename(res)).stem if res.file_path else ""
    return stem if dp.spec_name(stem, "") else dp.spec_name(Path(res.name).stem, "")


def _table_entry(ctx: Context, res: Resource, base: str) -> Entry | None:
    """The live datastore table as CSV, or None when the resource has no complete table."""
    try:
        version = _live(ctx, res.id)
    except NotFound:
        return None
    try:
        csv_path = query.full_csv_path(table_ref(version), get_settings().datastore_dir / "cache",
                                       limits=query_limits())
    except query.QueryError:
        log.warning("datastore table of resource %s could not be exported", res.id, exc_info=True)
        return None
    size, sha256 = file_digest(csv_path)
    described = {str(i.get("name")): str(i.get("description") or "") for i in res.dataset.data_items}
    part = dp.Part(title=res.name, description=res.description, stem=_stem(res),
                   path=f"{base}/api/v1/resources/{res.id}/datastore/download", format="csv",
                   mediatype="text/csv", encoding="utf-8", bytes=size, sha256=sha256,
                   columns=[{"name": c["name"], "type": c["type"], "description": described.get(c["name"], "")}
                            for c in version.columns])
    return Entry(part, csv_path)


def _file_entry(ds: Dataset, res: Resource, base: str) -> Entry | None:
    """An uploaded file as stored, or None when the stored file is missing."""
    path = get_storage().path(res.file_path)
    if not path.is_file():
        log.warning("stored file of resource %s is missing", res.id)
        return None
    fmt = res.format or Path(_stored_filename(res)).suffix.lstrip(".")
    part = dp.Part(title=res.name, description=res.description, stem=_stem(res),
                   path=f"{base}/dataset/{ds.name}/resource/{res.id}/download", format=fmt,
                   mediatype=res.media_type, bytes=res.size, sha256=res.sha256 or None)
    return Entry(part, path)


def _link_entry(res: Resource) -> Entry:
    part = dp.Part(title=res.name, description=res.description, stem=_stem(res), path=res.url,
                   format=res.format, mediatype=res.media_type)
    return Entry(part, None)


def entries(ctx: Context, ds: Dataset) -> list[Entry]:
    """The dataset's resources in order: datastore tables, stored files, links; those withheld by a failed or
    blocked load only for their department (``visibility.listed_resources``)."""
    base = get_settings().base_url.rstrip("/")
    out: list[Entry] = []
    for res in visibility.listed_resources(ctx.actor, ds, ds.resources):
        entry = _table_entry(ctx, res, base) if res.datastore_active else None
        if entry is None and res.file_path:
            entry = _file_entry(ds, res, base)
        elif entry is None and res.url:
            entry = _link_entry(res)
        if entry is not None:
            out.append(entry)
    return out


# -- actions ------------------------------------------------------------------------------------------------------


def _empty(ds: Dataset) -> NotFound:
    """A Data Package needs at least one resource (and a zip at least one file)."""
    return NotFound(f"数据资源 {ds.name} 没有可打包的数据文件", f"Dataset {ds.name} has no data files to package")


@action(auth.dataset_datapackage, schema=cs.DatasetRef)
def dataset_datapackage(ctx: Context, p: cs.DatasetRef) -> dict[str, Any]:
    """The dataset as a Frictionless Data Package (v2) descriptor with absolute download URLs: a Table Schema
    for every table loaded in the datastore, plain resources for other files and links."""
    ds = find_dataset(ctx, p.id)
    parts = [e.part for e in entries(ctx, ds)]
    if not parts:
        raise _empty(ds)
    return dp.package_descriptor(dataset_dict(ds), parts, base_url=get_settings().base_url)


@action(auth.dataset_datapackage_zip, schema=cs.DatasetRef)
def dataset_datapackage_zip(ctx: Context, p: cs.DatasetRef) -> dict[str, Any]:
    """The dataset as a self-contained Data Package zip: ``datapackage.json`` (relative paths) and the data
    files. Returns the file name, media type and a chunk iterator (the zip is written as it is sent)."""
    ds = find_dataset(ctx, p.id)
    found = entries(ctx, ds)
    local = [(e.part, e.file) for e in found if e.file is not None]
    links = [{"title": e.part.title, "path": e.part.path} for e in found if e.file is None]
    names = dp.part_names([part for part, _ in local])
    files: list[tuple[str, Path]] = []
    for (part, path), name in zip(local, names, strict=True):
        part.path = dp.archive_path(name, part.format)
        files.append((part.path, path))
    descriptor = dp.package_descriptor(dataset_dict(ds), [part for part, _ in local], names=names,
                                       base_url=get_settings().base_url, sources=links)
    if not files:
        raise _empty(ds)
    record_usage(ds.id, "downloads")
    body = json.dumps(descriptor, ensure_ascii=False, indent=2).encode()
    m = ds.modified_at
    stamp = (m.year, m.month, m.day, m.hour, m.minute, m.second)
    return {"filename": f"{ds.name}-datapackage.zip", "media_type": ZIP_MEDIA_TYPE,
            "chunks": zip_chunks(body, files, stamp)}


# -- streaming zip ------------------------------------------------------------------------------------------------


Stamp = tuple[int, int, int, int, int, int]


def _member(name: str, stamp: Stamp, size: int) -> zipfile.ZipInfo:
    """A zip entry: text formats deflated, others (already compressed, mostly) stored."""
    info = zipfile.ZipInfo(name, date_time=max(stamp, (1980, 1, 1, 0, 0, 0)))
    ext = Path(name).suffix.lstrip(".").lower()
    info.compress_type = zipfile.ZIP_DEFLATED if name.endswith(".json") or ext in dp.TEXT_FORMATS else zipfile.ZIP_STORED
    info.file_size = size
    info.external_attr = 0o644 << 16
    return info


def zip_chunks(descriptor: bytes, files: list[tuple[str, Path]],
               stamp: Stamp = (1980, 1, 1, 0, 0, 0)) -> Iterator[bytes]:
    """A zip of ``datapackage.json`` and ``files`` (archive name, local path), produced as it is read: zipfile
    writes to a non-seekable sink (sizes and CRCs go in data descriptors), so memory holds about one chunk."""
    sink = query.Drain()
    opened = [(name, path.open("rb")) for name, path in files]  # opened now: a file replaced later still streams
    try:
        with zipfile.ZipFile(sink, "w") as zf:  # a write-only, non-seekable file object
            zf.writestr(_member("datapackage.json", stamp, len(descriptor)), descriptor)
            yield sink.take()
            for name, fh in opened:
                size = os.fstat(fh.fileno()).st_size
                with zf.open(_member(name, stamp, size), "w", force_zip64=size > zipfile.ZIP64_LIMIT) as dst:
                    while chunk := fh.read(CHUNK):
                        dst.write(chunk)
                        if out := sink.take():
                            yield out
                if out := sink.take():
                    yield out
        yield sink.take()
    finally:
        for _, fh in opened:
            fh.close()
