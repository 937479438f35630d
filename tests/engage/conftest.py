"""Factories of the discussion and reuse tests: fresh public accounts (each its own client address, so the
per-account and per-address limits of one test never touch another's) and calls as them."""

from __future__ import annotations

import itertools
from typing import Any

from tests.conftest import actor_ctx, unique

_addresses = itertools.count(1)


def new_address() -> str:
    n = next(_addresses)
    return f"10.{(n >> 16) & 255}.{(n >> 8) & 255}.{n & 255}"


def new_user(role: str = "public", department: str | None = None) -> str:
    from cityhub import actions
    from cityhub.context import system_context

    name = unique("u").replace("-", "_")
    data: dict[str, Any] = {"name": name, "password": "Correct-horse-battery-9", "role": role}
    if department:
        data["department"] = department
    actions.call("user_create", system_context("test"), data)
    return name


def call_from(name: str | None, action: str, data: Any = None, source: str | None = None) -> Any:
    """Call ``action`` as ``name`` from ``source`` (a fresh address unless given)."""
    from cityhub import actions

    return actions.call(action, actor_ctx(name, source=source or new_address()), data)
