"""Small fixtures for the Qt tests that combine: a context, the profile's UI settings, sample records.

``ui_context`` gives an :class:`AppContext` on the test's own store whose runner is shut down
before the store is disposed. ``sample_records`` writes a handful of realistic records through
the ORM (so the search index is filled) and returns their ids by name.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from PySide6.QtCore import QSettings
from PySide6.QtGui import QInputMethodEvent
from PySide6.QtWidgets import QApplication, QWidget
from pytestqt.qtbot import QtBot

from crm_desktop.app import shield_binding_refcounts
from crm_desktop.config import Profile
from crm_desktop.models import (
    Account,
    AccountContact,
    Contact,
    Lead,
    Opportunity,
    SalesStage,
    User,
)
from crm_desktop.models.enums import AccountStatus, Grade, LeadStatus
from crm_desktop.store import Store
from crm_desktop.ui.context import AppContext

# As the app does at start: survive a Qt binding that drops references to None/True/False
# (PySide6 6.12 on Python 3.11), which would otherwise abort a long test session at random.
shield_binding_refcounts()

# The offscreen platform (CI, these tests) cannot pass size hints to a window manager and says
# so on every top-level show; that is the platform talking, not a fault of ours.
OFFSCREEN_NOISE = "This plugin does not support propagateSizeHints"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/ui/" in item.nodeid or item.nodeid.startswith("ui/"):
            item.add_marker(pytest.mark.qt_log_ignore(OFFSCREEN_NOISE))


@pytest.fixture
def ui_context(qtbot: QtBot, store: Store, profile: Profile) -> Iterator[AppContext]:
    """An AppContext on the test's store; its worker is drained and stopped before the store closes."""
    context = AppContext(store=store, profile=profile)
    yield context
    # Let queued work deliver first: shutdown cancels what is still queued.
    qtbot.waitUntil(lambda: context.runner.pending == 0, timeout=10_000)
    context.runner.shutdown()
    context.deleteLater()


@pytest.fixture
def ime_commit() -> Callable[[QWidget, str], None]:
    """Type text as an input method commits it (how Chinese or Japanese is typed).

    QTest.keyClicks only knows the keys of a Latin keyboard and aborts on CJK characters.
    """

    def commit(widget: QWidget, text: str) -> None:
        event = QInputMethodEvent()
        event.setCommitString(text)
        QApplication.sendEvent(widget, event)

    return commit


@pytest.fixture
def ui_settings(profile: Profile) -> QSettings:
    """The profile's UI state file, as the main window opens it."""
    return QSettings(str(profile.ui_state_path), QSettings.Format.IniFormat)


@pytest.fixture
def sample_records(store: Store, ui_context: AppContext) -> dict[str, Any]:
    """A user (made current), stages, 3 accounts, 4 contacts, 3 leads and 3 opportunities."""
    now = datetime.now(UTC)
    today = date.today()
    with store.sessions.begin() as session:
        me = User(username="ada", full_name="Ada Lovelace")
        other = User(username="bob", full_name="Bob Builder")
        stages = [
            SalesStage(name="Prospecting", position=1, probability=10),
            SalesStage(name="Proposal", position=2, probability=50),
            SalesStage(name="Won", position=3, probability=100, is_closed=True, is_won=True),
        ]
        session.add_all([me, other, *stages])
        session.flush()
        acme = Account(
            name="Acme Corp",
            industry="Manufacturing",
            region="North",
            status=AccountStatus.ACTIVE,
            customer_grade=Grade.A,
            owner_id=me.id,
        )
        globex = Account(name="Globex", industry="Energy", region="South", owner_id=other.id)
        huawei = Account(name="深圳华强电子", industry="Electronics", region="APAC", owner_id=me.id)
        session.add_all([acme, globex, huawei])
        session.flush()
        people = [
            Contact(
                first_name="John",
                last_name="Smith",
                full_name="John Smith",
                email="john.smith@acme.example",
                phone="+1 555 1234",
                owner_id=me.id,
            ),
            Contact(
                first_name="Zoë",
                last_name="Adams",
                full_name="Zoë Adams",
                email="zoe@globex.example",
                owner_id=other.id,
                last_contacted_at=now - timedelta(days=3),
            ),
            Contact(
                first_name="伟",
                last_name="张",
                full_name="张伟",
                email="zhang.wei@hq.example",
                owner_id=me.id,
            ),
            Contact(
                first_name="Maria", last_name="Garcia", full_name="Maria Garcia", owner_id=me.id
            ),
        ]
        session.add_all(people)
        session.flush()
        session.add_all(
            [
                AccountContact(
                    account_id=acme.id, contact_id=people[0].id, title="CTO", is_primary=True
                ),
                AccountContact(account_id=globex.id, contact_id=people[1].id, title="Buyer"),
                AccountContact(account_id=huawei.id, contact_id=people[2].id, title="总经理"),
            ]
        )
        leads = [
            Lead(
                first_name="Ann",
                last_name="Hot",
                full_name="Ann Hot",
                company="Initech",
                grade=Grade.A,
                status=LeadStatus.NEW,
                owner_id=me.id,
            ),
            Lead(
                first_name="Ben",
                last_name="Recent",
                full_name="Ben Recent",
                company="Umbrella",
                grade=Grade.A,
                status=LeadStatus.CONTACTED,
                owner_id=me.id,
                last_contacted_at=now - timedelta(days=2),
            ),
            Lead(
                first_name="Cy",
                last_name="Cold",
                full_name="Cy Cold",
                company="Hooli",
                grade=Grade.C,
                status=LeadStatus.NEW,
                owner_id=other.id,
            ),
        ]
        session.add_all(leads)
        opportunities = [
            Opportunity(
                name="Acme turbines",
                account_id=acme.id,
                stage_id=stages[1].id,
                probability=50,
                amount=Decimal("125000"),
                close_date=today,
                owner_id=me.id,
            ),
            Opportunity(
                name="Globex pumps",
                account_id=globex.id,
                stage_id=stages[0].id,
                probability=10,
                amount=Decimal("9800.50"),
                close_date=today,
                owner_id=other.id,
            ),
            Opportunity(
                name="Acme service",
                account_id=acme.id,
                stage_id=stages[2].id,
                probability=100,
                amount=Decimal("5000"),
                close_date=today,
                owner_id=me.id,
            ),
        ]
        session.add_all(opportunities)
        session.flush()
        ids: dict[str, Any] = {
            "me": me.id,
            "acme": acme.id,
            "globex": globex.id,
            "john": people[0].id,
            "zoe": people[1].id,
            "zhang": people[2].id,
            "maria": people[3].id,
            "ann": leads[0].id,
            "ben": leads[1].id,
            "cy": leads[2].id,
            "turbines": opportunities[0].id,
            "pumps": opportunities[1].id,
            "service": opportunities[2].id,
        }
    ui_context.current_user_id = me.id
    return ids
