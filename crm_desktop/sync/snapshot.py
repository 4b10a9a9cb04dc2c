"""Loading a first-sync snapshot (``POST /v1/snapshot``) into the local store. No Qt.

A profile that has never synced gets its whole scope as one SQLite file in the store's own
storage format (protocol, "Snapshot") instead of hundreds of JSON pages: the records are
copied table by table with ``INSERT ... SELECT`` inside SQLite, the search index is written in
bulk, and the cursor the snapshot was taken at is stored in the same transaction, so the next
pull continues exactly where the snapshot ends. Nothing is half-applied: the load is one write
transaction, and an interrupted download or load leaves the profile as it was (the next round
starts over, with a snapshot again or page by page).

The snapshot is only used when it is equivalent to pulling from cursor 0 into this store: the
cursor is 0 and there is no pending local change to rebase (no outbox entry, no field base).
Otherwise the engine pulls page by page as before.
"""

from __future__ import annotations

import queue
import sqlite3
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

from sqlalchemy import Connection, Engine

from crm_desktop.models import ENTITIES, utcnow
from crm_desktop.store import search
from crm_desktop.store.db import WRITE_OPTION
from crm_desktop.sync import state
from crm_desktop.sync.protocol import schema_fingerprint
from crm_desktop.sync.tables import table_name

#: The snapshot layout this client reads (``snapshot_info.format``).
SNAPSHOT_FORMAT = 1
_BATCH = 5000
#: Batches of search entries built ahead of the writer (about 3 MB each).
_AHEAD = 24


class SnapshotError(Exception):
    """The snapshot file cannot be used (wrong format or schema, damaged)."""


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def can_use(connection: Connection) -> bool:
    """Whether a snapshot may replace pulling from 0: nothing synced yet, nothing pending."""
    raw = connection.connection.driver_connection
    assert isinstance(raw, sqlite3.Connection)
    if state.load(connection).cursor != 0:
        return False
    for table in ("sync_outbox", "sync_base"):
        if raw.execute(f"SELECT 1 FROM {table} LIMIT 1").fetchone() is not None:
            return False
    return True


def _columns(db: sqlite3.Connection, schema: str, table: str) -> list[str]:
    return [row[1] for row in db.execute(f"PRAGMA {schema}.table_info({_quote(table)})")]


def check(path: Path, cursor: int) -> dict[str, list[str]]:
    """Validate the file; returns the columns to copy per entity (those both sides have)."""
    try:
        db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise SnapshotError(f"the snapshot cannot be opened: {exc}") from exc
    try:
        info = dict(db.execute("SELECT key, value FROM snapshot_info").fetchall())
        if info.get("format") != str(SNAPSHOT_FORMAT):
            raise SnapshotError(f"unknown snapshot format {info.get('format')!r}")
        if info.get("schema") != schema_fingerprint():
            raise SnapshotError("the snapshot was made for another schema version")
        if info.get("cursor") != str(cursor):
            raise SnapshotError("the snapshot's cursor does not match the server's answer")
        tables: dict[str, list[str]] = {}
        for entity in ENTITIES:
            table = table_name(entity)
            sent = _columns(db, "main", table)
            if not sent:
                raise SnapshotError(f"the snapshot has no {entity} table")
            tables[entity] = sent
        return tables
    except sqlite3.Error as exc:
        raise SnapshotError(f"the snapshot is damaged: {exc}") from exc
    finally:
        db.close()


def load(
    engine: Engine,
    path: Path,
    cursor: int,
    *,
    server_time: Callable[[Connection], None] | None = None,
    progress: Callable[[int], None] | None = None,
    checkpoint: Callable[[], None] | None = None,
) -> int | None:
    """Copy the snapshot at ``path`` into the store; returns the records loaded.

    Returns None (and changes nothing) when the store no longer qualifies (another round
    synced meanwhile, or a local edit arrived). ``server_time`` runs inside the transaction
    (the engine adopts the server's clock there); ``progress`` gets the records copied so far;
    ``checkpoint`` runs between tables and may raise to roll everything back (a cancel).
    """
    tables = check(path, cursor)
    with engine.connect().execution_options(**{WRITE_OPTION: True}) as connection:
        raw = connection.connection.driver_connection
        assert isinstance(raw, sqlite3.Connection)
        # The load writes the whole scope through the WAL in one transaction; the commit would
        # then copy it all into the database file at once (a checkpoint, about a tenth of the
        # load). Not here: the caller checkpoints afterwards, off the path to usable records.
        autocheckpoint = raw.execute("PRAGMA wal_autocheckpoint").fetchone()[0]
        raw.execute("PRAGMA wal_autocheckpoint=0")
        # ATTACH is refused inside a transaction: before BEGIN, and detached after COMMIT.
        raw.execute("ATTACH DATABASE ? AS snap", (f"{path.resolve().as_uri()}?mode=ro",))
        documents = _DocumentMaker(path, [e for e in tables if search.is_searchable(e)])
        try:
            with connection.begin():
                if not can_use(connection):
                    return None
                records = _copy(raw, tables, progress, checkpoint)
                _index(connection, raw, documents, checkpoint)
                state.set_values(connection, cursor=cursor, last_sync_at=utcnow())
                if server_time is not None:
                    server_time(connection)
        finally:
            documents.close()
            raw.execute("DETACH DATABASE snap")
            raw.execute(f"PRAGMA wal_autocheckpoint={int(autocheckpoint)}")
    return records


