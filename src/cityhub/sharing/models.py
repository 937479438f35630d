"""Sharing tables (issue 12): consuming departments' registered systems, share requests with their history,
and the grants an approval creates.

* ``sharing_system`` -- a consuming department's system, as an X-Road subsystem: the department plus a code
  unique within it (``GZ-GA/population-check``). It authenticates with a secret shown once and stored only as
  its SHA-256 (as API tokens are).
* ``share_request`` -- an application: ``kind='share'`` (a department's system asks for 有条件共享 data) or
  ``kind='open'`` (a public user applies for 有条件开放 data). The provider answers within 10 Chinese working
  days (``deadline``, from ``sharing/workdays.py``); an overdue request is escalated to the city data office.
* ``share_request_event`` -- every step of a request (who, when, what, note): both sides and the data office
  read the same history.
* ``share_grant`` -- what an approval allows: one resource, to one system (share) or one user (open), with its
  scope (columns, row filter, expiry). Deny by default: no grant row, no data. An open grant also holds the
  ``data_grant`` row the portal's visibility rule reads (``catalog/visibility.py``).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, Boolean, Date, ForeignKey, Index, Integer, String, Text, UniqueConstraint, func
from sqlalchemy.orm import Mapped, mapped_column

from cityhub.db import Base, UTCDateTime, utcnow

KINDS = ("share", "open")
#: request states; ``submitted`` is the only open one (waiting for the provider)
SUBMITTED, APPROVED, NARROWED, REFUSED, WITHDRAWN, EXPIRED = (
    "submitted", "approved", "narrowed", "refused", "withdrawn", "expired")
STATUSES = (SUBMITTED, APPROVED, NARROWED, REFUSED, WITHDRAWN, EXPIRED)
#: what a history event records
EVENTS = ("submitted", "approved", "narrowed", "refused", "withdrawn", "expired", "escalated", "revoked")


class SharingSystem(Base):
    """A consuming department's registered system (an X-Road subsystem): grants are given to it."""

    __tablename__ = "sharing_system"
    __table_args__ = (UniqueConstraint("department_id", "code"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    department_id: Mapped[int] = mapped_column(ForeignKey("department.id"), index=True)
    code: Mapped[str] = mapped_column(String(100))
    name: Mapped[str] = mapped_column(String(200))
    # the secret is shown once; only its SHA-256 is stored (``accounts.security.token_hash``)
    token_prefix: Mapped[str] = mapped_column(String(16), default="")
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_by: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    token_rotated_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    deactivated_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class ShareRequest(Base):
    """An application for conditionally shared (``share``) or conditionally open (``open``) data."""

    __tablename__ = "share_request"
    __table_args__ = (Index("ix_share_request_status_deadline", "status", "deadline"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(8))
    dataset_id: Mapped[int] = mapped_column(ForeignKey("dataset.id", ondelete="CASCADE"), index=True)
    # none: every resource of the dataset (as it is when the request is approved)
    resource_id: Mapped[str | None] = mapped_column(String(36), ForeignKey("resource.id", ondelete="CASCADE"),
                                                    nullable=True)
    # the department that holds the data and decides (the dataset's, when the request was filed)
    provider_department_id: Mapped[int] = mapped_column(ForeignKey("department.id"), index=True)
    # share: the requesting department and the system that will use the data; open: null
    department_id: Mapped[int | None] = mapped_column(ForeignKey("department.id"), nullable=True, index=True)
    system_id: Mapped[int | None] = mapped_column(ForeignKey("sharing_system.id"), nullable=True)
    # who filed it (share: a user of the requesting department; open: the applicant)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id", ondelete="SET NULL"), nullable=True,
                                                index=True)
    purpose: Mapped[str] = mapped_column(Text)
    legal_basis: Mapped[str] = mapped_column(Text, default="")
    # the columns wanted (null: all)
    columns: Mapped[list[str] | None] = mapped_column(JSON, nullable=True)
    # rows wanted, as datastore filters ({"district": ["440106"]}; null: all rows)
    row_scope: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    duration_days: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(12), default=SUBMITTED, index=True)
    # the provider's answer is due on this date (Asia/Shanghai), 10 working days after filing
    deadline: Mapped[dt.date] = mapped_column(Date)
    # the deadline runs into a year whose holiday schedule is not loaded yet
    deadline_provisional: Mapped[bool] = mapped_column(Boolean, default=False)
    escalated_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    decided_by: Mapped[str] = mapped_column(String(64), default="")
    decided_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # why it was refused or narrowed (required for a refusal)
    reason: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)


def _pending(kind: str) -> Any:
    return (ShareRequest.status == SUBMITTED) & (ShareRequest.kind == kind)


# at most one pending request per (dataset, resource, consumer system) and per (dataset, resource, applicant), in
# the database (partial unique indexes, migration 0020): two submissions at once cannot both land; ``coalesce``
# because a request for the whole dataset has no resource and NULLs never collide in a unique index
Index("uq_share_request_pending_system", ShareRequest.dataset_id, func.coalesce(ShareRequest.resource_id, ""),
      ShareRequest.system_id, unique=True, sqlite_where=_pending("share"), postgresql_where=_pending("share"))
Index("uq_share_request_pending_user", ShareRequest.dataset_id, func.coalesce(ShareRequest.resource_id, ""),
      ShareRequest.user_id, unique=True, sqlite_where=_pending("open"), postgresql_where=_pending("open"))
PENDING_INDEXES = ("uq_share_request_pending_system", "uq_share_request_pending_user")


class ShareRequestEvent(Base):
    """One step in a request's history."""

    __tablename__ = "share_request_event"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("share_request.id", ondelete="CASCADE"), index=True)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    actor: Mapped[str] = mapped_column(String(64), default="")
    event: Mapped[str] = mapped_column(String(12))
    note: Mapped[str] = mapped_column(Text, default="")
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class ShareGrant(Base):
    """What an approval allows on one resource: to a system (share) or a user (open), within its scope.

    ``columns`` null: every column; ``row_filter`` null: every row (else datastore filters, all must hold);
    ``allow_personal``: personal-data columns may be read undisguised (a stated purpose is on the request).
    A grant is in force while ``revoked_at`` is null and ``expires_at`` is in the future.
    """

    __tablename__ = "share_grant"
    __table_args__ = (
        Index("ix_share_grant_system_resource", "system_id", "resource_id"),
        Index("ix_share_grant_user_resource", "user_id", "resource_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("share_request.id", ondelete="CASCADE"), index=True)
    dataset_id: Mapped[int] = mapped_column(ForeignKey("dataset.id", ondelete="CASCADE"), index=True)
    resource_id: Mapped[str] = mapped_column(String(36), ForeignKey("resource.id", ondelete="CASCADE"))
    system_id: Mapped[int | None] = mapped_column(ForeignKey("sharing_system.id"), nullable=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"), nullable=True)
    columns: Mapped[list[str] | None] = mapped_column(JSON, nullable=True)
    row_filter: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    allow_personal: Mapped[bool] = mapped_column(Boolean, default=False)
    purpose: Mapped[str] = mapped_column(Text, default="")
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), index=True)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    revoked_by: Mapped[str] = mapped_column(String(64), default="")
    # open grants: the portal's ``data_grant`` row this grant keeps alive (deleted on revocation)
    data_grant_id: Mapped[int | None] = mapped_column(ForeignKey("data_grant.id", ondelete="SET NULL"),
                                                      nullable=True)
    created_by: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)

    def in_force(self, now: dt.datetime) -> bool:
        return self.revoked_at is None and self.expires_at > now
