"""Loading a first-sync snapshot (``POST /v1/snapshot``) into the local store. No Qt.

A profile that has never synced gets its whole scope as one SQLite file in the store's own
storage format (protocol, "First-sync snapshot") instead of hundreds of JSON pages: the records
are copied with ``INSERT ... SELECT`` inside SQLite, records the store holds live but the
server deleted become tombstones, the search entries are built on a helper thread while SQLite
copies, and the cursor the snapshot was taken at is stored last, so the next pull continues
exactly where the snapshot ends.

The load is many short write transactions, not one (a save typed meanwhile never waits long),
and the cursor stays 0 until the last. The file it works from stays in the profile folder until
then (:data:`PARTIAL_LOAD`): a load cut short (cancel, crash) is found by the next round, which
takes its records out again before loading anything (another snapshot, or pages from 0), so
none of them outlives it. One process at a time loads into a profile (:func:`load_lock`): the
app and ``crm sync`` never load two snapshots taken at different cursors over each other. The snapshot is only used while it is equivalent to
pulling from cursor 0 into this store: the cursor is 0 and there is no pending local change to
rebase (no outbox entry, no field base); every transaction checks that again. Otherwise the
engine pulls page by page as before.
"""

from __future__ import annotations

import json
import os
import queue
import sqlite3
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
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
#: Rows copied per write transaction (a fraction of a second each).
_ROWS_PER_TRANSACTION = 50_000
#: Batches of search entries built ahead of the writer (about 3 MB each).
_AHEAD = 24


class SnapshotError(Exception):
    """The snapshot file cannot be used (wrong format or schema, damaged)."""


class SnapshotBusy(Exception):
    """Another process is loading a snapshot into this profile and did not finish in time."""


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def can_use(connection: Connection, current: state.SyncState | None = None) -> bool:
    """Whether a snapshot may replace pulling from 0: nothing synced yet, nothing pending.
    ``current``: the sync state already read in this transaction, if the caller has it."""
    raw = connection.connection.driver_connection
    assert isinstance(raw, sqlite3.Connection)
    if (current or state.load(connection)).cursor != 0:
        return False
    for table in ("sync_outbox", "sync_base"):
        if raw.execute(f"SELECT 1 FROM {table} LIMIT 1").fetchone() is not None:
            return False
    return True


#: The file a load works from, kept in the profile folder until the load's last commit: if it is
#: still there at the next round (the load was cut short), its records are taken out again
#: before anything else is loaded, so nothing it copied outlives the load (a record that left
#: the user's scope since would otherwise stay on the laptop for good).
PARTIAL_LOAD = ".first-sync-partial.sqlite3"
#: A SQLite file whose exclusive lock one process holds while it loads or undoes a snapshot:
#: the app and ``crm sync`` on one profile never load two snapshots (taken at different
#: cursors) over each other. The OS releases it if the process dies.
LOAD_LOCK = ".first-sync.lock"
#: How long a round waits for another process's load of the same profile.
LOCK_WAIT_SECONDS = 600.0


@contextmanager
def load_lock(directory: Path, *, timeout: float | None = None) -> Iterator[None]:
    """Hold the profile's snapshot-load lock, waiting up to ``timeout`` seconds for it
    (:data:`LOCK_WAIT_SECONDS` by default); :class:`SnapshotBusy` if it stays taken."""
    wait = LOCK_WAIT_SECONDS if timeout is None else timeout
    db = sqlite3.connect(directory / LOAD_LOCK, timeout=wait, isolation_level=None)
    try:
        try:
            db.execute("BEGIN EXCLUSIVE")
        except sqlite3.OperationalError as exc:
            raise SnapshotBusy(
                "another sync of this profile is loading its first snapshot; try again later"
            ) from exc
        yield
    finally:
        db.close()  # rolls back, which releases the lock


def undo_partial_load(engine: Engine, directory: Path) -> int:
    """Take out the records of a load that was cut short (see :data:`PARTIAL_LOAD`); returns
    how many went. Only while the cursor is still 0 (else the load finished and only its file
    was left); records with a pending local change stay (the paged pull rebases them). Call
    with :func:`load_lock` held."""
    marker = directory / PARTIAL_LOAD
    if not marker.exists():
        return 0
    removed = 0
    try:
        tables = _tables_of(marker)
    except SnapshotError:  # a file cut short before it was complete: nothing was copied
        tables = []
    with engine.connect().execution_options(**{WRITE_OPTION: True}) as connection:
        raw = connection.connection.driver_connection
        assert isinstance(raw, sqlite3.Connection)
        if tables:
            raw.execute("ATTACH DATABASE ? AS partial", (_read_only(marker),))
        try:
            with connection.begin():
                if tables and state.load(connection).cursor == 0:
                    removed = _remove_loaded(connection, raw, tables)
        finally:
            if tables:
                raw.execute("DETACH DATABASE partial")
    marker.unlink(missing_ok=True)
    return removed


