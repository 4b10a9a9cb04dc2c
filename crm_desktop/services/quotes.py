"""Quotes: arithmetic, revisions, and what happens when a customer accepts one.

Arithmetic (all :class:`~decimal.Decimal`, never float; rounding half-up, see :mod:`.money`):

1. Each line's ``net_amount`` = quantity × unit price × (1 − line discount %), rounded to the
   currency's minor unit. That is the figure printed on the line.
2. ``subtotal`` = the sum of the line nets.
3. The quote discount applies **before tax**: ``discount_total`` = subtotal × quote discount %,
   rounded. Tax is owed on what the customer actually pays, so a discount lowers the tax base
   (that is how VAT, GST and sales tax work); discounting after tax would charge tax on money
   never received.
4. Tax: each line carries its own rate, and tax is computed **per rate** over the whole quote,
   as EN 16931 (European e-invoicing) lays out the VAT breakdown: for each rate, the taxable
   base = the sum of that rate's line nets less its share of ``discount_total``; the rate's
   tax = base × rate, rounded; ``tax_total`` is the sum over rates. The rounded
   ``discount_total`` is spread over the rates in proportion to their nets, each share
   rounded, and the rounding remainder goes to the largest base, so the bases always add up
   to ``subtotal − discount_total`` (rounding each base on its own did not: three 0.01 lines
   at 7, 10 and 20 % with a 50 % quote discount gave bases of 0.01 each against a net of
   0.01). Rounding tax on
   every line instead would inflate it on long quotes of small lines (1,000 lines each taxed
   0.018 would charge 20.00 instead of 18.00).
5. ``total`` = subtotal − discount_total + tax_total. A 100 % quote discount gives 0 to pay.

Numbers: a quote's ``number`` is derived from its id (the UUIDv7's 48-bit time and 40 of its
random bits, in Crockford base 32: ``Q-01JDX3K4ZP-7GQ2M8XA``), never from a local counter, so two
laptops quoting offline can never hand out the same number. Every revision keeps the number.

Life of a quote:

* Only ``draft`` quotes are edited. One waiting for discount approval (``pending_approval``,
  see :mod:`.quote_approval`) or ``sent`` is fixed, so changes go into a new revision
  (:func:`new_revision`), which copies the lines and freezes the old revision (``frozen``, not
  ``is_current``); a frozen revision refuses every edit and cannot be sent, accepted or rejected.
* :func:`accept_quote` (current revision, **sent**, not past ``valid_until``) creates a
  sales order with copied lines and closes the opportunity as won. The opportunity's amount
  becomes the quote's amount **net of tax** (subtotal − quote discount): tax is collected for
  the state, not earned, so pipeline, forecasts and quotas all count revenue without tax. The
  sales order's ``total`` is the quote's ``total`` *with* tax, because that is what will be
  invoiced. Only one revision of a number can ever be accepted, and an accepted quote is final.
* :func:`expire_quotes` marks current draft, pending and sent quotes whose ``valid_until`` is
  before today as expired (a quote is valid through its ``valid_until`` day).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from crm_desktop.models import (
    Account,
    Opportunity,
    Price,
    PriceList,
    Product,
    Quote,
    QuoteLine,
    SalesOrder,
    SalesOrderLine,
    new_id,
    utcnow,
)
from crm_desktop.models.enums import QuoteStatus
from crm_desktop.services.errors import NotFound, ValidationError, get_live
from crm_desktop.services.money import normalise_currency, percent_of, round_money
from crm_desktop.services.pipeline import OpportunityChanged, close_won

_HUNDRED = Decimal(100)


@dataclass(frozen=True)
class TaxLine:
    """The tax owed at one rate: its taxable base (after the quote discount) and the tax."""

    rate: Decimal
    base: Decimal
    tax: Decimal


@dataclass(frozen=True)
class QuoteTotals:
    """A quote's computed figures, all rounded to the currency's minor unit.

    ``line_nets`` follows the order of the lines given; ``tax_by_rate`` is the VAT breakdown,
    lowest rate first.
    ``net_total`` (subtotal − discount) is the revenue figure: what the opportunity is worth.
    """

    currency: str
    subtotal: Decimal
    discount_total: Decimal
    net_total: Decimal
    tax_total: Decimal
    total: Decimal
    line_nets: tuple[Decimal, ...]
    tax_by_rate: tuple[TaxLine, ...]


def line_net(line: QuoteLine, currency: str) -> Decimal:
    """A line's amount after its own discount and before tax, rounded (rule 1 above)."""
    gross = Decimal(line.quantity) * Decimal(line.unit_price)
    return round_money(gross - percent_of(gross, line.discount_percent), currency)


