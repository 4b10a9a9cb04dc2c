"""Reminders: due at start (also those missed while closed), on the timer, snooze and dismiss."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from crm_desktop.models import Activity, User
from crm_desktop.models.enums import ActivityKind
from crm_desktop.services import activities as svc
from crm_desktop.store import Store
from crm_desktop.ui.calendar import ReminderCenter, ReminderList
from crm_desktop.ui.context import AppContext

NOW = datetime(2026, 3, 4, 10, 0, tzinfo=UTC)


class Clock:
    """A settable clock for the reminder centre."""

    def __init__(self) -> None:
        self.value = NOW

    def __call__(self) -> datetime:
        return self.value


@pytest.fixture
def me(store: Store, ui_context: AppContext) -> uuid.UUID:
    with store.sessions.begin() as session:
        user = User(username="ann", full_name="Ann Rep")
        session.add(user)
        session.flush()
        ui_context.current_user_id = user.id
        return user.id


def plan(store: Store, owner: uuid.UUID, subject: str, reminder_at: datetime) -> uuid.UUID:
    with store.sessions.begin() as session:
        return svc.create_activity(
            session=session,
            kind=ActivityKind.MEETING,
            subject=subject,
            owner_id=owner,
            start_at=reminder_at + timedelta(minutes=15),
            reminder_at=reminder_at,
        ).id


def reminder_of(store: Store, ident: uuid.UUID) -> datetime | None:
    with store.sessions() as session:
        activity = session.get(Activity, ident)
        assert activity is not None
        return activity.reminder_at


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def center(qtbot: QtBot, ui_context: AppContext, clock: Clock) -> Iterator[ReminderCenter]:
    made = ReminderCenter(ui_context, interval_ms=50, use_tray=False, now=clock)
    yield made
    made.stop()
    qtbot.waitUntil(lambda: ui_context.runner.pending == 0, timeout=10_000)


def test_missed_while_closed_shows_at_start(
    qtbot: QtBot, store: Store, me: uuid.UUID, center: ReminderCenter
) -> None:
    missed = plan(store, me, "Yesterday's visit", NOW - timedelta(days=1))
    later = plan(store, me, "Tomorrow", NOW + timedelta(days=1))
    listing = ReminderList(center)
    qtbot.addWidget(listing)
    with qtbot.waitSignal(center.reminders_changed, timeout=10_000) as changed:
        center.start()
    assert [r.id for r in changed.args[0]] == [missed]
    assert listing.list.count() == 1 and "Yesterday's visit" in listing.list.item(0).text()
    assert later not in [r.id for r in center.due]


def test_timer_fires_when_reminder_comes_due(
    qtbot: QtBot, store: Store, me: uuid.UUID, center: ReminderCenter, clock: Clock
) -> None:
    soon = plan(store, me, "Call Acme", NOW + timedelta(minutes=5))
    with qtbot.waitSignal(center.reminders_changed, timeout=10_000):
        center.start()
    assert center.due == []
    with qtbot.waitSignal(center.reminder_fired, timeout=10_000) as fired:
        clock.value = NOW + timedelta(minutes=6)
    assert fired.args[0].id == soon
    # Announced once, not on every tick while it stays due.
    fired_again: list[object] = []
    center.reminder_fired.connect(fired_again.append)
    with qtbot.waitSignal(center.reminders_changed, timeout=10_000):
        pass
    assert fired_again == []


def test_snooze_and_dismiss_from_the_list(
    qtbot: QtBot, store: Store, me: uuid.UUID, center: ReminderCenter, ui_context: AppContext
) -> None:
    first = plan(store, me, "First", NOW - timedelta(minutes=30))
    second = plan(store, me, "Second", NOW - timedelta(minutes=10))
    listing = ReminderList(center)
    qtbot.addWidget(listing)
    with qtbot.waitSignal(center.reminders_changed, timeout=10_000):
        center.start()
    center.stop()  # drive the rest by the edits' own refresh, not the timer
    assert listing.list.count() == 2
    listing.list.setCurrentRow(0)
    menu = listing.snooze_button.menu()
    assert menu is not None
    fifteen = next(a for a in menu.actions() if a.text() == "15 minutes")
    with qtbot.waitSignal(ui_context.data_changed, timeout=10_000):
        fifteen.trigger()
    assert reminder_of(store, first) == NOW + timedelta(minutes=15)
    qtbot.waitUntil(lambda: listing.list.count() == 1)
    assert listing.selected_id() == second
    with qtbot.waitSignal(ui_context.data_changed, timeout=10_000):
        qtbot.mouseClick(listing.dismiss_button, Qt.MouseButton.LeftButton)
    assert reminder_of(store, second) is None
    qtbot.waitUntil(lambda: listing.list.count() == 0)
    assert not listing.dismiss_button.isEnabled()


def test_completing_an_activity_clears_its_reminder(
    qtbot: QtBot, store: Store, me: uuid.UUID, center: ReminderCenter, ui_context: AppContext
) -> None:
    due = plan(store, me, "Due", NOW - timedelta(minutes=1))
    with qtbot.waitSignal(center.reminders_changed, timeout=10_000):
        center.start()
    center.stop()
    assert [r.id for r in center.due] == [due]
    with store.sessions.begin() as session:
        svc.complete_activity(session=session, activity_id=due)
    with qtbot.waitSignal(center.reminders_changed, timeout=10_000) as changed:
        ui_context.notify_changed("activity")
    assert changed.args[0] == []
