"""The data requests' periodic job: escalate requests past their answer deadline (``data_request_escalate``),
once an hour."""

from __future__ import annotations

from typing import Any

from cityhub import actions, jobs
from cityhub.context import system_context

ESCALATE_SECONDS = 3600.0


def escalate_overdue() -> dict[str, Any]:
    result: dict[str, Any] = actions.call("data_request_escalate", system_context("job"), {})
    return result


jobs.every("data_request_escalate", escalate_overdue, seconds=ESCALATE_SECONDS)
