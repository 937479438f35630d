"""The notification e-mail job: every ``CITYHUB_NOTIFICATION_EMAIL_SECONDS`` the web process sends the pending
notification e-mails (``notification_email_send``); a failed send stays pending and is retried on the next round,
up to ``CITYHUB_SMTP_MAX_ATTEMPTS`` tries. Nothing runs while ``CITYHUB_SMTP_HOST`` is empty (the default)."""

from __future__ import annotations

from typing import Any

from cityhub import actions, jobs
from cityhub.context import system_context
from cityhub.settings import get_settings


def send_pending() -> dict[str, Any]:
    result: dict[str, Any] = actions.call("notification_email_send", system_context("job"), {})
    return result


def _interval() -> float:
    settings = get_settings()
    return settings.notification_email_seconds if settings.smtp_host else 0.0


jobs.every("notification_email_send", send_pending, seconds=_interval)
