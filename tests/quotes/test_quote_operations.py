"""Quote operations for the screens: an account's orders in one query; who sees approve."""

from __future__ import annotations

import uuid
from datetime import date

from crm_desktop.config import Profile
from crm_desktop.models import Opportunity
from crm_desktop.services import quotes as quote_service
from crm_desktop.store import Store
from crm_desktop.ui.quotes import operations

from .seed import seed_quote_world
from .statements import counting


def _order(store: Store, account_id: uuid.UUID) -> str:
    with store.sessions.begin() as session:
        q = quote_service.create_quote(session=session, account_id=account_id, currency="EUR")
        quote_service.add_line(
            session=session, quote_id=q.quote_id, description="Service", unit_price="100"
        )
        quote_service.send_quote(session=session, quote_id=q.quote_id)
        quote_service.accept_quote(session=session, quote_id=q.quote_id, today=date.today())
        return q.number


def test_orders_for_account_is_one_query(store: Store) -> None:
    with store.sessions.begin() as session:
        world = seed_quote_world(session)
        opportunity = session.get(Opportunity, world["opportunity"])
        assert opportunity is not None
        account_id = opportunity.account_id
    numbers = [_order(store, account_id) for _ in range(2)]
    with counting(store.engine) as few:
        rows = operations.orders_for_account(store, account_id)
    assert sorted(r.quote_number for r in rows) == sorted(numbers)
    numbers += [_order(store, account_id) for _ in range(5)]
    with counting(store.engine) as many:
        rows = operations.orders_for_account(store, account_id)
    assert sorted(r.quote_number for r in rows) == sorted(numbers)
    selects = [s for s in many if s.lstrip().upper().startswith("SELECT")]
    assert len(selects) == 1, selects
    assert len(many) == len(few)


def test_editor_offers_approval_only_to_who_may_decide(store: Store, profile: Profile) -> None:
    from decimal import Decimal

    from crm_desktop.models import User
    from crm_desktop.models.enums import Role
    from crm_desktop.services import quote_approval

    with store.sessions.begin() as session:
        world = seed_quote_world(session)
        outsider = User(username="other.team", role=Role.MANAGER)
        session.add(outsider)
        session.flush()
        outsider_id = outsider.id
        q = quote_service.create_quote(
            session=session, opportunity_id=world["opportunity"], discount_percent="40"
        )
        quote_service.add_line(
            session=session, quote_id=q.quote_id, description="Service", unit_price="100"
        )
        quote_approval.send_or_request_approval(
            session=session, quote_id=q.quote_id, user_id=world["rep"], threshold=Decimal(10)
        )
    shown = {
        name: operations.load_quote(store, profile, q.quote_id, user).approval.can_approve
        for name, user in (
            ("rep", world["rep"]),
            ("manager", world["manager"]),
            ("outsider", outsider_id),
        )
    }
    assert shown == {"rep": False, "manager": True, "outsider": False}
