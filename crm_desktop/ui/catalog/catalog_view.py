"""The product catalog screen: a Products tab and a Price lists tab.

Products: search as you type (code, name, description), show/hide inactive ones, create and
edit in :class:`ProductDialog`. Price lists: filter by currency, create and edit lists with
their validity dates in :class:`PriceListDialog`, and set each product's price on the selected
list (double-click a price, or "Set price…").

Threading contract: every read and write runs on the store worker through the context's
runner and comes back as frozen dataclasses; nothing here touches a Session on the UI thread.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import date
from decimal import Decimal
from typing import Any

from PySide6.QtCore import QDate, Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDateEdit,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QInputDialog,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QTableView,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)
from sqlalchemy.orm import Session

from crm_desktop.services import catalog
from crm_desktop.services.catalog import PriceListRow, PriceRow, ProductPick, ProductRow
from crm_desktop.services.errors import ServiceError
from crm_desktop.services.money import minor_units
from crm_desktop.ui.catalog.rows_model import RIGHT, Column, RowsModel, rows_table, while_alive
from crm_desktop.ui.context import AppContext
from crm_desktop.ui.widgets.search_box import SearchBox

#: Delay between the last keystroke and the search (fewer queries while typing a word).
_GREY = QColor("#888888")


def _in_session(context: AppContext, work: Callable[[Session], Any]) -> Callable[[], Any]:
    """Wrap ``work`` into a worker task that owns one committed transaction."""

    def task() -> Any:
        with context.store.sessions.begin() as session:
            return work(session)

    return task


def _qdate(value: date | None) -> QDate:
    return QDate(value.year, value.month, value.day) if value else QDate()


def _pydate(value: QDate) -> date:
    return date(value.year(), value.month(), value.day())


def _show_error(parent: QWidget, error: BaseException) -> None:
    message = getattr(error, "message", None) or str(error)
    QMessageBox.warning(parent, "Catalog", message)


class ProductDialog(QDialog):
    """Create or edit one product. ``values()`` returns the typed fields (no database work)."""

    def __init__(self, product: ProductRow | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Edit product" if product else "New product")
        self.code_edit = QLineEdit(product.code if product else "")
        self.name_edit = QLineEdit(product.name if product else "")
        self.description_edit = QPlainTextEdit(product.description if product else "")
        self.description_edit.setFixedHeight(80)
        self.unit_edit = QLineEdit(product.unit if product else "pcs")
        self.tax_edit = QLineEdit(str(product.default_tax_rate) if product else "0")
        self.active_check = QCheckBox("Active (offered on new quotes)")
        self.active_check.setChecked(product.active if product else True)
        self.error_label = QLabel()
        self.error_label.setStyleSheet("color: #b00020;")
        form = QFormLayout()
        form.addRow("Code", self.code_edit)
        form.addRow("Name", self.name_edit)
        form.addRow("Description", self.description_edit)
        form.addRow("Unit", self.unit_edit)
        form.addRow("Default tax %", self.tax_edit)
        form.addRow("", self.active_check)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.on_buttons_accepted)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.error_label)
        layout.addWidget(buttons)

    def values(self) -> dict[str, Any]:
        """The fields as keyword arguments of :func:`catalog.save_product` (raises on a bad number)."""
        return {
            "code": self.code_edit.text(),
            "name": self.name_edit.text(),
            "description": self.description_edit.toPlainText(),
            "unit": self.unit_edit.text(),
            "active": self.active_check.isChecked(),
            "default_tax_rate": catalog.parse_decimal("default_tax_rate", self.tax_edit.text()),
        }

    def on_buttons_accepted(self) -> None:
        """Check what can be checked without the database before closing."""
        try:
            self.values()
        except ServiceError as error:
            self.error_label.setText(getattr(error, "message", str(error)))
            return
        self.accept()


class PriceListDialog(QDialog):
    """Create or edit a price list: name, currency, validity (either end may stay open), active."""

    def __init__(self, price_list: PriceListRow | None = None, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Edit price list" if price_list else "New price list")
        self.name_edit = QLineEdit(price_list.name if price_list else "")
        self.currency_edit = QLineEdit(price_list.currency if price_list else "EUR")
        self.currency_edit.setMaxLength(3)
        self.from_check = QCheckBox("from")
        self.from_edit = QDateEdit()
        self.to_check = QCheckBox("until")
        self.to_edit = QDateEdit()
        for check, edit, value in (
            (self.from_check, self.from_edit, price_list.valid_from if price_list else None),
            (self.to_check, self.to_edit, price_list.valid_to if price_list else None),
        ):
            edit.setDisplayFormat("yyyy-MM-dd")
            edit.setCalendarPopup(True)
            edit.setDate(_qdate(value) if value else QDate.currentDate())
            check.setChecked(value is not None)
            edit.setEnabled(value is not None)
            check.toggled.connect(edit.setEnabled)
        self.active_check = QCheckBox("Active")
        self.active_check.setChecked(price_list.active if price_list else True)
        validity = QHBoxLayout()
        for widget in (self.from_check, self.from_edit, self.to_check, self.to_edit):
            validity.addWidget(widget)
        form = QFormLayout()
        form.addRow("Name", self.name_edit)
        form.addRow("Currency", self.currency_edit)
        form.addRow("Valid", validity)
        form.addRow("", self.active_check)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(buttons)

    def values(self) -> dict[str, Any]:
        """The fields as keyword arguments of :func:`catalog.save_price_list`."""
        return {
            "name": self.name_edit.text(),
            "currency": self.currency_edit.text(),
            "valid_from": _pydate(self.from_edit.date()) if self.from_check.isChecked() else None,
            "valid_to": _pydate(self.to_edit.date()) if self.to_check.isChecked() else None,
            "active": self.active_check.isChecked(),
        }


def _validity(row: PriceListRow) -> str:
    if row.valid_from is None and row.valid_to is None:
        return "always"
    start = row.valid_from.isoformat() if row.valid_from else "…"
    end = row.valid_to.isoformat() if row.valid_to else "…"
    return f"{start} – {end}"


def _list_status(row: PriceListRow) -> str:
    if not row.active:
        return "inactive"
    return "in force" if row.valid_on(date.today()) else "not in force"


def _format_price(value: Decimal, currency: str) -> str:
    # Prices on a list may carry more decimals than the currency (unit prices of cheap parts);
    # show at least the currency's minor unit, and any extra digits the price really has.
    places = max(minor_units(currency), -value.normalize().as_tuple().exponent)  # type: ignore[operator]
    return f"{value:,.{places}f}"


class ProductsTab(QWidget):
    """Product list with search-as-you-type and an inactive filter.

    Signals:
        products_loaded(int): a reload finished with this many rows shown.
        product_saved(object): a product was created or edited (its UUID).
    """

    products_loaded = Signal(int)
    product_saved = Signal(object)

    def __init__(self, context: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.context = context
        self.search_edit = SearchBox("Search code, name or description…")
        self.inactive_check = QCheckBox("Show inactive")
        self.inactive_check.setChecked(True)
        self.new_button = QPushButton("New product…")
        self.edit_button = QPushButton("Edit…")
        self.count_label = QLabel()

        def grey(p: ProductRow) -> QColor | None:
            return None if p.active else _GREY  # inactive products read grey

        self.model: RowsModel[ProductRow] = RowsModel(
            [
                Column("Code", lambda p: p.code, foreground=grey),
                Column("Name", lambda p: p.name, foreground=grey),
                Column("Unit", lambda p: p.unit, foreground=grey),
                Column("Tax %", lambda p: format(p.default_tax_rate.normalize(), "f"), RIGHT, grey),
                Column("Active", lambda p: "yes" if p.active else "no", foreground=grey),
                Column(
                    "Description",
                    lambda p: p.description.splitlines()[0] if p.description else "",
                    foreground=grey,
                ),
            ],
            self,
        )
        self.table = rows_table(self.model, single_selection=True, alternating=True)
        top = QHBoxLayout()
        top.addWidget(self.search_edit, 1)
        top.addWidget(self.inactive_check)
        top.addWidget(self.new_button)
        top.addWidget(self.edit_button)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.count_label)
        self.search_edit.search_requested.connect(self.reload)
        self.inactive_check.toggled.connect(self.reload)
        self.new_button.clicked.connect(self.on_new_button_clicked)
        self.edit_button.clicked.connect(self.on_edit_button_clicked)
        self.table.doubleClicked.connect(self.on_edit_button_clicked)

    def reload(self) -> None:
        """Fetch the products matching the search on the worker."""
        text = self.search_edit.text()
        include_inactive = self.inactive_check.isChecked()
        self.context.runner.submit(
            _in_session(
                self.context,
                lambda s: catalog.list_products(
                    session=s, search=text, include_inactive=include_inactive
                ),
            ),
            on_done=self._on_products_loaded,
            on_error=while_alive(self, lambda e: _show_error(self, e)),
        )

    def _on_products_loaded(self, rows: list[ProductRow]) -> None:
        self.model.set_rows(rows)
        self.table.resizeColumnsToContents()
        self.count_label.setText(f"{len(rows)} products")
        self.products_loaded.emit(len(rows))

    def selected(self) -> ProductRow | None:
        """The selected product, if any."""
        rows = self.table.selectionModel().selectedRows()
        return self.model.row_at(rows[0].row()) if rows else None

    def on_new_button_clicked(self) -> None:
        """Create a product."""
        self._edit(None)

    def on_edit_button_clicked(self, *_args: object) -> None:
        """Edit the selected product."""
        product = self.selected()
        if product is not None:
            self._edit(product)

    def _edit(self, product: ProductRow | None) -> None:
        dialog = ProductDialog(product, self)
        if dialog.exec() != QDialog.DialogCode.Accepted:
            return
        self.save(product.id if product else None, dialog.values())

    def save(self, product_id: uuid.UUID | None, values: dict[str, Any]) -> None:
        """Save product fields on the worker, then reload and tell other screens."""
        self.context.runner.submit(
            _in_session(
                self.context,
                lambda s: catalog.save_product(session=s, product_id=product_id, **values),
            ),
            on_done=self._on_product_saved,
            on_error=while_alive(self, lambda e: _show_error(self, e)),
        )

    def _on_product_saved(self, product_id: uuid.UUID) -> None:
        self.context.notify_changed("product")
        self.product_saved.emit(product_id)
        self.reload()


class PriceListsTab(QWidget):
    """Price lists (filtered by currency) on the left, the selected list's prices on the right.

    Signals:
        price_lists_loaded(int): the list of price lists was reloaded (row count).
        prices_loaded(int): the prices of the selected list were reloaded (row count).
    """

    price_lists_loaded = Signal(int)
    prices_loaded = Signal(int)

    def __init__(self, context: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.context = context
        self.currency_combo = QComboBox()
        self.currency_combo.addItem("All currencies", None)
        self.new_button = QPushButton("New price list…")
        self.edit_button = QPushButton("Edit…")
        self.lists_model: RowsModel[PriceListRow] = RowsModel(
            [
                Column("Name", lambda r: r.name),
                Column("Currency", lambda r: r.currency),
                Column("Valid", _validity),
                Column("Status", _list_status),
                Column("Prices", lambda r: str(r.price_count), RIGHT),
            ],
            self,
        )
        self.lists_table = self._table(self.lists_model)
        self.prices_model: RowsModel[PriceRow] = RowsModel(
            [
                Column("Code", lambda r: r.code),
                Column("Product", lambda r: r.name),
                Column("Unit", lambda r: r.unit),
                Column(
                    "Unit price", lambda r: _format_price(r.unit_price, self._currency()), RIGHT
                ),
            ],
            self,
        )
        self.prices_table = self._table(self.prices_model)
        self.set_price_button = QPushButton("Set price…")
        self.remove_price_button = QPushButton("Remove from list")
        self.prices_title = QLabel("Select a price list")

        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        top = QHBoxLayout()
        top.addWidget(self.currency_combo, 1)
        top.addWidget(self.new_button)
        top.addWidget(self.edit_button)
        left_layout.addLayout(top)
        left_layout.addWidget(self.lists_table)
        right = QWidget()
        right_layout = QVBoxLayout(right)
        right_layout.setContentsMargins(0, 0, 0, 0)
        right_top = QHBoxLayout()
        right_top.addWidget(self.prices_title, 1)
        right_top.addWidget(self.set_price_button)
        right_top.addWidget(self.remove_price_button)
        right_layout.addLayout(right_top)
        right_layout.addWidget(self.prices_table)
        splitter = QSplitter()
        splitter.addWidget(left)
        splitter.addWidget(right)
        splitter.setSizes([560, 540])
        layout = QVBoxLayout(self)
        layout.addWidget(splitter)

        self.currency_combo.currentIndexChanged.connect(self.reload)
        self.new_button.clicked.connect(self.on_new_button_clicked)
        self.edit_button.clicked.connect(self.on_edit_button_clicked)
        self.lists_table.doubleClicked.connect(self.on_edit_button_clicked)
        self.lists_table.selectionModel().selectionChanged.connect(
            self.on_lists_table_selection_changed
        )
        self.set_price_button.clicked.connect(self.on_set_price_button_clicked)
        self.prices_table.doubleClicked.connect(self.on_prices_table_double_clicked)
        self.remove_price_button.clicked.connect(self.on_remove_price_button_clicked)
        self._update_buttons()

    @staticmethod
    def _table(model: RowsModel[Any]) -> QTableView:
        table = rows_table(model, single_selection=True, alternating=True)
        table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        return table

    def selected_list(self) -> PriceListRow | None:
        """The selected price list, if any."""
        rows = self.lists_table.selectionModel().selectedRows()
        return self.lists_model.row_at(rows[0].row()) if rows else None

    def _currency(self) -> str:
        selected = self.selected_list()
        return selected.currency if selected else "EUR"

    def _update_buttons(self) -> None:
        has_list = self.selected_list() is not None
        self.edit_button.setEnabled(has_list)
        self.set_price_button.setEnabled(has_list)
        self.remove_price_button.setEnabled(
            has_list and bool(self.prices_table.selectionModel().selectedRows())
        )

    def reload(self) -> None:
        """Fetch price lists of the chosen currency on the worker."""
        currency = self.currency_combo.currentData()
        self.context.runner.submit(
            _in_session(
                self.context,
                lambda s: (
                    catalog.list_price_lists(session=s, currency=currency),
                    sorted({r.currency for r in catalog.list_price_lists(session=s)}),
                ),
            ),
            on_done=self._on_lists_loaded,
            on_error=while_alive(self, lambda e: _show_error(self, e)),
        )

    def _on_lists_loaded(self, result: tuple[list[PriceListRow], list[str]]) -> None:
        rows, currencies = result
        previous = self.selected_list()
        self.currency_combo.blockSignals(True)  # refilling must not trigger another reload
        current = self.currency_combo.currentData()
        self.currency_combo.clear()
        self.currency_combo.addItem("All currencies", None)
        for code in currencies:
            self.currency_combo.addItem(code, code)
        self.currency_combo.setCurrentIndex(max(0, self.currency_combo.findData(current)))
        self.currency_combo.blockSignals(False)
        self.lists_model.set_rows(rows)
        self.lists_table.resizeColumnsToContents()
        keep = next((i for i, r in enumerate(rows) if previous and r.id == previous.id), 0)
        if rows:
            self.lists_table.selectRow(keep)
        else:
            self.prices_model.set_rows([])
        self._update_buttons()
        self.price_lists_loaded.emit(len(rows))

    def on_lists_table_selection_changed(self, *_args: object) -> None:
        """Show the prices of the newly selected list."""
        self._update_buttons()
        self.reload_prices()

    def reload_prices(self) -> None:
        """Fetch the selected list's prices on the worker."""
        selected = self.selected_list()
        if selected is None:
            self.prices_model.set_rows([])
            self.prices_title.setText("Select a price list")
            return
        self.prices_title.setText(f"Prices on {selected.name} ({selected.currency})")
        list_id = selected.id
        self.context.runner.submit(
            _in_session(
                self.context, lambda s: catalog.list_prices(session=s, price_list_id=list_id)
            ),
            on_done=self._on_prices_loaded,
            on_error=while_alive(self, lambda e: _show_error(self, e)),
        )

    def _on_prices_loaded(self, rows: list[PriceRow]) -> None:
        self.prices_model.set_rows(rows)
        self.prices_table.resizeColumnsToContents()
        self.prices_table.selectionModel().selectionChanged.connect(
            self._update_buttons, Qt.ConnectionType.UniqueConnection
        )
        self._update_buttons()
        self.prices_loaded.emit(len(rows))

    def on_new_button_clicked(self) -> None:
        """Create a price list."""
        self._edit(None)

    def on_edit_button_clicked(self, *_args: object) -> None:
        """Edit the selected price list."""
        selected = self.selected_list()
        if selected is not None:
            self._edit(selected)

    def _edit(self, price_list: PriceListRow | None) -> None:
        dialog = PriceListDialog(price_list, self)
        if dialog.exec() != QDialog.DialogCode.Accepted:
            return
        self.save_list(price_list.id if price_list else None, dialog.values())

    def save_list(self, price_list_id: uuid.UUID | None, values: dict[str, Any]) -> None:
        """Save a price list on the worker, then reload."""
        self.context.runner.submit(
            _in_session(
                self.context,
                lambda s: catalog.save_price_list(session=s, price_list_id=price_list_id, **values),
            ),
            on_done=while_alive(self, lambda _id: self._on_saved()),
            on_error=while_alive(self, lambda e: _show_error(self, e)),
        )

    def _on_saved(self) -> None:
        self.context.notify_changed("price_list")
        self.reload()

    def on_set_price_button_clicked(self) -> None:
        """Pick a product by code or name and type its price on the selected list."""
        selected = self.selected_list()
        if selected is None:
            return
        code, ok = QInputDialog.getText(self, "Set price", "Product code or name:")
        if not ok or not code.strip():
            return
        list_id = selected.id
        self.context.runner.submit(
            _in_session(
                self.context,
                lambda s: catalog.pick_products(session=s, search=code, price_list_id=list_id),
            ),
            on_done=self._on_price_candidates,
            on_error=while_alive(self, lambda e: _show_error(self, e)),
        )

    def _on_price_candidates(self, picks: list[ProductPick]) -> None:
        if not picks:
            QMessageBox.information(self, "Set price", "No active product matches.")
            return
        labels = [f"{p.code} — {p.name}" for p in picks]
        label, ok = QInputDialog.getItem(self, "Set price", "Product:", labels, 0, False)
        if not ok:
            return
        pick = picks[labels.index(label)]
        self._ask_price(pick.id, pick.name, pick.unit_price)

    def on_prices_table_double_clicked(self, index: Any) -> None:
        """Change the price of the double-clicked product."""
        row = self.prices_model.row_at(index.row())
        self._ask_price(row.product_id, row.name, row.unit_price)

    def _ask_price(self, product_id: uuid.UUID, name: str, current: Decimal | None) -> None:
        text, ok = QInputDialog.getText(
            self,
            "Set price",
            f"Unit price of {name} ({self._currency()}):",
            text="" if current is None else format(current, "f"),
        )
        if not ok:
            return
        try:
            price = catalog.parse_decimal("unit_price", text)
        except ServiceError as error:
            _show_error(self, error)
            return
        self.set_price(product_id, price)

    def set_price(self, product_id: uuid.UUID, price: Decimal | None) -> None:
        """Put a product on the selected list at ``price`` (``None`` takes it off)."""
        selected = self.selected_list()
        if selected is None:
            return
        list_id = selected.id
        self.context.runner.submit(
            _in_session(
                self.context,
                lambda s: catalog.set_price(
                    session=s, price_list_id=list_id, product_id=product_id, unit_price=price
                ),
            ),
            on_done=while_alive(self, lambda _r: self._on_saved()),
            on_error=while_alive(self, lambda e: _show_error(self, e)),
        )

    def on_remove_price_button_clicked(self) -> None:
        """Take the selected product off the list."""
        rows = self.prices_table.selectionModel().selectedRows()
        if rows:
            self.set_price(self.prices_model.row_at(rows[0].row()).product_id, None)


class CatalogView(QWidget):
    """The catalog screen for the main window's navigation: ``CatalogView(context)``.

    Loads on first show and whenever another screen (or sync) reports product or price changes.
    """

    def __init__(self, context: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.context = context
        self.tabs = QTabWidget()
        self.products = ProductsTab(context)
        self.price_lists = PriceListsTab(context)
        self.tabs.addTab(self.products, "Products")
        self.tabs.addTab(self.price_lists, "Price lists")
        layout = QVBoxLayout(self)
        layout.addWidget(self.tabs)
        self._loaded = False
        context.data_changed.connect(self.on_context_data_changed)

    def showEvent(self, event: Any) -> None:
        """Load lazily: a screen never shown costs no query at start-up."""
        super().showEvent(event)
        if not self._loaded:
            self.reload()

    def reload(self) -> None:
        """Reload both tabs."""
        self._loaded = True
        self.products.reload()
        self.price_lists.reload()

    def on_context_data_changed(self, entity: str) -> None:
        """Refresh after catalog changes made elsewhere (another screen, sync)."""
        if self._loaded and entity in {"product", "price_list", "price"}:
            self.reload()
