"""Export every business record as JSON Lines, and import the same format back.

Format: one JSON object per line, ``{"type": "<entity>", "id": "<uuid>", ...}`` followed by the
record's other columns under their column names. ``type`` is the key of
:data:`crm_desktop.models.ENTITIES` (``account``, ``contact``, ``quote_line``...). Values:
Decimal as a string (exact: ``"1234.50"``), date as ``YYYY-MM-DD``, datetime as ISO-8601 UTC
ending in ``Z``, UUID as its canonical string, enums as their stored value, booleans and integers
as JSON. Tombstoned records are exported with ``"deleted": true``: a delete is data too.

Export order is stable: types in foreign-key dependency order (the metadata's sort, which breaks
the few reference cycles at their ``use_alter`` side), then records by id. Two exports of the same
data are byte-identical, which the demo-data determinism and the round-trip tests rely on.

Import rules:

* A line whose id is new creates the record, with the stamps the line carries. A line whose id
  exists updates only the fields that differ, through the ORM, so the search index (and sync's
  change capture) see an ordinary edit; fields absent from the line are left alone. An edit that
  does not carry its own ``updated_at`` gets a fresh one, as any edit does.
* All or nothing: every line is parsed and checked (JSON, type, field names, value types, required
  fields, references to records neither in the file nor in the store, unique keys) *before*
  anything is written; any problem raises :class:`ImportFailed` listing ``line N: field: problem``
  and the session is left untouched.
* Lines may come in any order: foreign keys are deferred to commit for the transaction
  (``PRAGMA defer_foreign_keys``), and references were checked beforehand.
* Creates go through the ORM too (not bulk Core inserts): sync's change capture must see an
  imported record like any other new one. This costs about 0.3 ms per record (the search and
  outbox hooks included), so 100k records take half a minute.
* The input is read twice, once to check and once to write in batches, so memory stays flat
  whatever the file's size (a 100k-record import peaks around 160 MB).

Transaction contract: both directions take a :class:`~sqlalchemy.orm.Session` and never commit.
No Qt here.
"""

from __future__ import annotations

import json
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from enum import Enum as PyEnum
from typing import Any, TextIO, cast

from sqlalchemy import (
    Boolean,
    Column,
    Date,
    DateTime,
    Enum,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
    Uuid,
    select,
    text,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import flag_modified

from crm_desktop.models import ENTITIES, Base, SyncMixin
from crm_desktop.models.base import Money, UTCDateTime
from crm_desktop.services.errors import ServiceError

#: Ids per ``IN (...)`` query: far below SQLite's bound-parameter limit on every build.
_CHUNK = 900
#: Lines decoded and written per ORM flush during import: bounds the memory an import holds.
_FLUSH_EVERY = 2000
#: How many problems an :class:`ImportFailed` message spells out (all are in ``errors``).
_MESSAGE_ERRORS = 20


# --------------------------------------------------------------------------------------------
# Types and their order


def export_order() -> list[str]:
    """Entity type names in foreign-key dependency order (referenced types first)."""
    by_table = {cls.__table__.name: name for name, cls in ENTITIES.items()}  # type: ignore[attr-defined]
    return [by_table[t.name] for t in Base.metadata.sorted_tables if t.name in by_table]


def _table(type_name: str) -> Table:
    return cast(Table, ENTITIES[type_name].__table__)


def _type_of_table(table_name: str) -> str | None:
    for name, cls in ENTITIES.items():
        if cls.__table__.name == table_name:  # type: ignore[attr-defined]
            return name
    return None


# --------------------------------------------------------------------------------------------
# Export


def encode_value(value: Any) -> Any:
    """A column value as JSON: see the module docstring for each type's form."""
    # Enums first: a StrEnum is also a str, and must be written as its plain value.
    if isinstance(value, PyEnum):
        return value.value
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, Decimal):
        # "f" never switches to exponent notation and keeps the stored scale ("12.50").
        return format(value, "f")
    if isinstance(value, datetime):
        if value.tzinfo is None:  # pragma: no cover - UTCDateTime always returns aware values
            raise ValueError("naive datetime in the store")
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    raise TypeError(f"cannot export a value of type {type(value).__name__}")


