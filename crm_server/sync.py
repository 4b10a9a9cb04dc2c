"""Push and pull: field-level merge, idempotent mutations and the commit-ordered change feed.

Transaction contract. A push is one data transaction: the device row is locked first
(serialising retries of the same device), each mutation is applied atomically (in a savepoint
when a refusal has to roll back alone), and the touched records are written with their
sequence still NULL. After it commits, a short publishing transaction (:func:`publish_pending`)
locks the sequence counter row and numbers everything committed but unnumbered. Publishing
transactions are ordered by that lock, so sequence order is commit order and a pull "after
cursor N" never skips a change, on PostgreSQL too; and one publishing COMMIT serves every push
that committed meanwhile.

Field bookkeeping lives in ``srv_sync_record.clocks``: for every field, the corrected HLC stamp
(with the writing device as node) and the sequence of the write. A pushed field is a
concurrent edit when the server's value was written after the mutation's base cursor by
another device; then the later stamp wins (long text keeps both) and the loser is logged.
"""

from __future__ import annotations

import functools
import json
import logging
import random
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (
    BigInteger,
    Connection,
    Engine,
    Integer,
    Table,
    Uuid,
    bindparam,
    delete,
    func,
    insert,
    literal_column,
    or_,
    select,
    text,
    union_all,
    update,
)
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, OperationalError

from crm_desktop.models import utcnow
from crm_desktop.sync.clock import Hlc, wall_clock_ms
from crm_desktop.sync.protocol import (
    SAME_MUTATION,
    Change,
    Conflict,
    ConflictRule,
    Mutation,
    MutationResult,
    PullRequest,
    PushRequest,
    PushResponse,
    Scalar,
)
from crm_server.auth import authenticate_on
from crm_server.db import (
    conflict_log,
    device,
    is_postgres,
    mutation_log,
    read_transaction,
    sync_counter,
    sync_exit,
    sync_record,
    write_transaction,
)
from crm_server.fields import READ_ONLY, SPECS, TABLE_ORDER, EntitySpec, FieldValueError
from crm_server.scopes import CHILDREN, RULES, Actor, Hierarchy, Scope, describe, subtree_query

log = logging.getLogger(__name__)

#: Node name of changes made by head office itself (admin commands).
SERVER_NODE = "server"
#: Offsets below this are network jitter, not a wrong clock; stamps are used as sent.
CLOCK_CORRECTION_THRESHOLD_MS = 1000
#: How long a processed mutation's stamp and outcome are remembered (``srv_mutation``): a
#: number resent later than this answers ``duplicate``, whatever became of it.
MUTATION_RETENTION = timedelta(days=90)
#: A worker purges expired ``srv_mutation`` rows at its first push, then at most this often.
MUTATION_PURGE_INTERVAL_SECONDS = 3600.0
TEXT_SEPARATOR = "\n\n--- conflicting edit ({node}, {when}) ---\n"
#: PostgreSQL SQLSTATEs worth retrying: serialization failure, deadlock, lock not available.
_TRANSIENT_SQLSTATES = {"40001", "40P01", "55P03"}


class Rejected(Exception):
    """A mutation refused permanently; ``code`` is stable, ``reason`` names the problem."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


class Busy(Exception):
    """The database stayed contended through every retry; nothing was applied (HTTP 503)."""


class NeedSavepoints(Exception):
    """A mutation was refused in a batch running without savepoints: rerun with them."""


def is_transient(exc: DBAPIError) -> bool:
    """Whether a database error is contention that a retry of the transaction can clear."""
    if exc.connection_invalidated:
        return True  # the pooled connection died (database restart): a new one will do
    sqlstate = getattr(exc.orig, "sqlstate", None)
    if sqlstate in _TRANSIENT_SQLSTATES:
        return True
    return isinstance(exc, OperationalError) and "database is locked" in str(exc.orig)


@dataclass
class RecordMeta:
    """Sync bookkeeping of one record as this transaction sees it."""

    entity: str
    scope: Scope
    #: field -> [stamp with node, sequence of the write or None while pending in this batch]
    clocks: dict[str, list[Any]]
    in_db: bool
    #: The scope committed before this transaction (to find who lost sight of the record).
    db_scope: Scope | None

    def copy(self) -> RecordMeta:
        return RecordMeta(
            self.entity,
            self.scope,
            {name: list(value) for name, value in self.clocks.items()},
            self.in_db,
            self.db_scope,
        )


@dataclass
class _Stage:
    """What one mutation changed in the batch's bookkeeping, dropped if it is rejected."""

    meta: dict[uuid.UUID, RecordMeta] = field(default_factory=dict)
    touched: dict[uuid.UUID, None] = field(default_factory=dict)
    conflicts: list[tuple[Conflict, str | None]] = field(default_factory=list)
    #: Users whose place in the manager tree this mutation changed.
    hierarchy_users: set[uuid.UUID] = field(default_factory=set)


def _json(value: Scalar) -> str:
    return json.dumps(value, ensure_ascii=False)


def _concurrent(clock: list[Any] | None, node: str, base: int) -> bool:
    if clock is None:
        return False
    stamp_node = Hlc.decode(clock[0]).node
    seq = clock[1]
    # None: written earlier in this batch; PENDING: committed by another push but not yet
    # numbered, so no client can have seen it.
    return stamp_node != node and (seq is None or seq == PENDING or seq > base)


def _keep_both(local: str, local_stamp: Hlc, server: str, server_stamp: Hlc) -> tuple[str, str]:
    """Merge two concurrent versions of a long text; returns (value, winner)."""
    local_later = local_stamp > server_stamp
    later, earlier = (local, server) if local_later else (server, local)
    earlier_stamp = server_stamp if local_later else local_stamp
    if earlier in later:
        return later, "local" if local_later else "server"
    if later in earlier:
        return earlier, "server" if local_later else "local"
    when = datetime.fromtimestamp(earlier_stamp.wall_ms / 1000, UTC).strftime("%Y-%m-%d %H:%M UTC")
    node = earlier_stamp.node or "unknown device"
    return later + TEXT_SEPARATOR.format(node=node, when=when) + earlier, "both"


