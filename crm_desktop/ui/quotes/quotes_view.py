"""The quotes list: current revision of every quote, filtered by status and text.

``QuotesView(context)`` for the main window's navigation. Double-click (or Enter) opens a quote
through ``context.open_record("quote", id)``; "New quote" asks for a standalone one
(``open_record("quote", None)``). Managers get a "Waiting for my approval" filter.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QModelIndex, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from crm_desktop.printing.quote_data import format_amount
from crm_desktop.ui.catalog.rows_model import RIGHT, Column, RowsModel, rows_table, while_alive
from crm_desktop.ui.context import AppContext
from crm_desktop.ui.quotes import operations
from crm_desktop.ui.quotes.operations import QuoteListRow
from crm_desktop.ui.quotes.quote_editor import STATUS_COLOURS, STATUS_LABELS
from crm_desktop.ui.widgets.search_box import SearchBox


class QuotesView(QWidget):
    """List of quotes with status filter and search.

    Signals:
        quotes_loaded(int): the list was reloaded with this many rows.
    """

    quotes_loaded = Signal(int)

    def __init__(self, context: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.context = context
        self.search_edit = SearchBox("Search number, customer or opportunity…")
        self.status_combo = QComboBox()
        self.status_combo.addItem("All statuses", None)
        for value, label in STATUS_LABELS.items():
            self.status_combo.addItem(label, value)
        self.mine_check = QCheckBox("Waiting for my approval")
        self.new_button = QPushButton("New quote…")
        self.count_label = QLabel()
        self.model: RowsModel[QuoteListRow] = RowsModel(
            [
                Column("Number", lambda q: q.number),
                Column("Rev.", lambda q: str(q.revision), RIGHT),
                Column("Customer", lambda q: q.account_name),
                Column("Opportunity", lambda q: q.opportunity_name),
                Column(
                    "Status",
                    lambda q: STATUS_LABELS.get(q.status, q.status),
                    foreground=lambda q: QColor(STATUS_COLOURS.get(q.status, "#000000")),
                ),
                Column("Valid until", lambda q: q.valid_until.isoformat() if q.valid_until else ""),
                Column("Total", lambda q: format_amount(q.total, q.currency), RIGHT),
                Column("Cur.", lambda q: q.currency),
            ],
            self,
        )
        self.table = rows_table(
            self.model, single_selection=True, alternating=True, stretch_last=False
        )
        # The opportunity name is the column with text to spare.
        self.table.horizontalHeader().setSectionResizeMode(3, QHeaderView.ResizeMode.Stretch)
        top = QHBoxLayout()
        top.addWidget(self.search_edit, 1)
        top.addWidget(self.status_combo)
        top.addWidget(self.mine_check)
        top.addWidget(self.new_button)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.count_label)
        self._generation = 0
        self._loaded = False
        self.search_edit.search_requested.connect(self.reload)
        self.status_combo.currentIndexChanged.connect(self.reload)
        self.mine_check.toggled.connect(self.reload)
        self.new_button.clicked.connect(self.on_new_button_clicked)
        self.table.activated.connect(self.on_table_activated)
        self.table.doubleClicked.connect(self.on_table_activated)
        context.data_changed.connect(self.on_context_data_changed)

    def showEvent(self, event: Any) -> None:
        """Load on first show: an unvisited screen costs nothing at start-up."""
        super().showEvent(event)
        if not self._loaded:
            self.reload()

    def reload(self) -> None:
        """Fetch the quotes matching the filters on the store worker."""
        self._loaded = True
        self._generation += 1
        generation = self._generation
        store = self.context.store
        status = self.status_combo.currentData()
        text = self.search_edit.text()
        pending_for = self.context.current_user_id if self.mine_check.isChecked() else None
        self.context.runner.submit(
            lambda: operations.quote_rows(store, status=status, text=text, pending_for=pending_for),
            on_done=while_alive(self, lambda rows: self._on_loaded(generation, rows)),
        )

    def _on_loaded(self, generation: int, rows: list[QuoteListRow]) -> None:
        if generation != self._generation:
            return  # an older filter's answer
        self.model.set_rows(rows)
        for column in (0, 1, 2, 4, 5, 6, 7):
            self.table.resizeColumnToContents(column)
        self.count_label.setText(f"{len(rows)} quotes")
        self.quotes_loaded.emit(len(rows))

    def on_new_button_clicked(self) -> None:
        """Ask the main window for a new standalone quote."""
        self.context.open_record("quote", None)

    def on_table_activated(self, index: QModelIndex) -> None:
        """Open the quote."""
        self.context.open_record("quote", self.model.row_at(index.row()).id)

    def on_context_data_changed(self, entity: str) -> None:
        """Quotes changed somewhere (an editor, expiry, sync)."""
        if self._loaded and entity == "quote":
            self.reload()
