"""Full-text search over accounts, contacts, leads and opportunities (SQLite FTS5).

How text is indexed, and why:

* Latin (and other space-separated) words go to the ``words`` column, tokenised by FTS5's
  ``unicode61`` with diacritics removed, and are searched by prefix: "joh" finds John, "zoe"
  finds Zoë.
* Chinese, Japanese and Korean have no spaces, and names are often two characters ("张伟"), which
  FTS5's trigram tokenizer cannot find. Each run of CJK characters is indexed twice: as single
  characters (``cjk1``) and as overlapping bigrams (``cjk2``). A one-character query matches
  ``cjk1``; a longer one is the phrase of its bigrams in ``cjk2``, which is exactly a substring match.
* Phone numbers live in a table of their own, ``search_phone``: FTS5's trigram tokenizer over
  the digits of a record's numbers (one row per record that has any, its numbers separated by
  spaces, keyed by the same rowid as ``search_doc``). Any run of three or more digits typed
  ("0755", "5551234", "+44 20 7946") is found with ``digits LIKE '%0755%'``: the trigram index
  narrows the rows and SQLite checks the pattern on each, so a run never matches across two
  numbers. ``detail=none`` keeps the table small; it refuses phrase MATCH queries, which is why
  LIKE is used. (The numbers used to be indexed as every suffix of their digits in the main
  table: nine or more tokens per number, each also in three prefix indexes, two thirds of the
  cost of writing the index.)
* E-mail addresses are also indexed with punctuation removed (``compact``), so "john.smith@ac"
  matches as a prefix.
* A record's words are indexed once each: a contact's full name repeats its first and last
  name, and indexing them twice only cost time (ranking still sees every distinct word).

The index is kept current from the ORM session: an ``after_flush`` hook rewrites the entries of
every searchable record that was added, changed in a searchable field, or tombstoned, through the
session's own connection, so an edit and its index entry commit (or roll back) together.
Writers that bypass the ORM call :func:`index_rows` / :func:`unindex` with the rows they wrote,
or :func:`reindex`, in their transaction.

Readers go through :func:`search` (the global search) or :func:`matching_ids` (the SQL of the
entries matching a query, for filters such as the record lists' quick filter), never through
``search_fts`` alone: a phone query is answered by two tables.
"""

from __future__ import annotations

import re
import sqlite3
import unicodedata
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from itertools import compress
from typing import Any, NamedTuple

from sqlalchemy import Connection, event, inspect, select, text
from sqlalchemy.orm import Session, sessionmaker

from crm_desktop.models import Account, Contact, Lead, Opportunity

#: Every table of the index (a wipe empties them all).
SEARCH_TABLES = ("search_doc", "search_fts", "search_phone")
#: The FTS5 virtual tables: each also owns shadow tables named ``<name>_data``, ``<name>_idx``...
SEARCH_VIRTUAL_TABLES = ("search_fts", "search_phone")

# The tables themselves are made by migrations 0002 (search_doc, search_fts), 0005 (the FTS
# table's current options: prefix indexes for 1, 2 and 3 characters, so the last, still short
# word of a query such as "john s" never scans every term starting with "s") and 0007
# (search_phone).

_CJK = (
    r"\u2e80-\u2fff\u3040-\u30ff\u3100-\u312f\u3131-\u318f\u31a0-\u31ff\u3400-\u4dbf"
    r"\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff"
)
_CJK_RUN = re.compile(f"[{_CJK}]+")
_WORD = re.compile(r"\w+", re.UNICODE)
_NOT_DIGIT = re.compile(r"\D+")
_NOT_ALNUM = re.compile(r"[\W_]+", re.UNICODE)
_MIN_DIGITS = 3
# The ASCII bytes ``_NOT_DIGIT`` and ``_NOT_ALNUM`` remove: for a pure-ASCII string,
# ``bytes.translate`` does the same removal several times faster than a regex substitution
# (most names, e-mail addresses and phone numbers are ASCII).
_ASCII_NON_DIGITS = bytes(c for c in range(128) if not chr(c).isdigit())
_ASCII_NON_ALNUM = bytes(c for c in range(128) if not chr(c).isalnum())
_CHUNK = 500

