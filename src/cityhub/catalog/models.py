"""Catalog tables: data resources, their resources (files and links), change history, open-data plans,
daily usage, and the search index (tokens and facet values)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, Boolean, Date, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from cityhub.accounts.models import Department
from cityhub.db import Base, UTCDateTime, utcnow


class Dataset(Base):
    __tablename__ = "dataset"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    title: Mapped[str] = mapped_column(String(300))
    title_en: Mapped[str] = mapped_column(String(300), default="")
    code: Mapped[str] = mapped_column(String(40), unique=True)
    catalog_type: Mapped[str] = mapped_column(String(4))
    base_category: Mapped[str | None] = mapped_column(String(20), nullable=True)
    class_item: Mapped[str] = mapped_column(String(2))
    class_category: Mapped[str] = mapped_column(String(3))
    class_sub: Mapped[str] = mapped_column(String(6), default="")
    department_id: Mapped[int] = mapped_column(ForeignKey("department.id"), index=True)
    abstract: Mapped[str] = mapped_column(Text)
    format: Mapped[str] = mapped_column(String(20))
    data_items: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    sharing_class: Mapped[str] = mapped_column(String(10))
    sharing_condition: Mapped[str] = mapped_column(Text, default="")
    sharing_method: Mapped[list[str]] = mapped_column(JSON, default=list)
    sharing_basis: Mapped[str] = mapped_column(Text, default="")
    opening_class: Mapped[str] = mapped_column(String(10))
    opening_condition: Mapped[str] = mapped_column(Text, default="")
    update_cycle: Mapped[str] = mapped_column(String(10))
    published_on: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    related_codes: Mapped[list[str]] = mapped_column(JSON, default=list)
    theme: Mapped[str] = mapped_column(String(40), index=True)
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    license_id: Mapped[str] = mapped_column(String(40), default="")
    temporal_start: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    temporal_end: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    districts: Mapped[list[str]] = mapped_column(JSON, default=list)
    contact_name: Mapped[str] = mapped_column(String(100), default="")
    contact_email: Mapped[str] = mapped_column(String(254), default="")
    contact_phone: Mapped[str] = mapped_column(String(40), default="")
    private: Mapped[bool] = mapped_column(Boolean, default=False)
    state: Mapped[str] = mapped_column(String(10), default="active", index=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    modified_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    data_updated_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    views_total: Mapped[int] = mapped_column(Integer, default=0)
    downloads_total: Mapped[int] = mapped_column(Integer, default=0)
    api_calls_total: Mapped[int] = mapped_column(Integer, default=0)
    quality_score: Mapped[int] = mapped_column(Integer, default=0)
    # Free-form CKAN extras that map to none of our fields (kept so a CKAN dump round-trips).
    extras: Mapped[dict[str, str]] = mapped_column(JSON, default=dict, server_default="{}")
    # Harvested datasets: where they came from; they stay read-only locally.
    harvest_source_id: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)
    harvest_guid: Mapped[str] = mapped_column(String(500), default="", server_default="")
    origin_url: Mapped[str] = mapped_column(String(2000), default="", server_default="")
    # The publication workflow (catalog/publication.py): draft -> submitted -> published; a reviewer's comment on
    # the last rejection or withdrawal, and who submitted (nobody approves their own submission).
    publication: Mapped[str] = mapped_column(String(10), default="published", server_default="published",
                                             index=True)
    review_comment: Mapped[str] = mapped_column(Text, default="", server_default="")
    submitted_by: Mapped[str] = mapped_column(String(64), default="", server_default="")
    submitted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)

    department: Mapped[Department] = relationship(lazy="joined")
    resources: Mapped[list[Resource]] = relationship(
        back_populates="dataset", order_by="Resource.position", lazy="selectin", cascade="all, delete-orphan"
    )


class Resource(Base):
    __tablename__ = "resource"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    dataset_id: Mapped[int] = mapped_column(ForeignKey("dataset.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    name: Mapped[str] = mapped_column(String(300))
    description: Mapped[str] = mapped_column(Text, default="")
    url: Mapped[str] = mapped_column(String(2000), default="")
    file_path: Mapped[str] = mapped_column(String(500), default="")
    format: Mapped[str] = mapped_column(String(20), default="")
    media_type: Mapped[str] = mapped_column(String(100), default="")
    size: Mapped[int | None] = mapped_column(Integer, nullable=True)
    sha256: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    modified_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    reachable: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    datastore_active: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    # The outcome of the newest datastore load of this resource when it withholds the resource: "blocked"
    # (personal data found) or "failed" (a load of the stored file itself failed); "" otherwise. Kept here (set by the datastore's loads) so the visibility
    # rule (``catalog/visibility.py``) reads it from the resource row itself, with no query per resource.
    load_state: Mapped[str] = mapped_column(String(12), default="", server_default="")

    dataset: Mapped[Dataset] = relationship(back_populates="resources")


class DatasetRevision(Base):
    """Change history: one row per create/update/delete with the changed fields (old, new)."""

    __tablename__ = "dataset_revision"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dataset_id: Mapped[int] = mapped_column(ForeignKey("dataset.id", ondelete="CASCADE"), index=True)
    ts: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(40))
    changes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class DataGrant(Base):
    """An approved application for the data of a conditionally open (有条件开放) dataset: the user may read its
    data until ``expires_at`` (none: no end). The sharing workflow fills this table; the visibility rule
    (``catalog/visibility.py``, ``has_data_grant``) only reads it."""

    __tablename__ = "data_grant"
    __table_args__ = (Index("ix_data_grant_dataset_user", "dataset_id", "user_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dataset_id: Mapped[int] = mapped_column(ForeignKey("dataset.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"), index=True)
    granted_by: Mapped[str] = mapped_column(String(64), default="")
    granted_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    note: Mapped[str] = mapped_column(Text, default="")


class OpenPlan(Base):
    """A department's yearly open-data plan (开放计划/清单)."""

    __tablename__ = "open_plan"
    __table_args__ = (UniqueConstraint("department_id", "year"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    department_id: Mapped[int] = mapped_column(ForeignKey("department.id"), index=True)
    year: Mapped[int] = mapped_column(Integer)
    published_on: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    note: Mapped[str] = mapped_column(Text, default="")

    department: Mapped[Department] = relationship(lazy="joined")
    items: Mapped[list[PlanItem]] = relationship(
        back_populates="plan", order_by="PlanItem.target_date", lazy="selectin", cascade="all, delete-orphan"
    )


class PlanItem(Base):
    __tablename__ = "plan_item"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("open_plan.id", ondelete="CASCADE"), index=True)
    title: Mapped[str] = mapped_column(String(300))
    dataset_id: Mapped[int | None] = mapped_column(ForeignKey("dataset.id", ondelete="SET NULL"), nullable=True)
    target_date: Mapped[dt.date] = mapped_column(Date)
    format: Mapped[str] = mapped_column(String(20), default="CSV")
    update_cycle: Mapped[str] = mapped_column(String(10), default="不定期")

    plan: Mapped[OpenPlan] = relationship(back_populates="items")
    dataset: Mapped[Dataset | None] = relationship(lazy="joined")


class UsageDaily(Base):
    """Views, downloads and API calls aggregated per dataset and day."""

    __tablename__ = "usage_daily"

    dataset_id: Mapped[int] = mapped_column(ForeignKey("dataset.id", ondelete="CASCADE"), primary_key=True)
    day: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    views: Mapped[int] = mapped_column(Integer, default=0)
    downloads: Mapped[int] = mapped_column(Integer, default=0)
    api_calls: Mapped[int] = mapped_column(Integer, default=0)

    __table_args__ = (Index("ix_usage_daily_day", "day"),)


class SearchDoc(Base):
    """Segmented text of a dataset for full-text search.

    On SQLite the text is also held in the FTS5 table ``search_fts`` (rowid = dataset id); on PostgreSQL in the
    weighted ``tsv`` column with a GIN index (both created by the migration)."""

    __tablename__ = "search_doc"

    dataset_id: Mapped[int] = mapped_column(ForeignKey("dataset.id", ondelete="CASCADE"), primary_key=True)
    title_tokens: Mapped[str] = mapped_column(Text)
    body_tokens: Mapped[str] = mapped_column(Text)
    public: Mapped[bool] = mapped_column(Boolean, default=True)
    private: Mapped[bool] = mapped_column(Boolean, default=False)
    published: Mapped[bool] = mapped_column(Boolean, default=True, server_default="1")
    department_id: Mapped[int] = mapped_column(Integer)
    modified_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    popularity: Mapped[int] = mapped_column(Integer, default=0)
    title: Mapped[str] = mapped_column(String(300), default="")

    __table_args__ = (
        Index("ix_search_doc_modified", "modified_at"),
        Index("ix_search_doc_popularity", "popularity"),
    )


class SearchFacet(Base):
    """One row per (dataset, facet field, value): multi-valued facets (tags, districts) included."""

    __tablename__ = "search_facet"

    dataset_id: Mapped[int] = mapped_column(ForeignKey("dataset.id", ondelete="CASCADE"), primary_key=True)
    field: Mapped[str] = mapped_column(String(20), primary_key=True)
    value: Mapped[str] = mapped_column(String(200), primary_key=True)

    __table_args__ = (Index("ix_search_facet_field_value", "field", "value", "dataset_id"),)
