"""Record-page services: what the pages read, and saves that validate before writing anything."""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from crm_desktop.models import (
    Account,
    AccountContact,
    Contact,
    Opportunity,
    OpportunityContact,
    User,
)
from crm_desktop.services import record_views as rv
from crm_desktop.services.errors import ValidationError
from crm_desktop.services.pipeline import ensure_default_stages
from crm_desktop.store import Store


@pytest.fixture
def seeded(store: Store) -> dict[str, uuid.UUID]:
    """A user, an account with one contact, and an open opportunity."""
    with store.sessions.begin() as s:
        stages = ensure_default_stages(session=s)
        user = User(username="ann", full_name="Ann Seller")
        acc = Account(name="Acme Corp")
        s.add_all([user, acc])
        s.flush()
        acc.owner_id = user.id
        c = Contact(
            first_name="Bob", last_name="Buyer", full_name="Bob Buyer", email="bob@acme.test"
        )
        s.add(c)
        s.flush()
        s.add(AccountContact(account_id=acc.id, contact_id=c.id, title="CTO"))
        opp = Opportunity(
            name="Acme rollout",
            account_id=acc.id,
            stage_id=stages[1].id,
            probability=stages[1].probability,
            amount=Decimal("1000.00"),
            close_date=date(2026, 12, 1),
            owner_id=user.id,
        )
        s.add(opp)
        s.flush()
        return {"user": user.id, "account": acc.id, "contact": c.id, "opportunity": opp.id}


def test_account_view_lists_contacts_with_titles_and_opportunities(
    store: Store, seeded: dict[str, uuid.UUID]
) -> None:
    with store.sessions() as s:
        view = rv.load_account(s, seeded["account"])
    assert view.form.name == "Acme Corp"
    assert [(c.name, c.title) for c in view.contacts] == [("Bob Buyer", "CTO")]
    assert [o.name for o in view.open_opportunities] == ["Acme rollout"]
    assert view.closed_opportunities == ()
    assert view.owners[0].label == "Ann Seller"


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"name": "  "}, "name"),
        ({"email": "not-an-email"}, "email"),
        ({"phone": "12"}, "phone"),
        ({"credit_limit": "lots"}, "credit_limit"),
        ({"credit_limit": "-5"}, "credit_limit"),
        ({"website": "no spaces allowed.com x"}, "website"),
        ({"customer_grade": "Z"}, "customer_grade"),
    ],
)
def test_bad_account_input_names_the_field_and_writes_nothing(
    store: Store, changes: dict[str, str], field: str
) -> None:
    form = rv.AccountForm(**{"name": "Globex", **changes})
    with pytest.raises(ValidationError) as info, store.sessions.begin() as s:
        rv.save_account(session=s, account_id=None, form=form)
    assert info.value.field == field
    with store.sessions() as s:
        assert s.scalar(select(func.count()).select_from(Account)) == 0


def test_save_account_normalises_email_and_phone(store: Store) -> None:
    form = rv.AccountForm(name="Globex", email="Sales@Globex.Example", phone="(415) 555-0100")
    with store.sessions.begin() as s:
        acc_id = rv.save_account(session=s, account_id=None, form=form)
    with store.sessions() as s:
        acc = s.get(Account, acc_id)
        assert acc is not None
        assert acc.email == "sales@globex.example"
        assert acc.phone == "+1 415-555-0100"


def test_account_cannot_become_its_own_ancestor(store: Store, seeded: dict[str, uuid.UUID]) -> None:
    with store.sessions.begin() as s:
        child = rv.save_account(
            session=s,
            account_id=None,
            form=rv.AccountForm(name="Acme EU", parent_id=seeded["account"]),
        )
    with pytest.raises(ValidationError) as info, store.sessions.begin() as s:
        rv.save_account(
            session=s,
            account_id=seeded["account"],
            form=rv.AccountForm(name="Acme Corp", parent_id=child),
        )
    assert info.value.field == "parent_id"


