"""A quote gathered into plain data for printing and e-mailing (no Qt here).

:func:`load_quote_document` reads one quote revision with its customer, contact, owner and
lines inside the caller's session and returns frozen dataclasses, so the PDF can be laid out
on any thread (or in the CLI) without touching the database again.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from crm_desktop.config import Settings
from crm_desktop.models import Account, Address, Contact, Quote, User
from crm_desktop.services import quotes as quote_service
from crm_desktop.services.errors import NotFound
from crm_desktop.services.money import minor_units, round_money

DEFAULT_COMPANY_NAME = "Field CRM"


@dataclass(frozen=True)
class QuoteDocumentLine:
    """One printed line."""

    position: int
    code: str
    description: str
    quantity: Decimal
    unit: str
    unit_price: Decimal
    discount_percent: Decimal
    tax_rate: Decimal
    net_amount: Decimal


class PricedLine(Protocol):
    """What a quote line and a sales-order line both carry for display."""

    @property
    def description(self) -> str: ...
    @property
    def quantity(self) -> Decimal: ...
    @property
    def unit_price(self) -> Decimal: ...
    @property
    def discount_percent(self) -> Decimal: ...
    @property
    def tax_rate(self) -> Decimal: ...
    @property
    def net_amount(self) -> Decimal: ...


def numbered_lines(
    rows: Iterable[tuple[PricedLine, str | None, str | None]],
) -> tuple[QuoteDocumentLine, ...]:
    """Lines with their product's code and unit, numbered from 1, as a document shows them.

    One conversion for the printed quote and the sales order page, which show the same columns.
    """
    return tuple(
        QuoteDocumentLine(
            position=index,
            code=code or "",
            description=line.description,
            quantity=line.quantity,
            unit=unit or "",
            unit_price=line.unit_price,
            discount_percent=line.discount_percent,
            tax_rate=line.tax_rate,
            net_amount=line.net_amount,
        )
        for index, (line, code, unit) in enumerate(rows, start=1)
    )


@dataclass(frozen=True)
class TaxBreakdown:
    """The tax at one rate: its taxable base (after the quote discount) and the tax."""

    rate: Decimal
    base: Decimal
    tax: Decimal


@dataclass(frozen=True)
class QuoteDocument:
    """Everything printed on a quote."""

    quote_id: uuid.UUID
    number: str
    revision: int
    status: str
    issued_on: date
    valid_until: date | None
    currency: str
    company_name: str
    company_logo: Path | None
    customer_name: str
    customer_address: tuple[str, ...]
    contact_name: str
    contact_email: str
    owner_name: str
    owner_email: str
    discount_percent: Decimal
    subtotal: Decimal
    discount_total: Decimal
    tax_total: Decimal
    total: Decimal
    terms: str
    notes: str
    lines: tuple[QuoteDocumentLine, ...] = field(default_factory=tuple)
    tax_breakdown: tuple[TaxBreakdown, ...] = field(default_factory=tuple)

    @property
    def title(self) -> str:
        """``Q-2026-0042`` or ``Q-2026-0042 rev. 2`` (the first revision carries no suffix)."""
        return self.number if self.revision <= 1 else f"{self.number} rev. {self.revision}"


def format_amount(amount: Decimal, currency: str) -> str:
    """``amount`` rounded to the currency's minor unit with thousands separators: ``1,234.50``.

    Deliberately locale-independent: a quote is a document for the customer, and the digits
    must match what every other copy of it (the server's, a colleague's) prints.
    """
    places = minor_units(currency)
    return f"{round_money(amount, currency):,.{places}f}"


def format_number(value: Decimal) -> str:
    """A quantity or percentage without trailing zeros: ``2``, ``1.5``, ``7.25``."""
    # normalize() drops trailing zeros; the "f" format then undoes its exponent form (1E+2).
    return format(value.normalize(), "f")


def _address_lines(address: Address | None) -> tuple[str, ...]:
    if address is None:
        return ()
    city_line = " ".join(p for p in (address.postal_code, address.city) if p)
    parts = (address.street, city_line, address.region, address.country)
    return tuple(p for p in parts if p)


def load_quote_document(
    *,
    session: Session,
    quote_id: uuid.UUID,
    company_name: str | None = None,
    company_logo: str | Path | None = None,
    today: date | None = None,
) -> QuoteDocument:
    """Gather one quote revision for printing; :class:`NotFound` if it is missing or deleted.

    ``company_logo`` is a path to an image file; one that does not exist is ignored (a logo
    set on another machine must not stop the salesperson from printing).
    """
    quote = session.get(Quote, quote_id)
    if quote is None or quote.deleted:
        raise NotFound(Quote, quote_id)
    account = session.get(Account, quote.account_id) if quote.account_id else None
    contact = session.get(Contact, quote.contact_id) if quote.contact_id else None
    owner = session.get(User, quote.owner_id) if quote.owner_id else None
    address = None
    if account is not None:
        addresses = list(
            session.scalars(
                select(Address).where(Address.account_id == account.id, Address.deleted.is_(False))
            )
        )
        # The billing address is the one a quote goes to; any address beats none.
        address = next((a for a in addresses if a.label == "billing"), None) or (
            addresses[0] if addresses else None
        )
    rows = quote_service.line_rows(session, quote.id)
    # The per-rate breakdown is the quote service's arithmetic (it changes nothing here).
    totals = quote_service.compute_totals(quote, [row[0] for row in rows])
    lines = numbered_lines(rows)
    logo = Path(company_logo).expanduser() if company_logo else None
    if logo is not None and not logo.is_file():
        logo = None
    issued = quote.sent_at.date() if quote.sent_at else (today or date.today())
    customer = account.name if account else (contact.full_name if contact else "")
    return QuoteDocument(
        quote_id=quote.id,
        number=quote.number,
        revision=quote.revision,
        status=str(quote.status),
        issued_on=issued,
        valid_until=quote.valid_until,
        currency=quote.currency,
        company_name=company_name or DEFAULT_COMPANY_NAME,
        company_logo=logo,
        customer_name=customer,
        customer_address=_address_lines(address),
        contact_name=contact.full_name if contact else "",
        contact_email=(contact.email or "") if contact else "",
        owner_name=(owner.full_name or owner.username) if owner else "",
        owner_email=(owner.email or "") if owner else "",
        discount_percent=quote.discount_percent,
        subtotal=quote.subtotal,
        discount_total=quote.discount_total,
        tax_total=quote.tax_total,
        total=quote.total,
        terms=quote.terms or "",
        notes=quote.notes or "",
        lines=lines,
        tax_breakdown=tuple(TaxBreakdown(t.rate, t.base, t.tax) for t in totals.tax_by_rate),
    )


def load_quote_document_from_settings(
    *, session: Session, quote_id: uuid.UUID, settings: Settings, today: date | None = None
) -> QuoteDocument:
    """:func:`load_quote_document` with company name and logo taken from the profile's settings."""
    return load_quote_document(
        session=session,
        quote_id=quote_id,
        company_name=settings.get("company_name"),
        company_logo=settings.get("company_logo"),
        today=today,
    )


def find_current_quote_id(*, session: Session, number: str) -> uuid.UUID:
    """The id of the current (newest) revision of quote ``number``; :class:`NotFound` if none."""
    quote_id = session.scalar(
        select(Quote.id)
        .where(Quote.number == number, Quote.deleted.is_(False))
        .order_by(Quote.is_current.desc(), Quote.revision.desc())
        .limit(1)
    )
    if quote_id is None:
        raise NotFound(Quote, number)
    return quote_id
