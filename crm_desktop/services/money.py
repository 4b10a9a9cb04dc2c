"""Money arithmetic: minor units per currency and rounding.

Rounding is **half-up** (``ROUND_HALF_UP``: 0.125 -> 0.13, -0.125 -> -0.13, i.e. halves go away
from zero). Commercial invoices, VAT rules in most jurisdictions (e.g. the EU's and Japan's
consumption-tax guidance) and every spreadsheet a customer will check our quote against round
half-up. Banker's rounding (half-even) only pays off when summing very many rounded values
statistically, which is not what a quote does; using it would make a customer's calculator
disagree with our PDF by one cent on exactly the cases they look at.

Minor units follow ISO 4217: zero decimals for JPY and KRW (and a few others), three for
BHD, KWD, OMR, JOD, TND (and the Iraqi and Libyan dinar), two for everything else. An unknown
code gets two decimals rather than an error, so a price list in a rarely used currency still
works.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

ROUNDING = ROUND_HALF_UP

#: ISO 4217 exponents that differ from the default of 2.
_MINOR_UNITS: dict[str, int] = {
    # zero-decimal currencies
    "JPY": 0,
    "KRW": 0,
    "CLP": 0,
    "ISK": 0,
    "VND": 0,
    "PYG": 0,
    "UGX": 0,
    "XAF": 0,
    "XOF": 0,
    "XPF": 0,
    "BIF": 0,
    "DJF": 0,
    "GNF": 0,
    "KMF": 0,
    "RWF": 0,
    "VUV": 0,
    # three-decimal currencies
    "BHD": 3,
    "KWD": 3,
    "OMR": 3,
    "JOD": 3,
    "TND": 3,
    "IQD": 3,
    "LYD": 3,
}
DEFAULT_MINOR_UNITS = 2


def minor_units(currency: str) -> int:
    """Number of decimals of ``currency`` (ISO 4217 code, any case): 0 for JPY, 3 for KWD, else 2."""
    return _MINOR_UNITS.get(currency.strip().upper(), DEFAULT_MINOR_UNITS)


def quantum(currency: str) -> Decimal:
    """The smallest amount of ``currency``: ``Decimal("0.01")`` for EUR, ``Decimal("1")`` for JPY."""
    return Decimal(1).scaleb(-minor_units(currency))


def round_money(amount: Decimal | int, currency: str) -> Decimal:
    """Round ``amount`` half-up to the minor unit of ``currency`` (see the module docstring)."""
    return Decimal(amount).quantize(quantum(currency), rounding=ROUNDING)


def percent_of(amount: Decimal, percent: Decimal | int) -> Decimal:
    """``amount × percent / 100``, exact (not rounded); percentages are plain numbers (7.5 = 7.5 %)."""
    return amount * Decimal(percent) / Decimal(100)
