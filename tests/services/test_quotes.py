"""Quote actions: numbers, lines and prices, revisions, sending, accepting, rejecting, expiry."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from crm_desktop.models import (
    Opportunity,
    Price,
    PriceList,
    Product,
    Quote,
    QuoteLine,
    SalesOrder,
    SalesOrderLine,
    new_id,
)
from crm_desktop.models.enums import QuoteStatus
from crm_desktop.services import quotes
from crm_desktop.services.errors import ValidationError

from .conftest import Builder

D = Decimal
NOW = datetime(2026, 5, 4, 10, 0, tzinfo=UTC)
TODAY = date(2026, 5, 4)


@pytest.fixture
def catalog(session: Session) -> tuple[PriceList, Product, Product]:
    """A EUR price list listing a widget (19 % VAT by default) but not a gadget."""
    price_list = PriceList(name="EU 2026", currency="EUR")
    widget = Product(code="W-1", name="Widget", default_tax_rate=D("19"))
    gadget = Product(code="G-1", name="Gadget", default_tax_rate=D("7"))
    session.add_all([price_list, widget, gadget])
    session.flush()
    session.add(Price(price_list_id=price_list.id, product_id=widget.id, unit_price=D("120.00")))
    session.flush()
    return price_list, widget, gadget


@pytest.fixture
def deal(make: Builder) -> Opportunity:
    return make.opportunity(
        stage="Proposal", amount="5000.00", currency="EUR", owner_id=make.user().id
    )


def _draft(session: Session, deal: Opportunity, **fields: Any) -> quotes.QuoteChanged:
    return quotes.create_quote(session=session, opportunity_id=deal.id, **fields)


def _with_line(session: Session, deal: Opportunity, price: str = "100.00") -> quotes.QuoteChanged:
    q = _draft(session, deal)
    return quotes.add_line(
        session=session, quote_id=q.quote_id, description="Service", unit_price=price
    )


def _lid(changed: quotes.QuoteChanged) -> uuid.UUID:
    assert changed.line_id is not None
    return changed.line_id


# --- creating and numbering ----------------------------------------------------------------


def test_new_quote_is_a_draft_revision_1_for_the_opportunity(
    session: Session, deal: Opportunity
) -> None:
    q = _draft(session, deal, valid_until=date(2026, 6, 30))
    quote = session.get(Quote, q.quote_id)
    assert quote is not None
    assert (q.revision, q.status, q.is_current, q.frozen) == (1, QuoteStatus.DRAFT, True, False)
    assert quote.account_id == deal.account_id and quote.owner_id == deal.owner_id
    assert quote.currency == "EUR"
    assert q.totals.total == D("0.00")


def test_quote_numbers_come_from_the_id_not_a_counter(session: Session, deal: Opportunity) -> None:
    numbers = [_draft(session, deal).number for _ in range(20)]
    assert len(set(numbers)) == 20
    assert all(re.fullmatch(r"Q-[0-9A-HJKMNP-TV-Z]{10}-[0-9A-HJKMNP-TV-Z]{8}", n) for n in numbers)
    assert numbers == sorted(numbers)  # later quotes sort later
    # The same id always gives the same number: another device derives nothing different.
    some_id = new_id()
    assert quotes.document_number("Q", some_id) == quotes.document_number("Q", some_id)


def test_quote_needs_an_account_or_opportunity(session: Session) -> None:
    with pytest.raises(ValidationError) as err:
        quotes.create_quote(session=session, currency="EUR")
    assert err.value.field == "account_id"


def test_price_list_in_another_currency_is_refused(
    session: Session, deal: Opportunity, catalog: tuple[PriceList, Product, Product]
) -> None:
    price_list, _, _ = catalog
    with pytest.raises(ValidationError) as err:
        _draft(session, deal, price_list_id=price_list.id, currency="USD")
    assert err.value.field == "price_list_id"


# --- lines ---------------------------------------------------------------------------------


def test_product_line_takes_the_price_list_price_and_product_tax(
    session: Session, deal: Opportunity, catalog: tuple[PriceList, Product, Product]
) -> None:
    price_list, widget, _ = catalog
    q = _draft(session, deal, price_list_id=price_list.id)
    changed = quotes.add_line(
        session=session, quote_id=q.quote_id, product_id=widget.id, quantity="2"
    )
    line = session.get(QuoteLine, changed.line_id)
    assert line is not None
    assert (line.description, line.unit_price, line.tax_rate) == ("Widget", D("120.00"), D("19"))
    assert changed.totals.subtotal == D("240.00")
    assert changed.totals.tax_total == D("45.60")
    assert changed.totals.total == D("285.60")


def test_list_price_can_be_overridden(
    session: Session, deal: Opportunity, catalog: tuple[PriceList, Product, Product]
) -> None:
    price_list, widget, _ = catalog
    q = _draft(session, deal, price_list_id=price_list.id)
    changed = quotes.add_line(
        session=session, quote_id=q.quote_id, product_id=widget.id, unit_price="99.50"
    )
    assert changed.totals.subtotal == D("99.50")


def test_product_missing_from_the_price_list_needs_a_price(
    session: Session, deal: Opportunity, catalog: tuple[PriceList, Product, Product]
) -> None:
    price_list, _, gadget = catalog
    q = _draft(session, deal, price_list_id=price_list.id)
    with pytest.raises(ValidationError) as err:
        quotes.add_line(session=session, quote_id=q.quote_id, product_id=gadget.id)
    assert err.value.field == "unit_price"
    ok = quotes.add_line(
        session=session, quote_id=q.quote_id, product_id=gadget.id, unit_price="10"
    )
    assert ok.totals.total == D("10.70")  # the gadget's own 7 % still applies


@pytest.mark.parametrize(
    ("field", "value"),
    [("quantity", "0"), ("quantity", "-1"), ("unit_price", "-5"), ("discount_percent", "101"),
     ("tax_rate", "-1"), ("unit_price", "abc"), ("unit_price", 0.1)],
)  # fmt: skip
def test_bad_line_values_name_their_field(
    session: Session, deal: Opportunity, field: str, value: object
) -> None:
    q = _draft(session, deal)
    values: dict[str, Any] = {"description": "x", "unit_price": "1", field: value}
    with pytest.raises(ValidationError) as err:
        quotes.add_line(session=session, quote_id=q.quote_id, **values)
    assert err.value.field == field
    assert session.scalars(select(QuoteLine).where(QuoteLine.quote_id == q.quote_id)).all() == []


def test_update_and_remove_lines_recompute_totals(session: Session, deal: Opportunity) -> None:
    q = _with_line(session, deal, "100.00")
    second = quotes.add_line(
        session=session, quote_id=q.quote_id, description="Extra", unit_price="50", tax_rate="20"
    )
    assert second.totals.total == D("160.00")
    changed = quotes.update_line(
        session=session, line_id=_lid(second), quantity="3", discount_percent="10"
    )
    assert changed.totals.subtotal == D("235.00")  # 100 + 150 less 10 %
    assert changed.totals.tax_total == D("27.00")
    after = quotes.remove_line(session=session, line_id=_lid(q))
    assert after.line_ids == (second.line_id,)
    assert after.totals.total == D("162.00")
    removed = session.get(QuoteLine, q.line_id)
    assert removed is not None and removed.deleted  # a tombstone, never a hard delete


def test_quote_discount_is_stored_with_the_totals(session: Session, deal: Opportunity) -> None:
    q = _with_line(session, deal, "200.00")
    changed = quotes.update_quote(session=session, quote_id=q.quote_id, discount_percent="12.5")
    quote = session.get(Quote, q.quote_id)
    assert quote is not None
    assert (quote.subtotal, quote.discount_total, quote.total) == (
        D("200.00"),
        D("25.00"),
        D("175.00"),
    )
    assert changed.totals.net_total == D("175.00")


# --- revisions -----------------------------------------------------------------------------


def test_new_revision_copies_lines_and_freezes_the_old_one(
    session: Session, deal: Opportunity
) -> None:
    q = _with_line(session, deal, "100.00")
    quotes.add_line(
        session=session,
        quote_id=q.quote_id,
        description="Setup",
        unit_price="40",
        discount_percent="5",
    )
    quotes.send_quote(session=session, quote_id=q.quote_id, now=NOW)

    rev2 = quotes.new_revision(session=session, quote_id=q.quote_id)
    old = session.get(Quote, q.quote_id)
    assert old is not None and old.frozen and not old.is_current
    assert old.status == QuoteStatus.SENT  # what the customer got stays on record
    assert (rev2.number, rev2.revision, rev2.status) == (q.number, 2, QuoteStatus.DRAFT)
    assert rev2.is_current and not rev2.frozen
    assert rev2.totals.total == D("138.00")
    assert len(rev2.line_ids) == 2 and set(rev2.line_ids).isdisjoint(q.line_ids)

    # The new revision is independent: editing it leaves revision 1 as sent.
    quotes.add_line(
        session=session, quote_id=rev2.quote_id, description="Training", unit_price="10"
    )
    assert old.total == D("138.00")


def test_frozen_revision_refuses_edits(session: Session, deal: Opportunity) -> None:
    q = _with_line(session, deal)
    quotes.new_revision(session=session, quote_id=q.quote_id)
    attempts = [
        lambda: quotes.add_line(
            session=session, quote_id=q.quote_id, description="x", unit_price="1"
        ),
        lambda: quotes.update_line(session=session, line_id=_lid(q), quantity="2"),
        lambda: quotes.remove_line(session=session, line_id=_lid(q)),
        lambda: quotes.update_quote(session=session, quote_id=q.quote_id, discount_percent="5"),
        lambda: quotes.send_quote(session=session, quote_id=q.quote_id),
        lambda: quotes.new_revision(session=session, quote_id=q.quote_id),
    ]
    for attempt in attempts:
        with pytest.raises(ValidationError, match="frozen") as err:
            attempt()
        assert err.value.field == "quote"


def test_sent_quote_is_changed_only_through_a_revision(session: Session, deal: Opportunity) -> None:
    q = _with_line(session, deal)
    quotes.send_quote(session=session, quote_id=q.quote_id, now=NOW)
    with pytest.raises(ValidationError, match="new revision") as err:
        quotes.update_quote(session=session, quote_id=q.quote_id, discount_percent="5")
    assert err.value.field == "status"


def test_empty_quote_cannot_be_sent(session: Session, deal: Opportunity) -> None:
    q = _draft(session, deal)
    with pytest.raises(ValidationError) as err:
        quotes.send_quote(session=session, quote_id=q.quote_id)
    assert err.value.field == "lines"


# --- accepting -----------------------------------------------------------------------------


def test_accepting_makes_an_order_and_wins_the_opportunity_net_of_tax(
    session: Session, deal: Opportunity, stages: dict[str, object]
) -> None:
    q = _draft(session, deal, discount_percent="10")
    quotes.add_line(
        session=session,
        quote_id=q.quote_id,
        description="Licence",
        quantity="3",
        unit_price="1000.00",
        tax_rate="20",
    )
    quotes.add_line(
        session=session,
        quote_id=q.quote_id,
        description="Support",
        unit_price="333.33",
        tax_rate="20",
    )
    quotes.send_quote(session=session, quote_id=q.quote_id, now=NOW)

    accepted = quotes.accept_quote(session=session, quote_id=q.quote_id, today=TODAY, now=NOW)

    # 3333.33 less 10 % = 3000.00 net (333.333 -> 333.33 discount), + 20 % tax 600.00
    assert accepted.quote.status == QuoteStatus.ACCEPTED
    order = session.get(SalesOrder, accepted.order_id)
    assert order is not None
    assert (order.total, order.currency, order.ordered_on) == (D("3600.00"), "EUR", TODAY)
    assert order.quote_id == q.quote_id and order.opportunity_id == deal.id
    assert order.account_id == deal.account_id
    assert order.number.startswith("SO-")
    order_lines = session.scalars(
        select(SalesOrderLine)
        .where(SalesOrderLine.order_id == order.id)
        .order_by(SalesOrderLine.position)
    ).all()
    assert [(ln.description, ln.quantity, ln.net_amount) for ln in order_lines] == [
        ("Licence", D("3"), D("3000.00")),
        ("Support", D("1"), D("333.33")),
    ]
    assert accepted.opportunity is not None and accepted.opportunity.is_won
    assert deal.amount == D("3000.00")  # revenue, without the tax
    assert deal.probability == 100 and deal.closed_at == NOW and deal.close_date == TODAY


def test_superseded_revision_cannot_be_accepted(session: Session, deal: Opportunity) -> None:
    q = _with_line(session, deal)
    quotes.send_quote(session=session, quote_id=q.quote_id, now=NOW)
    quotes.new_revision(session=session, quote_id=q.quote_id)
    with pytest.raises(ValidationError, match="superseded"):
        quotes.accept_quote(session=session, quote_id=q.quote_id, today=TODAY)
    assert session.scalars(select(SalesOrder)).first() is None


def test_only_one_revision_of_a_number_is_ever_accepted(
    session: Session, deal: Opportunity
) -> None:
    q = _with_line(session, deal)
    rev2 = quotes.new_revision(session=session, quote_id=q.quote_id)
    quotes.send_quote(session=session, quote_id=rev2.quote_id, now=NOW)
    quotes.accept_quote(session=session, quote_id=rev2.quote_id, today=TODAY)
    with pytest.raises(ValidationError, match="already accepted"):
        quotes.accept_quote(session=session, quote_id=rev2.quote_id, today=TODAY)
    with pytest.raises(ValidationError, match="final"):
        quotes.new_revision(session=session, quote_id=rev2.quote_id)
    # Even a revision that sync brought in as current again cannot be accepted a second time.
    old = session.get(Quote, q.quote_id)
    assert old is not None
    old.frozen, old.is_current, old.status = False, True, QuoteStatus.SENT
    session.flush()
    with pytest.raises(ValidationError, match=r"revision 2 .* already accepted"):
        quotes.accept_quote(session=session, quote_id=q.quote_id, today=TODAY)
    assert len(session.scalars(select(SalesOrder)).all()) == 1


def test_quote_past_valid_until_cannot_be_accepted(session: Session, deal: Opportunity) -> None:
    q = _draft(session, deal, valid_until=date(2026, 5, 3))
    quotes.add_line(session=session, quote_id=q.quote_id, description="x", unit_price="1")
    quotes.send_quote(session=session, quote_id=q.quote_id, now=NOW)
    with pytest.raises(ValidationError) as err:
        quotes.accept_quote(session=session, quote_id=q.quote_id, today=TODAY)
    assert err.value.field == "valid_until"
    # valid through its last day
    accepted = quotes.accept_quote(session=session, quote_id=q.quote_id, today=date(2026, 5, 3))
    assert accepted.quote.status == QuoteStatus.ACCEPTED


def test_accepting_a_yen_quote_closes_with_whole_yen(session: Session, make: Builder) -> None:
    deal = make.opportunity(stage="Negotiation", amount="0", currency="JPY")
    q = quotes.create_quote(session=session, opportunity_id=deal.id)
    quotes.add_line(
        session=session,
        quote_id=q.quote_id,
        description="x",
        quantity="3",
        unit_price="333.5",
        tax_rate="10",
    )
    quotes.send_quote(session=session, quote_id=q.quote_id, now=NOW)
    accepted = quotes.accept_quote(session=session, quote_id=q.quote_id, today=TODAY)
    assert deal.amount == D("1001")  # 1000.5 rounds half-up to whole yen
    assert accepted.order_total == D("1101")  # + 100.1 -> 100 tax


def test_rejected_quote_can_be_revised_but_not_accepted(
    session: Session, deal: Opportunity
) -> None:
    q = _with_line(session, deal)
    quotes.send_quote(session=session, quote_id=q.quote_id, now=NOW)
    rejected = quotes.reject_quote(session=session, quote_id=q.quote_id, now=NOW)
    assert rejected.status == QuoteStatus.REJECTED
    with pytest.raises(ValidationError):
        quotes.accept_quote(session=session, quote_id=q.quote_id, today=TODAY)
    rev2 = quotes.new_revision(session=session, quote_id=q.quote_id)
    assert rev2.status == QuoteStatus.DRAFT and rev2.revision == 2
    assert deal.closed_at is None  # a rejected quote does not lose the deal


# --- expiry --------------------------------------------------------------------------------


def test_expire_quotes_marks_open_quotes_past_valid_until(
    session: Session, deal: Opportunity
) -> None:
    stale_draft = _draft(session, deal, valid_until=date(2026, 5, 1))
    stale_sent = _with_line(session, deal)
    quotes.update_quote(session=session, quote_id=stale_sent.quote_id, valid_until=date(2026, 5, 3))
    quotes.send_quote(session=session, quote_id=stale_sent.quote_id, now=NOW)
    last_day = _draft(session, deal, valid_until=TODAY)
    no_date = _draft(session, deal)
    done = _with_line(session, deal)
    quotes.update_quote(session=session, quote_id=done.quote_id, valid_until=date(2026, 4, 1))
    quotes.send_quote(session=session, quote_id=done.quote_id, now=NOW)
    quotes.accept_quote(session=session, quote_id=done.quote_id, today=date(2026, 3, 31))

    expired = quotes.expire_quotes(session=session, today=TODAY)
    assert set(expired.quote_ids) == {stale_draft.quote_id, stale_sent.quote_id}
    status = {q.id: q.status for q in session.scalars(select(Quote))}
    assert status[last_day.quote_id] == QuoteStatus.DRAFT
    assert status[no_date.quote_id] == QuoteStatus.DRAFT
    assert status[done.quote_id] == QuoteStatus.ACCEPTED
    assert quotes.expire_quotes(session=session, today=TODAY).quote_ids == ()  # idempotent


def test_quote_for_an_account_alone_is_accepted_without_an_opportunity(
    session: Session, make: Builder
) -> None:
    account = make.account("Walk-in customer")
    q = quotes.create_quote(session=session, account_id=account.id, currency="chf")
    quotes.add_line(
        session=session, quote_id=q.quote_id, description="Repair", unit_price="80", tax_rate="8.1"
    )
    quotes.send_quote(session=session, quote_id=q.quote_id, now=NOW)
    accepted = quotes.accept_quote(session=session, quote_id=q.quote_id, today=TODAY)
    assert accepted.opportunity is None
    assert accepted.order_total == D("86.48")  # 80 + 6.48 tax
    order = session.get(SalesOrder, accepted.order_id)
    assert order is not None and (order.account_id, order.currency) == (account.id, "CHF")


def test_inactive_price_list_is_refused(
    session: Session, deal: Opportunity, catalog: tuple[PriceList, Product, Product]
) -> None:
    price_list, _, _ = catalog
    price_list.active = False
    session.flush()
    with pytest.raises(ValidationError, match="not active"):
        _draft(session, deal, price_list_id=price_list.id)


def test_only_a_sent_quote_can_be_accepted(session: Session, deal: Opportunity) -> None:
    # A draft has not been through discount approval: accepting it (from a command or an
    # import) would bypass the manager. A pending one is waiting for exactly that.
    q = _with_line(session, deal)
    with pytest.raises(ValidationError, match="draft quote cannot be accepted; send it first"):
        quotes.accept_quote(session=session, quote_id=q.quote_id, today=TODAY)
    stored = session.get(Quote, q.quote_id)
    assert stored is not None
    stored.status = QuoteStatus.PENDING_APPROVAL
    session.flush()
    with pytest.raises(ValidationError, match="pending_approval quote cannot be accepted"):
        quotes.accept_quote(session=session, quote_id=q.quote_id, today=TODAY)
    assert session.scalars(select(SalesOrder)).first() is None


def test_accept_needs_the_callers_local_date(session: Session, deal: Opportunity) -> None:
    # No UTC default: late in the evening west of Greenwich the UTC date is already tomorrow,
    # and a quote valid through today would be refused (or one past it accepted in the east).
    q = _with_line(session, deal)
    quotes.send_quote(session=session, quote_id=q.quote_id, now=NOW)
    with pytest.raises(TypeError, match="today"):
        quotes.accept_quote(session=session, quote_id=q.quote_id)  # type: ignore[call-arg]


def test_a_pending_quote_is_not_sent_by_send_quote(session: Session, deal: Opportunity) -> None:
    q = _with_line(session, deal)
    stored = session.get(Quote, q.quote_id)
    assert stored is not None
    stored.status = QuoteStatus.PENDING_APPROVAL
    session.flush()
    with pytest.raises(ValidationError, match="pending_approval quote cannot be sent"):
        quotes.send_quote(session=session, quote_id=q.quote_id, now=NOW)
    assert stored.status == QuoteStatus.PENDING_APPROVAL and stored.sent_at is None


def test_line_copies_carry_every_line_field() -> None:
    # new_revision and accept_quote copy lines through quotes.line_values; a column added to
    # quote lines must be listed there (or here, as bookkeeping) so no copy drops it.
    bookkeeping = {"id", "created_at", "updated_at", "deleted", "quote_id", "order_id"}
    copied = {*quotes.LINE_FIELDS, "position", "net_amount"}
    for model in (QuoteLine, SalesOrderLine):
        assert set(model.__table__.columns.keys()) - bookkeeping == copied, model
