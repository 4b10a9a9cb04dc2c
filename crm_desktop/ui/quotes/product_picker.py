"""Search-as-you-type product picker of the quote editor.

Typing runs a (debounced) catalog search on the store worker; the matches show in a list right
under the field with their price on the quote's price list. Enter or a click adds the
highlighted product; Down/Up move through the list without leaving the field, so a salesperson
can add "pump", Enter, "valve", Enter without touching the mouse.
"""

from __future__ import annotations

import uuid

from PySide6.QtCore import QEvent, QObject, Qt, Signal
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import QListWidget, QListWidgetItem, QVBoxLayout, QWidget

from crm_desktop.printing.quote_data import format_amount
from crm_desktop.services.catalog import ProductPick
from crm_desktop.ui.catalog.rows_model import while_alive
from crm_desktop.ui.context import AppContext
from crm_desktop.ui.quotes import operations
from crm_desktop.ui.widgets.search_box import SearchBox

_PICK_ROLE = Qt.ItemDataRole.UserRole + 1


class ProductPicker(QWidget):
    """A search field with a result list under it.

    Signals:
        results_shown(int): a search finished and this many products are listed.
        product_picked(object): the user chose a product (a :class:`ProductPick`).
    """

    results_shown = Signal(int)
    product_picked = Signal(object)

    def __init__(self, context: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.context = context
        self.price_list_id: uuid.UUID | None = None
        self.currency = "EUR"
        self.search_edit = SearchBox("Add product: type code or name, Enter to add…")
        self.results = QListWidget()
        self.results.setMaximumHeight(150)
        self.results.hide()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addWidget(self.search_edit)
        layout.addWidget(self.results)
        self.search_edit.search_requested.connect(self._search)
        self._generation = 0
        self.search_edit.textChanged.connect(self.on_search_edit_text_changed)
        self.search_edit.installEventFilter(self)
        self.results.itemActivated.connect(self.on_results_item_activated)
        self.results.itemClicked.connect(self.on_results_item_activated)

    def set_price_list(self, price_list_id: uuid.UUID | None, currency: str) -> None:
        """Prices shown (and taken) from this list from now on."""
        self.price_list_id = price_list_id
        self.currency = currency

    def on_search_edit_text_changed(self, text: str) -> None:
        """An empty field hides the list (the search box debounces the rest)."""
        if not text.strip():
            self.search_edit.cancel()
            self._generation += 1  # a late result for the old text must not reopen the list
            self.results.clear()
            self.results.hide()

    def _search(self) -> None:
        self._generation += 1
        generation = self._generation
        text = self.search_edit.text()
        price_list_id = self.price_list_id
        store = self.context.store
        self.context.runner.submit(
            lambda: operations.pick_products(store, text, price_list_id),
            on_done=while_alive(self, lambda picks: self._on_results(generation, picks)),
        )

    def _on_results(self, generation: int, picks: list[ProductPick]) -> None:
        if generation != self._generation:
            return  # typed on meanwhile: only the newest search may fill the list
        self.results.clear()
        for pick in picks:
            price = (
                format_amount(pick.unit_price, self.currency)
                if pick.unit_price is not None
                else "no list price"
            )
            item = QListWidgetItem(f"{pick.code}  {pick.name}  —  {price} / {pick.unit}")
            item.setData(_PICK_ROLE, pick)
            self.results.addItem(item)
        if picks:
            self.results.setCurrentRow(0)
        self.results.setVisible(bool(picks))
        self.results_shown.emit(len(picks))

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        """Enter picks, Up/Down move through the results, Escape closes them."""
        if watched is self.search_edit and event.type() == QEvent.Type.KeyPress:
            assert isinstance(event, QKeyEvent)
            key = event.key()
            if key in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
                item = self.results.currentItem()
                if self.results.isVisible() and item is not None:
                    self.on_results_item_activated(item)
                return True
            if key in (Qt.Key.Key_Down, Qt.Key.Key_Up) and self.results.count():
                step = 1 if key == Qt.Key.Key_Down else -1
                row = (self.results.currentRow() + step) % self.results.count()
                self.results.setCurrentRow(row)
                return True
            if key == Qt.Key.Key_Escape and self.results.isVisible():
                self.results.hide()
                return True
        return super().eventFilter(watched, event)

    def on_results_item_activated(self, item: QListWidgetItem) -> None:
        """Add the chosen product and get ready for the next one."""
        pick = item.data(_PICK_ROLE)
        self.search_edit.clear()
        self.product_picked.emit(pick)
