"""Plain data the quote screens work with, and the live totals of a quote being edited.

The editor keeps the quote it edits as these frozen dataclasses and computes the totals on
every keystroke with :func:`crm_desktop.services.quotes.compute_totals`, the arithmetic that
Save stores: it is pure arithmetic on (transient, never-added) ORM objects, so it runs on the UI
thread without touching the database, and what the editor shows is exactly what Save stores.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

from crm_desktop.models import Quote, QuoteLine
from crm_desktop.services import quotes as quote_service
from crm_desktop.services.catalog import PriceListRow
from crm_desktop.services.quotes import QuoteTotals


@dataclass(frozen=True)
class LineDraft:
    """One quote line as the editor holds it. ``list_price`` is the price-list price (None if
    the product is not on the list), so an overridden unit price can be shown as such."""

    line_id: uuid.UUID | None
    product_id: uuid.UUID | None
    code: str
    description: str
    unit: str
    quantity: Decimal
    unit_price: Decimal
    discount_percent: Decimal
    tax_rate: Decimal
    list_price: Decimal | None = None

    @property
    def price_overridden(self) -> bool:
        """Whether the unit price differs from the price list's."""
        return self.list_price is not None and self.unit_price != self.list_price


@dataclass(frozen=True)
class QuoteHeader:
    """A quote revision's fields (everything but its lines)."""

    id: uuid.UUID | None
    number: str
    revision: int
    status: str
    frozen: bool
    is_current: bool
    opportunity_id: uuid.UUID | None
    opportunity_name: str
    account_id: uuid.UUID | None
    account_name: str
    contact_id: uuid.UUID | None
    contact_name: str
    contact_email: str
    owner_id: uuid.UUID | None
    price_list_id: uuid.UUID | None
    currency: str
    valid_until: date | None
    discount_percent: Decimal
    terms: str
    notes: str
    total: Decimal = Decimal(0)
    sent_at: datetime | None = None
    decided_at: datetime | None = None

    @property
    def title(self) -> str:
        """``Q-2026-0001 rev. 2``, or ``New quote`` before the first save."""
        if self.id is None or not self.number:
            return "New quote"
        return self.number if self.revision <= 1 else f"{self.number} rev. {self.revision}"


@dataclass(frozen=True)
class RevisionRow:
    """One revision in the history list."""

    id: uuid.UUID
    revision: int
    status: str
    total: Decimal
    currency: str
    created_at: datetime
    is_current: bool


@dataclass(frozen=True)
class OrderRow:
    """A sales order, as the quote editor and the account page show it."""

    id: uuid.UUID
    number: str
    status: str
    ordered_on: date
    currency: str
    total: Decimal
    quote_id: uuid.UUID
    quote_number: str
    account_id: uuid.UUID | None


@dataclass(frozen=True)
class ApprovalInfo:
    """Approval state of a quote for the current user."""

    threshold: Decimal | None
    needs_approval: bool
    pending: bool
    can_approve: bool
    history: tuple[str, ...] = ()


@dataclass(frozen=True)
class EditorData:
    """Everything the editor shows for one quote revision (loaded in one worker task)."""

    header: QuoteHeader
    lines: tuple[LineDraft, ...]
    revisions: tuple[RevisionRow, ...] = ()
    price_lists: tuple[PriceListRow, ...] = ()
    order: OrderRow | None = None
    approval: ApprovalInfo = field(default_factory=lambda: ApprovalInfo(None, False, False, False))

    @property
    def editable(self) -> bool:
        """Only a current, unfrozen draft can be changed; anything else was shown to someone."""
        return self.header.status == "draft" and not self.header.frozen and self.header.is_current


def compute_totals(
    *, currency: str, discount_percent: Decimal, lines: Sequence[LineDraft]
) -> QuoteTotals:
    """The totals Save would store for these lines, computed by the quote service's arithmetic."""
    quote = Quote(currency=currency, discount_percent=discount_percent)
    orm_lines = [
        QuoteLine(
            quantity=line.quantity,
            unit_price=line.unit_price,
            discount_percent=line.discount_percent,
            tax_rate=line.tax_rate,
        )
        for line in lines
    ]
    return quote_service.compute_totals(quote, orm_lines)
