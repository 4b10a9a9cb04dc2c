"""Week and day views: an all-day band over a scrolling grid of hours, one column per day.

Gestures (grid): drag on empty space creates that range; double-click creates half an hour;
drag a block to move it (to another day too); drag its bottom edge to resize; double-click or
Enter opens it; Space marks the selected one done. Band: the same with days instead of times.
The widgets only paint and report intents through signals; :class:`CalendarView` does the work.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from PySide6.QtCore import QPoint, QRect, QRectF, QSize, Qt, Signal
from PySide6.QtGui import (
    QColor,
    QContextMenuEvent,
    QFont,
    QKeyEvent,
    QMouseEvent,
    QPainter,
    QPaintEvent,
    QPen,
)
from PySide6.QtWidgets import QApplication, QMenu, QScrollArea, QVBoxLayout, QWidget

from crm_desktop.models.enums import ActivityStatus
from crm_desktop.services.activities import ActivityRow
from crm_desktop.ui.calendar.common import (
    GRID_LINE,
    NOW_LINE,
    SNAP,
    TODAY_TINT,
    block_colour,
    day_span,
    local_span,
    pack_lanes,
    short_time,
    snap_down,
    snap_nearest,
    text_colour,
    to_utc,
)

GUTTER = 56
RESIZE_HANDLE = 6


@dataclass
class _Drag:
    mode: str  # "create", "move", "resize"
    origin: QPoint
    item: ActivityRow | None = None
    anchor: datetime | None = None  # create: where the press was; move: press minus item start
    offset: timedelta = timedelta(0)
    current: datetime | None = None
    day_offset: int = 0
    active: bool = False


class _ItemSurface(QWidget):
    """What the grid and the band share: days, items, selection, owner colours and intents.

    Signals:
        item_activated(object): an item was double-clicked or Enter pressed (its UUID).
        complete_requested(object): Space or the menu asked to mark the item done.
        delete_requested(object): Delete or the menu asked to delete the item.
        selection_changed(object): the selected item's UUID, or None.
    """

    item_activated = Signal(object)
    complete_requested = Signal(object)
    delete_requested = Signal(object)
    selection_changed = Signal(object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.days: list[date] = []
        self.items: list[ActivityRow] = []
        self.zone = ZoneInfo("UTC")
        self.today: date | None = None
        self.now: datetime | None = None
        self.owner_colours: dict[uuid.UUID, str] = {}
        self.selected: uuid.UUID | None = None
        self._drag: _Drag | None = None
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setMouseTracking(True)

    def set_items(self, days: list[date], items: list[ActivityRow], zone: ZoneInfo) -> None:
        """Show ``items`` over ``days`` in ``zone``."""
        self.days, self.items, self.zone = days, items, zone
        if self.selected not in {i.id for i in items}:
            self.selected = None
        self.updateGeometry()
        self.update()

    def column_width(self) -> float:
        """Width of one day column in pixels."""
        return (self.width() - GUTTER) / max(1, len(self.days))

    def column_x(self, index: int) -> float:
        """Left edge of day column ``index``."""
        return GUTTER + index * self.column_width()

    def day_at(self, x: float) -> int:
        """Index of the day column under ``x`` (clamped)."""
        index = int((x - GUTTER) // max(1.0, self.column_width()))
        return max(0, min(len(self.days) - 1, index))

    def _select(self, ident: uuid.UUID | None) -> None:
        if ident != self.selected:
            self.selected = ident
            self.selection_changed.emit(ident)
            self.update()

    def item_by_id(self, ident: uuid.UUID | None) -> ActivityRow | None:
        """The shown item with this id."""
        return next((i for i in self.items if i.id == ident), None)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        key = event.key()
        if self.selected is not None:
            if key == Qt.Key.Key_Space:
                self.complete_requested.emit(self.selected)
                return
            if key in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
                self.item_activated.emit(self.selected)
                return
            if key == Qt.Key.Key_Delete:
                self.delete_requested.emit(self.selected)
                return
        if key == Qt.Key.Key_Escape and self._drag is not None:
            self._drag = None
            self.update()
            return
        super().keyPressEvent(event)

    def _context_menu_for(self, item: ActivityRow, global_pos: QPoint) -> None:
        menu = QMenu(self)
        menu.addAction("Open…", lambda: self.item_activated.emit(item.id))
        if item.status == ActivityStatus.PLANNED:
            menu.addAction("Mark done", lambda: self.complete_requested.emit(item.id))
        menu.addAction("Delete", lambda: self.delete_requested.emit(item.id))
        menu.popup(global_pos)

    def _paint_block(
        self, painter: QPainter, rect: QRectF, item: ActivityRow, lines: list[str]
    ) -> None:
        fill = block_colour(item, self.owner_colours)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(fill)
        painter.drawRoundedRect(rect.adjusted(1, 1, -1, -1), 3, 3)
        if self.owner_colours and len(self.owner_colours) > 1:
            # Overlay: fill shows whose it is, a stripe keeps the kind visible.
            painter.setBrush(block_colour(item))
            painter.drawRect(QRectF(rect.left() + 1, rect.top() + 1, 4, rect.height() - 2))
        if item.id == self.selected:
            painter.setPen(QPen(QColor("#000000"), 2))
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawRoundedRect(rect.adjusted(1, 1, -1, -1), 3, 3)
        font = QFont(self.font())
        font.setPointSizeF(max(7.0, font.pointSizeF() - 1))
        font.setStrikeOut(item.status == ActivityStatus.CANCELLED)
        painter.setFont(font)
        painter.setPen(text_colour(fill))
        text_rect = rect.adjusted(7, 2, -3, -2)
        painter.save()
        painter.setClipRect(text_rect)
        line_height = painter.fontMetrics().height()
        y = text_rect.top()
        for index, line in enumerate(lines):
            if y + line_height > text_rect.bottom() + 2 and index > 0:
                break
            elided = painter.fontMetrics().elidedText(
                line, Qt.TextElideMode.ElideRight, int(text_rect.width())
            )
            painter.drawText(QRectF(text_rect.left(), y, text_rect.width(), line_height), elided)
            y += line_height
        painter.restore()


def _title(item: ActivityRow) -> str:
    mark = "✓ " if item.status == ActivityStatus.DONE else ""
    return f"{mark}{item.subject}"


class TimeGrid(_ItemSurface):
    """The hours of the shown days, with timed activities as blocks.

    Signals (besides :class:`_ItemSurface`'s):
        range_selected(object, object): a new entry from start to end (aware datetimes).
        move_requested(object, object): move item UUID to a new start (aware datetime).
        resize_requested(object, object): give item UUID a new end (aware datetime).
    """

    range_selected = Signal(object, object)
    move_requested = Signal(object, object)
    resize_requested = Signal(object, object)

    def __init__(self, parent: QWidget | None = None, hour_height: int = 44) -> None:
        super().__init__(parent)
        self.hour_height = hour_height

    def sizeHint(self) -> QSize:
        return QSize(GUTTER + 7 * 120, 24 * self.hour_height + 1)

    def minimumSizeHint(self) -> QSize:
        return QSize(GUTTER + 60, 24 * self.hour_height + 1)

    # ---- geometry (public so tests and the band can aim like a user would)
    def y_for(self, value: time | datetime) -> float:
        """Vertical position of a wall-clock time."""
        t = value.time() if isinstance(value, datetime) else value
        return (t.hour + t.minute / 60 + t.second / 3600) * self.hour_height

    def point_for(self, day: date, value: time, *, x_fraction: float = 0.5) -> QPoint:
        """The pixel of ``value`` on ``day``'s column (``x_fraction`` across the column)."""
        index = self.days.index(day)
        x = self.column_x(index) + self.column_width() * x_fraction
        return QPoint(int(x), round(self.y_for(value)) + 1)

    def time_at(self, pos: QPoint) -> datetime:
        """The naive local time under ``pos`` (not snapped)."""
        day = self.days[self.day_at(pos.x())]
        hours = max(0.0, min(24.0, pos.y() / self.hour_height))
        return datetime.combine(day, time(0)) + timedelta(hours=hours)

    def block_rects(self) -> dict[uuid.UUID, QRectF]:
        """Where each timed item is drawn (for hit tests and tests)."""
        rects: dict[uuid.UUID, QRectF] = {}
        for index, day in enumerate(self.days):
            spans = []
            for item in self.items:
                if item.all_day:
                    continue
                local = local_span(item, self.zone)
                if local is None:
                    continue
                start, end = local
                day_start = datetime.combine(day, time(0))
                day_end = day_start + timedelta(days=1)
                if (end <= day_start or start >= day_end) and not (start == end == day_start):
                    continue
                spans.append((item.id, max(start, day_start), min(max(end, start + SNAP), day_end)))
            line = timedelta(hours=(self.fontMetrics().height() + 2) / self.hour_height)
            lanes = pack_lanes(spans, max(SNAP, line))
            width = self.column_width()
            for ident, start, end in spans:
                lane = lanes[ident]
                lane_width = (width - 4) / lane.columns
                top = self.y_for(start)
                bottom = self.y_for(end) if end.date() == day else 24 * self.hour_height
                rect = QRectF(
                    self.column_x(index) + 1 + lane.column * lane_width,
                    top,
                    lane_width,
                    # Short entries still get one readable line.
                    max(bottom - top, self.hour_height / 4, self.fontMetrics().height() + 2),
                )
                # A block crossing midnight is drawn in each day; hit-testing uses the first.
                rects.setdefault(ident, rect)
        return rects

    def _hit(self, pos: QPoint) -> tuple[ActivityRow | None, bool]:
        for ident, rect in reversed(list(self.block_rects().items())):
            if rect.contains(pos.toPointF()):
                item = self.item_by_id(ident)
                near_bottom = (
                    rect.bottom() - pos.y() <= RESIZE_HANDLE
                    and item is not None
                    and item.start_at is not None
                )
                return item, near_bottom
        return None, False

    # ---- painting
    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.fillRect(self.rect(), QColor("#FFFFFF"))
        width = self.column_width()
        for index, day in enumerate(self.days):
            if day == self.today:
                painter.fillRect(
                    QRectF(self.column_x(index), 0, width, self.height()), QColor(TODAY_TINT)
                )
        painter.setPen(QColor(GRID_LINE))
        for hour in range(25):
            y = hour * self.hour_height
            painter.drawLine(GUTTER, y, self.width(), y)
        painter.setPen(QPen(QColor("#F0F0F0"), 1, Qt.PenStyle.DotLine))
        for hour in range(24):
            y = int(hour * self.hour_height + self.hour_height / 2)
            painter.drawLine(GUTTER, y, self.width(), y)
        painter.setPen(QColor(GRID_LINE))
        for index in range(len(self.days) + 1):
            x = int(self.column_x(index))
            painter.drawLine(x, 0, x, self.height())
        painter.setPen(QColor("#757575"))
        for hour in range(1, 24):
            painter.drawText(
                QRect(0, hour * self.hour_height - 8, GUTTER - 6, 16),
                int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter),
                f"{hour:02d}:00",
            )
        for ident, rect in self.block_rects().items():
            item = self.item_by_id(ident)
            if item is None:
                continue
            local = local_span(item, self.zone)
            assert local is not None
            when = (
                short_time(local[0])
                if item.end_at is None
                else f"{short_time(local[0])}–{short_time(local[1])}"
            )
            # Tall blocks give the subject its own line; short ones need everything on one.
            tall = rect.height() >= 2 * self.fontMetrics().height() + 4
            lines = [when, _title(item)] if tall else [f"{when} {_title(item)}"]
            if item.related_label:
                lines.append(item.related_label)
            if item.owner_name and len(self.owner_colours) > 1:
                lines.append(item.owner_name)
            if item.location:
                lines.append(item.location)
            self._paint_block(painter, rect, item, lines)
        if self.now is not None:
            local_now = self.now.astimezone(self.zone).replace(tzinfo=None)
            if local_now.date() in self.days:
                index = self.days.index(local_now.date())
                now_y = self.y_for(local_now)
                painter.setPen(QPen(QColor(NOW_LINE), 2))
                painter.drawLine(
                    int(self.column_x(index)),
                    int(now_y),
                    int(self.column_x(index) + width),
                    int(now_y),
                )
                painter.setBrush(QColor(NOW_LINE))
                painter.drawEllipse(QPoint(int(self.column_x(index)), int(now_y)), 4, 4)
        self._paint_drag(painter)
        painter.end()

    def _paint_drag(self, painter: QPainter) -> None:
        preview = self._preview()
        if preview is None:
            return
        day_index, start, end = preview
        rect = QRectF(self.column_x(day_index) + 2, self.y_for(start), self.column_width() - 4, 0)
        rect.setBottom(self.y_for(end) if end.date() == start.date() else 24 * self.hour_height)
        painter.setPen(QPen(QColor("#1A237E"), 1, Qt.PenStyle.DashLine))
        painter.setBrush(QColor(26, 35, 126, 60))
        painter.drawRoundedRect(rect, 3, 3)
        painter.setPen(QColor("#1A237E"))
        painter.drawText(rect.adjusted(4, 2, -2, -2), f"{short_time(start)}–{short_time(end)}")

    def _preview(self) -> tuple[int, datetime, datetime] | None:
        drag = self._drag
        if drag is None or not drag.active or drag.current is None:
            return None
        if drag.mode == "create":
            assert drag.anchor is not None
            a, b = sorted((snap_down(drag.anchor), snap_nearest(drag.current)))
            if b <= a:
                b = a + SNAP
            return self.days.index(a.date()) if a.date() in self.days else 0, a, b
        item = drag.item
        assert item is not None
        local = local_span(item, self.zone)
        assert local is not None
        if drag.mode == "move":
            start = snap_nearest(drag.current - drag.offset)
            end = start + (local[1] - local[0])
        else:
            start = local[0]
            end = max(snap_nearest(drag.current), start + SNAP)
        index = (
            self.days.index(start.date())
            if start.date() in self.days
            else self.day_at(drag.origin.x())
        )
        return index, start, end

    # ---- mouse
    def mousePressEvent(self, event: QMouseEvent) -> None:
        if event.button() != Qt.MouseButton.LeftButton or not self.days:
            super().mousePressEvent(event)
            return
        self.setFocus(Qt.FocusReason.MouseFocusReason)
        pos = event.position().toPoint()
        item, near_bottom = self._hit(pos)
        pressed_at = self.time_at(pos)
        if item is None:
            self._select(None)
            self._drag = _Drag("create", pos, anchor=pressed_at, current=pressed_at)
        else:
            self._select(item.id)
            local = local_span(item, self.zone)
            assert local is not None
            mode = "resize" if near_bottom else "move"
            self._drag = _Drag(
                mode, pos, item=item, offset=pressed_at - local[0], current=pressed_at
            )
        event.accept()

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        pos = event.position().toPoint()
        drag = self._drag
        if drag is None:
            item, near_bottom = self._hit(pos)
            self.setCursor(
                Qt.CursorShape.SizeVerCursor
                if near_bottom
                else (Qt.CursorShape.OpenHandCursor if item else Qt.CursorShape.ArrowCursor)
            )
            return
        if (
            not drag.active
            and (pos - drag.origin).manhattanLength() >= QApplication.startDragDistance()
        ):
            drag.active = True
        drag.current = self.time_at(pos)
        if drag.mode == "create" and drag.anchor is not None:
            # Creating stays within the day pressed on, as in every desktop calendar.
            drag.current = datetime.combine(drag.anchor.date(), time(0)) + (
                drag.current - datetime.combine(drag.current.date(), time(0))
            )
        self.update()

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        drag = self._drag
        self._drag = None
        self.update()
        if drag is None or event.button() != Qt.MouseButton.LeftButton:
            return
        self._track_release(drag, event.position().toPoint())
        preview = self._preview_of(drag)
        if preview is None:
            return
        _, start, end = preview
        if drag.mode == "create":
            self.range_selected.emit(to_utc(start, self.zone), to_utc(end, self.zone))
            return
        assert drag.item is not None
        local = local_span(drag.item, self.zone)
        assert local is not None
        if drag.mode == "move" and start != local[0]:
            self.move_requested.emit(drag.item.id, to_utc(start, self.zone))
        elif drag.mode == "resize" and end != local[1]:
            self.resize_requested.emit(drag.item.id, to_utc(end, self.zone))

    def _track_release(self, drag: _Drag, pos: QPoint) -> None:
        """Take the release position as the last move (a fast drag may skip move events)."""
        if (
            not drag.active
            and (pos - drag.origin).manhattanLength() >= QApplication.startDragDistance()
        ):
            drag.active = True
        current = self.time_at(pos)
        if drag.mode == "create" and drag.anchor is not None:
            current = datetime.combine(drag.anchor.date(), time(0)) + (
                current - datetime.combine(current.date(), time(0))
            )
        drag.current = current

    def _preview_of(self, drag: _Drag) -> tuple[int, datetime, datetime] | None:
        saved, self._drag = self._drag, drag
        try:
            return self._preview()
        finally:
            self._drag = saved

    def mouseDoubleClickEvent(self, event: QMouseEvent) -> None:
        pos = event.position().toPoint()
        item, _ = self._hit(pos)
        self._drag = None
        if item is not None:
            self.item_activated.emit(item.id)
            return
        start = snap_down(self.time_at(pos), timedelta(minutes=30))
        self.range_selected.emit(
            to_utc(start, self.zone), to_utc(start + timedelta(minutes=30), self.zone)
        )

    def contextMenuEvent(self, event: QContextMenuEvent) -> None:
        item, _ = self._hit(event.pos())
        if item is not None:
            self._select(item.id)
            self._context_menu_for(item, event.globalPos())


