"""Phone numbers in the search index (``search_phone``): any run of digits finds the number, from
the global search and the record lists' quick filter alike, and migration 0007 moves an
existing index over (and back)."""

from __future__ import annotations

import sqlite3
import uuid
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import insert, text
from sqlalchemy.orm import Session

from crm_desktop.config import Profile
from crm_desktop.models import Account, Contact
from crm_desktop.store import Store
from crm_desktop.store.db import create_sqlite_engine
from crm_desktop.store.migrate import alembic_config, current_revision, upgrade
from crm_desktop.store.search import index_rows, matching_ids, reindex, search, unindex
from crm_desktop.ui.list_models import ListQuery, QueryEnv, count_rows, list_spec


def _titles(session: Session, query: str) -> set[str]:
    return {hit.title for hit in search(session, query)}


@pytest.fixture
def phone_book(store: Store) -> dict[str, uuid.UUID]:
    contacts = [
        Contact(first_name="Amelia", last_name="Hart", full_name="Amelia Hart",
                mobile="+44 (0)7555 123456"),
        Contact(first_name="Oliver", last_name="Stone", full_name="Oliver Stone",
                phone="+44 20 7946 0958", mobile="+44 7700 900123"),
        Contact(first_name="Ravi", last_name="Iyer", full_name="Ravi Iyer", phone="0246",
                mobile="7555 9999"),
        Contact(first_name="Nobody", last_name="Dialled", full_name="Nobody Dialled"),
    ]  # fmt: skip
    with store.sessions.begin() as session:
        session.add_all(contacts)
        session.add(Account(name="Harbour Freight Ltd", phone="+1 (415) 555-0199"))
    return {c.full_name: c.id for c in contacts}


def test_a_run_of_digits_typed_anywhere_in_a_number_finds_it(
    store: Store, phone_book: dict[str, uuid.UUID]
) -> None:
    with store.sessions() as session:
        # "0755" runs across the trunk prefix in brackets and the next group.
        assert _titles(session, "0755") == {"Amelia Hart"}
        assert _titles(session, "5550199") == {"Harbour Freight Ltd"}
        assert _titles(session, "+44 20 7946") == {"Oliver Stone"}
        assert _titles(session, "(020) 7946-0958") == set()  # no 0 after 44 in his number
        assert _titles(session, "7946 0958") == {"Oliver Stone"}
        assert _titles(session, "900123") == {"Oliver Stone"}  # his second number
        assert _titles(session, "123") == {"Amelia Hart", "Oliver Stone"}


def test_digits_never_match_across_two_numbers_of_one_record(
    store: Store, phone_book: dict[str, uuid.UUID]
) -> None:
    # Ravi's numbers are 0246 and 7555 9999: "02467555" is neither.
    with store.sessions() as session:
        assert _titles(session, "02467555") == set()
        assert _titles(session, "0246") == {"Ravi Iyer"}


def test_a_changed_or_removed_number_is_found_by_its_new_digits_only(
    store: Store, phone_book: dict[str, uuid.UUID]
) -> None:
    with store.sessions.begin() as session:
        amelia = session.get(Contact, phone_book["Amelia Hart"])
        oliver = session.get(Contact, phone_book["Oliver Stone"])
        assert amelia is not None and oliver is not None
        amelia.mobile = "+44 7911 654321"
        oliver.phone = oliver.mobile = None
    with store.sessions() as session:
        assert _titles(session, "654321") == {"Amelia Hart"}
        assert _titles(session, "0755") == set()
        assert _titles(session, "7946") == set()
        assert _titles(session, "oliver") == {"Oliver Stone"}  # still there, by name


def test_bulk_writers_index_and_unindex_numbers(store: Store) -> None:
    ids = [uuid.uuid4(), uuid.uuid4()]
    rows = [
        (ids[0], "Kenji", "Sato", "Kenji Sato", None, "+81 3-1234-5678", None),
        (ids[1], "Maya", "Cole", "Maya Cole", "maya@cole.example", None, "+61 412 345 678"),
    ]
    with store.sessions.begin() as session:
        connection = session.connection()
        session.execute(
            insert(Contact),
            [{"id": r[0], "first_name": r[1], "last_name": r[2], "full_name": r[3],
              "email": r[4], "phone": r[5], "mobile": r[6]} for r in rows],
        )  # fmt: skip
        assert index_rows(connection, "contact", rows, replace=False) == 2
        assert _titles(session, "312345678") == {"Kenji Sato"}
        assert _titles(session, "412 345") == {"Maya Cole"}
        # A replaced entry keeps exactly one phone row: the new number only.
        moved = (ids[0], "Kenji", "Sato", "Kenji Sato", None, "+81 6-9999-0000", None)
        index_rows(connection, "contact", [moved])
        assert _titles(session, "312345678") == set()
        assert _titles(session, "69999") == {"Kenji Sato"}
        unindex(connection, [ids[1]])
        assert _titles(session, "412 345") == set()
        # A full rebuild gives the same answers.
        reindex(connection)
        assert _titles(session, "312345678") == {"Kenji Sato"}  # the table holds the old number
        assert _titles(session, "412 345") == {"Maya Cole"}