def compute_totals(quote: Quote, lines: Sequence[QuoteLine]) -> QuoteTotals:
    """The figures of ``quote`` with ``lines`` by the rules above, changing nothing."""
    currency = quote.currency
    quote_discount = Decimal(quote.discount_percent or 0)
    nets: list[Decimal] = []
    net_by_rate: dict[Decimal, Decimal] = {}
    for line in lines:
        net = line_net(line, currency)
        nets.append(net)
        rate = Decimal(line.tax_rate or 0).normalize()
        net_by_rate[rate] = net_by_rate.get(rate, Decimal(0)) + net

    # round_money on sums that are already exact only fixes the exponent, so an empty quote
    # shows 0.00 (or 0 for JPY) like every other amount.
    subtotal = round_money(sum(nets, Decimal(0)), currency)
    discount_total = round_money(percent_of(subtotal, quote_discount), currency)
    net_total = subtotal - discount_total
    shares = _discount_shares(net_by_rate, subtotal, discount_total, currency)
    tax_lines = []
    for rate in sorted(net_by_rate):
        base = round_money(net_by_rate[rate] - shares[rate], currency)
        tax_lines.append(
            TaxLine(rate=rate, base=base, tax=round_money(percent_of(base, rate), currency))
        )
    tax_total = round_money(sum((t.tax for t in tax_lines), Decimal(0)), currency)
    return QuoteTotals(
        currency=currency,
        subtotal=subtotal,
        discount_total=discount_total,
        net_total=net_total,
        tax_total=tax_total,
        total=net_total + tax_total,
        line_nets=tuple(nets),
        tax_by_rate=tuple(tax_lines),
    )


def _discount_shares(
    net_by_rate: dict[Decimal, Decimal],
    subtotal: Decimal,
    discount_total: Decimal,
    currency: str,
) -> dict[Decimal, Decimal]:
    """``discount_total`` split over the rates in proportion to their nets (largest remainder).

    Each share is rounded to the minor unit; what rounding left over (a few minor units at
    most) goes to the rate with the largest net, so the shares add up to ``discount_total``
    exactly and the bases to the net total.
    """
    if not net_by_rate:
        return {}
    if not subtotal:
        return dict.fromkeys(net_by_rate, Decimal(0))
    shares = {
        rate: round_money(discount_total * net / subtotal, currency)
        for rate, net in net_by_rate.items()
    }
    remainder = discount_total - sum(shares.values(), Decimal(0))
    if remainder:
        largest = max(net_by_rate, key=lambda rate: (net_by_rate[rate], rate))
        shares[largest] += remainder
    return shares


def recalculate(quote: Quote, lines: Sequence[QuoteLine]) -> QuoteTotals:
    """Set every line's ``net_amount`` and the quote's subtotal, discount, tax and total.

    Pure arithmetic on the objects given (no session, no query): pass the quote's live lines.
    """
    totals = compute_totals(quote, lines)
    for line, net in zip(lines, totals.line_nets, strict=True):
        line.net_amount = net
    quote.subtotal = totals.subtotal
    quote.discount_total = totals.discount_total
    quote.tax_total = totals.tax_total
    quote.total = totals.total
    return totals


# --- numbers ---------------------------------------------------------------------------------

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def _base32(value: int, length: int) -> str:
    chars = []
    for _ in range(length):
        chars.append(_CROCKFORD[value & 31])
        value >>= 5
    return "".join(reversed(chars))


def document_number(prefix: str, record_id: uuid.UUID) -> str:
    """A human-sized number derived from a UUIDv7: ``PREFIX-<time>-<random>``.

    The first part is the id's 48-bit millisecond timestamp, so numbers sort by creation; the
    second is 40 of its random bits, so two devices would have to create a document in the same
    millisecond *and* draw the same 40 bits to clash.
    """
    as_int = record_id.int
    return f"{prefix}-{_base32(as_int >> 80, 10)}-{_base32(as_int & (2**40 - 1), 8)}"