@functools.cache
def _row_for_update(table: Table) -> Any:
    """``SELECT ... FOR UPDATE`` of one row by id, built once per table (per-change
    statement construction was a visible share of a push's CPU); parameter ``id``."""
    return (
        select(table).where(table.c.id == bindparam("id", type_=table.c.id.type)).with_for_update()
    )


#: The sync bookkeeping of one record, locked; parameter ``rid``.
_META_FOR_UPDATE = (
    select(sync_record)
    .where(sync_record.c.record_id == bindparam("rid", type_=sync_record.c.record_id.type))
    .with_for_update()
)

#: After a push: the device's last applied mutation, last contact and measured clock offset.
_DEVICE_PUSHED = (
    update(device)
    .where(device.c.id == bindparam("device", type_=device.c.id.type))
    .values(
        last_mutation=bindparam("last", type_=device.c.last_mutation.type),
        last_seen_at=bindparam("seen", type_=device.c.last_seen_at.type),
        clock_offset_ms=bindparam("offset", type_=device.c.clock_offset_ms.type),
    )
)


#: Record what became of processed mutations (executemany of the rows of one push).
_RECORD_PROCESSED = insert(mutation_log)


class Batch:
    """Applies mutations inside one open write transaction on behalf of one actor.

    Used by push (node = the device) and by the admin commands (node = ``server``). Call
    :meth:`apply` per mutation, then :meth:`finish` exactly once before the transaction
    commits.
    """

    def __init__(
        self,
        connection: Connection,
        actor: Actor,
        *,
        node: str,
        device_id: uuid.UUID | None = None,
        clock_offset_ms: int = 0,
        now_ms: int | None = None,
        savepoints: bool = True,
    ) -> None:
        self.connection = connection
        self.savepoints = savepoints
        self.actor = actor
        self.node = node
        self.device_id = device_id
        self.now_ms = wall_clock_ms() if now_ms is None else now_ms
        self.offset_ms = (
            clock_offset_ms if abs(clock_offset_ms) > CLOCK_CORRECTION_THRESHOLD_MS else 0
        )
        self._meta: dict[uuid.UUID, RecordMeta] = {}
        self._touched: dict[uuid.UUID, None] = {}
        self._conflicts: list[tuple[Conflict, int | None, str | None]] = []
        #: The manager tree as it was before this batch changed it (loaded only if it does).
        self._before: Hierarchy | None = None
        self._hierarchy_users: set[uuid.UUID] = set()
        self._stage = _Stage()
        self._stamps: dict[str, Hlc] = {}

    # --- mutations ----------------------------------------------------------------------

    def apply(self, mutation: Mutation, base: int) -> MutationResult:
        """Apply one mutation atomically; a refusal rolls back this mutation only.

        Without savepoints (the fast path: two round trips fewer per mutation) a refusal
        cannot be undone alone, so it raises :class:`NeedSavepoints` and the caller reruns
        the whole batch in a fresh transaction with savepoints.
        """
        self._stage = _Stage()
        savepoint = self.connection.begin_nested() if self.savepoints else None
        try:
            changes = sorted(mutation.c, key=lambda change: TABLE_ORDER[change.t])
            for change in changes:
                self._apply_change(change, change.h or mutation.h, base)
        except (Rejected, IntegrityError, DataError) as exc:
            if savepoint is None:
                raise NeedSavepoints from exc
            savepoint.rollback()
            if isinstance(exc, Rejected):
                code, reason = exc.code, exc.reason
            else:
                code = "integrity" if isinstance(exc, IntegrityError) else "invalid_value"
                reason = f"refused by the database: {_first_line(exc)}"
            return MutationResult(n=mutation.n, status="rejected", code=code, reason=reason)
        except BaseException:
            if savepoint is not None and savepoint.is_active:
                savepoint.rollback()
            raise
        if savepoint is not None:
            savepoint.commit()
        stage = self._stage
        self._meta.update(stage.meta)
        self._touched.update(stage.touched)
        self._conflicts.extend((c, mutation.n, stamp) for c, stamp in stage.conflicts)
        self._hierarchy_users |= stage.hierarchy_users
        conflicts = [c for c, _ in stage.conflicts]
        return MutationResult(
            n=mutation.n, status="merged" if conflicts else "applied", conflicts=conflicts
        )

    def _stamp(self, raw: str) -> Hlc:
        stamp = self._stamps.get(raw)
        if stamp is None:
            decoded = Hlc.decode(raw)
            wall = decoded.wall_ms - self.offset_ms
            # An edit cannot have happened after the server received it.
            if wall > self.now_ms:
                wall = self.now_ms
            stamp = Hlc(wall, decoded.counter, self.node)
            self._stamps[raw] = stamp
        return stamp

    def _apply_change(self, change: Change, default_stamp: str, base: int) -> None:
        spec = SPECS[change.t]
        label = f"{change.t} {change.id}"
        decoded = self._decode(spec, change, label)
        stamps = {name: self._stamp((change.fh or {}).get(name, default_stamp)) for name in decoded}
        table = spec.table
        row = self.connection.execute(_row_for_update(table), {"id": change.id}).first()
        meta = self._meta_for_update(change.id)
        if meta is not None and meta.entity != change.t:
            raise Rejected("integrity", f"{label}: this id already belongs to a {meta.entity}")
        if row is None:
            if change.d:
                return  # created and deleted before the server ever saw it: nothing to do
            self._create(spec, change, decoded, stamps, label)
            return
        current = dict(row._mapping)
        if meta is None:
            # A row written outside sync (seed data): start its bookkeeping now.
            scope = self._scope_for(spec, current, label)
            meta = RecordMeta(change.t, scope, {}, in_db=False, db_scope=None)
            self._stage.meta[change.id] = meta
        if not self.actor.can_write(meta.scope):
            raise Rejected(
                "out_of_scope", f"{label} belongs to {describe(meta.scope)}; not yours to change"
            )
        if current["deleted"]:
            if change.r:
                revival = self._stamp(default_stamp)
                if self._revival_wins(meta, revival):
                    self._revive(spec, change, decoded, stamps, current, meta, revival, label)
                    return
            if not change.d:
                # A stale edit, or a revival older than the delete: the tombstone stands.
                for name, value in change.f.items():
                    server_value = spec.fields[name].encode(current[name])
                    self._conflict(
                        change,
                        name,
                        "edit_after_delete",
                        "server",
                        (value, server_value, server_value),
                        stamps[name],
                    )
            return
        if change.d:
            self._delete(spec, change, current, meta, self._stamp(default_stamp), base)
            return
        if change.r:
            # A revival of a live record (the server never saw the delete, or another device
            # revived it first) is an ordinary update. The record keeps its creation time.
            decoded.pop("created_at", None)
        self._update(spec, change, decoded, stamps, current, meta, base, label)

    @staticmethod
    def _revival_wins(meta: RecordMeta, revival: Hlc) -> bool:
        """Whether a revival is later than the tombstone it meets.

        ``clocks["deleted"]`` holds the stamp of the last change of the record's deleted state
        (a delete or a revival). A tombstone without one (deleted outside sync, or before the
        stamp was recorded) is older than any revival.
        """
        clock = meta.clocks.get("deleted")
        return clock is None or revival > Hlc.decode(clock[0])

    def _revive(
        self,
        spec: EntitySpec,
        change: Change,
        decoded: dict[str, Any],
        stamps: dict[str, Hlc],
        current: dict[str, Any],
        meta: RecordMeta,
        revival: Hlc,
        label: str,
    ) -> None:
        """Un-delete a tombstoned record whose revival is later than its delete.

        The sent fields are the record's full state as the reviving device has it: they are
        written as plain writes (no merge against values hidden under the tombstone) stamped
        with the revival's stamps, and the record is republished so every device in scope
        pulls it as an upsert again.
        """
        updates = {name: value for name, value in decoded.items() if name != "created_at"}
        for name in updates:
            meta.clocks[name] = [stamps[name].encode(), None]
        meta.clocks["deleted"] = [revival.encode(), None]
        self._write(spec, change.id, current, meta, updates, label, revive=True)

    def _decode(self, spec: EntitySpec, change: Change, label: str) -> dict[str, Any]:
        decoded: dict[str, Any] = {}
        for name, raw in change.f.items():
            field_spec = spec.fields.get(name)
            if field_spec is None:
                if name in READ_ONLY:
                    raise Rejected(
                        "read_only_field",
                        f"{label}: field {name!r} is managed by sync and cannot be written",
                    )
                raise Rejected("unknown_field", f"{label}: {spec.name} has no field {name!r}")
            try:
                decoded[name] = field_spec.decode(raw)
            except FieldValueError as exc:
                raise Rejected("invalid_value", f"{label}: field {name!r}: {exc}") from exc
        for name in change.fh or {}:
            if name not in change.f:
                raise Rejected(
                    "invalid_value", f"{label}: a stamp is given for {name!r}, which is not in f"
                )
        return decoded

    def _create(
        self,
        spec: EntitySpec,
        change: Change,
        decoded: dict[str, Any],
        stamps: dict[str, Hlc],
        label: str,
    ) -> None:
        missing = [
            name
            for name, fs in spec.fields.items()
            if fs.required_on_create and name not in decoded
        ]
        if missing:
            raise Rejected("missing_field", f"{label}: creating it needs {', '.join(missing)}")
        if decoded.get("created_at", 0) is None:
            raise Rejected("invalid_value", f"{label}: field 'created_at' may not be null")
        now = utcnow()
        values = {**decoded, "id": change.id, "updated_at": now}
        values.setdefault("created_at", now)
        scope = self._scope_for(spec, values, label)
        if not self.actor.can_write(scope):
            raise Rejected("out_of_scope", f"{label}: you cannot create it for {describe(scope)}")
        self.connection.execute(insert(spec.table).values(values))
        meta = RecordMeta(
            spec.name,
            scope,
            {name: [stamps[name].encode(), None] for name in decoded},
            in_db=False,
            db_scope=None,
        )
        self._stage.meta[change.id] = meta
        self._stage.touched[change.id] = None

    def _update(
        self,
        spec: EntitySpec,
        change: Change,
        decoded: dict[str, Any],
        stamps: dict[str, Hlc],
        current: dict[str, Any],
        meta: RecordMeta,
        base: int,
        label: str,
    ) -> None:
        updates: dict[str, Any] = {}
        dirty = False
        for name, value in decoded.items():
            if name == "created_at":
                raise Rejected(
                    "read_only_field", f"{label}: 'created_at' can only be set when creating"
                )
            field_spec = spec.fields[name]
            stamp = stamps[name]
            server_value = current[name]
            clock = meta.clocks.get(name)
            if not _concurrent(clock, self.node, base):
                if value != server_value:
                    updates[name] = value
                meta.clocks[name] = [stamp.encode(), None]
                dirty = True
                continue
            assert clock is not None
            server_stamp = Hlc.decode(clock[0])
            if value == server_value:
                if stamp > server_stamp:
                    meta.clocks[name] = [stamp.encode(), None]
                    dirty = True
                continue
            local_wire = change.f[name]
            server_wire = field_spec.encode(server_value)
            rule: ConflictRule = "lww"
            if field_spec.long_text and isinstance(value, str) and isinstance(server_value, str):
                rule = "text_keep_both"
                merged, winner = _keep_both(value, stamp, server_value, server_stamp)
                if merged != server_value:
                    updates[name] = merged
                meta.clocks[name] = [max(stamp, server_stamp).encode(), None]
                dirty = True
                result_wire: Scalar = merged
            elif stamp > server_stamp:
                winner, result_wire = "local", local_wire
                updates[name] = value
                meta.clocks[name] = [stamp.encode(), None]
                dirty = True
            else:
                winner, result_wire = "server", server_wire
            self._conflict(
                change, name, rule, winner, (local_wire, server_wire, result_wire), stamp, clock[0]
            )
        self._write(spec, change.id, current, meta, updates, label, dirty=dirty)

    def _write(
        self,
        spec: EntitySpec,
        record_id: uuid.UUID,
        current: dict[str, Any],
        meta: RecordMeta,
        updates: dict[str, Any],
        label: str,
        *,
        dirty: bool = False,
        revive: bool = False,
    ) -> None:
        """Write an existing record's new values (and un-delete it with ``revive``).

        Checks the scope after the change (the writer must still see it), keeps the manager
        tree's bookkeeping when a user moves, stages the record for
        publishing (``dirty``: only its clocks changed) and cascades a new scope to dependents.
        """
        scope_columns = {column for column, _ in RULES[spec.name].parents}
        if RULES[spec.name].own:
            scope_columns.add(RULES[spec.name].own or "")
        old_scope = meta.scope
        if scope_columns & updates.keys():
            new_scope = self._scope_for(spec, {**current, **updates}, label)
            if new_scope != old_scope and not self.actor.can_write(new_scope):
                raise Rejected(
                    "out_of_scope", f"{label}: you cannot hand it to {describe(new_scope)}"
                )
            meta.scope = new_scope
        # (A revival writes every field; only a different manager moves the user. Deleted
        # users stay in the tree, so coming back alone changes nobody's view.)
        if (
            spec.name == "user"
            and "manager_id" in updates
            and updates["manager_id"] != current["manager_id"]
        ):
            self._keep_tree_before_change()
            if self.actor.hierarchy.would_cycle(record_id, updates["manager_id"]):
                raise Rejected("invalid_value", f"{label}: that manager reports to this user")
            self._stage.hierarchy_users.add(record_id)
        if updates or revive:
            values = {**updates, "updated_at": utcnow()}
            if revive:
                values["deleted"] = False
            self.connection.execute(
                update(spec.table).where(spec.table.c.id == record_id).values(values)
            )
        if dirty or updates or revive:
            self._stage.meta[record_id] = meta
            self._stage.touched[record_id] = None
        if meta.scope != old_scope:
            self._cascade(spec.name, record_id, meta.scope)

    def _keep_tree_before_change(self) -> None:
        if self._before is None:
            self._before = self.actor.hierarchy

    def _delete(
        self,
        spec: EntitySpec,
        change: Change,
        current: dict[str, Any],
        meta: RecordMeta,
        stamp: Hlc,
        base: int,
    ) -> None:
        revived = meta.clocks.get("deleted")
        if revived is not None and Hlc.decode(revived[0]) > stamp:
            # A live record with a deleted-state stamp was revived, and after this delete was
            # made (it was pushed late): the later of the two stands, whichever arrives first.
            # Republished so the deleting device pulls the record back.
            self._conflict(
                change, "deleted", "lww", "server", (True, False, False), stamp, revived[0]
            )
            self._stage.meta[change.id] = meta
            self._stage.touched[change.id] = None
            return
        if spec.name == "user":
            self._keep_tree_before_change()
        for name, clock in list(meta.clocks.items()):
            if name in spec.fields and _concurrent(clock, self.node, base):
                server_wire = spec.fields[name].encode(current[name])
                self._conflict(
                    change, name, "delete_wins", "local", (None, server_wire, None), stamp, clock[0]
                )
        self.connection.execute(
            update(spec.table)
            .where(spec.table.c.id == change.id)
            .values(deleted=True, updated_at=utcnow())
        )
        meta.clocks["deleted"] = [stamp.encode(), None]
        if spec.name == "user":
            self._stage.hierarchy_users.add(change.id)
        self._stage.meta[change.id] = meta
        self._stage.touched[change.id] = None

    def _conflict(
        self,
        change: Change,
        name: str,
        rule: ConflictRule,
        winner: str,
        values: tuple[Scalar, Scalar, Scalar],
        local_stamp: Hlc | None,
        server_stamp: str | None = None,
    ) -> None:
        """Record one resolved concurrent edit; ``values`` is (local, server, result)."""
        local, server, value = values
        conflict = Conflict(
            t=change.t,
            id=change.id,
            field=name,
            rule=rule,
            winner=winner,  # type: ignore[arg-type]
            local=local,
            server=server,
            value=value,
            base=(change.o or {}).get(name),
            base_known=change.o is not None and name in change.o,
            server_stamp=server_stamp,
        )
        self._stage.conflicts.append((conflict, local_stamp.encode() if local_stamp else None))

    # --- scopes -------------------------------------------------------------------------

    def _scope_for(self, spec: EntitySpec, values: dict[str, Any], label: str) -> Scope:
        rule = RULES[spec.name]
        if rule.public:
            return Scope(True, None)
        for column, parent in rule.parents:
            parent_id = values.get(column)
            if parent_id is None:
                continue
            parent_meta = self._meta_for_update(parent_id)
            if parent_meta is None or parent_meta.entity != parent:
                raise Rejected(
                    "integrity",
                    f"{label}: {column} refers to {parent} {parent_id}, which the server does not have",
                )
            return parent_meta.scope
        return Scope(False, values.get(rule.own) if rule.own else None)

    def _meta_for_update(self, record_id: uuid.UUID) -> RecordMeta | None:
        meta = self._stage.meta.get(record_id)
        if meta is not None:
            return meta
        committed = self._meta.get(record_id)
        if committed is not None:
            meta = committed.copy()
        else:
            row = self.connection.execute(_META_FOR_UPDATE, {"rid": record_id}).first()
            if row is None:
                return None
            scope = Scope(bool(row.public), row.scope_user_id)
            meta = RecordMeta(row.entity, scope, json.loads(row.clocks), True, scope)
        self._stage.meta[record_id] = meta
        return meta

    def _cascade(self, entity: str, record_id: uuid.UUID, scope: Scope) -> None:
        """Give every record whose scope derives from this one the new scope, recursively."""
        for child, column, earlier in CHILDREN.get(entity, []):
            table = SPECS[child].table
            query = select(table.c.id).where(
                table.c[column] == record_id, *(table.c[name].is_(None) for name in earlier)
            )
            for child_id in self.connection.execute(query).scalars().all():
                child_meta = self._meta_for_update(child_id)
                if child_meta is None or child_meta.scope == scope:
                    continue
                child_meta.scope = scope
                self._stage.touched[child_id] = None
                self._cascade(child, child_id, scope)

    def _renumber_moved_subtrees(self) -> None:
        """After a manager change, renumber every record owned in the moved subtrees.

        The records keep their scope owner, but who sees that owner changed: the new viewers
        get the records because of their new sequence numbers, and :meth:`finish` sends
        removals to users who saw them under the old tree and do not under the new one.
        """
        before = self._before or self.actor.hierarchy
        after = Hierarchy.load(self.connection)
        self.actor.hierarchy = after
        owners: set[uuid.UUID] = set()
        for user in self._hierarchy_users:
            owners |= before.subtree(user) | after.subtree(user)
        self._stage = _Stage()
        for start in range(0, len(owners), 500):
            chunk = sorted(owners)[start : start + 500]
            for record_id in self.connection.execute(
                select(sync_record.c.record_id).where(sync_record.c.scope_user_id.in_(chunk))
            ).scalars():
                if self._meta_for_update(record_id) is not None:
                    self._stage.touched[record_id] = None
        self._meta.update(self._stage.meta)
        self._touched.update(self._stage.touched)
        self._stage = _Stage()

    # --- end of the transaction ---------------------------------------------------------

    def finish(self) -> int:
        """Write conflicts and the touched records' bookkeeping, still unnumbered.

        Returns how many records were touched; when not zero, the caller runs
        :func:`publish_pending` in a new transaction once this one has committed.
        """
        if self._conflicts:
            now = utcnow()
            self.connection.execute(
                insert(conflict_log),
                [
                    {
                        "created_at": now,
                        "user_id": self.actor.user_id,
                        "device_id": self.device_id,
                        "mutation": mutation,
                        "entity": c.t,
                        "record_id": c.id,
                        "field": c.field,
                        "rule": c.rule,
                        "winner": c.winner,
                        "base": _json(c.base) if c.base_known else None,
                        "base_known": c.base_known,
                        "local": _json(c.local),
                        "server": _json(c.server),
                        "value": _json(c.value),
                        "local_stamp": stamp,
                        "server_stamp": c.server_stamp,
                    }
                    for c, mutation, stamp in self._conflicts
                ],
            )
        if self._hierarchy_users:
            self._renumber_moved_subtrees()
        if not self._touched:
            return 0
        # Write every touched record's bookkeeping with its sequence still NULL (invisible to
        # pulls) and "@" where a field's new sequence goes; publish_pending() numbers them
        # after this transaction commits.
        inserts: list[dict[str, Any]] = []
        updates: list[dict[str, Any]] = []
        exits: list[tuple[int, uuid.UUID, str, uuid.UUID]] = []
        tree_changed = bool(self._hierarchy_users)
        for position, record_id in enumerate(self._touched, start=1):
            meta = self._meta[record_id]
            clocks = {
                name: [clock[0], PENDING if clock[1] is None else clock[1]]
                for name, clock in meta.clocks.items()
            }
            values = {
                "rid": record_id,
                "entity": meta.entity,
                "scope_user_id": meta.scope.owner,
                "public": meta.scope.public,
                "clocks": json.dumps(clocks, separators=(",", ":")),
            }
            (updates if meta.in_db else inserts).append(values)
            db_scope = meta.db_scope
            if (
                db_scope is not None
                and not db_scope.public
                and (tree_changed or db_scope != meta.scope)
            ):
                # Who saw it when this transaction began, minus who sees it now.
                before = self._before or self.actor.hierarchy
                leaving = before.viewers(db_scope) - self.actor.hierarchy.viewers(meta.scope)
                exits.extend((position, user, meta.entity, record_id) for user in leaving)
        if inserts:
            self.connection.execute(
                insert(sync_record).values(
                    record_id=bindparam("rid"),
                    entity=bindparam("entity"),
                    seq=None,
                    scope_user_id=bindparam("scope_user_id"),
                    public=bindparam("public"),
                    clocks=bindparam("clocks"),
                ),
                inserts,
            )
        if updates:
            self.connection.execute(
                update(sync_record)
                .where(sync_record.c.record_id == bindparam("rid"))
                .values(
                    seq=None,
                    scope_user_id=bindparam("scope_user_id"),
                    public=bindparam("public"),
                    clocks=bindparam("clocks"),
                ),
                [{k: v for k, v in row.items() if k != "entity"} for row in updates],
            )
        if exits:
            self.connection.execute(
                insert(sync_exit),
                [
                    {"seq": None, "audience_user_id": aud, "entity": ent, "record_id": rid}
                    for _pos, aud, ent, rid in exits
                ],
            )
        return len(self._touched)