def _copy(
    raw: sqlite3.Connection,
    tables: dict[str, list[str]],
    progress: Callable[[int], None] | None,
    checkpoint: Callable[[], None] | None,
) -> int:
    records = 0
    for entity, sent in tables.items():
        if checkpoint is not None:
            checkpoint()
        table = table_name(entity)
        known = set(_columns(raw, "main", table))
        unknown = [name for name in sent if name not in known]
        if unknown:
            raise SnapshotError(f"the snapshot's {entity} table has unknown columns {unknown}")
        columns = ", ".join(_quote(name) for name in sent)
        # OR REPLACE, as a pulled page does: a local row holding the same unique key under
        # another id (a default stage made before the first sync) gives way to the server's.
        result = raw.execute(
            f"INSERT OR REPLACE INTO main.{_quote(table)} ({columns})"
            f" SELECT {columns} FROM snap.{_quote(table)}"
        )
        records += max(result.rowcount, 0)
        if progress is not None:
            progress(records)
    return records


class _DocumentMaker:
    """Builds the search entries of the snapshot's records on a helper thread.

    Building entries is Python work; copying the tables is SQLite's, which runs without the
    GIL: started before the copy, the helper has most entries ready when the copy ends, which
    saves most of the copy's time on a two-core laptop. It reads the snapshot through its own
    read-only connection and hands over batches through a bounded queue, so at most
    :data:`_AHEAD` batches wait in memory.
    """

    def __init__(self, path: Path, entities: list[str]) -> None:
        self._path = path
        self._entities = entities
        self._queue: queue.Queue[tuple[str, list[search.Document]] | BaseException | None] = (
            queue.Queue(maxsize=_AHEAD)
        )
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="crm-snapshot-index", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            db = sqlite3.connect(f"{self._path.resolve().as_uri()}?mode=ro", uri=True)
            try:
                for entity in self._entities:
                    columns = ", ".join(_quote(name) for name in ("id", *search.COLUMNS[entity]))
                    rows = db.execute(f"SELECT {columns} FROM {_quote(table_name(entity))}")
                    while batch := rows.fetchmany(_BATCH):
                        if not self._hand_over((entity, search.documents(entity, batch))):
                            return
            finally:
                db.close()
            self._hand_over(None)
        except BaseException as exc:  # handed to the loading thread, which raises it
            self._hand_over(exc)

    def _hand_over(self, item: tuple[str, list[search.Document]] | BaseException | None) -> bool:
        # Waits for room, but gives up once the load was abandoned (cancel, error).
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def __iter__(self) -> Iterator[tuple[str, list[search.Document]]]:
        while (item := self._queue.get()) is not None:
            if isinstance(item, BaseException):
                raise SnapshotError(f"the snapshot's records cannot be indexed: {item}") from item
            yield item

    def close(self) -> None:
        """Stop the helper (if still running) and wait for it."""
        self._stop.set()
        self._thread.join()


def _index(
    connection: Connection,
    raw: sqlite3.Connection,
    documents: _DocumentMaker,
    checkpoint: Callable[[], None] | None,
) -> None:
    # A store that never synced may still hold entries (records made before signing in are
    # in the outbox, so not here; default data is): replace them rather than duplicate.
    replace = raw.execute("SELECT 1 FROM search_doc LIMIT 1").fetchone() is not None
    for _entity, docs in documents:
        if checkpoint is not None:
            checkpoint()
        search.write_documents(connection, docs, replace=replace)
