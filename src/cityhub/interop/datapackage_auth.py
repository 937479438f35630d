"""Authorization rules of the Data Package actions (same names as the actions).

A package is the dataset's metadata *and* its data, so it is visible exactly when both are: the dataset is
readable by the caller (``dataset_show``'s rule: not private, not closed to the public) and already opened (its
publication date has come — the datastore's rule for the tables). Stewards of the owning department see their
own datasets always. Anyone else gets "not found", so private datasets do not reveal that they exist.
"""

from __future__ import annotations

from typing import Any

from cityhub.catalog.auth import can_read, find_dataset
from cityhub.catalog.models import Dataset
from cityhub.context import Context
from cityhub.db import utcnow
from cityhub.errors import NotFound


def visible(ctx: Context, ds: Dataset) -> bool:
    """Readable by the caller and opened (or the caller manages it)."""
    if ctx.actor is not None and ctx.actor.manages(ds.department_id):
        return True
    if not can_read(ctx, ds):
        return False
    return ds.published_on is None or ds.published_on <= utcnow().date()


def _require_visible(ctx: Context, ref: str) -> None:
    ds = find_dataset(ctx, ref)
    if not visible(ctx, ds):
        raise NotFound(f"未找到数据资源 {ref}", f"Dataset not found: {ref}")


def dataset_datapackage(ctx: Context, p: Any) -> None:
    _require_visible(ctx, p.id)


def dataset_datapackage_zip(ctx: Context, p: Any) -> None:
    _require_visible(ctx, p.id)
