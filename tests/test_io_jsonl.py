"""JSONL export and import: the format, the round trip, all-or-nothing checks with line numbers,
and updates that touch only the fields that differ."""

from __future__ import annotations

import io
import json
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, select, text

from crm_desktop.models import (
    ENTITIES,
    Account,
    AccountContact,
    Contact,
    Opportunity,
    Quote,
    QuoteLine,
    SalesStage,
)
from crm_desktop.models.enums import AccountStatus, Grade
from crm_desktop.services import demo_data
from crm_desktop.services.io_jsonl import (
    ImportFailed,
    export_jsonl,
    export_order,
    import_jsonl,
    iter_records,
)
from crm_desktop.store import Store, open_store
from crm_desktop.store.search import search


def _export(store: Store) -> str:
    out = io.StringIO()
    with store.sessions() as session, session.begin():
        export_jsonl(session=session, stream=out)
    return out.getvalue()


def _import(store: Store, lines: list[str]) -> None:
    with store.sessions.begin() as session:
        import_jsonl(session=session, lines=lines)


def _count_all(store: Store) -> int:
    with store.sessions() as session:
        return sum(
            session.scalar(select(func.count()).select_from(cls)) or 0 for cls in ENTITIES.values()
        )


@pytest.fixture
def other_store(tmp_path: Path) -> Iterator[Store]:
    """A second, empty profile's store."""
    opened = open_store(tmp_path / "other" / "crm.sqlite3")
    yield opened
    opened.dispose()


@pytest.fixture
def small(store: Store) -> dict[str, uuid.UUID]:
    """An account with a contact at it, an opportunity and a quote with a line; returns ids."""
    with store.sessions.begin() as session:
        stage = SalesStage(name="Proposal", position=40, probability=60)
        account = Account(
            name="Müller Maschinenbau GmbH",
            status=AccountStatus.ACTIVE,
            customer_grade=Grade.A,
            credit_limit=Decimal("50000.00"),
        )
        contact = Contact(
            first_name="伟",
            last_name="张",
            full_name="张伟",
            email="zhang.wei@tengfei.cn",
            birthday=date(1980, 2, 29),
            last_contacted_at=datetime(2026, 3, 4, 5, 6, 7, 890123, tzinfo=UTC),
        )
        session.add_all([stage, account, contact])
        session.flush()
        link = AccountContact(account_id=account.id, contact_id=contact.id, title="采购经理")
        opp = Opportunity(
            name="Fleet renewal",
            account_id=account.id,
            stage_id=stage.id,
            amount=Decimal("125000.50"),
            currency="EUR",
            close_date=date(2026, 12, 31),
        )
        session.add_all([link, opp])
        session.flush()
        quote = Quote(number="Q-1", opportunity_id=opp.id, account_id=account.id, currency="EUR")
        session.add(quote)
        session.flush()
        line = QuoteLine(quote_id=quote.id, quantity=Decimal("3"), unit_price=Decimal("19.90"))
        gone = Contact(first_name="Gone", full_name="Gone", deleted=True)
        session.add_all([line, gone])
    return {
        "stage": stage.id,
        "account": account.id,
        "contact": contact.id,
        "link": link.id,
        "opportunity": opp.id,
        "quote": quote.id,
        "line": line.id,
        "gone": gone.id,
    }


# -- export ----------------------------------------------------------------------------------


def test_export_writes_one_typed_object_per_record_with_plain_json_values(
    store: Store, small: dict[str, uuid.UUID]
) -> None:
    records = [json.loads(line) for line in _export(store).splitlines()]
    by_id = {r["id"]: r for r in records}
    assert len(records) == len(by_id) == 8
    account = by_id[str(small["account"])]
    assert list(account)[:2] == ["type", "id"]
    assert account["type"] == "account"
    assert account["name"] == "Müller Maschinenbau GmbH"
    assert account["credit_limit"] == "50000.00"  # Decimal as an exact string
    assert account["status"] == "active" and account["customer_grade"] == "A"  # enum values
    assert account["parent_id"] is None
    assert account["deleted"] is False
    assert account["created_at"].endswith("Z")
    contact = by_id[str(small["contact"])]
    assert contact["birthday"] == "1980-02-29"
    assert contact["last_contacted_at"] == "2026-03-04T05:06:07.890123Z"
    assert by_id[str(small["link"])]["contact_id"] == str(small["contact"])
    assert by_id[str(small["opportunity"])]["amount"] == "125000.50"
    # Every column is there, under its column name.
    assert set(contact) == {"type"} | {c.key for c in Contact.__table__.c}
    # Tombstones are exported too: a delete is data.
    assert by_id[str(small["gone"])]["deleted"] is True


