"""The harvest run: gather → fetch → import, with counts and a bounded log.

1. **Gather and fetch** (no catalog writes): CKAN sources are paged through ``package_search`` (full
   packages, sorted by ``metadata_modified``, the source's ``fq``); DCAT sources are read as RDF, following
   Hydra ``hydra:next`` pages (on the source's own origin only: a page naming another host is not followed).
   Every connection goes to a checked public address unless an admin allowed the network
   (``CITYHUB_HARVEST_ALLOWED_NETWORKS``; see ``cityhub.harvest.netguard``). Any failure here — a refused
   address, timeout, refused connection, HTTP error, a body that is not JSON or not RDF, CKAN ``success:
   false`` — fails the run and leaves every harvested dataset as it was. Errors say what happened (status,
   size, a generic reason), never what the remote answered.
2. **Classify** each record against what we stored for it (``harvest_object``): new, updated (its
   ``metadata_modified``/``dct:modified`` or its mapped content changed), unchanged, or reinstated.
3. **Import** a page of records per transaction through ``harvest_page_import`` (which calls the catalog
   actions). A record the catalog refuses is logged as an error for its guid and the rest go on (the run
   ends ``partial``): when a page fails, it is retried one record per transaction.
4. **Withdraw** datasets whose guid the source no longer lists — only after a complete gather.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlsplit

import pydantic
from sqlalchemy import select

from cityhub import actions
from cityhub.accounts.models import Department
from cityhub.catalog.models import Dataset
from cityhub.catalog.schemas import DatasetCreate
from cityhub.db import session_scope, utcnow
from cityhub.errors import CityHubError
from cityhub.harvest import dcat_import
from cityhub.harvest.actions import harvester_context, next_run, run_dict
from cityhub.harvest.fetch import Fetcher, FetchError, http_url_problem
from cityhub.harvest.models import HarvestObject, HarvestRun, HarvestSource
from cityhub.harvest.netguard import parse_networks
from cityhub.harvest.schemas import SLUG, SourceConfig
from cityhub.interop import ckan_map
from cityhub.settings import get_settings
from cityhub.urls import url_problem

log = logging.getLogger("cityhub.harvest")
MAX_LOG = 500  # entries kept per run; the counts stay exact
Progress = Callable[[int, int, str], None]


class GatherError(Exception):
    """The source could not be read completely: the run fails and nothing is changed."""

    def __init__(self, message: str, message_en: str) -> None:
        super().__init__(message_en)
        self.message = message
        self.message_en = message_en

    @classmethod
    def of(cls, exc: FetchError) -> GatherError:
        return cls(exc.message, exc.message_en)


@dataclass
class Remote:
    """One remote dataset, fetched and mapped (``payload`` has no department yet)."""

    guid: str
    modified: str
    payload: dict[str, Any]
    resources: list[dict[str, str]]
    origin_url: str
    org: str = ""
    error: str = ""
    notes: list[str] = field(default_factory=list)

    def digest(self) -> str:
        body = json.dumps([self.payload, self.resources, self.origin_url], sort_keys=True, default=str,
                          ensure_ascii=False)
        return hashlib.sha256(body.encode()).hexdigest()


@dataclass
class Source:
    """A plain copy of the source row (the run holds no session while it talks to the network)."""

    id: int
    name: str
    kind: str
    url: str
    department: str
    schedule: str
    config: SourceConfig


@dataclass
class RunLog:
    """Counts and the bounded log of one run."""

    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(
        ("gathered", "new", "updated", "unchanged", "withdrawn", "errors"), 0))
    entries: list[dict[str, str]] = field(default_factory=list)
    dropped: int = 0

    def add(self, level: str, guid: str, message: str) -> None:
        if len(self.entries) < MAX_LOG:
            self.entries.append({"level": level, "guid": guid, "message": message[:1000]})
        else:
            self.dropped += 1

    def export(self) -> list[dict[str, str]]:
        if not self.dropped:
            return list(self.entries)
        return [*self.entries, {"level": "info", "guid": "",
                                "message": f"{self.dropped} more log entries not kept (the counts are exact)"}]


# -- gather + fetch -----------------------------------------------------------------------------------------


def _clean_resource(r: dict[str, Any], notes: list[str]) -> dict[str, str] | None:
    url = str(r.get("url") or "").strip()
    if not url:
        return None
    problem = url_problem(url)
    if problem:
        notes.append(f"resource left out: {problem}")
        return None
    fmt = str(r.get("format") or "").strip().upper()
    if len(fmt) > 20 or any(not (c.isalnum() or c in ".+-") for c in fmt):
        fmt = ""
    name = str(r.get("name") or "").strip() or url.rstrip("/").rsplit("/", 1)[-1] or "resource"
    return {"name": name[:300], "url": url[:2000], "format": fmt, "description": str(r.get("description") or "")[:5000]}


def gather_ckan(src: Source, fetcher: Fetcher, rl: RunLog, progress: Progress | None) -> tuple[list[Remote], bool]:
    """Page through ``package_search``; returns the records and whether the listing was complete."""
    endpoint = f"{src.url}/api/3/action/package_search"
    rows = src.config.rows
    start = 0
    expected: int | None = None
    records: dict[str, Remote] = {}
    while True:
        params = {"q": "*:*", "rows": rows, "start": start, "sort": "metadata_modified asc"}
        if src.config.fq:
            params["fq"] = src.config.fq
        try:
            body = fetcher.get_json(endpoint, params)
        except FetchError as exc:
            raise GatherError.of(exc) from None
        if not isinstance(body, dict) or body.get("success") is not True or not isinstance(body.get("result"), dict):
            if isinstance(body, dict) and "success" in body:
                raise GatherError("CKAN 接口拒绝了 package_search(success 不为 true)",
                                  "The CKAN API refused package_search (success is not true)")
            raise GatherError("来源的回答不是 CKAN package_search 响应",
                              "The source's answer is not a CKAN package_search response")
        result = body["result"]
        page = result.get("results")
        if not isinstance(page, list) or not isinstance(result.get("count"), int):
            raise GatherError("来源的 package_search 结果缺少 results 列表或 count",
                              "The source's package_search result has no results list or count")
        if expected is None:
            expected = result["count"]
        for pkg in page:
            if not isinstance(pkg, dict) or not pkg.get("id"):
                rl.counts["errors"] += 1
                rl.add("error", "", "package without an id in package_search results")
                continue
            remote = _map_package(src, pkg)
            records[remote.guid] = remote
        start += len(page)
        if progress:
            progress(len(records), expected, "gather")
        if not page or start >= expected:
            break
    complete = expected is not None and len(records) == expected
    if not complete:
        rl.add("warning", "", f"the source listed {len(records)} datasets but reported {expected}; "
                              "withdrawals are skipped this run")
    return list(records.values()), complete


def _map_package(src: Source, pkg: dict[str, Any]) -> Remote:
    """A CKAN package through the shared CKAN mapping (``cityhub.interop.ckan_map``)."""
    guid = str(pkg["id"])[:500]
    name = str(pkg.get("name") or "")
    org = pkg.get("organization") or {}
    origin = f"{src.url}/dataset/{quote(name or guid, safe='')}"[:2000]
    remote = Remote(guid=guid, modified=str(pkg.get("metadata_modified") or "")[:64], payload={}, resources=[],
                    origin_url=origin if not url_problem(origin) else "",
                    org=str((org.get("name") if isinstance(org, dict) else "") or pkg.get("owner_org") or ""))
    try:
        payload = ckan_map.package_to_dataset(pkg, default_theme=src.config.default_theme)
        resources = ckan_map.package_resources(pkg)
    except ckan_map.MappingError as exc:
        remote.error = f"cannot map package {name or guid}: {exc}"
        return remote
    except Exception as exc:  # a package the mapping cannot read is one error, not a failed run
        remote.error = f"cannot map package {name or guid}: {type(exc).__name__}: {str(exc)[:300]}"
        return remote
    remote.resources = [r for r in (_clean_resource(x, remote.notes) for x in resources) if r is not None]
    remote.payload = payload
    return remote


def gather_dcat(src: Source, fetcher: Fetcher, rl: RunLog, progress: Progress | None) -> tuple[list[Remote], bool]:
    """Read the DCAT document and its Hydra pages; returns the records and whether every page was read."""
    url: str | None = src.url
    origin = _origin(src.url)
    seen_pages: set[str] = set()
    records: dict[str, Remote] = {}
    pages = 0
    accept = "text/turtle, application/rdf+xml;q=0.9, application/ld+json;q=0.8, */*;q=0.1"
    while url and url not in seen_pages:
        if pages >= src.config.max_pages:
            rl.add("warning", "", f"stopped after {pages} pages (max_pages); withdrawals are skipped this run")
            return list(records.values()), False
        seen_pages.add(url)
        pages += 1
        try:
            resp = fetcher.get(url, accept=accept)
            graph = dcat_import.parse(resp.body, resp.content_type, resp.url)
        except FetchError as exc:
            raise GatherError.of(exc) from None
        except dcat_import.DcatError as exc:
            raise GatherError(f"来源返回的不是有效的 RDF({len(resp.body)} 字节,{exc}): {url}",
                              f"The source did not return valid RDF ({len(resp.body)} bytes; {exc}): {url}") from None
        nodes = dcat_import.dataset_nodes(graph)
        if pages == 1 and not nodes and not dcat_import.next_page(graph):
            raise GatherError(f"文档中没有 dcat:Dataset: {url}", f"The document has no dcat:Dataset: {url}")
        for node in nodes:
            try:
                rec = dcat_import.to_record(graph, node, default_theme=src.config.default_theme)
            except dcat_import.DcatError as exc:
                rl.counts["errors"] += 1
                rl.add("error", str(node), str(exc))
                continue
            records[rec.guid] = Remote(guid=rec.guid, modified=rec.modified, payload=rec.payload,
                                       resources=rec.resources, origin_url=rec.origin_url, org=rec.publisher,
                                       notes=rec.notes)
        if progress:
            progress(len(records), 0, "gather")
        nxt = dcat_import.next_page(graph)
        url = nxt if nxt and nxt != url else None
        if url is not None and (_origin(url) != origin or http_url_problem(url)):
            rl.add("warning", "", "hydra:next names a page on another origin (or not an http(s) URL); it is not "
                                  "followed (same origin only) and withdrawals are skipped this run")
            return list(records.values()), False
    return list(records.values()), True


def _origin(url: str) -> tuple[str, str, int | None]:
    """(scheme, host, port) of a URL, the default port made explicit; ("", "", None) when unreadable."""
    try:
        parts = urlsplit(url)
        port = parts.port or {"http": 80, "https": 443}.get(parts.scheme.lower())
    except ValueError:
        return "", "", None
    return parts.scheme.lower(), (parts.hostname or "").lower(), port


# -- the run ------------------------------------------------------------------------------------------------


def _finish(run_id: int, status: str, rl: RunLog, error: str = "") -> dict[str, Any]:
    now = utcnow()
    with session_scope() as db:
        run = db.get(HarvestRun, run_id)
        assert run is not None
        run.status, run.finished_at, run.error, run.log = status, now, error[:2000], rl.export()
        for key, value in rl.counts.items():
            setattr(run, key, value)
        src = db.get(HarvestSource, run.source_id)
        if src is not None:
            src.last_run_at = now
            src.next_run_at = next_run(src.schedule, now) if src.enabled else None
        return run_dict(run, src.name if src else "")


def execute(run_id: int, progress: Progress | None = None) -> dict[str, Any]:
    """Run a queued harvest run to its end (succeeded, partial or failed); never raises for source trouble."""
    with session_scope() as db:
        run = db.get(HarvestRun, run_id)
        if run is None or run.status != "queued":
            return {"id": run_id, "status": run.status if run else "missing"}
        row = db.get(HarvestSource, run.source_id)
        assert row is not None
        run.status, run.started_at = "running", utcnow()
        src = Source(id=row.id, name=row.name, kind=row.kind, url=row.url, department=row.department.slug,
                     schedule=row.schedule, config=SourceConfig.model_validate(row.config or {}))
    rl = RunLog()
    started = time.perf_counter()
    try:
        allowed = parse_networks(get_settings().harvest_allowed_networks)
        with Fetcher(src.config.timeout, src.config.max_mb << 20, allowed) as fetcher:
            gather = gather_ckan if src.kind == "ckan" else gather_dcat
            records, complete = gather(src, fetcher, rl, progress)
    except GatherError as exc:
        rl.add("error", "", f"采集失败 / gather failed: {exc.message} / {exc.message_en}")
        return _finish(run_id, "failed", rl, f"采集失败,未做任何修改。{exc.message} / "
                                             f"Gather failed; nothing was changed. {exc.message_en}")
    except Exception as exc:  # the exception's text may quote the remote answer: only its type is kept
        log.exception("harvest run %s: gather crashed", run_id)
        rl.add("error", "", f"采集出错 / gather crashed: {type(exc).__name__}")
        return _finish(run_id, "failed", rl, f"采集出错({type(exc).__name__}),未做任何修改 / "
                                             f"Gather failed ({type(exc).__name__}); nothing was changed.")
    rl.counts["gathered"] = len(records)
    rl.add("info", "", f"gathered {len(records)} datasets in {time.perf_counter() - started:.1f} s"
                       f"{'' if complete else ' (incomplete listing)'}")
    try:
        _import(run_id, src, records, complete, rl, progress)
    except Exception as exc:
        log.exception("harvest run %s: import crashed", run_id)
        rl.add("error", "", f"import stopped: {type(exc).__name__}: {exc}")
        return _finish(run_id, "failed", rl, f"Import stopped ({type(exc).__name__}: {str(exc)[:300]})")
    rl.add("info", "", f"finished in {time.perf_counter() - started:.1f} s")
    return _finish(run_id, "partial" if rl.counts["errors"] else "succeeded", rl)


def _local_state(src: Source) -> tuple[dict[str, tuple[int, str, str, bool]], set[str], dict[str, str], dict[str, str]]:
    """What we hold for this source (guid → dataset id, modified, hash, withdrawn), every local dataset name,
    and the local departments by slug and by name (for mapping remote organizations)."""
    with session_scope() as db:
        held = {g: (d, m, h, w) for g, d, m, h, w in db.execute(
            select(HarvestObject.guid, HarvestObject.dataset_id, HarvestObject.remote_modified,
                   HarvestObject.content_hash, HarvestObject.withdrawn).where(HarvestObject.source_id == src.id))}
        names = set(db.scalars(select(Dataset.name)))
        depts = dict(db.execute(select(Department.slug, Department.slug)).all())
        by_name = dict(db.execute(select(Department.name, Department.slug)).all())
    return held, names, depts, by_name


def _unique_name(wanted: str, taken: set[str], src: Source) -> str:
    """The remote name when it is free here, else the name with the source's name appended."""
    base = wanted if re.match(SLUG, wanted or "") else "h-" + hashlib.sha1(wanted.encode()).hexdigest()[:12]  # noqa: S324
    if base not in taken:
        return base
    for i in range(1, 10000):
        candidate = f"{base[:80]}-{src.name[:12]}" + (f"-{i}" if i > 1 else "")
        if candidate not in taken:
            return candidate
    raise CityHubError("名称冲突", "No free dataset name")


