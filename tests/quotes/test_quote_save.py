"""Saving the quote editor: one replace_lines call, so the work does not grow with n²."""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest
from sqlalchemy import select

from crm_desktop.config import Profile
from crm_desktop.models import QuoteLine
from crm_desktop.services import quotes as quote_service
from crm_desktop.services.errors import ValidationError
from crm_desktop.store import Store
from crm_desktop.ui.quotes import operations
from crm_desktop.ui.quotes.draft import LineDraft

from .seed import seed_quote_world
from .statements import counting


def _line(world: dict[str, uuid.UUID], n: int) -> LineDraft:
    return LineDraft(
        line_id=None,
        product_id=world["product_PMP-100"] if n % 2 else None,
        code="",
        description=f"Line {n}",
        unit="",
        quantity=Decimal(n),
        unit_price=Decimal("10.00"),
        discount_percent=Decimal(0),
        tax_rate=Decimal(19),
    )


def _save(store: Store, profile: Profile, world: dict[str, uuid.UUID], n: int) -> list[str]:
    data = operations.new_quote(
        store, profile, opportunity_id=world["opportunity"], account_id=None, user_id=None
    )
    request = operations.SaveRequest(
        header=data.header, lines=tuple(_line(world, i) for i in range(1, n + 1))
    )
    with counting(store.engine) as statements:
        saved = operations.save_quote(store, profile, request, None)
    assert len(saved.lines) == n
    assert [line.description for line in saved.lines] == [f"Line {i}" for i in range(1, n + 1)]
    return statements


def test_saving_more_lines_sends_no_more_queries(store: Store, profile: Profile) -> None:
    with store.sessions.begin() as session:
        world = seed_quote_world(session)
    few = _save(store, profile, world, 3)
    many = _save(store, profile, world, 40)

    def reads_of_lines(statements: list[str]) -> int:
        return sum(1 for s in statements if s.startswith("SELECT") and "FROM quote_line" in s)

    # Line-by-line saving reloaded every line after each add and update: 2n + 1 reads.
    assert reads_of_lines(many) == reads_of_lines(few)
    assert len(many) <= len(few) + 5  # inserts are batched; nothing per line


def test_replace_lines_keeps_order_removes_and_validates_first(
    store: Store, profile: Profile
) -> None:
    with store.sessions.begin() as session:
        world = seed_quote_world(session)
        q = quote_service.create_quote(
            session=session, opportunity_id=world["opportunity"], price_list_id=world["list_eur"]
        )
        first = quote_service.replace_lines(
            session=session,
            quote_id=q.quote_id,
            lines=[
                quote_service.LineInput(None, world["product_PMP-100"], "", 2, None),
                quote_service.LineInput(None, None, "Travel", 1, "80.00", tax_rate="19"),
            ],
        )
        pump, travel = first.line_ids
        stored = session.get(QuoteLine, pump)
        assert stored is not None and stored.unit_price > 0  # the price list's price
        with pytest.raises(ValidationError, match="line 2: enter a unit price"):
            quote_service.replace_lines(
                session=session,
                quote_id=q.quote_id,
                lines=[
                    quote_service.LineInput(travel, None, "Travel", 3, "80.00"),
                    quote_service.LineInput(None, None, "No price", 1, None),
                ],
                removed_ids=[pump],
            )
        assert stored.deleted is False and stored.quantity == 2  # nothing was written
        second = quote_service.replace_lines(
            session=session,
            quote_id=q.quote_id,
            lines=[
                quote_service.LineInput(None, None, "Setup", 1, "50.00"),
                quote_service.LineInput(travel, None, "Travel", 3, "80.00", tax_rate="19"),
            ],
            removed_ids=[pump],
        )
        assert second.line_ids[1] == travel and stored.deleted
        live = session.scalars(
            select(QuoteLine)
            .where(QuoteLine.quote_id == q.quote_id, QuoteLine.deleted.is_(False))
            .order_by(QuoteLine.position)
        ).all()
        assert [(ln.position, ln.description) for ln in live] == [(1, "Setup"), (2, "Travel")]
        assert second.totals.subtotal == Decimal("290.00")
        with pytest.raises(ValidationError, match="not a line of this quote"):
            quote_service.replace_lines(
                session=session, quote_id=q.quote_id, lines=[], removed_ids=[uuid.uuid4()]
            )
