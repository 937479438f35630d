"""DCAT-AP benchmark (issue: interoperability): catalog pages of 100 datasets with 100,000 datasets in the store.

Measures, in one run per backend (SQLite, PostgreSQL):
- `/catalog.ttl`, `/catalog.jsonld`, `/catalog.rdf` pages of 100 datasets over HTTP (sequential, random pages
  across the whole catalog, so deep offsets are included) — target p95 ≤ 200 ms;
- in process, where the time goes: the `catalog_dcat` action end to end (wall clock, and CPU time of the
  process, which is what a page costs on a machine nobody else is using), the first page after a dataset
  changed, and the pure part alone (building the description of the page's 100 datasets, and writing it);
- baseline in the same run: rdflib's own serialisers on the same page (the same triples loaded into an
  rdflib Graph, then `Graph.serialize`), i.e. what the page would cost without the direct writers.

Run: `python -m benchmarks.dcat_bench [--n 100000] [--backends sqlite,postgres] [--pages 60]`.
The datasets are bulk-inserted by `benchmarks.catalog_bench.generate` (no search index needed: the DCAT
catalog pages by dataset id).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import time
from typing import Any

from benchmarks.catalog_bench import generated_store
from benchmarks.common import OUT, Server, machine, summary

FORMATS = {"ttl": "turtle", "jsonld": "json-ld", "rdf": "xml"}
RDFLIB_FORMATS = {"turtle": "turtle", "json-ld": "json-ld", "xml": "xml"}
PAGE_SIZE = 100


def _pages(rng: random.Random, last: int, k: int) -> list[int]:
    """k page numbers spread over the catalog: the first, the last, and random ones in between."""
    return [1, last] + [rng.randint(1, last) for _ in range(max(0, k - 2))]


def http_pages(url: str, pages: list[int]) -> dict[str, Any]:
    import httpx

    out: dict[str, Any] = {}
    with httpx.Client(base_url=url, timeout=60) as client:
        for ext in FORMATS:
            for page in pages[:3]:  # warm-up
                client.get(f"/catalog.{ext}", params={"page": page}).raise_for_status()
            ms, sizes = [], []
            for page in pages:
                t0 = time.perf_counter()
                r = client.get(f"/catalog.{ext}", params={"page": page})
                ms.append((time.perf_counter() - t0) * 1000)
                r.raise_for_status()
                sizes.append(len(r.content))
            out[f"http_catalog_{ext}"] = {**summary(ms), "mean_kib": round(sum(sizes) / len(sizes) / 1024)}
    return out


def in_process(pages: list[int]) -> dict[str, Any]:
    """The action end to end, the pure build + write, and rdflib's serialisers on the same triples."""
    from sqlalchemy import func, select
    from sqlalchemy.orm import selectinload

    from cityhub import actions
    from cityhub.catalog.models import Dataset
    from cityhub.context import Context
    from cityhub.db import session_scope
    from cityhub.interop import dcat
    from cityhub.interop.dcat_actions import current_site, dcat_dict, published_filter

    out: dict[str, Any] = {}
    for fmt in FORMATS.values():
        ms, cpu = [], []
        for page in pages:
            t0, c0 = time.perf_counter(), time.process_time()
            actions.call("catalog_dcat", Context(via="bench"), {"page": page, "page_size": PAGE_SIZE, "format": fmt})
            ms.append((time.perf_counter() - t0) * 1000)
            cpu.append((time.process_time() - c0) * 1000)
        out[f"action_catalog_dcat_{fmt}"] = summary(ms)
        # CPU time of this process alone: what the page costs when the machine is not shared
        out[f"action_catalog_dcat_{fmt}_cpu"] = summary(cpu)

    # the first page after a change (the published-id list is patched, not rebuilt)
    from sqlalchemy import text

    ms = []
    for i, page in enumerate(pages[:20]):
        with session_scope() as s:
            s.execute(text("UPDATE dataset SET private = NOT private, modified_at = :now WHERE id = :id"),
                      {"now": dt.datetime.now(dt.UTC), "id": 1 + (page * 97 + i) % 1000})
        t0 = time.perf_counter()
        actions.call("catalog_dcat", Context(via="bench"), {"page": page, "page_size": PAGE_SIZE})
        ms.append((time.perf_counter() - t0) * 1000)
    out["action_catalog_dcat_turtle_after_a_change"] = summary(ms)

    # one page's dataset dicts, then the pure part and the rdflib baseline on exactly the same input
    site = current_site()
    sample = pages[: min(len(pages), 20)]
    pages_data = []
    with session_scope() as s:
        total = s.scalar(select(func.count()).select_from(Dataset).where(published_filter())) or 0
        for page in sample:
            ids = (select(Dataset.id).where(published_filter()).order_by(Dataset.id)
                   .limit(PAGE_SIZE).offset((page - 1) * PAGE_SIZE))
            rows = s.scalars(select(Dataset).options(selectinload(Dataset.resources))
                             .where(Dataset.id.in_(ids)).order_by(Dataset.id)).all()
            pages_data.append((page, [dcat_dict(ds) for ds in rows]))

    def page_of(n: int) -> dcat.Page:
        return dcat.Page(n, PAGE_SIZE, int(total), lambda k: f"{site.base}/catalog.ttl?page={k}")

    build_ms = []
    for page, datasets in pages_data:
        t0 = time.perf_counter()
        dcat.catalog_document(site, datasets, page_of(page))
        build_ms.append((time.perf_counter() - t0) * 1000)
    out["pure_build_document"] = summary(build_ms)
    out["triples_per_page"] = len(dcat.catalog_document(site, pages_data[0][1], page_of(pages_data[0][0])))
    for fmt, rdflib_fmt in RDFLIB_FORMATS.items():
        ours, theirs = [], []
        for page, datasets in pages_data:
            doc = dcat.catalog_document(site, datasets, page_of(page))
            t0 = time.perf_counter()
            dcat.serialize(doc, fmt)
            ours.append((time.perf_counter() - t0) * 1000)
            t0 = time.perf_counter()
            dcat.to_rdflib(doc).serialize(format=rdflib_fmt)
            theirs.append((time.perf_counter() - t0) * 1000)
        out[f"write_{fmt}_ours"] = summary(ours)
        out[f"write_{fmt}_baseline_rdflib"] = summary(theirs)
        out[f"write_{fmt}_speedup_p50"] = round(summary(theirs)["p50_ms"] / max(summary(ours)["p50_ms"], 0.01), 1)
    return out


