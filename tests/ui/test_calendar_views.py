"""The calendar driven like a user: create, drag, resize and complete in every mode.

Each test drives the widgets with QTest mouse and key events and then reads the store to check
the times that were saved (UTC in the store; the view shows Europe/Berlin).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from PySide6.QtCore import QCoreApplication, QEvent, QPoint, Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QWidget
from pytestqt.qtbot import QtBot
from sqlalchemy import select

from crm_desktop.models import Activity, User
from crm_desktop.models.enums import ActivityKind, ActivityStatus, Role
from crm_desktop.services import activities as svc
from crm_desktop.store import Store
from crm_desktop.ui.calendar import ActivityDialog, CalendarView
from crm_desktop.ui.context import AppContext

BERLIN = ZoneInfo("Europe/Berlin")
MONDAY = date(2026, 3, 2)
TODAY = MONDAY + timedelta(days=2)
NOW = datetime(2026, 3, 4, 11, 20, tzinfo=BERLIN)


def local(day: int, hour: int, minute: int = 0) -> datetime:
    """Monday + ``day`` at a Berlin wall-clock time, as the aware UTC the store returns."""
    return datetime.combine(MONDAY + timedelta(days=day), time(hour, minute), BERLIN).astimezone(
        UTC
    )


@dataclass(frozen=True)
class Seed:
    """Ids of the seeded users and entries."""

    manager: uuid.UUID
    rep: uuid.UUID
    other_rep: uuid.UUID
    review: uuid.UUID
    fair: uuid.UUID


def seed(store: Store) -> Seed:
    """A manager with two reps; the rep has a Monday meeting and a Wed-Fri all-day fair."""
    with store.sessions.begin() as session:
        boss = User(username="mara", full_name="Mara Manager", role=Role.MANAGER)
        session.add(boss)
        session.flush()
        rep = User(username="ann", full_name="Ann Rep", manager_id=boss.id)
        other = User(username="bob", full_name="Bob Rep", manager_id=boss.id)
        session.add_all([rep, other])
        session.flush()
        review = svc.create_activity(
            session=session,
            kind=ActivityKind.MEETING,
            subject="Review",
            owner_id=rep.id,
            start_at=local(0, 9),
            end_at=local(0, 10),
            time_zone="Europe/Berlin",
        )
        fair = svc.create_activity(
            session=session,
            kind=ActivityKind.NOTE,
            subject="Fair",
            owner_id=rep.id,
            all_day=True,
            start_date=MONDAY + timedelta(days=2),
            end_date=MONDAY + timedelta(days=5),
        )
        svc.create_activity(
            session=session,
            kind=ActivityKind.CALL,
            subject="Bob's call",
            owner_id=other.id,
            start_at=local(1, 15),
            end_at=local(1, 15, 30),
        )
        return Seed(boss.id, rep.id, other.id, review.id, fair.id)


def stored(store: Store, ident: uuid.UUID) -> Activity:
    with store.sessions() as session:
        activity = session.get(Activity, ident)
        assert activity is not None
        session.expunge(activity)
        return activity


def only_new(store: Store, known: set[uuid.UUID]) -> Activity:
    with store.sessions() as session:
        rows = [a for a in session.scalars(select(Activity)) if a.id not in known]
        assert len(rows) == 1, rows
        session.expunge(rows[0])
        return rows[0]


def all_ids(store: Store) -> set[uuid.UUID]:
    with store.sessions() as session:
        return set(session.scalars(select(Activity.id)))


@pytest.fixture
def seeded(store: Store) -> Seed:
    return seed(store)


ViewFactory = Callable[[str], CalendarView]


def _dispose(view: CalendarView) -> None:
    """Delete a view (and its refresh timers) before the runner and store go away."""
    if view.active_dialog is not None:
        view.active_dialog.reject()
    view.close()
    view.deleteLater()
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)


@pytest.fixture
def make_view(qtbot: QtBot, ui_context: AppContext) -> Iterator[ViewFactory]:
    """Build shown calendar views on today's week; all are deleted before the context."""
    made: list[CalendarView] = []

    def build(mode: str) -> CalendarView:
        view = CalendarView(
            ui_context, zone=BERLIN, today=lambda: TODAY, now=lambda: NOW, mode=mode
        )
        made.append(view)
        view.resize(1300, 900)
        with qtbot.waitSignal(view.items_loaded, timeout=10_000):
            view.show()
            qtbot.waitExposed(view)
        qtbot.waitUntil(lambda: ui_context.runner.pending == 0)
        return view

    yield build
    qtbot.waitUntil(lambda: ui_context.runner.pending == 0, timeout=10_000)
    for view in made:
        _dispose(view)


