"""The sales pipeline: stages, moving opportunities through them, closing, and weighted value.

Rules:

* An opportunity's ``probability`` follows its stage's default probability, unless a user typed
  their own figure (:func:`set_probability`, which sets ``probability_overridden``). A stage move
  then leaves the user's figure alone; :func:`clear_probability_override` goes back to the stage's.
* Closing is a move to a closed stage: it stamps ``closed_at``. Closing as lost requires a
  non-empty ``loss_reason``; ``lessons_learned`` is optional. A closed stage's probability (100 for
  won, 0 for lost) always wins over an override: a closed deal is certain either way.
* Closing also sets ``close_date`` to the day it closed (unless the caller gives one): while a
  deal is open ``close_date`` is the expected date, once closed it is the actual one, so the
  forecast and quota attainment in :mod:`.reports` count a deal in the month it really closed.
  Reopening (a move back to an open stage) clears ``closed_at``.
* Weighted amount = amount × probability / 100, rounded half-up to the currency's minor unit.
  Column totals on the board are the exact sum of amount × probability, rounded once, so they
  can differ by a cent from the sum of the rounded per-card figures.

Every action takes the caller's session, flushes, never commits, and returns a frozen
:class:`OpportunityChanged` the UI can show without touching the ORM object.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from crm_desktop.models import Opportunity, SalesStage, utcnow
from crm_desktop.services.errors import ValidationError, get_live
from crm_desktop.services.money import normalise_currency, round_money, sum_columns, sum_value

_HUNDRED = Decimal(100)

#: Namespace for the ids of the default stages (see :func:`ensure_default_stages`).
_STAGE_NAMESPACE = uuid.UUID("6f1c1f0e-5b0a-4c55-9a51-2f1d3c6a7e10")

#: (name, probability, is_closed, is_won), in pipeline order.
DEFAULT_STAGES: tuple[tuple[str, int, bool, bool], ...] = (
    ("Prospecting", 10, False, False),
    ("Qualification", 20, False, False),
    ("Needs Analysis", 40, False, False),
    ("Proposal", 60, False, False),
    ("Negotiation", 80, False, False),
    ("Closed Won", 100, True, True),
    ("Closed Lost", 0, True, False),
)


def default_stage_id(name: str) -> uuid.UUID:
    """The fixed id of a default stage.

    Two devices seeding an empty store while offline must create the *same* stage rows, or sync
    would meet two "Prospecting" rows with different ids (stage names are unique). A name-based
    UUIDv5 makes the seed idempotent across devices.
    """
    return uuid.uuid5(_STAGE_NAMESPACE, name)


def list_stages(*, session: Session) -> list[SalesStage]:
    """Every live stage, in pipeline order."""
    return list(
        session.scalars(
            select(SalesStage)
            .where(SalesStage.deleted.is_(False))
            .order_by(SalesStage.position, SalesStage.name)
        )
    )


def ensure_default_stages(*, session: Session) -> list[SalesStage]:
    """Create the default stages if the store has no live stage, and return all live stages
    in pipeline order. Stages an admin configured are never touched."""
    stages = list_stages(session=session)
    if stages:
        return stages
    for position, (name, probability, is_closed, is_won) in enumerate(DEFAULT_STAGES, start=1):
        stage_id = default_stage_id(name)
        stage = session.get(SalesStage, stage_id)
        if stage is None:
            # A tombstoned stage of a different id may still hold the unique name: rename the
            # tombstone out of the way rather than fail the seed.
            stale = session.scalars(select(SalesStage).where(SalesStage.name == name)).first()
            if stale is not None:
                stale.name = f"{name} (deleted {stale.id.hex[:8]})"
                session.flush()
            stage = SalesStage(id=stage_id, name=name)
            session.add(stage)
        stage.deleted = False
        stage.position = position * 10
        stage.probability = probability
        stage.is_closed = is_closed
        stage.is_won = is_won
    session.flush()
    return list_stages(session=session)


@dataclass(frozen=True)
class OpportunityChanged:
    """What a pipeline action left on the opportunity."""

    opportunity_id: uuid.UUID
    stage_id: uuid.UUID
    stage_name: str
    probability: int
    probability_overridden: bool
    amount: Decimal
    currency: str
    weighted_amount: Decimal
    is_closed: bool
    is_won: bool
    closed_at: datetime | None
    close_date: date | None
    loss_reason: str | None


def weighted_amount(amount: Decimal, probability: int, currency: str) -> Decimal:
    """amount × probability / 100, rounded half-up to the currency's minor unit."""
    return round_money(Decimal(amount) * probability / _HUNDRED, currency)


