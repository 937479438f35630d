"""Discussions on datasets: threaded posts (a question or an error report opens a thread; replies follow), the
reports readers file against posts, and the moderation state (held, visible, hidden; a locked thread)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from cityhub.db import Base, UTCDateTime, utcnow


class DiscussionPost(Base):
    """One post. ``thread_id`` is the thread's first post (its own id for a thread opener); ``kind``: ``question``
    or ``error_report`` for an opener, ``reply`` otherwise. ``status``: ``held`` (a new account's post awaiting a
    moderator), ``visible`` or ``hidden`` (by a moderator). ``body`` is the author's Markdown, never HTML;
    ``body_html`` its sanitised rendering (``cityhub.markup``), stored whenever the body is written (NULL only for a
    row written past the actions: rendered and stored on its first read). A deleted post (``deleted_at``) that had
    replies stays as a placeholder keeping its thread; one without replies is ``deleted`` and shown to nobody
    but the moderators."""

    __tablename__ = "discussion_post"
    __table_args__ = (
        # a discussion's threads and replies as the caller may see them: dataset and state first, so the planner
        # never walks the state index across every dataset (SQLite picks an index by its equality columns)
        Index("ix_discussion_post_dataset_thread", "dataset_id", "status", "thread_id", "id"),
        Index("ix_discussion_post_author_ts", "author_id", "created_at"),
        Index("ix_discussion_post_source_ts", "source", "created_at"),
        Index("ix_discussion_post_status_ts", "status", "created_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dataset_id: Mapped[int] = mapped_column(ForeignKey("dataset.id", ondelete="CASCADE"))
    department_id: Mapped[int] = mapped_column(Integer)  # the dataset's department (its stewards moderate)
    thread_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    parent_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    kind: Mapped[str] = mapped_column(String(16), default="question")  # question error_report reply
    title: Mapped[str] = mapped_column(String(200), default="")
    body: Mapped[str] = mapped_column(Text)
    body_html: Mapped[str | None] = mapped_column(Text, nullable=True)  # the sanitised rendering of body
    author_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    author: Mapped[str] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(String(64), default="-")  # the client address it came from
    status: Mapped[str] = mapped_column(String(10), default="visible")  # held visible hidden
    approved: Mapped[bool] = mapped_column(Boolean, default=False)  # was ever shown (counts for held_first_posts)
    locked: Mapped[bool] = mapped_column(Boolean, default=False)  # thread openers only: no more replies
    report_count: Mapped[int] = mapped_column(Integer, default=0)
    moderated_by: Mapped[str] = mapped_column(String(64), default="")
    moderation_note: Mapped[str] = mapped_column(Text, default="")
    correction_id: Mapped[int | None] = mapped_column(Integer, nullable=True)  # the ticket an error report became
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    edited_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)  # last edit of the text
    deleted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)  # deleted (placeholder)


class DiscussionRevision(Base):
    """An edit or a deletion of a post (``change``: ``edit`` or ``delete``), with the title and body it replaced:
    the post's history, and what the posting limits count edits by (``discuss_limits``)."""

    __tablename__ = "discussion_revision"
    __table_args__ = (
        Index("ix_discussion_revision_editor_ts", "editor_id", "created_at"),
        Index("ix_discussion_revision_source_ts", "source", "created_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    post_id: Mapped[int] = mapped_column(ForeignKey("discussion_post.id", ondelete="CASCADE"), index=True)
    change: Mapped[str] = mapped_column(String(10), default="edit")  # edit delete
    title: Mapped[str] = mapped_column(String(200), default="")  # the title before the change
    body: Mapped[str] = mapped_column(Text, default="")  # the body before the change
    editor_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    editor: Mapped[str] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(String(64), default="-")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)


class DiscussionReport(Base):
    """A reader's report of a post (spam, abuse, off topic): one per reader and post."""

    __tablename__ = "discussion_report"
    __table_args__ = (UniqueConstraint("post_id", "reporter_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    post_id: Mapped[int] = mapped_column(ForeignKey("discussion_post.id", ondelete="CASCADE"), index=True)
    reporter_id: Mapped[int] = mapped_column(Integer)
    reporter: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(String(500), default="")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
