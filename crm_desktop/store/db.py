"""Engine and session factory for a profile's SQLite store.

Threading contract: an :class:`Store` may be shared between threads; each thread opens its own
sessions from :attr:`Store.sessions`. Sessions never outlive one unit of work. The caller
owns the transaction (``with store.sessions.begin() as session: ...``); services never commit.
"""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

from crm_desktop.store import search
from crm_desktop.sync import outbox


def _on_connect(dbapi_connection: sqlite3.Connection, _record: Any) -> None:
    # Let SQLAlchemy, not the sqlite3 module, decide where transactions begin: the module's
    # legacy implicit BEGIN breaks SAVEPOINTs and runs PRAGMAs inside transactions.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    # NORMAL is durable across application crashes in WAL mode; only an OS crash can lose
    # the last transactions, which the next sync re-sends from the server anyway.
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.execute("PRAGMA cache_size=-32000")
    cursor.execute("PRAGMA temp_store=MEMORY")
    cursor.close()


#: Execution option marking a connection whose transactions will write.
WRITE_OPTION = "crm_write"


def begin_transaction(connection: Any) -> None:
    """``begin`` event handler: BEGIN IMMEDIATE on connections marked with :data:`WRITE_OPTION`."""
    # A write unit of work takes SQLite's write lock at BEGIN (IMMEDIATE). A deferred
    # transaction that reads and then writes fails at once with SQLITE_BUSY_SNAPSHOT when another
    # connection (the sync worker applying a page) committed in between, and busy_timeout cannot
    # help; an IMMEDIATE one simply waits its turn. Reads stay deferred so they never block.
    immediate = connection.get_execution_options().get(WRITE_OPTION, False)
    connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def create_sqlite_engine(path: Path | str) -> Engine:
    """An engine on the SQLite file at ``path`` with WAL and foreign keys on."""
    engine = create_engine(f"sqlite:///{path}", future=True)
    event.listen(engine, "connect", _on_connect)
    event.listen(engine, "begin", begin_transaction)
    return engine


class StoreSessions(sessionmaker[Session]):
    """The store's session factory.

    ``sessions()`` gives a session for reading (deferred BEGIN, never blocks on writers);
    ``sessions.begin()`` is a write unit of work that commits at the end and takes the write lock
    at its first statement, so a read-then-write save waits for a concurrent sync page instead
    of failing with "database is locked".
    """

    def __init__(self, engine: Engine) -> None:
        super().__init__(engine, expire_on_commit=False)
        self.write_engine = engine.execution_options(**{WRITE_OPTION: True})

    def begin(self) -> contextlib.AbstractContextManager[Session]:
        """A new session in a write transaction that commits (or rolls back) on exit."""
        return self(bind=self.write_engine)._maker_context_manager()


class Store:
    """A profile's database: its engine and a session factory that keeps the search index current."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.engine = create_sqlite_engine(self.path)
        self.sessions = StoreSessions(self.engine)
        search.install(self.sessions)
        # Every ORM write also lands in the sync outbox, in the same transaction.
        outbox.install(self.sessions)

    def dispose(self) -> None:
        """Close every pooled connection (before deleting or replacing the file)."""
        self.engine.dispose()


def open_store(path: Path | str, *, migrate: bool = True, backup_dir: Path | None = None) -> Store:
    """Open the store at ``path``, bringing its schema to the newest revision first.

    A copy of an existing file is taken into ``backup_dir`` before any upgrade.
    """
    from crm_desktop.store.migrate import upgrade

    if migrate:
        upgrade(Path(path), backup_dir=backup_dir)
    return Store(path)