def test_export_order_is_dependency_order_then_id(
    store: Store, small: dict[str, uuid.UUID]
) -> None:
    order = export_order()
    assert set(order) == set(ENTITIES)
    assert order.index("account") < order.index("contact") < order.index("account_contact")
    assert order.index("opportunity") < order.index("quote") < order.index("quote_line")
    with store.sessions() as session:
        records = list(iter_records(session))
    keys = [(order.index(r["type"]), uuid.UUID(r["id"])) for r in records]
    assert keys == sorted(keys)


def test_export_of_an_empty_store_is_empty(store: Store) -> None:
    assert _export(store) == ""


# -- round trip ------------------------------------------------------------------------------


def test_export_import_export_round_trips_every_record_and_field(
    store: Store, other_store: Store
) -> None:
    with store.sessions.begin() as session:
        demo_data.generate(session=session, contacts=120, seed=3)
    first = _export(store)
    _import(other_store, first.splitlines())
    assert _export(other_store) == first
    # The imported records are searchable like any others.
    with other_store.sessions() as session:
        contact = session.scalars(select(Contact).where(Contact.deleted.is_(False))).first()
        assert contact is not None
        assert contact.id in {h.id for h in search(session, contact.full_name)}


def test_lines_may_come_in_any_order(store: Store, other_store: Store) -> None:
    with store.sessions.begin() as session:
        demo_data.generate(session=session, contacts=60, seed=5)
    first = _export(store)
    # Children before parents, the team before its manager, leads before what they became.
    _import(other_store, list(reversed(first.splitlines())))
    assert _export(other_store) == first


def test_importing_the_same_file_twice_changes_nothing(
    store: Store, small: dict[str, uuid.UUID]
) -> None:
    before = _export(store)
    with store.sessions.begin() as session:
        result = import_jsonl(session=session, lines=before.splitlines())
    assert (result.total_created, result.total_updated, result.unchanged) == (0, 0, 8)
    assert _export(store) == before


def test_a_one_shot_iterator_is_read_once_and_still_imported(
    store: Store, small: dict[str, uuid.UUID], other_store: Store
) -> None:
    exported = _export(store)
    with other_store.sessions.begin() as session:
        result = import_jsonl(session=session, lines=(line for line in exported.splitlines()))
    assert result.total_created == 8
    assert _export(other_store) == exported


def test_bytes_lines_with_a_byte_order_mark_and_blank_lines(
    store: Store, small: dict[str, uuid.UUID], other_store: Store
) -> None:
    data = _export(store).encode("utf-8")
    lines = io.BytesIO(b"\xef\xbb\xbf" + data.replace(b"\n", b"\n\n", 1)).readlines()
    with other_store.sessions.begin() as session:
        result = import_jsonl(session=session, lines=lines)
    assert result.total_created == 8


# -- updates ---------------------------------------------------------------------------------


def _line(store: Store, record_id: uuid.UUID) -> dict[str, object]:
    for line in _export(store).splitlines():
        record = json.loads(line)
        if record["id"] == str(record_id):
            return dict(record)
    raise AssertionError(f"{record_id} not exported")


def test_an_existing_id_updates_only_the_fields_that_differ(
    store: Store, small: dict[str, uuid.UUID]
) -> None:
    record = _line(store, small["contact"])
    before = dict(record)
    record.update(full_name="张伟华", first_name="伟华", email="wh.zhang@tengfei.cn")
    changes: list[set[str]] = []

    with store.sessions.begin() as session:

        def capture(sess: object, _context: object, _instances: object) -> None:
            for obj in session.dirty:
                if isinstance(obj, Contact):
                    state = obj.__dict__["_sa_instance_state"]
                    changes.append({a.key for a in state.attrs if a.history.has_changes()})

        from sqlalchemy import event

        event.listen(session, "before_flush", capture)
        result = import_jsonl(session=session, lines=[json.dumps(record)])
    assert result.updated == {"contact": 1} and result.total_created == 0
    # An ordinary edit: only the differing fields (and the stamp every edit gets) are written.
    assert changes == [{"full_name", "first_name", "email"}]
    after = _line(store, small["contact"])
    assert after["full_name"] == "张伟华" and after["email"] == "wh.zhang@tengfei.cn"
    assert after["created_at"] == before["created_at"]
    assert after["updated_at"] != before["updated_at"]
    assert {k for k in after if after[k] != before[k]} == {
        "full_name",
        "first_name",
        "email",
        "updated_at",
    }
    # The search index saw the edit.
    with store.sessions() as session:
        assert [h.title for h in search(session, "伟华")] == ["张伟华"]
        assert search(session, "zhang.wei@") == []


