"""Demo data: deterministic for a seed, plausible in every corner the app shows, and stored
exactly as the ORM would have stored it."""

from __future__ import annotations

import io
import re
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import Boolean, Date, Enum, Integer, Table, Uuid, func, select, text
from sqlalchemy.orm import Session

from crm_desktop.models import (
    ENTITIES,
    Account,
    AccountContact,
    Activity,
    Contact,
    Lead,
    Opportunity,
    OpportunityContact,
    Price,
    PriceList,
    Quote,
    QuoteLine,
    SalesOrder,
    SalesStage,
    Team,
    User,
)
from crm_desktop.models.base import Money, UTCDateTime
from crm_desktop.models.enums import (
    AccountKind,
    ActivityKind,
    ActivityStatus,
    LeadStatus,
    QuoteStatus,
    Role,
)
from crm_desktop.services import demo_data
from crm_desktop.services.io_jsonl import export_jsonl
from crm_desktop.services.quotes import recalculate
from crm_desktop.store import Store, open_store
from crm_desktop.store.search import search

N = 400
TODAY = demo_data.DEFAULT_TODAY
NOW = datetime.combine(TODAY, datetime.min.time(), UTC) + timedelta(hours=9, minutes=30)


def _generate(store: Store, contacts: int, seed: int) -> demo_data.DemoSummary:
    with store.sessions.begin() as session:
        return demo_data.generate(session=session, contacts=contacts, seed=seed)


def _export(store: Store) -> str:
    out = io.StringIO()
    with store.sessions() as session, session.begin():
        export_jsonl(session=session, stream=out)
    return out.getvalue()


@pytest.fixture(scope="module")
def demo(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Store, demo_data.DemoSummary]]:
    """One generated store shared by the read-only plausibility tests (generation takes a while)."""
    path: Path = tmp_path_factory.mktemp("demo") / "crm.sqlite3"
    store = open_store(path)
    summary = _generate(store, N, seed=11)
    yield store, summary
    store.dispose()


@pytest.fixture
def session(demo: tuple[Store, demo_data.DemoSummary]) -> Iterator[Session]:
    with demo[0].sessions() as opened:
        yield opened


# -- determinism -----------------------------------------------------------------------------


def test_same_seed_gives_a_byte_identical_export(store: Store, tmp_path: Path) -> None:
    _generate(store, 80, seed=42)
    other = open_store(tmp_path / "second" / "crm.sqlite3")
    try:
        _generate(other, 80, seed=42)
        assert _export(store) == _export(other)
    finally:
        other.dispose()


def test_another_seed_gives_other_data(store: Store, tmp_path: Path) -> None:
    _generate(store, 80, seed=1)
    other = open_store(tmp_path / "second" / "crm.sqlite3")
    try:
        _generate(other, 80, seed=2)
        assert _export(store) != _export(other)
    finally:
        other.dispose()


