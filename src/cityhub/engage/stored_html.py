"""The sanitised HTML of user Markdown, stored with its row (issue 15): a discussion post's ``body_html`` and a
reuse's ``description_html`` are rendered (``cityhub.markup``) when the text is written, so showing a page reads
them instead of rendering every post on every view. A row written past the actions (a bulk load, a row of an
older schema the migration did not reach) has NULL there: it is rendered on its first read and stored after the
reading transaction has committed, in a short one of its own — best effort, so a read never fails for it (the
next read renders it again)."""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import bindparam, update

from cityhub.context import Context
from cityhub.db import session_scope
from cityhub.markup import render

PENDING = "stored_html_pending"
log = logging.getLogger("cityhub.engage.stored_html")


def html_of(ctx: Context | None, row: Any, source: str, target: str) -> str:
    """``row``'s stored rendering of its ``source`` column (``target``); rendered now when still NULL, and then
    stored once the caller's transaction is over (``ctx`` None: rendered only)."""
    html: str | None = getattr(row, target)
    if html is not None:
        return html
    html = render(getattr(row, source))
    if ctx is not None:
        hooks = ctx.extra.setdefault("after_commit", [])
        entry = ctx.extra.get(PENDING)
        if entry is None or entry[1] not in hooks:  # none yet, or dropped with a rolled-back transaction
            pending: dict[tuple[Any, str, str], dict[int, str]] = {}
            entry = ctx.extra[PENDING] = (pending, lambda: _store(ctx, pending))
            hooks.append(entry[1])
        entry[0].setdefault((type(row), source, target), {})[int(row.id)] = html
    return html


def _store(ctx: Context, pending: dict[tuple[Any, str, str], dict[int, str]]) -> None:
    ctx.extra.pop(PENDING, None)
    try:
        with session_scope() as s:
            for (model, _source, target), rows in pending.items():
                table = model.__table__
                # only a row still without its rendering: an edit in between stored its own
                s.execute(update(table).where(table.c.id == bindparam("row_id"), table.c[target].is_(None))
                          .values({target: bindparam("html")}),
                          [{"row_id": rid, "html": html} for rid, html in rows.items()])
    except Exception as exc:  # a busy database: the next read renders it again
        log.info("stored HTML not written (%s rows): %s", sum(len(r) for r in pending.values()), exc)