# Which attributes feed the index, per entity; a change to any other field skips re-indexing.
_FIELDS: dict[type[Any], tuple[str, ...]] = {
    Account: ("name", "email", "phone", "website", "industry", "region", "deleted"),
    Contact: ("first_name", "last_name", "full_name", "email", "phone", "mobile", "deleted"),
    Lead: ("first_name", "last_name", "full_name", "company", "email", "phone", "deleted"),
    Opportunity: ("name", "amount", "currency", "deleted"),
}
#: The columns an entity's index entry is made of, in the order :func:`index_rows` takes them
#: (after the record id). An edit of any other column leaves the entry as it is.
COLUMNS: dict[str, tuple[str, ...]] = {
    "account": ("name", "email", "phone", "website", "industry", "region"),
    "contact": ("first_name", "last_name", "full_name", "email", "phone", "mobile"),
    "lead": ("first_name", "last_name", "full_name", "company", "email", "phone"),
    "opportunity": ("name", "amount", "currency"),
}
ENTITY_NAMES: dict[type[Any], str] = {
    Account: "account",
    Contact: "contact",
    Lead: "lead",
    Opportunity: "opportunity",
}


@dataclass(frozen=True)
class SearchHit:
    """One search result, plain data for the UI."""

    entity: str
    id: uuid.UUID
    title: str
    subtitle: str


class _Document(NamedTuple):
    """One index entry: a ``search_doc`` row, the text of its ``search_fts`` row and the digits of
    its ``search_phone`` row (empty: the record has no phone number, and no row)."""

    ref: str
    entity: str
    title: str
    subtitle: str
    words: str
    cjk1: str
    cjk2: str
    compact: str
    phones: str


def _fold(value: str) -> str:
    return unicodedata.normalize("NFKC", value).lower()


def _names(
    first_name: str | None, last_name: str | None, full_name: str | None
) -> tuple[str | None, ...]:
    """The name values of a person to index: the full name, then the first and last names.

    When the full name is just "first last" (nearly always), the first and last names add no
    word it does not have and are left out before splitting, which gives the same ``words``
    for less work.
    """
    if full_name and full_name == f"{first_name} {last_name}":
        return (full_name,)
    return (full_name, first_name, last_name)


def _unique_words(text: str) -> str:
    # Whole space-separated words are dropped, never parts of one: a query word that the
    # tokenizer splits ("foo_bar") is a phrase, whose tokens must stay next to each other.
    return " ".join(dict.fromkeys(text.split()))


def _split_text(values: tuple[str | None, ...]) -> tuple[str, str, str]:
    """The ``words``, ``cjk1`` and ``cjk2`` columns of the text ``values``, each word once."""
    joined = " ".join([v for v in values if v])
    if joined.isascii():
        # The common case, in one pass: NFKC leaves ASCII as it is and ASCII holds no CJK, so
        # only the case changes.
        return _unique_words(joined.lower()), "", ""
    folded = _fold(joined)
    runs = dict.fromkeys(_CJK_RUN.findall(folded))
    # A repeated run adds nothing; within a run every bigram stays, in order, because a query
    # of several characters is the phrase of its consecutive bigrams.
    singles = " ".join(dict.fromkeys(c for run in runs for c in run))
    bigrams = " ".join(run[i : i + 2] for run in runs for i in range(len(run) - 1))
    return _unique_words(_CJK_RUN.sub(" ", folded)), singles, bigrams


def _digits(phone: str) -> str:
    if phone.isascii():
        return phone.encode().translate(None, _ASCII_NON_DIGITS).decode()
    return _NOT_DIGIT.sub("", phone)


def _compact_email(email: str) -> str:
    if email.isascii():
        return email.lower().encode().translate(None, _ASCII_NON_ALNUM).decode()
    return _NOT_ALNUM.sub("", _fold(email))


