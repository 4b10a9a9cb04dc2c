"""Fixtures of the record-page and pipeline-board tests: a small realistic CRM on the test's store.

Bind the fixtures in a test module (``crm = records_fixtures.crm``), so ruff sees no shadowed import.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

import pytest
from PySide6.QtWidgets import QWidget
from pytestqt.qtbot import QtBot

from crm_desktop.models import (
    Account,
    AccountContact,
    Activity,
    Contact,
    Lead,
    Opportunity,
    OpportunityContact,
    User,
    utcnow,
)
from crm_desktop.models.enums import (
    AccountStatus,
    ActivityKind,
    ActivityStatus,
    Attitude,
    BuyingRole,
    Grade,
    Influence,
    LeadStatus,
)
from crm_desktop.services.pipeline import ensure_default_stages
from crm_desktop.store import Store
from crm_desktop.ui.context import AppContext
from crm_desktop.ui.records import RecordPage, create_record_page

#: Mark for tests that open a popup (a completer): the offscreen platform cannot raise it, grab
#: the keyboard for it or pass it size hints, and says so; that is the platform, not our fault.
offscreen_popups = pytest.mark.qt_log_ignore(
    "This plugin does not support (raise|grabbing the keyboard|grabbing the mouse|propagateSizeHints)"
)


@dataclass(frozen=True)
class Crm:
    """Ids of the seeded records, and the stage ids by name."""

    me: uuid.UUID
    colleague: uuid.UUID
    acme: uuid.UUID
    globex: uuid.UUID
    empty_account: uuid.UUID
    john: uuid.UUID
    mei: uuid.UUID
    turbines: uuid.UUID
    pumps: uuid.UUID
    service: uuid.UUID
    lead: uuid.UUID
    stages: dict[str, uuid.UUID]


def seed(store: Store) -> Crm:
    """Two users, three accounts, contacts with titles, deals in several stages, a lead."""
    today = date.today()
    with store.sessions.begin() as s:
        stages = {st.name: st for st in ensure_default_stages(session=s)}
        me = User(username="ada", full_name="Ada Lovelace")
        colleague = User(username="bob", full_name="Bob Builder")
        s.add_all([me, colleague])
        s.flush()
        acme = Account(
            name="Acme Corp",
            industry="Manufacturing",
            region="North",
            status=AccountStatus.ACTIVE,
            customer_grade=Grade.A,
            owner_id=me.id,
        )
        globex = Account(name="Globex", industry="Energy", owner_id=colleague.id)
        quiet = Account(name="Quiet Ltd", owner_id=me.id)
        s.add_all([acme, globex, quiet])
        s.flush()
        john = Contact(
            first_name="John",
            last_name="Smith",
            full_name="John Smith",
            email="john.smith@acme.example",
            owner_id=me.id,
        )
        mei = Contact(first_name="美", last_name="王", full_name="王美", owner_id=me.id)
        s.add_all([john, mei])
        s.flush()
        s.add_all(
            [
                AccountContact(
                    account_id=acme.id, contact_id=john.id, title="CTO", is_primary=True
                ),
                AccountContact(
                    account_id=acme.id,
                    contact_id=mei.id,
                    title="Head of Purchasing",
                    department="Procurement",
                ),
            ]
        )

        def deal(name: str, account: Account, stage: str, amount: str, owner: User) -> Opportunity:
            opp = Opportunity(
                name=name,
                account_id=account.id,
                stage_id=stages[stage].id,
                probability=stages[stage].probability,
                amount=Decimal(amount),
                close_date=today,
                owner_id=owner.id,
            )
            s.add(opp)
            return opp

        turbines = deal("Acme turbines", acme, "Proposal", "125000", me)
        pumps = deal("Globex pumps", globex, "Prospecting", "9800.50", colleague)
        service = deal("Acme service", acme, "Closed Won", "5000", me)
        service.closed_at = utcnow()
        lead = Lead(
            first_name="Ann",
            last_name="Hot",
            full_name="Ann Hot",
            company="Initech",
            email="ann@initech.example",
            grade=Grade.A,
            status=LeadStatus.QUALIFIED,
            owner_id=me.id,
        )
        s.add(lead)
        s.flush()
        s.add(
            OpportunityContact(
                opportunity_id=turbines.id,
                contact_id=john.id,
                role=BuyingRole.INFLUENCER,
                attitude=Attitude.SUPPORTER,
                influence=Influence.MEDIUM,
            )
        )
        s.add(
            Activity(
                kind=ActivityKind.MEETING,
                subject="Site visit at the Acme plant",
                start_at=utcnow() - timedelta(days=2),
                status=ActivityStatus.DONE,
                owner_id=me.id,
                account_id=acme.id,
                opportunity_id=turbines.id,
                contact_id=john.id,
            )
        )
        s.flush()
        return Crm(
            me=me.id,
            colleague=colleague.id,
            acme=acme.id,
            globex=globex.id,
            empty_account=quiet.id,
            john=john.id,
            mei=mei.id,
            turbines=turbines.id,
            pumps=pumps.id,
            service=service.id,
            lead=lead.id,
            stages={name: st.id for name, st in stages.items()},
        )


@pytest.fixture
def crm(store: Store, ui_context: AppContext) -> Crm:
    """The seeded records; the context works as their first user."""
    data = seed(store)
    ui_context.current_user_id = data.me
    return data


PageFactory = Callable[[str, uuid.UUID | None], RecordPage]


@pytest.fixture
def page_factory(qtbot: QtBot, ui_context: AppContext) -> Iterator[PageFactory]:
    """Open a record page, shown, and wait until it has loaded its record."""

    pages: list[RecordPage] = []

    def open_page(entity: str, record_id: uuid.UUID | None) -> RecordPage:
        page = create_record_page(ui_context, entity, record_id, None)
        assert isinstance(page, RecordPage)
        # Not qtbot.addWidget: pytest-qt closes those before fixtures tear down, and a page
        # left with unsaved edits would then ask (modally) whether to discard them.
        pages.append(page)
        page.resize(1100, 720)
        page.show()
        qtbot.waitUntil(lambda: page.view is not None)
        return page

    yield open_page
    # Before the context's worker stops: no page may schedule a reload on a stopped runner.
    for page in pages:
        quiet(page)
        page.dirty = False  # closing at teardown must not ask about unsaved edits
        page.close()
        page.deleteLater()
    qtbot.waitUntil(lambda: ui_context.runner.pending == 0, timeout=10_000)


def quiet(widget: QWidget) -> None:
    """Stop a page's or board's pending reload and detach it from the context's signals."""
    timer = getattr(widget, "_reload_timer", None)
    if timer is not None:
        timer.stop()
    context = getattr(widget, "context", None)
    if context is not None:
        context.data_changed.disconnect(widget.on_context_data_changed)  # type: ignore[attr-defined]


def field(page: QWidget, name: str) -> QWidget:
    """A named field widget of a page (fields are named as the services name them)."""
    widget = page.findChild(QWidget, name)
    assert widget is not None, f"no field {name!r}"
    return widget
