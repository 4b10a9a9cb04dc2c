"""First-sync snapshots: the caller's whole scope as one SQLite file.

A device that has never synced would otherwise pull its scope page by page: every record is
encoded to JSON, parsed, converted and inserted one at a time on both sides, about 80 us of CPU
per record in all (13,700-20,000 records/s on the reference machine against a target of
50,000). A snapshot moves the same records as SQLite tables in the client's own storage
format, so both sides copy them with ``INSERT ... SELECT`` inside SQLite.

What a snapshot holds, and why it is consistent with pulls:

* one table per synced entity, named and laid out like the shared model's table (columns in
  model order, no constraints or indexes: the client copies them into its own tables);
* the live records the caller would receive from a pull with ``cursor = 0``: sequence
  numbered and ``<=`` the counter read in the same read snapshot, in the caller's scope (admins:
  everything);
* ``snapshot_deleted`` (entity, id): the tombstones among those, ids only: a pull's
  ``deletes`` touch records the device already has (it may have pushed some before its first
  pull), and the snapshot must do the same;
* ``snapshot_info`` (key, value): ``format``, ``schema`` (the schema fingerprint), ``cursor``
  (the counter value: the device pulls from there) and ``records``.

The counter and the rows are read in one snapshot (REPEATABLE READ on PostgreSQL, one WAL read
transaction on SQLite), as a pull reads them, so the cursor never skips a change: anything
committed later gets a higher sequence and comes in the next pull.

On a SQLite server the file is filled by ``ATTACH`` and ``INSERT ... SELECT`` (the server's
storage format is the client's); on PostgreSQL rows are streamed through SQLAlchemy and bound
with the SQLite dialect's own type processors. Amounts are the exception on both: they are
written in their wire text (``1200.5``, as a pulled page stores them), not as the server keeps
them (``1200.50`` as pushed, ``1200.500000`` from PostgreSQL's NUMERIC).
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, Table, and_, or_, select
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.engine import make_url

from crm_desktop.models import ENTITIES
from crm_desktop.models.base import Money
from crm_desktop.sync.protocol import schema_fingerprint
from crm_desktop.sync.tables import encode_value
from crm_server.auth import DeviceAuth, authenticate_on
from crm_server.db import read_transaction, sync_record
from crm_server.scopes import subtree_query
from crm_server.sync import Busy

#: Names of snapshot files (so a worker can tell its leftovers from anything else there).
FILE_PREFIX = "crm-snapshot-"
#: Bumped when the file's layout changes; the client refuses a format it does not know.
SNAPSHOT_FORMAT = 1
_BATCH = 5000
_SQLITE = sqlite_dialect.dialect()


@dataclass(frozen=True)
class Snapshot:
    """A built snapshot file (the caller deletes it once sent)."""

    path: Path
    cursor: int
    records: int


def _money(value: Any) -> str | None:
    """A stored amount in its wire text ("1200.50", never "1200.500000"): exactly what a pulled
    page stores on the client, so a snapshot and a pull leave the same text behind (search
    entries show it)."""
    if value is None:
        return None
    wire = encode_value(Decimal(value))
    assert isinstance(wire, str)
    return wire


def _select_list(table: Table, prefix: str) -> str:
    """The columns of ``table`` for a SELECT, amounts normalised through :func:`_money`."""
    return ", ".join(
        f"crm_money({prefix}{_quote(c.name)})"
        if isinstance(c.type, Money)
        else prefix + _quote(c.name)
        for c in table.columns
    )


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _tables() -> list[tuple[str, Table]]:
    """(entity, table) of every synced entity."""
    return [(entity, model.__table__) for entity, model in ENTITIES.items()]  # type: ignore[misc]


def _create_tables(out: sqlite3.Connection) -> None:
    out.execute("CREATE TABLE snapshot_info (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    out.execute("CREATE TABLE snapshot_deleted (entity TEXT NOT NULL, id TEXT NOT NULL)")
    for _entity, table in _tables():
        columns = ", ".join(_quote(c.name) for c in table.columns)
        out.execute(f"CREATE TABLE {_quote(table.name)} ({columns})")


def _open_output(directory: Path | None) -> tuple[Path, sqlite3.Connection]:
    handle, name = tempfile.mkstemp(prefix=FILE_PREFIX, suffix=".sqlite3", dir=directory)
    os.close(handle)
    path = Path(name)
    out = sqlite3.connect(path, isolation_level=None, uri=True)
    # A half-built file is thrown away, never read: no journal, no syncs.
    out.execute("PRAGMA journal_mode=OFF")
    out.execute("PRAGMA synchronous=OFF")
    return path, out


def _finish(out: sqlite3.Connection, cursor: int, records: int) -> None:
    out.executemany(
        "INSERT INTO snapshot_info (key, value) VALUES (?, ?)",
        [
            ("format", str(SNAPSHOT_FORMAT)),
            ("schema", schema_fingerprint()),
            ("cursor", str(cursor)),
            ("records", str(records)),
        ],
    )


def build(
    engine: Engine,
    token: str | None,
    *,
    directory: Path | None = None,
    on_auth: Callable[[DeviceAuth], None] | None = None,
) -> Snapshot:
    """Authenticate ``token`` and write the caller's scope to a new SQLite file.

    Raises the same authentication errors as a pull. ``directory`` is where the temporary
    file goes (the system's temporary directory by default).
    """
    with read_transaction(engine) as connection:
        # The token check also reads the counter: on PostgreSQL this is the first statement
        # of the REPEATABLE READ snapshot the rows are read in.
        auth = authenticate_on(connection, token, read_counter=True)
        if on_auth is not None:
            on_auth(auth)
        with _new_file(directory) as (path, out):
            if connection.dialect.name == "sqlite":
                database = make_url(str(engine.url)).database
                assert database, "the SQLite fast path needs a database file"
                cursor, records = _fill_sqlite(out, Path(database), auth)
            else:
                cursor, records = _fill_generic(out, connection, auth)
        return Snapshot(path, cursor, records)


@contextmanager
def _new_file(directory: Path | None) -> Iterator[tuple[Path, sqlite3.Connection]]:
    """A new snapshot file with its tables, closed afterwards; deleted if filling it failed."""
    path, out = _open_output(directory)
    try:
        _create_tables(out)
        yield path, out
    except BaseException:
        out.close()
        path.unlink(missing_ok=True)
        raise
    out.close()


def _fill_sqlite(out: sqlite3.Connection, source: Path, auth: DeviceAuth) -> tuple[int, int]:
    """Copy inside SQLite: the snapshot file is ``main``, the server database is attached
    read-only, and one read transaction covers the counter and every table. Returns the
    cursor and the number of records."""
    out.create_function("crm_money", 1, _money, deterministic=True)
    out.execute("ATTACH DATABASE ? AS src", (f"{source.resolve().as_uri()}?mode=ro",))
    out.execute("BEGIN")
    cursor = int(
        out.execute("SELECT value FROM src.srv_sync_counter WHERE name = 'seq'").fetchone()[0]
    )
    params: tuple[Any, ...] = (cursor,)
    scope = ""
    if not auth.admin:
        # The user and everyone below them (UNION terminates on a loop in the data).
        out.execute(
            "CREATE TEMP TABLE snapshot_scope AS WITH RECURSIVE tree(id) AS"
            " (SELECT ? UNION SELECT u.id FROM src.user u JOIN tree ON u.manager_id = tree.id)"
            " SELECT id FROM tree",
            (auth.user_id.hex,),
        )
        scope = " AND (r.public OR r.scope_user_id IN (SELECT id FROM temp.snapshot_scope))"
    records = 0
    for entity, table in _tables():
        columns = _select_list(table, "x.")
        name = _quote(table.name)
        # CROSS JOIN fixes the order: each record, then its bookkeeping by primary key.
        # Left to itself SQLite walked srv_sync_record's sequence index once per entity,
        # every entity's rows included (1.05 s instead of 0.28 s for 250k records).
        joined = (
            f" FROM src.{name} x CROSS JOIN src.srv_sync_record r ON r.record_id = x.id"
            " WHERE x.deleted = ? AND r.entity = ? AND r.seq IS NOT NULL AND r.seq <= ?"
            f"{scope}"
        )
        result = out.execute(
            f"INSERT INTO main.{name} SELECT {columns}{joined}", (0, entity, *params)
        )
        records += result.rowcount
        out.execute(
            f"INSERT INTO main.snapshot_deleted SELECT ?, x.id{joined}",
            (entity, 1, entity, *params),
        )
    _finish(out, cursor, records)
    out.execute("COMMIT")
    out.execute("DETACH DATABASE src")
    return cursor, records


def _fill_generic(
    out: sqlite3.Connection, connection: Connection, auth: DeviceAuth
) -> tuple[int, int]:
    """Stream rows through SQLAlchemy (PostgreSQL) and store them as the client would.
    Returns the cursor and the number of records."""
    cursor = auth.counter
    assert cursor is not None
    records = 0
    out.execute("BEGIN")
    for entity, table in _tables():
        condition = and_(
            sync_record.c.entity == entity,
            sync_record.c.seq.is_not(None),
            sync_record.c.seq <= cursor,
        )
        if not auth.admin:
            condition = and_(
                condition,
                or_(
                    sync_record.c.public.is_(True),
                    sync_record.c.scope_user_id.in_(subtree_query(auth.user_id)),
                ),
            )
        statement = (
            select(*table.columns)
            .join(sync_record, sync_record.c.record_id == table.c.id)
            .where(condition, table.c.deleted.is_(False))
        )
        deleted = (
            select(table.c.id)
            .join(sync_record, sync_record.c.record_id == table.c.id)
            .where(condition, table.c.deleted.is_(True))
        )
        id_to_storage = table.c.id.type.dialect_impl(_SQLITE).bind_processor(_SQLITE)
        assert id_to_storage is not None
        out.executemany(
            "INSERT INTO snapshot_deleted (entity, id) VALUES (?, ?)",
            [(entity, id_to_storage(row[0])) for row in connection.execute(deleted)],
        )
        processors = [
            _money
            if isinstance(column.type, Money)
            else column.type.dialect_impl(_SQLITE).bind_processor(_SQLITE)
            for column in table.columns
        ]
        marks = ", ".join("?" * len(processors))
        insert = f"INSERT INTO {_quote(table.name)} VALUES ({marks})"
        result = connection.execute(statement.execution_options(yield_per=_BATCH))
        for batch in result.partitions():
            out.executemany(
                insert,
                [
                    tuple(
                        value if process is None or value is None else process(value)
                        for process, value in zip(processors, row, strict=True)
                    )
                    for row in batch
                ],
            )
            records += len(batch)
    _finish(out, cursor, records)
    out.execute("COMMIT")
    return cursor, records


#: Files untouched for this long belong to no running build (one takes seconds).
STALE_SECONDS = 3600.0


class SnapshotService:
    """Builds one worker's snapshots in ``directory``, at most ``concurrency`` at a time.

    Each build writes a full copy of a scope (tens of MB at 250k records), so a morning when
    a whole team installs new laptops must neither fill the disk nor starve pushes and pulls.
    A slot is held from the build until the file has been sent and deleted (:meth:`finished`),
    and a request finding none free is refused at once with 503 ``busy`` (the client retries
    later): one waiting would hold one of the worker's few request threads, which pushes and
    pulls need. Files a killed worker left behind are removed at start.
    """

    def __init__(self, engine: Engine, directory: Path, concurrency: int) -> None:
        self.engine = engine
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self._slots = threading.BoundedSemaphore(max(1, concurrency))
        now = time.time()
        for stale in directory.glob(f"{FILE_PREFIX}*"):
            with contextlib.suppress(OSError):  # another worker's, removed meanwhile
                if now - stale.stat().st_mtime > STALE_SECONDS:
                    stale.unlink()

    def build(self, token: str | None) -> Snapshot:
        """:func:`build` in this service's directory if a slot is free (else :class:`Busy`);
        the caller calls :meth:`finished` once the file is sent."""
        if not self._slots.acquire(blocking=False):
            raise Busy("the server is building other first-sync snapshots; try again shortly")
        try:
            return build(self.engine, token, directory=self.directory)
        except BaseException:
            self._slots.release()
            raise

    def finished(self, built: Snapshot) -> None:
        """The file was sent (or sending failed): delete it and free its slot."""
        try:
            built.path.unlink(missing_ok=True)
        finally:
            self._slots.release()


__all__ = ["SNAPSHOT_FORMAT", "Snapshot", "SnapshotService", "build"]
