"""User Markdown to safe HTML: markdown-it (raw HTML off) then nh3 with a small allow-list. A pure module (no
web, database or settings import) so the domains may render when they write: a discussion post's and a reuse's
sanitised HTML is stored with the row (issue 15) and the web layer only shows it (``web/markdown.py`` wraps
these functions for the templates)."""

from __future__ import annotations

import html as htmllib
import re
from functools import lru_cache
from urllib.parse import unquote

import nh3
from markdown_it import MarkdownIt

TAGS = {
    "p", "br", "hr", "strong", "em", "b", "i", "code", "pre", "blockquote", "ul", "ol", "li",
    "h3", "h4", "h5", "h6", "a", "table", "thead", "tbody", "tr", "th", "td",
}
ATTRIBUTES = {"a": {"href", "title"}, "ol": {"start"}, "th": {"align"}, "td": {"align"}}
URL_SCHEMES = {"http", "https", "mailto"}
HEADINGS = re.compile(r"<(/?)h([12])>")
SAFE_HREF = re.compile(r"^(https?:|mailto:|[^:]*$)", re.I)


def _attribute(tag: str, attr: str, value: str) -> str | None:
    """Drop any link whose target, once decoded, is not http(s)/mailto or a plain relative path."""
    if attr == "href":
        decoded = re.sub(r"[\x00-\x20]", "", unquote(htmllib.unescape(value)))
        if not SAFE_HREF.match(decoded):
            return None
    return value


@lru_cache(maxsize=1)
def _parser() -> MarkdownIt:
    return MarkdownIt("commonmark", {"html": False}).enable("table")


def render(text: str | None) -> str:
    """``text`` (Markdown) as sanitised HTML (headings demoted so they sit under the page's own); "" for none."""
    if not text:
        return ""
    html = _parser().render(text)
    html = HEADINGS.sub(lambda m: f"<{m.group(1)}h{int(m.group(2)) + 2}>", html)
    clean: str = nh3.clean(
        html,
        tags=TAGS,
        attributes=ATTRIBUTES,
        url_schemes=URL_SCHEMES,
        link_rel="noopener noreferrer nofollow",
        strip_comments=True,
        attribute_filter=_attribute,
    )
    return clean


def plain(text: str | None, limit: int = 160) -> str:
    """A plain-text excerpt of Markdown (for cards): markup dropped, whitespace collapsed, truncated."""
    if not text:
        return ""
    html = _parser().render(text)
    stripped = nh3.clean(html, tags=set())
    stripped = re.sub(r"\s+", " ", htmllib.unescape(stripped)).strip()
    return stripped if len(stripped) <= limit else stripped[: limit - 1].rstrip() + "…"