def _compact(email: str | None) -> str:
    return _compact_email(email) if email else ""


def _phones(*phones: str | None) -> str:
    """The ``search_phone`` text: each distinct number's digits, space separated.

    A number of fewer than three digits is left out: no query would look for it.
    """
    present = [p for p in phones if p]
    if len(present) == 1:  # the common case, without the list and de-duplication below
        digits = _digits(present[0])
        return digits if len(digits) >= _MIN_DIGITS else ""
    numbers = [d for d in map(_digits, present) if len(d) >= _MIN_DIGITS]
    return " ".join(dict.fromkeys(numbers))


# One builder per entity, taking the record id and then the values of ``COLUMNS[entity]`` in
# order: the ORM hook, reindex() and bulk writers (the sync engine) all make entries here, so
# an entry never depends on which path wrote the record.


def _ref(record_id: Any) -> str:
    """The dashed lowercase form entries are keyed by, from a UUID or its 32/36-character text."""
    if isinstance(record_id, uuid.UUID):
        return str(record_id)
    if isinstance(record_id, str):
        if len(record_id) == 36:
            return record_id.lower()
        if len(record_id) == 32:
            h = record_id.lower()
            return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
    return str(uuid.UUID(str(record_id)))


def _account_doc(
    record_id: Any,
    name: str | None,
    email: str | None,
    phone: str | None,
    website: str | None,
    industry: str | None,
    region: str | None,
) -> _Document:
    words, cjk1, cjk2 = _split_text((name, email, website))
    return _Document(
        _ref(record_id),
        "account",
        name or "",
        " · ".join(p for p in (industry, region) if p),
        words,
        cjk1,
        cjk2,
        _compact(email),
        _phones(phone),
    )


def _contact_doc(
    record_id: Any,
    first_name: str | None,
    last_name: str | None,
    full_name: str | None,
    email: str | None,
    phone: str | None,
    mobile: str | None,
) -> _Document:
    words, cjk1, cjk2 = _split_text((*_names(first_name, last_name, full_name), email))
    return _Document(
        _ref(record_id),
        "contact",
        full_name or f"{first_name} {last_name}".strip(),
        email or phone or mobile or "",
        words,
        cjk1,
        cjk2,
        _compact(email),
        _phones(phone, mobile),
    )


def _lead_doc(
    record_id: Any,
    first_name: str | None,
    last_name: str | None,
    full_name: str | None,
    company: str | None,
    email: str | None,
    phone: str | None,
) -> _Document:
    words, cjk1, cjk2 = _split_text((*_names(first_name, last_name, full_name), company, email))
    return _Document(
        _ref(record_id),
        "lead",
        full_name or f"{first_name} {last_name}".strip() or (company or ""),
        company or email or "",
        words,
        cjk1,
        cjk2,
        _compact(email),
        _phones(phone),
    )


def _opportunity_doc(record_id: Any, name: str | None, amount: Any, currency: Any) -> _Document:
    words, cjk1, cjk2 = _split_text((name,))
    return _Document(
        _ref(record_id),
        "opportunity",
        name or "",
        f"{amount} {currency}" if amount is not None else "",
        words,
        cjk1,
        cjk2,
        "",
        "",
    )


_BUILDERS: dict[str, Callable[..., _Document]] = {
    "account": _account_doc,
    "contact": _contact_doc,
    "lead": _lead_doc,
    "opportunity": _opportunity_doc,
}


def _document(entity: str, obj: Any) -> _Document:
    """The index entry of a record; ``obj`` is an ORM object or a Core row with the same names."""
    build = _BUILDERS.get(entity)
    if build is None:  # pragma: no cover - guarded by callers
        raise TypeError(f"not searchable: {entity}")
    return build(obj.id, *(getattr(obj, name) for name in COLUMNS[entity]))