def test_the_quick_filter_finds_by_phone_digits(
    store: Store, phone_book: dict[str, uuid.UUID]
) -> None:
    contacts = list_spec("contact")

    def count(typed: str) -> int:
        return count_rows(store, contacts, ListQuery(text=typed), QueryEnv())

    assert count("0755") == 1
    assert count("+44 20 7946") == 1
    assert count("7555") == 2  # Amelia's mobile and Ravi's 7555 9999
    assert count("stone") == 1
    assert count("02467555") == 0
    # The account's number is in the index too, but this is the contact list.
    assert count("5550199") == 0
    assert count_rows(store, list_spec("account"), ListQuery(text="5550199"), QueryEnv()) == 1


def test_matching_ids_selects_the_same_entries_as_search(
    store: Store, phone_book: dict[str, uuid.UUID]
) -> None:
    with store.sessions() as session:
        for typed in ("0755", "7555", "oliver", "hart 07", "张", "@", ""):
            found = matching_ids(typed)
            hits = {h.id for h in search(session, typed)}
            if found is None:
                assert hits == set()
                continue
            sql, params = found
            refs = session.execute(
                text(f"SELECT ref FROM search_doc WHERE id IN ({sql})"), params
            ).scalars()
            assert {uuid.UUID(r) for r in refs} == hits, typed


def _downgrade(path: Path, revision: str) -> None:
    engine = create_sqlite_engine(path)
    try:
        with engine.begin() as connection:
            config = alembic_config(path)
            config.attributes["connection"] = connection
            command.downgrade(config, revision)
    finally:
        engine.dispose()


def _contact_at_0006(path: Path) -> None:
    with sqlite3.connect(str(path)) as db:
        db.execute(
            "INSERT INTO contact (id, first_name, last_name, full_name, mobile, created_at,"
            " updated_at, deleted) VALUES (?, 'Amelia', 'Hart', 'Amelia Hart',"
            " '+44 (0)7555 123456', '2026-11-01 10:00:00', '2026-11-01 10:00:00', 0)",
            (uuid.uuid4().hex,),
        )


def test_migration_0007_moves_numbers_into_their_own_table_and_back(profile: Profile) -> None:
    path = profile.database_path
    upgrade(path, revision="0006")
    _contact_at_0006(path)
    # Index the record the way 0002-0006 did: digit suffixes in ``compact``.
    with sqlite3.connect(path) as db:
        ref = str(uuid.UUID(db.execute("SELECT id FROM contact").fetchone()[0]))
        db.execute(
            "INSERT INTO search_doc (id, entity, ref, title, subtitle)"
            " VALUES (1, 'contact', ?, 'Amelia Hart', '+44 (0)7555 123456')",
            (ref,),
        )
        suffixes = " ".join("4407555123456"[i:] for i in range(11))
        db.execute(
            "INSERT INTO search_fts (rowid, words, cjk1, cjk2, compact)"
            " VALUES (1, 'amelia hart amelia hart', '', '', ?)",
            (suffixes,),
        )

    upgrade(path, backup_dir=profile.backup_directory)

    store = Store(path)
    try:
        with store.sessions() as session:
            assert _titles(session, "0755") == {"Amelia Hart"}
            assert _titles(session, "amelia") == {"Amelia Hart"}
            # The suffixes are gone from the word index (they were two thirds of its writes).
            [compact] = session.execute(text("SELECT compact FROM search_fts")).scalars()
            assert compact == ""
    finally:
        store.dispose()

    _downgrade(path, "0006")
    assert current_revision(path) == "0006"
    with sqlite3.connect(path) as db:
        tables = db.execute("SELECT name FROM sqlite_master WHERE name LIKE 'search_phone%'")
        assert tables.fetchall() == []  # the table and its shadow tables
        # What the 0006 code asks for "0755": a prefix of one of the suffixes.
        found = db.execute(
            "SELECT rowid FROM search_fts WHERE search_fts MATCH ?", ('compact:"0755"*',)
        ).fetchall()
        assert len(found) == 1
