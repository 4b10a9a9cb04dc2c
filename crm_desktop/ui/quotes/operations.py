"""One function per user action on quotes, run on the store worker (Anki's ``operations``).

Each function opens its own transaction on the store, calls the domain services
(:mod:`crm_desktop.services.quotes` for arithmetic, revisions and status;
:mod:`crm_desktop.services.quote_approval` for discounts; :mod:`crm_desktop.services.catalog`
for prices), commits, and returns plain data from :mod:`.draft`. No Qt here: these are called
through ``TaskRunner.submit`` and their results are delivered on the UI thread.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from crm_desktop.config import Profile
from crm_desktop.models import (
    Account,
    AccountContact,
    Contact,
    Opportunity,
    OpportunityContact,
    Price,
    Product,
    Quote,
    SalesOrder,
    SalesOrderLine,
    User,
)
from crm_desktop.models.enums import QuoteStatus
from crm_desktop.printing.quote_data import (
    QuoteDocument,
    QuoteDocumentLine,
    load_quote_document_from_settings,
    numbered_lines,
)
from crm_desktop.services import catalog, quote_approval
from crm_desktop.services import quotes as quote_service
from crm_desktop.services.errors import NotFound, ValidationError
from crm_desktop.store import Store
from crm_desktop.store.search import search
from crm_desktop.ui.quotes.draft import (
    ApprovalInfo,
    EditorData,
    LineDraft,
    OrderRow,
    QuoteHeader,
    RevisionRow,
)

#: Days a new quote stays valid unless the salesperson changes it.
DEFAULT_VALIDITY_DAYS = 30
DEFAULT_TERMS = (
    "Payment within 30 days of invoice, net.\nDelivery ex works; prices exclude shipping."
)


@dataclass(frozen=True)
class ContactChoice:
    """A contact the quote can be addressed to."""

    id: uuid.UUID
    name: str
    email: str


@dataclass(frozen=True)
class AccountChoice:
    """An account found by the standalone editor's customer search."""

    id: uuid.UUID
    name: str


@dataclass(frozen=True)
class SaveRequest:
    """What the editor asks to store: the header fields and the lines in display order.

    ``removed_line_ids`` are stored lines the user deleted. A header with ``id`` None creates
    revision 1 of a new quote.
    """

    header: QuoteHeader
    lines: tuple[LineDraft, ...]
    removed_line_ids: tuple[uuid.UUID, ...] = ()


def _threshold(profile: Profile) -> Decimal | None:
    return quote_approval.parse_threshold(profile.settings().get(quote_approval.THRESHOLD_SETTING))


def _contacts(session: Session, account_id: uuid.UUID | None) -> list[ContactChoice]:
    if account_id is None:
        return []
    rows = session.execute(
        select(Contact, AccountContact.is_primary)
        .join(AccountContact, AccountContact.contact_id == Contact.id)
        .where(
            AccountContact.account_id == account_id,
            AccountContact.deleted.is_(False),
            Contact.deleted.is_(False),
        )
        .order_by(AccountContact.is_primary.desc(), Contact.full_name)
    )
    return [ContactChoice(c.id, c.full_name, c.email or "") for c, _primary in rows]


def load_contacts(store: Store, account_id: uuid.UUID | None) -> list[ContactChoice]:
    """Contacts of an account, primary first."""
    with store.sessions() as session:
        return _contacts(session, account_id)


def find_accounts(store: Store, text: str) -> list[AccountChoice]:
    """Accounts matching ``text`` through the full-text index (Latin and CJK)."""
    with store.sessions() as session:
        hits = search(session, text, limit=20, entities=["account"])
        return [AccountChoice(hit.id, hit.title) for hit in hits]


def _header(session: Session, quote: Quote) -> QuoteHeader:
    opportunity = session.get(Opportunity, quote.opportunity_id) if quote.opportunity_id else None
    account = session.get(Account, quote.account_id) if quote.account_id else None
    contact = session.get(Contact, quote.contact_id) if quote.contact_id else None
    return QuoteHeader(
        id=quote.id,
        number=quote.number,
        revision=quote.revision,
        status=str(quote.status),
        frozen=quote.frozen,
        is_current=quote.is_current,
        opportunity_id=quote.opportunity_id,
        opportunity_name=opportunity.name if opportunity else "",
        account_id=quote.account_id,
        account_name=account.name if account else "",
        contact_id=quote.contact_id,
        contact_name=contact.full_name if contact else "",
        contact_email=(contact.email or "") if contact else "",
        owner_id=quote.owner_id,
        price_list_id=quote.price_list_id,
        currency=quote.currency,
        valid_until=quote.valid_until,
        discount_percent=quote.discount_percent,
        terms=quote.terms or "",
        notes=quote.notes or "",
        total=quote.total,
        sent_at=quote.sent_at,
        decided_at=quote.decided_at,
    )


