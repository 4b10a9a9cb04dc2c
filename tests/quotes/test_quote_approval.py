"""Discount approval: above the threshold a quote waits for a manager, who approves or declines."""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from crm_desktop.models import Activity, Quote, User
from crm_desktop.models.enums import QuoteStatus, Role
from crm_desktop.services import quote_approval
from crm_desktop.services import quotes as quote_service
from crm_desktop.services.errors import ValidationError


def draft(
    session: Session, world: dict[str, uuid.UUID], *, discount: str = "0", line_discount: str = "0"
) -> uuid.UUID:
    created = quote_service.create_quote(
        session=session,
        opportunity_id=world["opportunity"],
        price_list_id=world["list_eur"],
        discount_percent=discount,
    )
    quote_service.add_line(
        session=session,
        quote_id=created.quote_id,
        product_id=world["product_PMP-100"],
        quantity=2,
        discount_percent=line_discount,
    )
    return created.quote_id


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (None, None),
        ("", None),
        ("15", Decimal(15)),
        (" 12,5 % ", Decimal("12.5")),
        ("x", None),
        ("-1", None),
    ],
)
def test_parse_threshold(text: str | None, expected: Decimal | None) -> None:
    assert quote_approval.parse_threshold(text) == expected


def test_the_largest_discount_counts_quote_or_line() -> None:
    assert quote_approval.max_discount(Decimal(5), [Decimal(0), Decimal(20)]) == 20
    assert quote_approval.max_discount(Decimal(25), []) == 25
    assert not quote_approval.exceeds(Decimal(15), Decimal(15))  # at the threshold is fine
    assert quote_approval.exceeds(Decimal("15.01"), Decimal(15))
    assert not quote_approval.exceeds(Decimal(99), None)


def test_below_threshold_sends_at_once(session: Session, world: dict[str, uuid.UUID]) -> None:
    quote_id = draft(session, world, discount="10")
    outcome = quote_approval.send_or_request_approval(
        session=session, quote_id=quote_id, user_id=world["rep"], threshold=Decimal(10)
    )
    assert outcome.status == QuoteStatus.SENT
    assert session.get(Quote, quote_id).status == QuoteStatus.SENT  # type: ignore[union-attr]


def test_line_discount_above_threshold_waits_then_manager_approves(
    session: Session, world: dict[str, uuid.UUID]
) -> None:
    quote_id = draft(session, world, line_discount="30")
    outcome = quote_approval.send_or_request_approval(
        session=session, quote_id=quote_id, user_id=world["rep"], threshold=Decimal(20)
    )
    assert outcome.status == QuoteStatus.PENDING_APPROVAL
    assert outcome.max_discount == 30
    quote = session.get(Quote, quote_id)
    assert quote is not None and quote.sent_at is None
    assert quote_approval.pending_for(session=session, manager_id=world["manager"]) == [quote_id]
    assert quote_approval.pending_for(session=session, manager_id=world["rep"]) == []

    with pytest.raises(ValidationError, match="only a manager"):
        quote_approval.approve(session=session, quote_id=quote_id, approver_id=world["rep"])
    approved = quote_approval.approve(
        session=session, quote_id=quote_id, approver_id=world["manager"]
    )
    assert approved.status == QuoteStatus.SENT
    assert quote.status == QuoteStatus.SENT and quote.sent_at is not None
    notes = list(session.scalars(select(Activity).where(Activity.quote_id == quote_id)))
    assert {n.owner_id for n in notes} == {world["rep"], world["manager"]}
    history = quote_approval.approval_history(session=session, quote_id=quote_id)
    assert "Discount approval requested: 30 %" in history[0]
    assert "Discount approved: 30 %" in history[1] and "李娜" in history[1]
    with pytest.raises(ValidationError, match="not waiting"):
        quote_approval.approve(session=session, quote_id=quote_id, approver_id=world["manager"])


def test_manager_declines_with_a_reason(session: Session, world: dict[str, uuid.UUID]) -> None:
    quote_id = draft(session, world, discount="40")
    quote_approval.send_or_request_approval(
        session=session, quote_id=quote_id, user_id=world["rep"], threshold=Decimal(15)
    )
    with pytest.raises(ValidationError, match="reason"):
        quote_approval.decline(
            session=session, quote_id=quote_id, approver_id=world["manager"], reason=" "
        )
    quote_approval.decline(
        session=session, quote_id=quote_id, approver_id=world["manager"], reason="Max 20 % here"
    )
    assert session.get(Quote, quote_id).status == QuoteStatus.DRAFT  # type: ignore[union-attr]
    assert (
        "Max 20 % here" in quote_approval.approval_history(session=session, quote_id=quote_id)[-1]
    )
    # Back to draft: the rep lowers the discount and sends without asking again.
    quote_service.update_quote(session=session, quote_id=quote_id, discount_percent=15)
    outcome = quote_approval.send_or_request_approval(
        session=session, quote_id=quote_id, user_id=world["rep"], threshold=Decimal(15)
    )
    assert outcome.status == QuoteStatus.SENT