@pytest.fixture
def rep_view(ui_context: AppContext, seeded: Seed, make_view: ViewFactory) -> CalendarView:
    ui_context.current_user_id = seeded.rep
    return make_view("week")


def drag(widget: QWidget, start: QPoint, end: QPoint) -> None:
    """Press, move in steps (as a hand does), release."""
    QTest.mousePress(widget, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, start)
    steps = 4
    for i in range(1, steps + 1):
        point = start + (end - start) * (i / steps)
        QTest.mouseMove(widget, point)
    QTest.mouseRelease(widget, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, end)


def fill_and_save(qtbot: QtBot, view: CalendarView, subject: str) -> None:
    """Type a subject into the dialog the gesture opened and press Enter."""
    qtbot.waitUntil(lambda: view.active_dialog is not None and view.active_dialog.isVisible())
    dialog = view.active_dialog
    assert isinstance(dialog, ActivityDialog)
    dialog.subject_edit.selectAll()
    qtbot.keyClicks(dialog.subject_edit, subject)
    with qtbot.waitSignal(dialog.activity_saved, timeout=10_000):
        qtbot.keyClick(dialog.subject_edit, Qt.Key.Key_Return)


def switch(qtbot: QtBot, view: CalendarView, mode: str) -> None:
    with qtbot.waitSignal(view.items_loaded, timeout=10_000):
        view.set_mode(mode)


def wait_reloaded(qtbot: QtBot, view: CalendarView) -> None:
    qtbot.waitSignal(view.items_loaded, timeout=10_000).wait()


# ------------------------------------------------------------------------- week and day grids


@pytest.mark.parametrize("mode", ["week", "day"])
def test_grid_create_by_dragging(
    qtbot: QtBot, rep_view: CalendarView, store: Store, mode: str
) -> None:
    if mode == "day":
        switch(qtbot, rep_view, "day")
    view = rep_view.week_view if mode == "week" else rep_view.day_view
    day = TODAY
    before = all_ids(store)
    drag(view.grid, view.grid.point_for(day, time(10, 0)), view.grid.point_for(day, time(11, 30)))
    fill_and_save(qtbot, rep_view, "Demo at Acme")
    made = only_new(store, before)
    assert made.subject == "Demo at Acme"
    assert (made.start_at, made.end_at) == (local(2, 10), local(2, 11, 30))
    assert made.time_zone == "Europe/Berlin" and made.owner_id == rep_view.context.current_user_id
    wait_reloaded(qtbot, rep_view)
    assert made.id in view.grid.block_rects()


def test_grid_create_by_double_click(qtbot: QtBot, rep_view: CalendarView, store: Store) -> None:
    grid = rep_view.week_view.grid
    before = all_ids(store)
    QTest.mouseDClick(
        grid,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
        grid.point_for(MONDAY + timedelta(days=4), time(15, 10)),
    )
    fill_and_save(qtbot, rep_view, "Call back")
    made = only_new(store, before)
    assert (made.start_at, made.end_at) == (local(4, 15), local(4, 15, 30))


