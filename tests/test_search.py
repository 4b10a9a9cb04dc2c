"""Global search (FTS5): Latin prefixes, CJK substrings, e-mail and phone digits, diacritics, and
an index that follows every edit inside the same transaction."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from decimal import Decimal

import pytest
from sqlalchemy import insert, text
from sqlalchemy.orm import Session

from crm_desktop.models import Account, Contact, Lead, Opportunity, SalesStage
from crm_desktop.store import Store
from crm_desktop.store.search import build_match, reindex, search


def _titles(session: Session, query: str, **kwargs: object) -> set[str]:
    return {hit.title for hit in search(session, query, **kwargs)}  # type: ignore[arg-type]


@pytest.fixture
def people(store: Store) -> dict[str, uuid.UUID]:
    """A small address book in several scripts, committed; returns ids by full name."""
    contacts = [
        Contact(first_name="John", last_name="Smith", full_name="John Smith",
                email="john.smith@acme.com", phone="+1 (415) 555-0123"),
        Contact(first_name="Johanna", last_name="Berg", full_name="Johanna Berg",
                email="jberg@nordwerk.de", mobile="+49 151 9876543"),
        Contact(first_name="Jane", last_name="Doe", full_name="Jane Doe", email="jane@doe.org"),
        Contact(first_name="Zoë", last_name="Lefèvre", full_name="Zoë Lefèvre",
                email="zoe.lefevre@exemple.fr", phone="+33 1 23 45 67 89"),
        Contact(first_name="Jürgen", last_name="Müller", full_name="Jürgen Müller"),
        Contact(first_name="伟", last_name="张", full_name="张伟", email="zhang.wei@tengfei.cn",
                phone="+86 755 8888 1234"),
        Contact(first_name="芳", last_name="张", full_name="张芳"),
        Contact(first_name="伟明", last_name="李", full_name="李伟明"),
        Contact(first_name="翔太", last_name="佐藤", full_name="佐藤 翔太"),
        Contact(first_name="さくら", last_name="山田", full_name="山田 さくら"),
        Contact(first_name="민준", last_name="김", full_name="김민준", phone="+82 2-555-7788"),
        Contact(first_name="Núria", last_name="Peña", full_name="Núria Peña",
                email="nuria.pena@ibérica.es"),
    ]  # fmt: skip
    with store.sessions.begin() as session:
        session.add_all(contacts)
        session.add(Account(name="深圳腾飞科技有限公司", phone="0755-2666 1000"))
        session.add(Account(name="株式会社山田システム"))
        session.add(Account(name="Acme Logistics Inc.", email="info@acme.com"))
        session.add(Lead(first_name="Olivia", last_name="Brown", full_name="Olivia Brown",
                         company="Brownfield Foods"))  # fmt: skip
    return {c.full_name: c.id for c in contacts}


def test_latin_prefix_finds_the_name_being_typed(
    store: Store, people: dict[str, uuid.UUID]
) -> None:
    with store.sessions() as session:
        assert _titles(session, "joh") == {"John Smith", "Johanna Berg"}
        assert _titles(session, "john") == {"John Smith"}
        assert _titles(session, "JOHN") == {"John Smith"}  # case does not matter
        assert _titles(session, "smi") == {"John Smith"}
        assert _titles(session, "john smi") == {"John Smith"}  # every word must match
        assert _titles(session, "smith john") == {"John Smith"}  # in any order
        assert _titles(session, "john doe") == set()


def test_one_and_two_letter_prefixes_return_matches(
    store: Store, people: dict[str, uuid.UUID]
) -> None:
    # The first keystrokes take the unranked path; they must still find the right records.
    with store.sessions() as session:
        assert {"John Smith", "Johanna Berg", "Jane Doe"} <= _titles(session, "j")
        assert _titles(session, "ja") == {"Jane Doe"}


def test_hits_carry_entity_id_and_subtitle(store: Store, people: dict[str, uuid.UUID]) -> None:
    with store.sessions() as session:
        [hit] = search(session, "john smith")
    assert (hit.entity, hit.id) == ("contact", people["John Smith"])
    assert hit.subtitle == "john.smith@acme.com"


def test_two_character_chinese_name_is_found_as_a_substring(
    store: Store, people: dict[str, uuid.UUID]
) -> None:
    with store.sessions() as session:
        assert _titles(session, "张伟") == {"张伟"}
        # Two characters inside a longer name, and across the family/given boundary.
        assert _titles(session, "伟明") == {"李伟明"}
        assert _titles(session, "李伟") == {"李伟明"}
        # Substrings in the middle of a company name.
        assert _titles(session, "腾飞") == {"深圳腾飞科技有限公司"}
        assert _titles(session, "科技有限") == {"深圳腾飞科技有限公司"}
        # Characters that are in the name but not next to each other are not a substring.
        assert _titles(session, "张明") == set()


def test_a_single_cjk_character_finds_every_name_containing_it(
    store: Store, people: dict[str, uuid.UUID]
) -> None:
    with store.sessions() as session:
        assert _titles(session, "张") == {"张伟", "张芳"}
        assert _titles(session, "伟") == {"张伟", "李伟明"}
        assert _titles(session, "山") == {"山田 さくら", "株式会社山田システム"}


def test_japanese_and_korean_names(store: Store, people: dict[str, uuid.UUID]) -> None:
    with store.sessions() as session:
        assert _titles(session, "佐藤") == {"佐藤 翔太"}
        assert _titles(session, "翔太") == {"佐藤 翔太"}
        assert _titles(session, "佐藤 翔太") == {"佐藤 翔太"}
        assert _titles(session, "さくら") == {"山田 さくら"}  # hiragana
        assert _titles(session, "システム") == {"株式会社山田システム"}  # katakana
        assert _titles(session, "山田") == {"山田 さくら", "株式会社山田システム"}
        assert _titles(session, "김민준") == {"김민준"}
        assert _titles(session, "민준") == {"김민준"}
        assert _titles(session, "김") == {"김민준"}


def test_email_prefix(store: Store, people: dict[str, uuid.UUID]) -> None:
    with store.sessions() as session:
        assert _titles(session, "john.smith@ac") == {"John Smith"}
        assert _titles(session, "john.smith@acme.com") == {"John Smith"}
        assert _titles(session, "jberg@") == {"Johanna Berg"}
        assert _titles(session, "zhang.wei@") == {"张伟"}
        assert _titles(session, "@acme") >= {"John Smith"}
        assert _titles(session, "jane@doe.org") == {"Jane Doe"}


@pytest.mark.parametrize(
    "typed",
    ["4155550123", "415 555 0123", "(415) 555-0123", "+1 415-555-0123", "555-0123", "5550123",
     "0123", "415"],
)  # fmt: skip
def test_phone_digits_in_any_format(store: Store, people: dict[str, uuid.UUID], typed: str) -> None:
    with store.sessions() as session:
        assert "John Smith" in _titles(session, typed)


def test_phone_digits_of_mobiles_and_accounts(store: Store, people: dict[str, uuid.UUID]) -> None:
    with store.sessions() as session:
        assert _titles(session, "8888 1234") == {"张伟"}
        assert _titles(session, "7558888") == {"张伟"}
        assert _titles(session, "9876543") == {"Johanna Berg"}  # a mobile number
        assert _titles(session, "0755 2666") == {"深圳腾飞科技有限公司"}
        assert _titles(session, "555-7788") == {"김민준"}
        assert _titles(session, "999999") == set()


def test_diacritics_do_not_matter(store: Store, people: dict[str, uuid.UUID]) -> None:
    with store.sessions() as session:
        assert _titles(session, "zoe") == {"Zoë Lefèvre"}
        assert _titles(session, "Zoë") == {"Zoë Lefèvre"}
        assert _titles(session, "lefevre") == {"Zoë Lefèvre"}
        assert _titles(session, "muller") == {"Jürgen Müller"}
        assert _titles(session, "jurg") == {"Jürgen Müller"}
        assert _titles(session, "pena") == {"Núria Peña"}
        assert _titles(session, "NURIA") == {"Núria Peña"}


def test_accounts_leads_and_opportunities_are_searchable(
    store: Store, people: dict[str, uuid.UUID]
) -> None:
    with store.sessions.begin() as session:
        stage = SalesStage(name="Qualify", position=1, probability=10)
        session.add(stage)
        account = session.query(Account).filter_by(name="Acme Logistics Inc.").one()
        session.add(
            Opportunity(name="Acme fleet renewal", account_id=account.id, stage_id=stage.id,
                        amount=Decimal("125000.50"), currency="EUR")
        )  # fmt: skip
    with store.sessions() as session:
        hits = {(h.entity, h.title) for h in search(session, "acme")}
        assert ("account", "Acme Logistics Inc.") in hits
        assert ("opportunity", "Acme fleet renewal") in hits
        assert ("contact", "John Smith") in hits  # through the e-mail domain
        assert _titles(session, "brownfield") == {"Olivia Brown"}  # a lead, by its company
        assert _titles(session, "acme", entities=["opportunity"]) == {"Acme fleet renewal"}
        assert _titles(session, "acme", entities=["account", "opportunity"]) == {
            "Acme Logistics Inc.",
            "Acme fleet renewal",
        }


def test_nothing_to_search_gives_no_hits(store: Store, people: dict[str, uuid.UUID]) -> None:
    with store.sessions() as session:
        for blank in ("", "   ", "@", "-", '"', "*"):
            assert search(session, blank) == []
        assert build_match("") is None


def test_quotes_and_operators_in_the_query_are_plain_text(
    store: Store, people: dict[str, uuid.UUID]
) -> None:
    # FTS5 syntax typed by a user must never raise (a search box cannot show a syntax error).
    with store.sessions() as session:
        for typed in ('john"', "john AND", "OR", "NOT smith", "john*", "(john", "col:john", "^jo"):
            search(session, typed)
        assert "John Smith" in _titles(session, "john*")


def test_limit_caps_the_hits(store: Store) -> None:
    with store.sessions.begin() as session:
        session.add_all(
            Contact(first_name="Anna", last_name=f"Test{i}", full_name=f"Anna Test{i}")
            for i in range(30)
        )
    with store.sessions() as session:
        assert len(search(session, "anna", limit=10)) == 10
        assert len(search(session, "an", limit=25)) == 25
        assert len(search(session, "anna")) == 30


def test_a_tombstoned_record_disappears(store: Store, people: dict[str, uuid.UUID]) -> None:
    with store.sessions.begin() as session:
        contact = session.get(Contact, people["John Smith"])
        assert contact is not None
        contact.deleted = True
    with store.sessions() as session:
        assert _titles(session, "john") == set()
        assert _titles(session, "4155550123") == set()
        assert _titles(session, "joh") == {"Johanna Berg"}


def test_an_edit_updates_the_index_in_the_same_transaction(
    store: Store, people: dict[str, uuid.UUID]
) -> None:
    with store.sessions() as session, session.begin():
        contact = session.get(Contact, people["张伟"])
        assert contact is not None
        contact.first_name, contact.full_name = "伟华", "张伟华"
        contact.email = "wh.zhang@example.cn"
        session.flush()
        # Inside the transaction the new entry is already the one found...
        assert _titles(session, "伟华") == {"张伟华"}
        assert _titles(session, "wh.zhang@") == {"张伟华"}
        assert _titles(session, "zhang.wei@") == set()
        session.rollback()
    # ...and a rollback takes the index back with the edit.
    with store.sessions() as session:
        assert _titles(session, "伟华") == set()
        assert _titles(session, "zhang.wei@") == {"张伟"}
        assert _titles(session, "张伟") == {"张伟"}


def test_committed_edits_replace_the_old_entry(store: Store, people: dict[str, uuid.UUID]) -> None:
    with store.sessions.begin() as session:
        contact = session.get(Contact, people["Jane Doe"])
        assert contact is not None
        contact.last_name, contact.full_name = "Roe", "Jane Roe"
    with store.sessions() as session:
        assert _titles(session, "roe") == {"Jane Roe"}
        assert _titles(session, "doe") == {"Jane Roe"}  # the e-mail jane@doe.org is still hers
        assert _titles(session, "jane") == {"Jane Roe"}  # one entry, not an old and a new one


def test_an_edit_to_an_unsearched_field_keeps_the_entry(
    store: Store, people: dict[str, uuid.UUID]
) -> None:
    with store.sessions.begin() as session:
        contact = session.get(Contact, people["John Smith"])
        assert contact is not None
        contact.notes = "Prefers mornings."
    with store.sessions() as session:
        assert _titles(session, "john") == {"John Smith"}


@pytest.fixture
def bulk_store(store: Store) -> Iterator[Store]:
    """Rows written with Core (no ORM hook), as bulk loaders do, then indexed with reindex()."""
    ids = [uuid.uuid4() for _ in range(3)]
    rows = [
        {"id": ids[0], "first_name": "Hiroshi", "last_name": "Tanaka", "full_name": "田中 浩"},
        {"id": ids[1], "first_name": "Carmen", "last_name": "Núñez", "full_name": "Carmen Núñez"},
        {"id": ids[2], "first_name": "Gone", "last_name": "Away", "full_name": "Gone Away",
         "deleted": True},
    ]  # fmt: skip
    with store.sessions.begin() as session:
        session.execute(insert(Contact), rows)
        assert search(session, "carmen") == []  # not indexed until reindex()
        assert reindex(session.connection()) == 2  # tombstones are not indexed
    yield store


def test_reindex_indexes_bulk_written_rows(bulk_store: Store) -> None:
    with bulk_store.sessions() as session:
        assert _titles(session, "田中") == {"田中 浩"}
        assert _titles(session, "nunez") == {"Carmen Núñez"}
        assert _titles(session, "gone") == set()


def test_reindex_of_some_ids_replaces_only_their_entries(bulk_store: Store) -> None:
    with bulk_store.sessions.begin() as session:
        carmen = session.query(Contact).filter_by(first_name="Carmen").one()
        session.execute(
            Contact.__table__.update()
            .where(Contact.__table__.c.id == carmen.id)
            .values(full_name="Carmen Ortega", last_name="Ortega")
        )
        assert reindex(session.connection(), [carmen.id]) == 1
    with bulk_store.sessions() as session:
        assert _titles(session, "ortega") == {"Carmen Ortega"}
        assert _titles(session, "nunez") == set()
        assert _titles(session, "田中") == {"田中 浩"}


def test_each_word_of_an_entry_is_indexed_once(store: Store) -> None:
    # A contact's full name repeats its first and last name: writing them twice only cost time.
    # (This looks at the index's own columns; the searches around it are what users see.)
    with store.sessions.begin() as session:
        session.add(Contact(first_name="Lena", last_name="Meyer", full_name="Lena Meyer",
                            email="lena.meyer@schwarz.ch"))  # fmt: skip
        session.add(Contact(first_name="伟", last_name="张", full_name="张伟 张伟"))
    with store.sessions() as session:
        words = session.execute(text("SELECT words, cjk1, cjk2 FROM search_fts")).all()
        assert sorted(tuple(w) for w in words) == [
            ("", "张 伟", "张伟"),
            ("lena meyer lena.meyer@schwarz.ch", "", ""),
        ]
        assert _titles(session, "meyer") == {"Lena Meyer"}
        assert _titles(session, "lena.meyer@sch") == {"Lena Meyer"}
        assert _titles(session, "张伟") == {"张伟 张伟"}
