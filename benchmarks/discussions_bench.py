"""Dataset pages with discussions (issue 15): with 100,000 datasets (bulk-generated as in the catalog benchmark)
and many posts — every dataset of a sample with a few threads, and "hot" datasets with hundreds of threads and
thousands of replies — how long ``GET /dataset/{name}`` takes to render (in-process ASGI client, so the figure is
the server's own time: routing, the actions, the template), side by side:

* a dataset page with no discussion (the baseline the section adds to);
* a hot dataset's page, anonymous, the way it was before posts stored their HTML (the baseline): every post's
  Markdown rendered at read time (markdown-it + nh3), cold (nothing remembered: a page's first view) and with
  the renderings cached (``web/markdown.render_cached``, as after a first view);
* the same page now: each post's sanitised HTML stored when it was written (``body_html``, the posts are
  generated with it as ``discussion_post_create`` writes it), in the steady state and on the page's **first
  view** (a freshly started app, its templates warmed on another page, then the first request of each hot page;
  several rounds);
* the first view of a page whose rows have no stored HTML yet (rendered on that read and stored after it);
* the hot page as a moderator (every post, held and hidden too), ``GET /api/discussions?dataset=…``, and the
  showcase page ``/showcase?dataset=…``.

Target: p95 ≤ 100 ms for the page with discussions. ``python -m benchmarks.discussions_bench [--n 100000]
[--backends sqlite,postgres] [--hot 20] [--requests 200]``; figures go to ``benchmarks/out/discussions.json``."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import time
from typing import Any

from benchmarks.catalog_bench import generated_store
from benchmarks.common import OUT, machine, summary

FIRST_VIEW_ROUNDS = 5  # fresh apps whose first view of every hot page is timed
THREADS_HOT = 300  # threads on a hot dataset
REPLIES_HOT = 10  # replies per thread on a hot dataset (so 3,300 posts on each)
WARM_DATASETS = 20_000  # datasets with a few threads each
BODY = ("**{n}** 号线路的首末班时间与实际不符,见附件。\n\n- 站点:天河客运站\n- 时间:06:30\n\n"
        "[参考链接](https://example.gov.cn/notice/{n}) `代码` <script>alert(1)</script>")


def generate_posts(n: int, hot: int, seed: int = 11) -> dict[str, Any]:
    """Posts bulk-inserted: ``hot`` datasets with THREADS_HOT threads × REPLIES_HOT replies (some held, some hidden,
    some reported), and WARM_DATASETS others with 1-3 threads and a reply or two."""
    from sqlalchemy import insert, select

    from cityhub import db
    from cityhub.catalog import visibility
    from cityhub.catalog.models import Dataset
    from cityhub.engage.discuss_models import DiscussionPost

    rng = random.Random(seed)
    now = dt.datetime.now(dt.UTC)
    with db.session_scope() as s:
        rows = list(s.execute(select(Dataset.id, Dataset.name, Dataset.department_id).where(visibility.public_sql())
                              .order_by(Dataset.id).limit(hot + WARM_DATASETS + 1)))
    hot_rows, warm_rows, empty = rows[:hot], rows[hot:hot + WARM_DATASETS], rows[-1]
    next_id = 1
    batch: list[dict[str, Any]] = []
    total = 0

    def add(ds: Any, thread: int | None, parent: int | None, kind: str, status: str, ts: dt.datetime) -> int:
        nonlocal next_id, total
        pid = next_id
        next_id += 1
        batch.append({"id": pid, "dataset_id": ds.id, "department_id": ds.department_id, "thread_id": thread or pid,
                      "parent_id": parent, "kind": kind, "title": f"关于数据 {pid} 的问题" if thread is None else "",
                      "body": BODY.format(n=pid), "author_id": 1000 + pid % 5000, "author": f"user{pid % 5000}",
                      "source": f"10.0.{pid % 250}.{pid % 200}", "status": status, "approved": status == "visible",
                      "locked": False, "report_count": 1 if pid % 97 == 0 else 0, "moderated_by": "",
                      "moderation_note": "", "correction_id": None, "created_at": ts, "updated_at": ts})
        total += 1
        if len(batch) >= 5000:
            flush()
        return pid

    def flush() -> None:
        if batch:
            with db.session_scope() as s:
                s.execute(insert(DiscussionPost), batch)
            batch.clear()

    for ds in hot_rows:
        for _ in range(THREADS_HOT):
            ts = now - dt.timedelta(minutes=rng.randrange(1, 500_000))
            status = rng.choice(["visible"] * 18 + ["held", "hidden"])
            head = add(ds, None, None, rng.choice(["question", "error_report"]), status, ts)
            parent = head
            for _ in range(REPLIES_HOT):
                parent = add(ds, head, rng.choice([head, parent]), "reply",
                             rng.choice(["visible"] * 18 + ["held", "hidden"]), ts)
    for ds in warm_rows:
        for _ in range(rng.randint(1, 3)):
            ts = now - dt.timedelta(minutes=rng.randrange(1, 500_000))
            head = add(ds, None, None, "question", "visible", ts)
            for _ in range(rng.randint(0, 2)):
                add(ds, head, head, "reply", "visible", ts)
    flush()
    with db.session_scope() as s:
        if s.get_bind().dialect.name == "postgresql":
            from sqlalchemy import text

            s.execute(text("SELECT setval('discussion_post_id_seq', (SELECT max(id) FROM discussion_post))"))
    return {"posts": total, "hot": [r.name for r in hot_rows], "hot_departments": [r.department_id for r in hot_rows],
            "hot_ids": [r.id for r in hot_rows],
            "empty": empty.name}


def backfill() -> float:
    """Give every generated post its stored HTML the way migration 0021 does for the rows written before it (its
    own ``_backfill``, in batches); the seconds it took."""
    import importlib

    from alembic.operations import Operations
    from alembic.runtime.migration import MigrationContext

    from cityhub import db

    migration = importlib.import_module("cityhub.migrations.versions.0021_post_html")
    t0 = time.perf_counter()
    with db.get_engine().begin() as conn, Operations.context(MigrationContext.configure(conn)):
        migration._backfill("discussion_post", "body", "body_html")
    return time.perf_counter() - t0


def interleaved(client: Any, urls: list[str], requests: int, baseline: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """The baseline (every post rendered at read time, nothing remembered) and the stored HTML, request by request
    in turn on the same pages, so both meet the same machine load."""
    from cityhub.web.markdown import render_cached

    for url in urls:
        assert client.get(url).status_code == 200
    base_ms: list[float] = []
    ours_ms: list[float] = []
    for i in range(requests):
        url = urls[i % len(urls)]
        render_cached.cache_clear()
        with baseline(cached=False):
            t0 = time.perf_counter()
            resp = client.get(url)
            base_ms.append((time.perf_counter() - t0) * 1000)
        assert resp.status_code == 200
        render_cached.cache_clear()
        t0 = time.perf_counter()
        resp = client.get(url)
        ours_ms.append((time.perf_counter() - t0) * 1000)
        assert resp.status_code == 200
    return summary(base_ms), summary(ours_ms)


def moderator_token(department_id: int) -> str:
    """A steward of the hot datasets' department (a moderator there) and an API token of theirs."""
    from cityhub import actions
    from cityhub.context import system_context

    ctx = system_context("bench")
    slug = next(d["slug"] for d in actions.call("department_list", ctx, {}) if d["id"] == department_id)
    actions.call("user_create", ctx, {"name": "bench_steward", "password": "Bench-steward-password-1",
                                      "role": "steward", "department": slug})
    token: str = actions.call("token_create", ctx, {"user": "bench_steward", "days": 1})["token"]
    return token


