"""Agenda view: the coming days as a list, grouped by day, for reading and keyboard work.

Drag an entry onto another day's heading (or one of its entries) to move it there by whole
days. Finer moves and resizing are keys on the selected entry:
Alt+Up/Down moves 15 minutes, Ctrl+Left/Right moves a day, Alt+Shift+Up/Down shortens or
lengthens by 15 minutes. Space (or the tick box) marks done, Enter opens, Insert or a
double-click on a day's heading creates an entry that day.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from PySide6.QtCore import QPoint, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QFont, QKeyEvent, QMouseEvent
from PySide6.QtWidgets import QApplication, QHeaderView, QTreeWidget, QTreeWidgetItem, QWidget

from crm_desktop.models.enums import ActivityStatus
from crm_desktop.services.activities import ActivityRow
from crm_desktop.ui.calendar.common import (
    KIND_COLOURS,
    KIND_LABELS,
    NOW_LINE,
    SNAP,
    local_span,
    row_days,
    short_time,
)

ID_ROLE = Qt.ItemDataRole.UserRole
DAY_ROLE = Qt.ItemDataRole.UserRole + 1


class AgendaView(QTreeWidget):
    """Entries of the shown days, one heading per day that has any (and always today).

    Signals:
        item_activated(object): open the entry with this UUID.
        complete_requested(object): mark the entry done.
        delete_requested(object): delete the entry.
        selection_changed(object): the selected entry's UUID, or None.
        days_selected(object, object): create an all-day entry (first day, exclusive end).
        range_selected(object, object): create a timed entry (aware start, end).
        move_requested(object, object): move entry UUID to a new aware start.
        move_days_requested(object, int): shift entry UUID by whole days.
        resize_requested(object, object): give entry UUID a new aware end.
    """

    item_activated = Signal(object)
    complete_requested = Signal(object)
    delete_requested = Signal(object)
    selection_changed = Signal(object)
    days_selected = Signal(object, object)
    range_selected = Signal(object, object)
    move_requested = Signal(object, object)
    move_days_requested = Signal(object, int)
    resize_requested = Signal(object, object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.zone = ZoneInfo("UTC")
        self.today: date | None = None
        self.days: list[date] = []
        self.items: list[ActivityRow] = []
        self.owner_colours: dict[uuid.UUID, str] = {}
        self._filling = False
        self._pressed: tuple[uuid.UUID, date, QPoint] | None = None
        self.setColumnCount(4)
        self.setHeaderLabels(["Time", "Subject", "About", "Owner"])
        self.setRootIsDecorated(False)
        self.setUniformRowHeights(False)  # CJK subjects need taller rows
        self.setAlternatingRowColors(False)
        self.header().setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        self.header().setStretchLastSection(False)
        self.setColumnWidth(0, 130)
        self.setColumnWidth(2, 200)
        self.setColumnWidth(3, 120)
        self.itemChanged.connect(self.on_tree_item_changed)
        self.itemDoubleClicked.connect(self.on_tree_item_double_clicked)
        self.currentItemChanged.connect(self.on_tree_current_item_changed)

    @property
    def selected(self) -> uuid.UUID | None:
        """The selected entry's id."""
        item = self.currentItem()
        value = item.data(0, ID_ROLE) if item is not None else None
        return value if isinstance(value, uuid.UUID) else None

    def set_items(self, days: list[date], items: list[ActivityRow], zone: ZoneInfo) -> None:
        """List ``items`` under their days."""
        keep = self.selected
        self.days, self.items, self.zone = days, items, zone
        self._filling = True
        self.clear()
        per_day: dict[date, list[ActivityRow]] = {}
        shown = set(days)
        for row in items:
            for day in row_days(row, zone):
                if day in shown:
                    per_day.setdefault(day, []).append(row)
        bold = QFont(self.font())
        bold.setBold(True)
        select: QTreeWidgetItem | None = None
        for day in days:
            rows = per_day.get(day, [])
            if not rows and day != self.today:
                continue
            heading = QTreeWidgetItem(self)
            label = day.strftime("%A %d %B %Y")
            heading.setText(0, ("Today — " if day == self.today else "") + label)
            heading.setFirstColumnSpanned(True)
            heading.setFont(0, bold)
            heading.setData(0, DAY_ROLE, day)
            if day == self.today:
                heading.setForeground(0, QBrush(QColor(NOW_LINE)))
            heading.setFlags(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable)
            if not rows:
                empty = QTreeWidgetItem(self)
                empty.setText(1, "Nothing planned")
                empty.setForeground(1, QBrush(QColor("#9E9E9E")))
                empty.setData(0, DAY_ROLE, day)
            rows.sort(key=lambda r: (not r.all_day, local_span(r, zone) or (), r.subject))
            for row in rows:
                entry = QTreeWidgetItem(self)
                entry.setData(0, ID_ROLE, row.id)
                entry.setData(0, DAY_ROLE, day)
                local = local_span(row, zone)
                if row.all_day or local is None:
                    when = "all day"
                elif row.start_at is None:
                    when = f"due {short_time(local[0])}"
                else:
                    when = f"{short_time(local[0])}–{short_time(local[1])}"
                entry.setText(0, when)
                entry.setText(1, f"{KIND_LABELS[row.kind]}: {row.subject}")
                entry.setText(2, row.related_label)
                entry.setText(3, row.owner_name)
                entry.setForeground(1, QBrush(QColor(KIND_COLOURS[row.kind]).darker(130)))
                entry.setFlags(
                    Qt.ItemFlag.ItemIsEnabled
                    | Qt.ItemFlag.ItemIsSelectable
                    | Qt.ItemFlag.ItemIsUserCheckable
                )
                entry.setCheckState(
                    0,
                    Qt.CheckState.Checked
                    if row.status == ActivityStatus.DONE
                    else Qt.CheckState.Unchecked,
                )
                if row.status != ActivityStatus.PLANNED:
                    font = QFont(self.font())
                    font.setStrikeOut(row.status == ActivityStatus.CANCELLED)
                    for col in range(4):
                        entry.setForeground(col, QBrush(QColor("#9E9E9E")))
                        entry.setFont(col, font)
                if row.id == keep and select is None:
                    select = entry
        self._filling = False
        if select is not None:
            self.setCurrentItem(select)

    def item_for(self, ident: uuid.UUID) -> QTreeWidgetItem | None:
        """The first list row of an entry (tests click it)."""
        for index in range(self.topLevelItemCount()):
            item = self.topLevelItem(index)
            if item is not None and item.data(0, ID_ROLE) == ident:
                return item
        return None

    def _row(self, ident: uuid.UUID | None) -> ActivityRow | None:
        return next((r for r in self.items if r.id == ident), None)

    def _current_day(self) -> date | None:
        item = self.currentItem()
        value = item.data(0, DAY_ROLE) if item is not None else None
        return value if isinstance(value, date) else self.today

    # ---- slots
    def on_tree_item_changed(self, item: QTreeWidgetItem, column: int) -> None:
        """The tick box: checking marks the entry done."""
        if self._filling or column != 0:
            return
        ident = item.data(0, ID_ROLE)
        row = self._row(ident)
        if (
            row is not None
            and item.checkState(0) == Qt.CheckState.Checked
            and row.status == ActivityStatus.PLANNED
        ):
            self.complete_requested.emit(ident)

    def on_tree_item_double_clicked(self, item: QTreeWidgetItem, _column: int) -> None:
        """Open an entry, or create one on a day heading."""
        ident = item.data(0, ID_ROLE)
        if isinstance(ident, uuid.UUID):
            self.item_activated.emit(ident)
            return
        day = item.data(0, DAY_ROLE)
        if isinstance(day, date):
            self._create_on(day)

    def on_tree_current_item_changed(
        self, current: QTreeWidgetItem | None, _previous: object
    ) -> None:
        """Report the selection like the grid views do."""
        self.selection_changed.emit(self.selected)

    def _create_on(self, day: date) -> None:
        start = datetime.combine(day, time(9), self.zone)
        self.range_selected.emit(start, start + timedelta(minutes=30))

    # A list can still take a drag: drop an entry on another day's row to move it there.
    def mousePressEvent(self, event: QMouseEvent) -> None:
        super().mousePressEvent(event)
        item = self.itemAt(event.position().toPoint())
        ident = item.data(0, ID_ROLE) if item is not None else None
        day = item.data(0, DAY_ROLE) if item is not None else None
        self._pressed = (
            (ident, day, event.position().toPoint())
            if isinstance(ident, uuid.UUID) and isinstance(day, date)
            else None
        )

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        pressed, self._pressed = self._pressed, None
        super().mouseReleaseEvent(event)
        if pressed is None or event.button() != Qt.MouseButton.LeftButton:
            return
        ident, day, origin = pressed
        pos = event.position().toPoint()
        if (pos - origin).manhattanLength() < QApplication.startDragDistance():
            return
        target = self.itemAt(pos)
        target_day = target.data(0, DAY_ROLE) if target is not None else None
        if isinstance(target_day, date) and target_day != day:
            self.move_days_requested.emit(ident, (target_day - day).days)

    def day_heading(self, day: date) -> QTreeWidgetItem | None:
        """The heading row of ``day`` (a drop target)."""
        for index in range(self.topLevelItemCount()):
            item = self.topLevelItem(index)
            if item is not None and item.data(0, DAY_ROLE) == day and item.data(0, ID_ROLE) is None:
                return item
        return None

    def keyPressEvent(self, event: QKeyEvent) -> None:
        key = event.key()
        mods = event.modifiers()
        alt = bool(mods & Qt.KeyboardModifier.AltModifier)
        shift = bool(mods & Qt.KeyboardModifier.ShiftModifier)
        ctrl = bool(mods & Qt.KeyboardModifier.ControlModifier)
        row = self._row(self.selected)
        if key == Qt.Key.Key_Insert:
            day = self._current_day()
            if day is not None:
                self._create_on(day)
            return
        if row is not None:
            if key == Qt.Key.Key_Space and not mods:
                if row.status == ActivityStatus.PLANNED:
                    self.complete_requested.emit(row.id)
                return
            if key in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
                self.item_activated.emit(row.id)
                return
            if key == Qt.Key.Key_Delete:
                self.delete_requested.emit(row.id)
                return
            if ctrl and key in (Qt.Key.Key_Left, Qt.Key.Key_Right):
                self.move_days_requested.emit(row.id, 1 if key == Qt.Key.Key_Right else -1)
                return
            if alt and key in (Qt.Key.Key_Up, Qt.Key.Key_Down) and not row.all_day:
                step = SNAP if key == Qt.Key.Key_Down else -SNAP
                span = row.span_utc()
                if span is None:
                    return
                if shift:
                    if row.start_at is not None:
                        self.resize_requested.emit(row.id, span[1] + step)
                else:
                    self.move_requested.emit(row.id, span[0] + step)
                return
        super().keyPressEvent(event)
