"""The sensing hub's background jobs: rule timers (no data, durations), the time-series buffer's flush, webhook
deliveries (a fair pool keyed by webhook, one delivery at a time per webhook, so a dead endpoint holds one worker
at most), the compaction of the store's small files and the daily retention/downsampling pass."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update

from cityhub import actions, jobs
from cityhub.context import system_context
from cityhub.db import session_scope
from cityhub.sensing import notify
from cityhub.sensing.ingest import get_ingestor
from cityhub.sensing.models import WebhookDelivery
from cityhub.settings import get_settings


def sensing_tick() -> dict[str, Any]:
    return get_ingestor().tick().as_dict()


def sensing_flush() -> None:
    store = get_ingestor()._store
    if store is not None:
        store.flush_if_due()


def sensing_compact() -> dict[str, Any]:
    """Merge the small Parquet files of the time-series store (the Parquet backend; nothing for PostgreSQL)."""
    if get_settings().sensing_compact_seconds <= 0:
        return {}
    compact = getattr(get_ingestor().store, "compact", None)
    result: dict[str, Any] = compact() if callable(compact) else {}
    return result


def deliver(delivery_id: int) -> str:
    return notify.deliver(delivery_id, get_settings().sensing_webhook_timeout_seconds)


def sensing_webhooks() -> int:
    claimed = notify.claim_due()
    for delivery_id, webhook_id in claimed:
        jobs.submit("sensing_webhook_deliver", delivery_id, key=str(webhook_id), serial=f"webhook-{webhook_id}")
    return len(claimed)


def sensing_webhooks_recover() -> int:
    """Deliveries a stopped process had claimed go back to the queue."""
    with session_scope() as s:
        ids = list(s.scalars(select(WebhookDelivery.id).where(WebhookDelivery.status == "sending")))
        if ids:
            s.execute(update(WebhookDelivery).where(WebhookDelivery.id.in_(ids)).values(status="pending"))
    return len(ids)


def sensing_retention() -> dict[str, Any]:
    result: dict[str, Any] = actions.call("sensing_retain", system_context("job"), {})
    return result


def sensing_aqi_publish() -> dict[str, Any]:
    result: dict[str, Any] = actions.call("sensing_aqi_publish", system_context("job"), {})
    return result


jobs.pool("sensing_webhook", workers=4, fair=True)
jobs.register("sensing_webhook_deliver", deliver, pool="sensing_webhook")
jobs.every("sensing_webhooks", sensing_webhooks, seconds=1)
jobs.every("sensing_tick", sensing_tick, seconds=30)
jobs.every("sensing_flush", sensing_flush, seconds=1, at_exit=True)
jobs.every("sensing_compact", sensing_compact, seconds=lambda: get_settings().sensing_compact_seconds)  # 0: never
jobs.every("sensing_retention", sensing_retention, seconds=24 * 3600)
jobs.every("sensing_aqi_publish", sensing_aqi_publish, seconds=3600)
jobs.at_startup("sensing_webhooks_recover", sensing_webhooks_recover)
