"""Walk the portal as a visitor would (following its own links) and pull out what a page loads and shows.

Used by the offline test (no page loads anything from another host) and the language test (a Chinese page shows
no English-only text)."""

from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

from fastapi.testclient import TestClient

HTML = {"Accept": "text/html"}
# links a crawl does not follow: files, feeds, machine formats, sign-out, and the API except its docs page
SKIP = re.compile(r"(/download|/datapackage\.(zip|json)|\.(rdf|ttl|jsonld|xml|json|csv|zip)$|^/logout|^/api/(?!docs))")
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}
TEXT_ATTRS = ("placeholder", "title", "aria-label", "alt")


@dataclass
class Page:
    url: str
    assets: list[tuple[str, str, str]] = field(default_factory=list)  # (tag, attribute, value) the page loads
    links: list[str] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)  # visible text and text attributes, outside translate="no"


class _Parser(HTMLParser):
    def __init__(self, page: Page) -> None:
        super().__init__(convert_charrefs=True)
        self.page = page
        self.stack: list[tuple[str, bool]] = []  # (tag, skip text inside)

    def _skipping(self) -> bool:
        return bool(self.stack and self.stack[-1][1])

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        skip = self._skipping() or tag in ("script", "style", "template") or a.get("translate") == "no" \
            or a.get("lang", "").startswith("en")
        for key in ("src", "srcset", "poster", "data"):
            if key in a:
                self.page.assets.append((tag, key, a[key]))
        if tag == "link" and "href" in a:
            self.page.assets.append((tag, "href", a["href"]))
        if tag == "form" and a.get("action"):
            self.page.assets.append((tag, "action", a["action"]))
        if "style" in a:
            for u in re.findall(r"url\(\s*['\"]?([^'\")]+)", a["style"]):
                self.page.assets.append((tag, "style", u))
        if tag == "a" and "href" in a:
            self.page.links.append(a["href"])
        if not skip:
            for key in TEXT_ATTRS:
                if a.get(key):
                    self.page.texts.append(a[key])
            if tag in ("input", "button") and a.get("type") in ("submit", "button", "reset") and a.get("value"):
                self.page.texts.append(a["value"])
        if tag not in VOID:
            self.stack.append((tag, skip))

    def handle_endtag(self, tag: str) -> None:
        for i in range(len(self.stack) - 1, -1, -1):
            if self.stack[i][0] == tag:
                del self.stack[i:]
                break

    def handle_data(self, data: str) -> None:
        if not self._skipping() and data.strip():
            self.page.texts.append(data.strip())


def parse(url: str, body: str) -> Page:
    page = Page(url)
    _Parser(page).feed(body)
    return page


def crawl(client: TestClient, starts: list[str], limit: int = 80, per_path: int = 3) -> dict[str, tuple[int, str]]:
    """{url: (status, html)} of the local pages reachable from ``starts`` (breadth first, at most ``limit``
    pages, at most ``per_path`` query-string variants of one path)."""
    seen: dict[str, tuple[int, str]] = {}
    variants: dict[str, int] = {}
    queue = deque(starts)
    while queue and len(seen) < limit:
        url = queue.popleft()
        parts = urlsplit(url)
        if url in seen or parts.netloc or SKIP.search(parts.path):
            continue
        # one kind of page, not every dataset or department: /dataset/{name}/resource/{id} → one key
        key = re.sub(r"/[0-9a-f-]{36}", "/{id}", parts.path)
        key = re.sub(r"^/(dataset|organization|plans|admin/harvest/sources?|admin/harvest/runs?)/(?!new$)[^/]+",
                     r"/\1/*", key)
        if variants.get(key, 0) >= per_path:
            continue
        variants[key] = variants.get(key, 0) + 1
        resp = client.get(url, headers=HTML, follow_redirects=False)
        if "text/html" not in resp.headers.get("content-type", ""):
            continue
        seen[url] = (resp.status_code, resp.text)
        for href in parse(url, resp.text).links:
            target = urljoin(url, href).split("#")[0]
            t = urlsplit(target)
            if t.scheme not in ("", "http", "https") or "lang=" in t.query:  # mailto:, the language switch
                continue
            if not t.netloc or t.netloc == "testserver" or t.netloc.startswith("127.0.0.1"):
                queue.append(t.path + (f"?{t.query}" if t.query else ""))
    return seen