def test_ids_are_uuid7_carrying_their_creation_time(session: Session) -> None:
    for model in (Account, Contact, Opportunity, Activity, Quote, User):
        for record_id, created_at in session.execute(select(model.id, model.created_at).limit(50)):
            assert record_id.version == 7 and record_id.variant == uuid.RFC_4122
            ms = record_id.int >> 80
            assert ms == (created_at - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(
                milliseconds=1
            )


def test_nothing_is_stamped_after_the_reference_time(session: Session) -> None:
    for cls in ENTITIES.values():
        latest = session.scalar(select(func.max(cls.updated_at)))  # type: ignore[attr-defined]
        assert latest is None or latest <= NOW, cls.__name__
        first = session.scalar(
            select(func.count()).select_from(cls).where(cls.updated_at < cls.created_at)  # type: ignore[attr-defined]
        )
        assert first == 0, cls.__name__


def test_generation_refuses_a_store_that_holds_data(
    demo: tuple[Store, demo_data.DemoSummary],
) -> None:
    with pytest.raises(demo_data.DemoDataError), demo[0].sessions.begin() as session:
        demo_data.generate(session=session, contacts=5, seed=1)


def test_zero_contacts_still_gives_users_and_a_catalog(store: Store) -> None:
    summary = _generate(store, 0, seed=1)
    assert summary.counts["user"] == 6 and summary.counts["product"] > 10
    assert "contact" not in summary.counts


# -- plausibility ----------------------------------------------------------------------------


def test_counts_scale_with_the_contacts_asked_for(
    demo: tuple[Store, demo_data.DemoSummary],
) -> None:
    counts = demo[1].counts
    assert counts["contact"] == N
    assert N / 6 < counts["account"] < N / 2
    assert counts["opportunity"] > N / 8
    assert counts["activity"] > N / 2
    assert counts["lead"] >= N / 12
    assert counts["quote"] > 10 and counts["quote_line"] >= counts["quote"]
    assert demo[1].indexed > N  # contacts, accounts, leads and opportunities are searchable


def test_users_form_a_team_under_a_manager(
    session: Session, demo: tuple[Store, demo_data.DemoSummary]
) -> None:
    users = session.scalars(select(User)).all()
    roles = Counter(u.role for u in users)
    assert roles[Role.ADMIN] == 1 and roles[Role.MANAGER] == 1 and 3 <= roles[Role.REP] <= 4
    manager = next(u for u in users if u.role is Role.MANAGER)
    team = session.scalars(select(Team)).one()
    assert team.manager_id == manager.id
    for rep in (u for u in users if u.role is Role.REP):
        assert rep.manager_id == manager.id and rep.team_id == team.id
    current = session.get(User, demo[1].current_user_id)
    assert current is not None and current.role is Role.REP
    assert current.username == demo[1].current_username


def test_accounts_span_countries_with_grades_owners_and_parents(session: Session) -> None:
    companies = session.scalars(select(Account).where(Account.kind == AccountKind.COMPANY)).all()
    assert len({a.region for a in companies}) >= 5
    assert len({a.industry for a in companies}) >= 5
    assert len({a.status for a in companies}) == 3
    assert {a.customer_grade for a in companies} > {None}
    assert all(a.owner_id is not None for a in companies)
    assert any(a.parent_id is not None for a in companies)
    assert any(a.credit_limit is not None for a in companies)
    # Names in their own script: Chinese, Japanese and Korean companies exist.
    names = " ".join(a.name for a in companies)
    assert re.search(r"[\u4e00-\u9fff]{2,}有限公司", names)
    assert "株式会社" in names
    assert "주식회사" in names or "(주)" in names
    countries = set(session.scalars(text("SELECT DISTINCT country FROM address")))
    assert len(countries) >= 6
    individuals = session.scalars(select(Account).where(Account.kind == AccountKind.INDIVIDUAL))
    assert len(individuals.all()) >= 1


def test_contacts_are_named_in_many_languages_in_their_own_order(session: Session) -> None:
    contacts = session.scalars(select(Contact)).all()
    languages = Counter(c.language for c in contacts)
    assert set(languages) >= {"en", "de", "fr", "es", "zh", "ja", "ko"}
    for contact in contacts:
        if contact.language in ("zh", "ko"):
            # Family name first, no space, native script.
            assert contact.full_name == contact.last_name + contact.first_name
            assert not contact.full_name.isascii()
        elif contact.language == "ja":
            assert contact.full_name == f"{contact.last_name} {contact.first_name}"
        else:
            assert contact.full_name.startswith(contact.first_name)
    assert any(not c.full_name.isascii() for c in contacts if c.language in ("de", "fr", "es"))
    emails = [c.email for c in contacts if c.email]
    assert len(emails) == len(set(emails)) > N / 2
    assert all(e.isascii() and "@" in e for e in emails)
    assert any(c.phone and c.phone.startswith("+") for c in contacts)


def test_contacts_at_accounts_with_titles_at_two_and_on_their_own(session: Session) -> None:
    links = session.scalars(select(AccountContact)).all()
    per_contact = Counter(link.contact_id for link in links)
    assert any(n == 2 for n in per_contact.values())  # advises a second company
    assert any(link.title and link.department for link in links)
    assert any(link.is_primary for link in links)
    standalone = session.scalar(
        select(func.count())
        .select_from(Contact)
        .where(Contact.id.not_in(select(AccountContact.contact_id)))
    )
    assert standalone and standalone > 0


def test_leads_have_sources_campaigns_grades_and_conversions_linked_both_ways(
    session: Session,
) -> None:
    leads = session.scalars(select(Lead)).all()
    assert len({lead.status for lead in leads}) == len(LeadStatus)
    assert len({lead.source for lead in leads}) >= 4
    assert any(lead.campaign for lead in leads)
    assert {lead.grade for lead in leads} >= {"A", "B", "C"}
    converted = [lead for lead in leads if lead.status is LeadStatus.CONVERTED]
    assert converted
    for lead in converted:
        account = session.get(Account, lead.converted_account_id)
        assert account is not None and account.source_lead_id == lead.id
        contact = session.get(Contact, lead.converted_contact_id)
        assert contact is not None and contact.source_lead_id == lead.id
        assert lead.converted_at is not None and lead.created_at <= lead.converted_at
        if lead.converted_opportunity_id is not None:
            opp = session.get(Opportunity, lead.converted_opportunity_id)
            assert opp is not None and opp.source_lead_id == lead.id


def test_opportunities_cover_every_stage_and_closed_ones_are_complete(session: Session) -> None:
    stages = {s.id: s for s in session.scalars(select(SalesStage))}
    opps = session.scalars(select(Opportunity)).all()
    assert {o.stage_id for o in opps} == set(stages)
    for opp in opps:
        stage = stages[opp.stage_id]
        if stage.is_closed:
            assert opp.closed_at is not None and opp.close_date is not None
            assert opp.close_date < TODAY
            assert opp.probability == stage.probability
            if not stage.is_won:
                assert opp.loss_reason
        else:
            assert opp.closed_at is None and opp.loss_reason is None
            if not opp.probability_overridden:
                assert opp.probability == stage.probability
        assert opp.amount > 0
    assert any(o.probability_overridden for o in opps)
    assert any(o.lessons_learned for o in opps)
    assert {o.currency for o in opps} >= {"USD", "EUR", "JPY"}


def test_buying_centres_name_contacts_of_the_account(session: Session) -> None:
    members = session.scalars(select(OpportunityContact)).all()
    assert len({m.role for m in members}) >= 4 and len({m.attitude for m in members}) == 3
    links = {(link.account_id, link.contact_id) for link in session.scalars(select(AccountContact))}
    for member in members:
        opp = session.get(Opportunity, member.opportunity_id)
        assert opp is not None and (opp.account_id, member.contact_id) in links


def test_activities_past_and_future_with_overdue_tasks(session: Session) -> None:
    activities = session.scalars(select(Activity).where(Activity.deleted.is_(False))).all()
    kinds = Counter(a.kind for a in activities)
    assert set(kinds) >= {
        ActivityKind.CALL,
        ActivityKind.MEETING,
        ActivityKind.TASK,
        ActivityKind.EMAIL,
    }

    def when(activity: Activity) -> datetime:
        if activity.start_date is not None:
            return datetime.combine(activity.start_date, datetime.min.time(), UTC)
        moment = activity.start_at or activity.due_at
        assert moment is not None
        return moment

    assert any(when(a) < NOW and a.status is ActivityStatus.DONE for a in activities)
    future = [a for a in activities if when(a) > NOW]
    assert future and all(a.status is ActivityStatus.PLANNED for a in future)
    overdue = [
        a for a in activities
        if a.kind is ActivityKind.TASK and a.status is ActivityStatus.PLANNED and a.due_at and a.due_at < NOW
    ]  # fmt: skip
    assert overdue
    assert any(a.reminder_at for a in future)
    assert any(a.all_day for a in activities)
    for activity in activities:
        if activity.end_at is not None:
            assert activity.start_at is not None and activity.end_at > activity.start_at


def test_price_lists_in_three_currencies(session: Session) -> None:
    lists = session.scalars(select(PriceList).where(PriceList.active.is_(True))).all()
    assert {pl.currency for pl in lists} == {"USD", "EUR", "JPY"}
    for price in session.scalars(select(Price)):
        assert price.unit_price > 0
    yen = session.scalars(
        select(Price.unit_price).join(PriceList).where(PriceList.currency == "JPY")
    ).all()
    assert all(p == p.to_integral_value() for p in yen)  # no sen


def test_quote_totals_are_the_quote_service_arithmetic(session: Session) -> None:
    quotes = session.scalars(select(Quote)).all()
    assert len({q.status for q in quotes}) >= 5
    assert any(q.revision == 2 for q in quotes)
    for quote in quotes:
        lines = session.scalars(
            select(QuoteLine).where(QuoteLine.quote_id == quote.id).order_by(QuoteLine.position)
        ).all()
        assert lines
        stored = (quote.subtotal, quote.discount_total, quote.tax_total, quote.total)
        nets = [line.net_amount for line in lines]
        totals = recalculate(quote, lines)
        assert (totals.subtotal, totals.discount_total, totals.tax_total, totals.total) == stored
        assert list(totals.line_nets) == nets
        if quote.revision == 2:
            first = session.scalars(
                select(Quote).where(Quote.number == quote.number, Quote.revision == 1)
            ).one()
            assert first.frozen and not first.is_current and quote.is_current
    session.rollback()  # recalculate() touched the loaded objects; nothing to keep


def test_accepted_quotes_made_orders_and_won_deals_carry_the_quote_amount(session: Session) -> None:
    accepted = session.scalars(select(Quote).where(Quote.status == QuoteStatus.ACCEPTED)).all()
    assert accepted
    for quote in accepted:
        order = session.scalars(select(SalesOrder).where(SalesOrder.quote_id == quote.id)).one()
        assert order.total == quote.total and order.currency == quote.currency
        assert quote.decided_at is not None and order.ordered_on == quote.decided_at.date()
        opp = session.get(Opportunity, quote.opportunity_id)
        assert opp is not None and opp.amount == quote.subtotal - quote.discount_total
        stage = session.get(SalesStage, opp.stage_id)
        assert stage is not None and stage.is_won


def test_some_records_are_tombstones(session: Session) -> None:
    deleted = sum(
        session.scalar(select(func.count()).select_from(cls).where(cls.deleted.is_(True))) or 0  # type: ignore[attr-defined]
        for cls in ENTITIES.values()
    )
    assert deleted > 0


def test_generated_records_are_searchable(session: Session) -> None:
    contact = session.scalars(
        select(Contact).where(Contact.language == "zh", Contact.deleted.is_(False))
    ).first()
    assert contact is not None
    assert contact.id in {h.id for h in search(session, contact.full_name)}
    account = session.scalars(select(Account).where(Account.kind == AccountKind.COMPANY)).first()
    assert account is not None
    assert account.id in {h.id for h in search(session, account.name, limit=200)}


# -- the fast insert path stores what SQLAlchemy would ---------------------------------------


def _sample(column_type: object) -> object:
    """A typical Python value for a column of this type."""
    if isinstance(column_type, UTCDateTime):
        return datetime(2026, 5, 6, 7, 8, 9, tzinfo=UTC)
    if isinstance(column_type, Money):
        return Decimal("1234.50")
    if isinstance(column_type, Uuid):
        return uuid.UUID("018f0000-0000-7000-8000-0000000000aa")
    if isinstance(column_type, Enum):
        assert column_type.enum_class is not None
        return next(iter(column_type.enum_class))
    if isinstance(column_type, Boolean):
        return True
    if isinstance(column_type, Date):
        return date(2026, 1, 31)
    if isinstance(column_type, Integer):
        return 7
    return "text"


def test_bulk_converters_match_sqlalchemy_bind_processing(store: Store) -> None:
    dialect = store.engine.dialect
    stored: dict[str, object] = {}
    for name, cls in ENTITIES.items():
        table: Table = cls.__table__  # type: ignore[attr-defined, assignment]
        converters = demo_data._db_value_converters(table, dialect)
        for column, convert in zip(table.c, converters, strict=True):
            value = _sample(column.type)
            processor = column.type._cached_bind_processor(dialect)
            expected = processor(value) if processor else value
            got = convert(value) if convert else value
            assert got == expected, f"{name}.{column.key}: {got!r} != {expected!r}"
            stored[type(column.type).__name__] = got
    # The stored text of a timestamp is compared as text by SQL: its format must never vary.
    assert stored["UTCDateTime"] == "2026-05-06 07:08:09.000000"
    assert stored["Money"] == "1234.50"