def test_contact_full_name_keeps_cjk_order(store: Store) -> None:
    with store.sessions.begin() as s:
        cid = rv.save_contact(
            session=s, contact_id=None, form=rv.ContactForm(first_name="伟", last_name="张")
        )
        latin = rv.save_contact(
            session=s, contact_id=None, form=rv.ContactForm(first_name="Zoë", last_name="Smith")
        )
    with store.sessions() as s:
        assert rv.load_contact(s, cid).full_name == "张伟"
        assert rv.load_contact(s, latin).full_name == "Zoë Smith"


def test_contact_view_shows_accounts_and_buying_roles(
    store: Store, seeded: dict[str, uuid.UUID]
) -> None:
    with store.sessions.begin() as s:
        rv.save_buying_centre_member(
            session=s,
            opportunity_id=seeded["opportunity"],
            member_id=None,
            contact_id=seeded["contact"],
            role="decision_maker",
            attitude="supporter",
            influence="high",
        )
    with store.sessions() as s:
        view = rv.load_contact(s, seeded["contact"])
    assert [(a.account, a.title) for a in view.accounts] == [("Acme Corp", "CTO")]
    assert [(r.opportunity, r.role, r.attitude) for r in view.roles] == [
        ("Acme rollout", "decision_maker", "supporter")
    ]


def test_buying_centre_orders_deciders_first_and_refuses_duplicates(
    store: Store, seeded: dict[str, uuid.UUID]
) -> None:
    with store.sessions.begin() as s:
        other = rv.save_contact(
            session=s, contact_id=None, form=rv.ContactForm(first_name="Uma", last_name="User")
        )
        common = {"session": s, "opportunity_id": seeded["opportunity"], "member_id": None}
        rv.save_buying_centre_member(
            **common, contact_id=other, role="user", attitude="opponent", influence="low"
        )
        first = rv.save_buying_centre_member(
            **common,
            contact_id=seeded["contact"],
            role="decision_maker",
            attitude="supporter",
            influence="high",
        )
    with pytest.raises(ValidationError) as info, store.sessions.begin() as s:
        rv.save_buying_centre_member(
            session=s,
            opportunity_id=seeded["opportunity"],
            member_id=None,
            contact_id=seeded["contact"],
            role="decision_maker",
            attitude="neutral",
            influence="low",
        )
    assert info.value.field == "role"
    with store.sessions() as s:
        view = rv.load_opportunity(s, seeded["opportunity"])
    assert [m.role for m in view.buying_centre] == ["decision_maker", "user"]
    assert view.buying_centre[0].title == "CTO"
    # Removing and re-adding the same seat revives the tombstone instead of breaking uniqueness.
    with store.sessions.begin() as s:
        rv.remove_buying_centre_member(session=s, member_id=first)
    with store.sessions.begin() as s:
        again = rv.save_buying_centre_member(
            session=s,
            opportunity_id=seeded["opportunity"],
            member_id=None,
            contact_id=seeded["contact"],
            role="decision_maker",
            attitude="neutral",
            influence="medium",
        )
    assert again == first


def test_opportunity_view_weighted_amount_and_stages(
    store: Store, seeded: dict[str, uuid.UUID]
) -> None:
    with store.sessions() as s:
        view = rv.load_opportunity(s, seeded["opportunity"])
    assert view.stage is not None and view.stage.name == "Qualification"
    assert view.weighted_amount == Decimal("200.00")
    assert len(view.stages) == 7


