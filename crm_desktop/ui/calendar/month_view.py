"""Month view: six weeks of day cells, each listing its entries in time order.

Gestures: drag an entry to another day to move it by whole days (timed ones keep their time of
day); drag the right edge of an all-day entry to make it end on another day; drag across empty
days, or double-click one, to create an all-day entry; double-click or Enter opens; Space marks
the selected entry done.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from PySide6.QtCore import QPoint, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QContextMenuEvent, QFont, QMouseEvent, QPainter, QPaintEvent
from PySide6.QtWidgets import QApplication, QWidget

from crm_desktop.services.activities import ActivityRow
from crm_desktop.ui.calendar.common import (
    GRID_LINE,
    NOW_LINE,
    TODAY_TINT,
    day_span,
    local_span,
    row_days,
    short_time,
)
from crm_desktop.ui.calendar.time_grid import RESIZE_HANDLE, _Drag, _ItemSurface, _title

WEEKS = 6
HEADER = 24


class MonthView(_ItemSurface):
    """Six weeks starting on the Monday on or before the 1st of the month.

    Signals (besides the shared item signals):
        days_selected(object, object): a new all-day entry, first day and exclusive end day.
        move_days_requested(object, int): shift item UUID by whole days.
        resize_days_requested(object, object): give all-day item UUID a new exclusive end day.
    """

    days_selected = Signal(object, object)
    move_days_requested = Signal(object, int)
    resize_days_requested = Signal(object, object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.month: int = 1

    def sizeHint(self) -> QSize:
        return QSize(900, 640)

    def set_month(
        self, days: list[date], month: int, items: list[ActivityRow], zone: ZoneInfo
    ) -> None:
        """Show the 42 ``days`` (``month`` is the one in focus) with ``items``."""
        self.month = month
        self.set_items(days, items, zone)

    # ---- geometry
    def cell_rect(self, day: date) -> QRectF:
        """The cell of ``day``."""
        index = self.days.index(day)
        width = self.width() / 7
        height = (self.height() - HEADER) / WEEKS
        return QRectF((index % 7) * width, HEADER + (index // 7) * height, width, height)

    def day_at_pos(self, pos: QPoint) -> date | None:
        """The day under ``pos`` (None on the weekday header)."""
        if not self.days or pos.y() < HEADER:
            return None
        col = min(6, max(0, int(pos.x() // (self.width() / 7))))
        row = min(WEEKS - 1, max(0, int((pos.y() - HEADER) // ((self.height() - HEADER) / WEEKS))))
        return self.days[row * 7 + col]

    def _per_day(self) -> dict[date, list[ActivityRow]]:
        shown = set(self.days)
        per_day: dict[date, list[ActivityRow]] = {d: [] for d in self.days}
        for item in self.items:
            for day in row_days(item, self.zone):
                if day in shown:
                    per_day[day].append(item)
        for items in per_day.values():
            items.sort(key=lambda i: (not i.all_day, local_span(i, self.zone) or (), i.subject))
        return per_day

    @property
    def line_height(self) -> int:
        """One entry line: the font's height (CJK fonts are taller) plus a little air."""
        return self.fontMetrics().height() + 3

    def chip_rects(self) -> dict[tuple[uuid.UUID, date], QRectF]:
        """Where each entry's line is drawn in each day cell it touches."""
        rects: dict[tuple[uuid.UUID, date], QRectF] = {}
        for day, items in self._per_day().items():
            cell = self.cell_rect(day)
            capacity = max(1, int((cell.height() - 20) // self.line_height))
            for index, item in enumerate(items[:capacity]):
                rects[(item.id, day)] = QRectF(
                    cell.left() + 2,
                    cell.top() + 19 + index * self.line_height,
                    cell.width() - 4,
                    self.line_height - 2,
                )
        return rects

    def point_for(
        self, day: date, item_id: uuid.UUID | None = None, *, right_edge: bool = False
    ) -> QPoint:
        """A pixel in ``day``'s cell: on ``item_id``'s line if given, else in free space."""
        if item_id is not None:
            rect = self.chip_rects()[(item_id, day)]
            x = rect.right() - 2 if right_edge else rect.center().x()
            return QPoint(int(x), int(rect.center().y()))
        cell = self.cell_rect(day)
        return QPoint(int(cell.center().x()), int(cell.bottom() - 4))

    def _hit(self, pos: QPoint) -> tuple[ActivityRow | None, date | None, bool]:
        for (ident, day), rect in self.chip_rects().items():
            if rect.contains(pos.toPointF()):
                item = self.item_by_id(ident)
                span = day_span(item) if item else None
                at_end = span is not None and day == span[1] - timedelta(days=1)
                return item, day, at_end and rect.right() - pos.x() <= RESIZE_HANDLE
        return None, self.day_at_pos(pos), False

    # ---- painting
    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.fillRect(self.rect(), QColor("#FFFFFF"))
        width = self.width() / 7
        painter.setPen(QColor("#616161"))
        for col, name in enumerate(("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")):
            painter.drawText(
                QRectF(col * width, 0, width, HEADER), int(Qt.AlignmentFlag.AlignCenter), name
            )
        bold = QFont(self.font())
        bold.setBold(True)
        per_day = self._per_day()
        rects = self.chip_rects()
        drop_day = self._drop_day()
        for day in self.days:
            cell = self.cell_rect(day)
            if day.month != self.month:
                painter.fillRect(cell, QColor("#F5F5F5"))
            if day == self.today:
                painter.fillRect(cell, QColor(TODAY_TINT))
            if drop_day is not None and day in drop_day:
                painter.fillRect(cell, QColor(26, 35, 126, 40))
            painter.setPen(QColor(GRID_LINE))
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawRect(cell)
            number = QRectF(cell.right() - 30, cell.top() + 1, 26, 17)
            if day == self.today:
                painter.setPen(Qt.PenStyle.NoPen)
                painter.setBrush(QColor(NOW_LINE))
                painter.drawEllipse(number.center(), 9, 8)
                painter.setPen(QColor("#FFFFFF"))
                painter.setFont(bold)
            else:
                painter.setPen(QColor("#212121") if day.month == self.month else QColor("#9E9E9E"))
                painter.setFont(self.font())
            painter.drawText(number, int(Qt.AlignmentFlag.AlignCenter), str(day.day))
            painter.setFont(self.font())
            items = per_day.get(day, [])
            shown = 0
            for item in items:
                rect = rects.get((item.id, day))
                if rect is None:
                    continue
                shown += 1
                local = local_span(item, self.zone)
                prefix = "" if item.all_day or local is None else short_time(local[0]) + " "
                self._paint_block(painter, rect, item, [prefix + _title(item)])
            if shown < len(items):
                painter.setPen(QColor("#616161"))
                painter.drawText(
                    QRectF(cell.left() + 4, cell.top() + 1, 60, 17),
                    int(Qt.AlignmentFlag.AlignLeft),
                    f"+{len(items) - shown} more",
                )
        painter.end()

    def _drop_day(self) -> set[date] | None:
        drag = self._drag
        if drag is None or not drag.active or drag.anchor is None:
            return None
        target = self._target_day
        if target is None:
            return None
        if drag.mode == "create":
            start = drag.anchor.date()
            a, b = sorted((start, target))
            return {a + timedelta(days=i) for i in range((b - a).days + 1)}
        return {target}

    _target_day: date | None = None

    # ---- mouse
    def mousePressEvent(self, event: QMouseEvent) -> None:
        if event.button() != Qt.MouseButton.LeftButton or not self.days:
            return
        self.setFocus(Qt.FocusReason.MouseFocusReason)
        pos = event.position().toPoint()
        item, day, at_edge = self._hit(pos)
        if day is None:
            return
        anchor = datetime.combine(day, time(0))
        self._select(item.id if item else None)
        mode = "create" if item is None else ("resize" if at_edge else "move")
        self._drag = _Drag(mode, pos, item=item, anchor=anchor)
        self._target_day = day

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        drag = self._drag
        if drag is None:
            return
        pos = event.position().toPoint()
        if (
            not drag.active
            and (pos - drag.origin).manhattanLength() >= QApplication.startDragDistance()
        ):
            drag.active = True
        self._target_day = self.day_at_pos(pos) or self._target_day
        self.update()

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        self.mouseMoveEvent(event)
        drag, self._drag = self._drag, None
        target, self._target_day = self._target_day, None
        self.update()
        if drag is None or not drag.active or target is None or drag.anchor is None:
            return
        origin = drag.anchor.date()
        if drag.mode == "create":
            a, b = sorted((origin, target))
            self.days_selected.emit(a, b + timedelta(days=1))
        elif drag.item is not None and target != origin:
            if drag.mode == "move":
                self.move_days_requested.emit(drag.item.id, (target - origin).days)
            else:
                self.resize_days_requested.emit(drag.item.id, target + timedelta(days=1))

    def mouseDoubleClickEvent(self, event: QMouseEvent) -> None:
        pos = event.position().toPoint()
        self._drag = None
        item, day, _ = self._hit(pos)
        if item is not None:
            self.item_activated.emit(item.id)
        elif day is not None:
            self.days_selected.emit(day, day + timedelta(days=1))

    def contextMenuEvent(self, event: QContextMenuEvent) -> None:
        item, _, _ = self._hit(event.pos())
        if item is not None:
            self._select(item.id)
            self._context_menu_for(item, event.globalPos())


def month_days(anchor: date) -> list[date]:
    """The 42 days shown for ``anchor``'s month."""
    first = anchor.replace(day=1)
    start = first - timedelta(days=first.weekday())
    return [start + timedelta(days=i) for i in range(7 * WEEKS)]