# --- results ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class QuoteChanged:
    """A quote revision after an action; ``line_id`` names the line an action touched."""

    quote_id: uuid.UUID
    number: str
    revision: int
    status: QuoteStatus
    is_current: bool
    frozen: bool
    totals: QuoteTotals
    line_ids: tuple[uuid.UUID, ...]
    line_id: uuid.UUID | None = None


@dataclass(frozen=True)
class QuoteAccepted:
    """An accepted quote, the sales order made from it, and the opportunity it closed as won."""

    quote: QuoteChanged
    order_id: uuid.UUID
    order_number: str
    order_total: Decimal
    opportunity: OpportunityChanged | None


@dataclass(frozen=True)
class QuotesExpired:
    """The quotes :func:`expire_quotes` marked as expired."""

    quote_ids: tuple[uuid.UUID, ...]


# --- helpers ---------------------------------------------------------------------------------

# Only drafts change. A quote waiting for discount approval is what the manager approves
# (services.quote_approval), so it is as fixed as a sent one.
_EDITABLE = frozenset({QuoteStatus.DRAFT})
# A pending quote is not sendable: only quote_approval.approve releases it (release_approved),
# after checking who approves. Otherwise anything calling send_quote would skip the manager.
_SENDABLE = frozenset({QuoteStatus.DRAFT})
_OPEN = frozenset({QuoteStatus.DRAFT, QuoteStatus.PENDING_APPROVAL, QuoteStatus.SENT})


def _decimal(field: str, value: Decimal | int | str) -> Decimal:
    if isinstance(value, float):
        # Floats cannot hold most prices exactly (0.1 is 0.1000000000000000055…).
        raise ValidationError(field, "give an exact Decimal or string, not a float")
    try:
        result = Decimal(value)
    except (InvalidOperation, ValueError, TypeError):
        raise ValidationError(field, "is not a number") from None
    if not result.is_finite():
        raise ValidationError(field, "is not a number")
    return result


def _percent(field: str, value: Decimal | int | str) -> Decimal:
    result = _decimal(field, value)
    if not 0 <= result <= 100:
        raise ValidationError(field, "must be between 0 and 100")
    return result


#: The fields a line keeps when it is copied (into a new revision, onto a sales order).
LINE_FIELDS = (
    "product_id",
    "description",
    "quantity",
    "unit_price",
    "discount_percent",
    "tax_rate",
)


def line_values(line: object, *extra: str) -> dict[str, Any]:
    """The :data:`LINE_FIELDS` of ``line`` (and the ``extra`` ones) as keyword arguments.

    One list of fields for every copy of a line, so a field added to quote lines cannot be
    forgotten in one of the copies.
    """
    return {name: getattr(line, name) for name in (*LINE_FIELDS, *extra)}


def line_rows(
    session: Session, quote_id: uuid.UUID
) -> list[tuple[QuoteLine, str | None, str | None]]:
    """A revision's live lines in display order, each with its product's code and unit."""
    return [
        (line, code, unit)
        for line, code, unit in session.execute(
            select(QuoteLine, Product.code, Product.unit)
            .outerjoin(Product, Product.id == QuoteLine.product_id)
            .where(QuoteLine.quote_id == quote_id, QuoteLine.deleted.is_(False))
            .order_by(QuoteLine.position, QuoteLine.created_at, QuoteLine.id)
        )
    ]


def _lines(session: Session, quote_id: uuid.UUID) -> list[QuoteLine]:
    return list(
        session.scalars(
            select(QuoteLine)
            .where(QuoteLine.quote_id == quote_id, QuoteLine.deleted.is_(False))
            .order_by(QuoteLine.position, QuoteLine.created_at, QuoteLine.id)
        )
    )