def test_an_update_may_carry_only_some_fields(store: Store, small: dict[str, uuid.UUID]) -> None:
    before = _line(store, small["account"])
    line = json.dumps({"type": "account", "id": str(small["account"]), "status": "inactive"})
    _import(store, [line])
    after = _line(store, small["account"])
    assert after["status"] == "inactive"
    assert {k for k in after if after[k] != before[k]} == {"status", "updated_at"}


def test_an_update_with_its_own_stamp_keeps_that_stamp(
    store: Store, small: dict[str, uuid.UUID]
) -> None:
    record = _line(store, small["account"])
    record.update(name="Müller AG", updated_at="2030-01-02T03:04:05Z")
    _import(store, [json.dumps(record)])
    after = _line(store, small["account"])
    assert (after["name"], after["updated_at"]) == ("Müller AG", "2030-01-02T03:04:05Z")


def test_a_change_of_decimal_scale_is_a_change(store: Store, small: dict[str, uuid.UUID]) -> None:
    record = _line(store, small["opportunity"])
    record["amount"] = "125000.500"
    _import(store, [json.dumps(record)])
    assert _line(store, small["opportunity"])["amount"] == "125000.500"


def test_importing_a_tombstone_removes_the_record_from_search(
    store: Store, small: dict[str, uuid.UUID]
) -> None:
    record = _line(store, small["contact"])
    record["deleted"] = True
    _import(store, [json.dumps(record)])
    with store.sessions() as session:
        assert search(session, "张伟") == []
        contact = session.get(Contact, small["contact"])
        assert contact is not None and contact.deleted


def test_a_new_record_may_leave_out_fields_that_have_defaults(store: Store) -> None:
    new_id = uuid.uuid4()
    _import(store, [json.dumps({"type": "account", "id": str(new_id), "name": "Solo Ltd"})])
    with store.sessions() as session:
        account = session.get(Account, new_id)
        assert account is not None
        assert account.status is AccountStatus.PROSPECT and account.deleted is False
        assert account.created_at is not None


def test_json_numbers_are_read_exactly(store: Store, small: dict[str, uuid.UUID]) -> None:
    line = f'{{"type": "opportunity", "id": "{small["opportunity"]}", "amount": 0.1}}'
    _import(store, [line])
    assert _line(store, small["opportunity"])["amount"] == "0.1"  # never 0.1000000000000000055


# -- bad lines: reported by number, nothing written -------------------------------------------

_ACCOUNT = "018f0000-0000-7000-8000-000000000001"
_CONTACT = "018f0000-0000-7000-8000-000000000002"
_MISSING = "018f0000-0000-7000-8000-0000000000ff"


def _good(**extra: object) -> str:
    return json.dumps({"type": "account", "id": _ACCOUNT, "name": "Good Co", **extra})


BAD_LINES = {
    "bad JSON": ('{"type": "contact", "id": ', "line 2: invalid JSON"),
    "not an object": ("[1, 2]", "line 2: expected a JSON object"),
    "no type": (json.dumps({"id": _CONTACT}), "line 2: type: missing"),
    "unknown type": (json.dumps({"type": "spaceship", "id": _CONTACT}), "line 2: type: unknown type 'spaceship'"),
    "no id": (json.dumps({"type": "contact"}), "line 2: id: missing"),
    "bad id": (json.dumps({"type": "contact", "id": "42"}), "line 2: id: not a UUID"),
    "unknown field": (json.dumps({"type": "contact", "id": _CONTACT, "shoe_size": 44}), "line 2: shoe_size: unknown field of contact"),
    "string for an integer": (json.dumps({"type": "sales_stage", "id": _CONTACT, "name": "X", "position": "1", "probability": 5}), "line 2: position: expected an integer"),
    "number for a string": (json.dumps({"type": "contact", "id": _CONTACT, "first_name": 7}), "line 2: first_name: expected a string"),
    "string for a boolean": (json.dumps({"type": "contact", "id": _CONTACT, "deleted": "no"}), "line 2: deleted: expected true or false"),
    "bad date": (json.dumps({"type": "contact", "id": _CONTACT, "birthday": "31/12/1980"}), "line 2: birthday: not a YYYY-MM-DD date"),
    "naive datetime": (json.dumps({"type": "contact", "id": _CONTACT, "created_at": "2026-01-01T10:00:00"}), "line 2: created_at: datetime without a time zone"),
    "bad decimal": (json.dumps({"type": "account", "id": _CONTACT, "name": "X", "credit_limit": "lots"}), "line 2: credit_limit: not a decimal number"),
    "bad enum": (json.dumps({"type": "account", "id": _CONTACT, "name": "X", "status": "happy"}), "line 2: status: 'happy' is not one of"),
    "too long": (json.dumps({"type": "account", "id": _CONTACT, "name": "X", "customer_grade": "AA"}), "line 2: customer_grade: "),
    "null for a required field": (json.dumps({"type": "account", "id": _CONTACT, "name": None}), "line 2: name: must not be null"),
    "missing required field": (json.dumps({"type": "account", "id": _CONTACT}), "line 2: name: missing (required for a new record)"),
    "dangling reference": (json.dumps({"type": "account_contact", "id": _CONTACT, "account_id": _ACCOUNT, "contact_id": _MISSING}), f"line 2: contact_id: no contact with id {_MISSING}"),
    "duplicate id": (_good(), f"line 2: id: {_ACCOUNT} is already on line 1"),
    "unique key taken": (json.dumps({"type": "sales_stage", "id": _CONTACT, "name": "Proposal", "position": 1, "probability": 5}), "line 2: name: 'Proposal' already used by a stored record"),
}  # fmt: skip


