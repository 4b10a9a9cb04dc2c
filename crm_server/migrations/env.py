"""Alembic environment of the head-office database (run by :mod:`crm_server.migrate`).

Targets the shared business tables and the server's own tables together.
"""

from __future__ import annotations

from typing import Any

from alembic import context
from sqlalchemy import engine_from_config, pool

from crm_server.db import ALL_METADATA, normalize_url

config = context.config


def run_migrations(connection: Any) -> None:
    context.configure(
        connection=connection,
        target_metadata=list(ALL_METADATA),
        render_as_batch=True,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is not None:
    run_migrations(connection)
else:
    section = dict(config.get_section(config.config_ini_section) or {})
    section["sqlalchemy.url"] = normalize_url(section["sqlalchemy.url"])
    engine = engine_from_config(section, prefix="sqlalchemy.", poolclass=pool.NullPool)
    with engine.begin() as conn:
        run_migrations(conn)
