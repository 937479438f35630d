"""Authorization rules of the harvest actions: the platform admin manages sources and runs; the page
import and run execution belong to the harvester's own context (jobs, the CLI's ``harvest run``)."""

from __future__ import annotations

from typing import Any

from cityhub.accounts.auth import require_admin
from cityhub.context import Context
from cityhub.errors import NotAuthorized

HARVEST_VIA = "harvest"


def require_harvester(ctx: Context) -> None:
    """Only the harvester's context (system actor, ``via='harvest'``) writes harvested datasets."""
    require_admin(ctx)
    if ctx.via != HARVEST_VIA:
        raise NotAuthorized("仅采集任务可执行此操作", "Only the harvester may do this")


def harvest_source_create(ctx: Context, p: Any) -> None:
    require_admin(ctx)


def harvest_source_update(ctx: Context, p: Any) -> None:
    require_admin(ctx)


def harvest_source_delete(ctx: Context, p: Any) -> None:
    require_admin(ctx)


def harvest_source_list(ctx: Context, p: Any) -> None:
    require_admin(ctx)


def harvest_source_show(ctx: Context, p: Any) -> None:
    require_admin(ctx)


def harvest_run(ctx: Context, p: Any) -> None:
    require_admin(ctx)


def harvest_run_list(ctx: Context, p: Any) -> None:
    require_admin(ctx)


def harvest_run_show(ctx: Context, p: Any) -> None:
    require_admin(ctx)


def harvest_due(ctx: Context, p: Any) -> None:
    require_admin(ctx)


def harvest_job_run(ctx: Context, p: Any) -> None:
    require_harvester(ctx)


def harvest_page_import(ctx: Context, p: Any) -> None:
    require_harvester(ctx)


def harvest_dataset_list(ctx: Context, p: Any) -> None:
    require_admin(ctx)
