"""Full-text search over accounts, contacts, leads and opportunities (SQLite FTS5).

How text is indexed, and why:

* Latin (and other space-separated) words go to the ``words`` column, tokenised by FTS5's
  ``unicode61`` with diacritics removed, and are searched by prefix: "joh" finds John, "zoe"
  finds Zoë.
* Chinese, Japanese and Korean have no spaces, and names are often two characters ("张伟"), which
  FTS5's trigram tokenizer cannot find. Each run of CJK characters is indexed twice: as single
  characters (``cjk1``) and as overlapping bigrams (``cjk2``). A one-character query matches
  ``cjk1``; a longer one is the phrase of its bigrams in ``cjk2``, which is exactly a substring match.
* Phone numbers are indexed as every suffix of their digits (``compact``), so any run of digits
  typed ("5551234", "0755") is a prefix of some suffix; e-mail addresses are also indexed with
  punctuation removed, so "john.smith@ac" matches as a prefix.

The index is kept current from the ORM session: an ``after_flush`` hook rewrites the entries of
every searchable record that was added, changed in a searchable field, or tombstoned, through the
session's own connection, so an edit and its index entry commit (or roll back) together.
Bulk writers that bypass the ORM call :func:`reindex` in their transaction.
"""

from __future__ import annotations

import re
import unicodedata
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, event, inspect, select, text
from sqlalchemy.orm import Session, sessionmaker

from crm_desktop.models import Account, Contact, Lead, Opportunity

SEARCH_TABLES = ("search_doc", "search_fts")

# The tables themselves are made by migrations 0002 (search_doc, search_fts) and 0005 (the FTS
# table's current options: prefix indexes for 1, 2 and 3 characters, so the last, still short
# word of a query such as "john s" never scans every term starting with "s").

_CJK = (
    r"\u2e80-\u2fff\u3040-\u30ff\u3100-\u312f\u3131-\u318f\u31a0-\u31ff\u3400-\u4dbf"
    r"\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff"
)
_CJK_RUN = re.compile(f"[{_CJK}]+")
_WORD = re.compile(r"\w+", re.UNICODE)
_NOT_DIGIT = re.compile(r"\D+")
_NOT_ALNUM = re.compile(r"[\W_]+", re.UNICODE)
_MIN_DIGITS = 3

