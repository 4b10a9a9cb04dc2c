"""The catalog screen: search as you type, inactive filter, price lists per currency, prices."""

from __future__ import annotations

import os
import uuid
from decimal import Decimal
from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot
from quotes.seed import seed_quote_world

from crm_desktop.services import catalog
from crm_desktop.store import Store
from crm_desktop.ui.catalog import CatalogView
from crm_desktop.ui.context import AppContext


@pytest.fixture
def world(store: Store) -> dict[str, uuid.UUID]:
    with store.sessions.begin() as session:
        return seed_quote_world(session)


@pytest.fixture
def view(qtbot: QtBot, ui_context: AppContext, world: dict[str, uuid.UUID]) -> CatalogView:
    widget = CatalogView(ui_context)
    qtbot.addWidget(widget)
    widget.resize(1000, 560)
    with qtbot.waitSignal(widget.products.products_loaded, timeout=5000):
        widget.show()
    return widget


def _codes(view: CatalogView) -> list[str]:
    return [p.code for p in view.products.model.rows()]


def test_search_as_you_type_and_inactive_filter(qtbot: QtBot, view: CatalogView) -> None:
    assert len(_codes(view)) == 8
    with qtbot.waitSignal(view.products.products_loaded, timeout=5000):
        qtbot.keyClicks(view.products.search_edit, "pump")
    assert _codes(view) == ["OLD-PMP", "PMP-100", "PMP-250"]
    with qtbot.waitSignal(view.products.products_loaded, timeout=5000):
        view.products.inactive_check.setChecked(False)
    assert _codes(view) == ["PMP-100", "PMP-250"]


def test_saving_a_product_reloads_and_notifies(
    qtbot: QtBot, view: CatalogView, ui_context: AppContext, store: Store
) -> None:
    with (
        qtbot.waitSignal(ui_context.data_changed, timeout=5000),
        qtbot.waitSignal(view.products.products_loaded, timeout=5000),
    ):
        view.products.save(
            None,
            {
                "code": "FLT-10",
                "name": "过滤器 Filter cartridge",
                "unit": "pcs",
                "default_tax_rate": Decimal(13),
            },
        )
    assert "FLT-10" in _codes(view)
    with store.sessions() as session:
        found = catalog.list_products(session=session, search="过滤器")
    assert [p.code for p in found] == ["FLT-10"]


def test_price_lists_by_currency_and_their_prices(
    qtbot: QtBot, view: CatalogView, world: dict[str, uuid.UUID]
) -> None:
    tab = view.price_lists
    view.tabs.setCurrentWidget(tab)
    qtbot.waitUntil(lambda: len(tab.lists_model.rows()) == 5, timeout=5000)
    qtbot.waitUntil(lambda: tab.currency_combo.count() == 5, timeout=5000)
    with qtbot.waitSignal(tab.price_lists_loaded, timeout=5000):
        tab.currency_combo.setCurrentIndex(tab.currency_combo.findData("KWD"))
    qtbot.waitUntil(lambda: len(tab.prices_model.rows()) == 3, timeout=5000)
    assert tab.prices_table.model().index(0, 3).data() == "365.125"
    with qtbot.waitSignal(tab.prices_loaded, timeout=5000):
        tab.set_price(world["product_PMP-100"], Decimal("370"))
    qtbot.waitUntil(lambda: tab.prices_model.rows()[0].unit_price == Decimal(370), timeout=5000)
    assert tab.prices_table.model().index(0, 3).data() == "370.000"
    screenshot = os.environ.get("CRM_SCREENSHOT_DIR")
    if screenshot:
        view.grab().save(str(Path(screenshot) / "catalog-price-lists.png"))
        view.tabs.setCurrentWidget(view.products)
        view.products.table.selectRow(1)
        view.grab().save(str(Path(screenshot) / "catalog-products.png"))


def test_product_dialog_rejects_a_bad_tax_rate(qtbot: QtBot) -> None:
    from crm_desktop.ui.catalog.catalog_view import ProductDialog

    dialog = ProductDialog()
    qtbot.addWidget(dialog)
    dialog.tax_edit.setText("abc")
    dialog.on_buttons_accepted()
    assert "not a number" in dialog.error_label.text()
    assert dialog.result() != dialog.DialogCode.Accepted
    dialog.tax_edit.setText("7,5")
    assert dialog.values()["default_tax_rate"] == Decimal("7.5")