def iter_records(session: Session, types: Iterable[str] | None = None) -> Iterator[dict[str, Any]]:
    """Every record (tombstones included) as an ordered JSON-ready dict, in export order.

    Reads through Core with ``yield_per`` so a large store streams instead of loading at once.
    """
    connection = session.connection()
    for type_name in types if types is not None else export_order():
        table = _table(type_name)
        columns = [c for c in table.c if c.key != "id"]
        stmt = select(table).order_by(table.c.id).execution_options(yield_per=5000)
        for row in connection.execute(stmt):
            record: dict[str, Any] = {"type": type_name, "id": str(row.id)}
            mapping = row._mapping
            for column in columns:
                record[column.key] = encode_value(mapping[column])
            yield record


def encode_record(record: dict[str, Any]) -> str:
    """One JSONL line (without the newline): UTF-8 text kept readable, compact separators."""
    return json.dumps(record, ensure_ascii=False, separators=(",", ":"))


def export_jsonl(*, session: Session, stream: TextIO) -> int:
    """Write every business record to ``stream``, one line each; returns how many were written."""
    count = 0
    for record in iter_records(session):
        stream.write(encode_record(record))
        stream.write("\n")
        count += 1
    return count


# --------------------------------------------------------------------------------------------
# Import: errors and results


@dataclass(frozen=True, order=True)
class LineError:
    """One problem of an import file; ``field`` is ``None`` when the whole line is at fault,
    ``line`` is 0 for a problem only the database found (no single line to blame)."""

    line: int
    field: str | None
    problem: str

    def __str__(self) -> str:
        if self.line == 0:  # a problem of the whole file, found while writing
            return self.problem
        if self.field is None:
            return f"line {self.line}: {self.problem}"
        return f"line {self.line}: {self.field}: {self.problem}"


class ImportFailed(ServiceError):
    """The file was rejected and nothing was written; ``errors`` lists every problem found."""

    def __init__(self, errors: list[LineError]) -> None:
        self.errors = sorted(errors)
        shown = [str(e) for e in self.errors[:_MESSAGE_ERRORS]]
        if len(self.errors) > _MESSAGE_ERRORS:
            shown.append(f"... and {len(self.errors) - _MESSAGE_ERRORS} more problems")
        super().__init__("\n".join(shown))


@dataclass
class ImportResult:
    """What an import did, per entity type."""

    created: dict[str, int] = field(default_factory=dict)
    updated: dict[str, int] = field(default_factory=dict)
    unchanged: int = 0

    @property
    def total_created(self) -> int:
        """Records created, all types together."""
        return sum(self.created.values())

    @property
    def total_updated(self) -> int:
        """Records whose fields changed, all types together."""
        return sum(self.updated.values())


class _Bad(Exception):
    """A value that does not fit its column (the message says what was expected)."""


# --------------------------------------------------------------------------------------------
# Import: decoding values per column type


def _decode_uuid(value: Any) -> uuid.UUID:
    if not isinstance(value, str):
        raise _Bad("expected a UUID string")
    try:
        return uuid.UUID(value)
    except ValueError:
        raise _Bad(f"not a UUID: {value!r}") from None


def _decode_datetime(value: Any) -> datetime:
    if not isinstance(value, str):
        raise _Bad("expected an ISO-8601 UTC datetime string")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise _Bad(f"not an ISO-8601 datetime: {value!r}") from None
    if parsed.tzinfo is None:
        # A naive time is ambiguous (whose local time?); refuse rather than guess.
        raise _Bad(f"datetime without a time zone: {value!r} (end it with Z)")
    return parsed.astimezone(UTC)


def _decode_date(value: Any) -> date:
    if not isinstance(value, str):
        raise _Bad("expected a YYYY-MM-DD date string")
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise _Bad(f"not a YYYY-MM-DD date: {value!r}") from None