def _result(session: Session, quote: Quote, line_id: uuid.UUID | None = None) -> QuoteChanged:
    lines = _lines(session, quote.id)
    if quote.status in _EDITABLE and not quote.frozen:
        totals = recalculate(quote, lines)
        session.flush()
    else:
        # What was sent is what the customer saw: never rewrite a sent quote's stored figures.
        totals = _stored_totals(quote, lines)
    return QuoteChanged(
        quote_id=quote.id,
        number=quote.number,
        revision=quote.revision,
        status=quote.status,
        is_current=quote.is_current,
        frozen=quote.frozen,
        totals=totals,
        line_ids=tuple(line.id for line in lines),
        line_id=line_id,
    )


def _stored_totals(quote: Quote, lines: Sequence[QuoteLine]) -> QuoteTotals:
    computed = compute_totals(quote, lines)  # only for the breakdown by rate
    return QuoteTotals(
        currency=quote.currency,
        subtotal=quote.subtotal,
        discount_total=quote.discount_total,
        net_total=quote.subtotal - quote.discount_total,
        tax_total=quote.tax_total,
        total=quote.total,
        line_nets=tuple(line.net_amount for line in lines),
        tax_by_rate=computed.tax_by_rate,
    )


def require_current(quote: Quote) -> None:
    """Refuse a superseded (frozen or not current) revision with the usual message."""
    _require_not_frozen(quote)


def _require_not_frozen(quote: Quote) -> None:
    if quote.frozen or not quote.is_current:
        raise ValidationError(
            "quote",
            f"revision {quote.revision} of {quote.number} is frozen: it was superseded by a "
            "newer revision; work on the current one",
        )


def _require_editable(quote: Quote) -> None:
    _require_not_frozen(quote)
    if quote.status not in _EDITABLE:
        raise ValidationError(
            "status", f"a {quote.status.value} quote cannot be edited; make a new revision"
        )


def _editable_quote(session: Session, quote_id: uuid.UUID) -> Quote:
    quote = get_live(session, Quote, quote_id)
    _require_editable(quote)
    return quote


def _list_price(session: Session, quote: Quote, product_id: uuid.UUID) -> Decimal | None:
    if quote.price_list_id is None:
        return None
    return session.scalar(
        select(Price.unit_price).where(
            Price.price_list_id == quote.price_list_id,
            Price.product_id == product_id,
            Price.deleted.is_(False),
        )
    )


# --- actions ---------------------------------------------------------------------------------


def create_quote(
    *,
    session: Session,
    opportunity_id: uuid.UUID | None = None,
    account_id: uuid.UUID | None = None,
    contact_id: uuid.UUID | None = None,
    price_list_id: uuid.UUID | None = None,
    currency: str | None = None,
    valid_until: date | None = None,
    discount_percent: Decimal | int | str = 0,
    owner_id: uuid.UUID | None = None,
    terms: str | None = None,
    notes: str | None = None,
) -> QuoteChanged:
    """Start revision 1 of a new quote, as a draft, for an opportunity or an account.

    From an opportunity the account, owner and currency default to the opportunity's. The
    currency is, in order: the one given, the price list's, the opportunity's. A price list in
    another currency than the quote is refused (its prices would be wrong).
    """
    opportunity = get_live(session, Opportunity, opportunity_id) if opportunity_id else None
    if opportunity is not None:
        if account_id is not None and account_id != opportunity.account_id:
            raise ValidationError("account_id", "is not the opportunity's account")
        account_id = opportunity.account_id
        owner_id = owner_id or opportunity.owner_id
    if account_id is None:
        raise ValidationError("account_id", "a quote needs an opportunity or an account")
    account = get_live(session, Account, account_id)
    price_list = get_live(session, PriceList, price_list_id) if price_list_id else None
    if price_list is not None and not price_list.active:
        raise ValidationError("price_list_id", f"the price list {price_list.name} is not active")

    code = currency or (price_list.currency if price_list else None)
    code = code or (opportunity.currency if opportunity else None)
    if not code:
        raise ValidationError("currency", "choose the quote's currency")
    code = normalise_currency(code)
    if price_list is not None and normalise_currency(price_list.currency) != code:
        raise ValidationError(
            "price_list_id", f"the price list is in {price_list.currency}, the quote in {code}"
        )

    quote = Quote(
        revision=1,
        is_current=True,
        frozen=False,
        status=QuoteStatus.DRAFT,
        opportunity_id=opportunity.id if opportunity else None,
        account_id=account.id,
        contact_id=contact_id,
        price_list_id=price_list.id if price_list else None,
        owner_id=owner_id or account.owner_id,
        currency=code,
        valid_until=valid_until,
        discount_percent=_percent("discount_percent", discount_percent),
        terms=terms,
        notes=notes,
    )
    # The id is made here rather than at flush so the number can be derived from it.
    quote.id = new_id()
    quote.number = document_number("Q", quote.id)
    session.add(quote)
    session.flush()
    return _result(session, quote)


