"""Client-local sync bookkeeping tables, and the codec between column values and wire values.

These tables live in the desktop store only, on their own :data:`sync_metadata` (never on
``crm_desktop.models.Base.metadata``, which the server shares and must not get them):

``sync_state``     one row: this profile's device id, the last mutation number handed out, the
                   pull cursor, the persisted hybrid logical clock, the conflict-feed cursor and
                   who/where the profile last signed in (so a profile never mixes two servers).
``sync_outbox``    one row per local transaction still to push: its mutation number ``n``
                   (idempotency key), clock stamp, base cursor, its changes as wire JSON, and
                   whether it was ever sent (``sent``, see :mod:`crm_desktop.sync.engine`).
``sync_base``      one row per field with a pending local edit: the last value the server had
                   for it (the *base*) and the newest mutation that edited it. While a row exists
                   a pulled value never overwrites the local one; the pulled value becomes the new
                   base instead (rebase). The row goes away when the server has decided.
``sync_conflict``  the local conflict log: concurrent edits the server resolved (from push
                   results and ``GET /v1/conflicts``) and mutations it rejected.

The codec: SQLite stores UUIDs as 32 hex digits, timestamps as naive UTC text with microseconds,
booleans as 0/1, money as decimal text; the wire carries canonical strings (see
:mod:`crm_desktop.sync.protocol`). :func:`encode_value` turns a Python column value into its wire
form (identical to the server's, so base and pulled values compare as equal strings), and
:func:`storage_converters` gives per-column functions from wire values straight to SQLite
storage values, so a pulled page is inserted with ``executemany`` without building ORM objects.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import Decimal
from functools import cache
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Date,
    Enum,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    Uuid,
    text,
)

from crm_desktop.models import ENTITIES
from crm_desktop.models.base import NAMING_CONVENTION, Money, UTCDateTime
from crm_desktop.sync.protocol import Scalar

#: The client-only sync tables (Alembic manages them next to ``models.Base.metadata``).
sync_metadata = MetaData(naming_convention=NAMING_CONVENTION)

sync_state = Table(
    "sync_state",
    sync_metadata,
    Column("id", Integer, primary_key=True),
    Column("device_id", String(32), nullable=False),
    Column("last_mutation", BigInteger, nullable=False, default=0),
    Column("cursor", BigInteger, nullable=False, default=0),
    # Compact HLC stamp (11 characters, no node) of the newest event seen on this device.
    Column("clock", String(11), nullable=False, default=""),
    Column("conflicts_after", BigInteger, nullable=False, default=0),
    Column("server_url", String(500)),
    Column("user_id", String(32)),
    Column("username", String(100)),
    Column("last_sync_at", UTCDateTime),
    # Why local data was last wiped (revoked device...), shown once to the user.
    Column("wiped_reason", Text),
    CheckConstraint("id = 1", name="single_row"),
)

sync_outbox = Table(
    "sync_outbox",
    sync_metadata,
    Column("n", BigInteger, primary_key=True, autoincrement=False),
    Column("stamp", String(11), nullable=False),
    Column("base", BigInteger, nullable=False),
    # JSON list of wire changes ({"t", "id", "f", "o"} or {"t", "id", "d": true}).
    Column("changes", Text, nullable=False),
    Column("change_count", Integer, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    # Set (and committed) before the first request carrying this mutation goes out. A number
    # the server calls a duplicate although it was never sent cannot have been applied: the
    # profile was restored from a backup or copied, and its numbers fell behind the server's.
    Column("sent", Boolean, nullable=False, default=False, server_default=text("0")),
)

sync_base = Table(
    "sync_base",
    sync_metadata,
    Column("entity", String(40), primary_key=True),
    Column("record_id", String(32), primary_key=True),
    Column("field", String(64), primary_key=True),
    # JSON of the wire value the server last had (null for "unknown": a record made here).
    Column("value", Text),
    Column("last_n", BigInteger, nullable=False),
    Index("ix_sync_base_last_n", "last_n"),
)

sync_conflict = Table(
    "sync_conflict",
    sync_metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("server_id", BigInteger),
    Column("created_at", UTCDateTime, nullable=False),
    # The pushing device (hex) and its mutation number: with entity, record and field they
    # identify one conflict, whether it came in a push result or from GET /v1/conflicts.
    Column("device_id", String(32), nullable=False, default=""),
    Column("mutation", BigInteger, nullable=False, default=0),
    Column("entity", String(40), nullable=False),
    Column("record_id", Uuid, nullable=False),
    Column("field", String(64), nullable=False, default=""),
    # lww, text_keep_both, delete_wins, edit_after_delete, or "rejected" (code in ``code``).
    Column("rule", String(30), nullable=False),
    Column("winner", String(10), nullable=False, default=""),
    Column("base", Text),
    Column("base_known", Boolean, nullable=False, default=False),
    Column("local", Text),
    Column("server", Text),
    Column("value", Text),
    Column("code", String(40)),
    Column("reason", Text),
    Column("restored_at", UTCDateTime),
    UniqueConstraint("device_id", "mutation", "entity", "record_id", "field"),
    Index("ix_sync_conflict_created_at", "created_at"),
)

SYNC_TABLES = frozenset(sync_metadata.tables)


# --- codec ------------------------------------------------------------------------------------


def encode_value(value: Any) -> Scalar:
    """A Python column value in its wire form (the same text the server produces)."""
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, str):
        # StrEnum members are str: they travel as their value.
        return value.value if hasattr(value, "value") else value
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return format(value.normalize(), "f") if value else "0"
    raise TypeError(f"cannot encode {type(value).__name__} for the wire")


def _uuid_to_storage(value: Scalar) -> Scalar:
    if value is None:
        return None
    assert isinstance(value, str)
    text = value.replace("-", "").lower()
    if len(text) != 32:
        return uuid.UUID(value).hex
    return text


def _datetime_to_storage(value: Scalar) -> Scalar:
    # SQLAlchemy stores SQLite datetimes as "YYYY-MM-DD HH:MM:SS.ffffff" (naive UTC); the fast
    # paths cover the server's two shapes, anything else goes through a real parse.
    if value is None:
        return None
    assert isinstance(value, str)
    if len(value) == 27 and value[10] == "T" and value[26] == "Z":
        return f"{value[:10]} {value[11:26]}"
    if len(value) == 20 and value[10] == "T" and value[19] == "Z":
        return f"{value[:10]} {value[11:19]}.000000"
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        raise ValueError(f"timestamp without a UTC offset: {value!r}")
    return parsed.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def store_as_is(value: Scalar) -> Scalar:
    """The converter of columns stored exactly as they travel (text, numbers, money, dates)."""
    return value


def _storage_to_wire_datetime(value: Any) -> Scalar:
    if value is None:
        return None
    parsed = datetime.fromisoformat(str(value)).replace(tzinfo=UTC)
    return encode_value(parsed)


def _storage_to_wire_uuid(value: Any) -> Scalar:
    return None if value is None else str(uuid.UUID(str(value)))


def _storage_to_wire_money(value: Any) -> Scalar:
    return None if value is None else encode_value(Decimal(str(value)))


def _storage_to_wire_bool(value: Any) -> Scalar:
    return None if value is None else bool(value)


Converter = Callable[[Any], Any]


def _to_storage(column: Column[Any]) -> Converter:
    column_type = column.type
    if isinstance(column_type, Uuid):
        return _uuid_to_storage
    if isinstance(column_type, UTCDateTime):
        return _datetime_to_storage
    # Money, dates, enums, text, integers and booleans are stored as they travel (sqlite3
    # stores True/False as 1/0 itself).
    return store_as_is


def _to_wire(column: Column[Any]) -> Converter:
    column_type = column.type
    if isinstance(column_type, Uuid):
        return _storage_to_wire_uuid
    if isinstance(column_type, UTCDateTime):
        return _storage_to_wire_datetime
    if isinstance(column_type, Money):
        return _storage_to_wire_money
    if isinstance(column_type, Boolean):
        return _storage_to_wire_bool
    if isinstance(column_type, Date | Enum | String | Text | Integer):
        return store_as_is
    raise TypeError(f"no wire form for column {column} of type {column_type!r}")


@cache
def storage_converters(entity: str) -> dict[str, Converter]:
    """Per column of ``entity``: wire value -> SQLite storage value."""
    table = _table(entity)
    return {column.name: _to_storage(column) for column in table.columns}


@cache
def wire_converters(entity: str) -> dict[str, Converter]:
    """Per column of ``entity``: SQLite storage value (raw driver value) -> wire value."""
    table = _table(entity)
    return {column.name: _to_wire(column) for column in table.columns}


@cache
def long_text_fields(entity: str) -> frozenset[str]:
    """Columns of ``entity`` the server merges by keeping both versions."""
    table = _table(entity)
    return frozenset(c.name for c in table.columns if isinstance(c.type, Text))


def _table(entity: str) -> Table:
    table = ENTITIES[entity].__table__
    assert isinstance(table, Table)
    return table


def table_name(entity: str) -> str:
    """The SQL table of a wire entity type."""
    return _table(entity).name