class AllDayBand(_ItemSurface):
    """Day headers and all-day entries of the shown days (multi-day entries span columns).

    Signals (besides :class:`_ItemSurface`'s):
        days_selected(object, object): a new all-day entry, first day and exclusive end day.
        move_days_requested(object, int): shift item UUID by whole days.
        resize_days_requested(object, object): give item UUID a new exclusive end day.
    """

    days_selected = Signal(object, object)
    move_days_requested = Signal(object, int)
    resize_days_requested = Signal(object, object)

    HEADER = 34
    ROW = 20

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.right_margin = 0

    def column_width(self) -> float:
        return (self.width() - GUTTER - self.right_margin) / max(1, len(self.days))

    def _rows(self) -> list[tuple[ActivityRow, int, int, int]]:
        """(item, first column, last column, row) for each all-day item in view."""
        placed: list[tuple[ActivityRow, int, int, int]] = []
        row_ends: list[int] = []
        if not self.days:
            return placed
        first_day, last_day = self.days[0], self.days[-1]
        spans = []
        for item in self.items:
            span = day_span(item)
            if span is None:
                continue
            start, end = span
            if end <= first_day or start > last_day:
                continue
            c0 = (max(start, first_day) - first_day).days
            c1 = (min(end - timedelta(days=1), last_day) - first_day).days
            spans.append((item, c0, c1))
        spans.sort(key=lambda s: (s[1], -(s[2] - s[1])))
        for item, c0, c1 in spans:
            for row, last_col in enumerate(row_ends):
                if last_col < c0:
                    row_ends[row] = c1
                    break
            else:
                row = len(row_ends)
                row_ends.append(c1)
            placed.append((item, c0, c1, row))
        return placed

    def row_count(self) -> int:
        """All-day rows needed (at least one, so there is room to drag a new one)."""
        return max([r for *_, r in self._rows()], default=-1) + 2

    def sizeHint(self) -> QSize:
        return QSize(GUTTER + 7 * 120, self.HEADER + self.row_count() * self.ROW + 4)

    def minimumSizeHint(self) -> QSize:
        return QSize(GUTTER + 60, self.sizeHint().height())

    def set_items(self, days: list[date], items: list[ActivityRow], zone: ZoneInfo) -> None:
        super().set_items(days, items, zone)
        self.setFixedHeight(self.sizeHint().height())

    def item_rects(self) -> dict[uuid.UUID, QRectF]:
        """Where each all-day item is drawn."""
        width = self.column_width()
        return {
            item.id: QRectF(
                self.column_x(c0) + 2,
                self.HEADER + row * self.ROW + 1,
                (c1 - c0 + 1) * width - 4,
                self.ROW - 2,
            )
            for item, c0, c1, row in self._rows()
        }

    def point_for(self, day: date, row: int | None = None) -> QPoint:
        """A pixel in ``day``'s column of the band (below all entries unless ``row`` is given)."""
        index = self.days.index(day)
        r = self.row_count() - 1 if row is None else row
        return QPoint(
            int(self.column_x(index) + self.column_width() / 2),
            int(self.HEADER + r * self.ROW + self.ROW / 2),
        )

    def _hit(self, pos: QPoint) -> tuple[ActivityRow | None, bool]:
        for ident, rect in self.item_rects().items():
            if rect.contains(pos.toPointF()):
                return self.item_by_id(ident), rect.right() - pos.x() <= RESIZE_HANDLE
        return None, False

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.fillRect(self.rect(), QColor("#FAFAFA"))
        width = self.column_width()
        bold = QFont(self.font())
        bold.setBold(True)
        for index, day in enumerate(self.days):
            x = self.column_x(index)
            header = QRectF(x, 0, width, self.HEADER)
            if day == self.today:
                painter.fillRect(QRectF(x, 0, width, self.height()), QColor(TODAY_TINT))
                painter.setPen(Qt.PenStyle.NoPen)
                painter.setBrush(QColor(NOW_LINE))
                painter.drawRoundedRect(header.adjusted(4, 4, -4, -4), 6, 6)
                painter.setPen(QColor("#FFFFFF"))
                painter.setFont(bold)
            else:
                painter.setPen(QColor("#424242") if day.weekday() < 5 else QColor("#9E9E9E"))
                painter.setFont(self.font())
            label = (
                f"{day.strftime('%a')} {day.day}"
                if len(self.days) > 1
                else day.strftime("%A %d %B %Y")
            )
            painter.drawText(header, int(Qt.AlignmentFlag.AlignCenter), label)
        painter.setFont(self.font())
        painter.setPen(QColor(GRID_LINE))
        painter.drawLine(0, self.HEADER, self.width(), self.HEADER)
        painter.drawLine(0, self.height() - 1, self.width(), self.height() - 1)
        for index in range(len(self.days) + 1):
            x = int(self.column_x(index))
            painter.drawLine(x, 0, x, self.height())
        painter.setPen(QColor("#757575"))
        painter.drawText(
            QRect(0, self.HEADER, GUTTER - 6, self.ROW),
            int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter),
            "all day",
        )
        rects = self.item_rects()
        for item in self.items:
            rect = rects.get(item.id)
            if rect is not None:
                self._paint_block(painter, rect, item, [_title(item)])
        drag = self._drag
        if drag is not None and drag.active:
            c0, c1 = self._drag_columns(drag)
            rect = QRectF(
                self.column_x(c0) + 2,
                self.HEADER + 1,
                (c1 - c0 + 1) * width - 4,
                self.height() - self.HEADER - 3,
            )
            painter.setPen(QPen(QColor("#1A237E"), 1, Qt.PenStyle.DashLine))
            painter.setBrush(QColor(26, 35, 126, 40))
            painter.drawRect(rect)
        painter.end()

    def _drag_columns(self, drag: _Drag) -> tuple[int, int]:
        here = self.day_at(drag.origin.x() + drag.day_offset * self.column_width())
        origin = self.day_at(drag.origin.x())
        if drag.mode == "create":
            return min(origin, here), max(origin, here)
        assert drag.item is not None
        span = day_span(drag.item)
        assert span is not None
        c0 = (span[0] - self.days[0]).days
        c1 = (span[1] - self.days[0]).days - 1
        if drag.mode == "move":
            return max(0, c0 + here - origin), min(len(self.days) - 1, c1 + here - origin)
        return max(0, c0), max(c0, here)

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if event.button() != Qt.MouseButton.LeftButton or not self.days:
            return
        self.setFocus(Qt.FocusReason.MouseFocusReason)
        pos = event.position().toPoint()
        if pos.y() < self.HEADER:
            return
        item, near_edge = self._hit(pos)
        self._select(item.id if item else None)
        mode = "create" if item is None else ("resize" if near_edge else "move")
        self._drag = _Drag(mode, pos, item=item)

    def _update_drag(self, pos: QPoint) -> None:
        drag = self._drag
        if drag is None:
            return
        if (
            not drag.active
            and (pos - drag.origin).manhattanLength() >= QApplication.startDragDistance()
        ):
            drag.active = True
        drag.day_offset = self.day_at(pos.x()) - self.day_at(drag.origin.x())
        self.update()

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        self._update_drag(event.position().toPoint())

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        self._update_drag(event.position().toPoint())
        drag, self._drag = self._drag, None
        self.update()
        if drag is None or not drag.active:
            return
        c0, c1 = self._drag_columns(drag)
        if drag.mode == "create":
            self.days_selected.emit(self.days[c0], self.days[c1] + timedelta(days=1))
        elif drag.item is not None and drag.day_offset:
            if drag.mode == "move":
                self.move_days_requested.emit(drag.item.id, drag.day_offset)
            else:
                self.resize_days_requested.emit(drag.item.id, self.days[c1] + timedelta(days=1))

    def mouseDoubleClickEvent(self, event: QMouseEvent) -> None:
        pos = event.position().toPoint()
        self._drag = None
        item, _ = self._hit(pos)
        if item is not None:
            self.item_activated.emit(item.id)
        elif pos.y() >= self.HEADER and self.days:
            day = self.days[self.day_at(pos.x())]
            self.days_selected.emit(day, day + timedelta(days=1))

    def contextMenuEvent(self, event: QContextMenuEvent) -> None:
        item, _ = self._hit(event.pos())
        if item is not None:
            self._select(item.id)
            self._context_menu_for(item, event.globalPos())