def update_quote(
    *,
    session: Session,
    quote_id: uuid.UUID,
    discount_percent: Decimal | int | str | None = None,
    valid_until: date | None = None,
    contact_id: uuid.UUID | None = None,
    terms: str | None = None,
    notes: str | None = None,
) -> QuoteChanged:
    """Change a draft's header; ``None`` leaves a field as it is."""
    quote = _editable_quote(session, quote_id)
    if discount_percent is not None:
        quote.discount_percent = _percent("discount_percent", discount_percent)
    if valid_until is not None:
        quote.valid_until = valid_until
    if contact_id is not None:
        quote.contact_id = contact_id
    if terms is not None:
        quote.terms = terms
    if notes is not None:
        quote.notes = notes
    return _result(session, quote)


def add_line(
    *,
    session: Session,
    quote_id: uuid.UUID,
    product_id: uuid.UUID | None = None,
    description: str | None = None,
    quantity: Decimal | int | str = 1,
    unit_price: Decimal | int | str | None = None,
    discount_percent: Decimal | int | str = 0,
    tax_rate: Decimal | int | str | None = None,
) -> QuoteChanged:
    """Add a line at the end of a draft.

    With a product: the unit price comes from the quote's price list when it lists the product
    (a ``unit_price`` given overrides it), the description and tax rate from the product.
    Without a price from either, the line is refused rather than quoted at 0.
    """
    quote = _editable_quote(session, quote_id)
    product = get_live(session, Product, product_id) if product_id else None

    if unit_price is None and product is not None:
        unit_price = _list_price(session, quote, product.id)
    if unit_price is None:
        raise ValidationError(
            "unit_price",
            "no price for this product on the quote's price list; enter one"
            if product
            else "enter a unit price",
        )
    if tax_rate is None:
        tax_rate = product.default_tax_rate if product else Decimal(0)
    text = (description or "").strip() or (product.name if product else "")
    if not text:
        raise ValidationError("description", "describe the line or choose a product")

    existing = _lines(session, quote.id)
    line = QuoteLine(
        quote_id=quote.id,
        position=(max((line.position for line in existing), default=0) + 1),
        product_id=product.id if product else None,
        description=text,
        quantity=_quantity(quantity),
        unit_price=_unit_price(unit_price),
        discount_percent=_percent("discount_percent", discount_percent),
        tax_rate=_percent("tax_rate", tax_rate),
    )
    session.add(line)
    session.flush()
    return _result(session, quote, line.id)


def _quantity(value: Decimal | int | str) -> Decimal:
    quantity = _decimal("quantity", value)
    if quantity <= 0:
        raise ValidationError("quantity", "must be more than 0")
    return quantity


def _unit_price(value: Decimal | int | str) -> Decimal:
    price = _decimal("unit_price", value)
    if price < 0:
        raise ValidationError("unit_price", "cannot be negative; use a discount")
    return price


def _editable_line(session: Session, line_id: uuid.UUID) -> tuple[Quote, QuoteLine]:
    line = get_live(session, QuoteLine, line_id)
    quote = _editable_quote(session, line.quote_id)
    return quote, line


def update_line(
    *,
    session: Session,
    line_id: uuid.UUID,
    description: str | None = None,
    quantity: Decimal | int | str | None = None,
    unit_price: Decimal | int | str | None = None,
    discount_percent: Decimal | int | str | None = None,
    tax_rate: Decimal | int | str | None = None,
    position: int | None = None,
) -> QuoteChanged:
    """Change a line of a draft; ``None`` leaves a field as it is."""
    quote, line = _editable_line(session, line_id)
    if description is not None:
        if not description.strip():
            raise ValidationError("description", "cannot be empty")
        line.description = description.strip()
    if quantity is not None:
        line.quantity = _quantity(quantity)
    if unit_price is not None:
        line.unit_price = _unit_price(unit_price)
    if discount_percent is not None:
        line.discount_percent = _percent("discount_percent", discount_percent)
    if tax_rate is not None:
        line.tax_rate = _percent("tax_rate", tax_rate)
    if position is not None:
        line.position = position
    return _result(session, quote, line.id)


