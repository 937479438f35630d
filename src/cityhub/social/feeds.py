"""Atom 1.0 (RFC 4287) documents of activity streams, built with ElementTree (escaping is the library's). Pure."""

from __future__ import annotations

from typing import Any
from xml.etree import ElementTree as ET

ATOM = "http://www.w3.org/2005/Atom"


def atom(feed: dict[str, Any]) -> bytes:
    """``feed``: ``id``, ``title``, ``link`` (the page), ``self`` (the feed URL), ``updated`` (RFC 3339) and
    ``entries`` (each ``id``, ``title``, ``link``, ``updated``, ``author``, ``summary``)."""
    ET.register_namespace("", ATOM)

    def sub(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
        el = ET.SubElement(parent, f"{{{ATOM}}}{tag}", attrs)
        if text is not None:
            el.text = text
        return el

    root = ET.Element(f"{{{ATOM}}}feed", {"{http://www.w3.org/XML/1998/namespace}lang": "zh-CN"})
    sub(root, "id", feed["id"])
    sub(root, "title", feed["title"])
    sub(root, "updated", feed["updated"])
    sub(root, "link", href=feed["link"], rel="alternate", type="text/html")
    sub(root, "link", href=feed["self"], rel="self", type="application/atom+xml")
    author = sub(root, "author")
    sub(author, "name", feed.get("author") or feed["title"])
    sub(root, "generator", "CityHub")
    for e in feed["entries"]:
        entry = sub(root, "entry")
        sub(entry, "id", e["id"])
        sub(entry, "title", e["title"], type="text")
        sub(entry, "updated", e["updated"])
        if e.get("link"):
            sub(entry, "link", href=e["link"], rel="alternate", type="text/html")
        a = sub(entry, "author")
        sub(a, "name", e.get("author") or "system")
        sub(entry, "summary", e.get("summary") or e["title"], type="text")
    return b'<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="utf-8", xml_declaration=False)