def _import(run_id: int, src: Source, records: list[Remote], complete: bool, rl: RunLog,
            progress: Progress | None) -> None:
    held, names, depts, dept_by_name = _local_state(src)
    todo: list[dict[str, Any]] = []
    for rec in records:
        if rec.error:
            rl.counts["errors"] += 1
            rl.add("error", rec.guid, rec.error)
            continue
        for note in rec.notes:
            rl.add("warning", rec.guid, note)
        dept = src.department
        if src.config.map_organizations and rec.org:
            dept = depts.get(rec.org) or dept_by_name.get(rec.org) or dept
        payload = {k: v for k, v in rec.payload.items() if k != "name"}
        payload["department"] = dept
        digest = hashlib.sha256((rec.digest() + dept).encode()).hexdigest()  # the department is content too
        known = held.get(rec.guid)
        if known is not None and known[1] == rec.modified and known[2] == digest and not known[3]:
            rl.counts["unchanged"] += 1
            continue
        name = str(rec.payload.get("name") or "")
        if known is None:
            name = _unique_name(name, names, src)
        try:
            DatasetCreate.model_validate({**payload, "name": name if known is None else "x-check"})
        except pydantic.ValidationError as exc:
            rl.counts["errors"] += 1
            problems = "; ".join(f"{'.'.join(str(x) for x in e['loc'])}: {e['msg']}" for e in exc.errors()[:5])
            rl.add("error", rec.guid, f"invalid metadata: {problems}")
            continue
        base = {"guid": rec.guid, "payload": payload, "resources": rec.resources, "origin_url": rec.origin_url,
                "modified": rec.modified, "hash": digest}
        if known is None:
            names.add(name)
            todo.append({**base, "op": "create", "name": name})
        else:
            base["payload"] = {k: v for k, v in payload.items() if k != "code"}
            todo.append({**base, "op": "update", "dataset_id": known[0]})
    if complete:
        present = {r.guid for r in records}
        for guid, (dataset_id, _m, _h, withdrawn) in held.items():
            if guid not in present and not withdrawn:
                todo.append({"op": "withdraw", "guid": guid, "dataset_id": dataset_id})
    total = len(todo)
    done = 0
    for i in range(0, total, src.config.batch):
        page = todo[i:i + src.config.batch]
        for outcome in _import_page(run_id, src, page, rl):
            kind = outcome["outcome"]
            rl.counts[kind] += 1
            if kind == "withdrawn":
                rl.add("info", outcome["guid"], f"withdrawn at the source: {outcome['name']}")
            elif kind == "updated" and outcome.get("reinstated"):
                rl.add("info", outcome["guid"], f"listed again at the source: {outcome['name']} reinstated")
        done += len(page)
        if progress:
            progress(done, total, "import")


