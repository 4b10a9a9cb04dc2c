"""Change capture: one outbox mutation per local transaction, in that transaction."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select

from crm_desktop.models import Account, Quote, QuoteLine, User
from crm_desktop.store import Store
from crm_desktop.sync.outbox import SKIP_CAPTURE
from crm_desktop.sync.protocol import MAX_CHANGES_PER_MUTATION, PushRequest
from crm_desktop.sync.tables import sync_base, sync_outbox


def outbox(store: Store) -> list[dict[str, Any]]:
    with store.engine.connect() as connection:
        return [
            {"n": row.n, "stamp": row.stamp, "base": row.base, "c": json.loads(row.changes)}
            for row in connection.execute(select(sync_outbox).order_by(sync_outbox.c.n))
        ]


def bases(store: Store) -> dict[tuple[str, str], tuple[Any, int]]:
    with store.engine.connect() as connection:
        return {
            (row.field, row.record_id): (row.value, row.last_n)
            for row in connection.execute(select(sync_base))
        }


@pytest.fixture
def user(store: Store) -> User:
    with store.sessions.begin() as session:
        user = User(username="ada")
        session.add(user)
    return user


def test_a_quote_and_its_lines_travel_as_one_mutation(store: Store, user: User) -> None:
    with store.sessions.begin() as session:
        quote = Quote(number="Q-1", owner_id=user.id, total=Decimal("120.00"))
        session.add(quote)
        session.flush()  # several flushes, still one transaction
        session.add_all(
            [QuoteLine(quote_id=quote.id, position=i, unit_price=Decimal("60")) for i in (1, 2)]
        )
    entries = outbox(store)
    assert [e["n"] for e in entries] == [1, 2]  # the user, then the quote with its lines
    quote_changes = entries[1]["c"]
    assert [c["t"] for c in quote_changes] == ["quote", "quote_line", "quote_line"]
    assert quote_changes[0]["f"]["total"] == "120"
    assert "created_at" in quote_changes[0]["f"] and "updated_at" not in quote_changes[0]["f"]
    # What is stored is valid wire form.
    PushRequest.model_validate(
        {
            "clock": entries[1]["stamp"],
            "mutations": [{"n": 2, "h": entries[1]["stamp"], "c": quote_changes}],
        }
    )


def test_edits_send_changed_fields_with_their_base(store: Store, user: User) -> None:
    with store.sessions.begin() as session:
        account = Account(name="Acme", owner_id=user.id, phone="1")
        session.add(account)
    with store.sessions.begin() as session:
        loaded = session.get(Account, account.id)
        assert loaded is not None
        loaded.phone = "2"
        loaded.name = "Acme"  # unchanged value: not sent
    with store.sessions.begin() as session:
        loaded = session.get(Account, account.id)
        assert loaded is not None
        loaded.phone = "3"
    entries = outbox(store)
    assert entries[-2]["c"] == [
        {"t": "account", "id": account.id.hex, "f": {"phone": "2"}, "o": {"phone": "1"}}
    ]
    # The base stays the first pending edit's "before"; last_n follows the newest edit.
    assert bases(store)[("phone", account.id.hex)] == ('"1"', entries[-1]["n"])
    stamps = [e["stamp"] for e in entries]
    assert stamps == sorted(stamps) and len(set(stamps)) == len(stamps)


def test_tombstones_and_hard_deletes_travel_as_deletes(store: Store, user: User) -> None:
    with store.sessions.begin() as session:
        kept, removed = Account(name="A", owner_id=user.id), Account(name="B", owner_id=user.id)
        session.add_all([kept, removed])
    with store.sessions.begin() as session:
        first = session.get(Account, kept.id)
        assert first is not None
        first.deleted = True
        second = session.get(Account, removed.id)
        session.delete(second)
    assert outbox(store)[-1]["c"] == [
        {"t": "account", "id": kept.id.hex, "d": True},
        {"t": "account", "id": removed.id.hex, "d": True},
    ] or outbox(store)[-1]["c"] == [
        {"t": "account", "id": removed.id.hex, "d": True},
        {"t": "account", "id": kept.id.hex, "d": True},
    ]


def test_rolled_back_writes_leave_no_trace_and_pulled_writes_are_not_captured(
    store: Store, user: User
) -> None:
    before = outbox(store)
    with pytest.raises(RuntimeError), store.sessions.begin() as session:
        session.add(Account(name="Never", owner_id=user.id))
        session.flush()
        raise RuntimeError("user cancelled")
    with store.sessions.begin() as session:
        session.info[SKIP_CAPTURE] = True
        session.add(Account(name="From the server", owner_id=user.id))
    assert outbox(store) == before


def test_made_and_deleted_in_one_transaction_sends_nothing(store: Store, user: User) -> None:
    before = outbox(store)
    with store.sessions.begin() as session:
        account = Account(name="Oops", owner_id=user.id)
        session.add(account)
        session.flush()
        account.deleted = True
    assert outbox(store) == before


def test_huge_transactions_spill_into_protocol_sized_mutations(store: Store, user: User) -> None:
    with store.sessions.begin() as session:
        for i in range(MAX_CHANGES_PER_MUTATION + 5):
            session.add(Account(name=f"Import {i}", owner_id=user.id))
            if i % 400 == 0:
                session.flush()
    sizes = [len(e["c"]) for e in outbox(store)][1:]
    assert sizes == [MAX_CHANGES_PER_MUTATION, 5]
