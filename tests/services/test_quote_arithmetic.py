"""Quote arithmetic: line and quote discounts, tax per line, rounding per currency."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crm_desktop.models import Quote, QuoteLine
from crm_desktop.services.money import minor_units, round_money
from crm_desktop.services.quotes import TaxLine, recalculate

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


def test_mixed_rates_are_taxed_separately_and_a_discount_lowers_the_tax() -> None:
    quote = _quote(disc="10")
    lines = [_line("3", "19.99", disc="5", tax="20"), _line("1", "100", tax="7")]
    totals = recalculate(quote, lines)
    # 3 × 19.99 = 59.97, less 5 % = 56.9715 -> 56.97
    assert lines[0].net_amount == D("56.97")
    assert lines[1].net_amount == D("100.00")
    assert quote.subtotal == D("156.97")
    assert quote.discount_total == D("15.70")  # 15.697
    # tax per rate on the discounted base: 56.97 × .9 = 51.273 -> 51.27 × 20 % = 10.254 -> 10.25;
    # 100 × .9 = 90.00 × 7 % = 6.30
    assert totals.tax_by_rate == (
        TaxLine(rate=D("7"), base=D("90.00"), tax=D("6.30")),
        TaxLine(rate=D("20"), base=D("51.27"), tax=D("10.25")),
    )
    assert quote.tax_total == D("16.55")
    assert quote.total == D("157.82")
    assert totals.net_total == D("141.27")


def test_hundred_percent_quote_discount_leaves_nothing_to_pay() -> None:
    quote = _quote(disc="100")
    totals = recalculate(quote, [_line("2", "49.99", tax="19"), _line("1", "10", tax="7")])
    assert quote.subtotal == D("109.98")
    assert quote.discount_total == D("109.98")
    assert [t.tax for t in totals.tax_by_rate] == [D("0.00"), D("0.00")]
    assert quote.tax_total == D("0.00")
    assert quote.total == D("0.00")


def test_hundred_percent_line_discount_is_a_free_line() -> None:
    quote = _quote()
    lines = [_line("5", "12.00", disc="100", tax="20"), _line("1", "8.00", tax="20")]
    recalculate(quote, lines)
    assert lines[0].net_amount == D("0.00")
    assert quote.tax_total == D("1.60")  # only the paid line is taxed
    assert quote.total == D("9.60")


def test_half_cent_line_rounds_up() -> None:
    quote = _quote()
    # 1 × 0.125 = 0.125 -> 0.13 (half-even would give 0.12)
    lines = [_line("1", "0.125")]
    recalculate(quote, lines)
    assert lines[0].net_amount == D("0.13")
    assert quote.total == D("0.13")


def test_yen_has_no_decimals() -> None:
    quote = _quote("JPY", disc="3")
    lines = [_line("3", "333", disc="5", tax="10"), _line("1", "1001", tax="8")]
    totals = recalculate(quote, lines)
    # 999 × 0.95 = 949.05 -> 949; subtotal 1950; discount 58.5 -> 59 (half-up)
    assert totals.line_nets == (D("949"), D("1001"))
    assert quote.discount_total == D("59")
    # the 59 discount split by net: 59 × 1001/1950 = 30.28 -> 30 at 8 %, 59 × 949/1950 = 28.71
    # -> 29 at 10 %; bases 971 (tax 77.68 -> 78) and 920 (tax 92), adding up to the net 1891
    # (rounding each base alone gave 971 + 921 = 1892)
    assert [(t.rate, t.base, t.tax) for t in totals.tax_by_rate] == [
        (D("8"), D("971"), D("78")),
        (D("10"), D("920"), D("92")),
    ]
    assert quote.total == D("2061")  # 1950 - 59 + 170
    assert quote.total.as_tuple().exponent == 0  # shown as ¥2,061, never ¥2,061.00


def test_three_decimal_dinar() -> None:
    quote = _quote("KWD", disc="2.5")
    lines = [_line("7", "1.2345", tax="5")]
    totals = recalculate(quote, lines)
    # 8.6415 -> 8.642 (half-up at the third decimal)
    assert lines[0].net_amount == D("8.642")
    assert quote.discount_total == D("0.216")  # 0.21605
    # base 8.642 × .975 = 8.42595 -> 8.426; tax 0.4213 -> 0.421
    assert totals.tax_by_rate == (TaxLine(rate=D("5"), base=D("8.426"), tax=D("0.421")),)
    assert quote.total == D("8.847")


def test_many_lines_sum_exactly() -> None:
    quote = _quote(disc="10")
    lines = [_line("1", "0.10", tax="20") for _ in range(1000)]
    totals = recalculate(quote, lines)
    assert quote.subtotal == D("100.00")  # a float sum would drift
    assert quote.discount_total == D("10.00")
    # Tax is rounded once per rate, not per line: 90.00 × 20 % = 18.00. Rounding each line's
    # 0.018 would have charged the customer 20.00.
    assert quote.tax_total == D("18.00")
    assert quote.total == D("108.00")
    assert totals.net_total == D("90.00")


def test_empty_quote_is_zero_in_the_currency_format() -> None:
    quote = _quote("EUR")
    recalculate(quote, [])
    assert str(quote.total) == "0.00"


def test_half_cent_tax_rounds_up() -> None:
    quote = _quote()
    totals = recalculate(quote, [_line("1", "10.50", tax="5")])
    assert totals.tax_by_rate[0].tax == D("0.53")  # 0.525: half-up, where half-even gives 0.52
    assert quote.total == D("11.03")


def test_no_negative_zero() -> None:
    assert str(round_money(D("-0.001"), "EUR")) == "0.00"
    assert str(round_money(D("-0.4"), "JPY")) == "0"


def test_vat_bases_add_up_to_the_net_total() -> None:
    # Rounding each rate's base on its own gave 0.01 + 0.01 + 0.01 = 0.03 against a net of
    # 0.01. The rounded discount is spread over the rates; the remainder goes to one base.
    quote = _quote(disc="50")
    lines = [
        _line("1", "0.01", tax="7"),
        _line("1", "0.01", tax="10"),
        _line("1", "0.01", tax="20"),
    ]
    totals = recalculate(quote, lines)
    assert (totals.subtotal, totals.discount_total, totals.net_total) == (
        D("0.03"),
        D("0.02"),
        D("0.01"),
    )
    assert sum(t.base for t in totals.tax_by_rate) == totals.net_total
    assert all(t.base >= 0 for t in totals.tax_by_rate)
    assert totals.total == totals.net_total + totals.tax_total


_amounts = st.decimals(min_value=0, max_value=100_000, places=3, allow_nan=False)
_percents = st.decimals(min_value=0, max_value=100, places=2, allow_nan=False)
_rates = st.sampled_from([D(0), D("2.5"), D(5), D(7), D("8.1"), D(10), D(19), D(20), D(21)])


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    currency=st.sampled_from(["EUR", "JPY", "KWD", "CHF"]),
    quote_discount=_percents,
    lines=st.lists(
        st.tuples(
            st.decimals(min_value=D("0.001"), max_value=1000, places=3, allow_nan=False),
            _amounts,
            _percents,
            _rates,
        ),
        max_size=12,
    ),
)
def test_bases_always_sum_to_net_and_total_is_net_plus_tax(
    currency: str, quote_discount: Decimal, lines: list[tuple[Decimal, Decimal, Decimal, Decimal]]
) -> None:
    quote = _quote(currency, str(quote_discount))
    built = [_line(str(q), str(p), str(d), str(r)) for q, p, d, r in lines]
    totals = recalculate(quote, built)
    assert sum((t.base for t in totals.tax_by_rate), D(0)) == totals.net_total
    assert all(t.base >= 0 for t in totals.tax_by_rate)
    assert totals.net_total == totals.subtotal - totals.discount_total
    assert totals.total == totals.net_total + totals.tax_total
    assert totals.tax_total == sum((t.tax for t in totals.tax_by_rate), D(0))
    for amount in (
        totals.net_total,
        totals.tax_total,
        totals.total,
        *(t.base for t in totals.tax_by_rate),
    ):
        assert amount == round_money(amount, currency)
