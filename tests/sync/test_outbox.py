"""Change capture: one outbox mutation per local transaction, in that transaction."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select

from crm_desktop.models import Account, AccountContact, Contact, Quote, QuoteLine, User
from crm_desktop.store import Store
from crm_desktop.sync import state as sync_state
from crm_desktop.sync.outbox import BASE_CURSOR, SKIP_CAPTURE
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


def _unlinked(store: Store, user: User, *, synced: bool = True) -> AccountContact:
    """A contact whose job at an account was removed (the link row tombstoned); ``synced``:
    the server has applied everything so far (its answer emptied the outbox and the bases)."""
    with store.sessions.begin() as session:
        account = Account(name="Acme", owner_id=user.id)
        contact = Contact(first_name="Zoë", last_name="Adams", owner_id=user.id)
        session.add_all([account, contact])
        session.flush()
        link = AccountContact(account_id=account.id, contact_id=contact.id, title="Buyer")
        session.add(link)
    with store.sessions.begin() as session:
        loaded = session.get(AccountContact, link.id)
        assert loaded is not None
        loaded.deleted = True
    if synced:
        with store.engine.begin() as connection:
            connection.execute(sync_outbox.delete())
            connection.execute(sync_base.delete())
    return link


def test_relinking_a_removed_contact_sends_the_whole_link_as_a_revival(
    store: Store, user: User
) -> None:
    link = _unlinked(store, user)
    with store.sessions.begin() as session:
        revived = session.get(AccountContact, link.id)
        assert revived is not None
        revived.deleted = False
        revived.title = None  # re-linked without a title: the server's "Buyer" must go
    change = outbox(store)[-1]["c"]
    assert change == [
        {
            "t": "account_contact",
            "id": link.id.hex,
            "r": True,
            "f": {
                "created_at": change[0]["f"]["created_at"],
                "account_id": str(link.account_id),
                "contact_id": str(link.contact_id),
                "title": None,
                "department": None,
                "is_primary": False,
            },
        }
    ]
    # Until the server decides, a pulled copy must not undo the revival; a refused revival
    # puts the link back as the server has it: removed, with its old title.
    recorded = bases(store)
    assert recorded[("deleted", link.id.hex)][0] == "true"
    assert recorded[("title", link.id.hex)][0] == '"Buyer"'


def test_relinked_before_the_removal_was_sent_keeps_the_live_base(store: Store, user: User) -> None:
    link = _unlinked(store, user, synced=False)
    with store.sessions.begin() as session:
        revived = session.get(AccountContact, link.id)
        assert revived is not None
        revived.deleted = False
    entries = outbox(store)
    assert entries[-2]["c"] == [{"t": "account_contact", "id": link.id.hex, "d": True}]
    assert entries[-1]["c"][0]["r"] is True
    # The server still has the link live: that stays the base, now owned by the revival.
    assert bases(store)[("deleted", link.id.hex)] == ("false", entries[-1]["n"])


def test_removed_and_relinked_in_one_save_is_one_revival(store: Store, user: User) -> None:
    link = _unlinked(store, user)
    with store.sessions.begin() as session:
        loaded = session.get(AccountContact, link.id)
        assert loaded is not None
        loaded.deleted = False
        session.flush()
        loaded.title = "Head of purchasing"  # edited in a second flush of the same save
        session.flush()
        loaded.deleted = True
        session.flush()
        loaded.deleted = False
    [change] = outbox(store)[-1]["c"]
    assert change["r"] is True and "d" not in change and "o" not in change
    assert change["f"]["title"] == "Head of purchasing"


def test_a_save_of_values_read_earlier_takes_the_older_cursor_as_base(
    store: Store, user: User
) -> None:
    with store.sessions.begin() as session:
        account = Account(name="Acme", owner_id=user.id)
        session.add(account)
    with store.sessions.begin() as session:
        sync_state.set_values(session.connection(), cursor=50)
    for loaded_at, expected in ((40, 40), (60, 50), (None, 50)):
        with store.sessions.begin() as session:
            if loaded_at is not None:
                session.info[BASE_CURSOR] = loaded_at
            loaded = session.get(Account, account.id)
            assert loaded is not None
            loaded.phone = f"+1 555 {loaded_at}"
        assert outbox(store)[-1]["base"] == expected