def publish_pending(connection: Connection) -> int:
    """Number every committed, not yet numbered record and exit; returns how many records.

    Runs in its own short transaction after the data transaction committed. It locks the
    counter row first, so numbering transactions are strictly ordered and a pull that read
    counter value N sees every record numbered <= N committed. One pass numbers whatever all
    concurrent pushes have committed meanwhile, so the serialised part (one counter lock and
    one COMMIT) is shared by many pushes instead of paid by each.
    """
    value = connection.execute(
        select(sync_counter.c.value).where(sync_counter.c.name == "seq").with_for_update()
    ).scalar_one()
    # A fresh statement after the lock: sees every push committed before we got it. Rows an
    # in-flight push is rewriting are skipped; that push publishes them itself.
    query = select(sync_record.c.record_id).where(sync_record.c.seq.is_(None))
    if is_postgres(connection):
        query = query.with_for_update(skip_locked=True)
    ids = list(connection.execute(query).scalars())
    if ids:
        if is_postgres(connection):
            connection.execute(
                _NUMBER_POSTGRES,
                {"base": value, "k": len(ids), "rids": ids, "ords": list(range(1, len(ids) + 1))},
            )
        else:
            connection.execute(
                update(sync_counter)
                .where(sync_counter.c.name == "seq")
                .values(value=value + len(ids))
            )
            connection.execute(
                update(sync_record)
                .where(sync_record.c.record_id == bindparam("rid"))
                .values(
                    seq=bindparam("s"),
                    clocks=func.replace(sync_record.c.clocks, PENDING_JSON, bindparam("stext")),
                ),
                [
                    {"rid": rid, "s": value + n, "stext": str(value + n)}
                    for n, rid in enumerate(ids, start=1)
                ],
            )
            # Exits take the sequence of their record's change (committed together with it).
            connection.execute(
                update(sync_exit)
                .where(sync_exit.c.seq.is_(None), sync_exit.c.record_id == sync_record.c.record_id)
                .where(sync_record.c.seq.is_not(None))
                .values(seq=sync_record.c.seq)
            )
    return len(ids)


