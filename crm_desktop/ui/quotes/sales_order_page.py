"""A sales order's page (read-only): ``SalesOrderPage(context, order_id)``.

Opened by ``record_requested("sales_order", id)`` from the quote editor and the account's order
list. Orders are made only by accepting a quote, and their lines are copies, so the page shows
what was agreed even if the catalog changes later; links lead to the quote and the account.
"""

from __future__ import annotations

import uuid
from decimal import Decimal

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QLabel,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from crm_desktop.printing.quote_data import format_amount, format_number
from crm_desktop.ui.catalog.rows_model import RIGHT, Column, RowsModel, while_alive
from crm_desktop.ui.context import AppContext
from crm_desktop.ui.quotes import operations
from crm_desktop.ui.quotes.operations import OrderDetail, OrderLineRow


class SalesOrderPage(QWidget):
    """Header, lines and total of one sales order.

    Signals:
        loaded(object): the order was loaded (an :class:`OrderDetail`).
    """

    loaded = Signal(object)

    def __init__(
        self, context: AppContext, order_id: uuid.UUID, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.context = context
        self.order_id = order_id
        self.detail: OrderDetail | None = None
        self.title_label = QLabel("Sales order")
        self.title_label.setStyleSheet("font-size: 16pt; font-weight: bold;")
        self.info_label = QLabel()
        self.info_label.setTextFormat(Qt.TextFormat.RichText)
        self.info_label.linkActivated.connect(self.on_info_label_link_activated)
        self.total_label = QLabel()
        self.total_label.setAlignment(Qt.AlignmentFlag.AlignRight)
        self.total_label.setStyleSheet("font-weight: bold; font-size: 12pt;")
        self.lines_model: RowsModel[OrderLineRow] = RowsModel(
            [
                Column("#", lambda r: str(r.position), RIGHT),
                Column("Code", lambda r: r.code),
                Column("Description", lambda r: r.description),
                Column("Qty", lambda r: format_number(r.quantity), RIGHT),
                Column("Unit", lambda r: r.unit),
                Column("Unit price", lambda r: format(r.unit_price, "f"), RIGHT),
                Column("Disc. %", lambda r: format_number(r.discount_percent), RIGHT),
                Column("Tax %", lambda r: format_number(r.tax_rate), RIGHT),
                Column("Net", lambda r: self._amount(r.net_amount), RIGHT),
            ],
            self,
        )
        self.table = QTableView()
        self.table.setModel(self.lines_model)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().hide()
        self.table.horizontalHeader().setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        layout = QVBoxLayout(self)
        layout.addWidget(self.title_label)
        layout.addWidget(self.info_label)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.total_label)
        self.reload()

    def _amount(self, value: Decimal) -> str:
        currency = self.detail.order.currency if self.detail else "EUR"
        return format_amount(value, currency)

    def reload(self) -> None:
        """Load the order on the store worker."""
        store, order_id = self.context.store, self.order_id
        self.context.runner.submit(
            lambda: operations.load_order(store, order_id), on_done=while_alive(self, self._apply)
        )

    def _apply(self, detail: OrderDetail) -> None:
        self.detail = detail
        order = detail.order
        title = f"Order {order.number}"
        self.title_label.setText(title)
        self.setWindowTitle(title)
        parts = [
            f'<a href="account">{detail.account_name}</a>' if detail.account_name else "",
            f'from quote <a href="quote">{order.quote_number}</a>',
            f"ordered {order.ordered_on:%Y-%m-%d}",
            order.status,
        ]
        if detail.opportunity_name:
            parts.append(f'opportunity <a href="opportunity">{detail.opportunity_name}</a>')
        self.info_label.setText(" · ".join(p for p in parts if p))
        self.lines_model.set_rows(detail.lines)
        for column in (0, 1, 3, 4, 5, 6, 7, 8):
            self.table.resizeColumnToContents(column)
        self.total_label.setText(
            f"Total {format_amount(order.total, order.currency)} {order.currency} (incl. tax)"
        )
        self.loaded.emit(detail)

    def on_info_label_link_activated(self, link: str) -> None:
        """Open the account, quote or opportunity the order came from."""
        if self.detail is None:
            return
        targets = {
            "account": self.detail.order.account_id,
            "quote": self.detail.order.quote_id,
            "opportunity": self.detail.opportunity_id,
        }
        if targets.get(link) is not None:
            self.context.open_record(link, targets[link])
