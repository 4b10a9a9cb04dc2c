"""The local SQLite store: engine and sessions, migrations, backup and the full-text search index."""

from crm_desktop.store.db import Store, create_sqlite_engine, open_store

__all__ = ["Store", "create_sqlite_engine", "open_store"]