#: Marks a field written in this transaction whose sequence is assigned at numbering time.
PENDING = "@"
PENDING_JSON = json.dumps(PENDING)
_NUMBER_POSTGRES = text(
    """
    WITH c AS (
        UPDATE srv_sync_counter SET value = :base + :k WHERE name = 'seq' RETURNING value
    ),
    v AS (
        SELECT rid, ord FROM unnest(CAST(:rids AS uuid[]), CAST(:ords AS bigint[])) AS t(rid, ord)
    ),
    numbered AS (
        UPDATE srv_sync_record AS r
        SET seq = :base + v.ord,
            clocks = replace(r.clocks, '"@"', CAST(:base + v.ord AS text))
        FROM c, v
        WHERE r.record_id = v.rid
        RETURNING r.record_id, r.seq
    )
    -- Exits take the sequence of their record's change, in the same statement: one round
    -- trip fewer while the counter row is locked. An exit is written in the same transaction
    -- as its record's NULL sequence, so its record is always among those numbered here.
    UPDATE srv_sync_exit AS e
    SET seq = numbered.seq
    FROM numbered
    WHERE e.seq IS NULL AND e.record_id = numbered.record_id
    """
)


@dataclass
class _PushProgress:
    """How far a push got, across its attempts (read after it ended, even by an error)."""

    #: A mutation was handed to the batch: the transaction may have locked bookkeeping rows.
    applying: bool = False


