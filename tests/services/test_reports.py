"""Forecast by month and owner, and quota attainment."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import event, insert
from sqlalchemy.orm import Session

from crm_desktop.models import Opportunity, Quota, User, new_id, utcnow
from crm_desktop.services import reports
from crm_desktop.services.errors import ValidationError

from .conftest import Builder

D = Decimal
Q2 = (date(2026, 4, 1), date(2026, 6, 30))


@pytest.fixture
def team(make: Builder) -> dict[str, User]:
    """Two reps with a spread of deals in April-June 2026, plus some that must not count."""
    alice, bob = make.user("alice"), make.user("bob")
    deal = make.opportunity
    # Alice, April: open 60 % and 80 % deals, one won, one lost
    deal(stage="Proposal", amount="1000.00", owner_id=alice.id, close_date=date(2026, 4, 10))
    deal(stage="Negotiation", amount="2000.00", owner_id=alice.id, close_date=date(2026, 4, 20))
    deal(stage="Closed Won", amount="500.00", owner_id=alice.id, close_date=date(2026, 4, 5))
    deal(stage="Closed Lost", amount="9999.00", owner_id=alice.id, close_date=date(2026, 4, 6))
    # Alice, May: a Prospecting deal she believes in (overridden to 90 %)
    deal(
        stage="Prospecting", amount="300.00", owner_id=alice.id, close_date=date(2026, 5, 31),
        probability=90, probability_overridden=True,
    )  # fmt: skip
    # Bob, April: one EUR deal and one in yen
    deal(stage="Qualification", amount="0.05", owner_id=bob.id, close_date=date(2026, 4, 30))
    deal(
        stage="Closed Won",
        amount="120000",
        currency="JPY",
        owner_id=bob.id,
        close_date=date(2026, 4, 1),
    )
    # not counted: outside the range, no close date, deleted
    deal(stage="Proposal", amount="777.00", owner_id=bob.id, close_date=date(2026, 7, 1))
    deal(stage="Proposal", amount="888.00", owner_id=bob.id)
    gone = deal(stage="Proposal", amount="666.00", owner_id=bob.id, close_date=date(2026, 4, 2))
    gone.deleted = True
    make.session.flush()
    return {"alice": alice, "bob": bob}


def test_forecast_by_month_and_owner(session: Session, team: dict[str, User]) -> None:
    result = reports.forecast(session=session, close_from=Q2[0], close_to=Q2[1])
    rows = {(r.month, r.owner_name, r.currency): r for r in result.rows}
    assert list(rows) == [
        ("2026-04", "Alice", "EUR"),
        ("2026-04", "Bob", "EUR"),
        ("2026-04", "Bob", "JPY"),
        ("2026-05", "Alice", "EUR"),
    ]
    april = rows[("2026-04", "Alice", "EUR")]
    assert (april.open_count, april.won_count) == (2, 1)
    assert april.pipeline == D("3000.00")  # open only; the lost 9,999 is nowhere
    assert april.weighted == D("2700.00")  # 600 + 1600 + 500 won
    assert april.committed == D("2500.00")  # the 80 % deal + won
    assert april.won == D("500.00")
    assert april.owner_id == team["alice"].id

    may = rows[("2026-05", "Alice", "EUR")]
    assert (may.pipeline, may.weighted, may.committed) == (D("300.00"), D("270.00"), D("300.00"))

    bob_eur = rows[("2026-04", "Bob", "EUR")]
    assert (bob_eur.pipeline, bob_eur.weighted, bob_eur.committed) == (
        D("0.05"),
        D("0.01"),
        D("0.00"),
    )
    bob_jpy = rows[("2026-04", "Bob", "JPY")]
    assert (bob_jpy.won, bob_jpy.weighted, bob_jpy.pipeline) == (D("120000"), D("120000"), D("0"))


def test_forecast_by_month_adds_owners_but_never_currencies(
    session: Session, team: dict[str, User]
) -> None:
    result = reports.forecast(session=session, close_from=Q2[0], close_to=Q2[1], grouping="month")
    rows = {(r.month, r.currency): r for r in result.rows}
    assert set(rows) == {("2026-04", "EUR"), ("2026-04", "JPY"), ("2026-05", "EUR")}
    assert rows[("2026-04", "EUR")].pipeline == D("3000.05")
    # 600 + 1600 + 500 + 0.01 (0.05 × 20 %), rounded once over the month
    assert rows[("2026-04", "EUR")].weighted == D("2700.01")
    assert all(r.owner_id is None for r in result.rows)


def test_forecast_by_owner_over_the_quarter(session: Session, team: dict[str, User]) -> None:
    result = reports.forecast(session=session, close_from=Q2[0], close_to=Q2[1], grouping="owner")
    alice = next(r for r in result.rows if r.owner_name == "Alice")
    assert alice.month is None
    assert (alice.pipeline, alice.committed, alice.won) == (D("3300.00"), D("2800.00"), D("500.00"))


def test_forecast_for_some_owners_and_a_narrow_range(
    session: Session, team: dict[str, User]
) -> None:
    result = reports.forecast(
        session=session,
        close_from=date(2026, 4, 10),
        close_to=date(2026, 4, 20),
        owner_ids=[team["alice"].id],
    )
    assert [(r.month, r.pipeline, r.won) for r in result.rows] == [
        ("2026-04", D("3000.00"), D("0.00"))
    ]


def test_forecast_range_must_not_be_reversed(session: Session) -> None:
    with pytest.raises(ValidationError) as err:
        reports.forecast(session=session, close_from=date(2026, 5, 1), close_to=date(2026, 4, 1))
    assert err.value.field == "close_to"


def _quota(
    session: Session, user: User, amount: str, start: date, end: date, currency: str = "EUR"
) -> None:
    session.add(
        Quota(
            user_id=user.id, period_start=start, period_end=end, amount=D(amount), currency=currency
        )
    )
    session.flush()


def test_quota_attainment_per_user(session: Session, team: dict[str, User], make: Builder) -> None:
    alice, bob = team["alice"], team["bob"]
    for month_start, month_end in [
        (date(2026, 4, 1), date(2026, 4, 30)),
        (date(2026, 5, 1), date(2026, 5, 31)),
    ]:
        _quota(session, alice, "1000.00", month_start, month_end)
    _quota(session, alice, "5000.00", date(2026, 7, 1), date(2026, 7, 31))  # another period
    _quota(session, bob, "100000", *Q2, currency="JPY")
    _quota(session, bob, "0", *Q2)  # a zero quota cannot be attained in percent
    make.opportunity(
        stage="Closed Won", amount="249.00", owner_id=alice.id, close_date=date(2026, 6, 15)
    )

    result = reports.quota_attainment(session=session, period_start=Q2[0], period_end=Q2[1])
    rows = {(r.user_name, r.currency): r for r in result}
    assert list(rows) == [("Alice", "EUR"), ("Bob", "EUR"), ("Bob", "JPY")]
    a = rows[("Alice", "EUR")]
    assert (a.quota, a.won, a.won_count) == (D("2000.00"), D("749.00"), 2)
    assert a.attainment_percent == D("37.5")  # 37.45 rounds half-up (half-even would say 37.4)
    b = rows[("Bob", "JPY")]
    assert (b.quota, b.won, b.attainment_percent) == (D("100000"), D("120000"), D("120.0"))
    assert rows[("Bob", "EUR")].attainment_percent is None

    only_alice = reports.quota_attainment(
        session=session, period_start=Q2[0], period_end=Q2[1], user_ids=[alice.id]
    )
    assert [r.user_id for r in only_alice] == [alice.id]


def test_quota_without_wins_is_zero_percent(session: Session, make: Builder) -> None:
    carol = make.user("carol")
    _quota(session, carol, "1000.000", *Q2, currency="KWD")
    [row] = reports.quota_attainment(session=session, period_start=Q2[0], period_end=Q2[1])
    assert (row.won, row.attainment_percent, row.won_count) == (D("0.000"), D("0.0"), 0)


def test_reports_aggregate_in_sql_not_python(session: Session, make: Builder) -> None:
    """5,000 deals: the forecast runs a handful of statements and loads no opportunity."""
    rep = make.user("rep")
    account = make.account()
    stage = make.stages["Proposal"]
    now = utcnow()
    session.execute(
        insert(Opportunity),
        [
            {
                "id": new_id(), "name": f"Deal {i}", "account_id": account.id, "stage_id": stage.id,
                "probability": 60, "probability_overridden": False, "amount": D("10.01"),
                "currency": "EUR", "close_date": date(2026, 4 + i % 3, 1 + i % 28),
                "owner_id": rep.id, "created_at": now, "updated_at": now, "deleted": False,
            }
            for i in range(5000)
        ],
    )  # fmt: skip
    session.expunge_all()
    statements: list[str] = []

    def count(*args: Any) -> None:
        statements.append(args[2])

    engine = session.get_bind()
    event.listen(engine, "before_cursor_execute", count)
    try:
        result = reports.forecast(
            session=session, close_from=Q2[0], close_to=Q2[1], grouping="month"
        )
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert len(statements) <= 2
    assert not any(isinstance(obj, Opportunity) for obj in session.identity_map.values())
    assert sum(r.open_count for r in result.rows) == 5000
    assert sum((r.pipeline for r in result.rows), D(0)) == D("50050.00")
