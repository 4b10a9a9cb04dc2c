"""The activity dialog: plan or log a call, meeting, e-mail, task or note from anywhere.

Logging a call takes three keystrokes: the caller's shortcut opens :meth:`ActivityDialog.log`
with the kind, the time (now), the links and the subject filled in and the cursor in
*Outcome*; type the outcome, press Enter. Alt+F adds a follow-up (next working day, 9:00) in
the same dialog. Editing an existing entry also offers complete, reassign and reschedule.

Threading: the dialog reads and writes only through ``context.runner``; it keeps plain rows.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from PySide6.QtCore import QDate, QDateTime, Qt, QTime, Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDateTimeEdit,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)
from sqlalchemy.orm import Session

from crm_desktop.models.enums import ActivityKind, ActivityStatus, Priority
from crm_desktop.services import activities as svc
from crm_desktop.services.activities import ActivityRow, UserRow
from crm_desktop.ui.calendar.common import KIND_LABELS, system_zone
from crm_desktop.ui.context import AppContext

REMINDER_CHOICES: tuple[tuple[str, timedelta | None], ...] = (
    ("No reminder", None),
    ("At start", timedelta(0)),
    ("5 minutes before", timedelta(minutes=5)),
    ("15 minutes before", timedelta(minutes=15)),
    ("30 minutes before", timedelta(minutes=30)),
    ("1 hour before", timedelta(hours=1)),
    ("1 day before", timedelta(days=1)),
)


@dataclass(frozen=True)
class Links:
    """What an activity is about (any may be None)."""

    account_id: uuid.UUID | None = None
    contact_id: uuid.UUID | None = None
    opportunity_id: uuid.UUID | None = None
    quote_id: uuid.UUID | None = None
    label: str = ""

    def as_kwargs(self) -> dict[str, Any]:
        """The link columns as keyword arguments for the services."""
        return {
            "account_id": self.account_id,
            "contact_id": self.contact_id,
            "opportunity_id": self.opportunity_id,
            "quote_id": self.quote_id,
        }


def _qdatetime(value: datetime) -> QDateTime:
    return QDateTime(QDate(value.year, value.month, value.day), QTime(value.hour, value.minute))


def _naive(edit: QDateTimeEdit) -> datetime:
    value = edit.dateTime()
    d, t = value.date(), value.time()
    return datetime(d.year(), d.month(), d.day(), t.hour(), t.minute())


def _index_of(combo: QComboBox, value: object) -> int:
    """Index of the item holding ``value`` (findData cannot compare Python objects like UUIDs)."""
    return next((i for i in range(combo.count()) if combo.itemData(i) == value), -1)


def next_working_morning(now: datetime) -> datetime:
    """9:00 on the next working day after ``now`` (naive local)."""
    day = now.date() + timedelta(days=1)
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return datetime.combine(day, time(9))


class ActivityDialog(QDialog):
    """Create, log or edit one activity (with an optional follow-up).

    Signals:
        activity_saved(object): the saved :class:`ActivityRow` (the main entry, not the follow-up).
        save_failed(str): the store refused the save; the message is also shown in the dialog.
    """

    activity_saved = Signal(object)
    save_failed = Signal(str)

    def __init__(
        self,
        context: AppContext,
        *,
        activity: ActivityRow | None = None,
        kind: ActivityKind = ActivityKind.MEETING,
        start: datetime | None = None,
        end: datetime | None = None,
        days: tuple[date, date] | None = None,
        log: bool = False,
        links: Links | None = None,
        zone: ZoneInfo | None = None,
        now: Callable[[], datetime] | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.context = context
        self.activity = activity
        self.zone = zone or system_zone()
        self._now = now or (lambda: datetime.now(self.zone))
        self.links = links or Links()
        self._saving = False
        self.setWindowTitle(
            "Edit activity" if activity else ("Log activity" if log else "New activity")
        )

        self.kind_combo = QComboBox(self)
        for k in ActivityKind:
            self.kind_combo.addItem(KIND_LABELS[k], k)
        self.subject_edit = QLineEdit(self)
        self.all_day_check = QCheckBox("All-da&y", self)
        self.start_edit = QDateTimeEdit(self)
        self.end_edit = QDateTimeEdit(self)
        for edit in (self.start_edit, self.end_edit):
            edit.setCalendarPopup(True)
            edit.setDisplayFormat("ddd yyyy-MM-dd HH:mm")
        self.location_edit = QLineEdit(self)
        self.description_edit = QPlainTextEdit(self)
        self.description_edit.setTabChangesFocus(True)
        self.description_edit.setFixedHeight(60)
        self.reminder_combo = QComboBox(self)
        for label, delta in REMINDER_CHOICES:
            self.reminder_combo.addItem(label, delta)
        self.priority_combo = QComboBox(self)
        for p in Priority:
            self.priority_combo.addItem(p.value.capitalize(), p)
        self.owner_combo = QComboBox(self)
        self.done_check = QCheckBox("Already &done (log it)", self)
        self.outcome_edit = QLineEdit(self)
        self.outcome_edit.setPlaceholderText("What came out of it")

        self.follow_check = QCheckBox("Follow-up (Alt+F)", self)
        self.follow_kind = QComboBox(self)
        for k in (ActivityKind.TASK, ActivityKind.CALL, ActivityKind.MEETING, ActivityKind.EMAIL):
            self.follow_kind.addItem(KIND_LABELS[k], k)
        self.follow_when = QDateTimeEdit(self)
        self.follow_when.setCalendarPopup(True)
        self.follow_when.setDisplayFormat("ddd yyyy-MM-dd HH:mm")
        self.follow_subject = QLineEdit(self)
        follow_box = QGroupBox(self)
        follow_form = QFormLayout(follow_box)
        follow_form.addRow(self.follow_check)
        follow_form.addRow("Kind", self.follow_kind)
        follow_form.addRow("When", self.follow_when)
        follow_form.addRow("Subject", self.follow_subject)

        self.error_label = QLabel(self)
        self.error_label.setStyleSheet("color: #B71C1C")
        self.error_label.setWordWrap(True)
        self.error_label.hide()

        form = QFormLayout()
        form.addRow("&Kind", self.kind_combo)
        form.addRow("&Subject", self.subject_edit)
        if self.links.label:
            form.addRow("About", QLabel(self.links.label, self))
        when = QHBoxLayout()
        when.addWidget(self.start_edit)
        when.addWidget(QLabel("to", self))
        when.addWidget(self.end_edit)
        when.addWidget(self.all_day_check)
        self.when_label = QLabel("&When", self)
        self.when_label.setBuddy(self.start_edit)
        form.addRow(self.when_label, when)
        planned = self._planned_elsewhere()
        if planned:
            hint = QLabel(planned, self)
            hint.setStyleSheet("color: #757575")
            form.addRow("", hint)
        form.addRow("&Location", self.location_edit)
        form.addRow("Details", self.description_edit)
        form.addRow("&Reminder", self.reminder_combo)
        form.addRow("&Priority", self.priority_combo)
        form.addRow("O&wner", self.owner_combo)
        form.addRow(self.done_check)
        form.addRow("&Outcome", self.outcome_edit)

        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel, self
        )
        self.complete_button: QPushButton | None = None
        if activity is not None and activity.status == ActivityStatus.PLANNED:
            self.complete_button = self.buttons.addButton(
                "&Mark done", QDialogButtonBox.ButtonRole.ActionRole
            )
            self.complete_button.clicked.connect(self.on_complete_button_clicked)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)

        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(follow_box)
        layout.addWidget(self.error_label)
        layout.addWidget(self.buttons)

        for number, k in enumerate(ActivityKind, start=1):
            shortcut = QShortcut(QKeySequence(f"Ctrl+{number}"), self)
            shortcut.activated.connect(lambda k=k: self._set_kind(k))

        # Explicit, because some platforms only honour "&" mnemonics while Alt is shown.
        follow_shortcut = QShortcut(QKeySequence("Alt+F"), self)
        follow_shortcut.activated.connect(self.follow_check.toggle)

        self.kind_combo.currentIndexChanged.connect(self.on_kind_combo_changed)
        self.all_day_check.toggled.connect(self.on_all_day_check_toggled)
        self.done_check.toggled.connect(self.on_done_check_toggled)
        self.follow_check.toggled.connect(self.on_follow_check_toggled)
        self.start_edit.dateTimeChanged.connect(self.on_start_edit_changed)
        self._length = timedelta(minutes=30)

        self._fill(kind=kind, start=start, end=end, days=days, log=log)
        self._load_owners()

    def _planned_elsewhere(self) -> str:
        """'Planned in Asia/Tokyo: 10:00–10:30 there' when the entry's zone is not the view's."""
        row = self.activity
        if row is None or not row.time_zone or row.time_zone == self.zone.key or row.all_day:
            return ""
        span = row.span_utc()
        if span is None:
            return ""
        try:
            there = ZoneInfo(row.time_zone)
        except (KeyError, ValueError):
            return ""
        start, end = (t.astimezone(there).strftime("%H:%M") for t in span)
        return f"Planned in {row.time_zone}: {start}–{end} there"

    # ---- construction helpers
    @classmethod
    def log(
        cls,
        context: AppContext,
        *,
        kind: ActivityKind = ActivityKind.CALL,
        links: Links | None = None,
        zone: ZoneInfo | None = None,
        parent: QWidget | None = None,
    ) -> ActivityDialog:
        """A dialog ready to log a call (or meeting) that just happened: type the outcome, Enter."""
        return cls(context, kind=kind, log=True, links=links, zone=zone, parent=parent)

    def _set_kind(self, kind: ActivityKind) -> None:
        self.kind_combo.setCurrentIndex(_index_of(self.kind_combo, kind))

    def _fill(
        self,
        *,
        kind: ActivityKind,
        start: datetime | None,
        end: datetime | None,
        days: tuple[date, date] | None,
        log: bool,
    ) -> None:
        now = self._now().astimezone(self.zone).replace(tzinfo=None, second=0, microsecond=0)
        row = self.activity
        if row is not None:
            self._set_kind(row.kind)
            self.subject_edit.setText(row.subject)
            self.location_edit.setText(row.location or "")
            self.description_edit.setPlainText(row.description or "")
            self.outcome_edit.setText(row.outcome or "")
            self.priority_combo.setCurrentIndex(_index_of(self.priority_combo, row.priority))
            self.done_check.setChecked(row.status == ActivityStatus.DONE)
            self.done_check.setEnabled(row.status != ActivityStatus.DONE)
            if row.all_day and row.start_date:
                self.all_day_check.setChecked(True)
                first = datetime.combine(row.start_date, time(9))
                last = datetime.combine(
                    (row.end_date or row.start_date) - timedelta(days=1), time(9)
                )
                self.start_edit.setDateTime(_qdatetime(first))
                self.end_edit.setDateTime(_qdatetime(max(first, last)))
            else:
                span = row.span_utc()
                begin = (
                    (span[0] if span else datetime.now(self.zone))
                    .astimezone(self.zone)
                    .replace(tzinfo=None)
                )
                finish = (
                    (span[1] if span else begin).astimezone(self.zone).replace(tzinfo=None)
                    if span
                    else begin
                )
                self.start_edit.setDateTime(_qdatetime(begin))
                self.end_edit.setDateTime(_qdatetime(finish))
                self._length = finish - begin
                if span and row.reminder_at is not None:
                    lead = span[0] - row.reminder_at
                    index = next((i for i, (_, d) in enumerate(REMINDER_CHOICES) if d == lead), 0)
                    self.reminder_combo.setCurrentIndex(index)
            self.subject_edit.setFocus()
        else:
            self._set_kind(kind)
            self.priority_combo.setCurrentIndex(_index_of(self.priority_combo, Priority.NORMAL))
            if days is not None:
                self.all_day_check.setChecked(True)
                self.start_edit.setDateTime(_qdatetime(datetime.combine(days[0], time(9))))
                self.end_edit.setDateTime(
                    _qdatetime(datetime.combine(days[1] - timedelta(days=1), time(9)))
                )
            else:
                begin = start.astimezone(self.zone).replace(tzinfo=None) if start else now
                finish = (
                    end.astimezone(self.zone).replace(tzinfo=None)
                    if end
                    else begin + timedelta(minutes=30)
                )
                if log:
                    finish = begin
                self._length = finish - begin
                self.start_edit.setDateTime(_qdatetime(begin))
                self.end_edit.setDateTime(_qdatetime(finish))
            if log:
                self.done_check.setChecked(True)
                about = f" with {self.links.label}" if self.links.label else ""
                self.subject_edit.setText(f"{KIND_LABELS[kind]}{about}")
                self.outcome_edit.setFocus()
            else:
                self.subject_edit.setFocus()
        self.follow_when.setDateTime(_qdatetime(next_working_morning(now)))
        self.on_follow_check_toggled(False)
        self.on_done_check_toggled(self.done_check.isChecked())
        self.on_kind_combo_changed()

    def _load_owners(self) -> None:
        me = self.context.current_user_id
        current = self.activity.owner_id if self.activity else me
        # Until the team arrives the combo holds the current owner, so an early save keeps it.
        self.owner_combo.addItem("(me)" if current == me else "(unchanged)", current)
        if me is None:
            self.owner_combo.setEnabled(current is not None)
            return

        def fetch() -> list[UserRow]:
            with self.context.store.sessions() as session:
                return svc.visible_calendar_owners(session=session, user_id=me)

        def fill(owners: list[UserRow]) -> None:
            self.owner_combo.clear()
            for user in owners:
                self.owner_combo.addItem(user.name, user.id)
            if current is not None and _index_of(self.owner_combo, current) < 0:
                self.owner_combo.addItem("(someone else)", current)
            self.owner_combo.setCurrentIndex(max(0, _index_of(self.owner_combo, current)))

        self.context.runner.submit(fetch, on_done=fill, on_error=lambda _e: None)

    # ---- slots
    def on_kind_combo_changed(self, _index: int = 0) -> None:
        """A task has a due time, not a span."""
        is_task = self.kind_combo.currentData() == ActivityKind.TASK
        self.end_edit.setVisible(not is_task or self.all_day_check.isChecked())
        self.when_label.setText(
            "&Due" if is_task and not self.all_day_check.isChecked() else "&When"
        )

    def on_all_day_check_toggled(self, checked: bool) -> None:
        """All-day entries pick days only."""
        fmt = "ddd yyyy-MM-dd" if checked else "ddd yyyy-MM-dd HH:mm"
        self.start_edit.setDisplayFormat(fmt)
        self.end_edit.setDisplayFormat(fmt)
        self.on_kind_combo_changed()

    def on_done_check_toggled(self, checked: bool) -> None:
        """The outcome matters once it happened."""
        self.outcome_edit.setEnabled(checked or bool(self.outcome_edit.text()))

    def on_follow_check_toggled(self, checked: bool) -> None:
        """Follow-up fields only when wanted; a sensible subject comes pre-filled."""
        for w in (self.follow_kind, self.follow_when, self.follow_subject):
            w.setEnabled(checked)
        if checked:
            if not self.follow_subject.text():
                self.follow_subject.setText(f"Follow up: {self.subject_edit.text().strip()}")
            self.follow_subject.setFocus()

    def on_start_edit_changed(self, _value: QDateTime) -> None:
        """Moving the start keeps the length, as in every calendar."""
        if self.all_day_check.isChecked():
            if self.end_edit.dateTime() < self.start_edit.dateTime():
                self.end_edit.setDateTime(self.start_edit.dateTime())
            return
        self.end_edit.setDateTime(_qdatetime(_naive(self.start_edit) + self._length))

    def on_complete_button_clicked(self) -> None:
        """Mark done and save in one go."""
        self.done_check.setChecked(True)
        self.accept()

    # ---- saving
    def _values(self) -> dict[str, Any]:
        kind: ActivityKind = self.kind_combo.currentData()
        all_day = self.all_day_check.isChecked()
        start_local = _naive(self.start_edit)
        end_local = _naive(self.end_edit)
        values: dict[str, Any] = {
            "kind": kind,
            "subject": self.subject_edit.text(),
            "location": self.location_edit.text().strip() or None,
            "description": self.description_edit.toPlainText().strip() or None,
            "priority": self.priority_combo.currentData(),
            "time_zone": self.zone.key,
            "all_day": all_day,
        }
        reminder: timedelta | None = self.reminder_combo.currentData()
        if all_day:
            first = start_local.date()
            last = max(end_local.date(), first)
            values.update(start_date=first, end_date=last + timedelta(days=1))
            values.update(start_at=None, end_at=None, due_at=None)
            anchor = datetime.combine(first, time(9), self.zone)
        elif kind == ActivityKind.TASK and (
            self.activity is None or self.activity.start_at is None
        ):
            anchor = start_local.replace(tzinfo=self.zone)
            values.update(due_at=anchor, start_at=None, end_at=None)
        else:
            anchor = start_local.replace(tzinfo=self.zone)
            end = max(end_local.replace(tzinfo=self.zone), anchor)
            values.update(start_at=anchor, end_at=end)
        values["reminder_at"] = anchor - reminder if reminder is not None else None
        return values

    def _follow_up(self) -> svc.FollowUp | None:
        if not self.follow_check.isChecked():
            return None
        subject = (
            self.follow_subject.text().strip() or f"Follow up: {self.subject_edit.text().strip()}"
        )
        return svc.FollowUp(
            kind=self.follow_kind.currentData(),
            subject=subject,
            start_at=_naive(self.follow_when).replace(tzinfo=self.zone),
            reminder_before=timedelta(minutes=15),
        )

    def accept(self) -> None:
        """Save in the background; close once the store has it."""
        if self._saving:
            return
        if not self.subject_edit.text().strip():
            self._show_error("Give the activity a subject.")
            self.subject_edit.setFocus()
            return
        values = self._values()
        follow = self._follow_up()
        done = self.done_check.isChecked()
        outcome = self.outcome_edit.text().strip() or None
        owner = (
            self.owner_combo.currentData()
            if self.owner_combo.count()
            else self.context.current_user_id
        )
        links = self.links.as_kwargs()
        existing = self.activity
        store = self.context.store

        def work() -> ActivityRow:
            with store.sessions.begin() as session:
                return _save(session, existing, values, done, outcome, owner, links, follow)

        self._saving = True
        self.buttons.setEnabled(False)
        self.context.runner.submit(work, on_done=self.on_save_done, on_error=self.on_save_error)

    def on_save_done(self, row: ActivityRow) -> None:
        """The store has it: tell every screen, then close."""
        self._saving = False
        self.activity_saved.emit(row)
        self.context.notify_changed("activity")
        super().accept()

    def on_save_error(self, error: BaseException) -> None:
        """Keep the dialog open with the reason, so nothing typed is lost."""
        self._saving = False
        self.buttons.setEnabled(True)
        message = str(error) or type(error).__name__
        self._show_error(message)
        self.save_failed.emit(message)

    def _show_error(self, message: str) -> None:
        self.error_label.setText(message)
        self.error_label.show()


def _save(
    session: Session,
    existing: ActivityRow | None,
    values: dict[str, Any],
    done: bool,
    outcome: str | None,
    owner: uuid.UUID | None,
    links: dict[str, Any],
    follow: svc.FollowUp | None,
) -> ActivityRow:
    """The dialog's write, on the worker thread, in one transaction."""
    if existing is None:
        if done and not values["all_day"] and values.get("start_at") is not None:
            start = values["start_at"]
            logged = svc.log_activity(
                session=session,
                kind=values["kind"],
                subject=values["subject"],
                owner_id=owner,
                occurred_at=start,
                duration=values["end_at"] - start,
                outcome=outcome,
                description=values["description"],
                time_zone=values["time_zone"],
                follow_up=follow,
                **links,
            )
            return logged.logged
        row = svc.create_activity(
            session=session, owner_id=owner, outcome=outcome, **values, **links
        )
        if done:
            row = svc.complete_activity(session=session, activity_id=row.id, outcome=outcome)
    else:
        changes = dict(values)
        changes["outcome"] = outcome
        row = svc.update_activity(session=session, activity_id=existing.id, **changes)
        if owner is not None and owner != existing.owner_id:
            row = svc.reassign_activity(session=session, activity_id=existing.id, owner_id=owner)
        if done and existing.status != ActivityStatus.DONE:
            row = svc.complete_activity(session=session, activity_id=existing.id, outcome=outcome)
    if follow is not None:
        is_task = follow.kind == ActivityKind.TASK
        svc.create_activity(
            session=session,
            kind=follow.kind,
            subject=follow.subject,
            owner_id=owner,
            start_at=None if is_task else follow.start_at,
            due_at=follow.start_at if is_task else None,
            time_zone=values["time_zone"],
            reminder_at=follow.start_at - (follow.reminder_before or timedelta(0)),
            account_id=row.account_id,
            contact_id=row.contact_id,
            opportunity_id=row.opportunity_id,
            quote_id=row.quote_id,
        )
    return row


def install_log_shortcuts(
    widget: QWidget,
    context: AppContext,
    links: Callable[[], Links | None],
    *,
    zone: ZoneInfo | None = None,
) -> list[QShortcut]:
    """Make Ctrl+L log a call and Ctrl+Shift+L a meeting about what ``links()`` returns.

    For record pages (account, contact, opportunity, quote): ``links`` is asked at key time, so
    it always names the record on screen. Returns the shortcuts (kept alive by ``widget``).
    """

    def open_log(kind: ActivityKind) -> None:
        dialog = ActivityDialog.log(context, kind=kind, links=links(), zone=zone, parent=widget)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.open()

    made = []
    for keys, kind in (("Ctrl+L", ActivityKind.CALL), ("Ctrl+Shift+L", ActivityKind.MEETING)):
        shortcut = QShortcut(QKeySequence(keys), widget)
        shortcut.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        shortcut.activated.connect(lambda kind=kind: open_log(kind))
        made.append(shortcut)
    return made