def test_new_opportunity_starts_in_first_open_stage(
    store: Store, seeded: dict[str, uuid.UUID]
) -> None:
    form = rv.OpportunityForm(name="Second deal", account_id=seeded["account"], amount="50")
    with store.sessions.begin() as s:
        oid = rv.save_opportunity(session=s, opportunity_id=None, form=form)
    with store.sessions() as s:
        opp = s.get(Opportunity, oid)
        assert opp is not None
        assert opp.probability == 10
        assert rv.stage_of(s, oid).name == "Prospecting"


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"name": ""}, "name"),
        ({"account_id": None}, "account_id"),
        ({"amount": "12abc"}, "amount"),
        ({"currency": "dollars"}, "currency"),
        ({"close_date": "31/12/2026"}, "close_date"),
    ],
)
def test_bad_opportunity_input_names_the_field(
    store: Store, seeded: dict[str, uuid.UUID], changes: dict[str, object], field: str
) -> None:
    base: dict[str, object] = {"name": "Deal", "account_id": seeded["account"], "amount": "10"}
    form = rv.OpportunityForm(**{**base, **changes})  # type: ignore[arg-type]
    with pytest.raises(ValidationError) as info, store.sessions.begin() as s:
        rv.save_opportunity(session=s, opportunity_id=None, form=form)
    assert info.value.field == field


def test_delete_is_a_tombstone_and_refuses_accounts_with_open_deals(
    store: Store, seeded: dict[str, uuid.UUID]
) -> None:
    with pytest.raises(ValidationError), store.sessions.begin() as s:
        rv.delete_record(session=s, entity="account", record_id=seeded["account"])
    with store.sessions.begin() as s:
        rv.delete_record(session=s, entity="contact", record_id=seeded["contact"])
    with store.sessions() as s:
        contact = s.get(Contact, seeded["contact"])
        assert contact is not None and contact.deleted
        links = s.scalars(select(AccountContact)).all()
        assert all(link.deleted for link in links)
        assert (
            s.scalars(select(OpportunityContact).where(OpportunityContact.deleted.is_(False))).all()
            == []
        )


def test_lead_cannot_be_marked_converted_by_hand(store: Store) -> None:
    with pytest.raises(ValidationError) as info, store.sessions.begin() as s:
        rv.save_lead(session=s, lead_id=None, form=rv.LeadForm(last_name="Lee", status="converted"))
    assert info.value.field == "status"


def test_board_groups_by_stage_with_totals_and_period(
    store: Store, seeded: dict[str, uuid.UUID]
) -> None:
    with store.sessions.begin() as s:
        for amount, close in (("250.50", date(2026, 11, 30)), ("99.99", date(2027, 6, 1))):
            rv.save_opportunity(
                session=s,
                opportunity_id=None,
                form=rv.OpportunityForm(
                    name=f"Deal {amount}",
                    account_id=seeded["account"],
                    amount=amount,
                    close_date=close.isoformat(),
                ),
            )
    with store.sessions() as s:
        board = rv.load_board(s, period="all")
        quarter = rv.load_board(s, period="this_quarter", today=date(2026, 11, 25))
        mine = rv.load_board(s, owner_id=uuid.uuid4())
    columns = {c.stage.name: c for c in board.columns}
    assert columns["Prospecting"].count == 2
    assert columns["Prospecting"].total_in("USD") == Decimal("350.49")
    assert columns["Prospecting"].weighted_in("USD") == Decimal("35.05")
    assert columns["Qualification"].weighted_in("USD") == Decimal("200.00")
    q = {c.stage.name: c for c in quarter.columns}
    assert [c.name for c in q["Prospecting"].cards] == ["Deal 250.50"]
    assert q["Qualification"].count == 1
    assert sum(c.count for c in mine.columns) == 0


def test_close_periods() -> None:
    today = date(2026, 11, 25)
    assert rv.close_period("this_quarter", today) == (date(2026, 10, 1), date(2026, 12, 31))
    assert rv.close_period("next_quarter", today) == (date(2027, 1, 1), date(2027, 3, 31))
    assert rv.close_period("this_year", today) == (date(2026, 1, 1), date(2026, 12, 31))
    assert rv.close_period("all", today) == (None, None)