@pytest.mark.parametrize("mode", ["week", "day"])
def test_grid_move_and_resize(
    qtbot: QtBot,
    ui_context: AppContext,
    seeded: Seed,
    store: Store,
    mode: str,
    make_view: ViewFactory,
) -> None:
    ui_context.current_user_id = seeded.rep
    view = make_view(mode)
    if mode == "day":
        view.set_date(MONDAY)
        wait_reloaded(qtbot, view)
    grid = (view.week_view if mode == "week" else view.day_view).grid
    rect = grid.block_rects()[seeded.review]
    target_day = MONDAY + timedelta(days=2) if mode == "week" else MONDAY
    # Grab the block 15 minutes below its top and drop that point at 14:15 (on Wednesday).
    grab = QPoint(int(rect.center().x()), int(grid.y_for(time(9, 15))))
    drop = grid.point_for(target_day, time(14, 15))
    with qtbot.waitSignal(ui_context.data_changed, timeout=10_000):
        drag(grid, grab, drop)
    moved = stored(store, seeded.review)
    day_index = (target_day - MONDAY).days
    assert (moved.start_at, moved.end_at) == (local(day_index, 14), local(day_index, 15))
    wait_reloaded(qtbot, view)

    rect = grid.block_rects()[seeded.review]
    bottom = QPoint(int(rect.center().x()), int(rect.bottom()) - 2)
    with qtbot.waitSignal(ui_context.data_changed, timeout=10_000):
        drag(grid, bottom, grid.point_for(target_day, time(16, 30)))
    resized = stored(store, seeded.review)
    assert (resized.start_at, resized.end_at) == (local(day_index, 14), local(day_index, 16, 30))


@pytest.mark.parametrize("mode", ["week", "day"])
def test_grid_complete_with_space(
    qtbot: QtBot,
    ui_context: AppContext,
    seeded: Seed,
    store: Store,
    mode: str,
    make_view: ViewFactory,
) -> None:
    ui_context.current_user_id = seeded.rep
    view = make_view(mode)
    view.set_date(MONDAY)
    wait_reloaded(qtbot, view)
    grid = (view.week_view if mode == "week" else view.day_view).grid
    rect = grid.block_rects()[seeded.review]
    QTest.mouseClick(
        grid, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, rect.center().toPoint()
    )
    assert grid.selected == seeded.review
    with qtbot.waitSignal(ui_context.data_changed, timeout=10_000):
        QTest.keyClick(grid, Qt.Key.Key_Space)
    done = stored(store, seeded.review)
    assert done.status == ActivityStatus.DONE and done.completed_at is not None
    assert (done.start_at, done.end_at) == (local(0, 9), local(0, 10))


def test_all_day_band_create_move_resize(
    qtbot: QtBot, rep_view: CalendarView, seeded: Seed, store: Store
) -> None:
    band = rep_view.week_view.band
    before = all_ids(store)
    drag(band, band.point_for(MONDAY), band.point_for(MONDAY + timedelta(days=1)))
    fill_and_save(qtbot, rep_view, "Training")
    made = only_new(store, before)
    assert made.all_day and (made.start_date, made.end_date) == (MONDAY, MONDAY + timedelta(days=2))
    assert made.start_at is None
    wait_reloaded(qtbot, rep_view)

    rect = band.item_rects()[seeded.fair]
    grab = QPoint(int(band.column_x(2) + band.column_width() / 2), int(rect.center().y()))
    with qtbot.waitSignal(rep_view.context.data_changed, timeout=10_000):
        drag(band, grab, QPoint(grab.x() + int(band.column_width()), grab.y()))
    fair = stored(store, seeded.fair)
    assert (fair.start_date, fair.end_date) == (
        MONDAY + timedelta(days=3),
        MONDAY + timedelta(days=6),
    )
    wait_reloaded(qtbot, rep_view)

    rect = band.item_rects()[seeded.fair]
    edge = QPoint(int(rect.right()) - 2, int(rect.center().y()))
    with qtbot.waitSignal(rep_view.context.data_changed, timeout=10_000):
        drag(band, edge, QPoint(int(band.column_x(6) + band.column_width() / 2), edge.y()))
    fair = stored(store, seeded.fair)
    assert (fair.start_date, fair.end_date) == (
        MONDAY + timedelta(days=3),
        MONDAY + timedelta(days=7),
    )


# ------------------------------------------------------------------------- month


