"""The catalog's periodic job: usage counters kept in memory per process are written every 10 s (and once
more when the process stops), so page views never write to the database on the request path."""

from __future__ import annotations

from typing import Any

from cityhub import actions, jobs
from cityhub.context import system_context

USAGE_FLUSH_SECONDS = 10.0


def flush_usage() -> dict[str, Any]:
    result: dict[str, Any] = actions.call("usage_flush", system_context("job"), {})
    return result


jobs.every("usage_flush", flush_usage, seconds=USAGE_FLUSH_SECONDS, at_exit=True)