def _lines(session: Session, quote: Quote) -> tuple[LineDraft, ...]:
    list_prices: dict[uuid.UUID, Decimal] = {}
    if quote.price_list_id is not None:
        list_prices = {
            row[0]: row[1]
            for row in session.execute(
                select(Price.product_id, Price.unit_price).where(
                    Price.price_list_id == quote.price_list_id, Price.deleted.is_(False)
                )
            )
        }
    rows = quote_service.line_rows(session, quote.id)
    return tuple(
        LineDraft(
            line_id=line.id,
            product_id=line.product_id,
            code=code or "",
            description=line.description,
            unit=unit or "",
            quantity=line.quantity,
            unit_price=line.unit_price,
            discount_percent=line.discount_percent,
            tax_rate=line.tax_rate,
            list_price=list_prices.get(line.product_id) if line.product_id else None,
        )
        for line, code, unit in rows
    )


def _revisions(session: Session, number: str) -> tuple[RevisionRow, ...]:
    quotes = session.scalars(
        select(Quote)
        .where(Quote.number == number, Quote.deleted.is_(False))
        .order_by(Quote.revision.desc())
    )
    return tuple(
        RevisionRow(
            q.id, q.revision, str(q.status), q.total, q.currency, q.created_at, q.is_current
        )
        for q in quotes
    )


def _order_row(order: SalesOrder, quote_number: str | None) -> OrderRow:
    return OrderRow(
        id=order.id,
        number=order.number,
        status=str(order.status),
        ordered_on=order.ordered_on,
        currency=order.currency,
        total=order.total,
        quote_id=order.quote_id,
        quote_number=quote_number or "",
        account_id=order.account_id,
    )


def _order_row_for(session: Session, order: SalesOrder) -> OrderRow:
    number = session.scalar(select(Quote.number).where(Quote.id == order.quote_id))
    return _order_row(order, number)


def _approval(
    session: Session, quote: Quote | None, user_id: uuid.UUID | None, threshold: Decimal | None
) -> ApprovalInfo:
    user = session.get(User, user_id) if user_id else None
    if quote is None:
        return ApprovalInfo(threshold, False, False, quote_approval.can_approve(user))
    discount = quote_approval.quote_max_discount(session=session, quote_id=quote.id)
    return ApprovalInfo(
        threshold=threshold,
        needs_approval=quote_approval.exceeds(discount, threshold),
        pending=quote.status == QuoteStatus.PENDING_APPROVAL,
        # The approve/decline buttons show only for someone approve() will accept.
        can_approve=quote_approval.may_decide(session, user, quote),
        history=tuple(quote_approval.approval_history(session=session, quote_id=quote.id)),
    )


def _editor_data(
    session: Session, quote_id: uuid.UUID, user_id: uuid.UUID | None, threshold: Decimal | None
) -> EditorData:
    quote = session.get(Quote, quote_id)
    if quote is None or quote.deleted:
        raise NotFound(Quote, quote_id)
    order = session.scalar(
        select(SalesOrder).where(SalesOrder.quote_id == quote.id, SalesOrder.deleted.is_(False))
    )
    price_lists = tuple(catalog.list_price_lists(session=session, currency=quote.currency))
    return EditorData(
        header=_header(session, quote),
        lines=_lines(session, quote),
        revisions=_revisions(session, quote.number),
        price_lists=price_lists,
        order=_order_row_for(session, order) if order else None,
        approval=_approval(session, quote, user_id, threshold),
    )


def load_quote(
    store: Store, profile: Profile, quote_id: uuid.UUID, user_id: uuid.UUID | None
) -> EditorData:
    """Everything the editor shows for one stored revision."""
    threshold = _threshold(profile)
    with store.sessions() as session:
        return _editor_data(session, quote_id, user_id, threshold)


