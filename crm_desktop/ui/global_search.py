"""Global search (Ctrl+K): a popup over the main window with results as you type, grouped by type.

Each keystroke asks the store worker for matches (FTS5, :func:`crm_desktop.store.search.search`).
Only one search is in flight at a time: text typed meanwhile waits, and when the running search
returns, only the newest waiting text is searched, so a fast typist never queues stale queries
behind the worker and results never arrive out of order. A result whose text no longer matches
what the box says is dropped.

Keys: Up/Down move between results (skipping group headers), Enter opens the record, Esc closes.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import (
    QAbstractListModel,
    QEvent,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    QSize,
    Qt,
    Signal,
)
from PySide6.QtGui import QFont, QIcon, QKeyEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QFrame,
    QLabel,
    QLineEdit,
    QListView,
    QStyle,
    QVBoxLayout,
    QWidget,
)

from crm_desktop.app import resources_dir
from crm_desktop.store import Store
from crm_desktop.store.search import SearchHit, search
from crm_desktop.ui.context import AppContext
from crm_desktop.ui.list_models import guarded

#: Results per search; enough for every group to show its best few.
RESULT_LIMIT = 40
GROUP_TITLES = {
    "account": "Accounts",
    "contact": "Contacts",
    "lead": "Leads",
    "opportunity": "Opportunities",
}
#: Item role: the entity name of a result row, or "" for a group header.
ENTITY_ROLE = Qt.ItemDataRole.UserRole + 1
#: Item role: the record UUID of a result row.
ID_ROLE = Qt.ItemDataRole.UserRole + 2

_Index = QModelIndex | QPersistentModelIndex


@dataclass(frozen=True)
class _Row:
    header: bool
    text: str
    subtitle: str = ""
    entity: str = ""
    record_id: uuid.UUID | None = None


def group_hits(hits: Sequence[SearchHit]) -> list[_Row]:
    """Rows for the list: a header per entity type (in a fixed order), then its hits, best first."""
    rows: list[_Row] = []
    for entity, title in GROUP_TITLES.items():
        members = [h for h in hits if h.entity == entity]
        if members:
            rows.append(_Row(header=True, text=title))
            rows.extend(_Row(False, h.title, h.subtitle, h.entity, h.id) for h in members)
    return rows


class SearchResultsModel(QAbstractListModel):
    """Search results grouped by type; group headers are shown but not selectable."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._rows: list[_Row] = []
        self._header_font = QFont()
        self._header_font.setBold(True)
        self._header_font.setPointSizeF(max(self._header_font.pointSizeF() * 0.85, 7.0))

    def rowCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008 - Qt signature
        return 0 if parent.isValid() else len(self._rows)

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or index.row() >= len(self._rows):
            return None
        row = self._rows[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            if row.header:
                return row.text.upper()
            return f"{row.text}   —   {row.subtitle}" if row.subtitle else row.text
        if role == Qt.ItemDataRole.ToolTipRole and not row.header:
            return row.subtitle or None
        if role == Qt.ItemDataRole.FontRole and row.header:
            return self._header_font
        if role == ENTITY_ROLE:
            return row.entity
        if role == ID_ROLE:
            return row.record_id
        return None

    def flags(self, index: _Index) -> Qt.ItemFlag:
        if not index.isValid() or index.row() >= len(self._rows):
            return Qt.ItemFlag.NoItemFlags
        if self._rows[index.row()].header:
            return Qt.ItemFlag.ItemIsEnabled
        return Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable

    def set_hits(self, hits: Sequence[SearchHit]) -> None:
        """Replace the results."""
        self.beginResetModel()
        self._rows = group_hits(hits)
        self.endResetModel()

    def is_result(self, row: int) -> bool:
        """True if ``row`` is a record (not a group header)."""
        return 0 <= row < len(self._rows) and not self._rows[row].header

    def result_count(self) -> int:
        """Number of records shown (headers excluded)."""
        return sum(1 for r in self._rows if not r.header)


def run_search(store: Store, query: str) -> list[SearchHit]:
    """One search on the store worker."""
    with store.sessions() as session:
        return search(session, query, limit=RESULT_LIMIT)


class GlobalSearchPopup(QFrame):
    """The Ctrl+K popup: a line edit over grouped results, floating at the top of its parent.

    Signals:
        results_shown(str, int): results for this text are on screen (text, number of records);
            emitted once per search that was not superseded (benchmarks time keystrokes with it).
        record_chosen(str, object): the user opened a result (entity, UUID); the popup closes.
    """

    results_shown = Signal(str, int)
    record_chosen = Signal(str, object)

    def __init__(self, context: AppContext, parent: QWidget) -> None:
        super().__init__(parent)
        self.context = context
        self._host = parent
        self.setObjectName("globalSearch")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        # A border, not a drop shadow: a graphics effect re-renders the whole popup through an
        # offscreen blur on every repaint, which costs more than the search on each keystroke.
        self.setAutoFillBackground(True)

        self.edit = QLineEdit(self)
        self.edit.setObjectName("globalSearchEdit")
        self.edit.setPlaceholderText("Search accounts, contacts, leads, opportunities…")
        self.edit.setClearButtonEnabled(True)
        search_icon = resources_dir() / "icons" / "search.svg"
        self.edit.addAction(
            QIcon(str(search_icon))
            if search_icon.is_file()
            else self.style().standardIcon(QStyle.StandardPixmap.SP_FileDialogContentsView),
            QLineEdit.ActionPosition.LeadingPosition,
        )
        self.model = SearchResultsModel(self)
        self.results = QListView(self)
        self.results.setObjectName("globalSearchResults")
        self.results.setModel(self.model)
        self.results.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.results.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.results.setUniformItemSizes(True)
        self.results.setIconSize(QSize(16, 16))
        self.hint = QLabel("Type to search.  ↑↓ to move, Enter to open, Esc to close", self)
        self.hint.setObjectName("searchHint")

        layout = QVBoxLayout(self)
        layout.setContentsMargins(10, 10, 10, 8)
        layout.setSpacing(6)
        layout.addWidget(self.edit)
        layout.addWidget(self.results, 1)
        layout.addWidget(self.hint)

        self._in_flight: str | None = None
        self._waiting: str | None = None
        self._started_at: dict[str, float] = {}
        #: Seconds from keystroke to results shown, for the last searches (benchmarks read it).
        self.timings: list[float] = []

        self.edit.textChanged.connect(self.on_edit_text_changed)
        self.edit.installEventFilter(self)
        self.results.clicked.connect(self.on_results_clicked)
        app = QApplication.instance()
        if isinstance(app, QApplication):
            app.focusChanged.connect(self.on_app_focus_changed)
        self.hide()

    # --- opening and closing ------------------------------------------------------------------
    def popup(self) -> None:
        """Show over the parent's top centre with the text selected for a fresh search."""
        parent = self._host
        width = min(640, max(parent.width() - 40, 320))
        height = min(460, max(parent.height() - 80, 240))
        self.setGeometry((parent.width() - width) // 2, 48, width, height)
        self.show()
        self.raise_()
        self.edit.setFocus(Qt.FocusReason.ShortcutFocusReason)
        self.edit.selectAll()

    def dismiss(self) -> None:
        """Hide, giving focus back to the window."""
        self.hide()
        self._host.setFocus(Qt.FocusReason.PopupFocusReason)

    def on_app_focus_changed(self, _old: QWidget | None, new: QWidget | None) -> None:
        # Like a popup menu: clicking or tabbing anywhere else closes it.
        if self.isVisible() and new is not None and new is not self and not self.isAncestorOf(new):
            self.hide()

    # --- keys -----------------------------------------------------------------------------
    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self.edit and event.type() == QEvent.Type.KeyPress:
            assert isinstance(event, QKeyEvent)
            key = event.key()
            if key == Qt.Key.Key_Down:
                self._move(+1)
                return True
            if key == Qt.Key.Key_Up:
                self._move(-1)
                return True
            if key in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
                self._open(self.results.currentIndex())
                return True
            if key == Qt.Key.Key_Escape:
                self.dismiss()
                return True
        return super().eventFilter(watched, event)

    def _move(self, step: int) -> None:
        count = self.model.rowCount()
        if not count:
            return
        row = self.results.currentIndex().row()
        row = row if row >= 0 else (-1 if step > 0 else count)
        while True:
            row += step
            if not 0 <= row < count:
                return
            if self.model.is_result(row):
                self.results.setCurrentIndex(self.model.index(row))
                return

    def _open(self, index: QModelIndex) -> None:
        if not index.isValid() or not self.model.is_result(index.row()):
            return
        entity, record_id = index.data(ENTITY_ROLE), index.data(ID_ROLE)
        self.dismiss()
        self.record_chosen.emit(entity, record_id)
        self.context.open_record(entity, record_id)

    # --- searching ----------------------------------------------------------------------------
    def on_edit_text_changed(self, text: str) -> None:
        query = text.strip()
        self._started_at[query] = time.perf_counter()
        if not query:
            self._waiting = None
            self.model.set_hits([])
            self.hint.setText("Type to search.  ↑↓ to move, Enter to open, Esc to close")
            return
        if self._in_flight is not None:
            self._waiting = query  # searched when the running one returns
            return
        self._submit(query)

    def on_results_clicked(self, index: QModelIndex) -> None:
        self._open(index)

    def _submit(self, query: str) -> None:
        self._in_flight = query
        store = self.context.store
        self.context.runner.submit(
            lambda: run_search(store, query),
            on_done=guarded(self, self._on_search_done, query),
            on_error=guarded(self, self._on_search_failed, query),
        )

    def _on_search_done(self, query: str, hits: list[SearchHit]) -> None:
        self._in_flight = None
        if query == self.edit.text().strip():
            self._show(query, hits)
        if self._waiting is not None:
            waiting, self._waiting = self._waiting, None
            if waiting == self.edit.text().strip() and waiting != query:
                self._submit(waiting)

    def _on_search_failed(self, query: str, error: BaseException) -> None:
        self._in_flight = None
        self.hint.setText(f"Search failed: {error}")
        if self._waiting is not None:
            waiting, self._waiting = self._waiting, None
            self._submit(waiting)

    def _show(self, query: str, hits: list[SearchHit]) -> None:
        self.model.set_hits(hits)
        self._move(+1)
        count = self.model.result_count()
        self.hint.setText(
            f"{count} result{'s' if count != 1 else ''}.  ↑↓ to move, Enter to open, Esc to close"
            if count
            else f"Nothing found for “{query}”"
        )
        started = self._started_at.pop(query, None)
        if started is not None:
            self.timings.append(time.perf_counter() - started)
        self.results_shown.emit(query, count)