def timed(client: Any, urls: list[str], requests: int, headers: dict[str, str] | None = None,
          cold: bool = False) -> dict[str, Any]:
    """Time GETs of ``urls`` in turn; ``cold``: with the cache of rendered Markdown emptied before each request (in
    the baseline every post is then rendered afresh, as on a page's first view), else as it is after the first
    views."""
    from cityhub.web.markdown import render_cached

    for url in urls:  # warm the caches (templates, statements, renderings)
        assert client.get(url, headers=headers).status_code == 200
    ms: list[float] = []
    for i in range(requests):
        url = urls[i % len(urls)]
        if cold:
            render_cached.cache_clear()
        t0 = time.perf_counter()
        resp = client.get(url, headers=headers)
        ms.append((time.perf_counter() - t0) * 1000)
        assert resp.status_code == 200, (url, resp.status_code, resp.text[:300])
    return summary(ms)


def first_views(urls: list[str], rounds: int, warm_url: str) -> dict[str, Any]:
    """The first request of each page in ``urls`` in a freshly started app (its templates compiled on ``warm_url``
    first, so what is timed is the page's own first view), over ``rounds`` fresh apps."""
    from fastapi.testclient import TestClient

    from cityhub.web.app import create_app
    from cityhub.web.markdown import render_cached

    ms: list[float] = []
    for _ in range(rounds):
        render_cached.cache_clear()
        with TestClient(create_app(), base_url="http://127.0.0.1:8000") as client:
            assert client.get(warm_url).status_code == 200
            for url in urls:
                t0 = time.perf_counter()
                resp = client.get(url)
                ms.append((time.perf_counter() - t0) * 1000)
                assert resp.status_code == 200, (url, resp.status_code)
    return summary(ms)


