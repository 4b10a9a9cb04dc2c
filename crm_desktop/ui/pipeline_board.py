"""The pipeline board: opportunities as cards in stage columns; drag a card to change its stage.

Each column is a ``QListView`` over a small list model with a painting delegate, so a column with
thousands of cards costs only the rows on screen (uniform item sizes, no widget per card). The
header shows the count, total and weighted total that :func:`crm_desktop.services.pipeline.pipeline_summary`
computes, never a sum of our own.

A drop asks the pipeline service to move the deal (probability follows the stage unless the user
overrode it); dropping on a lost stage first asks for the reason. The board never changes its
models on a drop: it reloads from the store once the move is stored, so what it shows is always
what was saved.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from typing import Any

from PySide6.QtCore import (
    QAbstractListModel,
    QByteArray,
    QMimeData,
    QModelIndex,
    QPersistentModelIndex,
    QPoint,
    QRect,
    QSize,
    Qt,
    QTimer,
    Signal,
)
from PySide6.QtGui import QAction, QColor, QFont, QPainter, QPalette, QPen, QShowEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QFrame,
    QHBoxLayout,
    QLabel,
    QListView,
    QMenu,
    QScrollArea,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QVBoxLayout,
    QWidget,
)

from crm_desktop.services import pipeline
from crm_desktop.services import record_views as rv
from crm_desktop.ui.context import AppContext
from crm_desktop.ui.records.dialogs import CloseLostDialog
from crm_desktop.ui.widgets.forms import Banner, money

MIME_TYPE = "application/x-fieldcrm-opportunity-ids"
CARD_ROLE = Qt.ItemDataRole.UserRole
OVERDUE_ROLE = Qt.ItemDataRole.UserRole + 1
PERIODS = (
    ("this_quarter", "Closing this quarter"),
    ("next_quarter", "Closing next quarter"),
    ("this_year", "Closing this year"),
    ("all", "Any close date"),
)
COLUMN_WIDTH = 250
MAX_CURRENCY_LINES = 3
CARD_HEIGHT = 74
RELOAD_DELAY_MS = 150
ModelIndex = QModelIndex | QPersistentModelIndex


class CardModel(QAbstractListModel):
    """The cards of one stage column; drags carry opportunity ids as :data:`MIME_TYPE`.

    Signals:
        cards_dropped(list, object): opportunity ids were dropped here: their UUIDs and this
            column's stage UUID.
    """

    cards_dropped = Signal(list, object)

    def __init__(self, stage: rv.StageInfo, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.stage = stage
        self.cards: tuple[rv.BoardCard, ...] = ()

    def set_cards(self, cards: Sequence[rv.BoardCard]) -> None:
        """Replace every card (one reset: cheaper than row inserts for a full reload)."""
        self.beginResetModel()
        self.cards = tuple(cards)
        self.endResetModel()

    def rowCount(self, parent: ModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.cards)

    def data(self, index: ModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self.cards):
            return None
        card = self.cards[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return card.name
        if role == CARD_ROLE:
            return card
        if role == OVERDUE_ROLE:
            return (
                not self.stage.is_closed
                and card.close_date is not None
                and card.close_date < date.today()
            )
        if role == Qt.ItemDataRole.ToolTipRole:
            close = card.close_date.isoformat() if card.close_date else "no close date"
            return (
                f"{card.name}\n{card.account}\n{money(card.amount, card.currency)} at "
                f"{card.probability}% = {money(card.weighted, card.currency)}\n"
                f"Close: {close}\nOwner: {card.owner or '—'}"
            )
        if role == Qt.ItemDataRole.AccessibleTextRole:
            return f"{card.name}, {card.account}, {money(card.amount, card.currency)}"
        return None

    def flags(self, index: ModelIndex) -> Qt.ItemFlag:
        base = Qt.ItemFlag.ItemIsDropEnabled
        if not index.isValid():
            return base
        return (
            base
            | Qt.ItemFlag.ItemIsEnabled
            | Qt.ItemFlag.ItemIsSelectable
            | Qt.ItemFlag.ItemIsDragEnabled
        )

    def supportedDragActions(self) -> Qt.DropAction:
        return Qt.DropAction.MoveAction

    def supportedDropActions(self) -> Qt.DropAction:
        return Qt.DropAction.MoveAction

    def mimeTypes(self) -> list[str]:
        return [MIME_TYPE]

    def mimeData(self, indexes: Sequence[QModelIndex]) -> QMimeData:
        mime = QMimeData()
        ids = {str(self.cards[i.row()].id) for i in indexes if i.isValid()}
        mime.setData(MIME_TYPE, QByteArray("\n".join(sorted(ids)).encode()))
        return mime

    def canDropMimeData(
        self, data: QMimeData, action: Qt.DropAction, row: int, column: int, parent: ModelIndex
    ) -> bool:
        return data.hasFormat(MIME_TYPE) and action == Qt.DropAction.MoveAction

    def dropMimeData(
        self, data: QMimeData, action: Qt.DropAction, row: int, column: int, parent: ModelIndex
    ) -> bool:
        if not self.canDropMimeData(data, action, row, column, parent):
            return False
        ids = [uuid.UUID(x) for x in bytes(data.data(MIME_TYPE).data()).decode().split() if x]
        own = {c.id for c in self.cards}
        moving = [i for i in ids if i not in own]
        if moving:
            self.cards_dropped.emit(moving, self.stage.id)
        # Accepted, but rows are not moved here: the board reloads once the store agrees.
        return bool(moving)

    def removeRows(self, row: int, count: int, parent: ModelIndex = QModelIndex()) -> bool:  # noqa: B008
        # The source view asks to remove dragged rows after a move; the reload does that instead.
        return False


class CardDelegate(QStyledItemDelegate):
    """Paints a card: name, account, amount with probability, close date and owner."""

    def sizeHint(self, option: QStyleOptionViewItem, index: ModelIndex) -> QSize:
        return QSize(COLUMN_WIDTH - 24, CARD_HEIGHT)

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: ModelIndex) -> None:
        card = index.data(CARD_ROLE)
        if not isinstance(card, rv.BoardCard):
            return
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        rect = QRect(option.rect).adjusted(4, 3, -4, -3)
        selected = bool(option.state & QStyle.StateFlag.State_Selected)
        painter.setPen(
            QPen(QColor("#1a73e8") if selected else QColor("#dadce0"), 1.5 if selected else 1)
        )
        painter.setBrush(QColor("#e8f0fe") if selected else QColor("white"))
        painter.drawRoundedRect(rect, 5, 5)
        # Only an open deal can be overdue; a closed one's date is simply when it closed.
        overdue = bool(index.data(OVERDUE_ROLE))
        inner = rect.adjusted(8, 5, -8, -5)
        line = inner.height() // 3
        base_font = QFont(option.font)
        bold = QFont(base_font)
        bold.setBold(True)
        painter.setFont(bold)
        metrics_bold = painter.fontMetrics()
        painter.setPen(QColor("#202124"))
        top = QRect(inner.left(), inner.top(), inner.width(), line)
        painter.drawText(
            top,
            Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
            metrics_bold.elidedText(card.name, Qt.TextElideMode.ElideRight, top.width()),
        )
        painter.setFont(base_font)
        metrics = painter.fontMetrics()
        painter.setPen(QColor("#5f6368"))
        middle = QRect(inner.left(), inner.top() + line, inner.width(), line)
        painter.drawText(
            middle,
            Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
            metrics.elidedText(card.account, Qt.TextElideMode.ElideRight, middle.width()),
        )
        bottom = QRect(inner.left(), inner.top() + 2 * line, inner.width(), line)
        painter.setPen(QColor("#202124"))
        amount = f"{money(card.amount, card.currency)} · {card.probability}%"
        painter.drawText(bottom, Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, amount)
        close = card.close_date.strftime("%d %b") if card.close_date else "no date"
        painter.setPen(QColor("#c5221f") if overdue else QColor("#5f6368"))
        painter.drawText(bottom, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter, close)
        painter.restore()


class StageColumn(QFrame):
    """One stage: a header with its figures over a list of cards."""

    def __init__(self, stage: rv.StageInfo, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.stage = stage
        self.setObjectName(f"column_{stage.name}")
        self.setFixedWidth(COLUMN_WIDTH)
        self.setFrameShape(QFrame.Shape.StyledPanel)
        tint = "#e6f4ea" if stage.is_won else "#fce8e6" if stage.is_closed else "#f1f3f4"
        self.setStyleSheet(f"StageColumn {{ background:{tint}; border-radius:6px; }}")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.setSpacing(4)
        self.title = QLabel(f"{stage.name}", self)
        font = self.title.font()
        font.setBold(True)
        self.title.setFont(font)
        self.figures = QLabel(self)
        self.figures.setObjectName("figures")
        self.figures.setStyleSheet("color:#3c4043;")
        layout.addWidget(self.title)
        layout.addWidget(self.figures)
        self.model = CardModel(stage, self)
        self.view = QListView(self)
        self.view.setObjectName(f"cards_{stage.name}")
        self.view.setModel(self.model)
        self.view.setItemDelegate(CardDelegate(self.view))
        self.view.setUniformItemSizes(True)
        self.view.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.view.setDragEnabled(True)
        self.view.setAcceptDrops(True)
        self.view.setDropIndicatorShown(True)
        self.view.setDragDropMode(QAbstractItemView.DragDropMode.DragDrop)
        self.view.setDefaultDropAction(Qt.DropAction.MoveAction)
        self.view.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.view.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.view.setFrameShape(QFrame.Shape.NoFrame)
        palette = self.view.palette()
        palette.setColor(QPalette.ColorRole.Base, QColor(tint))
        self.view.setPalette(palette)
        layout.addWidget(self.view, 1)

    def show_column(self, column: rv.BoardColumn, currency: str) -> None:
        """Show a column's cards, its count, and its total and weighted total per currency."""
        self.model.set_cards(column.cards)
        deals = f"{column.count} deal{'s' if column.count != 1 else ''}"
        totals = column.totals or (pipeline.CurrencyTotal(currency, 0, Decimal(0), Decimal(0)),)
        # Amounts are never added across currencies: one line each, the board's main first.
        lines = [
            f"{money(t.total, t.currency)} · w {money(t.weighted, t.currency)}" for t in totals
        ]
        shown = lines[:MAX_CURRENCY_LINES]
        if len(lines) > MAX_CURRENCY_LINES:
            shown.append(f"+ {len(lines) - MAX_CURRENCY_LINES} more currencies")
        self.title.setText(f"{self.stage.name}  ·  {deals}")
        self.figures.setText("\n".join(shown))
        self.figures.setToolTip(
            "Total and weighted total (w) per currency:\n"
            + "\n".join(
                f"{t.count} in {t.currency}: {money(t.total, t.currency)}, "
                f"weighted {money(t.weighted, t.currency)}"
                for t in totals
            )
        )


