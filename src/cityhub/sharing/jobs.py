"""The sharing domain's periodic job: escalate requests past their deadline to the city data office and mark
answered requests whose grants have all expired (``share_request_escalate``), once an hour."""

from __future__ import annotations

from typing import Any

from cityhub import actions, jobs
from cityhub.context import system_context

ESCALATE_SECONDS = 3600.0


def escalate_overdue() -> dict[str, Any]:
    result: dict[str, Any] = actions.call("share_request_escalate", system_context("job"), {})
    return result


jobs.every("share_request_escalate", escalate_overdue, seconds=ESCALATE_SECONDS)