def new_quote(
    store: Store,
    profile: Profile,
    *,
    opportunity_id: uuid.UUID | None,
    account_id: uuid.UUID | None,
    user_id: uuid.UUID | None,
    today: date | None = None,
) -> EditorData:
    """An unsaved draft for an opportunity (or an account, or nobody yet): defaults filled in.

    The price list defaults to one in force today in the opportunity's currency.
    """
    today = today or date.today()
    threshold = _threshold(profile)
    with store.sessions() as session:
        opportunity = session.get(Opportunity, opportunity_id) if opportunity_id else None
        if opportunity_id is not None and (opportunity is None or opportunity.deleted):
            raise NotFound(Opportunity, opportunity_id)
        if opportunity is not None:
            account_id = opportunity.account_id
        account = session.get(Account, account_id) if account_id else None
        currency = opportunity.currency if opportunity else "EUR"
        lists = catalog.list_price_lists(session=session, valid_on=today)
        chosen = next((p for p in lists if p.currency == currency), None) or (
            lists[0] if lists else None
        )
        contact = _preferred_contact(session, opportunity, account_id)
        header = QuoteHeader(
            id=None,
            number="",
            revision=1,
            status=str(QuoteStatus.DRAFT),
            frozen=False,
            is_current=True,
            opportunity_id=opportunity.id if opportunity else None,
            opportunity_name=opportunity.name if opportunity else "",
            account_id=account.id if account else None,
            account_name=account.name if account else "",
            contact_id=contact.id if contact else None,
            contact_name=contact.name if contact else "",
            contact_email=contact.email if contact else "",
            owner_id=(opportunity.owner_id if opportunity else None) or user_id,
            price_list_id=chosen.id if chosen else None,
            currency=chosen.currency if chosen else currency,
            valid_until=today + timedelta(days=DEFAULT_VALIDITY_DAYS),
            discount_percent=Decimal(0),
            terms=DEFAULT_TERMS,
            notes="",
        )
        return EditorData(
            header=header,
            lines=(),
            price_lists=tuple(lists),
            approval=_approval(session, None, user_id, threshold),
        )


def _preferred_contact(
    session: Session, opportunity: Opportunity | None, account_id: uuid.UUID | None
) -> ContactChoice | None:
    # The buying centre's decision maker (or anyone in it) is who a quote is addressed to;
    # failing that, the account's primary contact.
    if opportunity is not None:
        contact = session.scalar(
            select(Contact)
            .join(OpportunityContact, OpportunityContact.contact_id == Contact.id)
            .where(
                OpportunityContact.opportunity_id == opportunity.id,
                OpportunityContact.deleted.is_(False),
            )
            .order_by((OpportunityContact.role == "decision_maker").desc())
            .limit(1)
        )
        if contact is not None:
            return ContactChoice(contact.id, contact.full_name, contact.email or "")
    contacts = _contacts(session, account_id)
    return contacts[0] if contacts else None


def pick_products(
    store: Store, text: str, price_list_id: uuid.UUID | None
) -> list[catalog.ProductPick]:
    """Products for the editor's search-as-you-type picker."""
    with store.sessions() as session:
        return catalog.pick_products(session=session, search=text, price_list_id=price_list_id)


def _save(session: Session, request: SaveRequest) -> uuid.UUID:
    header = request.header
    if header.id is None:
        created = quote_service.create_quote(
            session=session,
            opportunity_id=header.opportunity_id,
            account_id=header.account_id,
            contact_id=header.contact_id,
            price_list_id=header.price_list_id,
            currency=header.currency,
            valid_until=header.valid_until,
            discount_percent=header.discount_percent,
            owner_id=header.owner_id,
            terms=header.terms,
            notes=header.notes,
        )
        quote_id = created.quote_id
    else:
        quote_id = header.id
        quote_service.update_quote(
            session=session,
            quote_id=quote_id,
            discount_percent=header.discount_percent,
            valid_until=header.valid_until,
            contact_id=header.contact_id,
            terms=header.terms,
            notes=header.notes,
        )
    # One call for all lines: validated together, written together, totals computed once.
    quote_service.replace_lines(
        session=session,
        quote_id=quote_id,
        lines=[
            quote_service.LineInput(line_id=line.line_id, **quote_service.line_values(line))
            for line in request.lines
        ],
        removed_ids=request.removed_line_ids,
    )
    return quote_id


def save_quote(
    store: Store, profile: Profile, request: SaveRequest, user_id: uuid.UUID | None
) -> EditorData:
    """Store the editor's draft in one transaction (all lines or none) and reload it."""
    threshold = _threshold(profile)
    with store.sessions.begin() as session:
        quote_id = _save(session, request)
    with store.sessions() as session:
        return _editor_data(session, quote_id, user_id, threshold)