def _remove_loaded(connection: Connection, raw: sqlite3.Connection, tables: list[str]) -> int:
    # Records with a local change waiting (in the outbox, or a field base) stay.
    pending = {row[0] for row in raw.execute("SELECT record_id FROM sync_base")}
    for (changes,) in raw.execute("SELECT changes FROM sync_outbox"):
        pending.update(uuid.UUID(change["id"]).hex for change in json.loads(changes))
    removed = 0
    for entity in tables:
        table = _quote(table_name(entity))
        ids = [
            row[0]
            for row in raw.execute(f"SELECT id FROM partial.{table}")
            if row[0] not in pending
        ]
        if not ids:
            continue
        raw.executemany(f"DELETE FROM main.{table} WHERE id = ?", [(i,) for i in ids])
        if search.is_searchable(entity):
            search.unindex(connection, ids)
        removed += len(ids)
    return removed


def _read_only(path: Path) -> str:
    """The URI that opens (or attaches) a snapshot file read-only."""
    return f"{path.resolve().as_uri()}?mode=ro"


@contextmanager
def _reading(path: Path) -> Iterator[sqlite3.Connection]:
    """A read-only connection to a snapshot file; SQLite errors become :class:`SnapshotError`."""
    try:
        db = sqlite3.connect(_read_only(path), uri=True)
    except sqlite3.Error as exc:
        raise SnapshotError(f"the snapshot cannot be opened: {exc}") from exc
    try:
        yield db
    except sqlite3.Error as exc:
        raise SnapshotError(f"the snapshot is damaged: {exc}") from exc
    finally:
        db.close()


def _tables_of(path: Path) -> list[str]:
    """The entities whose tables a snapshot file holds."""
    with _reading(path) as db:
        return [entity for entity in ENTITIES if _columns(db, "main", table_name(entity))]


def _columns(db: sqlite3.Connection, schema: str, table: str) -> list[str]:
    return [row[1] for row in db.execute(f"PRAGMA {schema}.table_info({_quote(table)})")]


