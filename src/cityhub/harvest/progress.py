"""How far a harvest run has got, for the status page's percentage: the engine reports (done, total, stage) as
it gathers and imports; the last report of each run is kept here, in the process that runs the job (the web
process runs the harvest jobs; a run started elsewhere shows its status without a percentage until it ends)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

_LOCK = threading.Lock()
_RUNS: dict[int, tuple[int, int, str]] = {}
_KEEP = 200  # the last reports of this many runs
GATHER_SHARE = 20  # percent of the bar for gathering (its total is often unknown); the rest is the import


def tracker(run_id: int, then: Callable[[int, int, str], Any] | None = None) -> Callable[[int, int, str], None]:
    """A progress callback for the engine that remembers the run's last report (and calls ``then``)."""

    def report(done: int, total: int, stage: str) -> None:
        with _LOCK:
            _RUNS[run_id] = (done, total, stage)
            while len(_RUNS) > _KEEP:
                _RUNS.pop(next(iter(_RUNS)))
        if then is not None:
            then(done, total, stage)

    return report


def of(run_id: int, status: str) -> dict[str, Any]:
    """``{"percent": 0-100 or None, "stage", "done", "total"}`` for a run in ``status``."""
    if status == "queued":
        return {"percent": 0, "stage": "queued", "done": 0, "total": 0}
    if status != "running":
        return {"percent": 100, "stage": "finished", "done": 0, "total": 0}
    with _LOCK:
        last = _RUNS.get(run_id)
    if last is None:
        return {"percent": None, "stage": "running", "done": 0, "total": 0}
    done, total, stage = last
    if stage == "gather":
        share = GATHER_SHARE * done / total if total else 0
        return {"percent": int(min(share, GATHER_SHARE)), "stage": stage, "done": done, "total": total}
    share = GATHER_SHARE + (100 - GATHER_SHARE) * (done / total if total else 1)
    return {"percent": int(min(share, 99)), "stage": stage, "done": done, "total": total}
