"""An activity timeline: newest first, one line per call, meeting, e-mail, task or note."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from PySide6.QtCore import Qt
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import QLabel, QStackedWidget, QTreeWidget, QTreeWidgetItem, QWidget

from crm_desktop.services.record_views import TimelineItem

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
