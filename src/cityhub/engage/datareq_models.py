"""Data-request tables (issue 15, 数据需求): what the public asks to be opened, and every step of each request.

* ``data_request`` -- one request: what is wanted and why, the department the asker names (if known) and the
  department the data office routes it to, the answer deadline (Chinese working days after routing), the
  department's answer (will open by a date / already open at a dataset or URL / cannot open, with the legal
  basis) and whether it came late; ``merged_into_id`` names the request a duplicate was closed in favour of.
* ``data_request_event`` -- the history (who, when, what, note): the request page's timeline.

Indexes serve the public board: newest first by id (keyset paging), per status, per department (with and
without a status), the overdue filter (status, deadline), and a request's merged duplicates. The word search
reads ``search_tokens`` through an index the migration builds outside the ORM (``datareq_search``: a generated
``tsvector`` with GIN on PostgreSQL; on SQLite an FTS5 table kept in step by triggers on this table, so a
migration that rebuilds ``data_request`` in SQLite batch mode must create those triggers again).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, Boolean, Date, ForeignKey, Index, Integer, String, Text, event
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Mapped, Mapper, attributes, mapped_column

from cityhub.db import Base, UTCDateTime, utcnow
from cityhub.engage.datareq_search import doc_tokens


def _search_tokens(context: Any) -> str:
    """Default of ``search_tokens`` on every insert (ORM or Core, one row or many): the row's own words."""
    row = context.get_current_parameters()
    return doc_tokens(row.get("title"), row.get("description"))


class DataRequest(Base):
    """A request for data that is not open yet."""

    __tablename__ = "data_request"
    __table_args__ = (
        Index("ix_data_request_status_id", "status", "id"),
        Index("ix_data_request_department_status_id", "department_id", "status", "id"),
        Index("ix_data_request_status_deadline", "status", "deadline"),
        Index("ix_data_request_department_id_id", "department_id", "id"),
        Index("ix_data_request_merged_into_id", "merged_into_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text)  # what data is wanted
    purpose: Mapped[str] = mapped_column(Text, default="")  # why
    # the department the asker believes holds the data (none: not known)
    suggested_department_id: Mapped[int | None] = mapped_column(ForeignKey("department.id"), nullable=True)
    # how to reach the asker (optional): shown to the asker, the data office and the routed department only
    contact: Mapped[str] = mapped_column(String(200), default="")
    user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id", ondelete="SET NULL"), nullable=True,
                                                index=True)
    created_by: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    status: Mapped[str] = mapped_column(String(12), default="submitted")
    # the department the data office routed it to (answers it)
    department_id: Mapped[int | None] = mapped_column(ForeignKey("department.id"), nullable=True)
    routed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    routed_by: Mapped[str] = mapped_column(String(64), default="")
    deadline: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    deadline_provisional: Mapped[bool] = mapped_column(Boolean, default=False)
    escalated_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # the answer
    answer_kind: Mapped[str] = mapped_column(String(16), default="")
    answer_text: Mapped[str] = mapped_column(Text, default="")
    open_by: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    answer_dataset_id: Mapped[int | None] = mapped_column(ForeignKey("dataset.id", ondelete="SET NULL"),
                                                          nullable=True)
    answer_url: Mapped[str] = mapped_column(String(2000), default="")
    legal_basis: Mapped[str] = mapped_column(Text, default="")
    answered_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    answered_by: Mapped[str] = mapped_column(String(64), default="")
    answered_late: Mapped[bool] = mapped_column(Boolean, default=False)
    # closed as a duplicate of this request
    merged_into_id: Mapped[int | None] = mapped_column(ForeignKey("data_request.id", ondelete="SET NULL"),
                                                       nullable=True)
    closed_reason: Mapped[str] = mapped_column(Text, default="")
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # the words of the title and description (``datareq_search.doc_tokens``), which the word search's index reads
    search_tokens: Mapped[str] = mapped_column(Text, default=_search_tokens, server_default="")


@event.listens_for(DataRequest, "before_update")
def _retokenize(_mapper: Mapper[Any], _conn: Connection, req: DataRequest) -> None:
    """A changed title or description is searchable by its new words (and no longer by its old ones) from the
    same flush on."""
    if attributes.get_history(req, "title").has_changes() or attributes.get_history(req, "description").has_changes():
        req.search_tokens = doc_tokens(req.title, req.description)


class DataRequestEvent(Base):
    """One step in a data request's history."""

    __tablename__ = "data_request_event"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("data_request.id", ondelete="CASCADE"), index=True)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    actor: Mapped[str] = mapped_column(String(64), default="")
    event: Mapped[str] = mapped_column(String(12))
    note: Mapped[str] = mapped_column(Text, default="")
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