def run_backend(backend: str, n: int, k: int) -> dict[str, Any]:
    with generated_store("dcat", backend, n) as (_home, _url, env):
        if backend == "postgres":  # planner statistics, as autovacuum would gather (it is off on test servers)
            from sqlalchemy import text

            from cityhub import db

            with db.get_engine().begin() as conn:
                conn.execute(text("ANALYZE"))
        from cityhub import actions
        from cityhub.context import Context

        first = actions.call("catalog_dcat", Context(via="bench"), {"page": 1, "page_size": PAGE_SIZE})
        result: dict[str, Any] = {"backend": backend, "datasets": n, "published": first["total"],
                                  "pages": first["pages"], "page_size": PAGE_SIZE}
        pages = _pages(random.Random(3), first["pages"], k)
        with Server(env, workers=1) as server:
            result.update(http_pages(server.url, pages))
        result.update(in_process(pages))
        print(json.dumps(result, ensure_ascii=False, indent=1))
        return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--pages", type=int, default=60, help="pages requested per format")
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    results = {"machine": machine(), "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
               "runs": [run_backend(b, args.n, args.pages) for b in args.backends.split(",")]}
    (OUT / "dcat.json").write_text(json.dumps(results, ensure_ascii=False, indent=1))
    print(f"wrote {OUT / 'dcat.json'}")


if __name__ == "__main__":
    main()