def test_month_create_move_resize_complete(
    qtbot: QtBot, rep_view: CalendarView, seeded: Seed, store: Store
) -> None:
    switch(qtbot, rep_view, "month")
    month = rep_view.month_view
    before = all_ids(store)
    drag(month, month.point_for(date(2026, 3, 10)), month.point_for(date(2026, 3, 12)))
    fill_and_save(qtbot, rep_view, "Road trip")
    made = only_new(store, before)
    assert made.all_day and (made.start_date, made.end_date) == (
        date(2026, 3, 10),
        date(2026, 3, 13),
    )
    wait_reloaded(qtbot, rep_view)

    # A timed entry dragged to another day keeps its time of day.
    with qtbot.waitSignal(rep_view.context.data_changed, timeout=10_000):
        drag(month, month.point_for(MONDAY, seeded.review), month.point_for(date(2026, 3, 19)))
    review = stored(store, seeded.review)
    assert (review.start_at, review.end_at) == (local(17, 9), local(17, 10))
    wait_reloaded(qtbot, rep_view)

    # Dragging the right edge of an all-day entry's last day makes it longer.
    last = date(2026, 3, 12)
    with qtbot.waitSignal(rep_view.context.data_changed, timeout=10_000):
        drag(
            month,
            month.point_for(last, made.id, right_edge=True),
            month.point_for(date(2026, 3, 14)),
        )
    assert stored(store, made.id).end_date == date(2026, 3, 15)
    wait_reloaded(qtbot, rep_view)

    QTest.mouseClick(
        month,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
        month.point_for(date(2026, 3, 19), seeded.review),
    )
    with qtbot.waitSignal(rep_view.context.data_changed, timeout=10_000):
        QTest.keyClick(month, Qt.Key.Key_Space)
    assert stored(store, seeded.review).status == ActivityStatus.DONE


# ------------------------------------------------------------------------- agenda


def test_agenda_keyboard_create_move_resize_complete(
    qtbot: QtBot, rep_view: CalendarView, seeded: Seed, store: Store
) -> None:
    rep_view.set_date(MONDAY)
    switch(qtbot, rep_view, "agenda")
    agenda = rep_view.agenda_view
    item = agenda.item_for(seeded.review)
    assert item is not None
    agenda.setCurrentItem(item)
    agenda.setFocus()
    alt = Qt.KeyboardModifier.AltModifier
    with qtbot.waitSignal(rep_view.context.data_changed, timeout=10_000):
        QTest.keyClick(agenda, Qt.Key.Key_Down, alt)
    assert stored(store, seeded.review).start_at == local(0, 9, 15)
    wait_reloaded(qtbot, rep_view)
    with qtbot.waitSignal(rep_view.context.data_changed, timeout=10_000):
        QTest.keyClick(agenda, Qt.Key.Key_Down, alt | Qt.KeyboardModifier.ShiftModifier)
    review = stored(store, seeded.review)
    assert (review.start_at, review.end_at) == (local(0, 9, 15), local(0, 10, 30))
    wait_reloaded(qtbot, rep_view)
    agenda.setCurrentItem(agenda.item_for(seeded.review))
    with qtbot.waitSignal(rep_view.context.data_changed, timeout=10_000):
        QTest.keyClick(agenda, Qt.Key.Key_Right, Qt.KeyboardModifier.ControlModifier)
    assert stored(store, seeded.review).start_at == local(1, 9, 15)
    wait_reloaded(qtbot, rep_view)

    # The tick box completes.
    item = agenda.item_for(seeded.review)
    assert item is not None
    rect = agenda.visualItemRect(item)
    with qtbot.waitSignal(rep_view.context.data_changed, timeout=10_000):
        item.setCheckState(0, Qt.CheckState.Checked)
    assert stored(store, seeded.review).status == ActivityStatus.DONE
    assert rect.isValid()
    wait_reloaded(qtbot, rep_view)

    # Dragging an entry onto another day's heading moves it there, keeping the time.
    item = agenda.item_for(seeded.review)
    heading = agenda.day_heading(MONDAY + timedelta(days=2))
    assert item is not None and heading is not None
    viewport = agenda.viewport()
    with qtbot.waitSignal(rep_view.context.data_changed, timeout=10_000):
        drag(
            viewport, agenda.visualItemRect(item).center(), agenda.visualItemRect(heading).center()
        )
    assert stored(store, seeded.review).start_at == local(2, 9, 15)
    wait_reloaded(qtbot, rep_view)

    # Insert on a day creates an entry there at 9:00.
    before = all_ids(store)
    agenda.setCurrentItem(agenda.item_for(seeded.review))
    QTest.keyClick(agenda, Qt.Key.Key_Insert)
    fill_and_save(qtbot, rep_view, "Planned from agenda")
    made = only_new(store, before)
    assert (made.start_at, made.end_at) == (local(2, 9), local(2, 9, 30))


# ------------------------------------------------------------------------- log a call


