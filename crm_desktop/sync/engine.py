"""The sync engine: push the outbox, pull the change feed, keep the conflict log. No Qt.

One round (:meth:`SyncEngine.sync`) is push, then pull, then the conflict feed:

* **Push** sends the outbox oldest first in batches (each mutation keeps its number ``n``, its
  stamp and its base cursor). The answer is applied in one transaction: the acknowledged
  mutations leave the outbox, their field bases are dropped, values the server decided
  otherwise (a concurrent edit won by the other side, long text merged, an edit of a deleted
  record) are written locally, rejected mutations are logged with the server's reason and their
  fields restored to the server's value. A lost answer is harmless: the same batch is sent again
  and comes back as ``duplicate``. A mutation answered ``taken`` met another mutation of this
  device under its number (the server tells them apart by stamp): a profile restored from a
  backup or copied to another PC. It and the rest are renumbered above the server's last number
  and pushed again in the same round, never dropped. As a fallback for numbers the server has
  forgotten, each mutation is flagged as sent (committed) before its first request, so a
  ``duplicate`` answer the server could not place (no ``same_mutation`` code) for one never
  sent before means the number was taken by another copy of this profile: it is renumbered the
  same way.
* **First sync**: a store that never synced and has nothing pending loads the server's
  snapshot of its whole scope (``sync.snapshot``: one SQLite file, copied inside SQLite, the
  cursor stored with it) and pulls on from the snapshot's cursor; a server without snapshots or
  an unusable file falls back to pulling pages from 0.
* **Pull** asks for pages after the stored cursor and applies each page in one transaction
  together with its new cursor (removals, deletes, then upserts, with ``executemany`` and
  ``INSERT OR REPLACE``), re-indexing search for the page's rows in bulk. Foreign keys are off on
  the engine's connections because pulled records may reference records the user cannot see.
  A field with a pending local edit (a ``sync_base`` row) keeps the local value; the pulled
  value becomes its new base (rebase), and the server decides when the edit arrives.
* **Conflicts** fetches ``GET /v1/conflicts`` after the stored id into the local log after a
  round that pushed or pulled anything, so a conflict whose push answer was lost is still
  recorded, and so is one where another device's push overruled this device's value.

Interruption anywhere (network, kill -9, cancel) leaves the store consistent: each page and each
push answer commits atomically with its bookkeeping, and every step is idempotent to repeat.

Threading and transactions: a :class:`SyncEngine` is used by one thread at a time (the sync
worker, or the ``crm sync`` command). It has its own SQLite connections (WAL; the app's sessions
keep working) and keeps its write transactions short: one per pushed batch or pulled page, taken
with ``BEGIN IMMEDIATE`` so a concurrent writer waits instead of failing half-way.
"""

from __future__ import annotations

import contextlib
import json
import logging
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from itertools import repeat
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, select, text

from crm_desktop.models import ENTITIES, Base, utcnow
from crm_desktop.store import search
from crm_desktop.store.db import WRITE_OPTION, begin_transaction
from crm_desktop.sync import outbox, snapshot, state
from crm_desktop.sync.clock import ClockError, Hlc
from crm_desktop.sync.protocol import (
    DEFAULT_PULL_LIMIT,
    MAX_BODY_BYTES,
    MAX_PULL_LIMIT,
    SAME_MUTATION,
    ConflictEntry,
    ConflictPage,
    LoginResponse,
    PullResponse,
    PushResponse,
    Scalar,
)
from crm_desktop.sync.state import SyncState
from crm_desktop.sync.tables import (
    Converter,
    storage_converters,
    store_as_is,
    sync_base,
    sync_conflict,
    sync_outbox,
    sync_state,
    table_name,
    wire_converters,
)
from crm_desktop.sync.transport import (
    DeviceRevoked,
    ResyncRequired,
    ServerBusy,
    ServerError,
    Transport,
)

log = logging.getLogger(__name__)

#: Mutations per push request (the protocol allows 1000; smaller batches commit sooner).
PUSH_BATCH = 200
#: Records per pulled page. Each page is one local write transaction, and while it runs a UI
#: save that already read inside its own (deferred) transaction fails with "database is
#: locked" (SQLITE_BUSY_SNAPSHOT; busy_timeout cannot help), so pages stay small enough to
#: commit in a fraction of a second; the read-ahead keeps throughput up.
PULL_LIMIT = DEFAULT_PULL_LIMIT
#: Records per pulled page of a full sync (from cursor 0: a new profile, or a resync). Those
#: pages take the protocol's maximum: a store being filled for the first time has few user
#: edits to hold up (and UI saves begin IMMEDIATE, so one that comes waits its turn, about a
#: quarter of a second, rather than failing), while every page costs a request, a server query
#: and a commit whatever its size: 50 requests for 250k records instead of 250.
FULL_SYNC_LIMIT = MAX_PULL_LIMIT
#: A snapshot download not written to for this long belongs to a process that died.
STALE_SNAPSHOT_SECONDS = 600
#: Stay well under the protocol's 8 MiB body limit.
PUSH_MAX_BYTES = MAX_BODY_BYTES // 2
#: Renumberings (a mutation answered ``taken``, or a never-sent one answered ``duplicate``)
#: allowed in one round (one is enough for a restored profile; more means another copy is
#: pushing as the same device).
_MAX_RENUMBERS = 3
#: SQLite's default limit on bound parameters is 32766; IN lists stay far below it.
_CHUNK = 500


class SyncError(Exception):
    """Sync cannot go on for a reason the user must act on; the message says what to do."""


class LocalDataWiped(SyncError):
    """Head office revoked this device or disabled the account: local data was wiped."""


class ProfileMismatch(SyncError):
    """This profile already holds data of another user or server."""


class SyncCancelled(SyncError):
    """The round was stopped on request between two steps (everything done so far is kept)."""


