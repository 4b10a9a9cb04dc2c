"""The stage bar: an opportunity's stages as chevrons, the current one highlighted, click to move."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from PySide6.QtCore import QPointF, QRect, QSize, Qt, Signal
from PySide6.QtGui import QColor, QKeyEvent, QMouseEvent, QPainter, QPaintEvent, QPen, QPolygonF
from PySide6.QtWidgets import QSizePolicy, QWidget

from crm_desktop.services.record_views import StageInfo

_DONE = QColor("#c8e6c9")
_CURRENT = QColor("#1a73e8")
_TODO = QColor("#eceff1")
_WON = QColor("#188038")
_LOST = QColor("#c5221f")
_ARROW = 10


class StageBar(QWidget):
    """Clickable chevrons, one per sales stage; Left/Right pick one and Enter moves there.

    Signals:
        stage_clicked(object): the user clicked a stage other than the current one (its UUID).
    """

    stage_clicked = Signal(object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._stages: tuple[StageInfo, ...] = ()
        self._current: uuid.UUID | None = None
        self.setMouseTracking(True)
        self.setMinimumHeight(34)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setAccessibleName("Sales stage")
        self._focus_index = 0

    def set_stages(self, stages: Sequence[StageInfo], current: uuid.UUID | None) -> None:
        """Show ``stages`` in order with ``current`` highlighted."""
        self._stages = tuple(stages)
        self._current = current
        self._focus_index = next((i for i, st in enumerate(self._stages) if st.id == current), 0)
        self._describe()
        self.update()

    def _describe(self) -> None:
        stage = next((st for st in self._stages if st.id == self._current), None)
        self.setAccessibleDescription(f"Current stage: {stage.name}" if stage else "")

    @property
    def current_stage_id(self) -> uuid.UUID | None:
        """The highlighted stage."""
        return self._current

    def sizeHint(self) -> QSize:
        return QSize(max(120 * len(self._stages), 300), 34)

    def stage_rect(self, index: int) -> QRect:
        """The clickable area of stage ``index`` (for hit tests and tests)."""
        count = max(len(self._stages), 1)
        width = self.width() / count
        return QRect(int(index * width), 0, int(width), self.height())

    def _index_at(self, x: float) -> int | None:
        if not self._stages:
            return None
        index = int(x / (self.width() / len(self._stages)))
        return index if 0 <= index < len(self._stages) else None

    def _colours(self, index: int) -> tuple[QColor, QColor]:
        stage = self._stages[index]
        current_index = next((i for i, s in enumerate(self._stages) if s.id == self._current), -1)
        if stage.id == self._current:
            fill = _WON if stage.is_won else _LOST if stage.is_closed else _CURRENT
            return fill, QColor("white")
        current = self._stages[current_index] if current_index >= 0 else None
        if current is not None and not current.is_closed and index < current_index:
            return _DONE, QColor("#1e4620")
        if current is not None and current.is_won and not stage.is_closed:
            return _DONE, QColor("#1e4620")
        return _TODO, QColor("#3c4043")

    def paintEvent(self, _event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        height = self.height()
        for index, stage in enumerate(self._stages):
            rect = self.stage_rect(index)
            fill, ink = self._colours(index)
            left, right = rect.left(), rect.right() - 2
            tip = _ARROW if index < len(self._stages) - 1 else 0
            notch = _ARROW if index > 0 else 0
            shape = QPolygonF(
                [
                    QPointF(left, 0),
                    QPointF(right - tip, 0),
                    QPointF(right, height / 2),
                    QPointF(right - tip, height),
                    QPointF(left, height),
                    QPointF(left + notch, height / 2),
                ]
            )
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(fill)
            painter.drawPolygon(shape)
            painter.setPen(ink)
            font = painter.font()
            font.setBold(stage.id == self._current)
            painter.setFont(font)
            text_rect = rect.adjusted(notch + 4, 0, -tip - 6, 0)
            text = painter.fontMetrics().elidedText(
                stage.name, Qt.TextElideMode.ElideRight, text_rect.width()
            )
            painter.drawText(text_rect, Qt.AlignmentFlag.AlignCenter, text)
            if self.hasFocus() and index == self._focus_index:
                pen = QPen(ink, 1, Qt.PenStyle.DashLine)
                painter.setPen(pen)
                painter.setBrush(Qt.BrushStyle.NoBrush)
                painter.drawRect(text_rect.adjusted(0, 4, 0, -4))
        painter.end()

    def keyPressEvent(self, event: QKeyEvent) -> None:
        key = event.key()
        if key in (Qt.Key.Key_Left, Qt.Key.Key_Right) and self._stages:
            step = -1 if key == Qt.Key.Key_Left else 1
            self._focus_index = max(0, min(len(self._stages) - 1, self._focus_index + step))
            self.update()
            return
        if key in (Qt.Key.Key_Return, Qt.Key.Key_Enter, Qt.Key.Key_Space) and self._stages:
            stage = self._stages[self._focus_index]
            if stage.id != self._current:
                self.stage_clicked.emit(stage.id)
            return
        super().keyPressEvent(event)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        index = self._index_at(event.position().x())
        if index is not None:
            stage = self._stages[index]
            self.setToolTip(f"{stage.name}: {stage.probability}% probability")
        super().mouseMoveEvent(event)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.LeftButton and self.isEnabled():
            index = self._index_at(event.position().x())
            if index is not None and self._stages[index].id != self._current:
                self.stage_clicked.emit(self._stages[index].id)
        super().mouseReleaseEvent(event)
