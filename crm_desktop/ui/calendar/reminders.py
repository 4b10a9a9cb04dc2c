"""Reminders: a centre that polls for due reminders, and the in-app list to snooze or dismiss.

:class:`ReminderCenter` asks the store (through the runner, never on the UI thread) which
reminders are due, on a QTimer and at once when started, so reminders that fell due while the
app was closed show at the next start. New ones pop up as a system tray message when a tray
exists; all due ones are listed in :class:`ReminderList` until snoozed, dismissed or done.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from PySide6.QtCore import QObject, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QApplication,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMenu,
    QPushButton,
    QStyle,
    QSystemTrayIcon,
    QVBoxLayout,
    QWidget,
)

from crm_desktop.models.base import utcnow
from crm_desktop.services import activities as svc
from crm_desktop.services.activities import ActivityRow
from crm_desktop.ui.calendar.common import KIND_LABELS, short_time, system_zone
from crm_desktop.ui.context import AppContext

SNOOZE_CHOICES: tuple[tuple[str, timedelta], ...] = (
    ("5 minutes", timedelta(minutes=5)),
    ("15 minutes", timedelta(minutes=15)),
    ("1 hour", timedelta(hours=1)),
    ("Tomorrow", timedelta(days=1)),
)


class ReminderCenter(QObject):
    """Finds due reminders for the current user and announces them.

    Signals:
        reminders_changed(list): every due reminder now (a list of ActivityRow), oldest first.
        reminder_fired(object): an ActivityRow whose reminder became due since the last check.
        action_failed(str): a snooze or dismiss could not be saved.
        message_clicked(object): the user clicked the tray message about this activity UUID
            (the main window raises itself and opens it).
    """

    reminders_changed = Signal(list)
    reminder_fired = Signal(object)
    action_failed = Signal(str)
    message_clicked = Signal(object)

    def __init__(
        self,
        context: AppContext,
        *,
        interval_ms: int = 30_000,
        use_tray: bool = True,
        now: Callable[[], datetime] = utcnow,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.context = context
        self._now = now
        self.due: list[ActivityRow] = []
        self._announced: set[tuple[uuid.UUID, datetime | None]] = set()
        self._checking = False
        self.timer = QTimer(self)
        self.timer.setInterval(interval_ms)
        self.timer.timeout.connect(self.check_now)
        self.tray: QSystemTrayIcon | None = None
        if use_tray and QSystemTrayIcon.isSystemTrayAvailable():
            app = QApplication.instance()
            style = app.style() if isinstance(app, QApplication) else None
            icon = (
                style.standardIcon(QStyle.StandardPixmap.SP_MessageBoxInformation)
                if style
                else None
            )
            if icon is not None:
                self.tray = QSystemTrayIcon(icon, self)
                self.tray.setToolTip("Field CRM reminders")
                self.tray.show()
                self.tray.messageClicked.connect(self.on_tray_message_clicked)
        self._last_shown: uuid.UUID | None = None
        context.data_changed.connect(self.on_context_data_changed)

    def today(self, zone: ZoneInfo) -> date:
        """Today's date in ``zone`` by this centre's clock."""
        return self._now().astimezone(zone).date()

    def start(self) -> None:
        """Check now (shows what fell due while the app was closed), then on every tick."""
        self.check_now()
        self.timer.start()

    def stop(self) -> None:
        """Stop polling."""
        self.timer.stop()

    def check_now(self) -> None:
        """Ask the store for due reminders (skipped while a check is still running)."""
        if self._checking:
            return
        self._checking = True
        user = self.context.current_user_id
        now = self._now()
        store = self.context.store

        def fetch() -> list[ActivityRow]:
            with store.sessions() as session:
                return svc.reminders_due(session=session, user_id=user, now=now)

        self.context.runner.submit(fetch, on_done=self.on_check_done, on_error=self.on_check_error)

    def on_check_done(self, rows: list[ActivityRow]) -> None:
        """Publish the list; announce reminders not yet announced at this reminder time."""
        self._checking = False
        self.due = rows
        fresh = [r for r in rows if (r.id, r.reminder_at) not in self._announced]
        for row in fresh:
            self._announced.add((row.id, row.reminder_at))
            self.reminder_fired.emit(row)
        if fresh and self.tray is not None:
            first = fresh[0]
            self._last_shown = first.id
            more = f" (+{len(fresh) - 1} more)" if len(fresh) > 1 else ""
            self.tray.showMessage(
                f"{KIND_LABELS[first.kind]}: {first.subject}{more}",
                first.related_label or "Reminder",
                QSystemTrayIcon.MessageIcon.Information,
                10_000,
            )
        self.reminders_changed.emit(rows)

    def on_tray_message_clicked(self) -> None:
        """Pass a click on the tray message on, with the activity it was about."""
        if self._last_shown is not None:
            self.message_clicked.emit(self._last_shown)

    def on_check_error(self, error: BaseException) -> None:
        """A failed check is retried on the next tick."""
        self._checking = False
        self.action_failed.emit(str(error) or type(error).__name__)

    def on_context_data_changed(self, entity: str) -> None:
        """Someone edited activities: a reminder may have moved, been dismissed or completed."""
        if entity == "activity":
            self.check_now()

    def snooze(self, activity_id: uuid.UUID, delay: timedelta) -> None:
        """Remind again after ``delay``."""
        now = self._now()
        self._write(
            lambda s: svc.snooze_reminder(session=s, activity_id=activity_id, delay=delay, now=now)
        )

    def dismiss(self, activity_id: uuid.UUID) -> None:
        """Stop reminding."""
        self._write(lambda s: svc.dismiss_reminder(session=s, activity_id=activity_id))

    def _write(self, action: Callable[..., object]) -> None:
        store = self.context.store

        def work() -> None:
            with store.sessions.begin() as session:
                action(session)

        self.context.runner.submit(
            work,
            on_done=lambda _r: self.context.notify_changed("activity"),
            on_error=lambda e: self.action_failed.emit(str(e) or type(e).__name__),
        )


class ReminderList(QWidget):
    """The due reminders, each with Snooze and Dismiss; double-click opens the activity.

    Signals:
        open_requested(object): the user wants to see the activity with this UUID.
    """

    open_requested = Signal(object)

    def __init__(
        self, center: ReminderCenter, *, zone: ZoneInfo | None = None, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.center = center
        self.zone = zone or system_zone()
        self.title = QLabel("<b>Reminders</b>", self)
        self.list = QListWidget(self)
        self.list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.list.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.snooze_button = QPushButton("&Snooze", self)
        menu = QMenu(self.snooze_button)
        for label, delay in SNOOZE_CHOICES:
            action = menu.addAction(label)
            action.setData(delay)
        menu.triggered.connect(lambda action: self._snooze(action.data()))
        self.snooze_button.setMenu(menu)
        self.dismiss_button = QPushButton("D&ismiss", self)
        buttons = QHBoxLayout()
        buttons.addWidget(self.snooze_button)
        buttons.addWidget(self.dismiss_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.title)
        layout.addWidget(self.list, 1)
        layout.addLayout(buttons)
        self.dismiss_button.clicked.connect(self.on_dismiss_button_clicked)
        self.list.itemDoubleClicked.connect(self.on_list_item_double_clicked)
        self.list.currentRowChanged.connect(self.on_list_current_row_changed)
        center.reminders_changed.connect(self.on_center_reminders_changed)
        self.on_center_reminders_changed(center.due)

    def selected_id(self) -> uuid.UUID | None:
        """The reminder picked in the list (the first one if none is)."""
        item = self.list.currentItem() or self.list.item(0)
        value = item.data(Qt.ItemDataRole.UserRole) if item is not None else None
        return value if isinstance(value, uuid.UUID) else None

    def on_center_reminders_changed(self, rows: list[ActivityRow]) -> None:
        """Refill the list, keeping the selection."""
        keep = self.selected_id()
        self.list.clear()
        for row in rows:
            span = row.span_utc()
            if span is not None:
                local = span[0].astimezone(self.zone)
                # A reminder from another day (missed while closed) says which day.
                day = (
                    "" if local.date() == self.center.today(self.zone) else local.strftime("%d %b ")
                )
                when = day + short_time(local)
            else:
                when = row.start_date.strftime("%d %b") if row.start_date else ""

            text = f"{when}  {KIND_LABELS[row.kind]}: {row.subject}"
            if row.related_label:
                text += f" — {row.related_label}"
            item = QListWidgetItem(text, self.list)
            item.setData(Qt.ItemDataRole.UserRole, row.id)
            if row.id == keep:
                self.list.setCurrentItem(item)
        self.title.setText(f"<b>Reminders</b> ({len(rows)})" if rows else "<b>Reminders</b>")
        self.on_list_current_row_changed(self.list.currentRow())

    def on_list_current_row_changed(self, _row: int) -> None:
        """Buttons work on the selected (or first) reminder."""
        enabled = self.list.count() > 0
        self.snooze_button.setEnabled(enabled)
        self.dismiss_button.setEnabled(enabled)

    def _snooze(self, delay: timedelta) -> None:
        ident = self.selected_id()
        if ident is not None:
            self.center.snooze(ident, delay)

    def on_dismiss_button_clicked(self) -> None:
        """Dismiss the selected reminder."""
        ident = self.selected_id()
        if ident is not None:
            self.center.dismiss(ident)

    def on_list_item_double_clicked(self, item: QListWidgetItem) -> None:
        """Open the reminded activity."""
        self.open_requested.emit(item.data(Qt.ItemDataRole.UserRole))
