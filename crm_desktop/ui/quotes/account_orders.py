"""Sales orders of one account, for the account page: ``AccountOrdersWidget(context, account_id)``.

Reloads when orders or quotes change anywhere (an accepted quote makes an order); a double-click
asks the main window to open the order (``record_requested("sales_order", id)``).
"""

from __future__ import annotations

import uuid

from PySide6.QtCore import QModelIndex, Signal
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from crm_desktop.printing.quote_data import format_amount
from crm_desktop.ui.catalog.rows_model import RIGHT, Column, RowsModel, rows_table, while_alive
from crm_desktop.ui.context import AppContext
from crm_desktop.ui.quotes import operations
from crm_desktop.ui.quotes.draft import OrderRow


class AccountOrdersWidget(QWidget):
    """A small table of an account's sales orders, newest first.

    Signals:
        orders_loaded(int): the orders were (re)loaded; how many there are.
    """

    orders_loaded = Signal(int)

    def __init__(
        self, context: AppContext, account_id: uuid.UUID, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.context = context
        self.account_id = account_id
        self.model: RowsModel[OrderRow] = RowsModel(
            [
                Column("Order", lambda o: o.number),
                Column("Date", lambda o: o.ordered_on.isoformat()),
                Column("Status", lambda o: o.status),
                Column("Quote", lambda o: o.quote_number),
                Column(
                    "Total", lambda o: f"{format_amount(o.total, o.currency)} {o.currency}", RIGHT
                ),
            ],
            self,
        )
        self.table = rows_table(self.model)
        self.table.doubleClicked.connect(self.on_table_double_clicked)
        self.empty_label = QLabel("No orders yet.")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.table)
        layout.addWidget(self.empty_label)
        context.data_changed.connect(self.on_context_data_changed)
        self.reload()

    def reload(self) -> None:
        """Fetch the account's orders on the store worker."""
        store, account_id = self.context.store, self.account_id
        self.context.runner.submit(
            lambda: operations.orders_for_account(store, account_id),
            on_done=while_alive(self, self._on_loaded),
        )

    def _on_loaded(self, orders: list[OrderRow]) -> None:
        self.model.set_rows(orders)
        self.table.resizeColumnsToContents()
        self.empty_label.setVisible(not orders)
        self.table.setVisible(bool(orders))
        self.orders_loaded.emit(len(orders))

    def on_context_data_changed(self, entity: str) -> None:
        """An accepted quote elsewhere may have made an order for this account."""
        if entity in {"sales_order", "quote"}:
            self.reload()

    def on_table_double_clicked(self, index: QModelIndex) -> None:
        """Open the order."""
        self.context.open_record("sales_order", self.model.row_at(index.row()).id)
