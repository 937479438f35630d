"""Why the data-request word search does not use ``pg_trgm`` (issue 15): a PostgreSQL-only probe, side by side on
one table of 50,000 requests with the data-request benchmark's texts (``datareq_bench``), of

* the scan (``ILIKE '%word%'`` over title and description, no index: the search before the index),
* ``ILIKE`` with ``pg_trgm`` GIN indexes on title and description (the planner chooses, as in production),
* the jieba ``tsvector`` with GIN the product uses (``engage/datareq_search.py``: every word, whole),

each for a first page of 50 newest first, with words held by every twentieth request (公交, 空气质量) and with
words held by none, of two characters (潮汐) and of four (潮汐车道). It also records whether ``pg_trgm`` sees
Chinese characters at all in this database's locale (``show_trgm``).

Run: ``python -m benchmarks.datareq_trgm_probe [--requests 50000] [--n 50]``; results go to
``benchmarks/out/datareq-trgm.json``. Needs a superuser (``CREATE EXTENSION pg_trgm``); the database is dropped at
the end.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from typing import Any

from benchmarks.common import OUT, PG_ADMIN, machine, pg_create, pg_drop, summary
from benchmarks.datareq_bench import WORDS


def main() -> None:
    import psycopg

    from cityhub.engage.datareq_search import doc_tokens, query_terms, tsquery

    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=50_000)
    parser.add_argument("--n", type=int, default=50, help="queries per word and method")
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    name, _url = pg_create("cityhub_trgm_probe")
    rnd = random.Random(15)
    out: dict[str, Any] = {"machine": machine(), "requests": args.requests}
    try:
        # prepare_threshold=None: every query planned for its own pattern (psycopg otherwise prepares a statement
        # run five times, and PostgreSQL may then keep a generic plan, which cannot use a trigram index at all)
        with psycopg.connect(PG_ADMIN.rsplit("/", 1)[0] + f"/{name}", autocommit=True,
                             prepare_threshold=None) as conn:
            c = conn.cursor()
            c.execute("CREATE EXTENSION pg_trgm")
            out["locale"] = c.execute("SHOW lc_ctype").fetchone()[0]  # type: ignore[index]
            out["show_trgm"] = {w: str(c.execute("SELECT show_trgm(%s)", (w,)).fetchone()[0])  # type: ignore[index]
                                for w in ("公交车站", "公交", "gtfs")}
            c.execute("CREATE TABLE r (id serial PRIMARY KEY, title text, description text, search_tokens text, "
                      "search_tsv tsvector GENERATED ALWAYS AS (array_to_tsvector(string_to_array(search_tokens, "
                      "' '))) STORED)")
            with c.copy("COPY r (title, description, search_tokens) FROM STDIN") as cp:
                for i in range(args.requests):
                    word = rnd.choice(WORDS)
                    title = f"{word}相关数据需求 {i}"
                    description = f"希望开放{word}的明细数据,按月更新,第{i}号。" * 3
                    cp.write_row((title, description, doc_tokens(title, description)))
            t0 = time.perf_counter()
            c.execute("CREATE INDEX r_tsv ON r USING gin (search_tsv)")
            out["build_tsv_gin_s"] = round(time.perf_counter() - t0, 2)
            t0 = time.perf_counter()
            c.execute("CREATE INDEX r_title_trgm ON r USING gin (title gin_trgm_ops); "
                      "CREATE INDEX r_description_trgm ON r USING gin (description gin_trgm_ops)")
            out["build_trgm_gin_s"] = round(time.perf_counter() - t0, 2)
            c.execute("ANALYZE r")
            out["size_tsv_gin"] = c.execute("SELECT pg_size_pretty(pg_relation_size('r_tsv'))").fetchone()[0]  # type: ignore[index]
            out["size_trgm_gin"] = c.execute(  # type: ignore[index]
                "SELECT pg_size_pretty(pg_relation_size('r_title_trgm') + pg_relation_size('r_description_trgm'))"
            ).fetchone()[0]
            like = "SELECT id FROM r WHERE title ILIKE %s OR description ILIKE %s ORDER BY id DESC LIMIT 50"
            tsv = "SELECT id FROM r WHERE search_tsv @@ CAST(%s AS tsquery) ORDER BY id DESC LIMIT 50"
            results: dict[str, Any] = {}
            for word in ("公交", "空气质量", "潮汐", "潮汐车道"):
                pattern = f"%{word}%"
                methods = {
                    "scan (before)": ("SET enable_bitmapscan = off", like, (pattern, pattern)),
                    "pg_trgm GIN": ("SET enable_bitmapscan = on", like, (pattern, pattern)),
                    "jieba tsvector GIN (ours)": ("SET enable_bitmapscan = on", tsv, (tsquery(query_terms(word)),)),
                }
                row: dict[str, Any] = {}
                for label, (setting, sql, params) in methods.items():
                    c.execute(setting)  # GIN is read by bitmap scans only: without them, the scan of before
                    plan = "\n".join(r[0] for r in c.execute("EXPLAIN " + sql, params).fetchall())
                    ms = []
                    found = 0
                    for _ in range(args.n):
                        t0 = time.perf_counter()
                        found = len(c.execute(sql, params).fetchall())
                        ms.append((time.perf_counter() - t0) * 1000)
                    row[label] = {**summary(ms), "rows": found,
                                  "plan": "index" if ("Bitmap Index Scan" in plan and "r_pkey" not in plan)
                                  else ("newest-first scan" if "r_pkey" in plan else "seq scan")}
                results[word] = row
            out["queries"] = results
            c.execute("SET enable_bitmapscan = on")
    finally:
        pg_drop(name)
    (OUT / "datareq-trgm.json").write_text(json.dumps(out, ensure_ascii=False, indent=2))
    print(json.dumps(out, ensure_ascii=False, indent=2))


if __name__ == "__main__":
    main()
