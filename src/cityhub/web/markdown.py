"""User Markdown to safe HTML for the templates: the renderer and sanitiser themselves are ``cityhub.markup`` (a
pure module the domains call when they store a post's rendering); here they return ``Markup`` for Jinja."""

from __future__ import annotations

from functools import lru_cache

from markupsafe import Markup

from cityhub import markup
from cityhub.markup import ATTRIBUTES, TAGS, URL_SCHEMES, plain

__all__ = ["ATTRIBUTES", "TAGS", "URL_SCHEMES", "plain", "render", "render_cached", "stored"]


def render(text: str | None) -> Markup:
    """Render ``text`` as sanitised HTML (headings demoted so they sit under the page's own)."""
    return Markup(markup.render(text))  # noqa: S704 - nh3 output with a fixed allow-list


@lru_cache(maxsize=2048)
def render_cached(text: str | None) -> Markup:
    """:func:`render` remembered for the most recent texts (for pages that render Markdown not stored rendered)."""
    return render(text)


def stored(html: str | None) -> Markup:
    """HTML the domain rendered with ``cityhub.markup.render`` and stored with its row (a discussion post's
    ``body_html``, a reuse's ``description_html``): shown as it is, never re-rendered."""
    return Markup(html or "")  # noqa: S704 - written only by cityhub.markup.render (nh3, fixed allow-list)
