"""An activity timeline: newest first, one line per call, meeting, e-mail, task or note, with
buttons to log a call or a meeting about the record on screen (the calendar's own dialog)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from PySide6.QtCore import Qt
from PySide6.QtGui import QBrush, QColor, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QPushButton,
    QStackedWidget,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from crm_desktop.models.enums import ActivityKind
from crm_desktop.services.record_views import TimelineItem
from crm_desktop.ui.calendar.activity_dialog import ActivityDialog, Links
from crm_desktop.ui.context import AppContext

KIND_GLYPHS = {"call": "☎", "meeting": "◉", "email": "✉", "task": "☐", "note": "✎"}
STATUS_COLOURS = {"done": "#188038", "planned": "#1a73e8", "cancelled": "#80868b"}


def format_when(moment: datetime | None) -> str:
    """A timestamp in the user's local time, to the minute."""
    if moment is None:
        return ""
    return moment.astimezone().strftime("%Y-%m-%d %H:%M")


class Timeline(QStackedWidget):
    """A read-only list of activities, or a short hint when there are none yet."""

    def __init__(
        self, parent: QWidget | None = None, *, empty_text: str = "No activities yet."
    ) -> None:
        super().__init__(parent)
        self.tree = QTreeWidget(self)
        self.tree.setObjectName("timeline")
        self.tree.setHeaderLabels(["When", "", "Subject", "Status", "Owner", "Regarding"])
        self.tree.setRootIsDecorated(False)
        self.tree.setAlternatingRowColors(True)
        self.tree.setUniformRowHeights(True)
        self.empty = QLabel(empty_text, self)
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty.setStyleSheet("color:#80868b; padding:16px;")
        self.addWidget(self.empty)
        self.addWidget(self.tree)

    def set_items(self, items: Sequence[TimelineItem]) -> None:
        """Show ``items`` (already newest first)."""
        self.tree.clear()
        rows = []
        for item in items:
            row = QTreeWidgetItem(
                [
                    format_when(item.when),
                    KIND_GLYPHS.get(item.kind, "•"),
                    item.subject,
                    item.status,
                    item.owner,
                    item.regarding,
                ]
            )
            row.setToolTip(1, item.kind)
            row.setToolTip(2, item.outcome or item.subject)
            row.setForeground(3, QBrush(QColor(STATUS_COLOURS.get(item.status, "#3c4043"))))
            rows.append(row)
        self.tree.addTopLevelItems(rows)
        for column, width in enumerate((125, 26, 300, 75, 120)):
            self.tree.setColumnWidth(column, width)
        self.setCurrentWidget(self.tree if rows else self.empty)

    def item_count(self) -> int:
        """How many activities are shown."""
        return self.tree.topLevelItemCount()


class TimelinePanel(QWidget):
    """A :class:`Timeline` under "Log call…" / "Log meeting…" buttons.

    ``links`` is asked when a button is pressed, so it always names the record on screen; it
    returns None while the record is not saved yet (the buttons then do nothing).
    """

    def __init__(
        self,
        context: AppContext,
        links: Callable[[], Links | None],
        parent: QWidget | None = None,
        *,
        empty_text: str = "No activities yet.",
    ) -> None:
        super().__init__(parent)
        self.context = context
        self._links = links
        layout = QVBoxLayout(self)
        row = QHBoxLayout()
        self.log_call_button = QPushButton("Log call…", self)
        self.log_call_button.setObjectName("log_call_button")
        self.log_call_button.setToolTip("Log a call about this record (Ctrl+L)")
        self.log_meeting_button = QPushButton("Log meeting…", self)
        self.log_meeting_button.setObjectName("log_meeting_button")
        self.log_meeting_button.setToolTip("Log a meeting about this record (Ctrl+Shift+L)")
        self.log_call_button.clicked.connect(self.on_log_call_button_clicked)
        self.log_meeting_button.clicked.connect(self.on_log_meeting_button_clicked)
        row.addWidget(self.log_call_button)
        row.addWidget(self.log_meeting_button)
        row.addStretch(1)
        layout.addLayout(row)
        self.timeline = Timeline(self, empty_text=empty_text)
        layout.addWidget(self.timeline, 1)
        self.dialog: ActivityDialog | None = None

    def install_shortcuts(self, scope: QWidget) -> None:
        """Ctrl+L logs a call and Ctrl+Shift+L a meeting anywhere inside ``scope`` (the page)."""
        for keys, slot in (
            ("Ctrl+L", self.on_log_call_button_clicked),
            ("Ctrl+Shift+L", self.on_log_meeting_button_clicked),
        ):
            shortcut = QShortcut(QKeySequence(keys), scope)
            shortcut.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            shortcut.activated.connect(slot)

    def set_enabled_for_record(self, saved: bool) -> None:
        """Logging needs a saved record to link the activity to."""
        self.log_call_button.setEnabled(saved)
        self.log_meeting_button.setEnabled(saved)

    def set_items(self, items: Sequence[TimelineItem]) -> None:
        """Show ``items`` (newest first)."""
        self.timeline.set_items(items)

    def item_count(self) -> int:
        """How many activities are shown."""
        return self.timeline.item_count()

    def _open(self, kind: ActivityKind) -> None:
        links = self._links()
        if links is None:
            return
        self.dialog = ActivityDialog.log(self.context, kind=kind, links=links, parent=self)
        self.dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.dialog.open()

    def on_log_call_button_clicked(self) -> None:
        self._open(ActivityKind.CALL)

    def on_log_meeting_button_clicked(self) -> None:
        self._open(ActivityKind.MEETING)
