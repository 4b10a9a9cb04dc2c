"""Conflicts panel: concurrent edits that sync resolved automatically, and how to undo them.

Each row is one entry of the local conflict log: when, which record and field, the rule the
server applied, this device's value and head office's value side by side, and the value that
stands now. "Take the other value" writes the value that did not stand as a new, ordinary edit
(so it syncs like any edit and other devices get it); rejected changes are listed with the
server's reason.

Threading: the log is read and the edit written on the app's store worker
(:class:`~crm_desktop.ui.tasks.TaskRunner`); this widget only ever holds plain data. Change
notifications come in bursts (a sync announces every entity it touched), so they are gathered
into one reload shortly after, and a hidden panel (a closed dock) reloads only when shown again.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)
from sqlalchemy import func, select, text

from crm_desktop.store import Store
from crm_desktop.sync.state import ConflictRecord, list_conflicts, take_other_value
from crm_desktop.sync.tables import sync_conflict
from crm_desktop.ui.context import AppContext
from crm_desktop.ui.sync_status import SyncStatusController

COLUMNS = ("When", "Record", "Field", "What happened", "This device", "Head office", "Now")
#: Notifications within this long of each other cause one reload.
RELOAD_DELAY_MS = 150
#: Widest a column grows to fit its contents; longer values are elided (the tooltip has all).
MAX_COLUMN_WIDTH = 320
_RULES = {
    "lww": "Both changed it; the later edit won",
    "text_keep_both": "Both changed the text; both versions kept",
    "delete_wins": "Deleted elsewhere; the delete won",
    "edit_after_delete": "Edited here after it was deleted elsewhere",
    "rejected": "Refused by head office",
}


@dataclass(frozen=True)
class ConflictRow:
    """One conflict with a title for its record (plain data for the table)."""

    conflict: ConflictRecord
    title: str


def load_rows(store: Store, limit: int = 1000) -> list[ConflictRow]:
    """The newest conflicts with their records' titles (runs on the store worker)."""
    with store.engine.connect() as connection:
        conflicts = list_conflicts(connection, limit=limit)
        titles: dict[str, str] = {}
        refs = sorted({str(c.record_id) for c in conflicts})
        for start in range(0, len(refs), 500):
            chunk = refs[start : start + 500]
            marks = ", ".join(f":r{i}" for i in range(len(chunk)))
            for ref, title in connection.execute(
                text(f"SELECT ref, title FROM search_doc WHERE ref IN ({marks})"),
                {f"r{i}": ref for i, ref in enumerate(chunk)},
            ):
                titles[ref] = title
    return [ConflictRow(c, titles.get(str(c.record_id), "")) for c in conflicts]


@dataclass(frozen=True)
class ConflictCount:
    """Log entries newer than what the user has seen, and the newest entry's id (0 if none)."""

    unseen: int
    newest_id: int


def count_conflicts(store: Store, seen_through: int) -> ConflictCount:
    """How many log entries have an id above ``seen_through`` (runs on the store worker).

    The log's ids only grow, so "seen" is one number: the newest id when the user last looked.
    """
    with store.engine.connect() as connection:
        newest = connection.scalar(select(func.max(sync_conflict.c.id))) or 0
        if newest < seen_through:
            seen_through = 0  # the log was emptied (a wiped device) and its ids started over
        unseen = connection.scalar(
            select(func.count()).select_from(sync_conflict).where(sync_conflict.c.id > seen_through)
        )
    return ConflictCount(int(unseen or 0), int(newest))


def take_other(store: Store, conflict_id: int) -> ConflictRecord:
    """Write the other value as a new edit in one transaction (runs on the store worker)."""
    with store.sessions.begin() as session:
        return take_other_value(session, conflict_id)


def _show(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, dict):
        return ", ".join(f"{k}: {_show(v)}" for k, v in value.items())
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value) if isinstance(value, str) else json.dumps(value)