def test_log_call_in_three_keystrokes_with_follow_up(
    qtbot: QtBot, rep_view: CalendarView, store: Store
) -> None:
    before = all_ids(store)
    QTest.keyClick(rep_view, Qt.Key.Key_L, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(
        lambda: rep_view.active_dialog is not None and rep_view.active_dialog.isVisible()
    )
    dialog = rep_view.active_dialog
    assert dialog is not None
    assert dialog.focusWidget() is dialog.outcome_edit
    # A window manager activates a new dialog; offscreen we do it (window shortcuts need it).
    dialog.activateWindow()
    qtbot.waitUntil(dialog.isActiveWindow)
    qtbot.keyClicks(dialog.outcome_edit, "Wants a quote")
    QTest.keyClick(dialog.outcome_edit, Qt.Key.Key_F, Qt.KeyboardModifier.AltModifier)
    assert dialog.follow_check.isChecked()
    with qtbot.waitSignal(dialog.activity_saved, timeout=10_000):
        qtbot.keyClick(dialog.follow_subject, Qt.Key.Key_Return)
    with store.sessions() as session:
        made = {a.kind: a for a in session.scalars(select(Activity)) if a.id not in before}
    call = made[ActivityKind.CALL]
    assert call.status == ActivityStatus.DONE and call.outcome == "Wants a quote"
    assert call.start_at == NOW.astimezone(UTC).replace(second=0)
    follow = made[ActivityKind.TASK]
    assert follow.status == ActivityStatus.PLANNED
    assert follow.subject == "Follow up: Call"
    assert follow.due_at == datetime(2026, 3, 5, 9, 0, tzinfo=BERLIN).astimezone(UTC)


def test_dialog_rejects_empty_subject(qtbot: QtBot, rep_view: CalendarView, store: Store) -> None:
    before = all_ids(store)
    dialog = rep_view.open_dialog(start=local(3, 10), end=local(3, 11))
    qtbot.waitUntil(dialog.isVisible)
    dialog.subject_edit.clear()
    qtbot.keyClick(dialog.subject_edit, Qt.Key.Key_Return)
    assert dialog.isVisible() and "subject" in dialog.error_label.text()
    assert all_ids(store) == before


# ------------------------------------------------------------------------- team overlay and my day


def test_manager_overlays_subordinates(
    qtbot: QtBot, ui_context: AppContext, seeded: Seed, make_view: ViewFactory
) -> None:
    ui_context.current_user_id = seeded.manager
    view = make_view("week")
    qtbot.waitUntil(lambda: view.team_picker.list.count() == 3)
    assert view.team_picker.isVisible()
    assert view.items == []
    with qtbot.waitSignal(view.items_loaded, timeout=10_000):
        view.team_picker.set_checked(seeded.rep, True)
    assert {r.owner_id for r in view.items} == {seeded.rep}
    with qtbot.waitSignal(view.items_loaded, timeout=10_000):
        view.team_picker.set_checked(seeded.other_rep, True)
    assert {r.owner_id for r in view.items} == {seeded.rep, seeded.other_rep}
    colours = view.week_view.grid.owner_colours
    assert colours[seeded.rep] != colours[seeded.other_rep]


def test_rep_sees_only_own_calendar(qtbot: QtBot, rep_view: CalendarView, seeded: Seed) -> None:
    qtbot.waitUntil(lambda: rep_view.team_picker.list.count() == 1)
    assert not rep_view.team_picker.isVisible()
    rep_view.set_date(MONDAY + timedelta(days=1))
    wait_reloaded(qtbot, rep_view)
    assert seeded.other_rep not in {r.owner_id for r in rep_view.items}


def test_my_day_lists_today_and_completes(
    qtbot: QtBot, rep_view: CalendarView, seeded: Seed, store: Store
) -> None:
    panel = rep_view.my_day
    qtbot.waitUntil(lambda: panel.data is not None)
    assert panel.data is not None
    assert [r.id for r in panel.data.today] == [seeded.fair]
    item = panel.item_for(seeded.fair)
    assert item is not None
    with qtbot.waitSignal(panel.loaded, timeout=10_000):
        item.setCheckState(0, Qt.CheckState.Checked)
    assert stored(store, seeded.fair).status == ActivityStatus.DONE
