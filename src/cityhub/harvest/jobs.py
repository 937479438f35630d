"""The harvester's background jobs: runs (one at a time per process, apart from datastore loads) and the
periodic start of the sources whose schedule is due."""

from __future__ import annotations

from typing import Any

from cityhub import actions, jobs
from cityhub.context import system_context
from cityhub.harvest.actions import harvester_context
from cityhub.settings import get_settings


def run_harvest_job(run_id: int) -> dict[str, Any]:
    result: dict[str, Any] = actions.call("harvest_job_run", harvester_context(), {"id": run_id})
    return result


def harvest_due() -> dict[str, Any]:
    """Start the harvest sources whose schedule is due."""
    result: dict[str, Any] = actions.call("harvest_due", system_context("job"), {})
    return result


jobs.pool("harvest", workers=1)
jobs.register("harvest_run", run_harvest_job, pool="harvest")
jobs.every("harvest_due", harvest_due, seconds=lambda: get_settings().harvest_check_minutes * 60)
