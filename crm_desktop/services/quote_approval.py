"""Discount approval: a quote discounted beyond the configured threshold waits for a manager.

Rules:

* The threshold is the profile setting ``quote_discount_approval_threshold`` (a percentage,
  e.g. ``15``); unset or empty means no approval is ever needed.
  **Known gap**: that setting lives in the rep's own ``settings.ini``, so a rep can raise or
  clear their own threshold and send any discount. Enforcing approval needs the threshold as a
  company setting that syncs from head office (and a server-side check on push); until then
  this module only stops accidental bypasses (a draft accepted or sent around the approval).
* The discount compared with it is the **largest** of the quote discount and every line
  discount. Summing them would count a 10 % line discount on one small line as much as a quote
  discount on everything; taking the largest stops a rep from getting around the rule by
  moving the discount from the quote to the lines.
* Sending (:func:`send_or_request_approval`) a quote above the threshold does not send it: the
  quote goes to ``pending_approval``. An admin, or a manager above the quote's owner in the
  reporting line (``User.manager_id``, directly or transitively; not the owner themselves), either
  approves it (:func:`approve`), which releases it, i.e. sends it on the rep's behalf, or
  declines (:func:`decline`), which puts it back to draft with the reason; the rep may also
  withdraw the request (:func:`withdraw`) to change the quote. An approval is
  for that revision only: any change needs a new revision, which is approved anew if it is
  still above the threshold.
* Who approved and when is recorded as a completed note (:class:`Activity` with ``quote_id``),
  which syncs like any record and shows on the quote's history.
  **Model gap**: ``Quote`` has no ``approved_by``/``approved_at`` columns; once they exist the
  approval should be stamped there too (the note stays as the readable history).

No Qt; the caller owns the transaction (nothing here commits).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation

from sqlalchemy import select
from sqlalchemy.orm import Session

from crm_desktop.models import Activity, Quote, QuoteLine, User, utcnow
from crm_desktop.models.enums import ActivityKind, ActivityStatus, QuoteStatus, Role
from crm_desktop.services import quotes as quote_service
from crm_desktop.services.errors import NotFound, ValidationError

#: The profile setting holding the threshold (percent).
THRESHOLD_SETTING = "quote_discount_approval_threshold"
_APPROVERS = frozenset({Role.MANAGER, Role.ADMIN})
APPROVED_PREFIX = "Discount approved"
REQUESTED_PREFIX = "Discount approval requested"
DECLINED_PREFIX = "Discount declined"
WITHDRAWN_PREFIX = "Approval request withdrawn"


@dataclass(frozen=True)
class SendOutcome:
    """What :func:`send_or_request_approval` did: ``sent`` or ``pending_approval``."""

    quote_id: uuid.UUID
    status: QuoteStatus
    max_discount: Decimal
    threshold: Decimal | None


def parse_threshold(value: str | None) -> Decimal | None:
    """The threshold from its setting text; ``None`` (no approval needed) if unset or not a number."""
    if value is None or not value.strip():
        return None
    try:
        threshold = Decimal(value.strip().rstrip("%").strip().replace(",", "."))
    except InvalidOperation:
        return None
    return threshold if threshold.is_finite() and threshold >= 0 else None


def max_discount(quote_discount: Decimal, line_discounts: list[Decimal]) -> Decimal:
    """The largest of the quote discount and the line discounts (see the module rules)."""
    return max([Decimal(quote_discount or 0), *(Decimal(d or 0) for d in line_discounts)])


def exceeds(discount: Decimal, threshold: Decimal | None) -> bool:
    """Whether ``discount`` needs approval under ``threshold`` (strictly above it)."""
    return threshold is not None and discount > threshold


def can_approve(user: User | None) -> bool:
    """Whether ``user`` may approve discounts (an active manager or admin)."""
    return user is not None and user.active and not user.deleted and user.role in _APPROVERS


def _quote(session: Session, quote_id: uuid.UUID) -> Quote:
    quote = session.get(Quote, quote_id)
    if quote is None or quote.deleted:
        raise NotFound(Quote, quote_id)
    return quote


def quote_max_discount(*, session: Session, quote_id: uuid.UUID) -> Decimal:
    """The largest discount on a stored quote revision."""
    quote = _quote(session, quote_id)
    line_discounts = list(
        session.scalars(
            select(QuoteLine.discount_percent).where(
                QuoteLine.quote_id == quote_id, QuoteLine.deleted.is_(False)
            )
        )
    )
    return max_discount(quote.discount_percent, line_discounts)


def _note(
    session: Session,
    quote: Quote,
    *,
    user_id: uuid.UUID | None,
    subject: str,
    text: str,
    now: datetime,
) -> None:
    session.add(
        Activity(
            kind=ActivityKind.NOTE,
            subject=subject,
            description=text,
            status=ActivityStatus.DONE,
            completed_at=now,
            start_at=now,
            owner_id=user_id,
            account_id=quote.account_id,
            opportunity_id=quote.opportunity_id,
            quote_id=quote.id,
        )
    )


def send_or_request_approval(
    *,
    session: Session,
    quote_id: uuid.UUID,
    user_id: uuid.UUID | None,
    threshold: Decimal | None,
    now: datetime | None = None,
) -> SendOutcome:
    """Send a draft quote, or park it in ``pending_approval`` if its discount is above the threshold."""
    now = now or utcnow()
    quote = _quote(session, quote_id)
    # A superseded revision is never sent nor parked for approval: approving it would release
    # figures that a newer revision replaced.
    quote_service.require_current(quote)
    if quote.status != QuoteStatus.DRAFT:
        raise ValidationError("status", f"only a draft can be sent (this one is {quote.status})")
    discount = quote_max_discount(session=session, quote_id=quote_id)
    if exceeds(discount, threshold):
        quote.status = QuoteStatus.PENDING_APPROVAL
        _note(
            session,
            quote,
            user_id=user_id,
            subject=f"{REQUESTED_PREFIX}: {discount.normalize():f} % on {quote.number}",
            text=f"Discount {discount.normalize():f} % is above the approval threshold of "
            f"{threshold.normalize():f} %."
            if threshold is not None
            else "",
            now=now,
        )
        session.flush()
        return SendOutcome(quote.id, QuoteStatus.PENDING_APPROVAL, discount, threshold)
    quote_service.send_quote(session=session, quote_id=quote_id, now=now)
    return SendOutcome(quote.id, QuoteStatus.SENT, discount, threshold)


def manages(session: Session, manager_id: uuid.UUID, user_id: uuid.UUID | None) -> bool:
    """Whether ``user_id`` reports to ``manager_id``, directly or through other managers.

    Walks up ``User.manager_id`` from the user with a visited set, so a loop in bad data ends.
    Nobody manages themselves: a manager's own discount goes to their manager (or an admin).
    """
    seen: set[uuid.UUID] = set()
    current = session.get(User, user_id) if user_id else None
    while current is not None and current.manager_id is not None:
        if current.manager_id == manager_id:
            return True
        if current.manager_id in seen:
            return False
        seen.add(current.manager_id)
        current = session.get(User, current.manager_id)
    return False


def may_decide(session: Session, user: User | None, quote: Quote) -> bool:
    """Whether ``user`` may approve or decline ``quote``'s discount (what :func:`approve`
    checks): an active admin, or an active manager above the quote's owner."""
    if not can_approve(user):
        return False
    assert user is not None
    return user.role == Role.ADMIN or manages(session, user.id, quote.owner_id)