def remove_line(*, session: Session, line_id: uuid.UUID) -> QuoteChanged:
    """Remove a line from a draft (a tombstone, like every delete)."""
    quote, line = _editable_line(session, line_id)
    line.deleted = True
    session.flush()
    return _result(session, quote, line.id)


@dataclass(frozen=True)
class LineInput:
    """One line as :func:`replace_lines` stores it; ``line_id`` None makes a new line.

    ``unit_price`` None takes the price list's price for ``product_id`` (refused if it has none);
    ``tax_rate`` None takes the product's default rate.
    """

    line_id: uuid.UUID | None
    product_id: uuid.UUID | None
    description: str
    quantity: Decimal | int | str
    unit_price: Decimal | int | str | None
    discount_percent: Decimal | int | str = 0
    tax_rate: Decimal | int | str | None = None


def replace_lines(
    *,
    session: Session,
    quote_id: uuid.UUID,
    lines: Sequence[LineInput],
    removed_ids: Sequence[uuid.UUID] = (),
) -> QuoteChanged:
    """Store a draft's whole line list at once: ``lines`` in display order, ``removed_ids``
    tombstoned. Everything is validated before anything is written, and the totals are
    recalculated once.

    The line-by-line actions (:func:`add_line`, :func:`update_line`) each reload the lines and
    recalculate, so an editor saving n lines through them did O(n²) work and n flushes.
    """
    quote = _editable_quote(session, quote_id)
    stored = {line.id: line for line in _lines(session, quote.id)}
    removed = set(removed_ids)
    for line_id in removed:
        if line_id not in stored:
            raise ValidationError("removed_ids", f"line {line_id} is not a line of this quote")
    kept_ids = [line.line_id for line in lines if line.line_id is not None]
    if len(set(kept_ids)) != len(kept_ids):
        raise ValidationError("lines", "a line is listed twice")
    for line_id in kept_ids:
        if line_id not in stored:
            raise ValidationError("lines", f"line {line_id} is not a line of this quote")
        if line_id in removed:
            raise ValidationError("lines", f"line {line_id} is both kept and removed")
    # Stored lines neither listed nor removed (sync brought one in while the editor was open)
    # stay, after the listed ones, and count in the totals.
    listed = removed | set(kept_ids)
    unlisted = [line for line_id, line in stored.items() if line_id not in listed]

    product_ids = {line.product_id for line in lines if line.product_id is not None}
    products = (
        {p.id: p for p in session.scalars(select(Product).where(Product.id.in_(product_ids)))}
        if product_ids
        else {}
    )
    list_prices: dict[uuid.UUID, Decimal] = {}
    if product_ids and quote.price_list_id is not None:
        list_prices = dict(
            session.execute(
                select(Price.product_id, Price.unit_price).where(
                    Price.price_list_id == quote.price_list_id,
                    Price.product_id.in_(product_ids),
                    Price.deleted.is_(False),
                )
            ).all()
        )

    # Validate every line into its final values first: nothing is written if one is bad.
    values: list[tuple[uuid.UUID | None, dict[str, object]]] = []
    for position, line in enumerate(lines, start=1):
        product = products.get(line.product_id) if line.product_id is not None else None
        if line.product_id is not None and (product is None or product.deleted):
            raise NotFound(Product, line.product_id)
        unit_price = line.unit_price
        if unit_price is None and product is not None:
            unit_price = list_prices.get(product.id)
        if unit_price is None:
            raise ValidationError(
                "unit_price",
                f"line {position}: no price for this product on the quote's price list; enter one"
                if product
                else f"line {position}: enter a unit price",
            )
        tax_rate = line.tax_rate
        if tax_rate is None:
            tax_rate = product.default_tax_rate if product else Decimal(0)
        text = (line.description or "").strip() or (product.name if product else "")
        if not text:
            raise ValidationError(
                "description", f"line {position}: describe the line or choose a product"
            )
        values.append(
            (
                line.line_id,
                {
                    "position": position,
                    "product_id": product.id if product else None,
                    "description": text,
                    "quantity": _quantity(line.quantity),
                    "unit_price": _unit_price(unit_price),
                    "discount_percent": _percent("discount_percent", line.discount_percent),
                    "tax_rate": _percent("tax_rate", tax_rate),
                },
            )
        )

    for removed_id in removed:
        stored[removed_id].deleted = True
    ordered: list[QuoteLine] = []
    for kept_id, fields in values:
        if kept_id is None:
            row = QuoteLine(quote_id=quote.id, **fields)
            session.add(row)
        else:
            row = stored[kept_id]
            for key, value in fields.items():
                setattr(row, key, value)
        ordered.append(row)
    for position, row in enumerate(unlisted, start=len(ordered) + 1):
        row.position = position
        ordered.append(row)
    totals = recalculate(quote, ordered)
    session.flush()
    return QuoteChanged(
        quote_id=quote.id,
        number=quote.number,
        revision=quote.revision,
        status=quote.status,
        is_current=quote.is_current,
        frozen=quote.frozen,
        totals=totals,
        line_ids=tuple(row.id for row in ordered),
    )


