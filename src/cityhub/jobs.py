"""Background jobs: plain functions that call actions, run by the web process or the CLI."""

from __future__ import annotations

from typing import Any

from cityhub import actions
from cityhub.context import system_context


def flush_usage() -> dict[str, Any]:
    result: dict[str, Any] = actions.call("usage_flush", system_context("job"), {})
    return result
