"""Sales reports: the forecast by month and owner, and quota attainment.

Definitions (per currency; amounts in different currencies are never added together):

* **pipeline**: the amount of *open* opportunities (stage not closed).
* **weighted**: open amount × probability / 100, plus the amount already won. Won deals are
  certain (probability 100); lost ones count nothing and are left out of every figure.
* **committed**: won, plus open opportunities at a probability of at least
  :data:`COMMIT_PROBABILITY` (80, the default Negotiation stage). The probability is the
  opportunity's own, so a rep who types 90 % on a deal is committing to it, and one who lowers
  a Negotiation deal to 50 % takes it out of the commit. (A dedicated forecast-category column
  would let a rep commit a deal independently of its probability; see the issue note.)
* **won**: closed-won amount.

Opportunities count in the month of their ``close_date`` (expected while open; the day it
closed once closed, which :mod:`.pipeline` stamps); a range is inclusive, and deals without a
close date are left out of a dated report.

Quota attainment: for each user and currency with quotas lying inside the asked period, the sum
of those quotas against the won amount closed in the period; attainment = won / quota × 100,
rounded half-up to one decimal. Ask for the period quotas were set for (a month, a quarter):
a quarterly quota is not pro-rated into a monthly report.

Every figure is aggregated by SQL (``GROUP BY``), never by loading rows into Python: a report
over 100k+ opportunities returns a few hundred groups. Amounts are summed exactly
(:func:`crm_desktop.services.money.sum_columns`), weighted ones as the exact sum of amount ×
probability, divided and rounded once per cell.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Literal

from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.orm import Session

from crm_desktop.models import Opportunity, Quota, SalesStage, User
from crm_desktop.services.errors import ValidationError
from crm_desktop.services.money import round_money, sum_columns, sum_value

#: Open opportunities at or above this probability are in the commit.
COMMIT_PROBABILITY = 80
_HUNDRED = Decimal(100)

ForecastGrouping = Literal["month", "owner", "month_owner"]


@dataclass(frozen=True)
class ForecastRow:
    """One cell of the forecast. ``month`` ("2026-05") is None when grouped by owner only;
    ``owner_id`` is None when grouped by month only (or for unowned deals)."""

    month: str | None
    owner_id: uuid.UUID | None
    owner_name: str | None
    currency: str
    open_count: int
    won_count: int
    pipeline: Decimal
    weighted: Decimal
    committed: Decimal
    won: Decimal


@dataclass(frozen=True)
class Forecast:
    """The forecast for close dates in ``close_from`` … ``close_to``, sorted by month, owner
    name and currency. Months or owners without any open or won deal are absent."""

    close_from: date
    close_to: date
    grouping: ForecastGrouping
    rows: tuple[ForecastRow, ...]


@dataclass(frozen=True)
class QuotaAttainment:
    """One user's quota against what they won in the period, in one currency."""

    user_id: uuid.UUID
    user_name: str
    currency: str
    quota: Decimal
    won: Decimal
    won_count: int
    attainment_percent: Decimal | None  # None when the quota is 0


def _month(dialect: str) -> Any:
    if dialect == "sqlite":
        # SQLAlchemy stores dates on SQLite as ISO text, so the month is its first 7 characters.
        return func.substr(Opportunity.close_date, 1, 7)
    return func.to_char(Opportunity.close_date, "YYYY-MM")


def _owner_names(session: Session, ids: Collection[uuid.UUID | None]) -> dict[uuid.UUID, str]:
    wanted = [i for i in ids if i is not None]
    if not wanted:
        return {}
    rows = session.execute(
        select(User.id, User.full_name, User.username).where(User.id.in_(wanted))
    )
    return {row.id: row.full_name or row.username for row in rows}


