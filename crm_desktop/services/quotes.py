"""Quotes: arithmetic, revisions, and what happens when a customer accepts one.

Arithmetic (all :class:`~decimal.Decimal`, never float; rounding half-up, see :mod:`.money`):

1. Each line's ``net_amount`` = quantity × unit price × (1 − line discount %), rounded to the
   currency's minor unit. That is the figure printed on the line.
2. ``subtotal`` = the sum of the line nets.
3. The quote discount applies **before tax**: ``discount_total`` = subtotal × quote discount %,
   rounded. Tax is owed on what the customer actually pays, so a discount lowers the tax base
   (that is how VAT, GST and sales tax work); discounting after tax would charge tax on money
   never received.
4. Tax is computed **per line**, because lines can carry different rates: a line's tax =
   line net × (1 − quote discount %) × line tax rate %, rounded per line; ``tax_total`` is their
   sum. Rounding per line matches an invoice that shows tax per line.
5. ``total`` = subtotal − discount_total + tax_total. A 100 % quote discount gives 0 to pay.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from crm_desktop.models import Quote, QuoteLine
from crm_desktop.services.money import percent_of, round_money

_HUNDRED = Decimal(100)


@dataclass(frozen=True)
class QuoteTotals:
    """A quote's computed figures, all rounded to the currency's minor unit.

    ``line_nets`` and ``line_taxes`` follow the order of the lines given to :func:`recalculate`.
    ``net_total`` (subtotal − discount) is the revenue figure: what the opportunity is worth.
    """

    currency: str
    subtotal: Decimal
    discount_total: Decimal
    net_total: Decimal
    tax_total: Decimal
    total: Decimal
    line_nets: tuple[Decimal, ...]
    line_taxes: tuple[Decimal, ...]


def line_net(line: QuoteLine, currency: str) -> Decimal:
    """A line's amount after its own discount and before tax, rounded (rule 1 above)."""
    gross = Decimal(line.quantity) * Decimal(line.unit_price)
    return round_money(gross - percent_of(gross, line.discount_percent), currency)


def recalculate(quote: Quote, lines: Sequence[QuoteLine]) -> QuoteTotals:
    """Set every line's ``net_amount`` and the quote's subtotal, discount, tax and total.

    Pure arithmetic on the objects given (no session, no query): pass the quote's live lines.
    """
    currency = quote.currency
    quote_discount = Decimal(quote.discount_percent or 0)
    # Share of each line's net that is left after the quote discount: the tax base factor.
    kept = (_HUNDRED - quote_discount) / _HUNDRED

    nets: list[Decimal] = []
    taxes: list[Decimal] = []
    for line in lines:
        net = line_net(line, currency)
        line.net_amount = net
        nets.append(net)
        taxes.append(round_money(percent_of(net * kept, line.tax_rate or 0), currency))

    # round_money on sums that are already exact only fixes the exponent, so an empty quote
    # shows 0.00 (or 0 for JPY) like every other amount.
    subtotal = round_money(sum(nets, Decimal(0)), currency)
    discount_total = round_money(percent_of(subtotal, quote_discount), currency)
    tax_total = round_money(sum(taxes, Decimal(0)), currency)
    net_total = subtotal - discount_total
    total = net_total + tax_total

    quote.subtotal = subtotal
    quote.discount_total = discount_total
    quote.tax_total = tax_total
    quote.total = total
    return QuoteTotals(
        currency=currency,
        subtotal=subtotal,
        discount_total=discount_total,
        net_total=net_total,
        tax_total=tax_total,
        total=total,
        line_nets=tuple(nets),
        line_taxes=tuple(taxes),
    )