def new_revision(*, session: Session, quote_id: uuid.UUID) -> QuoteChanged:
    """Copy the current revision into revision n+1 (a draft) and freeze the old one."""
    old = get_live(session, Quote, quote_id)
    _require_not_frozen(old)
    if old.status == QuoteStatus.ACCEPTED:
        raise ValidationError("status", "an accepted quote is final; start a new quote")
    latest = session.scalar(
        select(Quote.revision).where(Quote.number == old.number).order_by(Quote.revision.desc())
    )
    new = Quote(
        id=new_id(),
        number=old.number,
        revision=(latest or old.revision) + 1,
        is_current=True,
        frozen=False,
        status=QuoteStatus.DRAFT,
        opportunity_id=old.opportunity_id,
        account_id=old.account_id,
        contact_id=old.contact_id,
        price_list_id=old.price_list_id,
        owner_id=old.owner_id,
        currency=old.currency,
        valid_until=old.valid_until,
        discount_percent=old.discount_percent,
        terms=old.terms,
        notes=old.notes,
    )
    old.is_current = False
    old.frozen = True
    session.add(new)
    for line in _lines(session, old.id):
        session.add(QuoteLine(quote_id=new.id, **line_values(line, "position", "net_amount")))
    session.flush()
    return _result(session, new)


def send_quote(
    *, session: Session, quote_id: uuid.UUID, now: datetime | None = None
) -> QuoteChanged:
    """Mark a draft as sent to the customer; from now on changes need a new revision.

    Discount approval is :mod:`.quote_approval`'s job: a view or command sends through
    :func:`~crm_desktop.services.quote_approval.send_or_request_approval`, which parks a draft
    above the threshold in ``pending_approval``; a pending quote is sent only by
    :func:`~crm_desktop.services.quote_approval.approve`.
    """
    quote = get_live(session, Quote, quote_id)
    _require_not_frozen(quote)
    if quote.status not in _SENDABLE:
        raise ValidationError("status", f"a {quote.status.value} quote cannot be sent")
    return _mark_sent(session, quote, now)


def release_approved(
    *, session: Session, quote_id: uuid.UUID, now: datetime | None = None
) -> QuoteChanged:
    """Send a quote waiting for approval. **Internal**: only ``quote_approval.approve`` calls
    this, after checking that the approver may approve this quote's discount."""
    quote = get_live(session, Quote, quote_id)
    _require_not_frozen(quote)
    if quote.status != QuoteStatus.PENDING_APPROVAL:
        raise ValidationError("status", f"{quote.number} is not waiting for approval")
    return _mark_sent(session, quote, now)


def _mark_sent(session: Session, quote: Quote, now: datetime | None) -> QuoteChanged:
    if not _lines(session, quote.id):
        raise ValidationError("lines", "add at least one line before sending")
    quote.status = QuoteStatus.SENT
    quote.sent_at = now or utcnow()
    return _result(session, quote)