def _decode_decimal(value: Any) -> Decimal:
    # Floats never reach here: the parser reads JSON numbers with a fraction as Decimal.
    if isinstance(value, bool):
        raise _Bad("expected a decimal number as a string")
    if isinstance(value, int | Decimal):
        result = Decimal(value)
    elif isinstance(value, str):
        try:
            result = Decimal(value.strip())
        except InvalidOperation:
            raise _Bad(f"not a decimal number: {value!r}") from None
    else:
        raise _Bad("expected a decimal number as a string")
    if not result.is_finite():
        raise _Bad(f"not a finite number: {value!r}")
    return result


def _decode_int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _Bad("expected an integer")
    return value


def _decode_bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise _Bad("expected true or false")
    return value


def _string_decoder(length: int | None) -> Callable[[Any], str]:
    def decode(value: Any) -> str:
        if not isinstance(value, str):
            raise _Bad("expected a string")
        if length is not None and len(value) > length:
            raise _Bad(f"longer than {length} characters")
        return value

    return decode


def _enum_decoder(enum_type: Enum) -> Callable[[Any], Any]:
    enum_class = enum_type.enum_class
    assert enum_class is not None
    members = {m.value: m for m in enum_class}

    def decode(value: Any) -> Any:
        if not isinstance(value, str) or value not in members:
            allowed = ", ".join(sorted(members))
            raise _Bad(f"{value!r} is not one of: {allowed}")
        return members[value]

    return decode


def _decoder(column: Column[Any]) -> Callable[[Any], Any]:
    kind = column.type
    # Order matters: the decorators first, and Enum before String (it subclasses String).
    if isinstance(kind, UTCDateTime | DateTime):
        return _decode_datetime
    if isinstance(kind, Money):
        return _decode_decimal
    if isinstance(kind, Uuid):
        return _decode_uuid
    if isinstance(kind, Boolean):
        return _decode_bool
    if isinstance(kind, Integer):
        return _decode_int
    if isinstance(kind, Date):
        return _decode_date
    if isinstance(kind, Enum):
        return _enum_decoder(kind)
    if isinstance(kind, Text):
        return _string_decoder(None)
    if isinstance(kind, String):
        return _string_decoder(kind.length)
    raise TypeError(f"no JSONL decoder for {column.table.name}.{column.key}: {kind!r}")


@dataclass(frozen=True)
class _Field:
    """How one column is read from a line."""

    key: str
    attr: str
    decode: Callable[[Any], Any]
    nullable: bool
    required: bool
    default: Any
    target: str | None  # entity type a foreign key points at


@dataclass(frozen=True)
class _Shape:
    """How one entity type is read: its fields, the ones a new record must have, and the unique
    keys to check (with the columns they span)."""

    type_name: str
    fields: dict[str, _Field]
    unique_keys: tuple[tuple[str, ...], ...]
    required: tuple[str, ...]
    unique_columns: tuple[str, ...]


def _shape(type_name: str) -> _Shape:
    cls = ENTITIES[type_name]
    table = _table(type_name)
    mapper = cls.__mapper__
    fields: dict[str, _Field] = {}
    for column in table.c:
        target = None
        for fk in column.foreign_keys:
            target = _type_of_table(fk.column.table.name)
        default = None
        if column.default is not None and column.default.is_scalar:
            default = column.default.arg  # type: ignore[attr-defined]
        fields[column.key] = _Field(
            key=column.key,
            attr=mapper.get_property_by_column(column).key,
            decode=_decoder(column),
            nullable=bool(column.nullable),
            required=not column.nullable
            and column.default is None
            and column.server_default is None,
            default=default,
            target=target,
        )
    keys: list[tuple[str, ...]] = []
    for constraint in table.constraints:
        if isinstance(constraint, UniqueConstraint):
            keys.append(tuple(c.key for c in constraint.columns))
    keys.extend(tuple(c.key for c in index.columns) for index in table.indexes if index.unique)
    unique_keys = tuple(dict.fromkeys(keys))
    return _Shape(
        type_name,
        fields,
        unique_keys,
        required=tuple(k for k, spec in fields.items() if spec.required and k != "id"),
        unique_columns=tuple(sorted({k for key in unique_keys for k in key})),
    )