def check(path: Path, cursor: int) -> dict[str, list[str]]:
    """Validate the file; returns the columns to copy per entity (those both sides have)."""
    with _reading(path) as db:
        info = dict(db.execute("SELECT key, value FROM snapshot_info").fetchall())
        if info.get("format") != str(SNAPSHOT_FORMAT):
            raise SnapshotError(f"unknown snapshot format {info.get('format')!r}")
        if info.get("schema") != schema_fingerprint():
            raise SnapshotError("the snapshot was made for another schema version")
        if info.get("cursor") != str(cursor):
            raise SnapshotError("the snapshot's cursor does not match the server's answer")
        tables: dict[str, list[str]] = {}
        for entity in ENTITIES:
            sent = _columns(db, "main", table_name(entity))
            if not sent:
                raise SnapshotError(f"the snapshot has no {entity} table")
            tables[entity] = sent
        if not _columns(db, "main", "snapshot_deleted"):
            raise SnapshotError("the snapshot has no snapshot_deleted table")
        return tables


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

    The records go in over many short write transactions (:data:`_ROWS_PER_TRANSACTION` rows,
    or one batch of search entries, each) and the cursor in the last one, so a save typed
    meanwhile waits a fraction of a second, never the whole load (seconds at 250k records,
    most of a minute at 2M). Until that last commit the cursor stays 0: a load cut short
    (cancel, crash, a local edit arriving) leaves records that the next round loads again over
    themselves (``INSERT OR REPLACE``, search entries replaced), or pulls again from 0.

    Returns None when the store stops qualifying (another round synced meanwhile, or a local
    edit arrived: the paged pull from 0 then rebases it). ``server_time`` runs in the last
    transaction (the engine adopts the server's clock there); ``progress`` gets the records
    copied so far; ``checkpoint`` runs between transactions and may raise (a cancel).
    """
    tables = check(path, cursor)
    # From here the file marks a load in progress (see PARTIAL_LOAD); the caller holds the
    # load lock and has undone any earlier partial load.
    marker = path.parent / PARTIAL_LOAD
    os.replace(path, marker)
    path = marker
    with engine.connect().execution_options(**{WRITE_OPTION: True}) as connection:
        raw = connection.connection.driver_connection
        assert isinstance(raw, sqlite3.Connection)
        # Each commit would copy what the load wrote into the database file (a checkpoint,
        # about a tenth of the load). Not here: the caller checkpoints once afterwards, off
        # the path to usable records.
        autocheckpoint = raw.execute("PRAGMA wal_autocheckpoint").fetchone()[0]
        raw.execute("PRAGMA wal_autocheckpoint=0")
        # ATTACH is refused inside a transaction: before the first BEGIN, detached at the end.
        raw.execute("ATTACH DATABASE ? AS snap", (_read_only(path),))
        documents = _DocumentMaker(path, [e for e in tables if search.is_searchable(e)])
        try:
            records = _Loader(connection, raw, checkpoint).run(
                tables, documents, cursor, server_time, progress
            )
        finally:
            documents.close()
            raw.execute("DETACH DATABASE snap")
            raw.execute(f"PRAGMA wal_autocheckpoint={int(autocheckpoint)}")
    if records is not None:
        marker.unlink(missing_ok=True)
    return records


class _Loader:
    """The write transactions of one load, each re-checking that the store still qualifies."""

    def __init__(
        self,
        connection: Connection,
        raw: sqlite3.Connection,
        checkpoint: Callable[[], None] | None,
    ) -> None:
        self.connection = connection
        self.raw = raw
        self.checkpoint = checkpoint
        self.device_id: uuid.UUID | None = None

    @contextmanager
    def _step(self) -> Iterator[bool]:
        """One write transaction; yields False (write nothing then) if the store stopped
        qualifying since the last one, or was wiped meanwhile (a wipe makes a new device)."""
        if self.checkpoint is not None:
            self.checkpoint()
        with self.connection.begin():
            current = state.load(self.connection)
            if self.device_id is None:
                self.device_id = current.device_id
            yield can_use(self.connection, current) and current.device_id == self.device_id

    def run(
        self,
        tables: dict[str, list[str]],
        documents: _DocumentMaker,
        cursor: int,
        server_time: Callable[[Connection], None] | None,
        progress: Callable[[int], None] | None,
    ) -> int | None:
        records = 0
        for entity, sent in tables.items():
            name = table_name(entity)
            known = set(_columns(self.raw, "main", name))
            unknown = [column for column in sent if column not in known]
            if unknown:
                raise SnapshotError(f"the snapshot's {entity} table has unknown columns {unknown}")
            table = _quote(name)
            columns = ", ".join(_quote(column) for column in sent)
            low, high = self.raw.execute(
                f"SELECT min(rowid), max(rowid) FROM snap.{table}"
            ).fetchone()
            if low is None:
                continue
            for start in range(low, high + 1, _ROWS_PER_TRANSACTION):
                with self._step() as usable:
                    if not usable:
                        return None
                    # OR REPLACE, as a pulled page does: a local row holding the same unique
                    # key under another id (a default stage made before the first sync), or
                    # this very record from a load cut short, gives way to the server's.
                    result = self.raw.execute(
                        f"INSERT OR REPLACE INTO main.{table} ({columns})"
                        f" SELECT {columns} FROM snap.{table} WHERE rowid >= ? AND rowid < ?",
                        (start, start + _ROWS_PER_TRANSACTION),
                    )
                records += max(result.rowcount, 0)
                if progress is not None:
                    progress(records)
        with self._step() as usable:
            if not usable:
                return None
            self._apply_tombstones(tables)
        # Replacing costs a lookup per entry: only when the store already has entries (a load
        # cut short wrote some). Another process loading into this profile at the same time
        # shows up as a duplicate entry (refs are unique): that batch is written again,
        # replacing, and so is the rest.
        replace = self._has_entries()
        for _entity, docs in documents:
            try:
                written = self._write_entries(docs, replace=replace)
            except sqlite3.IntegrityError:
                if replace:
                    raise
                replace = True
                written = self._write_entries(docs, replace=replace)
            if not written:
                return None
        with self._step() as usable:
            if not usable:
                return None
            state.set_values(self.connection, cursor=cursor, last_sync_at=utcnow())
            if server_time is not None:
                server_time(self.connection)
        return records

    def _write_entries(self, docs: list[search.Document], *, replace: bool) -> bool:
        with self._step() as usable:
            if usable:
                search.write_documents(self.connection, docs, replace=replace)
            return usable

    def _has_entries(self) -> bool:
        return self.raw.execute("SELECT 1 FROM search_doc LIMIT 1").fetchone() is not None

    def _apply_tombstones(self, tables: dict[str, list[str]]) -> None:
        """Records deleted on the server that this store holds live become tombstones, as a
        paged pull's ``deletes`` make them (the store pushed them before its first pull, and a
        colleague deleted one since)."""
        for entity in tables:
            table = _quote(table_name(entity))
            ids = [
                row[0]
                for row in self.raw.execute(
                    f"SELECT d.id FROM snap.snapshot_deleted d JOIN main.{table} t ON t.id = d.id"
                    " WHERE d.entity = ? AND t.deleted = 0",
                    (entity,),
                )
            ]
            if not ids:
                continue
            self.raw.executemany(
                f"UPDATE main.{table} SET deleted = 1 WHERE id = ?", [(i,) for i in ids]
            )
            if search.is_searchable(entity):
                search.unindex(self.connection, ids)


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
            db = sqlite3.connect(_read_only(self._path), uri=True)
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