#: What became of the device's mutations among the given numbers; parameters ``device``,
#: ``ns``.
_PROCESSED = select(
    mutation_log.c.n,
    mutation_log.c.stamp,
    mutation_log.c.status,
    mutation_log.c.code,
    mutation_log.c.reason,
).where(
    mutation_log.c.device_id == bindparam("device", type_=mutation_log.c.device_id.type),
    mutation_log.c.n.in_(bindparam("ns", expanding=True)),
)


def _answer_resent(
    connection: Connection,
    device_id: uuid.UUID,
    results: list[MutationResult],
    resent: list[Mutation],
) -> None:
    """Answer mutations numbered at or below the device's last (``resent``, answered
    ``duplicate`` so far in ``results``) by what became of their number.

    The same stamp as stored is the same mutation, resent because its answer was lost:
    ``duplicate`` (code ``same_mutation``) if it was written, its stored rejection again if it was refused (the client
    undoes it locally; ``duplicate`` would make it keep a change the server never took).
    Another stamp is another mutation of this device under a number already used (a profile
    restored from a backup): ``taken``, nothing written; the client renumbers it above
    ``last_mutation`` and sends it again. No row (purged after :data:`MUTATION_RETENTION`, or
    processed before the table existed): ``duplicate``. Only resends pay for this lookup.
    """
    stored = {
        row.n: row
        for row in connection.execute(
            _PROCESSED, {"device": device_id, "ns": [mutation.n for mutation in resent]}
        )
    }
    position = {result.n: index for index, result in enumerate(results)}
    for mutation in resent:
        row = stored.get(mutation.n)
        if row is None:
            continue
        if row.stamp != mutation.h:
            answer = MutationResult(
                n=mutation.n,
                status="taken",
                reason=(
                    f"mutation number {mutation.n} was used by another mutation of this device; "
                    "renumber above last_mutation and send again"
                ),
            )
        elif row.status == "rejected":
            answer = MutationResult(
                n=mutation.n, status="rejected", code=row.code, reason=row.reason
            )
        else:
            # Said outright, so the client never takes it for a number it cannot place
            # (which it renumbers and sends again: re-applying this mutation's old values).
            answer = MutationResult(n=mutation.n, status="duplicate", code=SAME_MUTATION)
        results[position[mutation.n]] = answer