_SHAPES: dict[str, _Shape] = {}


def _shape_of(type_name: str) -> _Shape:
    shape = _SHAPES.get(type_name)
    if shape is None:
        shape = _SHAPES[type_name] = _shape(type_name)
    return shape


# --------------------------------------------------------------------------------------------
# Import: parsing and checking


@dataclass
class _Line:
    """A line that parsed: its type, id and decoded values (by column key, ``id`` excluded)."""

    number: int
    type_name: str
    id: uuid.UUID
    values: dict[str, Any]


def _parse_line(number: int, raw: str, errors: list[LineError]) -> _Line | None:
    try:
        data = json.loads(raw, parse_float=Decimal)
    except json.JSONDecodeError as exc:
        errors.append(LineError(number, None, f"invalid JSON: {exc.msg} (column {exc.colno})"))
        return None
    if not isinstance(data, dict):
        errors.append(LineError(number, None, "expected a JSON object"))
        return None
    type_name = data.get("type")
    if type_name is None:
        errors.append(LineError(number, "type", "missing"))
        return None
    if not isinstance(type_name, str) or type_name not in ENTITIES:
        errors.append(LineError(number, "type", f"unknown type {type_name!r}"))
        return None
    shape = _shape_of(type_name)
    if "id" not in data:
        errors.append(LineError(number, "id", "missing"))
        return None
    ok = True
    try:
        record_id = _decode_uuid(data["id"])
    except _Bad as exc:
        errors.append(LineError(number, "id", str(exc)))
        return None
    values: dict[str, Any] = {}
    for key, raw_value in data.items():
        if key in ("type", "id"):
            continue
        spec = shape.fields.get(key)
        if spec is None:
            errors.append(LineError(number, key, f"unknown field of {type_name}"))
            ok = False
            continue
        if raw_value is None:
            if not spec.nullable:
                errors.append(LineError(number, key, "must not be null"))
                ok = False
            values[key] = None
            continue
        try:
            values[key] = spec.decode(raw_value)
        except _Bad as exc:
            errors.append(LineError(number, key, str(exc)))
            ok = False
    return _Line(number, type_name, record_id, values) if ok else None


def _existing_ids(session: Session, type_name: str, ids: Iterable[uuid.UUID]) -> set[uuid.UUID]:
    table = _table(type_name)
    wanted = list(ids)
    found: set[uuid.UUID] = set()
    connection = session.connection()
    for start in range(0, len(wanted), _CHUNK):
        chunk = wanted[start : start + _CHUNK]
        found.update(connection.scalars(select(table.c.id).where(table.c.id.in_(chunk))))
    return found


def _parsed(lines: Iterable[str | bytes], errors: list[LineError]) -> Iterator[_Line]:
    """The lines that parse, in order; problems go to ``errors``. Blank lines are skipped."""
    for number, given in enumerate(lines, start=1):
        if isinstance(given, bytes):
            try:
                raw = given.decode("utf-8")
            except UnicodeDecodeError as exc:
                errors.append(LineError(number, None, f"not UTF-8 text (byte {exc.start + 1})"))
                continue
        else:
            raw = given
        if number == 1:
            raw = raw.removeprefix("\ufeff")  # a byte-order mark from a Windows editor
        if not raw.strip():
            continue  # a blank line (a trailing newline, a hand-edited file) is not a record
        line = _parse_line(number, raw, errors)
        if line is not None:
            yield line


