"""Reuses (成果展示): apps, articles, visualisations and research built on datasets, submitted by the public and
reviewed by the data office (pending → published / rejected)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from cityhub.db import Base, UTCDateTime, utcnow


class Reuse(Base):
    __tablename__ = "reuse"
    __table_args__ = (
        Index("ix_reuse_status_ts", "status", "created_at"),
        Index("ix_reuse_submitter_ts", "submitter_id", "created_at"),
        Index("ix_reuse_source_ts", "source", "created_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")  # Markdown
    description_html: Mapped[str | None] = mapped_column(Text, nullable=True)  # its sanitised rendering, stored
    url: Mapped[str] = mapped_column(String(2000))
    type: Mapped[str] = mapped_column(String(16))  # app article visualization research other
    image_key: Mapped[str] = mapped_column(String(300), default="")  # storage key ("" : none)
    image_type: Mapped[str] = mapped_column(String(32), default="")  # its media type
    status: Mapped[str] = mapped_column(String(10), default="pending")  # pending published rejected
    review_comment: Mapped[str] = mapped_column(Text, default="")
    reviewed_by: Mapped[str] = mapped_column(String(64), default="")
    reviewed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    submitter_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    submitter: Mapped[str] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(String(64), default="-")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ReuseDataset(Base):
    """A dataset a reuse is built on (``status`` copies the reuse's, so counting a dataset's published reuses is
    one index range)."""

    __tablename__ = "reuse_dataset"
    __table_args__ = (Index("ix_reuse_dataset_dataset_status", "dataset_id", "status"),)

    reuse_id: Mapped[int] = mapped_column(ForeignKey("reuse.id", ondelete="CASCADE"), primary_key=True)
    dataset_id: Mapped[int] = mapped_column(ForeignKey("dataset.id", ondelete="CASCADE"), primary_key=True)
    status: Mapped[str] = mapped_column(String(10), default="pending")