def _approver(session: Session, approver_id: uuid.UUID | None, quote: Quote) -> User:
    """The approver, if they may decide ``quote``: an admin, or a manager above its owner."""
    approver = session.get(User, approver_id) if approver_id else None
    if not can_approve(approver):
        raise ValidationError("approver", "only a manager can approve or decline a discount")
    assert approver is not None
    if not may_decide(session, approver, quote):
        raise ValidationError(
            "approver",
            "only the quote owner's manager (or a manager above them) or an admin can decide "
            "this discount",
        )
    return approver


def approve(
    *,
    session: Session,
    quote_id: uuid.UUID,
    approver_id: uuid.UUID | None,
    now: datetime | None = None,
) -> SendOutcome:
    """A manager approves a quote waiting for approval; it is released (sent) at once."""
    now = now or utcnow()
    quote = _quote(session, quote_id)
    approver = _approver(session, approver_id, quote)
    quote_service.require_current(quote)
    if quote.status != QuoteStatus.PENDING_APPROVAL:
        raise ValidationError("status", f"{quote.number} is not waiting for approval")
    discount = quote_max_discount(session=session, quote_id=quote_id)
    _note(
        session,
        quote,
        user_id=approver.id,
        subject=f"{APPROVED_PREFIX}: {discount.normalize():f} % on {quote.number}",
        text=f"Approved by {approver.full_name or approver.username} at {now.isoformat()}.",
        now=now,
    )
    # The send rules (checks, stamps) are the quote service's; release_approved is the one
    # path from pending to sent, and this is its only caller.
    quote_service.release_approved(session=session, quote_id=quote_id, now=now)
    return SendOutcome(quote.id, QuoteStatus.SENT, discount, None)


