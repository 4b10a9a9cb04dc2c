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

Summing money in SQL: on SQLite a :class:`~crm_desktop.models.base.Money` column is text, and
SQLite's ``SUM`` would turn it into binary floats. :func:`sum_columns` instead sums the integer
part and the fractional digits as two exact 64-bit integer sums that :func:`sum_value` joins
into a Decimal, so reports aggregate in the database (no Python loop over rows) and stay exact
to the cent. On PostgreSQL the column is a real NUMERIC and a plain ``SUM`` is already exact.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import Integer, String, case, cast, func, literal, type_coerce
from sqlalchemy.orm import QueryableAttribute
from sqlalchemy.sql.elements import ColumnElement

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
    rounded = Decimal(amount).quantize(quantum(currency), rounding=ROUNDING)
    # -0.001 rounds to -0.00; nobody wants to read a negative zero on a quote.
    return rounded if rounded else rounded.copy_abs()


def percent_of(amount: Decimal, percent: Decimal | int) -> Decimal:
    """``amount × percent / 100``, exact (not rounded); percentages are plain numbers (7.5 = 7.5 %)."""
    return amount * Decimal(percent) / Decimal(100)


#: Fractional digits kept when summing text amounts in SQLite (the server's NUMERIC keeps 6).
_SUM_DIGITS = 9


def sum_columns(
    column: Any,
    dialect: str,
    label: str,
    *,
    when: ColumnElement[bool] | None = None,
    factor: ColumnElement[int] | QueryableAttribute[int] | None = None,
) -> list[ColumnElement[Any]]:
    """Aggregate expressions that together give the exact sum of the Money ``column``.

    Put them in a grouped ``select`` and read the result back with :func:`sum_value` and the
    same ``label``. ``dialect`` is ``session.get_bind().dialect.name``. ``when`` sums only the
    rows meeting a condition (several conditional sums then share one scan); ``factor`` (an
    integer column, such as a probability) multiplies each amount exactly before summing.
    SQLite sums 64-bit integers and raises an error rather than overflow, so amount × factor
    summed over a group must stay under 9.2e18 (ample for a client's store).
    """
    if dialect != "sqlite":
        value = column if factor is None else column * factor
        if when is not None:
            value = case((when, value), else_=None)
        return [func.coalesce(func.sum(value), 0).label(label)]
    # Treat the column as plain text in these expressions, or its literals would be bound
    # through the Money type (which would try to read "-%" as a number).
    text = type_coerce(column, String)
    if when is not None:
        # NULL for other rows: SUM skips them, and every step below keeps NULL as NULL or 0.
        text = type_coerce(case((when, column), else_=None), String)
    # Money text is what format(Decimal, "f") writes: optional "-", digits, optional "." digits.
    # CAST(text AS INTEGER) reads the leading integer exactly ("-12.50" -> -12; "-0.5" -> 0),
    # so the sign of the fraction comes from the text itself.
    dot = func.instr(text, ".")
    digits = case(
        (
            dot > 0,
            func.substr(
                func.substr(text, dot + 1).op("||")(literal("0" * _SUM_DIGITS)), 1, _SUM_DIGITS
            ),
        ),
        else_=literal("0"),
    )
    sign = case((text.like("-%"), -1), else_=1)
    whole: ColumnElement[Any] = cast(text, Integer)
    frac: ColumnElement[Any] = sign * cast(digits, Integer)
    if factor is not None:
        whole, frac = whole * factor, frac * factor
    return [
        func.coalesce(func.sum(whole), 0).label(f"{label}_int"),
        func.coalesce(func.sum(frac), 0).label(f"{label}_frac"),
    ]


def sum_value(row: Any, label: str, dialect: str) -> Decimal:
    """The exact Decimal sum from a result ``row`` of a query built with :func:`sum_columns`."""
    mapping = row._mapping
    if dialect != "sqlite":
        return Decimal(mapping[label])
    whole = Decimal(int(mapping[f"{label}_int"]))
    frac = int(mapping[f"{label}_frac"])
    return whole + Decimal(frac).scaleb(-_SUM_DIGITS) if frac else whole


def normalise_currency(currency: str) -> str:
    """An ISO 4217 code as stored: upper case, no spaces."""
    return currency.strip().upper()