def _driver(connection: Connection) -> sqlite3.Connection:
    # Index writes go straight to sqlite3 with tuples: SQLAlchemy's per-row parameter dicts
    # cost more than the inserts themselves on a large sync page or a rebuild.
    raw = connection.connection.driver_connection
    assert isinstance(raw, sqlite3.Connection)
    return raw


def unindex(connection: Connection, refs: Iterable[Any]) -> None:
    """Drop the entries of the records ``refs`` (ids as UUIDs or text), in the caller's transaction.

    Looks the entries up in chunks and deletes only what exists, so removing records that were
    never indexed (a first sync) costs one index probe each.
    """
    wanted = [_ref(r) for r in refs]
    if not wanted:
        return
    raw = _driver(connection)
    for start in range(0, len(wanted), _CHUNK):
        chunk = wanted[start : start + _CHUNK]
        marks = ", ".join("?" * len(chunk))
        ids = raw.execute(f"SELECT id FROM search_doc WHERE ref IN ({marks})", chunk).fetchall()
        if ids:
            raw.executemany("DELETE FROM search_fts WHERE rowid = ?", ids)
            # Most entries have no phone row; deleting a rowid that is not there is a no-op.
            raw.executemany("DELETE FROM search_phone WHERE rowid = ?", ids)
            raw.executemany("DELETE FROM search_doc WHERE id = ?", ids)


def _insert(connection: Connection, docs: Sequence[_Document], *, phones: bool = True) -> int:
    """Insert entries for records that have none; returns how many.

    ``phones=False`` leaves ``search_phone`` alone: only for a store migrated from before that
    table existed (see :func:`reindex`).
    """
    if not docs:
        return 0
    raw = _driver(connection)
    start = raw.execute("SELECT coalesce(max(id), 0) FROM search_doc").fetchone()[0]
    # Column by column, zipped in C: building a parameter tuple per entry in Python cost a
    # tenth of a first sync's indexing time.
    ref, entity, title, subtitle, words, cjk1, cjk2, compact, digits = zip(*docs, strict=True)
    ids = range(start + 1, start + 1 + len(docs))
    raw.executemany(
        "INSERT INTO search_doc (id, entity, ref, title, subtitle) VALUES (?, ?, ?, ?, ?)",
        zip(ids, entity, ref, title, subtitle, strict=True),
    )
    raw.executemany(
        "INSERT INTO search_fts (rowid, words, cjk1, cjk2, compact) VALUES (?, ?, ?, ?, ?)",
        zip(ids, words, cjk1, cjk2, compact, strict=True),
    )
    if phones:
        # Only entries with phone digits get a row (compress keeps those, still in C).
        raw.executemany(
            "INSERT INTO search_phone (rowid, digits) VALUES (?, ?)",
            zip(compress(ids, digits), compress(digits, digits), strict=True),
        )
    return len(docs)


def _write(connection: Connection, docs: Sequence[_Document]) -> int:
    """Replace the entries of ``docs``' records."""
    unindex(connection, [d.ref for d in docs])
    return _insert(connection, docs)


#: One index entry, as :func:`documents` builds it and :func:`write_documents` writes it.
Document = _Document


def documents(entity: str, rows: Iterable[Sequence[Any]]) -> list[Document]:
    """The index entries of live records given as plain rows (see :func:`index_rows`), built
    without touching the database: a bulk loader builds them on one thread while another
    writes (the Python work and SQLite's overlap)."""
    build = _BUILDERS.get(entity)
    if build is None:
        raise ValueError(f"not searchable: {entity}")
    return [build(*row) for row in rows]


def write_documents(
    connection: Connection, docs: Sequence[Document], *, replace: bool = True
) -> int:
    """Write entries made by :func:`documents` in the caller's transaction; returns how many.
    ``replace=False`` when the caller knows none of the records has an entry yet."""
    return _write(connection, docs) if replace else _insert(connection, docs)


