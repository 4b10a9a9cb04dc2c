"""Alembic environment for the desktop store (run by crm_desktop.store.migrate)."""

from __future__ import annotations

from typing import Any

from alembic import context
from sqlalchemy import engine_from_config, pool

import crm_desktop.models as models
from crm_desktop.store.search import SEARCH_TABLES, SEARCH_VIRTUAL_TABLES
from crm_desktop.sync.tables import sync_metadata

config = context.config
# The shared entities plus the client-only sync tables (kept off models.Base, which the server
# migrates too).
target_metadata = [models.Base.metadata, sync_metadata]


def include_object(
    obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any
) -> bool:
    # The full-text tables are made by hand in migrations; autogenerate must not drop them,
    # nor the shadow tables FTS5 makes for each virtual table (search_fts_data, ...).
    return not (
        type_ == "table"
        and name is not None
        and (name in SEARCH_TABLES or name.startswith(SEARCH_VIRTUAL_TABLES))
    )


def run_migrations(connection: Any) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=True,
        compare_type=True,
        include_object=include_object,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is not None:
    run_migrations(connection)
else:
    engine = engine_from_config(
        config.get_section(config.config_ini_section) or {},
        prefix="sqlalchemy.",
        poolclass=pool.NullPool,
    )
    with engine.begin() as conn:
        run_migrations(conn)