@pytest.mark.parametrize("bad, expected", list(BAD_LINES.values()), ids=list(BAD_LINES))
def test_a_bad_line_is_reported_by_number_and_nothing_is_written(
    store: Store, small: dict[str, uuid.UUID], bad: str, expected: str
) -> None:
    before = _export(store)
    lines = [_good(), bad, json.dumps({"type": "contact", "id": _CONTACT, "full_name": "Fine"})]
    with pytest.raises(ImportFailed) as failure, store.sessions.begin() as session:
        import_jsonl(session=session, lines=lines)
    assert str(failure.value).startswith(expected), str(failure.value)
    assert failure.value.errors[0].line == 2
    assert _export(store) == before  # not even the good lines 1 and 3


def test_every_bad_line_is_reported_in_line_order(store: Store) -> None:
    lines = [
        json.dumps({"type": "contact", "id": _CONTACT, "first_name": 1, "nick": "x"}),
        _good(),
        "not json",
        json.dumps({"type": "opportunity", "id": _MISSING, "name": "X", "account_id": _ACCOUNT}),
    ]
    with pytest.raises(ImportFailed) as failure, store.sessions.begin() as session:
        import_jsonl(session=session, lines=lines)
    assert [str(e) for e in failure.value.errors] == [
        "line 1: first_name: expected a string",
        "line 1: nick: unknown field of contact",
        "line 3: invalid JSON: Expecting value (column 1)",
        "line 4: stage_id: missing (required for a new record)",
    ]
    assert _count_all(store) == 0


def test_a_reference_to_a_record_in_the_store_or_later_in_the_file_is_fine(
    store: Store, small: dict[str, uuid.UUID]
) -> None:
    lines = [
        json.dumps({"type": "account_contact", "id": _CONTACT, "account_id": _ACCOUNT,
                    "contact_id": str(small["contact"])}),
        _good(),
    ]  # fmt: skip
    _import(store, lines)
    with store.sessions() as session:
        link = session.get(AccountContact, uuid.UUID(_CONTACT))
        assert link is not None and link.account_id == uuid.UUID(_ACCOUNT)


def test_two_lines_sharing_a_unique_key_are_both_named(store: Store) -> None:
    lines = [
        json.dumps({"type": "user", "id": _ACCOUNT, "username": "ann"}),
        json.dumps({"type": "user", "id": _CONTACT, "username": "ann"}),
    ]
    with pytest.raises(ImportFailed) as failure, store.sessions.begin() as session:
        import_jsonl(session=session, lines=lines)
    assert str(failure.value) == "line 2: username: 'ann' already used by line 1"


def test_invalid_utf8_is_a_bad_line(store: Store) -> None:
    with pytest.raises(ImportFailed) as failure, store.sessions.begin() as session:
        import_jsonl(session=session, lines=[_good().encode(), b'{"type": "\xff"}'])
    assert str(failure.value).startswith("line 2: not UTF-8 text")
    assert _count_all(store) == 0


def test_foreign_keys_are_deferred_only_inside_the_import_transaction(store: Store) -> None:
    with store.sessions.begin() as session:
        import_jsonl(session=session, lines=[_good()])
        assert session.execute(text("PRAGMA defer_foreign_keys")).scalar() == 1
    with store.sessions.begin() as session:
        assert session.execute(text("PRAGMA defer_foreign_keys")).scalar() == 0
