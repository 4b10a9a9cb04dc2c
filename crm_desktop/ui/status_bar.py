"""The main window's status bar: what the list shows, whether work is running, and sync state.

The sync part is a small widget with one API (:meth:`SyncStatusWidget.set_state`) driven by
:class:`~crm_desktop.ui.sync_status.SyncStatusController`; on its own it says "Offline — not
connected". Beside it a badge counts conflicts the user has not looked at yet (hidden at zero).
"""

from __future__ import annotations

from enum import StrEnum

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QStatusBar,
    QStyle,
    QToolButton,
    QWidget,
)

from crm_desktop.ui.tasks import TaskRunner

#: Work shorter than this shows no busy indicator, so quick page reads never make it flicker.
BUSY_DELAY_MS = 400


class SyncState(StrEnum):
    """What the sync indicator can show."""

    OFFLINE = "offline"
    SYNCING = "syncing"
    SYNCED = "synced"
    ERROR = "error"


_ICONS = {
    SyncState.OFFLINE: QStyle.StandardPixmap.SP_DriveNetIcon,
    SyncState.SYNCING: QStyle.StandardPixmap.SP_BrowserReload,
    SyncState.SYNCED: QStyle.StandardPixmap.SP_DialogApplyButton,
    SyncState.ERROR: QStyle.StandardPixmap.SP_MessageBoxWarning,
}


class SyncStatusWidget(QWidget):
    """Icon and text telling the user where sync stands (driven by the sync controller)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("syncStatus")
        self.icon = QLabel(self)
        self.label = QLabel(self)
        self.label.setObjectName("syncStatusText")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(6, 0, 6, 0)
        layout.setSpacing(4)
        layout.addWidget(self.icon)
        layout.addWidget(self.label)
        self.state = SyncState.OFFLINE
        self.set_state(SyncState.OFFLINE, "Offline — not connected")
        # The controller syncs on a click; the hand says the indicator can be clicked.
        self.setCursor(Qt.CursorShape.PointingHandCursor)

    def set_state(self, state: SyncState, text: str, detail: str = "") -> None:
        """Show ``state`` with ``text``; ``detail`` becomes the tooltip (e.g. last sync time)."""
        self.state = state
        self.icon.setPixmap(self.style().standardIcon(_ICONS[state]).pixmap(14, 14))
        self.label.setText(text)
        self.setToolTip(detail or text)

    @property
    def text(self) -> str:
        """The text shown."""
        return self.label.text()


class MainStatusBar(QStatusBar):
    """Status bar with the current list's summary, a delayed busy indicator, sync state and a
    badge for unseen conflicts (``conflicts``: its ``clicked`` opens them, wired by the window).
    """

    def __init__(self, runner: TaskRunner, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.summary = QLabel("", self)
        self.summary.setObjectName("listSummary")
        self.busy = QProgressBar(self)
        self.busy.setObjectName("busyIndicator")
        self.busy.setRange(0, 0)
        self.busy.setMaximumWidth(90)
        self.busy.setMaximumHeight(12)
        self.busy.setTextVisible(False)
        self.busy.hide()
        self.sync = SyncStatusWidget(self)
        self.conflicts = QToolButton(self)
        self.conflicts.setObjectName("conflictsBadge")
        self.conflicts.setAutoRaise(True)
        self.conflicts.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.conflicts.setIcon(
            self.style().standardIcon(QStyle.StandardPixmap.SP_MessageBoxWarning)
        )
        self.conflicts.setToolTip("Edits made here and elsewhere met; click to review them")
        self.conflicts.hide()
        self.addWidget(self.summary, 1)
        self.addPermanentWidget(self.busy)
        self.addPermanentWidget(self.conflicts)
        self.addPermanentWidget(self.sync)
        self._busy_timer = QTimer(self)
        self._busy_timer.setSingleShot(True)
        self._busy_timer.setInterval(BUSY_DELAY_MS)
        self._busy_timer.timeout.connect(self.busy.show)
        runner.busy_changed.connect(self.on_runner_busy_changed)

    def on_runner_busy_changed(self, busy: bool) -> None:
        if busy:
            self._busy_timer.start()
        else:
            self._busy_timer.stop()
            self.busy.hide()

    def set_unseen_conflicts(self, count: int) -> None:
        """Show how many conflicts arrived since the user last looked (hidden at zero)."""
        self.conflicts.setText(f"{count:,} conflict{'s' if count != 1 else ''}")
        self.conflicts.setVisible(count > 0)

    def set_summary(self, text: str) -> None:
        """Show what the current area holds ("1,204 of 100,000 contacts")."""
        self.summary.setText(text)