def test_admin_sees_every_pending_quote_and_inactive_managers_cannot_approve(
    session: Session, world: dict[str, uuid.UUID]
) -> None:
    admin = User(username="root", role=Role.ADMIN)
    retired = User(username="old.boss", role=Role.MANAGER, active=False)
    session.add_all([admin, retired])
    session.flush()
    quote_id = draft(session, world, discount="50")
    quote_approval.send_or_request_approval(
        session=session, quote_id=quote_id, user_id=world["rep"], threshold=Decimal(10)
    )
    assert quote_approval.pending_for(session=session, manager_id=admin.id) == [quote_id]
    with pytest.raises(ValidationError):
        quote_approval.approve(session=session, quote_id=quote_id, approver_id=retired.id)


def test_only_a_draft_can_be_sent(session: Session, world: dict[str, uuid.UUID]) -> None:
    quote_id = draft(session, world)
    quote_service.send_quote(session=session, quote_id=quote_id)
    with pytest.raises(ValidationError, match="only a draft"):
        quote_approval.send_or_request_approval(
            session=session, quote_id=quote_id, user_id=None, threshold=None
        )


def test_rep_withdraws_a_request_to_change_the_quote(
    session: Session, world: dict[str, uuid.UUID]
) -> None:
    quote_id = draft(session, world, discount="25")
    quote_approval.send_or_request_approval(
        session=session, quote_id=quote_id, user_id=world["rep"], threshold=Decimal(20)
    )
    quote_approval.withdraw(session=session, quote_id=quote_id, user_id=world["rep"])
    assert session.get(Quote, quote_id).status == QuoteStatus.DRAFT  # type: ignore[union-attr]
    assert "withdrawn" in quote_approval.approval_history(session=session, quote_id=quote_id)[-1]
    with pytest.raises(ValidationError):
        quote_approval.withdraw(session=session, quote_id=quote_id, user_id=world["rep"])


def test_only_a_manager_above_the_owner_or_an_admin_decides(
    session: Session, world: dict[str, uuid.UUID]
) -> None:
    director = User(username="director", role=Role.MANAGER)
    outsider = User(username="other.team", role=Role.MANAGER)
    session.add_all([director, outsider])
    session.flush()
    manager = session.get(User, world["manager"])
    assert manager is not None
    manager.manager_id = director.id  # rep -> manager -> director
    session.flush()
    quote_id = draft(session, world, discount="40")
    quote_approval.send_or_request_approval(
        session=session, quote_id=quote_id, user_id=world["rep"], threshold=Decimal(15)
    )
    assert quote_approval.pending_for(session=session, manager_id=outsider.id) == []
    assert quote_approval.pending_for(session=session, manager_id=director.id) == [quote_id]
    with pytest.raises(ValidationError, match="owner's manager"):
        quote_approval.approve(session=session, quote_id=quote_id, approver_id=outsider.id)
    with pytest.raises(ValidationError, match="owner's manager"):
        quote_approval.decline(
            session=session, quote_id=quote_id, approver_id=outsider.id, reason="no"
        )
    # Transitively above the owner: allowed.
    approved = quote_approval.approve(session=session, quote_id=quote_id, approver_id=director.id)
    assert approved.status == QuoteStatus.SENT


def test_a_manager_cannot_approve_their_own_discount(
    session: Session, world: dict[str, uuid.UUID]
) -> None:
    quote_id = draft(session, world, discount="40")
    quote = session.get(Quote, quote_id)
    assert quote is not None
    quote.owner_id = world["manager"]
    session.flush()
    quote_approval.send_or_request_approval(
        session=session, quote_id=quote_id, user_id=world["manager"], threshold=Decimal(15)
    )
    assert quote_approval.pending_for(session=session, manager_id=world["manager"]) == []
    with pytest.raises(ValidationError, match="owner's manager"):
        quote_approval.approve(session=session, quote_id=quote_id, approver_id=world["manager"])
    assert quote.status == QuoteStatus.PENDING_APPROVAL


def test_a_superseded_revision_is_neither_sent_nor_parked(
    session: Session, world: dict[str, uuid.UUID]
) -> None:
    quote_id = draft(session, world, discount="40")
    quote_service.new_revision(session=session, quote_id=quote_id)
    for threshold in (None, Decimal(15)):
        with pytest.raises(ValidationError, match="frozen"):
            quote_approval.send_or_request_approval(
                session=session, quote_id=quote_id, user_id=world["rep"], threshold=threshold
            )
    assert session.get(Quote, quote_id).status == QuoteStatus.DRAFT  # type: ignore[union-attr]


def test_a_draft_above_the_threshold_cannot_skip_approval_by_being_accepted(
    session: Session, world: dict[str, uuid.UUID]
) -> None:
    from datetime import date

    quote_id = draft(session, world, discount="40")
    with pytest.raises(ValidationError, match="send it first"):
        quote_service.accept_quote(session=session, quote_id=quote_id, today=date.today())
