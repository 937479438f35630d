"""Actions on the audit log's Merkle tree (``cityhub.audit``): verify the whole log, inclusion and consistency
proofs, signed tree heads (show, issue); and the periodic job that issues a signed tree head when the log grew.
Platform admins and auditors read; issuing on demand is the admins'."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from cityhub import audit, audit_auth, jobs
from cityhub.actions import action
from cityhub.context import Context
from cityhub.errors import NotFound, ValidationError
from cityhub.settings import get_settings

AUDITORS: frozenset[str] = frozenset(audit_auth.AUDIT_READERS)

jobs.every("audit_sth", audit.issue_periodic_sth, seconds=lambda: get_settings().audit_sth_minutes * 60)


class Empty(BaseModel):
    model_config = ConfigDict(extra="forbid")


class VerifyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    sth: dict[str, Any] | None = Field(None, description="a signed tree head saved earlier (as exported): the log "
                                       "must still hold that tree, unchanged, at its size")


class ProofIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    seq: int = Field(ge=1, description="the audit record's sequence number")
    since_size: int | None = Field(None, ge=0, description="also prove that the tree of this size (a tree head "
                                   "you hold) is a prefix of the latest one (consistency proof)")


def _saved(p: VerifyIn) -> audit.TreeHead | None:
    if p.sth is None:
        return None
    try:
        return audit.TreeHead.from_dict(p.sth)
    except ValueError as exc:
        raise ValidationError("不是有效的签名树头", "Not a signed tree head", fields={"sth": [str(exc)]}) from None


@action(audit_auth.audit_verify, schema=VerifyIn, roles=AUDITORS)
def audit_verify(ctx: Context, p: VerifyIn) -> dict[str, Any]:
    """Check the whole audit log: every record's leaf hash and MAC, the tree against the database's head, every
    stored signed tree head, the signed head kept outside the database and, when given, a tree head saved
    elsewhere (records cut from the end are found against it). Names the first bad record."""
    saved = _saved(p)
    result = audit.verify(ctx.db, ctx.extra.get("progress"), saved)
    return {"ok": result.ok, "count": result.count, "head": result.head_hash, "bad_seq": result.bad_seq,
            "reason": result.reason, "signed_head_seq": result.signed_head_seq,
            "heads_checked": result.heads_checked}


def _latest(ctx: Context, at_least: int = 0) -> audit.TreeHead:
    head = audit.latest_sth(ctx.db)
    if head is None or head.tree_size < at_least:
        head = audit.issue_sth(ctx.db, "on demand")
        assert head is not None
    return head


def _sth_dict(head: audit.TreeHead) -> dict[str, Any]:
    return {**head.as_dict(), "public_key": audit.public_key_pem()}


@action(audit_auth.audit_proof, schema=ProofIn, roles=AUDITORS, target=lambda p, r: str(p.seq))
def audit_proof(ctx: Context, p: ProofIn) -> dict[str, Any]:
    """The inclusion proof of audit record ``seq`` against the latest signed tree head (one is issued when the
    record is newer than it), with the record's leaf data; with ``since_size``, also the consistency proof from
    that size to the latest head."""
    size, _ = audit.current_head(ctx.db)
    if p.seq > size:
        raise NotFound(f"审计记录 #{p.seq} 不存在", f"No audit record #{p.seq}")
    head = _latest(ctx, p.seq)
    try:
        proof = audit.inclusion_proof(ctx.db, p.seq, head.tree_size)
    except LookupError as exc:
        raise NotFound(f"审计记录 #{p.seq} 无法证明:{exc}", f"Audit record #{p.seq} cannot be proven: {exc}") from None
    out: dict[str, Any] = {"sth": _sth_dict(head), "inclusion": proof}
    if p.since_size is not None:
        if p.since_size > head.tree_size:
            raise ValidationError("since_size 大于最新树头", "since_size is larger than the latest tree head",
                                  fields={"since_size": [f"at most {head.tree_size}"]})
        out["consistency"] = {"from_size": p.since_size, "to_size": head.tree_size,
                              "proof": audit.consistency_proof(ctx.db, p.since_size, head.tree_size)}
    return out


@action(audit_auth.audit_sth_show, schema=Empty, roles=AUDITORS)
def audit_sth_show(ctx: Context, p: Empty) -> dict[str, Any]:
    """The latest signed tree head (one is issued if none was yet), with the public key that checks it."""
    return _sth_dict(_latest(ctx))


@action(audit_auth.audit_sth_issue, schema=Empty, roles=frozenset({"platform_admin"}))
def audit_sth_issue(ctx: Context, p: Empty) -> dict[str, Any]:
    """Issue and store a signed tree head of the log now. Not itself audited: the head is a signed record of
    its own, and auditing it would grow the tree past the head just issued."""
    head = audit.issue_sth(ctx.db, "on demand")
    assert head is not None
    return _sth_dict(head)