@dataclass(frozen=True)
class SyncProgress:
    """Where a round stands: ``phase`` is "push", "download" (a first sync's snapshot), "pull"
    or "conflicts"; ``done`` counts mutations pushed, bytes downloaded or records pulled so
    far; ``total`` is known for pushes and (when the server says) downloads."""

    phase: str
    done: int
    total: int | None = None

    def describe(self) -> str:
        """The progress in words, as the status bar, the first-run page and ``crm sync`` say it."""
        if self.phase == "push":
            return f"Sending changes… {self.done:,} of {max(self.total or 0, self.done):,}"
        if self.phase == "download":
            done = self.done / 1_000_000
            if self.total is not None and self.total > 0:
                return f"Downloading your records… {done:,.0f} of {self.total / 1_000_000:,.0f} MB"
            return f"Downloading your records… {done:,.0f} MB"
        return f"Receiving… {self.done:,} records"


@dataclass
class SyncReport:
    """What one round did."""

    pushed: int = 0
    rejected: int = 0
    conflicts: int = 0
    pulled: int = 0
    deleted: int = 0
    removed: int = 0
    cursor: int = 0
    seconds: float = 0.0
    #: Time spent pushing (requests and their local bookkeeping) and pulling.
    push_seconds: float = 0.0
    pull_seconds: float = 0.0
    #: Entity types changed locally by this round (so views can refresh).
    changed: set[str] = field(default_factory=set)


ProgressCallback = Callable[[SyncProgress], None]

_ALL_ENTITIES = tuple(ENTITIES)


def _on_connect(dbapi_connection: sqlite3.Connection, _record: Any) -> None:
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    # Pulled rows may reference records outside the user's scope (protocol, "Pull").
    cursor.execute("PRAGMA foreign_keys=OFF")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=15000")
    cursor.execute("PRAGMA cache_size=-64000")
    cursor.execute("PRAGMA temp_store=MEMORY")
    # Checkpoint the WAL less often than every 1000 pages: a big pull rewrites the same
    # index pages many times, and fewer, larger checkpoints copy each of them once.
    cursor.execute("PRAGMA wal_autocheckpoint=8000")
    cursor.close()


def _create_engine(path: Path) -> Engine:
    engine = create_engine(f"sqlite:///{path}")
    event.listen(engine, "connect", _on_connect)
    event.listen(engine, "begin", begin_transaction)
    return engine


def _chunks(items: Sequence[Any], size: int = _CHUNK) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _hex(record_id: str | uuid.UUID) -> str:
    if isinstance(record_id, uuid.UUID):
        return record_id.hex
    text_id = record_id.replace("-", "").lower()
    return text_id if len(text_id) == 32 else uuid.UUID(record_id).hex


@dataclass(frozen=True)
class _Shape:
    """How pulled rows of one entity with one field list are stored and indexed.

    Worked out once per (entity, fields) rather than per page: the server sends the same field
    list on every page, and a first sync applies hundreds of pages.
    """

    table: str
    fields: tuple[str, ...]
    #: (position, converter) of the fields not stored as they travel (ids, timestamps).
    convert: tuple[tuple[int, Converter], ...]
    #: Position of each field in a row.
    index: dict[str, int]
    #: Positions of fields whose column defaults to NULL: left out of a page's INSERT when the
    #: page has no value for them at all (see :meth:`SyncEngine._upsert`).
    omittable: frozenset[int]
    #: Positions of ``search.COLUMNS[entity]`` in a row (None: not sent), or None when the
    #: entity is not searchable.
    searched: tuple[int | None, ...] | None
    #: INSERT statements by the positions they bind (filled as pages need them).
    statements: dict[tuple[int, ...], str] = field(default_factory=dict)

    def insert(self, positions: tuple[int, ...]) -> str:
        """``INSERT OR REPLACE`` of the fields at ``positions`` plus ``deleted`` (bound last)."""
        statement = self.statements.get(positions)
        if statement is None:
            columns = ", ".join(f'"{self.fields[j]}"' for j in positions)
            marks = ", ".join("?" * (len(positions) + 1))
            # OR REPLACE also clears a local row holding the same unique key under another id
            # (a default stage made before the first sync): the server's record wins.
            statement = (
                f'INSERT OR REPLACE INTO "{self.table}" ({columns}, deleted) VALUES ({marks})'
            )
            self.statements[positions] = statement
        return statement


def _shape(db: sqlite3.Cursor, entity: str, fields: tuple[str, ...]) -> _Shape:
    converters = storage_converters(entity)
    unknown = [name for name in fields if name not in converters or name == "deleted"]
    if unknown or not fields or fields[0] != "id" or len(set(fields)) != len(fields):
        raise SyncError(f"the server sent unexpected fields for {entity}: {unknown or fields}")
    table = table_name(entity)
    # The store's own DDL says which columns default to NULL (cid, name, type, notnull,
    # dflt_value, pk): only those may be left out of an INSERT to mean NULL.
    null_default = {row[1] for row in db.execute(f'PRAGMA table_info("{table}")') if row[4] is None}
    index = {name: j for j, name in enumerate(fields)}
    return _Shape(
        table=table,
        fields=fields,
        convert=tuple(
            (j, converters[name])
            for j, name in enumerate(fields)
            if converters[name] is not store_as_is
        ),
        index=index,
        omittable=frozenset(j for j, name in enumerate(fields) if j and name in null_default),
        searched=(
            tuple(index.get(name) for name in search.COLUMNS[entity])
            if search.is_searchable(entity)
            else None
        ),
    )