# Which attributes feed the index, per entity; a change to any other field skips re-indexing.
_FIELDS: dict[type[Any], tuple[str, ...]] = {
    Account: ("name", "email", "phone", "website", "industry", "region", "deleted"),
    Contact: ("first_name", "last_name", "full_name", "email", "phone", "mobile", "deleted"),
    Lead: ("first_name", "last_name", "full_name", "company", "email", "phone", "deleted"),
    Opportunity: ("name", "amount", "currency", "deleted"),
}
_COLUMNS: dict[str, tuple[str, ...]] = {
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


@dataclass(frozen=True)
class _Document:
    ref: str
    entity: str
    title: str
    subtitle: str
    words: str
    cjk1: str
    cjk2: str
    compact: str


def _fold(value: str) -> str:
    return unicodedata.normalize("NFKC", value).lower()


def _split_text(values: Iterable[str | None]) -> tuple[str, str, str]:
    words: list[str] = []
    singles: list[str] = []
    bigrams: list[str] = []
    for value in values:
        if not value:
            continue
        value = _fold(value)
        for run in _CJK_RUN.findall(value):
            singles.extend(run)
            bigrams.extend(run[i : i + 2] for i in range(len(run) - 1))
        words.append(_CJK_RUN.sub(" ", value))
    return " ".join(words), " ".join(singles), " ".join(bigrams)


def _compact(phones: Iterable[str | None], emails: Iterable[str | None]) -> str:
    tokens: list[str] = []
    for phone in phones:
        digits = _NOT_DIGIT.sub("", phone or "")
        tokens.extend(digits[i:] for i in range(max(0, len(digits) - _MIN_DIGITS + 1)))
    for email in emails:
        if email:
            tokens.append(_NOT_ALNUM.sub("", _fold(email)))
    return " ".join(tokens)


def _document(entity: str, obj: Any) -> _Document:
    """The index entry of a record; ``obj`` is an ORM object or a Core row with the same names."""
    if entity == "contact":
        title = obj.full_name or f"{obj.first_name} {obj.last_name}".strip()
        subtitle = obj.email or obj.phone or obj.mobile or ""
        texts = [obj.full_name, obj.first_name, obj.last_name, obj.email]
        phones = [obj.phone, obj.mobile]
        emails = [obj.email]
    elif entity == "account":
        title = obj.name
        subtitle = " · ".join(p for p in (obj.industry, obj.region) if p)
        texts = [obj.name, obj.email, obj.website]
        phones = [obj.phone]
        emails = [obj.email]
    elif entity == "lead":
        title = obj.full_name or f"{obj.first_name} {obj.last_name}".strip() or (obj.company or "")
        subtitle = obj.company or obj.email or ""
        texts = [obj.full_name, obj.first_name, obj.last_name, obj.company, obj.email]
        phones = [obj.phone]
        emails = [obj.email]
    elif entity == "opportunity":
        title = obj.name
        subtitle = f"{obj.amount} {obj.currency}" if obj.amount is not None else ""
        texts = [obj.name]
        phones = []
        emails = []
    else:  # pragma: no cover - guarded by callers
        raise TypeError(f"not searchable: {entity}")
    words, cjk1, cjk2 = _split_text(texts)
    return _Document(
        ref=str(obj.id),
        entity=entity,
        title=title or "",
        subtitle=subtitle,
        words=words,
        cjk1=cjk1,
        cjk2=cjk2,
        compact=_compact(phones, emails),
    )


def _remove(connection: Connection, refs: Sequence[str]) -> None:
    # Look the rowids up in chunks and delete with executemany: a flush that touches many
    # records (an import batch, a pulled sync page) costs a few statements, not four per record.
    for start in range(0, len(refs), 500):
        chunk = list(refs[start : start + 500])
        marks = ", ".join(f":r{i}" for i in range(len(chunk)))
        ids = (
            connection.execute(
                text(f"SELECT id FROM search_doc WHERE ref IN ({marks})"),
                {f"r{i}": ref for i, ref in enumerate(chunk)},
            )
            .scalars()
            .all()
        )
        if ids:
            rows = [{"id": i} for i in ids]
            connection.execute(text("DELETE FROM search_fts WHERE rowid = :id"), rows)
            connection.execute(text("DELETE FROM search_doc WHERE id = :id"), rows)


def _insert(connection: Connection, docs: Sequence[_Document]) -> int:
    """Insert entries for records that have none; returns how many."""
    if not docs:
        return 0
    start = connection.execute(text("SELECT coalesce(max(id), 0) FROM search_doc")).scalar_one()
    connection.execute(
        text(
            "INSERT INTO search_doc (id, entity, ref, title, subtitle)"
            " VALUES (:id, :entity, :ref, :title, :subtitle)"
        ),
        [
            {
                "id": start + n,
                "entity": d.entity,
                "ref": d.ref,
                "title": d.title,
                "subtitle": d.subtitle,
            }
            for n, d in enumerate(docs, 1)
        ],
    )
    connection.execute(
        text(
            "INSERT INTO search_fts (rowid, words, cjk1, cjk2, compact)"
            " VALUES (:id, :words, :cjk1, :cjk2, :compact)"
        ),
        [
            {
                "id": start + n,
                "words": d.words,
                "cjk1": d.cjk1,
                "cjk2": d.cjk2,
                "compact": d.compact,
            }
            for n, d in enumerate(docs, 1)
        ],
    )
    return len(docs)


def _write(connection: Connection, docs: Sequence[_Document]) -> int:
    """Replace the entries of ``docs``' records."""
    _remove(connection, [d.ref for d in docs])
    return _insert(connection, docs)


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
        _remove(connection, removals)
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
        connection.execute(text("DELETE FROM search_fts"))
        connection.execute(text("DELETE FROM search_doc"))
        count = 0
        for model, entity in ENTITY_NAMES.items():
            table = model.__table__
            columns = [table.c.id, *(table.c[name] for name in _COLUMNS[entity])]
            stmt = select(*columns).where(table.c.deleted.is_(False))
            batch: list[_Document] = []
            for row in connection.execute(stmt.execution_options(yield_per=5000)):
                batch.append(_document(entity, row))
                if len(batch) >= 5000:
                    count += _bulk_write(connection, batch, replace=False)
                    batch = []
            count += _bulk_write(connection, batch, replace=False)
        return count
    return _reindex_some(connection, entity_ids)


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
    for start in range(0, len(wanted), 500):
        chunk = wanted[start : start + 500]
        for model, entity in ENTITY_NAMES.items():
            table = model.__table__
            columns = [table.c.id, *(table.c[name] for name in _COLUMNS[entity])]
            stmt = select(*columns).where(table.c.id.in_(chunk), table.c.deleted.is_(False))
            docs = [_document(entity, row) for row in connection.execute(stmt)]
            found.update(uuid.UUID(d.ref) for d in docs)
            count += _bulk_write(connection, docs, replace=True)
    gone = [str(i) for i in wanted if i not in found]
    if gone:
        _remove(connection, gone)
    return count


def _bulk_write(connection: Connection, docs: list[_Document], *, replace: bool) -> int:
    # A full rebuild starts from an empty index, so it can skip the per-record removal.
    return _write(connection, docs) if replace else _insert(connection, docs)


def _quote(token: str) -> str:
    return '"' + token.replace('"', '""') + '"'


def build_match(query: str) -> str | None:
    """Turn what the user typed into an FTS5 MATCH expression (``None`` if nothing to search)."""
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
        clauses.append(f"(compact:{_quote(digits)}* OR words:{_quote(digits)}*)")
    else:
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
    return " AND ".join(clauses)


def search(
    session: Session, query: str, *, limit: int = 50, entities: Sequence[str] | None = None
) -> list[SearchHit]:
    """Records matching ``query``, best first, at most ``limit``.

    Ranking by bm25 needs every match scored, which is slow for one- or two-letter prefixes
    matching tens of thousands of rows; short queries therefore take the first matches in
    index order and only longer ones are ranked.
    """
    match = build_match(query)
    if match is None:
        return []
    folded = _fold(query).strip()
    # Digits match thousands of phone suffixes, where a relevance order means nothing.
    digits_only = bool(re.fullmatch(r"[\d\s()+./-]+", folded))
    ranked = not digits_only and (len(folded) >= 3 or bool(_CJK_RUN.search(folded)))
    where = "search_fts MATCH :match"
    params: dict[str, Any] = {"match": match, "limit": limit}
    if entities:
        names = ", ".join(f":e{i}" for i in range(len(entities)))
        where += f" AND d.entity IN ({names})"
        params.update({f"e{i}": e for i, e in enumerate(entities)})
    order = "ORDER BY search_fts.rank" if ranked else ""
    sql = (
        "SELECT d.entity, d.ref, d.title, d.subtitle FROM search_fts"
        f" JOIN search_doc d ON d.id = search_fts.rowid WHERE {where} {order} LIMIT :limit"
    )
    rows = session.connection().execute(text(sql), params)
    return [SearchHit(row[0], uuid.UUID(row[1]), row[2], row[3]) for row in rows]
