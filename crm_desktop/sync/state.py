"""Reading and updating the one-row ``sync_state`` table (device id, counters, cursor, clock),
and reading the local conflict log (``sync_conflict``) for the panel and the CLI.

Transaction contract: every function here runs on the caller's connection inside the caller's
transaction and never commits, so "allocate a mutation number" commits with the outbox row, and
"advance the cursor" commits with the pulled page it belongs to.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, insert, select, update
from sqlalchemy.orm import Session

from crm_desktop.sync.clock import Hlc, HybridLogicalClock
from crm_desktop.sync.tables import sync_conflict, sync_state


@dataclass(frozen=True)
class SyncState:
    """A snapshot of ``sync_state``."""

    device_id: uuid.UUID
    last_mutation: int
    cursor: int
    clock: str
    conflicts_after: int
    server_url: str | None
    user_id: uuid.UUID | None
    username: str | None
    last_sync_at: datetime | None
    wiped_reason: str | None


def ensure(connection: Connection) -> None:
    """Create the state row with a fresh device id if it is missing (the migration makes it)."""
    exists = connection.execute(select(sync_state.c.id).where(sync_state.c.id == 1)).first()
    if exists is None:
        connection.execute(
            insert(sync_state).values(
                id=1, device_id=uuid.uuid4().hex, last_mutation=0, cursor=0, clock=""
            )
        )


def load(connection: Connection) -> SyncState:
    """The current state (creating the row if needed)."""
    row = connection.execute(select(sync_state).where(sync_state.c.id == 1)).first()
    if row is None:
        ensure(connection)
        row = connection.execute(select(sync_state).where(sync_state.c.id == 1)).one()
    return SyncState(
        device_id=uuid.UUID(row.device_id),
        last_mutation=row.last_mutation,
        cursor=row.cursor,
        clock=row.clock,
        conflicts_after=row.conflicts_after,
        server_url=row.server_url,
        user_id=uuid.UUID(row.user_id) if row.user_id else None,
        username=row.username,
        last_sync_at=row.last_sync_at,
        wiped_reason=row.wiped_reason,
    )


def clock_for(state: SyncState) -> HybridLogicalClock:
    """A clock for this device that continues from the persisted stamp."""
    last = Hlc.decode(state.clock) if state.clock else None
    return HybridLogicalClock(state.device_id.hex, last=last)


def save_clock(connection: Connection, stamp: Hlc) -> None:
    """Persist ``stamp`` unless a later one is stored already (another writer got there first)."""
    compact = stamp.compact()
    # Compact stamps are fixed width, so text order is stamp order.
    connection.execute(
        update(sync_state)
        .where(sync_state.c.id == 1, sync_state.c.clock < compact)
        .values(clock=compact)
    )


def set_values(connection: Connection, **values: object) -> None:
    """Update columns of the state row."""
    connection.execute(update(sync_state).where(sync_state.c.id == 1).values(**values))


# --- the conflict log -------------------------------------------------------------------------


@dataclass(frozen=True)
class ConflictRecord:
    """One entry of the local conflict log, as plain data for the panel and ``crm conflicts``.

    ``local``/``server``/``value``/``base`` are wire values (decoded JSON); for a ``rejected``
    mutation ``local`` holds the fields that were refused and ``reason`` says why.
    """

    id: int
    created_at: datetime
    entity: str
    record_id: uuid.UUID
    field: str
    rule: str
    winner: str
    base: Any
    base_known: bool
    local: Any
    server: Any
    value: Any
    code: str | None
    reason: str | None
    mutation: int
    mine: bool
    restored_at: datetime | None

    @property
    def other_value(self) -> Any:
        """The value that did not stand (what "take the other value" writes), if any."""
        if self.rule in ("rejected", "edit_after_delete", "delete_wins"):
            return None
        return self.server if self.winner == "local" else self.local

    @property
    def this_device_value(self) -> Any:
        """What this device had: the pushed value if it pushed, else the overruled one."""
        return self.local if self.mine else self.server

    @property
    def elsewhere_value(self) -> Any:
        """The competing value from head office (another device's edit)."""
        return self.server if self.mine else self.local

    @property
    def can_take_other(self) -> bool:
        """False where taking the other value makes no sense (deleted records, rejections)."""
        return self.rule in ("lww", "text_keep_both") and self.restored_at is None

    def as_json(self) -> dict[str, Any]:
        """A JSON-ready dict (``crm conflicts --format jsonl``)."""
        return {
            "id": self.id,
            "created_at": self.created_at.isoformat().replace("+00:00", "Z"),
            "entity": self.entity,
            "record_id": str(self.record_id),
            "field": self.field,
            "rule": self.rule,
            "winner": self.winner,
            "base": self.base if self.base_known else None,
            "base_known": self.base_known,
            "local": self.local,
            "server": self.server,
            "value": self.value,
            "code": self.code,
            "reason": self.reason,
            "mutation": self.mutation,
            "this_device": self.mine,
            "restored_at": (
                self.restored_at.isoformat().replace("+00:00", "Z") if self.restored_at else None
            ),
        }


def _loads(value: str | None) -> Any:
    return None if value is None else json.loads(value)


def list_conflicts(connection: Connection, *, limit: int | None = None) -> list[ConflictRecord]:
    """The local conflict log, newest first."""
    device = load(connection).device_id.hex
    query = select(sync_conflict).order_by(sync_conflict.c.id.desc())
    if limit is not None:
        query = query.limit(limit)
    return [
        ConflictRecord(
            id=row.id,
            created_at=row.created_at,
            entity=row.entity,
            record_id=row.record_id,
            field=row.field,
            rule=row.rule,
            winner=row.winner,
            base=_loads(row.base),
            base_known=row.base_known,
            local=_loads(row.local),
            server=_loads(row.server),
            value=_loads(row.value),
            code=row.code,
            reason=row.reason,
            mutation=row.mutation,
            mine=row.device_id == device,
            restored_at=row.restored_at,
        )
        for row in connection.execute(query)
    ]


def decode_for_orm(entity: str, field_name: str, value: Any) -> Any:
    """A wire value as the Python value the ORM attribute takes."""
    from datetime import date
    from decimal import Decimal

    from sqlalchemy import Date, Enum, Uuid

    from crm_desktop.models import ENTITIES
    from crm_desktop.models.base import Money, UTCDateTime

    if value is None:
        return None
    column = ENTITIES[entity].__table__.c[field_name]
    kind = column.type
    if isinstance(kind, Uuid):
        return uuid.UUID(value)
    if isinstance(kind, UTCDateTime):
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    if isinstance(kind, Money):
        return Decimal(value)
    if isinstance(kind, Date):
        return date.fromisoformat(value)
    if isinstance(kind, Enum) and kind.enum_class is not None:
        return kind.enum_class(value)
    return value


def take_other_value(session: Session, conflict_id: int) -> ConflictRecord:
    """Write the value that did not stand as a new, ordinary edit (so it syncs like any edit).

    Runs in the caller's transaction (the capture hook puts it in the outbox); marks the log
    entry restored. Raises ``ValueError`` if the entry cannot be taken back.
    """
    from crm_desktop.models import ENTITIES

    connection = session.connection()
    found = [c for c in list_conflicts(connection) if c.id == conflict_id]
    if not found:
        raise ValueError(f"no conflict {conflict_id} in the log")
    conflict = found[0]
    if not conflict.can_take_other:
        raise ValueError("this conflict has no other value to take")
    record = session.get(ENTITIES[conflict.entity], conflict.record_id)
    if record is None or getattr(record, "deleted", False):
        raise ValueError(f"the {conflict.entity} no longer exists on this device")
    setattr(
        record,
        conflict.field,
        decode_for_orm(conflict.entity, conflict.field, conflict.other_value),
    )
    session.flush()
    connection.execute(
        update(sync_conflict)
        .where(sync_conflict.c.id == conflict_id)
        .values(restored_at=datetime.now(UTC))
    )
    return conflict