def send_quote(
    store: Store,
    profile: Profile,
    request: SaveRequest | None,
    quote_id: uuid.UUID | None,
    user_id: uuid.UUID | None,
) -> EditorData:
    """Save pending edits and send, or ask for approval when the discount is above the threshold.

    Saving and sending are one transaction: a quote is never marked sent with edits left out.
    """
    threshold = _threshold(profile)
    with store.sessions.begin() as session:
        if request is not None:
            quote_id = _save(session, request)
        if quote_id is None:
            raise ValidationError("quote", "save the quote first")
        quote_approval.send_or_request_approval(
            session=session, quote_id=quote_id, user_id=user_id, threshold=threshold
        )
    with store.sessions() as session:
        return _editor_data(session, quote_id, user_id, threshold)


def _transition(
    store: Store,
    profile: Profile,
    user_id: uuid.UUID | None,
    quote_id: uuid.UUID,
    action: str,
    reason: str = "",
    today: date | None = None,
) -> EditorData:
    threshold = _threshold(profile)
    with store.sessions.begin() as session:
        target = quote_id
        if action == "accept":
            # The user's local date: expiry runs on it too, so a quote valid "through today"
            # is acceptable all of the user's today, not until UTC midnight.
            quote_service.accept_quote(
                session=session, quote_id=quote_id, today=today or date.today()
            )
        elif action == "reject":
            quote_service.reject_quote(session=session, quote_id=quote_id)
        elif action == "new_revision":
            target = quote_service.new_revision(session=session, quote_id=quote_id).quote_id
        elif action == "approve":
            quote_approval.approve(session=session, quote_id=quote_id, approver_id=user_id)
        elif action == "withdraw":
            quote_approval.withdraw(session=session, quote_id=quote_id, user_id=user_id)
        elif action == "decline":
            quote_approval.decline(
                session=session, quote_id=quote_id, approver_id=user_id, reason=reason
            )
        else:  # pragma: no cover - the editor only passes the names above
            raise ValueError(action)
    with store.sessions() as session:
        return _editor_data(session, target, user_id, threshold)


def accept(
    store: Store,
    profile: Profile,
    user_id: uuid.UUID | None,
    quote_id: uuid.UUID,
    today: date | None = None,
) -> EditorData:
    """The customer accepted: order created, opportunity won (the quote service's rules).

    ``today`` defaults to the local date of this machine, which is the user's.
    """
    return _transition(store, profile, user_id, quote_id, "accept", today=today)


def reject(
    store: Store, profile: Profile, user_id: uuid.UUID | None, quote_id: uuid.UUID
) -> EditorData:
    """The customer said no."""
    return _transition(store, profile, user_id, quote_id, "reject")


def new_revision(
    store: Store, profile: Profile, user_id: uuid.UUID | None, quote_id: uuid.UUID
) -> EditorData:
    """Copy the quote into a new draft revision; the old one is frozen. Returns the new one."""
    return _transition(store, profile, user_id, quote_id, "new_revision")


def approve(
    store: Store, profile: Profile, user_id: uuid.UUID | None, quote_id: uuid.UUID
) -> EditorData:
    """A manager approves the discount (the quote is released as sent)."""
    return _transition(store, profile, user_id, quote_id, "approve")


def withdraw(
    store: Store, profile: Profile, user_id: uuid.UUID | None, quote_id: uuid.UUID
) -> EditorData:
    """The rep takes the quote back from approval (back to draft, to change it)."""
    return _transition(store, profile, user_id, quote_id, "withdraw")


def decline(
    store: Store, profile: Profile, user_id: uuid.UUID | None, quote_id: uuid.UUID, reason: str
) -> EditorData:
    """A manager declines the discount (back to draft)."""
    return _transition(store, profile, user_id, quote_id, "decline", reason)


def quote_document(store: Store, profile: Profile, quote_id: uuid.UUID) -> QuoteDocument:
    """The quote gathered for the PDF, with the company name and logo from the settings."""
    settings = profile.settings()
    with store.sessions() as session:
        return load_quote_document_from_settings(
            session=session, quote_id=quote_id, settings=settings
        )


def expire_due_quotes(store: Store, today: date | None = None) -> tuple[uuid.UUID, ...]:
    """Mark quotes past their valid-until date as expired; returns their ids."""
    with store.sessions.begin() as session:
        return quote_service.expire_quotes(session=session, today=today or date.today()).quote_ids