def forecast(
    *,
    session: Session,
    close_from: date,
    close_to: date,
    owner_ids: Collection[uuid.UUID] | None = None,
    grouping: ForecastGrouping = "month_owner",
) -> Forecast:
    """Pipeline, weighted, committed and won per month and/or owner (see module docstring)."""
    if close_to < close_from:
        raise ValidationError("close_to", "the end of the range is before its start")
    if grouping not in ("month", "owner", "month_owner"):
        raise ValidationError("grouping", "must be month, owner or month_owner")
    dialect = session.get_bind().dialect.name
    keys: list[Any] = []
    if grouping in ("month", "month_owner"):
        keys.append(_month(dialect).label("month"))
    if grouping in ("owner", "month_owner"):
        keys.append(Opportunity.owner_id)

    # One scan, one group per cell: every figure is a conditional sum over the same rows.
    is_won = SalesStage.is_won.is_(True)
    is_open = SalesStage.is_closed.is_(False)
    committed_open = and_(is_open, Opportunity.probability >= COMMIT_PROBABILITY)
    amount = Opportunity.amount
    query = (
        select(
            *keys,
            Opportunity.currency,
            func.sum(case((is_open, 1), else_=0)).label("open_n"),
            func.sum(case((is_won, 1), else_=0)).label("won_n"),
            *sum_columns(amount, dialect, "pipeline", when=is_open),
            *sum_columns(amount, dialect, "won", when=is_won),
            *sum_columns(amount, dialect, "committed_open", when=committed_open),
            *sum_columns(
                amount, dialect, "weighted_open", when=is_open, factor=Opportunity.probability
            ),
        )
        .join(SalesStage, SalesStage.id == Opportunity.stage_id)
        .where(
            Opportunity.deleted.is_(False),
            Opportunity.close_date >= close_from,
            Opportunity.close_date <= close_to,
            # open or won: lost deals count nothing anywhere
            or_(is_won, is_open),
        )
        .group_by(*keys, Opportunity.currency)
    )
    if owner_ids is not None:
        query = query.where(Opportunity.owner_id.in_(list(owner_ids)))

    cells: dict[tuple[str | None, uuid.UUID | None, str], dict[str, Any]] = {}
    for row in session.execute(query):
        m = row._mapping
        won = sum_value(row, "won", dialect)
        cells[(m.get("month"), m.get("owner_id"), row.currency)] = {
            "open": int(row.open_n),
            "won_n": int(row.won_n),
            "pipeline": sum_value(row, "pipeline", dialect),
            "won": won,
            # Σ amount × probability is exact; divided and rounded once per cell.
            "weighted": sum_value(row, "weighted_open", dialect) / _HUNDRED + won,
            "committed": sum_value(row, "committed_open", dialect) + won,
        }

    names = _owner_names(session, {owner for _, owner, _ in cells})
    rows = [
        ForecastRow(
            month=month_key,
            owner_id=owner,
            owner_name=names.get(owner) if owner else None,
            currency=currency,
            open_count=cell["open"],
            won_count=cell["won_n"],
            pipeline=round_money(cell["pipeline"], currency),
            weighted=round_money(cell["weighted"], currency),
            committed=round_money(cell["committed"], currency),
            won=round_money(cell["won"], currency),
        )
        for (month_key, owner, currency), cell in cells.items()
    ]
    rows.sort(
        key=lambda r: (r.month or "", (r.owner_name or "").casefold(), str(r.owner_id), r.currency)
    )
    return Forecast(close_from=close_from, close_to=close_to, grouping=grouping, rows=tuple(rows))


def quota_attainment(
    *,
    session: Session,
    period_start: date,
    period_end: date,
    user_ids: Collection[uuid.UUID] | None = None,
) -> list[QuotaAttainment]:
    """Quota vs won per user and currency for quotas inside the period (see module docstring),
    sorted by user name and currency."""
    if period_end < period_start:
        raise ValidationError("period_end", "the end of the period is before its start")
    dialect = session.get_bind().dialect.name

    quota_query = (
        select(Quota.user_id, Quota.currency, *sum_columns(Quota.amount, dialect, "amount"))
        .where(
            Quota.deleted.is_(False),
            Quota.period_start >= period_start,
            Quota.period_end <= period_end,
        )
        .group_by(Quota.user_id, Quota.currency)
    )
    if user_ids is not None:
        quota_query = quota_query.where(Quota.user_id.in_(list(user_ids)))
    quotas = {
        (row.user_id, row.currency): sum_value(row, "amount", dialect)
        for row in session.execute(quota_query)
    }
    if not quotas:
        return []

    won_query = (
        select(
            Opportunity.owner_id,
            Opportunity.currency,
            func.count().label("n"),
            *sum_columns(Opportunity.amount, dialect, "amount"),
        )
        .join(SalesStage, SalesStage.id == Opportunity.stage_id)
        .where(
            Opportunity.deleted.is_(False),
            SalesStage.is_won.is_(True),
            Opportunity.close_date >= period_start,
            Opportunity.close_date <= period_end,
            Opportunity.owner_id.in_({user for user, _ in quotas}),
        )
        .group_by(Opportunity.owner_id, Opportunity.currency)
    )
    won = {
        (row.owner_id, row.currency): (sum_value(row, "amount", dialect), row.n)
        for row in session.execute(won_query)
    }
    names = _owner_names(session, {user for user, _ in quotas})

    result = []
    for (user, currency), quota in quotas.items():
        amount, count = won.get((user, currency), (Decimal(0), 0))
        attainment = (
            (amount / quota * _HUNDRED).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)
            if quota
            else None
        )
        result.append(
            QuotaAttainment(
                user_id=user,
                user_name=names.get(user, ""),
                currency=currency,
                quota=round_money(quota, currency),
                won=round_money(amount, currency),
                won_count=count,
                attainment_percent=attainment,
            )
        )
    result.sort(key=lambda r: (r.user_name.casefold(), str(r.user_id), r.currency))
    return result
