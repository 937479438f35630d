"""Reading grants and systems: what the exchange layer asks before it serves a system's (or a user's) query.

Deny by default: a system reads a resource only through a grant in force (not revoked, not expired) to that
system for that resource, and only within the grant's ``Scope``. Revocation and expiry take effect on the next
call (nothing is cached here). A deactivated system has no grants in force.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from cityhub.accounts.security import token_hash
from cityhub.db import utcnow
from cityhub.sharing.models import ShareGrant, SharingSystem
from cityhub.sharing.scope import Scope, make

SYSTEM_TOKEN_PREFIX = "sys_"  # noqa: S105 - the visible prefix of system secrets, not a secret


def system_by_token(db: Session, token: str) -> SharingSystem | None:
    """The active system whose secret this is (``None``: unknown, rotated away or deactivated)."""
    if not token.startswith(SYSTEM_TOKEN_PREFIX):
        return None
    system = db.scalar(select(SharingSystem).where(SharingSystem.token_hash == token_hash(token)))
    return system if system is not None and system.active else None


def grants_in_force(db: Session, *, resource_id: str, system_id: int | None = None, user_id: int | None = None,
                    now: dt.datetime | None = None) -> list[ShareGrant]:
    """The grants in force on ``resource_id`` to the system (or the user); oldest first."""
    if (system_id is None) == (user_id is None):
        raise ValueError("give exactly one of system_id and user_id")
    now = now or utcnow()
    q = select(ShareGrant).where(ShareGrant.resource_id == resource_id, ShareGrant.revoked_at.is_(None),
                                 ShareGrant.expires_at > now)
    if system_id is not None:
        active = select(SharingSystem.id).where(SharingSystem.id == system_id, SharingSystem.active.is_(True))
        q = q.where(ShareGrant.system_id == system_id, ShareGrant.system_id.in_(active))
    else:
        q = q.where(ShareGrant.user_id == user_id)
    return list(db.scalars(q.order_by(ShareGrant.id)))


def grant_scope(grant: ShareGrant) -> Scope:
    """The grant's scope as the pure ``Scope`` (columns, row filter, expiry)."""
    return make(grant.columns, grant.row_filter, grant.expires_at)