def render_at_read() -> Any:
    """The baseline: pages as they were before posts stored their HTML (every post's Markdown rendered when shown;
    ``cached``: through ``web/markdown.render_cached`` as then). A context manager patching the discussion actions'
    stored-HTML lookup."""
    import contextlib

    from cityhub.engage import discuss_actions
    from cityhub.web.markdown import render, render_cached

    @contextlib.contextmanager
    def patched(cached: bool) -> Any:
        real = discuss_actions.html_of
        discuss_actions.html_of = (lambda ctx, row, source, target:  # type: ignore[assignment]
                                   str((render_cached if cached else render)(getattr(row, source))))
        try:
            yield
        finally:
            discuss_actions.html_of = real

    return patched


def run_backend(backend: str, n: int, hot: int, requests: int) -> dict[str, Any]:
    from fastapi.testclient import TestClient

    with generated_store("discussions", backend, n):
        t0 = time.perf_counter()
        made = generate_posts(n, hot)
        print(f"    {made['posts']} posts in {time.perf_counter() - t0:.1f} s")
        seconds = backfill()
        print(f"    their HTML rendered and stored (migration 0021's backfill) in {seconds:.1f} s")
        from cityhub.web.app import create_app

        # the benchmark's own client address is not rate-limited on reads; it posts nothing
        dept = made["hot_departments"][0]
        same_dept = [name for name, d in zip(made["hot"], made["hot_departments"], strict=True) if d == dept]
        token = moderator_token(dept)
        result: dict[str, Any] = {"backend": backend, "datasets": n, "posts": made["posts"],
                                  "backfill_seconds": round(seconds, 1),
                                  "hot_datasets": hot, "posts_per_hot_dataset": THREADS_HOT * (1 + REPLIES_HOT)}
        pages = [f"/dataset/{name}" for name in made["hot"]]
        empty_page = f"/dataset/{made['empty']}"
        baseline = render_at_read()
        with TestClient(create_app(), base_url="http://127.0.0.1:8000") as client:
            result["page_no_discussion"] = timed(client, [empty_page], requests)
            (result["baseline_page_hot_render_at_read_cold"],
             result["page_hot_anonymous_stored_cold"]) = interleaved(client, pages, requests, baseline)
            with baseline(cached=True):
                result["baseline_page_hot_render_at_read_cached"] = timed(client, pages, requests)
            result["page_hot_anonymous_stored"] = timed(client, pages, requests)
        result["page_hot_first_view_stored"] = first_views(pages, FIRST_VIEW_ROUNDS, empty_page)
        with TestClient(create_app(), base_url="http://127.0.0.1:8000") as client:
            result["page_hot_moderator"] = timed(client, [f"/dataset/{name}" for name in same_dept], requests,
                                                 {"Authorization": token})
            api = [f"/api/discussions?dataset={name}" for name in made["hot"]]
            with baseline(cached=False):
                result["baseline_api_discussions_hot_render_at_read"] = timed(client, api, max(20, requests // 4))
            result["api_discussions_hot"] = timed(client, api, requests)
            result["showcase_dataset"] = timed(client, [f"/showcase?dataset={name}" for name in made["hot"]], requests)
        # last (it changes the store): rows without their stored HTML, rendered and stored on their first read
        from sqlalchemy import update

        from cityhub import db
        from cityhub.engage.discuss_models import DiscussionPost

        with db.session_scope() as s:
            s.execute(update(DiscussionPost).where(DiscussionPost.dataset_id.in_(made["hot_ids"]))
                      .values(body_html=None))
        result["page_hot_first_view_lazy"] = first_views(pages, 1, empty_page)
        result["load_average_end"] = os.getloadavg()
        for key, value in result.items():
            if isinstance(value, dict):
                print(f"    {key:44} p50 {value['p50_ms']:7.1f} ms  p95 {value['p95_ms']:7.1f} ms  n={value['n']}")
        return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--backends", default="sqlite")
    parser.add_argument("--hot", type=int, default=20)
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    results = {"machine": machine(), "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
               "load_average": os.getloadavg(),
               "runs": [run_backend(b, args.n, args.hot, args.requests) for b in args.backends.split(",")]}
    (OUT / "discussions.json").write_text(json.dumps(results, ensure_ascii=False, indent=1))
    print(f"wrote {OUT / 'discussions.json'}")


if __name__ == "__main__":
    main()