def accept_quote(
    *,
    session: Session,
    quote_id: uuid.UUID,
    today: date,
    now: datetime | None = None,
) -> QuoteAccepted:
    """The customer accepted: make the sales order and close the opportunity as won.

    Only a **sent** quote can be accepted: a draft has not been through discount approval
    (:mod:`.quote_approval`), so accepting it from a command or an import would bypass the
    manager. Refused too for a superseded (frozen) revision, a quote already decided or
    expired or past its ``valid_until``, and when another revision of the same number was
    already accepted. ``today`` is the user's **local** date (required: a UTC default would
    disagree with expiry, which runs on the local date, for hours every day).
    """
    quote = get_live(session, Quote, quote_id)
    _require_not_frozen(quote)
    now = now or utcnow()
    if quote.status == QuoteStatus.ACCEPTED:
        raise ValidationError("status", f"{quote.number} was already accepted")
    if quote.status != QuoteStatus.SENT:
        hint = "send it first" if quote.status in _EDITABLE else "make a new revision"
        raise ValidationError("status", f"a {quote.status.value} quote cannot be accepted; {hint}")
    if quote.valid_until is not None and quote.valid_until < today:
        raise ValidationError(
            "valid_until", f"the quote expired on {quote.valid_until:%Y-%m-%d}; make a new revision"
        )
    accepted_before = session.scalar(
        select(Quote.revision).where(
            Quote.number == quote.number,
            Quote.id != quote.id,
            Quote.status == QuoteStatus.ACCEPTED,
            Quote.deleted.is_(False),
        )
    )
    if accepted_before is not None:
        raise ValidationError(
            "status", f"revision {accepted_before} of {quote.number} was already accepted"
        )
    lines = _lines(session, quote.id)
    if not lines:
        raise ValidationError("lines", "an empty quote cannot be accepted")
    # A sent quote keeps the figures the customer accepted.
    totals = _stored_totals(quote, lines)

    quote.status = QuoteStatus.ACCEPTED
    quote.decided_at = now
    order = SalesOrder(
        id=new_id(),
        quote_id=quote.id,
        account_id=quote.account_id,
        opportunity_id=quote.opportunity_id,
        owner_id=quote.owner_id,
        currency=quote.currency,
        total=totals.total,
        ordered_on=today,
    )
    order.number = document_number("SO", order.id)
    session.add(order)
    for line in lines:
        session.add(
            SalesOrderLine(order_id=order.id, **line_values(line, "position", "net_amount"))
        )
    session.flush()

    won: OpportunityChanged | None = None
    if quote.opportunity_id is not None:
        won = close_won(
            session=session,
            opportunity_id=quote.opportunity_id,
            amount=totals.net_total,
            currency=quote.currency,
            close_date=today,
            now=now,
        )
    return QuoteAccepted(
        quote=_result(session, quote),
        order_id=order.id,
        order_number=order.number,
        order_total=order.total,
        opportunity=won,
    )


def reject_quote(
    *, session: Session, quote_id: uuid.UUID, now: datetime | None = None
) -> QuoteChanged:
    """The customer said no to the current revision."""
    quote = get_live(session, Quote, quote_id)
    _require_not_frozen(quote)
    if quote.status not in _OPEN:
        raise ValidationError("status", f"a {quote.status.value} quote cannot be rejected")
    quote.status = QuoteStatus.REJECTED
    quote.decided_at = now or utcnow()
    return _result(session, quote)


def expire_quotes(*, session: Session, today: date) -> QuotesExpired:
    """Mark every current draft, pending or sent quote valid only until before ``today`` as
    expired. Safe to run at every start-up: already expired quotes are left alone."""
    quotes = list(
        session.scalars(
            select(Quote).where(
                Quote.deleted.is_(False),
                Quote.is_current.is_(True),
                Quote.status.in_(list(_OPEN)),
                Quote.valid_until < today,
            )
        )
    )
    for quote in quotes:
        # Through the ORM, not a bulk UPDATE, so sync's change capture sees every edit.
        quote.status = QuoteStatus.EXPIRED
    session.flush()
    return QuotesExpired(quote_ids=tuple(q.id for q in quotes))
