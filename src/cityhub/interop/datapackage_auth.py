"""Authorization rules of the Data Package actions (same names as the actions).

A package is the dataset's metadata *and* its data, so it follows the visibility rule for data
(``catalog.visibility.require_data``): a dataset the caller may not see is "not found" (its existence does not
leak), one not yet opened (publication date to come) is not found either, a conditionally open one needs an
approved application. Resources withheld by a failed or blocked load are left out of the package
(``datapackage_actions.entries``). Stewards of the owning department and platform admins get everything.
"""

from __future__ import annotations

from typing import Any

from cityhub.catalog import visibility
from cityhub.catalog.auth import find_dataset
from cityhub.context import Context


def _require_data(ctx: Context, ref: str) -> None:
    ds = find_dataset(ctx, ref)
    if not visibility.can_see(ctx.actor, ds):
        raise visibility.not_found(ref)
    visibility.require_data(ctx, ds)


def dataset_datapackage(ctx: Context, p: Any) -> None:
    _require_data(ctx, p.id)


def dataset_datapackage_zip(ctx: Context, p: Any) -> None:
    _require_data(ctx, p.id)