def _import_page(run_id: int, src: Source, page: list[dict[str, Any]], rl: RunLog) -> list[dict[str, Any]]:
    """One transaction for the page; if anything in it is refused, one transaction per record so that only
    the bad record is lost (and logged)."""
    data = {"run_id": run_id, "source_id": src.id}
    try:
        result: list[dict[str, Any]] = actions.call("harvest_page_import", harvester_context(),
                                                    {**data, "records": page})
        return result
    except Exception:
        if len(page) == 1:
            return _import_one(data, page[0], rl)
    out: list[dict[str, Any]] = []
    for rec in page:
        out.extend(_import_one(data, rec, rl))
    return out


def _import_one(data: dict[str, Any], rec: dict[str, Any], rl: RunLog) -> list[dict[str, Any]]:
    try:
        result: list[dict[str, Any]] = actions.call("harvest_page_import", harvester_context(),
                                                    {**data, "records": [rec]})
        return result
    except CityHubError as exc:
        detail = "; ".join(f"{k}: {', '.join(map(str, v))}" for k, v in exc.fields.items())
        message = f"{rec['op']} refused: {exc.message_en}" + (f" ({detail})" if detail else "")
    except Exception as exc:
        log.exception("harvest: record %s failed", rec["guid"])
        message = f"{rec['op']} failed: {type(exc).__name__}: {str(exc)[:300]}"
    rl.counts["errors"] += 1
    rl.add("error", rec["guid"], message)
    return []