class ConflictsPanel(QWidget):
    """Lists the conflict log and takes back an automatic decision with one click.

    Signals:
        value_taken(str, object): the other value of a conflict was written: entity and record id.
        load_finished(int): the table was (re)filled with that many rows.
    """

    value_taken = Signal(str, object)
    load_finished = Signal(int)

    def __init__(
        self,
        context: AppContext,
        controller: SyncStatusController | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("conflictsPanel")
        self.context = context
        self.rows: list[ConflictRow] = []
        self.table = QTableWidget(0, len(COLUMNS), self)
        self.table.setObjectName("conflictsTable")
        self.table.setHorizontalHeaderLabels(list(COLUMNS))
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().hide()
        # One line per conflict: a dock is short, and the tooltip shows a long value in full.
        self.table.setWordWrap(False)
        self.table.setAlternatingRowColors(True)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.itemSelectionChanged.connect(self.on_table_selection_changed)
        self.take_button = QPushButton("Take the other value", self)
        self.take_button.setObjectName("takeOtherValue")
        self.take_button.setEnabled(False)
        self.take_button.clicked.connect(self.on_take_button_clicked)
        self.refresh_button = QPushButton("Refresh", self)
        self.refresh_button.clicked.connect(self.refresh)
        self.message = QLabel("", self)
        self.message.setObjectName("conflictsMessage")
        buttons = QHBoxLayout()
        buttons.addWidget(self.message, 1)
        buttons.addWidget(self.refresh_button)
        buttons.addWidget(self.take_button)
        layout = QVBoxLayout(self)
        layout.addWidget(self.table, 1)
        layout.addLayout(buttons)
        self._reload = QTimer(self)
        self._reload.setSingleShot(True)
        self._reload.setInterval(RELOAD_DELAY_MS)
        self._reload.timeout.connect(self.on_reload_timeout)
        self._stale = False
        self._sized = False
        context.data_changed.connect(self.on_context_data_changed)
        if controller is not None:
            # A round can add conflicts without changing any record shown elsewhere.
            controller.sync_finished.connect(self.on_controller_sync_finished)
        self.refresh()

    def refresh(self) -> None:
        """Reload the log on the store worker."""
        store = self.context.store
        self.context.runner.submit(lambda: load_rows(store), on_done=self.on_rows_loaded)

    def on_rows_loaded(self, rows: list[ConflictRow]) -> None:
        self.rows = rows
        self.table.setRowCount(len(rows))
        for i, row in enumerate(rows):
            c = row.conflict
            kind = c.entity.replace("_", " ").capitalize()
            record = f"{kind}: {row.title}" if row.title else f"{kind} {str(c.record_id)[:8]}"
            what = _RULES.get(c.rule, c.rule)
            if c.rule == "rejected" and c.reason:
                what = f"{what}: {c.reason}"
            if c.restored_at is not None:
                what += " (other value taken)"
            cells = (
                f"{c.created_at.astimezone():%Y-%m-%d %H:%M}",
                record,
                c.field or "—",
                what,
                _show(c.this_device_value),
                _show(c.elsewhere_value),
                _show(c.value),
            )
            for j, value in enumerate(cells):
                item = QTableWidgetItem(value)
                item.setToolTip(value)
                item.setData(Qt.ItemDataRole.UserRole, c.id)
                self.table.setItem(i, j, item)
        if rows and not self._sized:
            # Once: later reloads (after every sync) keep what the user has resized.
            self._sized = True
            self.table.resizeColumnsToContents()
            header = self.table.horizontalHeader()
            for j in range(len(COLUMNS) - 1):  # the last one stretches
                header.resizeSection(j, min(header.sectionSize(j) + 12, MAX_COLUMN_WIDTH))
        self.message.setText("" if rows else "No conflicts: every edit went through as made.")
        self.on_table_selection_changed()
        self.load_finished.emit(len(rows))

    def selected(self) -> ConflictRow | None:
        """The selected conflict, if any."""
        indexes = self.table.selectionModel().selectedRows()
        if not indexes:
            return None
        return self.rows[indexes[0].row()]

    def on_table_selection_changed(self) -> None:
        row = self.selected()
        self.take_button.setEnabled(row is not None and row.conflict.can_take_other)

    def on_take_button_clicked(self) -> None:
        row = self.selected()
        if row is None or not row.conflict.can_take_other:
            return
        store, conflict_id = self.context.store, row.conflict.id
        self.take_button.setEnabled(False)
        self.context.runner.submit(
            lambda: take_other(store, conflict_id),
            on_done=self.on_value_taken,
            on_error=self.on_take_failed,
        )

    def on_value_taken(self, conflict: ConflictRecord) -> None:
        self.message.setText(f"{conflict.field} set back to {_show(conflict.other_value)}")
        self.value_taken.emit(conflict.entity, conflict.record_id)
        # Lists showing the record refresh; the sync controller schedules a push.
        self.context.notify_changed(conflict.entity)

    def on_take_failed(self, error: BaseException) -> None:
        self.message.setText(str(error))
        self.on_table_selection_changed()

    def on_controller_sync_finished(self, _report: object) -> None:
        self._reload.start()

    def on_context_data_changed(self, _entity: str) -> None:
        # After a sync or an edit the log may have grown (or an entry was taken back).
        self._reload.start()

    def on_reload_timeout(self) -> None:
        if self.isVisible():
            self.refresh()
        else:
            self._stale = True  # nobody is looking: read the log when shown again

    def showEvent(self, event: QShowEvent) -> None:
        """Catch up with what changed while hidden."""
        super().showEvent(event)
        if self._stale:
            self._stale = False
            self.refresh()
