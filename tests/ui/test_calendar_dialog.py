"""The activity dialog from other screens, editing (reschedule, reassign, complete), and .ics files
from the calendar screen."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from PySide6.QtCore import QCoreApplication, QDate, QDateTime, QEvent, Qt, QTime
from PySide6.QtWidgets import QWidget
from pytestqt.qtbot import QtBot
from sqlalchemy import select

from crm_desktop.models import Account, Activity, User
from crm_desktop.models.enums import ActivityKind, ActivityStatus, Priority, Role
from crm_desktop.services import activities as svc
from crm_desktop.store import Store
from crm_desktop.ui.calendar import ActivityDialog, CalendarView, Links, install_log_shortcuts
from crm_desktop.ui.context import AppContext

BERLIN = ZoneInfo("Europe/Berlin")
NOW = datetime(2026, 3, 4, 11, 20, tzinfo=BERLIN)
DATA = Path(__file__).resolve().parent.parent / "data" / "ics"


@pytest.fixture
def people(store: Store, ui_context: AppContext) -> dict[str, uuid.UUID]:
    with store.sessions.begin() as session:
        boss = User(username="mara", full_name="Mara Manager", role=Role.MANAGER)
        session.add(boss)
        session.flush()
        rep = User(username="ann", full_name="Ann Rep", manager_id=boss.id)
        other = User(username="bob", full_name="Bob Rep", manager_id=boss.id)
        acme = Account(name="Acme GmbH")
        session.add_all([rep, other, acme])
        session.flush()
        ids = {"boss": boss.id, "rep": rep.id, "other": other.id, "acme": acme.id}
    ui_context.current_user_id = ids["boss"]
    return ids


def show(qtbot: QtBot, dialog: ActivityDialog, context: AppContext) -> None:
    if dialog.parent() is None:  # a parented dialog goes with its parent
        qtbot.addWidget(dialog)
    dialog.open()
    qtbot.waitUntil(dialog.isVisible)
    qtbot.waitUntil(lambda: context.runner.pending == 0)  # owners loaded


def test_log_from_a_record_keeps_the_links(
    qtbot: QtBot, ui_context: AppContext, people: dict[str, uuid.UUID], store: Store
) -> None:
    parent = QWidget()
    qtbot.addWidget(parent)
    dialog = ActivityDialog.log(
        ui_context,
        kind=ActivityKind.MEETING,
        links=Links(account_id=people["acme"], label="Acme GmbH"),
        zone=BERLIN,
        parent=parent,
    )
    show(qtbot, dialog, ui_context)
    assert dialog.subject_edit.text() == "Meeting with Acme GmbH"
    qtbot.keyClicks(dialog.outcome_edit, "Signed")
    with qtbot.waitSignal(dialog.activity_saved, timeout=10_000) as saved:
        qtbot.keyClick(dialog.outcome_edit, Qt.Key.Key_Return)
    row = saved.args[0]
    assert row.account_id == people["acme"] and row.related_label == "Acme GmbH"
    assert row.status == ActivityStatus.DONE and row.outcome == "Signed"
    assert row.owner_id == people["boss"]


def test_edit_reschedules_reassigns_and_completes(
    qtbot: QtBot, ui_context: AppContext, people: dict[str, uuid.UUID], store: Store
) -> None:
    start = datetime(2026, 3, 5, 9, 0, tzinfo=BERLIN)
    with store.sessions.begin() as session:
        row = svc.create_activity(
            session=session,
            kind=ActivityKind.MEETING,
            subject="Visit",
            owner_id=people["boss"],
            start_at=start,
            end_at=start + timedelta(hours=1),
            reminder_at=start - timedelta(minutes=15),
            time_zone="Europe/Berlin",
        )
    dialog = ActivityDialog(ui_context, activity=row, zone=BERLIN, now=lambda: NOW)
    show(qtbot, dialog, ui_context)
    assert dialog.reminder_combo.currentText() == "15 minutes before"
    names = [dialog.owner_combo.itemText(i) for i in range(dialog.owner_combo.count())]
    assert names == ["Mara Manager", "Ann Rep", "Bob Rep"]
    # Move the start by a day: the end follows, keeping the hour.
    dialog.start_edit.setDateTime(QDateTime(QDate(2026, 3, 6), QTime(14, 0)))
    assert dialog.end_edit.dateTime() == QDateTime(QDate(2026, 3, 6), QTime(15, 0))
    dialog.owner_combo.setCurrentIndex(names.index("Bob Rep"))
    assert dialog.complete_button is not None
    with qtbot.waitSignal(dialog.activity_saved, timeout=10_000):
        qtbot.mouseClick(dialog.complete_button, Qt.MouseButton.LeftButton)
    with store.sessions() as session:
        saved = session.get(Activity, row.id)
        assert saved is not None
        assert saved.start_at == datetime(2026, 3, 6, 13, 0, tzinfo=UTC)
        assert saved.end_at == datetime(2026, 3, 6, 14, 0, tzinfo=UTC)
        assert saved.owner_id == people["other"]
        assert saved.status == ActivityStatus.DONE
        assert saved.reminder_at is None  # completing ends the reminder


def test_task_dialog_saves_a_due_time_with_reminder(
    qtbot: QtBot, ui_context: AppContext, people: dict[str, uuid.UUID], store: Store
) -> None:
    dialog = ActivityDialog(
        ui_context,
        kind=ActivityKind.TASK,
        start=NOW + timedelta(hours=1),
        zone=BERLIN,
        now=lambda: NOW,
    )
    show(qtbot, dialog, ui_context)
    assert not dialog.end_edit.isVisible()
    qtbot.keyClicks(dialog.subject_edit, "Send quote")
    dialog.reminder_combo.setCurrentIndex(dialog.reminder_combo.findText("1 hour before"))
    with qtbot.waitSignal(dialog.activity_saved, timeout=10_000) as saved:
        qtbot.keyClick(dialog.subject_edit, Qt.Key.Key_Return)
    row = saved.args[0]
    assert row.kind == ActivityKind.TASK and row.start_at is None
    assert row.priority == Priority.NORMAL
    assert row.due_at == datetime(2026, 3, 4, 11, 20, tzinfo=UTC)
    assert row.reminder_at == datetime(2026, 3, 4, 10, 20, tzinfo=UTC)


def test_import_and_export_from_the_calendar(
    qtbot: QtBot, ui_context: AppContext, people: dict[str, uuid.UUID], store: Store, tmp_path: Path
) -> None:
    view = CalendarView(ui_context, zone=BERLIN, today=lambda: NOW.date(), now=lambda: NOW)
    qtbot.waitUntil(lambda: ui_context.runner.pending == 0)
    with qtbot.waitSignal(view.action_failed, timeout=10_000) as failed:
        view.import_ics(str(DATA / "google_all_day_bad_exdate.ics"))
    assert "line 13" in failed.args[0] and view.status_label.text().startswith(
        "Nothing was imported"
    )
    with qtbot.waitSignal(view.file_finished, timeout=10_000) as finished:
        view.import_ics(str(DATA / "apple_macos_all_day_alarm.ics"))
    assert "1 new" in finished.args[0]
    with store.sessions() as session:
        imported = session.scalars(select(Activity)).one()
        assert imported.owner_id == people["boss"]
        assert imported.subject == "Start Vorbereitung"
        assert imported.all_day and imported.start_date == datetime(2012, 7, 16).date()
        assert imported.reminder_at is not None  # Apple's alarm became the reminder

    view.set_date(datetime(2012, 7, 16).date())
    qtbot.waitUntil(lambda: ui_context.runner.pending == 0)
    target = tmp_path / "week.ics"
    with qtbot.waitSignal(view.file_finished, timeout=10_000) as finished:
        view.export_ics(str(target))
    assert "Exported 1 activities" in finished.args[0]
    exported = target.read_text(encoding="utf-8")
    assert "DTSTART;VALUE=DATE:20120716" in exported
    assert "SUMMARY:Start Vorbereitung" in exported
    # The import's change notice starts the view's refresh timers: let them run out, then
    # delete the view before the context's runner stops.
    qtbot.waitUntil(
        lambda: not view._reload_timer.isActive() and not view.my_day._reload_timer.isActive()
    )
    qtbot.waitUntil(lambda: ui_context.runner.pending == 0)
    view.close()
    view.deleteLater()
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)


def test_record_page_shortcut_logs_about_the_record(
    qtbot: QtBot, ui_context: AppContext, people: dict[str, uuid.UUID], store: Store
) -> None:
    page = QWidget()
    qtbot.addWidget(page)
    install_log_shortcuts(
        page, ui_context, lambda: Links(account_id=people["acme"], label="Acme GmbH")
    )
    page.show()
    qtbot.waitExposed(page)
    page.activateWindow()
    qtbot.waitUntil(page.isActiveWindow)
    page.setFocus()
    qtbot.keyClick(page, Qt.Key.Key_L, Qt.KeyboardModifier.ControlModifier)
    dialog = page.findChild(ActivityDialog)
    assert dialog is not None and dialog.subject_edit.text() == "Call with Acme GmbH"
    qtbot.waitUntil(lambda: ui_context.runner.pending == 0)
    qtbot.keyClicks(dialog.outcome_edit, "Left a voicemail")
    with qtbot.waitSignal(dialog.activity_saved, timeout=10_000) as saved:
        qtbot.keyClick(dialog.outcome_edit, Qt.Key.Key_Return)
    assert saved.args[0].account_id == people["acme"] and saved.args[0].kind == ActivityKind.CALL