def index_rows(
    connection: Connection,
    entity: str,
    rows: Iterable[Sequence[Any]],
    *,
    replace: bool = True,
) -> int:
    """Write the entries of live records given as plain rows; returns how many.

    For writers that bypass the ORM (the sync engine applying a pulled page, bulk loaders): each
    row is ``(id, *values)`` with the values of :data:`COLUMNS` ``[entity]`` in that order as
    stored (text, or Decimal/text for amounts); the id is a UUID or its 32- or 36-character
    text. Existing entries of the same records are replaced; ``replace=False`` skips that
    lookup when the caller knows none exists. Runs in the caller's transaction. Tombstoned
    records must not be passed (use :func:`unindex`).
    """
    return write_documents(connection, documents(entity, rows), replace=replace)


def is_searchable(entity: str) -> bool:
    """Whether records of ``entity`` (a wire/entity name) have index entries."""
    return entity in _BUILDERS


def _changed(obj: Any) -> bool:
    state = inspect(obj)
    return any(state.attrs[name].history.has_changes() for name in _FIELDS[type(obj)])


def _after_flush(session: Session, _context: Any) -> None:
    upserts: list[_Document] = []
    removals: list[str] = []
    for obj in session.new:
        if type(obj) in _FIELDS and not obj.deleted:
            upserts.append(_document(ENTITY_NAMES[type(obj)], obj))
    for obj in session.dirty:
        if type(obj) in _FIELDS and _changed(obj):
            if obj.deleted:
                removals.append(str(obj.id))
            else:
                upserts.append(_document(ENTITY_NAMES[type(obj)], obj))
    for obj in session.deleted:
        if type(obj) in _FIELDS:
            removals.append(str(obj.id))
    if upserts or removals:
        connection = session.connection()
        unindex(connection, removals)
        _write(connection, upserts)


def install(factory: sessionmaker[Session]) -> None:
    """Keep the index current for every session made by ``factory``."""
    event.listen(factory, "after_flush", _after_flush)


def reindex(connection: Connection, entity_ids: Iterable[uuid.UUID] | None = None) -> int:
    """Rebuild index entries (all of them, or those of ``entity_ids``); returns how many were written.

    Reads the records through Core (no ORM objects), so bulk writers and data migrations can call
    it on their own connection, inside their own transaction.
    """
    if entity_ids is None:
        # Migration 0002 runs this code on a store that is still at its own revision, before
        # 0007 made search_phone (0007 rebuilds the index again once it exists).
        phones = _has_table(connection, "search_phone")
        connection.execute(text("DELETE FROM search_fts"))
        if phones:
            connection.execute(text("DELETE FROM search_phone"))
        connection.execute(text("DELETE FROM search_doc"))
        count = 0
        for model, entity in ENTITY_NAMES.items():
            table = model.__table__
            columns = [table.c.id, *(table.c[name] for name in COLUMNS[entity])]
            stmt = select(*columns).where(table.c.deleted.is_(False))
            result = connection.execute(stmt.execution_options(yield_per=5000))
            build = _BUILDERS[entity]
            for batch in result.partitions():
                # A full rebuild starts from an empty index: no entry to replace.
                count += _insert(connection, [build(*row) for row in batch], phones=phones)
        return count
    return _reindex_some(connection, entity_ids)


def _has_table(connection: Connection, name: str) -> bool:
    found = connection.execute(
        text("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = :name"), {"name": name}
    )
    return found.first() is not None


def _reindex_some(connection: Connection, entity_ids: Iterable[uuid.UUID]) -> int:
    """Rewrite the entries of a few records, reading only those rows (by primary key).

    Reading the four tables whole to pick out a few ids made a one-record reindex cost a full
    scan of every searchable table. The ids are bound through the ``id`` column's type, so
    they reach SQLite as the 32-digit hex it stores. Requested records that are deleted or
    gone lose their entry.
    """
    wanted = list(dict.fromkeys(uuid.UUID(str(i)) for i in entity_ids))
    count = 0
    found: set[uuid.UUID] = set()
    for start in range(0, len(wanted), _CHUNK):
        chunk = wanted[start : start + _CHUNK]
        for model, entity in ENTITY_NAMES.items():
            table = model.__table__
            columns = [table.c.id, *(table.c[name] for name in COLUMNS[entity])]
            stmt = select(*columns).where(table.c.id.in_(chunk), table.c.deleted.is_(False))
            rows = connection.execute(stmt).all()
            found.update(row[0] for row in rows)
            count += index_rows(connection, entity, rows)
    gone = [i for i in wanted if i not in found]
    if gone:
        unindex(connection, gone)
    return count