class TimeGridView(QWidget):
    """A week (7 days) or day (1 day) view: the all-day band above a scrolling hour grid."""

    def __init__(self, days: int, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.day_count = days
        self.band = AllDayBand(self)
        self.grid = TimeGrid(self)
        self.scroll_area = QScrollArea(self)
        self.scroll_area.setWidget(self.grid)
        self.scroll_area.setWidgetResizable(True)
        self.scroll_area.setFrameShape(QScrollArea.Shape.NoFrame)
        self.scroll_area.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOn)
        self.scroll_area.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        # Keep band columns over grid columns: the grid is narrower by its scrollbar.
        self.band.right_margin = self.scroll_area.verticalScrollBar().sizeHint().width()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self.band)
        layout.addWidget(self.scroll_area, 1)

    def set_items(self, days: list[date], items: list[ActivityRow], zone: ZoneInfo) -> None:
        """Show ``items`` on ``days``."""
        self.band.set_items(days, [i for i in items if i.all_day], zone)
        self.grid.set_items(days, [i for i in items if not i.all_day], zone)

    def scroll_to_hour(self, hour: int) -> None:
        """Scroll so ``hour`` is at the top (the working day, not midnight, on open)."""
        # A little above the hour, so its label is not cut in half.
        self.scroll_area.verticalScrollBar().setValue(int((hour - 0.25) * self.grid.hour_height))
