"""Inputs of the exchange actions (``exchange_actions``)."""

from __future__ import annotations

from pydantic import Field

from cityhub.datastore.schemas import SearchIn, Strict

MONTH = r"^\d{4}-(0[1-9]|1[0-2])$"
#: where the web route hands the caller's credentials to the exchange actions (``Context.extra`` keys): the
#: ``X-Road-Client`` header and the Bearer token, never part of the action's input
CLIENT = "exchange_client"
TOKEN = "exchange_token"  # noqa: S105 - a dict key, not a secret


class ExchangeSearchIn(SearchIn):
    """``datastore_search`` through the exchange: the same parameters, and optionally which grant to use."""

    grant_id: int | None = Field(None, ge=1, description="the grant to read under (default: the newest in force)")


class ExchangeSqlIn(Strict):
    """``datastore_search_sql`` through the exchange: one SELECT over the granted resource (its id as table name)."""

    resource_id: str = Field(min_length=1, max_length=36)
    sql: str = Field(min_length=1, max_length=20000)
    row_cap: int = Field(10000, ge=1, le=100000)
    grant_id: int | None = Field(None, ge=1)


class ExchangeUsageIn(Strict):
    """Usage report: months ``YYYY-MM`` (Asia/Shanghai) from/to (inclusive), optionally one department's calls (as
    consumer or provider) or one grant's."""

    month_from: str | None = Field(None, pattern=MONTH)
    month_to: str | None = Field(None, pattern=MONTH)
    department_id: int | None = Field(None, ge=1)
    grant_id: int | None = Field(None, ge=1)


class Empty(Strict):
    pass
