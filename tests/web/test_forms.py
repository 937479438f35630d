"""The stewards' forms: extra input attributes, resource edit and delete, refusals before any form, plan items and
data items as rows, column types kept across re-imports."""

from __future__ import annotations

import re
from html.parser import HTMLParser

from cityhub.web.page_helpers import templates


def _inputs(markup: str) -> list[dict[str, str | None]]:
    found: list[dict[str, str | None]] = []

    class P(HTMLParser):
        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            if tag == "input":
                found.append(dict(attrs))

    P().feed(markup)
    return found


def test_text_field_renders_extra_attributes_as_real_attributes() -> None:
    tpl = templates.env.from_string(
        '{% from "macros.html" import text_field with context %}'
        '{{ text_field("url", "Link", {}, {}, type="url", attrs={"placeholder": "https://", "maxlength": 20}) }}'
        '{{ text_field("code", "Code", {"code": "12"}, {}, attrs={"pattern": "\\\\d{2}", "inputmode": "numeric"}) }}'
        '{{ text_field("x", "X", {}, {}, attrs={"placeholder": "a \\"quoted\\" <b>", "title": "t"}) }}')
    out = tpl.render(_=lambda s: s)
    url, code, x = _inputs(out)
    # was: placeholder="&#34;https://&#34;" read as a literal "https://" with quotes, and maxlength lost
    assert url["placeholder"] == "https://" and url["maxlength"] == "20" and url["type"] == "url"
    assert code["pattern"] == r"\d{2}" and code["inputmode"] == "numeric" and code["value"] == "12"
    assert x["placeholder"] == 'a "quoted" <b>' and x["title"] == "t"
    assert "<b>" not in out and re.search(r'placeholder="a &#34;quoted&#34; &lt;b&gt;"', out)
