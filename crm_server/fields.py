"""Per-entity field specifications: which columns sync, how values are checked and encoded.

Built once from the shared models, so a new column in ``crm_desktop.models`` is synced without
touching the server. Decoding is strict and names the problem, because a wrong value must be
refused with a reason before anything is written (and SQLite would happily store a 300-char
string in a ``String(100)`` that PostgreSQL refuses).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import Boolean, Column, Date, Enum, Integer, String, Table, Text, Uuid

from crm_desktop.models import ENTITIES
from crm_desktop.models.base import Money, UTCDateTime
from crm_desktop.sync.protocol import Scalar

#: Columns sync manages itself: never written through a change's fields.
READ_ONLY = frozenset({"id", "updated_at", "deleted"})
#: Money fits PostgreSQL's NUMERIC(24, 6).
MONEY_MAX_INTEGER_DIGITS = 18
MONEY_MAX_SCALE = 6
INT_MIN, INT_MAX = -(2**31), 2**31 - 1


class FieldValueError(ValueError):
    """A wire value that does not fit its column; the message says what was expected."""


Decoder = Callable[[Scalar], Any]
Encoder = Callable[[Any], Scalar]


@dataclass(frozen=True)
class FieldSpec:
    """One synced column."""

    name: str
    decode: Decoder
    encode: Encoder
    nullable: bool
    required_on_create: bool
    #: Long free text: concurrent edits keep both versions instead of dropping one.
    long_text: bool


@dataclass(frozen=True)
class EntitySpec:
    """One synced entity: its table, its fields and the order they travel in pull rows."""

    name: str
    table: Table
    fields: dict[str, FieldSpec]
    #: Columns in pull rows: ``id`` first, then every column but ``deleted``.
    wire_fields: tuple[str, ...]
    wire_encoders: tuple[Encoder, ...]


def _decode_str(max_length: int | None) -> Decoder:
    def decode(value: Scalar) -> str:
        if not isinstance(value, str):
            raise FieldValueError("expected a string")
        if max_length is not None and len(value) > max_length:
            raise FieldValueError(f"longer than {max_length} characters")
        if "\x00" in value:
            raise FieldValueError("contains a NUL character")
        return value

    return decode


def _decode_int(value: Scalar) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise FieldValueError("expected an integer")
    if not INT_MIN <= value <= INT_MAX:
        raise FieldValueError("integer out of range")
    return value


def _decode_bool(value: Scalar) -> bool:
    if not isinstance(value, bool):
        raise FieldValueError("expected true or false")
    return value


def _decode_uuid(value: Scalar) -> uuid.UUID:
    if not isinstance(value, str):
        raise FieldValueError("expected a UUID string")
    try:
        return uuid.UUID(value)
    except ValueError as exc:
        raise FieldValueError("not a UUID") from exc


def _decode_date(value: Scalar) -> date:
    if not isinstance(value, str):
        raise FieldValueError("expected a date string YYYY-MM-DD")
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise FieldValueError("not a date YYYY-MM-DD") from exc


def _decode_datetime(value: Scalar) -> datetime:
    if not isinstance(value, str):
        raise FieldValueError("expected an ISO 8601 timestamp string")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise FieldValueError("not an ISO 8601 timestamp") from exc
    if parsed.tzinfo is None:
        raise FieldValueError("timestamp without a UTC offset")
    return parsed.astimezone(UTC)


def _decode_money(value: Scalar) -> Decimal:
    # Integers are exact, so they are accepted; fractions must come as strings.
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise FieldValueError("expected a decimal string such as '12.50'")
    try:
        amount = Decimal(value)
    except InvalidOperation as exc:
        raise FieldValueError("not a decimal number") from exc
    if not amount.is_finite():
        raise FieldValueError("not a finite decimal number")
    _sign, digits, exponent = amount.normalize().as_tuple()
    assert isinstance(exponent, int)  # finite decimals have an integer exponent
    if -exponent > MONEY_MAX_SCALE:
        raise FieldValueError(f"more than {MONEY_MAX_SCALE} decimal places")
    if amount != 0 and len(digits) + exponent > MONEY_MAX_INTEGER_DIGITS:
        raise FieldValueError(f"more than {MONEY_MAX_INTEGER_DIGITS} integer digits")
    return amount


def _decode_enum(column_type: Enum) -> Decoder:
    allowed = list(column_type.enums)
    enum_class = column_type.enum_class

    def decode(value: Scalar) -> Any:
        if not isinstance(value, str) or value not in allowed:
            raise FieldValueError(f"expected one of {', '.join(allowed)}")
        return enum_class(value) if enum_class is not None else value

    return decode


def _nullable(decoder: Decoder, nullable: bool) -> Decoder:
    def decode(value: Scalar) -> Any:
        if value is None:
            if not nullable:
                raise FieldValueError("may not be null")
            return None
        return decoder(value)

    return decode


def encode_value(value: Any) -> Scalar:
    """A Python column value in its wire form."""
    if value is None or isinstance(value, bool | int | str):
        # StrEnum members are str: they encode as their value.
        return value.value if hasattr(value, "value") and isinstance(value, str) else value
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return format(value.normalize(), "f") if value else "0"
    raise TypeError(f"cannot encode {type(value).__name__} for the wire")


def _encoder_for(column: Column[Any]) -> Encoder:
    column_type = column.type
    if isinstance(column_type, Uuid):
        return lambda v: None if v is None else str(v)
    if isinstance(column_type, Enum):
        return lambda v: None if v is None else (v.value if hasattr(v, "value") else v)
    if isinstance(column_type, Boolean | Integer) or (
        isinstance(column_type, String) and not isinstance(column_type, Money)
    ):
        return lambda v: v
    return encode_value


def _decoder_for(column: Column[Any]) -> Decoder:
    column_type = column.type
    if isinstance(column_type, Money):
        return _decode_money
    if isinstance(column_type, UTCDateTime):
        return _decode_datetime
    if isinstance(column_type, Uuid):
        return _decode_uuid
    if isinstance(column_type, Enum):
        return _decode_enum(column_type)
    if isinstance(column_type, Boolean):
        return _decode_bool
    if isinstance(column_type, Integer):
        return _decode_int
    if isinstance(column_type, Date):
        return _decode_date
    if isinstance(column_type, String):
        return _decode_str(column_type.length)
    raise TypeError(f"no wire decoder for column {column} of type {column_type!r}")


def _build(name: str, table: Table) -> EntitySpec:
    fields: dict[str, FieldSpec] = {}
    for column in table.columns:
        if column.name in READ_ONLY:
            continue
        required = (
            not column.nullable
            and column.default is None
            and column.server_default is None
            and column.name != "created_at"
        )
        fields[column.name] = FieldSpec(
            name=column.name,
            decode=_nullable(_decoder_for(column), bool(column.nullable)),
            encode=_encoder_for(column),
            nullable=bool(column.nullable),
            required_on_create=required,
            long_text=isinstance(column.type, Text),
        )
    wire = ["id"] + [c.name for c in table.columns if c.name not in ("id", "deleted")]
    encoders = tuple(_encoder_for(table.columns[c]) for c in wire)
    return EntitySpec(name, table, fields, tuple(wire), encoders)


SPECS: dict[str, EntitySpec] = {
    name: _build(name, model.__table__)  # type: ignore[arg-type]
    for name, model in ENTITIES.items()
}

#: Dependency order of the tables (parents first), used to apply a mutation's changes.
TABLE_ORDER: dict[str, int] = {
    table.name: position
    for position, table in enumerate(next(iter(SPECS.values())).table.metadata.sorted_tables)
}