def orders_for_account(store: Store, account_id: uuid.UUID) -> list[OrderRow]:
    """Sales orders of an account, newest first (for the account page)."""
    with store.sessions() as session:
        # One query with the quote numbers joined in (it was one extra query per order).
        rows = session.execute(
            select(SalesOrder, Quote.number)
            .outerjoin(Quote, Quote.id == SalesOrder.quote_id)
            .where(SalesOrder.account_id == account_id, SalesOrder.deleted.is_(False))
            .order_by(SalesOrder.ordered_on.desc(), SalesOrder.created_at.desc())
        )
        return [_order_row(order, number) for order, number in rows]


#: One line of a sales order: the same columns as a printed quote line.
OrderLineRow = QuoteDocumentLine


@dataclass(frozen=True)
class OrderDetail:
    """A sales order with its account, opportunity and lines, for the order page."""

    order: OrderRow
    account_name: str
    opportunity_id: uuid.UUID | None
    opportunity_name: str
    lines: tuple[OrderLineRow, ...]


def load_order(store: Store, order_id: uuid.UUID) -> OrderDetail:
    """A sales order for its page; :class:`NotFound` if missing or deleted."""
    with store.sessions() as session:
        order = session.get(SalesOrder, order_id)
        if order is None or order.deleted:
            raise NotFound(SalesOrder, order_id)
        account = session.get(Account, order.account_id) if order.account_id else None
        opportunity = (
            session.get(Opportunity, order.opportunity_id) if order.opportunity_id else None
        )
        rows = session.execute(
            select(SalesOrderLine, Product.code, Product.unit)
            .outerjoin(Product, Product.id == SalesOrderLine.product_id)
            .where(SalesOrderLine.order_id == order.id, SalesOrderLine.deleted.is_(False))
            .order_by(SalesOrderLine.position, SalesOrderLine.created_at)
        )
        lines = numbered_lines(rows)
        return OrderDetail(
            order=_order_row_for(session, order),
            account_name=account.name if account else "",
            opportunity_id=order.opportunity_id,
            opportunity_name=opportunity.name if opportunity else "",
            lines=lines,
        )


def quote_rows(
    store: Store,
    *,
    status: str | None,
    text: str,
    pending_for: uuid.UUID | None = None,
    opportunity_id: uuid.UUID | None = None,
) -> list[QuoteListRow]:
    """Current quote revisions for the quotes list, newest first (at most 2,000)."""
    with store.sessions() as session:
        stmt = (
            select(Quote, Account.name, Opportunity.name)
            .outerjoin(Account, Account.id == Quote.account_id)
            .outerjoin(Opportunity, Opportunity.id == Quote.opportunity_id)
            .where(Quote.deleted.is_(False), Quote.is_current.is_(True))
        )
        if status:
            stmt = stmt.where(Quote.status == status)
        if opportunity_id is not None:
            stmt = stmt.where(Quote.opportunity_id == opportunity_id)
        if pending_for is not None:
            ids = quote_approval.pending_for(session=session, manager_id=pending_for)
            stmt = stmt.where(Quote.id.in_(ids))
        for word in text.split():
            pattern = f"%{word.lower()}%"
            stmt = stmt.where(
                (Quote.number.ilike(pattern))
                | (Account.name.ilike(pattern))
                | (Opportunity.name.ilike(pattern))
            )
        rows = session.execute(
            stmt.order_by(Quote.created_at.desc(), Quote.number.desc()).limit(2000)
        )
        return [
            QuoteListRow(
                id=q.id,
                number=q.number,
                revision=q.revision,
                status=str(q.status),
                account_name=account or "",
                opportunity_name=opportunity or "",
                valid_until=q.valid_until,
                currency=q.currency,
                total=q.total,
            )
            for q, account, opportunity in rows
        ]


@dataclass(frozen=True)
class QuoteListRow:
    """One current quote revision in the quotes list."""

    id: uuid.UUID
    number: str
    revision: int
    status: str
    account_name: str
    opportunity_name: str
    valid_until: date | None
    currency: str
    total: Decimal


def product_lines_for(picks: Sequence[catalog.ProductPick]) -> list[LineDraft]:
    """New (unsaved) lines for picked products: quantity 1, list price, product's tax rate."""
    return [
        LineDraft(
            line_id=None,
            product_id=pick.id,
            code=pick.code,
            description=pick.name,
            unit=pick.unit,
            quantity=Decimal(1),
            unit_price=pick.unit_price if pick.unit_price is not None else Decimal(0),
            discount_percent=Decimal(0),
            tax_rate=pick.default_tax_rate,
            list_price=pick.unit_price,
        )
        for pick in picks
    ]
