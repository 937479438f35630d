"""Authorization of the data office's console (issue 15): platform admins only. Deny by default."""

from __future__ import annotations

from typing import Any

from cityhub.accounts.auth import require_admin
from cityhub.context import Context


def office_overview(ctx: Context, p: Any) -> None:
    require_admin(ctx)