class SyncEngine:
    """Runs sync rounds for the store at ``database_path`` against ``transport``.

    See the module docstring for the round and the threading/transaction contract.
    ``pull_limit`` is the page size of pulls, ``full_sync_limit`` that of a pull from cursor 0
    (by default :data:`FULL_SYNC_LIMIT` with the default ``pull_limit``, else ``pull_limit``).
    ``sleep`` is injectable so tests don't wait on busy-server back-off.
    """

    def __init__(
        self,
        database_path: Path | str,
        transport: Transport,
        *,
        push_batch: int = PUSH_BATCH,
        pull_limit: int = PULL_LIMIT,
        full_sync_limit: int | None = None,
        busy_retries: int = 3,
        sleep: Callable[[float], None] = time.sleep,
        use_snapshot: bool = True,
    ) -> None:
        self.database_path = Path(database_path)
        self.transport = transport
        self.push_batch = push_batch
        self.pull_limit = pull_limit
        # A page size chosen by the caller applies to full syncs as well unless they get their
        # own, so a small page (tests, a slow link) stays small throughout.
        if full_sync_limit is None:
            full_sync_limit = FULL_SYNC_LIMIT if pull_limit == PULL_LIMIT else pull_limit
        self.full_sync_limit = full_sync_limit
        self.busy_retries = busy_retries
        self._sleep = sleep
        #: Whether a first sync may load the server's snapshot (``/v1/snapshot``) instead of
        #: pulling page by page from 0 (tests of the paged path turn it off).
        self.use_snapshot = use_snapshot
        self._engine = _create_engine(self.database_path)
        self._checkpointer: threading.Thread | None = None
        self._shapes: dict[tuple[str, tuple[str, ...]], _Shape] = {}

    def wait_for_checkpoint(self) -> None:
        """Return once a background checkpoint (after a first sync's snapshot) has finished."""
        if self._checkpointer is not None:
            self._checkpointer.join()

    def close(self) -> None:
        """Release the engine's connections (the transport is the caller's), once a background
        checkpoint has finished."""
        self.wait_for_checkpoint()
        self._engine.dispose()

    # --- transactions -------------------------------------------------------------------

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        with self._engine.connect() as connection, connection.begin():
            yield connection

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        with (
            self._engine.connect().execution_options(**{WRITE_OPTION: True}) as connection,
            connection.begin(),
        ):
            yield connection

    def state(self) -> SyncState:
        """The current sync state (device id, cursor, who is signed in...)."""
        with self._read() as connection:
            return state.load(connection)

    def pending(self) -> tuple[int, int]:
        """(mutations, records) waiting in the outbox."""
        with self._read() as connection:
            return outbox.pending(connection)

    def _call(self, request: Callable[[], Any]) -> Any:
        """Run one request, retrying ``busy`` answers (nothing was applied) with back-off."""
        for attempt in range(self.busy_retries + 1):
            try:
                return request()
            except ServerBusy as exc:
                if attempt == self.busy_retries:
                    raise
                delay = exc.retry_after if exc.retry_after is not None else 0.2 * 2**attempt
                log.info("server busy, retrying in %.1f s", delay)
                self._sleep(min(delay, 30.0))
        raise AssertionError("unreachable")  # pragma: no cover

    # --- sign-in ------------------------------------------------------------------------

    def sign_in(
        self, *, server_url: str, username: str, password: str, device_name: str
    ) -> LoginResponse:
        """Log in with this profile's device id and record who the profile belongs to.

        The caller keeps the returned token (in the keyring). A profile that already synced
        with another user or server is refused (:class:`ProfileMismatch`): its data belongs to
        them. A device id the server no longer accepts (revoked earlier) is replaced by a new one,
        after wiping whatever the profile synced under it.
        """
        current = self.state()
        if current.user_id is not None and (
            current.server_url != server_url or (current.username or "") != username
        ):
            raise ProfileMismatch(
                f"this profile holds the data of {current.username} on {current.server_url}; "
                "sign in with another profile (--profile DIR) to use a different account"
            )
        wiped_now = False
        try:
            response = self._call(
                lambda: self.transport.login(
                    username=username,
                    password=password,
                    device_id=current.device_id,
                    device_name=device_name,
                )
            )
        except ServerError as exc:
            if exc.code != "device_conflict":
                raise
            wiped_now = current.user_id is not None
            if wiped_now:
                # The server no longer accepts this profile's device (head office revoked it;
                # a profile of another user is refused above). Its data must not outlive the
                # revocation just because the next contact was a sign-in rather than a sync.
                self.wipe(
                    "Head office revoked this device; its local data was wiped before "
                    "signing in again as a new device."
                )
            else:
                with self._write() as connection:
                    state.set_values(connection, device_id=uuid.uuid4().hex)
            current = self.state()
            response = self._call(
                lambda: self.transport.login(
                    username=username,
                    password=password,
                    device_id=current.device_id,
                    device_name=device_name,
                )
            )
        with self._write() as connection:
            now = state.load(connection)
            if response.last_mutation >= 1:
                self._renumber_above(connection, now, response.last_mutation)
            state.set_values(
                connection,
                server_url=server_url,
                user_id=response.user_id.hex,
                username=response.username,
                # A wipe made by this very sign-in stays on record for the app to show.
                wiped_reason=now.wiped_reason if wiped_now else None,
            )
            self._absorb_server_time(connection, response.server_time_ms)
        return response

    def _renumber_above(self, connection: Connection, now: SyncState, floor: int) -> None:
        """Make every pending mutation number exceed ``floor`` (the server's last applied).

        A restored or re-installed profile may number below what the server already applied,
        and those mutations would be skipped as duplicates: move them above, keeping order.
        """
        low = connection.execute(select(sync_outbox.c.n).order_by(sync_outbox.c.n)).scalars().all()
        if low and low[0] <= floor:
            shift = floor - low[0] + 1
            # Shift from the top down so no number collides on the way.
            connection.execute(text("UPDATE sync_outbox SET n = -n"))
            connection.execute(text("UPDATE sync_outbox SET n = -n + :s"), {"s": shift})
            connection.execute(text("UPDATE sync_base SET last_n = last_n + :s"), {"s": shift})
        top = connection.execute(select(sync_outbox.c.n).order_by(sync_outbox.c.n.desc())).scalar()
        state.set_values(connection, last_mutation=max(now.last_mutation, floor, top or 0))

    def _absorb_server_time(self, connection: Connection, server_time_ms: int) -> None:
        current = state.load(connection)
        clock = state.clock_for(current)
        try:
            stamp = clock.update(Hlc(server_time_ms, 0))
        except ClockError as exc:
            log.warning("not adopting the server's time: %s", exc)
            return
        state.save_clock(connection, stamp)

    # --- the round ----------------------------------------------------------------------

    def sync(
        self,
        *,
        progress: ProgressCallback | None = None,
        cancel: threading.Event | None = None,
    ) -> SyncReport:
        """Push, pull and fetch conflicts once; see the module docstring.

        Raises :class:`~crm_desktop.sync.transport.NetworkError` when offline,
        :class:`LocalDataWiped` after wiping a revoked device, ``UpdateRequired``,
        ``AuthenticationError`` (sign in again), ``ServerBusy`` (retry later) or
        :class:`SyncCancelled`. What was done before any of them is kept.
        """
        started = time.perf_counter()
        report = SyncReport()
        notify = progress or (lambda _p: None)
        try:
            self._push_all(report, notify, cancel)
            pushed_at = time.perf_counter()
            report.push_seconds = pushed_at - started
            try:
                self._pull_all(report, notify, cancel)
            except ResyncRequired:
                self._reset_for_resync()
                self._pull_all(report, notify, cancel)
            report.pull_seconds = time.perf_counter() - pushed_at
            if report.pushed or report.pulled:
                # A conflict involves this device when it pushed (its answer may have been
                # lost) or when another device's push overruled one of its values, which then
                # arrives here as a pulled change. A round that moved nothing has none to fetch,
                # so the no-op sync stays one request.
                self._fetch_conflicts(report, cancel)
        except DeviceRevoked as exc:
            reason = (
                "Head office revoked this device"
                if exc.code == "device_revoked"
                else "Your account was disabled"
            )
            message = f"{reason}; its local data was wiped. ({exc.message})"
            self.wipe(message)
            raise LocalDataWiped(message) from exc
        report.seconds = time.perf_counter() - started
        return report

    @staticmethod
    def _check_cancel(cancel: threading.Event | None) -> None:
        if cancel is not None and cancel.is_set():
            raise SyncCancelled("sync stopped")

    # --- push ---------------------------------------------------------------------------

    def _push_all(
        self, report: SyncReport, notify: ProgressCallback, cancel: threading.Event | None
    ) -> None:
        total: int | None = None
        # Until a request has carried a never-sent mutation, a request carries either the
        # resends at the head of the outbox (sent before, their answer lost) or the first
        # never-sent mutation alone, never both. A profile restored from a backup numbers below
        # what the server applied; sent together, its low numbers would come back taken (or
        # duplicate) while later ones of the same batch were applied, and the renumbered ones
        # would then land after them, an older edit of a field overwriting a newer one. One
        # never-sent mutation alone either is applied (every later number is higher still) or
        # tells the server's last number first; so do resends alone (a restored profile's
        # probe whose answer was lost comes back taken, with nothing after it applied).
        probing = True
        renumbered = 0
        while True:
            self._check_cancel(cancel)
            with self._read() as connection:
                if total is None:
                    total = outbox.pending(connection)[0]
                    if total:
                        notify(SyncProgress("push", 0, total))
                entries = outbox.read_batch(
                    connection, limit=self.push_batch, max_bytes=PUSH_MAX_BYTES
                )
                current = state.load(connection)
            if not entries:
                return
            if probing:
                fresh = next((i for i, entry in enumerate(entries) if not entry.sent), None)
                if fresh == 0:
                    probing = False
                    entries = entries[:1]
                elif fresh is not None:
                    entries = entries[:fresh]
            self._mark_sent(entries)
            body = self._push_body(entries, current)
            response: PushResponse = self._call(partial(self.transport.push, body))
            kept = self._apply_push(entries, response, report)
            report.pushed += len(entries) - kept
            if kept:
                renumbered += 1
                if renumbered > _MAX_RENUMBERS:
                    # Another copy of this profile keeps taking the same numbers: stop rather
                    # than chase it; the mutations stay in the outbox.
                    raise SyncError(
                        "another copy of this profile is syncing as the same device; "
                        "use one copy only, or sign in with a new profile on the other PC"
                    )
            notify(SyncProgress("push", report.pushed, max(total or 0, report.pushed)))

    def _mark_sent(self, entries: list[outbox.OutboxEntry]) -> None:
        """Record (committed) that ``entries`` are about to be sent: from now on a duplicate
        answer for them may mean "applied by a request whose answer was lost"."""
        fresh = [entry.n for entry in entries if not entry.sent]
        if not fresh:
            return
        with self._write() as connection:
            connection.execute(
                sync_outbox.update().where(sync_outbox.c.n.in_(fresh)).values(sent=True)
            )

    def _push_body(self, entries: list[outbox.OutboxEntry], current: SyncState) -> bytes:
        # The stored changes are already wire JSON: splice them in rather than re-validating
        # every value through pydantic (the server validates anyway).
        clock = state.clock_for(current)
        base = entries[0].base
        parts = []
        for entry in entries:
            own_base = f',"b":{entry.base}' if entry.base != base else ""
            parts.append(f'{{"n":{entry.n},"h":"{entry.stamp}"{own_base},"c":{entry.changes}}}')
        head = f'{{"clock":"{clock.now().compact()}","b":{base},"mutations":['
        return (head + ",".join(parts) + "]}").encode()

    def _apply_push(
        self,
        entries: list[outbox.OutboxEntry],
        response: PushResponse,
        report: SyncReport,
    ) -> int:
        """Apply a push answer; returns how many mutations stay to be pushed again.

        A mutation answered ``taken`` was not applied: the server processed another mutation
        of this device under its number (restored or copied profile; told apart by the stamp).
        It stays, and it and every later pending mutation are renumbered above the server's
        last number, keeping their order and bases, for the same round to push them again,
        whether it was sent before or not (a lost answer to the first request changes nothing).

        Fallback for numbers the server no longer remembers (their record is purged after 90
        days) and so answers ``duplicate`` without the code ``same_mutation``: a mutation never
        sent before this request cannot have been applied, and is renumbered the same way. A
        ``duplicate`` the server recognised (``same_mutation``) is this very mutation, applied
        before (a backup taken before it was flagged sent, restored after the original laptop
        pushed it): dropped, never re-applied over that laptop's later edits.
        """
        batch = {entry.n: entry for entry in entries}
        results = {result.n: result for result in response.results}
        missing = batch.keys() - results.keys()
        if missing and max(missing) > response.last_mutation:
            raise SyncError(
                f"the server answered without results for mutations {sorted(missing)[:5]}; "
                "they stay in the outbox"
            )
        kept = [
            n
            for n, entry in batch.items()
            if n in results
            and (
                results[n].status == "taken"
                or (
                    results[n].status == "duplicate"
                    and results[n].code != SAME_MUTATION
                    and not entry.sent
                )
            )
        ]
        with self._write() as connection:
            my_device = state.load(connection).device_id.hex
            touched: dict[str, set[str]] = {}
            for n, entry in batch.items():
                result = results.get(n)
                if result is None or n in kept:
                    continue  # None: applied by an earlier, lost answer (n <= last_mutation)
                if result.status == "rejected":
                    report.rejected += 1
                    self._log_rejection(connection, my_device, entry, result.code, result.reason)
                    self._restore_bases(connection, entry, touched)
                for conflict in result.conflicts:
                    report.conflicts += 1
                    self._log_conflict(
                        connection,
                        device_id=my_device,
                        mutation=n,
                        conflict=conflict.model_dump(mode="json"),
                        server_id=None,
                    )
                    self._apply_decision(connection, n, conflict.model_dump(mode="json"), touched)
            done = [n for n in batch if n not in kept]
            if done:
                connection.execute(sync_outbox.delete().where(sync_outbox.c.n.in_(done)))
                # The decided edits' bases go; those of mutations still to push stay.
                connection.execute(
                    sync_base.delete().where(
                        sync_base.c.last_n <= max(done), sync_base.c.last_n.not_in(kept)
                    )
                )
            now = state.load(connection)
            if response.last_mutation > now.last_mutation:
                state.set_values(connection, last_mutation=response.last_mutation)
            if kept:
                log.warning(
                    "the server already used mutation numbers %s of this device (a restored or "
                    "copied profile): pushing them again as new numbers",
                    kept[:5],
                )
                # Renumbered, they have never been sent under their new numbers.
                connection.execute(
                    sync_outbox.update().where(sync_outbox.c.n.in_(kept)).values(sent=False)
                )
                self._renumber_above(connection, state.load(connection), response.last_mutation)
            self._absorb_server_time(connection, response.server_time_ms)
            self._reindex(connection, touched)
            report.changed.update(touched)
        return len(kept)

    def _log_rejection(
        self,
        connection: Connection,
        device_id: str,
        entry: outbox.OutboxEntry,
        code: str | None,
        reason: str | None,
    ) -> None:
        # One row per record of the mutation: all of them are rolled back locally
        # (_restore_bases), so each must be listed for the user to see and redo, not only the
        # first (a quote's lines, the second account of a save touching two).
        now = _stored_time(utcnow())
        connection.execute(
            text(
                "INSERT INTO sync_conflict (created_at, device_id, mutation, entity, record_id,"
                " field, rule, winner, base_known, local, code, reason)"
                " VALUES (:now, :device, :n, :entity, :rid, '', 'rejected', 'server', 0,"
                " :local, :code, :reason) ON CONFLICT DO NOTHING"
            ),
            [
                {
                    "now": now,
                    "device": device_id,
                    "n": entry.n,
                    "entity": change["t"],
                    "rid": _hex(change["id"]),
                    "local": json.dumps(
                        change.get("f") if not change.get("d") else {"deleted": True}
                    ),
                    "code": code,
                    "reason": reason,
                }
                for change in json.loads(entry.changes)
            ],
        )

    def _restore_bases(
        self, connection: Connection, entry: outbox.OutboxEntry, touched: dict[str, set[str]]
    ) -> None:
        """Put back the server's values of fields a rejected mutation changed (no newer edit)."""
        for change in json.loads(entry.changes):
            entity, rid = change["t"], _hex(change["id"])
            rows = connection.execute(
                select(sync_base.c.field, sync_base.c.value).where(
                    sync_base.c.entity == entity,
                    sync_base.c.record_id == rid,
                    sync_base.c.last_n == entry.n,
                    sync_base.c.value.is_not(None),
                )
            ).all()
            for name, value in rows:
                self._set_field(connection, entity, rid, name, json.loads(value))
                touched.setdefault(entity, set()).add(rid)

    def _set_field(
        self, connection: Connection, entity: str, rid: str, name: str, value: Scalar
    ) -> None:
        converters = storage_converters(entity)
        if name not in converters:
            raise SyncError(f"the server named an unknown field {entity}.{name}")
        stored = converters[name](value)
        if name == "deleted":
            stored = 1 if value else 0
        connection.exec_driver_sql(
            f'UPDATE "{table_name(entity)}" SET "{name}" = ? WHERE id = ?', (stored, rid)
        )

    def _apply_decision(
        self,
        connection: Connection,
        n: int,
        conflict: dict[str, Any],
        touched: dict[str, set[str]],
    ) -> None:
        """Make the local row show what the server decided for one conflicted field."""
        entity, rid, name = conflict["t"], _hex(conflict["id"]), conflict["field"]
        newer = connection.execute(
            select(sync_base.c.last_n).where(
                sync_base.c.entity == entity,
                sync_base.c.record_id == rid,
                sync_base.c.field == name,
                sync_base.c.last_n > n,
            )
        ).first()
        if newer is not None:
            return  # edited again since: that edit is still to be decided
        if conflict["rule"] in ("edit_after_delete", "delete_wins"):
            self._set_field(connection, entity, rid, "deleted", True)
        elif conflict["winner"] in ("server", "both"):
            self._set_field(connection, entity, rid, name, conflict["value"])
        else:
            return
        touched.setdefault(entity, set()).add(rid)

    def _log_conflict(
        self,
        connection: Connection,
        *,
        device_id: str,
        mutation: int,
        conflict: dict[str, Any],
        server_id: int | None,
        created_at: Any = None,
    ) -> bool:
        """Add one conflict to the local log (or give an existing one its server id)."""
        result = connection.execute(
            text(
                "INSERT INTO sync_conflict (server_id, created_at, device_id, mutation, entity,"
                " record_id, field, rule, winner, base, base_known, local, server, value)"
                " VALUES (:sid, :created, :device, :n, :entity, :rid, :field, :rule, :winner,"
                " :base, :base_known, :local, :server, :value)"
                " ON CONFLICT (device_id, mutation, entity, record_id, field)"
                " DO UPDATE SET server_id = coalesce(excluded.server_id, server_id)"
            ),
            {
                "sid": server_id,
                "created": _stored_time(created_at or utcnow()),
                "device": device_id,
                "n": mutation,
                "entity": conflict["t"],
                "rid": _hex(conflict["id"]),
                "field": conflict["field"],
                "rule": conflict["rule"],
                "winner": conflict["winner"],
                "base": json.dumps(conflict.get("base")) if conflict.get("base_known") else None,
                "base_known": bool(conflict.get("base_known")),
                "local": json.dumps(conflict.get("local")),
                "server": json.dumps(conflict.get("server")),
                "value": json.dumps(conflict.get("value")),
            },
        )
        return bool(result.rowcount)

    # --- pull ---------------------------------------------------------------------------

    def _pull_all(
        self, report: SyncReport, notify: ProgressCallback, cancel: threading.Event | None
    ) -> None:
        """Pull pages until the server has no more.

        The next page is requested while the current one is applied (a one-page read-ahead on
        a helper thread, which alone uses the transport meanwhile), so the server's work and
        ours overlap; at most two pages are in memory.
        """
        self._remove_stale_snapshots()
        directory = self.database_path.parent
        if (directory / snapshot.PARTIAL_LOAD).exists():
            # A snapshot load was cut short: take its records out before pulling anything
            # (page by page from 0, or another snapshot), else any that left the user's scope
            # since would stay. Taking the lock does it (after waiting for a load another
            # process is running right now).
            with self._snapshot_lock():
                pass
        cursor = self.state().cursor
        if cursor == 0 and self.use_snapshot:
            cursor = self._pull_snapshot(report, notify, cancel)
        # A round that starts from nothing keeps the full-sync page size to its end (a resumed
        # full sync goes on with ordinary pages, which is only slower).
        fetch = partial(self._fetch_page, limit=self.full_sync_limit if cursor == 0 else None)
        notify(SyncProgress("pull", report.pulled))
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="crm-pull") as fetcher:
            ahead: Future[PullResponse] = fetcher.submit(fetch, cursor)
            while True:
                try:
                    self._check_cancel(cancel)
                    page = ahead.result()
                except BaseException:
                    ahead.cancel()
                    raise
                if page.has_more:
                    ahead = fetcher.submit(fetch, page.cursor)
                try:
                    applied = self._apply_page(cursor, page, report)
                except BaseException:
                    ahead.cancel()
                    raise
                if not applied:
                    # Another sync of this profile moved the cursor meanwhile: go on from there
                    # (the page read ahead belongs to the old position and is dropped).
                    if page.has_more:
                        ahead.cancel()
                        _wait_quietly(ahead)
                    cursor = self.state().cursor
                    ahead = fetcher.submit(fetch, cursor)
                    continue
                cursor = page.cursor
                report.cursor = cursor
                notify(SyncProgress("pull", report.pulled))
                if not page.has_more:
                    return

    def _checkpoint_in_background(self) -> None:
        """Fold the WAL a snapshot load left into the database file, on a helper thread.

        The load skipped the checkpoint at its commit (``snapshot.load``): the records are
        usable at once, and the copy (hundreds of MB after a big first sync) runs beside
        whatever the user does next, which WAL allows. :meth:`close` waits for it, so a
        ``crm sync`` process leaves a folded file behind.
        """

        def run() -> None:
            try:
                with contextlib.closing(sqlite3.connect(self.database_path, timeout=30)) as db:
                    db.execute("PRAGMA wal_checkpoint(PASSIVE)")
            except sqlite3.Error as exc:  # the next commit's own checkpoint does it instead
                log.warning("background checkpoint failed: %s", exc)

        self._checkpointer = threading.Thread(target=run, name="crm-checkpoint", daemon=True)
        self._checkpointer.start()

    def _remove_stale_snapshots(self) -> None:
        """Delete snapshot downloads a killed process left in the profile directory.

        Only files untouched for :data:`STALE_SNAPSHOT_SECONDS`: a download in progress (the
        app and ``crm sync`` may run on one profile) writes its file every few milliseconds.
        Were one removed anyway, that round would find the file unusable and pull page by page.
        """
        now = time.time()
        for stale in self.database_path.parent.glob(".snapshot-*.sqlite3"):
            with contextlib.suppress(OSError):  # gone meanwhile, or open elsewhere (Windows)
                if now - stale.stat().st_mtime > STALE_SNAPSHOT_SECONDS:
                    stale.unlink()

    @contextmanager
    def _snapshot_lock(self) -> Iterator[None]:
        """The profile's snapshot-load lock, with any load cut short taken out first (see
        ``snapshot.undo_partial_load``); a :class:`SyncError` if another process keeps it."""
        directory = self.database_path.parent
        try:
            with snapshot.load_lock(directory):
                snapshot.undo_partial_load(self._engine, directory)
                yield
        except snapshot.SnapshotBusy as exc:
            raise SyncError(str(exc)) from exc

    def _pull_snapshot(
        self, report: SyncReport, notify: ProgressCallback, cancel: threading.Event | None
    ) -> int:
        """First sync: load the server's snapshot of the whole scope (see ``sync.snapshot``).

        Returns the cursor to pull on from: the snapshot's, or 0 when none was used (the
        store does not qualify, the server has no snapshots, or the file was unusable: then
        the round pulls page by page from 0, which ends in the same state, only slower).
        """
        with self._read() as connection:
            if not snapshot.can_use(connection):
                return 0
        directory = self.database_path.parent
        path = directory / f".snapshot-{uuid.uuid4().hex}.sqlite3"
        try:
            # One load per profile at a time (the app and ``crm sync`` may both start one).
            with self._snapshot_lock():
                with self._read() as connection:
                    if not snapshot.can_use(connection):  # the other one finished meanwhile
                        return self.state().cursor
                notify(SyncProgress("download", 0))

                def downloaded(done: int, total: int | None) -> None:
                    # Called per MB received: a cancel stops a long download, not only the load.
                    self._check_cancel(cancel)
                    notify(SyncProgress("download", done, total))

                cursor: int | None = self._call(partial(self.transport.snapshot, path, downloaded))
                if cursor is None:
                    return 0
                self._check_cancel(cancel)
                base = report.pulled
                loaded = snapshot.load(
                    self._engine,
                    path,
                    cursor,
                    progress=lambda n: notify(SyncProgress("pull", base + n)),
                    checkpoint=partial(self._check_cancel, cancel),
                )
        except snapshot.SnapshotError as exc:
            log.warning("not using the server's snapshot (%s); pulling page by page", exc)
            return 0
        finally:
            path.unlink(missing_ok=True)
        if loaded is None:
            return self.state().cursor
        self._checkpoint_in_background()
        report.pulled += loaded
        report.cursor = cursor
        report.changed.update(ENTITIES)
        return cursor

    def _fetch_page(self, cursor: int, limit: int | None = None) -> PullResponse:
        request = partial(self.transport.pull, cursor, limit or self.pull_limit)
        page: PullResponse = self._call(request)
        return page

    def _apply_page(self, cursor: int, page: PullResponse, report: SyncReport) -> bool:
        if page.cursor == cursor and not page.upserts and not page.deletes and not page.removals:
            return True  # nothing new: no write transaction at all (the no-op round's case)
        with self._write() as connection:
            current = state.load(connection)
            if current.cursor != cursor:
                return False
            raw = connection.connection.driver_connection
            assert raw is not None
            db: sqlite3.Cursor = raw.cursor()
            unindex: list[uuid.UUID] = []
            for entity, ids in page.removals.items():
                hexes = [i.hex for i in ids]
                table = table_name(self._known(entity))
                db.executemany(f'DELETE FROM "{table}" WHERE id = ?', [(h,) for h in hexes])
                db.executemany(
                    "DELETE FROM sync_base WHERE entity = ? AND record_id = ?",
                    [(entity, h) for h in hexes],
                )
                report.removed += len(hexes)
                report.changed.add(entity)
                if search.is_searchable(entity):
                    unindex.extend(ids)
            for entity, ids in page.deletes.items():
                table = table_name(self._known(entity))
                db.executemany(
                    f'UPDATE "{table}" SET deleted = 1 WHERE id = ?', [(i.hex,) for i in ids]
                )
                report.deleted += len(ids)
                report.changed.add(entity)
                if search.is_searchable(entity):
                    unindex.extend(ids)
            search.unindex(connection, unindex)
            for rows in page.upserts:
                self._upsert(connection, db, rows.t, rows.fields, rows.rows)
                report.pulled += len(rows.rows)
                report.changed.add(rows.t)
            db.close()
            state.set_values(connection, cursor=page.cursor, last_sync_at=utcnow())
            self._absorb_server_time(connection, page.server_time_ms)
        return True

    @staticmethod
    def _known(entity: str) -> str:
        if entity not in ENTITIES:
            raise SyncError(f"the server sent an unknown record type {entity!r}")
        return entity

    def _upsert(
        self,
        connection: Connection,
        db: sqlite3.Cursor,
        entity: str,
        fields: list[str],
        rows: list[list[Scalar]],
    ) -> None:
        key = (self._known(entity), tuple(fields))
        shape = self._shapes.get(key)
        if shape is None:
            shape = self._shapes[key] = _shape(db, *key)
        count = len(rows)
        if not count:
            return
        width = len(fields)
        if any(len(row) != width for row in rows):
            raise SyncError(f"the server sent a {entity} row of the wrong width")
        # The page is handled column by column: the transposes run in C, and only the values
        # that need it (ids, timestamps) cost a Python call each.
        columns: list[Sequence[Any]] = list(zip(*rows, strict=True))
        for j, convert in shape.convert:
            columns[j] = tuple(map(convert, columns[j]))
        deleted: Iterable[int] = repeat(0, count)
        tombstoned = self._keep_pending(db, entity, shape, rows, columns)
        if tombstoned:
            deleted = [1 if i in tombstoned else 0 for i in range(count)]
        # sqlite3 binds None through its adapter lookup, about 0.5 us per value, and most
        # records leave most optional columns empty: a column with no value on the whole page
        # is left out of the INSERT (it defaults to NULL) instead of bound row after row.
        bound = tuple(
            j for j in range(width) if j not in shape.omittable or columns[j].count(None) != count
        )
        db.executemany(shape.insert(bound), zip(*(columns[j] for j in bound), deleted, strict=True))
        if shape.searched is None:
            return
        # (id, *searched columns) per record, in storage form; the id is the 32-digit hex.
        searched = [(None,) * count if j is None else columns[j] for j in shape.searched]
        entries: Iterable[Sequence[Any]] = zip(columns[0], *searched, strict=True)
        if tombstoned:
            # A pending local delete keeps the record tombstoned: it gets no entry.
            search.unindex(connection, [columns[0][i] for i in tombstoned])
            entries = [row for i, row in enumerate(entries) if i not in tombstoned]
        search.index_rows(connection, entity, entries)

    def _keep_pending(
        self,
        db: sqlite3.Cursor,
        entity: str,
        shape: _Shape,
        rows: list[list[Scalar]],
        columns: list[Sequence[Any]],
    ) -> set[int]:
        """Rebase: fields with a pending local edit keep the local value; the pulled value
        becomes their base. Writes the local values into ``columns`` (storage values by
        column) and returns the rows whose pending local delete keeps them tombstoned."""
        tombstoned: set[int] = set()
        has_pending = db.execute(
            "SELECT 1 FROM sync_base WHERE entity = ? LIMIT 1", (entity,)
        ).fetchone()
        if not has_pending:
            return tombstoned
        position = {rid: i for i, rid in enumerate(columns[0])}
        pending: dict[str, list[str]] = {}
        for chunk in _chunks(list(position)):
            marks = ", ".join("?" * len(chunk))
            for rid, name in db.execute(
                f"SELECT record_id, field FROM sync_base WHERE entity = ? AND record_id IN ({marks})",
                (entity, *chunk),
            ):
                pending.setdefault(rid, []).append(name)
        if not pending:
            return tombstoned
        index = shape.index
        rebased = []
        for rid, names in pending.items():
            i = position[rid]
            local = db.execute(
                f'SELECT {", ".join(chr(34) + n + chr(34) for n in names)} FROM "{shape.table}"'
                " WHERE id = ?",
                (rid,),
            ).fetchone()
            if local is None:
                continue
            for name, value in zip(names, local, strict=True):
                if name == "deleted":
                    if value:
                        tombstoned.add(i)
                    continue
                j = index.get(name)
                if j is None:
                    continue
                rebased.append((json.dumps(rows[i][j]), entity, rid, name))
                column = columns[j]
                if not isinstance(column, list):
                    column = columns[j] = list(column)
                column[i] = value
        db.executemany(
            "UPDATE sync_base SET value = ? WHERE entity = ? AND record_id = ? AND field = ?",
            rebased,
        )
        return tombstoned

    def _reindex(self, connection: Connection, touched: dict[str, set[str]]) -> None:
        """Rewrite the search entries of records changed outside a pulled page."""
        ids = [
            uuid.UUID(h)
            for entity, hexes in touched.items()
            if search.is_searchable(entity)
            for h in hexes
        ]
        if ids:
            search.reindex(connection, ids)

    # --- conflicts ----------------------------------------------------------------------

    def _fetch_conflicts(self, report: SyncReport, cancel: threading.Event | None) -> None:
        after = self.state().conflicts_after
        while True:
            self._check_cancel(cancel)
            page: ConflictPage = self._call(partial(self.transport.conflicts, after))
            with self._write() as connection:
                mine = state.load(connection).device_id.hex
                touched: dict[str, set[str]] = {}
                for entry in page.entries:
                    new = self.store_conflict_entry(connection, entry)
                    if new and entry.device_id is not None and entry.device_id.hex == mine:
                        self._apply_late_decision(connection, entry, touched)
                state.set_values(connection, conflicts_after=page.next_after)
                self._reindex(connection, touched)
                report.changed.update(touched)
            after = page.next_after
            if not page.has_more:
                return

    def store_conflict_entry(self, connection: Connection, entry: ConflictEntry) -> bool:
        """Add one ``GET /v1/conflicts`` entry to the local log; returns whether it was new.

        An entry already logged from its push answer only gets its server id.
        """
        conflict = entry.conflict
        device = entry.device_id.hex if entry.device_id else ""
        known = connection.execute(
            select(sync_conflict.c.id).where(
                sync_conflict.c.device_id == device,
                sync_conflict.c.mutation == (entry.mutation or 0),
                sync_conflict.c.entity == conflict.t,
                sync_conflict.c.record_id == conflict.id,
                sync_conflict.c.field == conflict.field,
            )
        ).first()
        self._log_conflict(
            connection,
            device_id=device,
            mutation=entry.mutation or 0,
            conflict=conflict.model_dump(mode="json"),
            server_id=entry.id,
            created_at=datetime.fromtimestamp(entry.created_at_ms / 1000, UTC),
        )
        return known is None

    def _apply_late_decision(
        self, connection: Connection, entry: ConflictEntry, touched: dict[str, set[str]]
    ) -> None:
        """A decision whose push answer was lost: apply it unless something newer arrived.

        The resent batch came back as ``duplicate`` without conflicts, and a losing value
        leaves the server record unchanged (no pull brings it), so only this entry can put
        the standing value back. It is applied only while the field still holds the value
        this device sent; anything else means a newer value arrived since.
        """
        conflict = entry.conflict.model_dump(mode="json")
        entity, rid, name = conflict["t"], _hex(conflict["id"]), conflict["field"]
        if conflict["rule"] not in ("edit_after_delete", "delete_wins"):
            converters = wire_converters(entity)
            if name not in converters:
                return
            row = connection.exec_driver_sql(
                f'SELECT "{name}" FROM "{table_name(entity)}" WHERE id = ?', (rid,)
            ).first()
            if row is None or converters[name](row[0]) != conflict["local"]:
                return
        self._apply_decision(connection, entry.mutation or 0, conflict, touched)

    # --- wiping -------------------------------------------------------------------------

    def wipe(self, reason: str) -> None:
        """Delete every record and all sync bookkeeping, and start over as a new device.

        Used when head office revoked the device: deleted content is overwritten
        (``secure_delete``) and the WAL truncated, so the data does not linger in the file;
        a snapshot download a killed process left in the profile folder goes too.
        """
        # A checkpoint still running would keep the WAL from being truncated.
        self.wait_for_checkpoint()
        with self._engine.connect() as connection:
            # PRAGMAs go through the driver so they run outside any transaction.
            raw = connection.connection.driver_connection
            assert raw is not None
            raw.execute("PRAGMA secure_delete=ON")
            try:
                with connection.execution_options(**{WRITE_OPTION: True}).begin():
                    for table in reversed(Base.metadata.sorted_tables):
                        connection.execute(table.delete())
                    for name in search.SEARCH_TABLES:
                        connection.exec_driver_sql(f"DELETE FROM {name}")
                    for table in (sync_outbox, sync_base, sync_conflict):
                        connection.execute(table.delete())
                    connection.execute(
                        sync_state.update().values(
                            device_id=uuid.uuid4().hex,
                            last_mutation=0,
                            cursor=0,
                            conflicts_after=0,
                            server_url=None,
                            user_id=None,
                            username=None,
                            last_sync_at=None,
                            wiped_reason=reason,
                        )
                    )
            finally:
                raw.execute("PRAGMA secure_delete=OFF")
            raw.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        directory = self.database_path.parent
        for leftover in (
            *directory.glob(".snapshot-*.sqlite3"),
            directory / snapshot.PARTIAL_LOAD,
        ):
            with contextlib.suppress(OSError):
                leftover.unlink()

    def _reset_for_resync(self) -> None:
        """410 resync_required: drop synced records (the outbox stays) and pull from zero."""
        with self._write() as connection:
            pending_ids = _outbox_record_ids(connection)
            for table in reversed(Base.metadata.sorted_tables):
                connection.execute(table.delete().where(table.c.id.not_in(pending_ids)))
            search.reindex(connection)
            state.set_values(connection, cursor=0)


def _wait_quietly(future: Future[Any]) -> None:
    """Let a dropped read-ahead finish; its result or failure no longer matters."""
    try:
        future.result()
    except Exception as exc:
        log.debug("dropped read-ahead page failed: %s", exc)


def _stored_time(moment: datetime) -> str:
    """An aware datetime as SQLAlchemy stores UTCDateTime on SQLite (naive UTC text)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def _outbox_record_ids(connection: Connection) -> list[uuid.UUID]:
    ids: list[uuid.UUID] = []
    for (changes,) in connection.execute(select(sync_outbox.c.changes)):
        ids.extend(uuid.UUID(change["id"]) for change in json.loads(changes))
    return ids


__all__ = [
    "LocalDataWiped",
    "ProfileMismatch",
    "SyncCancelled",
    "SyncEngine",
    "SyncError",
    "SyncProgress",
    "SyncReport",
]