@dataclass
class _Checks:
    """What the checking pass keeps of a file: ids, first uses of references, lines missing
    required fields, unique-key values. Small next to the decoded lines, which are not kept:
    a 500k-record file would otherwise need gigabytes."""

    first_line: dict[str, dict[uuid.UUID, int]] = field(
        default_factory=lambda: {name: {} for name in ENTITIES}
    )
    # target type -> referenced id -> (line, field) of its first use
    references: dict[str, dict[uuid.UUID, tuple[int, str]]] = field(
        default_factory=lambda: defaultdict(dict)
    )
    # (line, type, id, required fields the line lacks): errors only if the id is new
    lacking: list[tuple[int, str, uuid.UUID, list[str]]] = field(default_factory=list)
    # type -> (line, id, the unique-key columns the line carries)
    unique_rows: dict[str, list[tuple[int, uuid.UUID, dict[str, Any]]]] = field(
        default_factory=lambda: defaultdict(list)
    )

    def add(self, line: _Line, errors: list[LineError]) -> None:
        seen = self.first_line[line.type_name].setdefault(line.id, line.number)
        if seen != line.number:
            errors.append(LineError(line.number, "id", f"{line.id} is already on line {seen}"))
            return
        shape = _shape_of(line.type_name)
        lacking = [k for k in shape.required if k not in line.values]
        if lacking:
            self.lacking.append((line.number, line.type_name, line.id, lacking))
        for key, value in line.values.items():
            target = shape.fields[key].target
            if target is not None and value is not None:
                self.references[target].setdefault(value, (line.number, key))
        if shape.unique_columns:
            carried = {k: line.values[k] for k in shape.unique_columns if k in line.values}
            self.unique_rows[line.type_name].append((line.number, line.id, carried))


def _check_required(checks: _Checks, existing: dict[str, set[uuid.UUID]]) -> list[LineError]:
    return [
        LineError(number, key, "missing (required for a new record)")
        for number, type_name, record_id, lacking in checks.lacking
        if record_id not in existing[type_name]  # an update keeps its stored values
        for key in lacking
    ]


def _check_references(session: Session, checks: _Checks) -> list[LineError]:
    # Every referenced id the file does not itself provide is looked up in the store once, per
    # type and in chunks: a lookup per line would make a 100k-line import crawl. Each missing id
    # is reported at its first use.
    errors: list[LineError] = []
    for target, used in checks.references.items():
        in_file = checks.first_line[target]
        outside = [record_id for record_id in used if record_id not in in_file]
        stored = _existing_ids(session, target, outside)
        for record_id in outside:
            if record_id not in stored:
                number, key = used[record_id]
                errors.append(LineError(number, key, f"no {target} with id {record_id}"))
    return errors


def _check_unique(session: Session, checks: _Checks) -> list[LineError]:
    """Unique keys (username, product code, quote number + revision...) as they will be after
    the import: no two lines may share one, nor a line and a stored record it does not replace."""
    errors: list[LineError] = []
    connection = session.connection()
    for type_name, rows in checks.unique_rows.items():
        shape = _shape_of(type_name)
        table = _table(type_name)
        # Current values of stored records: the base an update's absent fields keep.
        stored: dict[uuid.UUID, dict[str, Any]] = {}
        file_ids = checks.first_line[type_name]
        columns = (table.c.id, *(table.c[k] for k in shape.unique_columns))
        for found in connection.execute(select(*columns)):
            stored[found.id] = dict(found._mapping)
        for key in shape.unique_keys:
            taken: dict[tuple[Any, ...], str] = {}
            for record_id, row in stored.items():
                if record_id not in file_ids:
                    value = tuple(row[k] for k in key)
                    if None not in value:
                        taken[value] = "a stored record"
            for number, record_id, carried in rows:
                base = stored.get(record_id, {})
                value = tuple(
                    carried[k] if k in carried else base.get(k, shape.fields[k].default)
                    for k in key
                )
                if None in value:
                    continue  # SQL unique keys never collide on NULL
                if value in taken:
                    shown = ", ".join(str(encode_value(v)) for v in value)
                    errors.append(
                        LineError(
                            number, ", ".join(key), f"{shown!r} already used by {taken[value]}"
                        )
                    )
                else:
                    taken[value] = f"line {number}"
    return errors


def check_lines(session: Session, lines: Iterable[str | bytes]) -> dict[str, set[uuid.UUID]]:
    """Parse and check every line against the store; raise :class:`ImportFailed` listing every
    problem. Reads the store, writes nothing; returns the ids that already exist, per type."""
    errors: list[LineError] = []
    checks = _Checks()
    for line in _parsed(lines, errors):
        checks.add(line, errors)
    existing = {name: _existing_ids(session, name, ids) for name, ids in checks.first_line.items()}
    errors.extend(_check_required(checks, existing))
    errors.extend(_check_references(session, checks))
    errors.extend(_check_unique(session, checks))
    if errors:
        raise ImportFailed(errors)
    return existing


