"""Database engine, sessions and the declarative base shared by every domain's models."""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import DateTime, Engine, MetaData, create_engine, event
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.types import TypeDecorator

from cityhub.settings import get_settings

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[dt.datetime]):
    """A timezone-aware UTC datetime on every engine (SQLite stores naive values)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(dt.UTC)

    def process_result_value(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


# China has one time zone and no daylight saving: the platform's days (publication dates, usage days, deadlines)
SH = dt.timezone(dt.timedelta(hours=8), "Asia/Shanghai")


def today_local() -> dt.date:
    """Today in Beijing time: the day publication dates, usage counts and plans are written in."""
    return utcnow().astimezone(SH).date()


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    # take transaction control from pysqlite so BEGIN can be IMMEDIATE for writers (see _sqlite_begin)
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.execute("PRAGMA cache_size=-65536")
    cur.close()


IMMEDIATE = "cityhub_immediate"


def _sqlite_begin(conn: Any) -> None:
    """Writers take SQLite's write lock when they begin (waiting on busy_timeout), so a transaction never
    has to upgrade a read snapshot to a write lock, which fails at once under concurrent writers."""
    conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get(IMMEDIATE) else "BEGIN")


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
    else:
        engine = create_engine(url, pool_size=20, max_overflow=20, pool_pre_ping=True)
    return engine


@functools.cache
def get_engine() -> Engine:
    settings = get_settings()
    settings.home.mkdir(parents=True, exist_ok=True)
    return make_engine(settings.resolved_database_url)


@functools.cache
def session_factory() -> sessionmaker[Session]:
    return sessionmaker(bind=get_engine(), expire_on_commit=False)


@contextmanager
def session_scope() -> Iterator[Session]:
    """A session that commits on success and rolls back on error."""
    session = session_factory()()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def reset_caches() -> None:
    """Forget the engine and session factory (tests switch databases)."""
    if get_engine.cache_info().currsize:
        get_engine().dispose()
    get_engine.cache_clear()
    session_factory.cache_clear()


def is_locked_error(exc: BaseException) -> bool:
    """SQLite's "database is locked" (a concurrent writer won): the whole transaction can be retried."""
    return "database is locked" in str(exc) or "database table is locked" in str(exc)


def is_postgres(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"