def _quote(token: str) -> str:
    return '"' + token.replace('"', '""') + '"'


class _Plan(NamedTuple):
    """How a query is answered.

    ``match`` is the FTS5 expression of ``search_fts``. Without ``digits`` every hit matches
    it. With ``digits`` (the query looks like a phone number), a hit is an entry whose phone
    numbers contain those digits and that matches ``required`` (the rest of the query, such as
    CJK characters typed with the number; ``None``: nothing else), or an entry matching
    ``match`` (the digits as the start of a word or of an e-mail address).
    """

    match: str
    digits: str | None = None
    required: str | None = None


def _plan(query: str) -> _Plan | None:
    folded = _fold(query).strip()
    if not folded:
        return None
    clauses: list[str] = []
    for run in _CJK_RUN.findall(folded):
        if len(run) == 1:
            clauses.append(f"cjk1:{_quote(run)}")
        else:
            phrase = " ".join(run[i : i + 2] for i in range(len(run) - 1))
            clauses.append(f"cjk2:{_quote(phrase)}")
    rest = _CJK_RUN.sub(" ", folded)
    digits = _NOT_DIGIT.sub("", rest)
    looks_like_phone = len(digits) >= _MIN_DIGITS and re.fullmatch(
        r"[\d\s()+./-]+", rest.strip() or "x"
    )
    if looks_like_phone:
        required = " AND ".join(clauses) or None
        clauses.append(f"(compact:{_quote(digits)}* OR words:{_quote(digits)}*)")
        return _Plan(" AND ".join(clauses), digits, required)
    words = _WORD.findall(rest)
    if "@" in rest:
        # An e-mail address: its punctuation-free form is indexed whole in ``compact``.
        # Matching words too would add nothing and costs a scan for one-letter parts.
        if rest.strip().startswith("@"):
            # "@acme": the domain's words, wherever the address starts.
            clauses.extend(f"words:{_quote(w)}*" for w in words)
        else:
            clauses.append(f"compact:{_quote(_NOT_ALNUM.sub('', rest))}*")
    else:
        clauses.extend(f"words:{_quote(w)}*" for w in words)
    if not clauses:
        return None
    return _Plan(" AND ".join(clauses))


def build_match(query: str) -> str | None:
    """Turn what the user typed into an FTS5 MATCH expression (``None`` if nothing to search).

    For a query that looks like a phone number this is only the part answered by
    ``search_fts`` (the digits as a word or e-mail prefix); phone numbers themselves are in
    ``search_phone``. To find entries, use :func:`matching_ids` or :func:`search`.
    """
    plan = _plan(query)
    return plan.match if plan is not None else None


def _phone_where(plan: _Plan, prefix: str) -> tuple[str, dict[str, Any]]:
    """The condition on ``search_phone`` of a phone query, and its parameters."""
    assert plan.digits is not None
    # Digits only, so nothing in the pattern needs escaping for LIKE.
    params: dict[str, Any] = {f"{prefix}digits": f"%{plan.digits}%"}
    where = f"search_phone.digits LIKE :{prefix}digits"
    if plan.required is not None:
        params[f"{prefix}required"] = plan.required
        where += (
            " AND search_phone.rowid IN (SELECT rowid FROM search_fts"
            f" WHERE search_fts MATCH :{prefix}required)"
        )
    return where, params


