"""The calendar screen: month, week, day and agenda modes, my day, team overlay and reminders.

:class:`CalendarView` is what the main window embeds. The four mode widgets only paint and
report gestures; this class turns gestures into service calls on ``context.runner`` (one
transaction each), announces them with ``context.notify_changed("activity")``, and reloads the
visible range once per burst of changes.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QButtonGroup,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QMenu,
    QMessageBox,
    QSplitter,
    QStackedWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)
from sqlalchemy.orm import Session

from crm_desktop.models.enums import ActivityKind
from crm_desktop.services import activities as svc
from crm_desktop.services.activities import ActivityRow, UserRow
from crm_desktop.ui.calendar.activity_dialog import ActivityDialog, Links
from crm_desktop.ui.calendar.agenda_view import AgendaView
from crm_desktop.ui.calendar.common import KIND_COLOURS, KIND_LABELS, system_zone, week_start
from crm_desktop.ui.calendar.month_view import MonthView, month_days
from crm_desktop.ui.calendar.panels import MyDayPanel, TeamPicker, swatch
from crm_desktop.ui.calendar.reminders import ReminderCenter, ReminderList
from crm_desktop.ui.calendar.time_grid import TimeGridView
from crm_desktop.ui.context import AppContext

MODES = ("month", "week", "day", "agenda")
AGENDA_DAYS = 14


class CalendarView(QWidget):
    """Calendar screen for the current user (and, for a manager, their team).

    Signals:
        items_loaded(): the visible range was (re)loaded from the store and is on screen.
        mode_changed(str): "month", "week", "day" or "agenda".
        dialog_opened(object): an :class:`ActivityDialog` was opened (tests and the main
            window can reach it).
        action_failed(str): a move, resize, completion, import... was refused; the reason.
        file_finished(str): an .ics import or export finished; the summary shown to the user.
    """

    items_loaded = Signal()
    mode_changed = Signal(str)
    dialog_opened = Signal(object)
    action_failed = Signal(str)
    file_finished = Signal(str)

    def __init__(
        self,
        context: AppContext,
        *,
        zone: ZoneInfo | None = None,
        today: Callable[[], date] | None = None,
        now: Callable[[], datetime] | None = None,
        reminder_center: ReminderCenter | None = None,
        mode: str = "week",
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.context = context
        self.zone = zone or system_zone()
        self._now = now or (lambda: datetime.now(self.zone))
        self._today = today or (lambda: self._now().astimezone(self.zone).date())
        self.anchor = self._today()
        self._shown_today = self.anchor
        self.mode = mode
        self.items: list[ActivityRow] = []
        self.active_dialog: ActivityDialog | None = None
        self.owners: list[uuid.UUID] | None = (
            [context.current_user_id] if context.current_user_id else None
        )

        # ---- toolbar
        self.today_button = QToolButton(self)
        self.today_button.setText("&Today")
        self.prev_button = QToolButton(self)
        self.prev_button.setText("◀")
        self.prev_button.setToolTip("Previous (Page Up)")
        self.next_button = QToolButton(self)
        self.next_button.setText("▶")
        self.next_button.setToolTip("Next (Page Down)")
        self.title_label = QLabel(self)
        font = self.title_label.font()
        font.setPointSizeF(font.pointSizeF() + 3)
        font.setBold(True)
        self.title_label.setFont(font)
        self.mode_group = QButtonGroup(self)
        self.mode_buttons: dict[str, QToolButton] = {}
        bar = QHBoxLayout()
        bar.addWidget(self.today_button)
        bar.addWidget(self.prev_button)
        bar.addWidget(self.next_button)
        bar.addSpacing(8)
        bar.addWidget(self.title_label)
        # Field staff travel: say which zone the grid is drawn in.
        self.zone_label = QLabel(self.zone.key.replace("_", " "), self)
        self.zone_label.setStyleSheet("color: #757575")
        bar.addWidget(self.zone_label, 1)
        for kind in ActivityKind:
            legend = QLabel(self)
            legend.setPixmap(swatch(KIND_COLOURS[kind]).pixmap(10, 10))
            bar.addWidget(legend)
            bar.addWidget(QLabel(KIND_LABELS[kind], self))
        bar.addSpacing(12)
        for key, label in zip(MODES, ("&Month", "&Week", "&Day", "&Agenda"), strict=True):
            button = QToolButton(self)
            button.setText(label)
            button.setCheckable(True)
            self.mode_group.addButton(button)
            self.mode_buttons[key] = button
            bar.addWidget(button)
            button.clicked.connect(lambda _c=False, k=key: self.set_mode(k))
        self.new_button = QToolButton(self)
        self.new_button.setText("&New")
        self.log_button = QToolButton(self)
        self.log_button.setText("&Log call")
        self.log_button.setToolTip("Log a call that just happened (Ctrl+L)")
        self.file_button = QToolButton(self)
        self.file_button.setText(".ics")
        self.file_button.setToolTip("Import or export iCalendar files")
        self.file_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        file_menu = QMenu(self.file_button)
        file_menu.addAction("&Import .ics file…", self.on_import_button_clicked)
        file_menu.addAction("&Export what is shown…", self.on_export_button_clicked)
        self.file_button.setMenu(file_menu)
        bar.addSpacing(12)
        bar.addWidget(self.new_button)
        bar.addWidget(self.log_button)
        bar.addWidget(self.file_button)

        # ---- views
        self.month_view = MonthView(self)
        self.week_view = TimeGridView(7, self)
        self.day_view = TimeGridView(1, self)
        self.agenda_view = AgendaView(self)
        self.stack = QStackedWidget(self)
        for widget in (self.month_view, self.week_view, self.day_view, self.agenda_view):
            self.stack.addWidget(widget)
        for surface in (
            self.month_view,
            self.week_view.grid,
            self.week_view.band,
            self.day_view.grid,
            self.day_view.band,
            self.agenda_view,
        ):
            self._connect_surface(surface)

        # ---- side panel
        self.my_day = MyDayPanel(
            context, zone=self.zone, today=self._today, now=self._now, parent=self
        )
        self.team_picker = TeamPicker(self)
        self.team_picker.hide()
        self.reminder_list: ReminderList | None = None
        side = QWidget(self)
        side_layout = QVBoxLayout(side)
        side_layout.setContentsMargins(4, 0, 0, 0)
        side_layout.addWidget(self.my_day, 3)
        if reminder_center is not None:
            self.reminder_list = ReminderList(reminder_center, zone=self.zone, parent=side)
            self.reminder_list.open_requested.connect(self.on_item_activated)
            side_layout.addWidget(self.reminder_list, 2)
        side_layout.addWidget(self.team_picker, 2)
        self.splitter = QSplitter(Qt.Orientation.Horizontal, self)
        self.splitter.addWidget(self.stack)
        self.splitter.addWidget(side)
        self.splitter.setStretchFactor(0, 4)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setSizes([900, 260])

        self.status_label = QLabel(self)
        self.status_label.setStyleSheet("color: #B71C1C")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addLayout(bar)
        layout.addWidget(self.splitter, 1)
        layout.addWidget(self.status_label)

        self.today_button.clicked.connect(self.go_today)
        self.prev_button.clicked.connect(self.go_previous)
        self.next_button.clicked.connect(self.go_next)
        self.new_button.clicked.connect(self.on_new_button_clicked)
        self.log_button.clicked.connect(self.on_log_button_clicked)
        self.my_day.open_requested.connect(self.on_item_activated)
        self.team_picker.selection_changed.connect(self.on_team_picker_selection_changed)
        QShortcut(QKeySequence("Ctrl+L"), self, self.on_log_button_clicked)
        QShortcut(QKeySequence(QKeySequence.StandardKey.MoveToPreviousPage), self, self.go_previous)
        QShortcut(QKeySequence(QKeySequence.StandardKey.MoveToNextPage), self, self.go_next)
        context.data_changed.connect(self.on_context_data_changed)

        self._reload_timer = QTimer(self)
        self._reload_timer.setSingleShot(True)
        self._reload_timer.setInterval(100)
        self._reload_timer.timeout.connect(self.reload)
        self._clock = QTimer(self)
        self._clock.setInterval(60_000)
        self._clock.timeout.connect(self.on_clock_timeout)
        self._clock.start()

        self.mode_buttons[mode].setChecked(True)
        self.stack.setCurrentWidget(self._view_widget())
        for view in (self.week_view, self.day_view):
            view.scroll_to_hour(7)
        self._load_team()
        self.reload()
        self.my_day.reload()

    # ------------------------------------------------------------------ navigation
    def _view_widget(self) -> QWidget:
        return {
            "month": self.month_view,
            "week": self.week_view,
            "day": self.day_view,
            "agenda": self.agenda_view,
        }[self.mode]

    def set_mode(self, mode: str) -> None:
        """Switch to "month", "week", "day" or "agenda" around the same date."""
        if mode not in MODES:
            raise ValueError(mode)
        self.mode = mode
        self.mode_buttons[mode].setChecked(True)
        self.stack.setCurrentWidget(self._view_widget())
        self.mode_changed.emit(mode)
        self.reload()

    def set_date(self, day: date) -> None:
        """Show the period containing ``day``."""
        self.anchor = day
        self.reload()

    def _step(self, sign: int) -> None:
        if self.mode == "month":
            month = self.anchor.month - 1 + sign
            self.anchor = date(self.anchor.year + month // 12, month % 12 + 1, 1)
        else:
            days = {"week": 7, "day": 1, "agenda": AGENDA_DAYS}[self.mode]
            self.anchor += timedelta(days=sign * days)
        self.reload()

    def go_next(self) -> None:
        """The next month/week/day/fortnight."""
        self._step(1)

    def go_previous(self) -> None:
        """The previous period."""
        self._step(-1)

    def go_today(self) -> None:
        """Back to today."""
        self.set_date(self._today())

    def visible_days(self) -> list[date]:
        """The days the current mode shows."""
        if self.mode == "month":
            return month_days(self.anchor)
        if self.mode == "week":
            first = week_start(self.anchor)
            return [first + timedelta(days=i) for i in range(7)]
        if self.mode == "day":
            return [self.anchor]
        return [self.anchor + timedelta(days=i) for i in range(AGENDA_DAYS)]

    def _title(self, days: list[date]) -> str:
        if self.mode == "month":
            return self.anchor.strftime("%B %Y")
        if self.mode == "day":
            return self.anchor.strftime("%A %d %B %Y")
        first, last = days[0], days[-1]
        week = f"Week {first.isocalendar().week}, " if self.mode == "week" else ""
        return f"{week}{first.strftime('%d %b')} – {last.strftime('%d %b %Y')}"

    # ------------------------------------------------------------------ loading
    def reload(self) -> None:
        """Load the visible range in the background."""
        days = self.visible_days()
        self.title_label.setText(self._title(days))
        start = datetime.combine(days[0], time(0), self.zone)
        end = datetime.combine(days[-1] + timedelta(days=1), time(0), self.zone)
        owners = list(self.owners) if self.owners is not None else None
        viewer = self.context.current_user_id
        zone = self.zone
        store = self.context.store
        mode = self.mode
        anchor = self.anchor

        def fetch() -> list[ActivityRow]:
            with store.sessions() as session:
                if owners is not None and viewer is not None:
                    return svc.team_calendar(
                        session=session,
                        viewer_id=viewer,
                        owner_ids=owners,
                        start=start,
                        end=end,
                        zone=zone,
                    )
                return svc.activities_in_range(
                    session=session, start=start, end=end, owner_ids=owners, zone=zone
                )

        def done(rows: list[ActivityRow]) -> None:
            if (mode, anchor) != (self.mode, self.anchor):
                return  # the user moved on meanwhile; a newer load is on its way
            self._show(days, rows)

        self.context.runner.submit(fetch, on_done=done, on_error=self.on_load_error)

    def _show(self, days: list[date], rows: list[ActivityRow]) -> None:
        self.items = rows
        colours = {
            k: v for k, v in self.team_picker.colours.items() if self.owners and k in self.owners
        }
        today = self._today()
        now = self._now()
        for surface in (
            self.month_view,
            self.week_view.grid,
            self.week_view.band,
            self.day_view.grid,
            self.day_view.band,
            self.agenda_view,
        ):
            surface.owner_colours = colours
            surface.today = today
            if hasattr(surface, "now"):
                surface.now = now
        if self.mode == "month":
            self.month_view.set_month(days, self.anchor.month, rows, self.zone)
        elif self.mode == "week":
            self.week_view.set_items(days, rows, self.zone)
        elif self.mode == "day":
            self.day_view.set_items(days, rows, self.zone)
        else:
            self.agenda_view.set_items(days, rows, self.zone)
        self.items_loaded.emit()

    def _load_team(self) -> None:
        me = self.context.current_user_id
        if me is None:
            return
        store = self.context.store

        def fetch() -> list[UserRow]:
            with store.sessions() as session:
                return svc.visible_calendar_owners(session=session, user_id=me)

        self.context.runner.submit(fetch, on_done=self.on_team_loaded, on_error=self.on_load_error)

    def on_team_loaded(self, users: list[UserRow]) -> None:
        """Offer the team overlay (hidden for a rep, who has only their own calendar)."""
        self.team_picker.set_users(users, self.owners or [])

    def on_team_picker_selection_changed(self, picked: list[uuid.UUID]) -> None:
        """Overlay the picked calendars."""
        self.owners = picked
        self.reload()

    def on_context_data_changed(self, entity: str) -> None:
        """Reload once per burst of changes."""
        if entity == "activity":
            self._reload_timer.start()

    def on_clock_timeout(self) -> None:
        """Move the now line; roll over to the new day at midnight."""
        now = self._now()
        for grid in (self.week_view.grid, self.day_view.grid):
            grid.now = now
            grid.update()
        today = self._today()
        if today != self._shown_today:
            # Past midnight: "today" moves, and so do my day and the overdue list.
            self._shown_today = today
            self.reload()
            self.my_day.reload()

    # ------------------------------------------------------------------ gestures
    def _connect_surface(self, surface: Any) -> None:
        surface.item_activated.connect(self.on_item_activated)
        surface.complete_requested.connect(self.on_complete_requested)
        surface.delete_requested.connect(self.on_delete_requested)
        for name, slot in (
            ("range_selected", self.on_range_selected),
            ("days_selected", self.on_days_selected),
            ("move_requested", self.on_move_requested),
            ("resize_requested", self.on_resize_requested),
            ("move_days_requested", self.on_move_days_requested),
            ("resize_days_requested", self.on_resize_days_requested),
        ):
            signal = getattr(surface, name, None)
            if signal is not None:
                signal.connect(slot)

    def _write(self, action: Callable[[Session], object]) -> None:
        store = self.context.store

        def work() -> None:
            with store.sessions.begin() as session:
                action(session)

        self.status_label.clear()
        self.status_label.setStyleSheet("color: #B71C1C")
        self.context.runner.submit(work, on_done=self.on_write_done, on_error=self.on_action_error)

    def on_write_done(self, _result: object) -> None:
        """Every screen showing activities refreshes (this one included)."""
        self.context.notify_changed("activity")

    def on_action_error(self, error: BaseException) -> None:
        """Show why, and put the entry back where the store has it."""
        message = str(error) or type(error).__name__
        self.status_label.setStyleSheet("color: #B71C1C")
        self.status_label.setText(message)
        self.action_failed.emit(message)
        self.reload()

    def on_load_error(self, error: BaseException) -> None:
        """Show why a read failed (no reload: that would fail the same way, forever)."""
        message = str(error) or type(error).__name__
        self.status_label.setText(message)
        self.action_failed.emit(message)

    # ------------------------------------------------------------------ iCalendar files
    def import_ics(self, path: str) -> None:
        """Import an .ics file for the current user in the background (all or nothing)."""
        from pathlib import Path

        from crm_desktop.services import ical

        owner = self.context.current_user_id
        zone = self.zone
        store = self.context.store

        def work() -> ical.ImportResult:
            data = Path(path).read_bytes()
            with store.sessions.begin() as session:
                return ical.import_ics(session=session, data=data, owner_id=owner, zone=zone)

        def done(result: ical.ImportResult) -> None:
            self.status_label.setStyleSheet("color: #1B5E20")
            self.status_label.setText(f"Imported {result.created} new, {result.updated} updated.")
            self.file_finished.emit(self.status_label.text())
            self.context.notify_changed("activity")

        self.context.runner.submit(work, on_done=done, on_error=self.on_file_error)

    def export_ics(self, path: str) -> None:
        """Export what the current mode shows (days and overlaid calendars) to an .ics file."""
        import os
        from pathlib import Path

        from crm_desktop.services import ical

        days = self.visible_days()
        start = datetime.combine(days[0], time(0), self.zone)
        end = datetime.combine(days[-1] + timedelta(days=1), time(0), self.zone)
        owners = list(self.owners) if self.owners is not None else None
        zone = self.zone
        store = self.context.store

        def work() -> int:
            with store.sessions() as session:
                data = ical.export_ics(
                    session=session, start=start, end=end, owner_ids=owners, zone=zone
                )
            target = Path(path)
            partial = target.with_name(target.name + ".partial")
            partial.write_bytes(data)
            os.replace(partial, target)  # never leave half a file behind
            return data.count(b"BEGIN:VEVENT") + data.count(b"BEGIN:VTODO")

        def done(count: int) -> None:
            self.status_label.setStyleSheet("color: #1B5E20")
            self.status_label.setText(f"Exported {count} activities to {path}.")
            self.file_finished.emit(self.status_label.text())

        self.context.runner.submit(work, on_done=done, on_error=self.on_file_error)

    def on_file_error(self, error: BaseException) -> None:
        """A file could not be read, parsed or written: say which and why."""
        from crm_desktop.services.ical import IcsError

        message = str(error) or type(error).__name__
        if isinstance(error, IcsError):
            message = f"Nothing was imported: {message}"
        self.status_label.setStyleSheet("color: #B71C1C")
        self.status_label.setText(message)
        self.action_failed.emit(message)

    def on_import_button_clicked(self) -> None:
        """Pick an .ics file to import."""
        path, _ = QFileDialog.getOpenFileName(
            self, "Import calendar", "", "iCalendar files (*.ics);;All files (*)"
        )
        if path:
            self.import_ics(path)

    def on_export_button_clicked(self) -> None:
        """Pick where to export what is shown."""
        path, _ = QFileDialog.getSaveFileName(
            self, "Export calendar", "calendar.ics", "iCalendar files (*.ics)"
        )
        if path:
            self.export_ics(path)

    def on_move_requested(self, ident: uuid.UUID, start: datetime) -> None:
        """Drag moved a timed entry."""
        self._write(lambda s: svc.move_activity(session=s, activity_id=ident, start_at=start))

    def on_resize_requested(self, ident: uuid.UUID, end: datetime) -> None:
        """Drag moved an entry's end."""
        self._write(lambda s: svc.resize_activity(session=s, activity_id=ident, end_at=end))

    def on_move_days_requested(self, ident: uuid.UUID, days: int) -> None:
        """Drag moved an entry by whole days."""
        self._write(
            lambda s: svc.move_activity_days(
                session=s, activity_id=ident, days=days, zone=self.zone
            )
        )

    def on_resize_days_requested(self, ident: uuid.UUID, end: date) -> None:
        """Drag moved an all-day entry's last day."""
        self._write(lambda s: svc.resize_activity_days(session=s, activity_id=ident, end_date=end))

    def on_complete_requested(self, ident: uuid.UUID) -> None:
        """Space, the tick box or the menu: done."""
        self._write(lambda s: svc.complete_activity(session=s, activity_id=ident))

    def on_delete_requested(self, ident: uuid.UUID) -> None:
        """Delete after asking (it syncs to everyone's calendar)."""
        row = next((r for r in self.items if r.id == ident), None)
        subject = row.subject if row else "this activity"
        answer = QMessageBox.question(self, "Delete activity", f"Delete “{subject}”?")
        if answer == QMessageBox.StandardButton.Yes:
            self._write(lambda s: svc.delete_activity(session=s, activity_id=ident))

    def on_range_selected(self, start: datetime, end: datetime) -> None:
        """A drag or double-click on the grid: plan something there."""
        self.open_dialog(start=start, end=end)

    def on_days_selected(self, first: date, end: date) -> None:
        """A drag or double-click on days: plan an all-day entry."""
        self.open_dialog(days=(first, end))

    def on_item_activated(self, ident: uuid.UUID) -> None:
        """Open an entry for editing (fetched fresh: it may not be in the visible range)."""
        store = self.context.store

        def fetch() -> ActivityRow:
            with store.sessions() as session:
                return svc.get_activity(session=session, activity_id=ident)

        self.context.runner.submit(
            fetch, on_done=lambda row: self.open_dialog(activity=row), on_error=self.on_load_error
        )

    def on_new_button_clicked(self) -> None:
        """New entry at the next half hour of the shown day."""
        now = self._now().astimezone(self.zone)
        day = self.anchor if self.mode == "day" else now.date()
        slot = (now + timedelta(minutes=30)).replace(
            minute=0 if now.minute >= 30 else 30, second=0, microsecond=0
        )
        start = datetime.combine(day, slot.time(), self.zone)
        self.open_dialog(start=start, end=start + timedelta(minutes=30))

    def on_log_button_clicked(self) -> None:
        """Log a call that just happened."""
        self.open_dialog(log=True, kind=ActivityKind.CALL)

    def open_dialog(self, **kwargs: Any) -> ActivityDialog:
        """Open the activity dialog (window-modal, non-blocking) and return it."""
        if self.active_dialog is not None:
            self.active_dialog.close()
        dialog = ActivityDialog(self.context, zone=self.zone, now=self._now, parent=self, **kwargs)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.destroyed.connect(self.on_dialog_destroyed)
        self.active_dialog = dialog
        dialog.open()
        self.dialog_opened.emit(dialog)
        return dialog

    def on_dialog_destroyed(self, _obj: object = None) -> None:
        """Forget a closed dialog."""
        self.active_dialog = None

    def log_for(self, links: Links, kind: ActivityKind = ActivityKind.CALL) -> ActivityDialog:
        """Log a call or meeting about a record (for record pages that embed a calendar)."""
        return self.open_dialog(log=True, kind=kind, links=links)