def purge_expired_mutations(connection: Connection, now: datetime | None = None) -> int:
    """Delete ``srv_mutation`` rows older than :data:`MUTATION_RETENTION`; returns how many."""
    cutoff = (now or utcnow()) - MUTATION_RETENTION
    result = connection.execute(delete(mutation_log).where(mutation_log.c.created_at < cutoff))
    return int(result.rowcount or 0)


def _first_line(exc: DBAPIError) -> str:
    return str(exc.orig).strip().splitlines()[0][:300] if exc.orig else str(exc)[:300]


def read_cursor(connection: Connection) -> int:
    """The highest committed sequence number visible to this transaction."""
    return int(
        connection.execute(
            select(sync_counter.c.value).where(sync_counter.c.name == "seq")
        ).scalar_one()
    )


def retrying(attempts: int) -> Iterator[int]:
    """Attempt numbers with jittered back-off between them (for transient DB contention)."""
    for attempt in range(attempts):
        if attempt:
            time.sleep(min(0.5, 0.01 * 2**attempt) * (0.5 + random.random()))
        yield attempt


@functools.cache
def _pull_statement(*, admin: bool, removals: bool) -> Any:
    """The statement listing a pull page's records (kind 0) and removals (kind 1).

    Built once per variant with bound parameters ``cursor``, ``high``, ``limit`` and
    ``user_id``: constructing the Core objects (subqueries, the scope CTE) took close to half
    of a pull's CPU. Records: sequence in (cursor, high], in the caller's scope (admins see
    everything), the first ``limit`` by sequence. Removals (``removals``: the caller had
    pulled before) come in the same round trip, up to ``high``; the caller drops those past
    its page's upper bound: the first ``limit`` exits up to ``high`` that are <= ``upper``
    are exactly the first ``limit`` exits up to ``upper``.
    """
    cursor = bindparam("cursor", type_=BigInteger)
    high = bindparam("high", type_=BigInteger)
    limit = bindparam("limit", type_=Integer)
    user_id = bindparam("user_id", type_=Uuid)
    query = select(
        literal_column("0").label("kind"),
        sync_record.c.entity,
        sync_record.c.record_id,
        sync_record.c.seq,
    ).where(sync_record.c.seq > cursor, sync_record.c.seq <= high)
    if not admin:
        query = query.where(
            or_(
                sync_record.c.public.is_(True),
                sync_record.c.scope_user_id.in_(subtree_query(user_id)),
            )
        )
    query = query.order_by(sync_record.c.seq).limit(limit)
    if not removals:
        return query
    exit_query = (
        select(
            literal_column("1").label("kind"),
            sync_exit.c.entity,
            sync_exit.c.record_id,
            sync_exit.c.seq,
        )
        .where(
            sync_exit.c.audience_user_id == user_id,
            sync_exit.c.seq > cursor,
            sync_exit.c.seq <= high,
        )
        .order_by(sync_exit.c.seq)
        .limit(limit)
    )
    return union_all(select(query.subquery()), select(exit_query.subquery()))


