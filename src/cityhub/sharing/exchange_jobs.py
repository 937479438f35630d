"""The exchange's periodic job: metered calls kept in memory per process are written every second (and once more
when the process stops), so an exchange call never waits for a database write."""

from __future__ import annotations

from cityhub import jobs
from cityhub.sharing.exchange_actions import flush_pending

EXCHANGE_FLUSH_SECONDS = 1.0


def flush_exchange_calls() -> int:
    return flush_pending()


jobs.every("exchange_call_flush", flush_exchange_calls, seconds=EXCHANGE_FLUSH_SECONDS, at_exit=True)
