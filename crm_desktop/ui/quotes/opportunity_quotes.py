"""Quotes of one opportunity, for the opportunity page: ``OpportunityQuotesWidget(context, id)``.

Lists the current revision of each quote made for the opportunity; double-click opens one
(``record_requested("quote", id)``). "New quote" emits :attr:`new_quote_requested` with the
opportunity's id: the main window answers with ``QuoteEditor.for_opportunity(context, id)``,
so the new quote starts with the opportunity's customer, currency and contact.
"""

from __future__ import annotations

import uuid

from PySide6.QtCore import QModelIndex, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QHBoxLayout,
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


class OpportunityQuotesWidget(QWidget):
    """The quotes of one opportunity with a "New quote" button.

    Signals:
        quotes_loaded(int): the list was (re)loaded with this many quotes.
        new_quote_requested(object): the user wants a new quote for this opportunity (its UUID).
    """

    quotes_loaded = Signal(int)
    new_quote_requested = Signal(object)

    def __init__(
        self, context: AppContext, opportunity_id: uuid.UUID, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.context = context
        self.opportunity_id = opportunity_id
        self.model: RowsModel[QuoteListRow] = RowsModel(
            [
                Column("Quote", lambda q: q.number),
                Column("Rev.", lambda q: str(q.revision), RIGHT),
                Column(
                    "Status",
                    lambda q: STATUS_LABELS.get(q.status, q.status),
                    foreground=lambda q: QColor(STATUS_COLOURS.get(q.status, "#000000")),
                ),
                Column("Valid until", lambda q: q.valid_until.isoformat() if q.valid_until else ""),
                Column(
                    "Total", lambda q: f"{format_amount(q.total, q.currency)} {q.currency}", RIGHT
                ),
            ],
            self,
        )
        self.table = rows_table(self.model)
        self.table.doubleClicked.connect(self.on_table_double_clicked)
        self.new_button = QPushButton("New quote…")
        self.new_button.clicked.connect(self.on_new_button_clicked)
        self.count_label = QLabel()
        top = QHBoxLayout()
        top.addWidget(self.count_label, 1)
        top.addWidget(self.new_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(top)
        layout.addWidget(self.table)
        context.data_changed.connect(self.on_context_data_changed)
        self.reload()

    def reload(self) -> None:
        """Fetch the opportunity's quotes on the store worker."""
        store, opportunity_id = self.context.store, self.opportunity_id
        self.context.runner.submit(
            lambda: operations.quote_rows(
                store, status=None, text="", opportunity_id=opportunity_id
            ),
            on_done=while_alive(self, self._on_loaded),
        )

    def _on_loaded(self, rows: list[QuoteListRow]) -> None:
        self.model.set_rows(rows)
        self.table.resizeColumnsToContents()
        self.count_label.setText(f"{len(rows)} quotes" if rows else "No quotes yet.")
        self.quotes_loaded.emit(len(rows))

    def on_context_data_changed(self, entity: str) -> None:
        """A quote changed somewhere (saved, sent, accepted, expired)."""
        if entity == "quote":
            self.reload()

    def on_new_button_clicked(self) -> None:
        """Ask for a new quote on this opportunity."""
        self.new_quote_requested.emit(self.opportunity_id)

    def on_table_double_clicked(self, index: QModelIndex) -> None:
        """Open the quote."""
        self.context.open_record("quote", self.model.row_at(index.row()).id)
