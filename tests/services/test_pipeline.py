"""Pipeline rules: stage moves and probability, closing won and lost, weighted value, the board."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from sqlalchemy.orm import Session

from crm_desktop.models import Opportunity, SalesStage
from crm_desktop.services import pipeline
from crm_desktop.services.errors import NotFound, ValidationError

from .conftest import Builder

D = Decimal
NOW = datetime(2026, 3, 14, 9, 30, tzinfo=UTC)


def test_default_stages_are_seeded_once_in_pipeline_order(
    session: Session, stages: dict[str, SalesStage]
) -> None:
    again = pipeline.ensure_default_stages(session=session)
    assert [s.name for s in again] == [
        "Prospecting",
        "Qualification",
        "Needs Analysis",
        "Proposal",
        "Negotiation",
        "Closed Won",
        "Closed Lost",
    ]
    assert [s.probability for s in again] == [10, 20, 40, 60, 80, 100, 0]
    assert [s.id for s in again] == [s.id for s in stages.values()]
    assert stages["Closed Won"].is_closed and stages["Closed Won"].is_won
    assert stages["Closed Lost"].is_closed and not stages["Closed Lost"].is_won


def test_default_stage_ids_are_the_same_on_every_device() -> None:
    # Two laptops seeding offline must not create two different "Prospecting" rows.
    assert pipeline.default_stage_id("Prospecting") == pipeline.default_stage_id("Prospecting")
    assert pipeline.default_stage_id("Prospecting") != pipeline.default_stage_id("Proposal")


def test_configured_stages_are_left_alone(session: Session) -> None:
    session.add(SalesStage(name="Discovery", position=1, probability=5))
    session.flush()
    assert [s.name for s in pipeline.ensure_default_stages(session=session)] == ["Discovery"]


def test_moving_stage_takes_the_stage_probability(
    make: Builder, stages: dict[str, SalesStage], session: Session
) -> None:
    opp = make.opportunity(stage="Prospecting")
    changed = pipeline.move_stage(
        session=session, opportunity_id=opp.id, stage_id=stages["Proposal"].id
    )
    assert changed.probability == 60
    assert changed.stage_name == "Proposal"
    assert opp.probability == 60
    assert opp.closed_at is None


def test_overridden_probability_survives_a_stage_move(
    make: Builder, stages: dict[str, SalesStage], session: Session
) -> None:
    opp = make.opportunity(stage="Qualification")
    pipeline.set_probability(session=session, opportunity_id=opp.id, probability=35)
    changed = pipeline.move_stage(
        session=session, opportunity_id=opp.id, stage_id=stages["Negotiation"].id
    )
    assert changed.probability == 35
    assert changed.probability_overridden

    cleared = pipeline.clear_probability_override(session=session, opportunity_id=opp.id)
    assert cleared.probability == 80
    assert not cleared.probability_overridden
    moved = pipeline.move_stage(
        session=session, opportunity_id=opp.id, stage_id=stages["Proposal"].id
    )
    assert moved.probability == 60


@pytest.mark.parametrize("bad", [-1, 101, True])
def test_probability_must_be_0_to_100(make: Builder, session: Session, bad: int) -> None:
    opp = make.opportunity()
    with pytest.raises(ValidationError) as err:
        pipeline.set_probability(session=session, opportunity_id=opp.id, probability=bad)
    assert err.value.field == "probability"


def test_closing_lost_requires_a_reason(
    make: Builder, stages: dict[str, SalesStage], session: Session
) -> None:
    opp = make.opportunity(stage="Proposal")
    with pytest.raises(ValidationError) as err:
        pipeline.move_stage(
            session=session, opportunity_id=opp.id, stage_id=stages["Closed Lost"].id
        )
    assert err.value.field == "loss_reason"
    assert str(err.value) == "loss_reason: a reason is required to close as lost"
    with pytest.raises(ValidationError, match="loss_reason"):
        pipeline.close_lost(session=session, opportunity_id=opp.id, loss_reason="   ")
    assert opp.stage_id == stages["Proposal"].id  # nothing changed by the refused attempts


def test_close_lost_records_reason_lessons_and_close_time(make: Builder, session: Session) -> None:
    opp = make.opportunity(stage="Negotiation")
    pipeline.set_probability(session=session, opportunity_id=opp.id, probability=90)
    changed = pipeline.close_lost(
        session=session,
        opportunity_id=opp.id,
        loss_reason=" Price too high ",
        lessons_learned="Bring the volume discount earlier",
        now=NOW,
    )
    assert changed.is_closed and not changed.is_won
    assert changed.probability == 0  # a lost deal is worth nothing, whatever the rep typed
    assert changed.weighted_amount == D("0.00")
    assert opp.loss_reason == "Price too high"
    assert opp.lessons_learned == "Bring the volume discount earlier"
    assert opp.closed_at == NOW
    assert opp.close_date == date(2026, 3, 14)


def test_close_won_sets_amount_probability_and_closed_at(make: Builder, session: Session) -> None:
    opp = make.opportunity(stage="Proposal", close_date=date(2026, 6, 30))
    changed = pipeline.close_won(
        session=session, opportunity_id=opp.id, amount=D("4321.50"), now=NOW
    )
    assert changed.is_won and changed.probability == 100
    assert changed.amount == D("4321.50")
    assert changed.weighted_amount == D("4321.50")
    assert changed.closed_at == NOW
    # Won in March: it counts in March, not in June when it was expected.
    assert changed.close_date == date(2026, 3, 14)


def test_reopening_a_closed_deal_clears_closed_at(
    make: Builder, stages: dict[str, SalesStage], session: Session
) -> None:
    opp = make.opportunity(stage="Proposal")
    pipeline.close_won(session=session, opportunity_id=opp.id, now=NOW)
    changed = pipeline.move_stage(
        session=session, opportunity_id=opp.id, stage_id=stages["Negotiation"].id
    )
    assert changed.closed_at is None and not changed.is_closed
    assert changed.probability == 80


def test_unknown_or_deleted_opportunity_is_not_found(
    make: Builder, stages: dict[str, SalesStage], session: Session
) -> None:
    opp = make.opportunity()
    opp.deleted = True
    session.flush()
    with pytest.raises(NotFound):
        pipeline.move_stage(session=session, opportunity_id=opp.id, stage_id=stages["Proposal"].id)


@pytest.mark.parametrize(
    ("amount", "probability", "currency", "expected"),
    [
        ("1000.00", 60, "EUR", "600.00"),
        ("0.25", 10, "EUR", "0.03"),  # 0.025 rounds half-up
        ("12345", 33, "JPY", "4074"),  # 4073.85
        ("1.005", 50, "KWD", "0.503"),  # 0.5025 -> 0.503
        ("999.99", 0, "USD", "0.00"),
    ],
)
def test_weighted_amount_rounds_to_the_currency(
    amount: str, probability: int, currency: str, expected: str
) -> None:
    assert pipeline.weighted_amount(D(amount), probability, currency) == D(expected)


def test_pipeline_summary_per_stage_and_currency(
    make: Builder, stages: dict[str, SalesStage], session: Session
) -> None:
    alice, bob = make.user("alice"), make.user("bob")
    make.opportunity(
        stage="Proposal", amount="1000.10", owner_id=alice.id, close_date=date(2026, 4, 1)
    )
    make.opportunity(
        stage="Proposal", amount="0.05", owner_id=alice.id, close_date=date(2026, 4, 2)
    )
    make.opportunity(
        stage="Proposal",
        amount="500.00",
        owner_id=bob.id,
        probability=90,
        probability_overridden=True,
        close_date=date(2026, 4, 3),
    )
    make.opportunity(
        stage="Proposal",
        amount="100000",
        currency="JPY",
        owner_id=bob.id,
        close_date=date(2026, 5, 1),
    )
    gone = make.opportunity(stage="Proposal", amount="7777.00", owner_id=alice.id)
    gone.deleted = True
    session.flush()

    board = {s.name: s for s in pipeline.pipeline_summary(session=session)}
    assert list(board) == [s.name for s in stages.values()]  # empty columns are shown too
    proposal = board["Proposal"]
    assert proposal.count == 4
    eur, jpy = proposal.by_currency[0], proposal.by_currency[1]
    assert (eur.currency, eur.count, eur.total) == ("EUR", 3, D("1500.15"))
    # 1000.15 × 60 % + 500 × 90 % = 600.09 + 450
    assert eur.weighted == D("1050.09")
    assert (jpy.currency, jpy.count, jpy.total, jpy.weighted) == ("JPY", 1, D("100000"), D("60000"))
    assert board["Prospecting"].count == 0 and board["Prospecting"].by_currency == ()

    alices = {s.name: s for s in pipeline.pipeline_summary(session=session, owner_ids=[alice.id])}
    assert alices["Proposal"].by_currency[0].total == D("1000.15")
    april = {
        s.name: s
        for s in pipeline.pipeline_summary(
            session=session, close_from=date(2026, 4, 2), close_to=date(2026, 4, 30)
        )
    }
    assert april["Proposal"].count == 2
    assert april["Proposal"].by_currency[0].total == D("500.05")


def test_pipeline_summary_is_exact_over_many_small_amounts(make: Builder, session: Session) -> None:
    account = make.account()
    for _ in range(300):
        session.add(
            Opportunity(
                name="n",
                account_id=account.id,
                stage_id=make.stages["Qualification"].id,
                probability=20,
                amount=D("0.10"),
                currency="EUR",
            )
        )
    session.flush()
    column = {s.name: s for s in pipeline.pipeline_summary(session=session)}["Qualification"]
    assert column.by_currency[0].total == D("30.00")  # a float sum would drift here
    assert column.by_currency[0].weighted == D("6.00")


def test_default_stages_reseed_around_a_deleted_stage_of_the_same_name(session: Session) -> None:
    old = SalesStage(name="Proposal", position=1, probability=50, deleted=True)
    session.add(old)
    session.flush()
    seeded = pipeline.ensure_default_stages(session=session)
    assert "Proposal" in [s.name for s in seeded]
    assert old.deleted and old.name.startswith("Proposal (deleted")  # the tombstone stays one
