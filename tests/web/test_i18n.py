"""Every message a user can see exists in Chinese and English.

* every wording the templates and page modules pass through ``_()`` has its English;
* every registered action has a human label in both languages (the audit log shows them);
* a crawl renders the portal in Chinese as a visitor, a steward and the admin and fails on English-only text
  (text nodes, placeholders, titles, button values, aria-labels) outside a short list of legitimate Latin
  words (CSV, API, …). Data (column names, codes, user names) is marked ``translate="no"`` and skipped.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from cityhub.web import i18n
from tests.conftest import Store, call_as
from tests.web.crawl import crawl, parse
from tests.web.test_pages import signed_in

WEB = Path(i18n.__file__).parent
CALL = re.compile(r"""_\(\s*(['"])(.+?)\1\s*\)""")


def wordings() -> dict[str, str]:
    """{wording: where} of every literal passed to ``_()`` in the templates and the page modules."""
    found: dict[str, str] = {}
    for path in [*WEB.glob("templates/**/*.html"), *WEB.glob("routes/*_pages.py"), WEB / "routes/harvest.py"]:
        for m in CALL.finditer(path.read_text(encoding="utf-8")):
            found.setdefault(m.group(2), path.name)
    return found


def test_every_wording_has_english() -> None:
    missing = {w: where for w, where in wordings().items()
               if re.search(r"[\u3400-\u9fff]", w) and w not in i18n.EN}
    assert not missing, "\n".join(f"{where}: {w}" for w, where in sorted(missing.items()))


def test_every_registered_action_has_a_label_in_both_languages() -> None:
    from cityhub import actions

    names = set(actions.registry())
    missing = sorted(n for n in names if n not in i18n.ACTION_LABELS)
    assert not missing, f"actions without a label (web/i18n.py ACTION_LABELS): {missing}"
    for name in names:
        zh, en = i18n.ACTION_LABELS[name]
        assert re.search(r"[\u3400-\u9fff]", zh) and en and not re.search(r"[\u3400-\u9fff]", en), name
    assert not set(i18n.ACTION_LABELS) - names - i18n.UNREGISTERED_AUDIT_ACTIONS, "labels of actions that do not exist"
    for outcome in ("success", "denied", "invalid", "not_found", "conflict", "error"):
        assert outcome in i18n.OUTCOME_LABELS


# Latin words a Chinese page legitimately shows: names of formats, standards and protocols, units, brands
LATIN_OK = frozenset((
    "API", "APIs", "CKAN", "DCAT", "RDF", "SQL", "CSV", "JSON", "GeoJSON", "XLSX", "XLS", "Excel", "Parquet",
    "ZIP", "PNG", "PDF", "XML", "HTML", "URL", "URI", "UTF", "BOM", "GB", "GBK", "KB", "MB", "ID", "TOTP", "RFC",
    "HTTP", "HTTPS", "Markdown", "Table", "Schema", "Frictionless", "Data", "Package", "JavaScript", "curl",
    "POST", "GET", "dB", "http", "https", "ODbL", "Creative", "Commons", "Attribution", "ShareAlike",
    # units of the plan's indicators (表1: broadband and network egress)
    "Mbps", "Gbps",
    # authors of the published figures the transit validation report cites
    "Munizaga",
))
IDENTIFIER = re.compile(r"https?://\S+|[\w.+-]+@[\w.-]+|\S*[\d_/.:=?&{}\[\]\\-]\S*|\b[A-Z]{2,}\b")
WORD = re.compile(r"[A-Za-z]{2,}")


def english_only(text: str) -> list[str]:
    """The Latin words of ``text`` that are neither identifiers (codes, URLs, file names, slugs) nor on the list
    of legitimate ones."""
    stripped = IDENTIFIER.sub(" ", text)
    return [w for w in WORD.findall(stripped) if w not in LATIN_OK]


def test_english_only_detector() -> None:
    assert english_only("String should have at least 10 characters") == ["String", "should", "have", "at",
                                                                          "least", "characters"]
    assert english_only("Copy") == ["Copy"] and english_only("success") == ["success"]
    assert english_only("下载 CSV(Excel,UTF-8 BOM)") == []
    assert english_only("gz-transport · cc-by-4.0 · https://data.gz.gov.cn/x · 线路.csv · datastore_search") == []


@pytest.fixture
def zh_client(sqlite_demo_store: Store) -> Iterator[TestClient]:
    from cityhub.web.app import create_app

    sqlite_demo_store.activate()
    with TestClient(create_app(), base_url="http://127.0.0.1:8000") as c:
        c.cookies.set("cityhub_lang", "zh")
        yield c


@pytest.mark.parametrize("who", [None, "steward", "admin"])
def test_chinese_pages_show_no_english_only_text(zh_client: TestClient, sqlite_demo_store: Store,
                                                 who: str | None) -> None:
    if who:
        signed_in(zh_client, sqlite_demo_store.passwords, who)
    starts = ["/", "/dataset", "/organization", "/plans", "/login", "/dataset?q=交通"]
    if who:
        starts += ["/account", "/dataset/new"]
    if who == "admin":
        starts += ["/admin/departments", "/admin/users", "/admin/audit", "/admin/harvest"]
    if who == "steward":  # the steward's own forms
        # one of the department's demo datasets with a file (other tests add datasets to this store: some without
        # a file, and the transit tests' OD datasets whose zones they named in English)
        own = next(d for d in call_as(None, "dataset_search", {"filters": {"organization": ["gz-transport"]},
                                                               "rows": 100, "full": True})["results"]
                   if d["resources"] and not d["name"].startswith("transit-"))
        rid = own["resources"][0]["id"]
        starts += [f"/dataset/{own['name']}/edit", "/plans/gz-transport/2030/edit",
                   f"/dataset/{own['name']}/resource/{rid}", f"/dataset/{own['name']}/resource/{rid}/edit",
                   f"/dataset/{own['name']}/resource/{rid}/delete"]
    pages = crawl(zh_client, starts, limit=70)
    pages.pop("/api/docs", None)  # Swagger UI: an English developer tool (its page is checked in test_offline)
    assert len(pages) >= 15
    found: dict[str, set[str]] = {}
    for url, (_status, body) in pages.items():
        for text in parse(url, body).texts:
            words = english_only(text)
            if words:
                found.setdefault(text[:120], set()).add(url)
    assert not found, "\n".join(f"{t!r} on {sorted(urls)[:3]}" for t, urls in sorted(found.items()))