def _changed(opp: Opportunity, stage: SalesStage) -> OpportunityChanged:
    return OpportunityChanged(
        opportunity_id=opp.id,
        stage_id=stage.id,
        stage_name=stage.name,
        probability=opp.probability,
        probability_overridden=opp.probability_overridden,
        amount=opp.amount,
        currency=opp.currency,
        weighted_amount=weighted_amount(opp.amount, opp.probability, opp.currency),
        is_closed=stage.is_closed,
        is_won=stage.is_won,
        closed_at=opp.closed_at,
        close_date=opp.close_date,
        loss_reason=opp.loss_reason,
    )


def first_open_stage(*, session: Session) -> SalesStage:
    """The first stage of the pipeline that is not closed (new opportunities start there);
    seeds the default stages on an empty store."""
    for stage in ensure_default_stages(session=session):
        if not stage.is_closed:
            return stage
    raise ValidationError("stage_id", "the pipeline has no open stage; add one in the settings")


def _closing_stage(session: Session, *, won: bool) -> SalesStage:
    for stage in ensure_default_stages(session=session):
        if stage.is_closed and stage.is_won == won:
            return stage
    kind = "closed-won" if won else "closed-lost"
    raise ValidationError("stage_id", f"the pipeline has no {kind} stage; add one in the settings")


def move_stage(
    *,
    session: Session,
    opportunity_id: uuid.UUID,
    stage_id: uuid.UUID,
    loss_reason: str | None = None,
    lessons_learned: str | None = None,
    close_date: date | None = None,
    now: datetime | None = None,
) -> OpportunityChanged:
    """Move an opportunity to another stage (the pipeline board's drag and drop).

    * Open stage: probability becomes the stage's default unless the user overrode it; leaving
      a closed stage reopens the deal (``closed_at`` cleared).
    * Closed stage: ``closed_at`` is stamped and probability becomes the stage's (100 or 0),
      override or not. ``close_date`` becomes the day it closed unless one is given, so
      forecasts and quota attainment count the deal in the month it really closed.
    * Closed-lost needs a non-empty ``loss_reason`` (given here or already on the record);
      ``lessons_learned`` is optional. Closing as won clears a stale loss reason.
    """
    opp = get_live(session, Opportunity, opportunity_id)
    stage = get_live(session, SalesStage, stage_id)
    now = now or utcnow()

    if stage.is_closed and not stage.is_won:
        reason = (loss_reason if loss_reason is not None else opp.loss_reason) or ""
        if not reason.strip():
            raise ValidationError("loss_reason", "a reason is required to close as lost")
        opp.loss_reason = reason.strip()
        if lessons_learned is not None:
            opp.lessons_learned = lessons_learned.strip() or None
    elif stage.is_won:
        opp.loss_reason = None
        if lessons_learned is not None:
            opp.lessons_learned = lessons_learned.strip() or None

    # Moving a closed deal onto the same closed stage again is not a new close: keep its stamps.
    reclosing_same = opp.stage_id == stage.id and opp.closed_at is not None
    opp.stage_id = stage.id
    if stage.is_closed:
        # A closed deal is certain either way: the stage's 100 or 0 beats any override.
        opp.probability = stage.probability
        opp.probability_overridden = False
        if not reclosing_same:
            opp.closed_at = now
            # The UTC day of ``now``; a view that knows the user's zone passes ``close_date``.
            opp.close_date = now.date()
        if close_date is not None:
            opp.close_date = close_date
    else:
        opp.closed_at = None
        if close_date is not None:
            opp.close_date = close_date
        if not opp.probability_overridden:
            opp.probability = stage.probability
    session.flush()
    return _changed(opp, stage)


def close_won(
    *,
    session: Session,
    opportunity_id: uuid.UUID,
    amount: Decimal | None = None,
    currency: str | None = None,
    close_date: date | None = None,
    lessons_learned: str | None = None,
    now: datetime | None = None,
) -> OpportunityChanged:
    """Close an opportunity as won, optionally with its final amount (an accepted quote's)."""
    opp = get_live(session, Opportunity, opportunity_id)
    if amount is not None:
        opp.amount = Decimal(amount)
    if currency is not None:
        opp.currency = normalise_currency(currency)
    return move_stage(
        session=session,
        opportunity_id=opp.id,
        stage_id=_closing_stage(session, won=True).id,
        close_date=close_date,
        lessons_learned=lessons_learned,
        now=now,
    )