class PipelineBoard(QWidget):
    """Opportunities by stage with drag-and-drop stage changes and owner / close-period filters.

    Signals:
        board_loaded(object): the board finished showing fresh data (a ``BoardData``).
        stage_changed(object, object): a dragged opportunity was moved: its UUID and the
            pipeline's ``OpportunityChanged``.
        move_failed(str): a move was refused; carries the message shown.
    """

    board_loaded = Signal(object)
    stage_changed = Signal(object, object)
    move_failed = Signal(str)

    def __init__(self, context: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.context = context
        self.data: rv.BoardData | None = None
        self.columns: dict[uuid.UUID, StageColumn] = {}
        self.setObjectName("pipeline_board")

        layout = QVBoxLayout(self)
        layout.setContentsMargins(10, 8, 10, 8)
        bar = QHBoxLayout()
        title = QLabel("Pipeline", self)
        font = title.font()
        font.setPointSizeF(font.pointSizeF() * 1.4)
        font.setBold(True)
        title.setFont(font)
        bar.addWidget(title)
        bar.addSpacing(16)
        self.owner_combo = QComboBox(self)
        self.owner_combo.setObjectName("owner_filter")
        self.owner_combo.addItem("All owners", "")
        self.owner_combo.setMinimumWidth(180)
        self.period_combo = QComboBox(self)
        self.period_combo.setObjectName("period_filter")
        for value, label in PERIODS:
            self.period_combo.addItem(label, value)
        bar.addWidget(QLabel("Owner:", self))
        bar.addWidget(self.owner_combo)
        bar.addWidget(QLabel("Close:", self))
        bar.addWidget(self.period_combo)
        bar.addStretch(1)
        layout.addLayout(bar)
        # Its own line: with several currencies the figures are too long to share the bar.
        self.summary = QLabel(self)
        self.summary.setObjectName("board_summary")
        self.summary.setWordWrap(True)
        self.summary.setStyleSheet("color:#3c4043;")
        layout.addWidget(self.summary)
        self.banner = Banner(self)
        layout.addWidget(self.banner)

        self.strip = QWidget()
        self.strip_layout = QHBoxLayout(self.strip)
        self.strip_layout.setContentsMargins(0, 0, 0, 0)
        self.strip_layout.setSpacing(8)
        self.strip_layout.addStretch(1)
        self.scroll_area = QScrollArea(self)
        self.scroll_area.setWidgetResizable(True)
        self.scroll_area.setFrameShape(QFrame.Shape.NoFrame)
        self.scroll_area.setWidget(self.strip)
        layout.addWidget(self.scroll_area, 1)
        self.empty = QLabel(
            "No sales stages yet. They are created with the first opportunity.", self
        )
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty.hide()
        layout.addWidget(self.empty)

        if context.current_user_id is not None:
            self.owner_combo.addItem("My opportunities", str(context.current_user_id))
        self.owner_combo.activated.connect(self.on_owner_combo_activated)
        self.period_combo.activated.connect(self.on_period_combo_activated)
        self._stale = False
        self._reload_timer = QTimer(self)
        self._reload_timer.setSingleShot(True)
        self._reload_timer.setInterval(RELOAD_DELAY_MS)
        self._reload_timer.timeout.connect(self.reload)
        context.data_changed.connect(self.on_context_data_changed)
        self.reload()

    # -- filters

    @property
    def owner_id(self) -> uuid.UUID | None:
        """The owner filter (None: everyone)."""
        data = self.owner_combo.currentData()
        return uuid.UUID(data) if data else None

    @property
    def period(self) -> str:
        """The close-period filter."""
        return str(self.period_combo.currentData())

    def on_owner_combo_activated(self, _index: int) -> None:
        self.reload()

    def on_period_combo_activated(self, _index: int) -> None:
        self.reload()

    def on_context_data_changed(self, entity: str) -> None:
        if entity not in ("opportunity", "account", "user", "sales_stage"):
            return
        if self.isVisible():
            self._reload_timer.start()
        else:
            # A board behind another area is reloaded when it comes back, not on every save.
            self._stale = True

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if self._stale:
            self._stale = False
            self._reload_timer.start()

    # -- loading

    def reload(self) -> None:
        """Read the board for the current filters (off the UI thread) and show it."""
        store, owner, period = self.context.store, self.owner_id, self.period

        def run() -> rv.BoardData:
            with store.sessions() as session:
                return rv.load_board(session, owner_id=owner, period=period)

        self.context.runner.submit(run, on_done=self.on_load_done, on_error=self.on_load_failed)

    def on_load_done(self, data: rv.BoardData) -> None:
        self.data = data
        self._sync_owner_choices(data.owners)
        wanted = [c.stage for c in data.columns]
        if [c.stage for c in self.columns.values()] != wanted:
            self._rebuild_columns(wanted)
        for column in data.columns:
            self.columns[column.stage.id].show_column(column, data.currency)
        open_columns = [c for c in data.columns if not c.stage.is_closed]
        count = sum(c.count for c in open_columns)
        per_currency: dict[str, tuple[Decimal, Decimal]] = {}
        for col in open_columns:
            for t in col.totals:
                total, weighted = per_currency.get(t.currency, (Decimal(0), Decimal(0)))
                per_currency[t.currency] = (total + t.total, weighted + t.weighted)
        ordered = sorted(per_currency.items(), key=lambda kv: (kv[0] != data.currency, kv[0]))
        figures = "; ".join(
            f"{money(total, cur)} (weighted {money(weighted, cur)})"
            for cur, (total, weighted) in ordered
        )
        self.summary.setText(f"Open: {count} deals" + (f" · {figures}" if figures else ""))
        self.empty.setVisible(not data.columns)
        self.scroll_area.setVisible(bool(data.columns))
        self.board_loaded.emit(data)

    def on_load_failed(self, error: BaseException) -> None:
        self.banner.show_message("error", f"The board could not be loaded: {error}")

    def _sync_owner_choices(self, owners: Sequence[rv.Choice]) -> None:
        current = self.owner_combo.currentData()
        self.owner_combo.blockSignals(True)
        try:
            self.owner_combo.clear()
            self.owner_combo.addItem("All owners", "")
            if self.context.current_user_id is not None:
                self.owner_combo.addItem("My opportunities", str(self.context.current_user_id))
            for owner in owners:
                if owner.id != self.context.current_user_id:
                    self.owner_combo.addItem(owner.label, str(owner.id))
            index = self.owner_combo.findData(current)
            self.owner_combo.setCurrentIndex(max(index, 0))
        finally:
            self.owner_combo.blockSignals(False)

    def _rebuild_columns(self, stages: Sequence[rv.StageInfo]) -> None:
        for column in self.columns.values():
            column.setParent(None)
            column.deleteLater()
        self.columns = {}
        for index, stage in enumerate(stages):
            column = StageColumn(stage, self.strip)
            column.model.cards_dropped.connect(self.on_column_cards_dropped)
            column.view.doubleClicked.connect(self.on_card_double_clicked)
            column.view.activated.connect(self.on_card_double_clicked)
            # The keyboard's way to move a card (menu key or right-click): same path as a drop.
            column.view.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
            column.view.customContextMenuRequested.connect(self.on_card_context_menu_requested)
            self.strip_layout.insertWidget(index, column)
            self.columns[stage.id] = column

    # -- interaction

    def on_card_double_clicked(self, index: QModelIndex) -> None:
        card = index.data(CARD_ROLE)
        if isinstance(card, rv.BoardCard):
            self.context.open_record("opportunity", card.id)

    def on_card_context_menu_requested(self, pos: QPoint) -> None:
        view = self.sender()
        column = next((c for c in self.columns.values() if c.view is view), None)
        if column is None:
            return
        index = column.view.indexAt(pos)
        if not index.isValid():
            index = column.view.currentIndex()
        if not index.isValid():
            return
        card = index.data(CARD_ROLE)
        selected = [i.data(CARD_ROLE) for i in column.view.selectedIndexes()]
        ids = [c.id for c in selected if isinstance(c, rv.BoardCard)] or [card.id]
        self.card_menu = QMenu(self)
        self.card_menu.setObjectName("card_menu")
        open_action = self.card_menu.addAction("Open")
        open_action.triggered.connect(lambda: self.context.open_record("opportunity", card.id))
        move = self.card_menu.addMenu("Move to")
        for other in self.columns.values():
            if other is column:
                continue
            action = move.addAction(other.stage.name)
            action.setData(str(other.stage.id))
            action.setProperty("ids", [str(i) for i in ids])
            action.triggered.connect(self.on_move_action_triggered)
        self.card_menu.popup(column.view.viewport().mapToGlobal(pos))

    def on_move_action_triggered(self) -> None:
        action = self.sender()
        if not isinstance(action, QAction):
            return
        ids = [uuid.UUID(i) for i in action.property("ids")]
        self.on_column_cards_dropped(ids, uuid.UUID(action.data()))

    def on_column_cards_dropped(self, ids: list[uuid.UUID], stage_id: uuid.UUID) -> None:
        column = self.columns.get(stage_id)
        if column is None:
            return
        stage = column.stage
        self.banner.clear_message()
        if stage.is_closed and not stage.is_won:
            # Lost needs a reason: ask for it once per dropped deal (usually one).
            self._ask_loss_reason(list(ids))
            return
        store = self.context.store

        def run() -> list[tuple[uuid.UUID, pipeline.OpportunityChanged]]:
            with store.sessions.begin() as session:
                return [
                    (
                        oid,
                        pipeline.move_stage(session=session, opportunity_id=oid, stage_id=stage_id),
                    )
                    for oid in ids
                ]

        self.context.runner.submit(run, on_done=self.on_move_done, on_error=self.on_move_failed)

    def _ask_loss_reason(self, ids: list[uuid.UUID]) -> None:
        if not ids:
            return
        self._lost_queue = ids[1:]
        card = self._card(ids[0])
        self.lost_dialog = CloseLostDialog(
            self.context,
            opportunity_id=ids[0],
            opportunity_name=card.name if card else "this opportunity",
            parent=self,
        )
        self.lost_dialog.written.connect(self.on_lost_dialog_written)
        self.lost_dialog.open()

    def on_lost_dialog_written(self, _opportunity_id: uuid.UUID) -> None:
        self.context.notify_changed("opportunity")
        self._ask_loss_reason(self._lost_queue)

    def _card(self, opportunity_id: uuid.UUID) -> rv.BoardCard | None:
        for column in self.columns.values():
            for card in column.model.cards:
                if card.id == opportunity_id:
                    return card
        return None

    def on_move_done(self, moves: list[tuple[uuid.UUID, pipeline.OpportunityChanged]]) -> None:
        for oid, changed in moves:
            self.stage_changed.emit(oid, changed)
        if len(moves) == 1:
            changed = moves[0][1]
            self.banner.show_message(
                "success", f"Moved to {changed.stage_name}: probability now {changed.probability}%."
            )
        self.context.notify_changed("opportunity")

    def on_move_failed(self, error: BaseException) -> None:
        message = getattr(error, "message", None) or str(error)
        self.banner.show_message("error", f"The move was refused: {message}")
        self.move_failed.emit(message)
        self.reload()