class SyncService:
    """Push and pull on behalf of authenticated devices."""

    def __init__(self, engine: Engine, *, transient_retries: int = 5) -> None:
        self.engine = engine
        self.transient_retries = transient_retries
        # Publishing passes of this process: how many started and how many ended, guarded by
        # one condition (see publish_after_commit).
        self._publishing = threading.Condition()
        self._publish_started = 0
        self._publish_finished = 0
        # Purging expired srv_mutation rows: when this worker does it next (None: not yet).
        self._purge_lock = threading.Lock()
        self._next_purge: float | None = None

    def push(self, *, token: str | None, request: PushRequest) -> PushResponse:
        """Apply a batch for the device holding ``token``; every mutation gets a result.

        Retries contention, else raises :class:`Busy`; a bad token raises ``AuthError``.

        Every push that applied (or tried to apply) a mutation runs a publishing pass after
        its data transaction ended, whatever came of it: rejected, merged without a write,
        rolled back by an error. The pass of another push skips the bookkeeping rows this
        one held locked (:func:`publish_pending`), including rows it only read-locked (a
        parent whose scope a new child takes, a record whose change was then refused) and
        so will not rewrite; without this pass such a row, committed by that other push,
        stayed unnumbered (invisible to every pull) until some later push happened by.
        """
        progress = _PushProgress()
        try:
            response = self._push_with_retries(token, request, progress)
        except BaseException:
            if progress.applying:
                self._publish_after_failure()
            raise
        if progress.applying:
            self.publish_after_commit()
            self._purge_when_due()
        return response

    def _push_with_retries(
        self, token: str | None, request: PushRequest, progress: _PushProgress
    ) -> PushResponse:
        savepoints = False
        for _attempt in retrying(self.transient_retries):
            try:
                return self._push_once(token, request, savepoints, progress)
            except NeedSavepoints:
                savepoints = True
            except DBAPIError as exc:
                if not is_transient(exc):
                    raise
        raise Busy("the database is busy; retry the push")

    def _publish_after_failure(self) -> None:
        """Publish after a push that failed: its error, not this pass's, is the answer."""
        try:
            self.publish_after_commit()
        except Exception:
            log.exception("publishing after a failed push failed; the next push will")

    def _purge_when_due(self) -> None:
        """Purge expired ``srv_mutation`` rows at this worker's first push that applied
        anything, then at most every :data:`MUTATION_PURGE_INTERVAL_SECONDS` (one DELETE on
        the ``created_at`` index; not worth a statement on every push)."""
        now = time.monotonic()
        with self._purge_lock:
            if self._next_purge is not None and now < self._next_purge:
                return
            self._next_purge = now + MUTATION_PURGE_INTERVAL_SECONDS
        self.purge_expired_mutations()

    def purge_expired_mutations(self) -> int:
        """Forget processed mutations older than :data:`MUTATION_RETENTION`; best effort.

        Runs in its own short transaction, after a push's, so two workers purging the same
        rows never deadlock a data transaction; a failure is logged and left to the next
        purge.
        """
        try:
            with write_transaction(self.engine) as connection:
                return purge_expired_mutations(connection)
        except DBAPIError:
            log.warning("could not purge expired mutation records now", exc_info=True)
            return 0

    def _push_once(
        self,
        token: str | None,
        request: PushRequest,
        savepoints: bool,
        progress: _PushProgress,
    ) -> PushResponse:
        now_ms = wall_clock_ms()
        offset = Hlc.decode(request.clock).wall_ms - now_ms
        with write_transaction(self.engine) as connection:
            # The token check locks the device row: a device's concurrent retries queue here.
            auth = authenticate_on(connection, token, lock=True)
            user_id, device_id = auth.user_id, auth.device_id
            actor = Actor(user_id, lambda: Hierarchy.load(connection), admin=auth.admin)
            batch = Batch(
                connection,
                actor,
                node=device_id.hex,
                device_id=device_id,
                clock_offset_ms=offset,
                now_ms=now_ms,
                savepoints=savepoints,
            )
            last = auth.last_mutation
            results: list[MutationResult] = []
            resent: list[Mutation] = []
            processed: list[dict[str, Any]] = []
            now = utcnow()
            for mutation in request.mutations:
                if mutation.n <= last:
                    resent.append(mutation)
                    results.append(MutationResult(n=mutation.n, status="duplicate"))
                    continue
                base = request.b if mutation.b is None else mutation.b
                progress.applying = True
                result = batch.apply(mutation, base)
                results.append(result)
                processed.append(
                    {
                        "device_id": device_id,
                        "n": mutation.n,
                        "stamp": mutation.h,
                        "status": result.status,
                        "code": result.code,
                        "reason": result.reason,
                        "created_at": now,
                    }
                )
                last = mutation.n
            if resent:
                _answer_resent(connection, device_id, results, resent)
            if processed:
                # Same transaction as the consumed numbers (one executemany): a resend finds
                # what became of its number.
                connection.execute(_RECORD_PROCESSED, processed)
            connection.execute(
                _DEVICE_PUSHED,
                {"device": device_id, "last": last, "seen": now, "offset": offset},
            )
            batch.finish()
        return PushResponse(
            results=results,
            last_mutation=last,
            server_time_ms=wall_clock_ms(),
            clock_offset_ms=offset,
        )

    def publish_after_commit(self) -> None:
        """Return once a publishing pass that began after this call has ended.

        A pass numbers everything committed before its counter-lock statement, so any pass
        that starts after the caller's data transaction committed publishes the caller's
        changes (or leaves them to the push that is rewriting the same records, as
        :func:`publish_pending` says). Concurrent pushes of this process therefore share one
        pass: one thread runs it while the others wait here, instead of each queueing on the
        counter row lock with a connection held, only to find nothing left to number. Under
        load that queue, not the work, was most of a push's time. If the shared pass fails
        for good, the pushes that waited for it still succeed: their changes are committed
        and stay unnumbered until the next pass (next push or server start), as when a
        push's own pass fails.
        """
        with self._publishing:
            # A pass already running may have looked for pending rows before our commit.
            target = self._publish_started + 1
            while self._publish_finished < target:
                if self._publish_started == self._publish_finished:
                    self._publish_started += 1
                    number = self._publish_started
                    self._publishing.release()
                    try:
                        self.publish()
                    finally:
                        self._publishing.acquire()
                        self._publish_finished = number
                        self._publishing.notify_all()
                else:
                    self._publishing.wait()

    def publish(self) -> int:
        """Number pending changes (see :func:`publish_pending`), retrying contention.

        If it still fails, the changes stay committed and unnumbered and the next push (or
        the next server start) publishes them; the caller's push itself has succeeded.
        """
        for _attempt in retrying(self.transient_retries):
            try:
                with self.engine.connect() as connection:
                    connection.execution_options(crm_write=True)
                    with connection.begin() as transaction:
                        published = publish_pending(connection)
                        if not published:
                            # Another push numbered ours while we waited for the lock. A
                            # rollback releases it without the WAL flush a COMMIT would cost.
                            transaction.rollback()
                        return published
            except DBAPIError as exc:
                if not is_transient(exc):
                    raise
        log.warning("could not publish pending changes now; the next push will")
        return 0

    def pull(self, *, token: str | None, request: PullRequest) -> dict[str, Any]:
        """One page of changes visible to the token's user, as a JSON-ready ``PullResponse``."""
        for _attempt in retrying(self.transient_retries):
            try:
                return self._pull_once(token, request)
            except DBAPIError as exc:
                if not is_transient(exc):
                    raise
        raise Busy("the database is busy; retry the pull")

    def _pull_once(self, token: str | None, request: PullRequest) -> dict[str, Any]:
        with read_transaction(self.engine) as connection:
            # The token check reads the counter in the same statement, the first of the
            # snapshot: every sequence <= it belongs to a committed transaction, and anything
            # still in flight will get a higher one.
            auth = authenticate_on(connection, token, read_counter=True)
            user_id, admin = auth.user_id, auth.admin
            high = auth.counter
            cursor, limit = request.cursor, request.limit
            statement = _pull_statement(admin=admin, removals=cursor > 0)
            params = {"cursor": cursor, "high": high, "limit": limit, "user_id": user_id}
            records: list[Any] = []
            exits: list[Any] = []
            for row in connection.execute(statement, params):
                (exits if row.kind == 1 else records).append(row)
            # UNION ALL does not promise to keep each branch's order.
            records.sort(key=lambda row: row.seq)
            exits.sort(key=lambda row: row.seq)
            has_more = len(records) == limit
            upper = records[-1].seq if has_more else high
            exits = [row for row in exits if row.seq <= upper]
            if len(exits) == limit:
                upper = min(upper, exits[-1].seq)
                has_more = True
                records = [r for r in records if r.seq <= upper]
            by_entity: dict[str, list[uuid.UUID]] = {}
            for record in records:
                by_entity.setdefault(record.entity, []).append(record.record_id)
            upserts: list[dict[str, Any]] = []
            deletes: dict[str, list[str]] = {}
            for entity, ids in by_entity.items():
                spec = SPECS[entity]
                table = spec.table
                columns = [table.c[name] for name in spec.wire_fields]
                rows = connection.execute(
                    select(*columns, table.c.deleted).where(table.c.id.in_(ids))
                ).all()
                encoders = spec.wire_encoders
                live = []
                for row in rows:
                    if row[-1]:
                        deletes.setdefault(entity, []).append(str(row[0]))
                    else:
                        live.append(
                            [encode(value) for encode, value in zip(encoders, row, strict=False)]
                        )
                if live:
                    upserts.append({"t": entity, "fields": list(spec.wire_fields), "rows": live})
            removals: dict[str, list[str]] = {}
            for exit_row in exits:
                removals.setdefault(exit_row.entity, []).append(str(exit_row.record_id))
        return {
            "cursor": upper,
            "has_more": has_more,
            "upserts": upserts,
            "deletes": deletes,
            "removals": removals,
            "server_time_ms": wall_clock_ms(),
        }


__all__ = [
    "MUTATION_RETENTION",
    "SERVER_NODE",
    "Batch",
    "Busy",
    "NeedSavepoints",
    "Rejected",
    "SyncService",
    "publish_pending",
    "purge_expired_mutations",
    "read_cursor",
]
