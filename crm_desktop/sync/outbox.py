"""Change capture: every local write records its changed fields in the outbox, in its own transaction.

One place captures everything (DESIGN.md, sync principle 2): an ``after_flush`` hook on the
store's session factory, installed by :class:`crm_desktop.store.db.Store` next to the search
index hook. Whatever screen, import or command wrote through an ORM session, the hook sees the
flushed objects and, through the session's own connection, in the same transaction:

* appends the changed fields (wire-encoded) to this transaction's **one** outbox mutation, so a
  quote and its lines travel and apply together. The mutation gets the next per-device number
  ``n`` (the idempotency key), one clock stamp, and the pull cursor at that moment as its base.
  Several flushes in one transaction merge into the same mutation (the row is re-read each time,
  so a rolled-back savepoint takes its part of the mutation with it). A transaction touching more
  than :data:`~crm_desktop.sync.protocol.MAX_CHANGES_PER_MUTATION` records (a big import) spills
  into further mutations, because the protocol caps a mutation's size.
* records, per edited field, the value before the first pending edit (``sync_base``): the base
  a merge is computed against, and what keeps a pulled value from clobbering the edit.

Creates send every non-null column (with ``created_at``); edits send the fields whose value
changed; a tombstone (``deleted`` set) or an ORM hard delete travels as a delete. A **revival**
(``deleted`` going from true back to false: a contact re-linked to an account whose link was
tombstoned, a price re-added) travels as ``"r": true`` with the record's full current state
(every synced column, nulls and ``created_at`` included): the server holds a tombstone whose
fields may differ from ours, and sending only the changed fields would meet that tombstone as an
``edit_after_delete`` and the revival would be undone. Sessions that
apply pulled changes set ``session.info[SKIP_CAPTURE] = True`` so those writes are not echoed
back.

The base cursor of a mutation is normally the pull cursor when the transaction is made. A caller
that saves values it read earlier (a record page open while a sync pulled a colleague's edit)
puts the cursor of that read in ``session.info[BASE_CURSOR]``; the mutation then takes the smaller
of the two, so the server sees the colleague's edit as concurrent instead of silently
overwriting it. Bulk Core statements bypass the ORM and are not captured: the only such writer is the demo
data generator, whose records are local examples, not company data.

Threading: the hook runs on whichever thread flushes, inside that session's transaction; the
numbers and the clock are read and advanced with UPDATE ... RETURNING in that transaction, so two
writers (the app's store worker and a ``crm`` command) are serialised by SQLite's write lock.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, event, func, inspect, select, text, update
from sqlalchemy.orm import Session, SessionTransaction, sessionmaker

from crm_desktop.models import ENTITIES, utcnow
from crm_desktop.sync import state as sync_state_mod
from crm_desktop.sync.clock import Hlc, HybridLogicalClock
from crm_desktop.sync.protocol import MAX_CHANGES_PER_MUTATION
from crm_desktop.sync.tables import encode_value, sync_outbox, sync_state

#: ``session.info`` key: when true, flushes of this session are not captured (pulled data).
SKIP_CAPTURE = "crm_sync_skip_capture"
#: ``session.info`` key: the pull cursor at the time the values being saved were read. The
#: transaction's mutations take it as their base when it is older than the current cursor.
BASE_CURSOR = "sync_base_cursor"
# session.info key holding (root transaction, mutation number) of the mutation being built.
_CURRENT = "crm_sync_mutation"

_ENTITY_OF: dict[type[Any], str] = {cls: name for name, cls in ENTITIES.items()}
#: Columns sync manages itself and never sends as fields.
_NOT_SENT = frozenset({"id", "updated_at", "deleted"})
_UNKNOWN = object()


def _columns(cls: type[Any]) -> list[tuple[str, str]]:
    """(attribute key, column name) of the columns a change may carry."""
    mapper = inspect(cls)
    pairs = []
    for prop in mapper.column_attrs:
        name = prop.columns[0].name
        if name not in _NOT_SENT:
            pairs.append((prop.key, name))
    return pairs


_COLUMNS: dict[type[Any], list[tuple[str, str]]] = {cls: _columns(cls) for cls in _ENTITY_OF}


@dataclass
class _Captured:
    entity: str
    id: uuid.UUID
    fields: dict[str, Any]
    #: Field -> wire value before this edit, or _UNKNOWN (attribute was never loaded).
    before: dict[str, Any]
    created: bool = False
    deleted: bool = False
    #: ``deleted`` went from true to false: ``fields`` holds the full state (wire ``"r"``).
    revived: bool = False


def _collect(session: Session) -> list[_Captured]:
    captured: list[_Captured] = []
    for obj in session.new:
        entity = _ENTITY_OF.get(type(obj))
        if entity is None or obj.deleted:
            # Made and tombstoned before it ever left the device: nothing to tell the server.
            continue
        fields = {}
        for key, name in _COLUMNS[type(obj)]:
            value = getattr(obj, key)
            if value is not None:
                fields[name] = encode_value(value)
        captured.append(_Captured(entity, obj.id, fields, {}, created=True))
    for obj in session.dirty:
        entity = _ENTITY_OF.get(type(obj))
        if entity is None:
            continue
        insp = inspect(obj)
        deleted_history = insp.attrs["deleted"].history
        if deleted_history.has_changes() and obj.deleted:
            captured.append(_Captured(entity, obj.id, {}, {"deleted": False}, deleted=True))
            continue
        if deleted_history.has_changes() and deleted_history.deleted and deleted_history.deleted[0]:
            captured.append(_revival(entity, obj))
            continue
        fields = {}
        before: dict[str, Any] = {}
        for key, name in _COLUMNS[type(obj)]:
            history = insp.attrs[key].history
            if not history.has_changes():
                continue
            new = encode_value(getattr(obj, key))
            old: Any = encode_value(history.deleted[0]) if history.deleted else _UNKNOWN
            if old is not _UNKNOWN and old == new:
                continue
            fields[name] = new
            before[name] = old
        if fields:
            captured.append(_Captured(entity, obj.id, fields, before))
    for obj in session.deleted:
        entity = _ENTITY_OF.get(type(obj))
        if entity is not None:
            # A hard delete still has to reach other devices: it travels as a tombstone.
            captured.append(_Captured(entity, obj.id, {}, {"deleted": False}, deleted=True))
    return captured


def _revival(entity: str, obj: Any) -> _Captured:
    """A tombstoned record made live again: its full state, and a base for every field.

    The bases (the value before this flush, and ``deleted`` = true) keep a pulled value from
    overwriting the revived record until the server has decided, and let a rejected revival put
    the record back as the server has it (tombstoned).
    """
    insp = inspect(obj)
    fields: dict[str, Any] = {}
    before: dict[str, Any] = {"deleted": True}
    for key, name in _COLUMNS[type(obj)]:
        value = encode_value(getattr(obj, key))
        fields[name] = value  # nulls too: the server's tombstone may hold a value we cleared
        history = insp.attrs[key].history
        if not history.has_changes():
            before[name] = value
        elif history.deleted:
            before[name] = encode_value(history.deleted[0])
        else:
            before[name] = _UNKNOWN
    return _Captured(entity, obj.id, fields, before, revived=True)


def _allocate(
    connection: Connection, change_count: int, changes: str, base_limit: int | None = None
) -> int:
    """Take the next mutation number and stamp, and insert the outbox row; returns ``n``.

    ``base_limit`` (see :data:`BASE_CURSOR`) caps the base cursor.
    """
    returning = (sync_state.c.last_mutation, sync_state.c.clock, sync_state.c.cursor)
    stmt = (
        update(sync_state)
        .where(sync_state.c.id == 1)
        .values(last_mutation=sync_state.c.last_mutation + 1)
        .returning(*returning, sync_state.c.device_id)
    )
    row = connection.execute(stmt).first()
    if row is None:
        sync_state_mod.ensure(connection)
        row = connection.execute(stmt).one()
    n, clock_text, cursor, device_hex = row
    if base_limit is not None:
        cursor = min(cursor, base_limit)
    clock = HybridLogicalClock(device_hex, last=Hlc.decode(clock_text) if clock_text else None)
    stamp = clock.now()
    sync_state_mod.save_clock(connection, stamp)
    connection.execute(
        sync_outbox.insert().values(
            n=n,
            stamp=stamp.compact(),
            base=cursor,
            changes=changes,
            change_count=change_count,
            created_at=utcnow(),
        )
    )
    return int(n)


def _wire(change: _Captured) -> dict[str, Any]:
    wire: dict[str, Any] = {"t": change.entity, "id": change.id.hex}
    if change.deleted:
        wire["d"] = True
        return wire
    wire["f"] = change.fields
    if change.revived:
        # The full state replaces the tombstone: there is no base to show in a conflict.
        wire["r"] = True
        return wire
    known = {k: v for k, v in change.before.items() if v is not _UNKNOWN}
    if known and not change.created:
        wire["o"] = known
    return wire


def _merge(existing: dict[str, Any], change: _Captured) -> dict[str, Any] | None:
    """``existing`` wire change of the same record updated with a later flush's ``change``.

    ``None`` means the record disappears from the mutation (made and deleted in one transaction).
    """
    if change.revived:
        # Deleted and revived in one transaction (or revived again): the full state stands.
        return _wire(change)
    if existing.get("d"):
        return existing
    if change.deleted:
        if "created_at" in existing.get("f", {}) and not existing.get("r"):
            return None
        return {"t": existing["t"], "id": existing["id"], "d": True}
    merged = dict(existing)
    merged["f"] = {**existing.get("f", {}), **change.fields}
    if existing.get("r"):
        return merged  # a revival carries no base values
    if "o" in existing or change.before:
        origin = dict(existing.get("o", {}))
        for name, value in change.before.items():
            if value is not _UNKNOWN and name not in existing.get("f", {}):
                origin.setdefault(name, value)
        if origin and "created_at" not in merged["f"]:
            merged["o"] = origin
    return merged


def _record_bases(connection: Connection, n: int, captured: list[_Captured]) -> None:
    rows = []
    for change in captured:
        if change.created:
            continue
        for name, value in change.before.items():
            rows.append(
                {
                    "entity": change.entity,
                    "record_id": change.id.hex,
                    "field": name,
                    "value": None if value is _UNKNOWN else json.dumps(value),
                    "last_n": n,
                }
            )
    if rows:
        # The first pending edit fixes the base; later ones only move last_n forward.
        connection.execute(
            text(
                "INSERT INTO sync_base (entity, record_id, field, value, last_n)"
                " VALUES (:entity, :record_id, :field, :value, :last_n)"
                " ON CONFLICT (entity, record_id, field) DO UPDATE SET last_n = excluded.last_n"
            ),
            rows,
        )


def _after_flush(session: Session, _context: Any) -> None:
    if session.info.get(SKIP_CAPTURE):
        return
    captured = _collect(session)
    if not captured:
        return
    connection = session.connection()
    base_limit: int | None = session.info.get(BASE_CURSOR)
    root = session.get_transaction()
    current = session.info.get(_CURRENT)
    n: int | None = None
    changes: list[dict[str, Any]] = []
    if current is not None and current[0] is root:
        n = current[1]
        stored = connection.execute(
            select(sync_outbox.c.changes).where(sync_outbox.c.n == n)
        ).scalar_one_or_none()
        if stored is None:
            n = None  # rolled back with a savepoint: start afresh
        else:
            changes = json.loads(stored)
    index = {(c["t"], c["id"]): i for i, c in enumerate(changes)}
    spill: list[_Captured] = []
    into_current: list[_Captured] = []
    for change in captured:
        key = (change.entity, change.id.hex)
        if key in index:
            previous = changes[index[key]]
            if "created_at" in previous.get("f", {}) and not previous.get("r"):
                # Made earlier in this transaction: the server has no base for it yet.
                change.created = True
            merged = _merge(changes[index[key]], change)
            if merged is None:
                changes[index[key]] = {}
            else:
                changes[index[key]] = merged
            into_current.append(change)
        elif len(index) < MAX_CHANGES_PER_MUTATION:
            index[key] = len(changes)
            changes.append(_wire(change))
            into_current.append(change)
        else:
            spill.append(change)
    changes = [c for c in changes if c]
    if n is not None:
        if changes:
            connection.execute(
                update(sync_outbox)
                .where(sync_outbox.c.n == n)
                .values(changes=_dumps(changes), change_count=len(changes))
            )
        else:
            connection.execute(sync_outbox.delete().where(sync_outbox.c.n == n))
    elif changes:
        n = _allocate(connection, len(changes), _dumps(changes), base_limit)
    if n is not None:
        _record_bases(connection, n, into_current)
        session.info[_CURRENT] = (root, n)
    while spill:
        part, spill = spill[:MAX_CHANGES_PER_MUTATION], spill[MAX_CHANGES_PER_MUTATION:]
        n = _allocate(connection, len(part), _dumps([_wire(c) for c in part]), base_limit)
        _record_bases(connection, n, part)
        session.info[_CURRENT] = (root, n)


def _dumps(changes: list[dict[str, Any]]) -> str:
    return json.dumps(changes, separators=(",", ":"), ensure_ascii=False)


def _after_transaction_end(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:
        session.info.pop(_CURRENT, None)


def install(factory: sessionmaker[Session]) -> None:
    """Capture the writes of every session made by ``factory`` (see the module docstring)."""
    event.listen(factory, "after_flush", _after_flush)
    event.listen(factory, "after_transaction_end", _after_transaction_end)


# --- reading the outbox -----------------------------------------------------------------------


@dataclass(frozen=True)
class OutboxEntry:
    """One pending mutation as stored."""

    n: int
    stamp: str
    base: int
    changes: str
    change_count: int
    #: A request carrying this mutation went out before (see ``sync_outbox.sent``).
    sent: bool = False


def pending(connection: Connection) -> tuple[int, int]:
    """(mutations, changed records) still waiting to be pushed."""
    row = connection.execute(
        select(func.count(), func.coalesce(func.sum(sync_outbox.c.change_count), 0))
    ).one()
    return int(row[0]), int(row[1])


def read_batch(
    connection: Connection, *, after: int = 0, limit: int, max_bytes: int
) -> list[OutboxEntry]:
    """The oldest pending mutations after number ``after``: at most ``limit``, about ``max_bytes``.

    At least one entry is returned when any is pending, whatever its size.
    """
    entries: list[OutboxEntry] = []
    size = 0
    rows = connection.execute(
        select(
            sync_outbox.c.n,
            sync_outbox.c.stamp,
            sync_outbox.c.base,
            sync_outbox.c.changes,
            sync_outbox.c.change_count,
            sync_outbox.c.sent,
        )
        .where(sync_outbox.c.n > after)
        .order_by(sync_outbox.c.n)
        .limit(limit)
    )
    for row in rows:
        if entries and size + len(row.changes) + 64 > max_bytes:
            break
        size += len(row.changes) + 64
        entries.append(
            OutboxEntry(row.n, row.stamp, row.base, row.changes, row.change_count, bool(row.sent))
        )
    return entries