def decline(
    *,
    session: Session,
    quote_id: uuid.UUID,
    approver_id: uuid.UUID | None,
    reason: str,
    now: datetime | None = None,
) -> None:
    """A manager declines the discount: the quote goes back to draft with the reason noted."""
    now = now or utcnow()
    quote = _quote(session, quote_id)
    approver = _approver(session, approver_id, quote)
    if quote.status != QuoteStatus.PENDING_APPROVAL:
        raise ValidationError("status", f"{quote.number} is not waiting for approval")
    if not reason.strip():
        raise ValidationError("reason", "say why the discount is declined")
    _note(
        session,
        quote,
        user_id=approver.id,
        subject=f"{DECLINED_PREFIX} on {quote.number}",
        text=reason.strip(),
        now=now,
    )
    quote.status = QuoteStatus.DRAFT
    session.flush()


def withdraw(
    *,
    session: Session,
    quote_id: uuid.UUID,
    user_id: uuid.UUID | None,
    now: datetime | None = None,
) -> None:
    """The rep takes a quote back from approval (to change the discount): back to draft, noted."""
    now = now or utcnow()
    quote = _quote(session, quote_id)
    if quote.status != QuoteStatus.PENDING_APPROVAL:
        raise ValidationError("status", f"{quote.number} is not waiting for approval")
    _note(
        session,
        quote,
        user_id=user_id,
        subject=f"{WITHDRAWN_PREFIX} on {quote.number}",
        text="",
        now=now,
    )
    quote.status = QuoteStatus.DRAFT
    session.flush()


def approval_history(*, session: Session, quote_id: uuid.UUID) -> list[str]:
    """The approval notes of a quote's number (every revision), oldest first, as display lines."""
    quote = _quote(session, quote_id)
    revision_ids = select(Quote.id).where(Quote.number == quote.number)
    notes = session.scalars(
        select(Activity)
        .where(
            Activity.quote_id.in_(revision_ids),
            Activity.deleted.is_(False),
            Activity.kind == ActivityKind.NOTE,
        )
        .order_by(Activity.created_at)
    )
    prefixes = (APPROVED_PREFIX, REQUESTED_PREFIX, DECLINED_PREFIX, WITHDRAWN_PREFIX)
    lines = []
    for note in notes:
        if not note.subject.startswith(prefixes):
            continue
        when = (note.completed_at or note.created_at).strftime("%Y-%m-%d %H:%M")
        detail = f" — {note.description}" if note.description else ""
        lines.append(f"{when}  {note.subject}{detail}")
    return lines


def pending_for(*, session: Session, manager_id: uuid.UUID) -> list[uuid.UUID]:
    """Current quotes waiting for approval that ``manager_id`` may decide, oldest first.

    A manager sees those of everyone below them in the reporting line (the quotes
    :func:`approve` lets them decide; not their own); an admin sees all.
    """
    manager = session.get(User, manager_id)
    if not can_approve(manager):
        return []
    assert manager is not None
    rows = session.execute(
        select(Quote.id, Quote.owner_id)
        .where(
            Quote.status == QuoteStatus.PENDING_APPROVAL,
            Quote.deleted.is_(False),
            Quote.is_current.is_(True),
        )
        .order_by(Quote.updated_at, Quote.id)
    ).all()
    if manager.role == Role.ADMIN:
        return [quote_id for quote_id, _owner in rows]
    # Few quotes wait for approval at a time, so walking each owner's reporting line is cheap.
    return [quote_id for quote_id, owner in rows if manages(session, manager_id, owner)]
