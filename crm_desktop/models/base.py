"""Declarative base, naming convention and the columns every synced record carries.

Every record that syncs gets a client-generated, time-ordered UUID (UUIDv7, so a record made
offline never changes id and ids sort by creation time), created/updated stamps and a tombstone
flag: rows are never hard-deleted, because a delete has to travel to other devices like an edit
(DESIGN.md, sync principles 1 and 6).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import uuid6
from sqlalchemy import Boolean, DateTime, MetaData, Numeric, String, TypeDecorator, Uuid, false
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# Alembic's batch mode (needed for SQLite ALTERs) can only drop or alter constraints that have a name.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def new_id() -> uuid.UUID:
    """Return a new time-ordered UUIDv7 as a standard-library UUID."""
    return uuid.UUID(int=uuid6.uuid7().int)


def utcnow() -> datetime:
    """Return the current time as an aware UTC datetime."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored as naive UTC and always returned as an aware UTC datetime.

    SQLite has no time-zone type; storing naive UTC everywhere and attaching the zone on the
    way out means no caller can ever compare a local time with a UTC one by accident.
    """

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; pass an aware datetime (UTC)")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC)


class Money(TypeDecorator[Decimal]):
    """An exact decimal amount.

    SQLite's NUMERIC affinity would turn amounts into binary floats; storing the decimal's text
    keeps every cent exact on SQLite, while PostgreSQL gets a real NUMERIC column.
    """

    impl = String(40)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> Any:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(Numeric(24, 6))
        return dialect.type_descriptor(String(40))

    def process_bind_param(self, value: Decimal | int | str | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        d = Decimal(value)
        if dialect.name == "postgresql":
            return d
        return format(d, "f")

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        return Decimal(value)


class Base(DeclarativeBase):
    """Declarative base shared by the desktop store and the head-office server."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class SyncMixin:
    """Columns of every record that travels through sync.

    ``deleted`` is the tombstone: business queries filter it out, sync sends it like any edit.
    ``updated_at`` is for people (sort, "changed recently"); sync order never relies on it.
    """

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime, default=utcnow, onupdate=utcnow, nullable=False
    )
    deleted: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=false(), nullable=False
    )


def enum_column(enum_cls: type[Any], length: int = 20) -> Any:
    """A string column holding the *values* of a Python ``StrEnum`` (readable in exports and SQL)."""
    from sqlalchemy import Enum

    return Enum(
        enum_cls,
        native_enum=False,
        create_constraint=False,
        length=length,
        values_callable=lambda e: [m.value for m in e],
        validate_strings=True,
    )
