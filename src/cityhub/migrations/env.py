"""Alembic environment: runs migrations against the configured URL."""

from __future__ import annotations

from alembic import context

from cityhub import audit  # noqa: F401 - registers tables
from cityhub.accounts import models as _accounts  # noqa: F401
from cityhub.catalog import models as _catalog  # noqa: F401
from cityhub.datastore import models as _datastore  # noqa: F401
from cityhub.db import Base, make_engine
from cityhub.engage import datareq_models as _datareq  # noqa: F401
from cityhub.engage import discuss_models as _discuss  # noqa: F401
from cityhub.engage import reuse_models as _reuse  # noqa: F401
from cityhub.harvest import models as _harvest  # noqa: F401
from cityhub.indicators import models as _indicators  # noqa: F401
from cityhub.sensing import models as _sensing  # noqa: F401
from cityhub.sharing import deid_models as _sharing_deid  # noqa: F401
from cityhub.sharing import exchange_models as _exchange  # noqa: F401
from cityhub.sharing import models as _sharing  # noqa: F401
from cityhub.social import models as _social  # noqa: F401

config = context.config


def include_object(obj: object, name: str | None, type_: str, reflected: bool, compare_to: object) -> bool:
    """Tables the ORM does not own (the FTS5 index and its shadow tables) are left alone."""
    return not (type_ == "table" and name is not None and name.startswith("search_fts"))

target_metadata = Base.metadata


def run_migrations_offline() -> None:
    context.configure(url=config.get_main_option("sqlalchemy.url"), target_metadata=target_metadata,
                      literal_binds=True, render_as_batch=True,
                      include_object=include_object)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    url = config.get_main_option("sqlalchemy.url") or ""
    engine = make_engine(url)
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True,
                          include_object=include_object)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