def _ids_sql(plan: _Plan, prefix: str) -> tuple[str, dict[str, Any]]:
    params: dict[str, Any] = {f"{prefix}match": plan.match}
    fts = f"SELECT rowid FROM search_fts WHERE search_fts MATCH :{prefix}match"
    if plan.digits is None:
        return fts, params
    where, phone_params = _phone_where(plan, prefix)
    params.update(phone_params)
    return f"SELECT rowid FROM search_phone WHERE {where} UNION {fts}", params


def matching_ids(query: str, *, prefix: str = "search_") -> tuple[str, dict[str, Any]] | None:
    """The SQL of the entries matching ``query``, for use inside a larger statement.

    Returns ``(sql, params)``: ``sql`` is a SELECT of one column, the ``search_doc.id`` of each
    matching entry, with named parameters (``:<prefix>...``, for :func:`sqlalchemy.text`)
    given in ``params``; ``None`` when there is nothing to search. Join it to ``search_doc``
    (``d.id IN (<sql>)``) for the entity and the record's ref. The order of the ids is not
    defined. Matches exactly what :func:`search` finds, phone numbers included.
    """
    plan = _plan(query)
    return _ids_sql(plan, prefix) if plan is not None else None


def search(
    session: Session, query: str, *, limit: int = 50, entities: Sequence[str] | None = None
) -> list[SearchHit]:
    """Records matching ``query``, best first, at most ``limit``.

    Ranking by bm25 needs every match scored, which is slow for one- or two-letter prefixes
    matching tens of thousands of rows; short queries therefore take the first matches in
    index order and only longer ones are ranked. Phone digits are not ranked: a relevance order
    of numbers containing "555" means nothing.
    """
    plan = _plan(query)
    if plan is None:
        return []
    folded = _fold(query).strip()
    params: dict[str, Any] = {"limit": limit}
    where = ""
    if entities:
        names = ", ".join(f":e{i}" for i in range(len(entities)))
        where = f" AND d.entity IN ({names})"
        params.update({f"e{i}": e for i, e in enumerate(entities)})
    if plan.digits is not None:
        # Two scans in rowid order, each stopping after ``limit`` rows, merged here: the first
        # ``limit`` entries of their union. One UNION in SQL would collect every match of both
        # first ("141" matches thousands of numbers: 7.7 ms a keystroke instead of 0.1 ms).
        phone_where, phone_params = _phone_where(plan, "q_")
        params.update(phone_params, match=plan.match)
        columns = "d.id, d.entity, d.ref, d.title, d.subtitle"
        by_phone = (
            f"SELECT {columns} FROM search_phone JOIN search_doc d ON d.id = search_phone.rowid"
            f" WHERE {phone_where}{where} ORDER BY search_phone.rowid LIMIT :limit"
        )
        by_words = (
            f"SELECT {columns} FROM search_fts JOIN search_doc d ON d.id = search_fts.rowid"
            f" WHERE search_fts MATCH :match{where} ORDER BY search_fts.rowid LIMIT :limit"
        )
        connection = session.connection()
        found = {
            row[0]: row
            for sql in (by_phone, by_words)
            for row in connection.execute(text(sql), params)
        }
        first = [found[i] for i in sorted(found)[:limit]]
        return [SearchHit(row[1], uuid.UUID(row[2]), row[3], row[4]) for row in first]
    # One FTS scan joined to the entries: SQLite stops after ``limit`` rows when unranked.
    # Digits too few for a phone query ("41") match words starting with them: unranked too.
    digits_only = bool(re.fullmatch(r"[\d\s()+./-]+", folded))
    ranked = not digits_only and (len(folded) >= 3 or bool(_CJK_RUN.search(folded)))
    params["match"] = plan.match
    order = "ORDER BY search_fts.rank" if ranked else ""
    sql = (
        "SELECT d.entity, d.ref, d.title, d.subtitle FROM search_fts"
        " JOIN search_doc d ON d.id = search_fts.rowid"
        f" WHERE search_fts MATCH :match{where} {order} LIMIT :limit"
    )
    rows = session.connection().execute(text(sql), params)
    return [SearchHit(row[0], uuid.UUID(row[1]), row[2], row[3]) for row in rows]
