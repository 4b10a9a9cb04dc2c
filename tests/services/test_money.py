"""Exact money sums in SQL: the text-stored amounts must add up to the cent, signs included."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import String, literal, select, type_coerce
from sqlalchemy.orm import Session

from crm_desktop.models import Product
from crm_desktop.services.money import sum_columns, sum_value

D = Decimal
AMOUNTS = ["-0.5", "12.345", "100", "-1234.56", "0.000000001", "99999999999.99", "-7", "0.10"]


def _products(session: Session) -> None:
    # Product.default_tax_rate is a Money column: a handy table of amounts to sum.
    for i, amount in enumerate(AMOUNTS):
        session.add(Product(code=f"P{i}", name=f"P{i}", default_tax_rate=D(amount)))
    session.flush()


def test_sql_sum_is_exact_with_negatives_and_fractions(session: Session) -> None:
    _products(session)
    dialect = session.get_bind().dialect.name
    row = session.execute(select(*sum_columns(Product.default_tax_rate, dialect, "t"))).one()
    assert sum_value(row, "t", dialect) == sum((D(a) for a in AMOUNTS), D(0))
    assert sum_value(row, "t", dialect) == D("99999998870.375000001")


def test_sql_conditional_and_weighted_sums(session: Session) -> None:
    _products(session)
    dialect = session.get_bind().dialect.name
    negative = type_coerce(Product.default_tax_rate, String).like("-%")
    three = Product.name.in_(["P0", "P1", "P3"])
    row = session.execute(
        select(
            *sum_columns(Product.default_tax_rate, dialect, "neg", when=negative),
            *sum_columns(Product.default_tax_rate, dialect, "none", when=Product.code == "none"),
            # × 3 for every row: a stand-in for amount × probability
            *sum_columns(Product.default_tax_rate, dialect, "x3", when=three, factor=literal(3)),
        )
    ).one()
    assert sum_value(row, "neg", dialect) == D("-1242.06")
    assert sum_value(row, "none", dialect) == 0
    assert sum_value(row, "x3", dialect) == 3 * (D("-0.5") + D("12.345") + D("-1234.56"))