def close_lost(
    *,
    session: Session,
    opportunity_id: uuid.UUID,
    loss_reason: str,
    lessons_learned: str | None = None,
    close_date: date | None = None,
    now: datetime | None = None,
) -> OpportunityChanged:
    """Close an opportunity as lost; ``loss_reason`` must not be blank."""
    if not (loss_reason or "").strip():
        # Checked before the move so a blank reason is refused even when an old one exists.
        raise ValidationError("loss_reason", "a reason is required to close as lost")
    return move_stage(
        session=session,
        opportunity_id=opportunity_id,
        stage_id=_closing_stage(session, won=False).id,
        loss_reason=loss_reason,
        lessons_learned=lessons_learned,
        close_date=close_date,
        now=now,
    )


def set_probability(
    *, session: Session, opportunity_id: uuid.UUID, probability: int
) -> OpportunityChanged:
    """Record the user's own win probability (0-100); later stage moves keep it."""
    opp = get_live(session, Opportunity, opportunity_id)
    stage = get_live(session, SalesStage, opp.stage_id)
    if isinstance(probability, bool) or not 0 <= probability <= 100:
        raise ValidationError("probability", "must be a whole number from 0 to 100")
    if stage.is_closed:
        raise ValidationError("probability", "a closed opportunity's probability is its stage's")
    opp.probability = int(probability)
    opp.probability_overridden = True
    session.flush()
    return _changed(opp, stage)


def clear_probability_override(
    *, session: Session, opportunity_id: uuid.UUID
) -> OpportunityChanged:
    """Drop the user's probability and follow the stage's default again."""
    opp = get_live(session, Opportunity, opportunity_id)
    stage = get_live(session, SalesStage, opp.stage_id)
    opp.probability_overridden = False
    opp.probability = stage.probability
    session.flush()
    return _changed(opp, stage)


@dataclass(frozen=True)
class CurrencyTotal:
    """Opportunities of one currency: how many, their amount, and their weighted amount."""

    currency: str
    count: int
    total: Decimal
    weighted: Decimal


@dataclass(frozen=True)
class StageSummary:
    """One column of the pipeline board. Amounts are never added across currencies."""

    stage_id: uuid.UUID
    name: str
    position: int
    probability: int
    is_closed: bool
    is_won: bool
    count: int
    by_currency: tuple[CurrencyTotal, ...]


def pipeline_summary(
    *,
    session: Session,
    owner_ids: Collection[uuid.UUID] | None = None,
    close_from: date | None = None,
    close_to: date | None = None,
) -> list[StageSummary]:
    """Per stage, in pipeline order: count, total and weighted total per currency.

    ``owner_ids`` limits to those owners; ``close_from``/``close_to`` (inclusive) to expected
    close dates in that range (opportunities without a close date are left out by a range).
    Every live stage is listed, empty ones too, so the board shows all its columns. One grouped
    SQL query; amounts are summed exactly (see :func:`crm_desktop.services.money.sum_columns`).
    """
    stages = list_stages(session=session)
    dialect = session.get_bind().dialect.name
    query = (
        select(
            Opportunity.stage_id,
            Opportunity.currency,
            func.count().label("n"),
            *sum_columns(Opportunity.amount, dialect, "amount"),
            # Σ amount × probability, exact; divided and rounded once per column below.
            *sum_columns(Opportunity.amount, dialect, "weighted", factor=Opportunity.probability),
        )
        .where(Opportunity.deleted.is_(False))
        .group_by(Opportunity.stage_id, Opportunity.currency)
    )
    if owner_ids is not None:
        query = query.where(Opportunity.owner_id.in_(list(owner_ids)))
    if close_from is not None:
        query = query.where(Opportunity.close_date >= close_from)
    if close_to is not None:
        query = query.where(Opportunity.close_date <= close_to)

    per_stage: dict[uuid.UUID, list[CurrencyTotal]] = {}
    for row in session.execute(query):
        per_stage.setdefault(row.stage_id, []).append(
            CurrencyTotal(
                currency=row.currency,
                count=int(row.n),
                total=round_money(sum_value(row, "amount", dialect), row.currency),
                weighted=round_money(sum_value(row, "weighted", dialect) / _HUNDRED, row.currency),
            )
        )
    return [
        StageSummary(
            stage_id=stage.id,
            name=stage.name,
            position=stage.position,
            probability=stage.probability,
            is_closed=stage.is_closed,
            is_won=stage.is_won,
            count=sum(t.count for t in per_stage.get(stage.id, ())),
            by_currency=tuple(sorted(per_stage.get(stage.id, ()), key=lambda t: t.currency)),
        )
        for stage in stages
    ]
