"""Database access for the server: the engine factory and the server's own tables.

The business tables are the shared entities (``crm_desktop.models.Base.metadata``); the tables
here hold what only the head office needs: credentials, devices with token hashes and their
last applied mutation number, the login throttle, the sync bookkeeping (commit-ordered sequence
counter, per-record sequence/scope/field clocks, scope exits), the conflict log and the recent
mutations per device (stamp and outcome, so a resent number is answered by what became of it).

Transaction contract: callers open one transaction per request with :func:`write_transaction`
or :func:`read_transaction`; nothing in this package commits on its own.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Connection,
    Engine,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    Uuid,
    create_engine,
    event,
    false,
)
from sqlalchemy.engine import make_url

from crm_desktop.models import Base
from crm_desktop.models.base import NAMING_CONVENTION, UTCDateTime

#: The server-only tables; Alembic manages them together with ``Base.metadata``.
server_metadata = MetaData(naming_convention=NAMING_CONVENTION)

_user_id = Base.metadata.tables["user"].c.id
# SQLite only auto-increments an "INTEGER PRIMARY KEY"; PostgreSQL gets a real bigint identity.
_BigId = BigInteger().with_variant(Integer(), "sqlite")

credential = Table(
    "srv_credential",
    server_metadata,
    Column("user_id", Uuid, ForeignKey(_user_id), primary_key=True),
    Column("password_hash", String(200), nullable=False),
    Column("changed_at", UTCDateTime, nullable=False),
)

device = Table(
    "srv_device",
    server_metadata,
    Column("id", Uuid, primary_key=True),
    Column("user_id", Uuid, ForeignKey(_user_id), nullable=False, index=True),
    Column("name", String(200), nullable=False, default=""),
    # sha256 hex of the bearer token; NULL once signed out. Kept after revocation so the
    # revoked device can be told to wipe itself.
    Column("token_hash", String(64), unique=True),
    Column("token_expires_at", UTCDateTime),
    Column("created_at", UTCDateTime, nullable=False),
    Column("last_seen_at", UTCDateTime),
    Column("revoked_at", UTCDateTime),
    Column("last_mutation", BigInteger, nullable=False, default=0),
    Column("clock_offset_ms", BigInteger, nullable=False, default=0),
)

login_throttle = Table(
    "srv_login_throttle",
    server_metadata,
    Column("username", String(100), primary_key=True),
    Column("failures", Integer, nullable=False, default=0),
    Column("last_failure_at", UTCDateTime, nullable=False),
)

# One row per counter; the "seq" row is locked by every numbering (publishing) transaction,
# which makes sequence order equal commit order.
sync_counter = Table(
    "srv_sync_counter",
    server_metadata,
    Column("name", String(20), primary_key=True),
    Column("value", BigInteger, nullable=False),
)

# The latest version of every synced record: its sequence, who may see it, and the HLC stamp
# and sequence of the last write of each field (JSON: {field: [stamp_with_node, seq]}).
sync_record = Table(
    "srv_sync_record",
    server_metadata,
    Column("record_id", Uuid, primary_key=True),
    Column("entity", String(40), nullable=False),
    # NULL from the writing transaction's commit until publish_pending() numbers it.
    Column("seq", BigInteger, nullable=True, unique=True),
    Column("scope_user_id", Uuid, index=False),
    Column("public", Boolean, nullable=False, server_default=false()),
    Column("clocks", Text, nullable=False, default="{}"),
    Index("ix_srv_sync_record_scope_seq", "scope_user_id", "seq"),
    Index("ix_srv_sync_record_public_seq", "public", "seq"),
)

# "This record left the scope of this user at sequence seq": drives pull removals.
sync_exit = Table(
    "srv_sync_exit",
    server_metadata,
    Column("id", _BigId, primary_key=True, autoincrement=True),
    # NULL until published together with its record's change.
    Column("seq", BigInteger, nullable=True),
    Column("audience_user_id", Uuid, nullable=False),
    Column("entity", String(40), nullable=False),
    Column("record_id", Uuid, nullable=False),
    Index("ix_srv_sync_exit_audience_seq", "audience_user_id", "seq"),
    # Publishing looks up the unnumbered (NULL) exits; without this it would scan them all.
    Index("ix_srv_sync_exit_seq", "seq"),
)

conflict_log = Table(
    "srv_conflict",
    server_metadata,
    Column("id", _BigId, primary_key=True, autoincrement=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("user_id", Uuid),
    Column("device_id", Uuid, index=True),
    Column("mutation", BigInteger),
    Column("entity", String(40), nullable=False),
    Column("record_id", Uuid, nullable=False, index=True),
    Column("field", String(64), nullable=False),
    Column("rule", String(30), nullable=False),
    Column("winner", String(10), nullable=False),
    # JSON-encoded wire values.
    Column("base", Text),
    Column("base_known", Boolean, nullable=False, default=False),
    Column("local", Text),
    Column("server", Text),
    Column("value", Text),
    Column("local_stamp", String(80)),
    Column("server_stamp", String(80)),
)

# Every mutation a push processed (applied, merged or rejected), per device and number, with
# the mutation's stamp ``h``: written in the push transaction that consumes the number, so a
# resent number is told apart: the same stamp is the same mutation (``duplicate``, or its
# stored rejection again), another stamp is another mutation of the device that reused the
# number (a profile restored from a backup: ``taken``). Rows older than MUTATION_RETENTION are
# purged (see crm_server.sync); a resent number without a row answers ``duplicate``.
mutation_log = Table(
    "srv_mutation",
    server_metadata,
    # No foreign key: like the conflict log, it must not stand in the way of device cleanup.
    Column("device_id", Uuid, primary_key=True),
    Column("n", BigInteger, primary_key=True, autoincrement=False),
    # The mutation-level stamp as the device sent it (uncorrected).
    Column("stamp", String(16), nullable=False),
    # applied, merged or rejected; code and reason only for rejected.
    Column("status", String(10), nullable=False),
    Column("code", String(40)),
    Column("reason", Text),
    # Purging looks rows up by age.
    Column("created_at", UTCDateTime, nullable=False, index=True),
)

ALL_METADATA = (Base.metadata, server_metadata)


def normalize_url(url: str) -> str:
    """Use psycopg 3 for plain ``postgresql://`` URLs (SQLAlchemy would pick psycopg2)."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def make_engine(url: str, *, pool_size: int = 10, pool_overflow: int = 20) -> Engine:
    """An engine for the server database (SQLite file or PostgreSQL), configured for sync."""
    url = normalize_url(url)
    if make_url(url).get_backend_name() == "sqlite":
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})
        _configure_sqlite(engine)
        return engine
    # No pool_pre_ping: it would cost a round trip per request; a connection that died under
    # the pool (database restart) surfaces as an invalidated-connection error, which the
    # services retry like contention.
    return create_engine(
        url,
        pool_size=pool_size,
        max_overflow=pool_overflow,
        pool_recycle=1800,
    )


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: sqlite3.Connection, _record: Any) -> None:
        # Take transaction control away from the sqlite3 module so BEGIN is ours (below).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        # Writers take the write lock up front: a deferred transaction that reads and then
        # writes can fail with SQLITE_BUSY when another writer got in between.
        options = connection.get_execution_options()
        if options.get("isolation_level") == "AUTOCOMMIT":
            return  # single statements (token checks) run without a transaction
        connection.exec_driver_sql("BEGIN IMMEDIATE" if options.get("crm_write") else "BEGIN")


def is_postgres(connection: Connection | Engine) -> bool:
    """Whether the connection talks to PostgreSQL (else SQLite)."""
    return connection.dialect.name == "postgresql"


@contextmanager
def write_transaction(engine: Engine) -> Iterator[Connection]:
    """One read-write transaction (BEGIN IMMEDIATE on SQLite); commits on success."""
    with engine.connect() as connection:
        connection.execution_options(crm_write=True)
        with connection.begin():
            yield connection


@contextmanager
def read_transaction(engine: Engine) -> Iterator[Connection]:
    """One read-only snapshot: REPEATABLE READ on PostgreSQL, a WAL read snapshot on SQLite."""
    with engine.connect() as connection:
        if is_postgres(connection):
            connection.execution_options(isolation_level="REPEATABLE READ")
        with connection.begin():
            yield connection