# --------------------------------------------------------------------------------------------
# Import: writing


def _differs(current: Any, new: Any) -> bool:
    # Decimals compare by value (1.0 == 1.00) but the export shows the scale; a file that changes
    # only the scale must still round-trip exactly, so compare their text.
    if isinstance(current, Decimal) and isinstance(new, Decimal):
        return format(current, "f") != format(new, "f")
    return bool(current != new)


def _apply(
    session: Session,
    batch: list[_Line],
    existing: dict[str, set[uuid.UUID]],
    result: ImportResult,
) -> None:
    """Create or update the records of ``batch`` (lines already checked), then flush."""
    by_type: dict[str, list[_Line]] = defaultdict(list)
    for line in batch:
        by_type[line.type_name].append(line)
    for type_name, typed in by_type.items():
        # Every entity has SyncMixin's columns; the dict's value type only says Base.
        cls = cast(type[SyncMixin], ENTITIES[type_name])
        fields = _shape_of(type_name).fields
        stored_ids = [line.id for line in typed if line.id in existing[type_name]]
        loaded = (
            {obj.id: obj for obj in session.scalars(select(cls).where(cls.id.in_(stored_ids)))}
            if stored_ids
            else {}
        )
        for line in typed:
            obj = loaded.get(line.id)
            if obj is None:
                attrs = {fields[k].attr: v for k, v in line.values.items()}
                session.add(ENTITIES[type_name](id=line.id, **attrs))
                result.created[type_name] = result.created.get(type_name, 0) + 1
                continue
            changed = False
            for key, value in line.values.items():
                attr = fields[key].attr
                current = getattr(obj, attr)
                if _differs(current, value):
                    setattr(obj, attr, value)
                    if current == value:
                        # Equal but differently written (1.0 vs 1.00): the ORM sees no net
                        # change and would skip the column, so say it changed.
                        flag_modified(obj, attr)
                    changed = True
            if changed:
                result.updated[type_name] = result.updated.get(type_name, 0) + 1
            else:
                result.unchanged += 1
    # Flushing per batch keeps the unit of work (and the memory it holds) small.
    session.flush()


def import_jsonl(*, session: Session, lines: Iterable[str | bytes]) -> ImportResult:
    """Import JSONL ``lines`` (see the module docstring); never commits.

    ``lines`` are text, or UTF-8 bytes as read from a file opened in binary mode. Split them on
    ``\\n`` only (iterate the file): ``str.splitlines`` would also cut JSON strings holding U+2028.
    They are read twice, once to check and once to write, so only a few decoded lines are in
    memory at a time: pass a list, or an object whose ``__iter__`` reads the file afresh (a
    one-shot iterator is copied into a list first).

    Raises :class:`ImportFailed` with every problem found, before anything is written. A
    database error while writing (which the checks should make impossible) also raises it, and
    the caller must roll back, as with any failed unit of work.
    """
    if iter(lines) is lines:
        lines = list(lines)
    existing = check_lines(session, lines)
    result = ImportResult()
    # Foreign keys are checked at COMMIT from here on (SQLite resets this at the end of the
    # transaction), so a quote line may come before its quote and cycles (team <-> manager) load.
    session.execute(text("PRAGMA defer_foreign_keys = ON"))
    errors: list[LineError] = []
    batch: list[_Line] = []
    try:
        for line in _parsed(lines, errors):
            batch.append(line)
            if len(batch) >= _FLUSH_EVERY:
                _apply(session, batch, existing, result)
                batch = []
        _apply(session, batch, existing, result)
    except IntegrityError as exc:
        raise ImportFailed([LineError(0, None, f"rejected by the database: {exc.orig}")]) from exc
    if errors:  # the file changed between the two readings
        raise ImportFailed([LineError(0, None, "the file changed while it was being imported")])
    return result
