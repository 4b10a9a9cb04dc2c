"""Quote arithmetic: line and quote discounts, tax per line, rounding per currency."""

from __future__ import annotations

from decimal import Decimal

import pytest

from crm_desktop.models import Quote, QuoteLine
from crm_desktop.services.money import minor_units, round_money
from crm_desktop.services.quotes import recalculate

D = Decimal


def _line(qty: str, price: str, disc: str = "0", tax: str = "0") -> QuoteLine:
    return QuoteLine(
        quantity=D(qty), unit_price=D(price), discount_percent=D(disc), tax_rate=D(tax)
    )


def _quote(currency: str = "EUR", disc: str = "0") -> Quote:
    return Quote(currency=currency, discount_percent=D(disc))


@pytest.mark.parametrize(
    ("currency", "units"),
    [
        ("EUR", 2),
        ("usd", 2),
        ("JPY", 0),
        ("KRW", 0),
        ("BHD", 3),
        ("KWD", 3),
        ("OMR", 3),
        ("JOD", 3),
        ("TND", 3),
        ("XYZ", 2),
    ],
)
def test_minor_units_follow_iso_4217(currency: str, units: int) -> None:
    assert minor_units(currency) == units


def test_half_cent_rounds_up_like_an_invoice() -> None:
    assert round_money(D("2.675"), "EUR") == D("2.68")
    assert round_money(D("0.125"), "EUR") == D("0.13")
    assert round_money(D("-0.125"), "EUR") == D("-0.13")  # symmetric: a credit mirrors a debit
    assert round_money(D("2.5"), "JPY") == D("3")
    assert round_money(D("1.0005"), "KWD") == D("1.001")


def test_line_discount_quote_discount_and_tax() -> None:
    quote = _quote(disc="10")
    lines = [_line("3", "19.99", disc="5", tax="20"), _line("1", "100", tax="7")]
    totals = recalculate(quote, lines)
    # 3 × 19.99 = 59.97, less 5 % = 56.9715 -> 56.97
    assert lines[0].net_amount == D("56.97")
    assert lines[1].net_amount == D("100.00")
    assert quote.subtotal == D("156.97")
    assert quote.discount_total == D("15.70")  # 15.697
    # tax on the discounted base, per line: 56.97 × .9 × .2 = 10.2546 -> 10.25; 100 × .9 × .07 = 6.30
    assert totals.line_taxes == (D("10.25"), D("6.30"))
    assert quote.tax_total == D("16.55")
    assert quote.total == D("157.82")
    assert totals.net_total == D("141.27")
