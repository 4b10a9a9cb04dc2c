"""The main window as a user meets it: areas, shortcuts, record tabs, search, first run, state."""

from __future__ import annotations

import sys
import types
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import shiboken6
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QWidget
from pytestqt.qtbot import QtBot

from crm_desktop.config import Profile
from crm_desktop.models import Account, User
from crm_desktop.store import Store
from crm_desktop.ui import main_window as main_window_module
from crm_desktop.ui.context import AppContext
from crm_desktop.ui.list_views import RecordListView
from crm_desktop.ui.main_window import AREAS, MainWindow

WindowFactory = Callable[[], MainWindow]


@pytest.fixture
def make_window(
    qtbot: QtBot, store: Store, profile: Profile, ui_context: AppContext
) -> Iterator[WindowFactory]:
    """Build main windows on the test's store, shown and active like on a desktop."""

    windows: list[MainWindow] = []

    def make() -> MainWindow:
        window = MainWindow(store=store, profile=profile, context=ui_context)
        qtbot.addWidget(window)
        windows.append(window)
        window.show()
        qtbot.waitExposed(window)
        window.activateWindow()
        qtbot.waitUntil(lambda: window.navigation.currentRow() >= 0 or window.first_run is not None)
        return window

    yield make
    # As the app does on quit: let queued work finish, then stop timers and the worker.
    # (pytest-qt has usually closed and deleted the windows by now; their timers went with them.)
    qtbot.waitUntil(lambda: ui_context.runner.pending == 0, timeout=10_000)
    for window in windows:
        if shiboken6.isValid(window):
            window.close()
            window.shutdown()


@dataclass
class FakePages:
    """Stands in for ui.records until its pages exist: records what was asked for."""

    opened: list[tuple[str, uuid.UUID | None]]

    def create(
        self,
        context: AppContext,
        entity: str,
        record_id: uuid.UUID | None,
        parent: QWidget | None,
        defaults: object = None,
    ) -> QWidget:
        self.opened.append((entity, record_id))
        page = QLabel(f"{entity} {record_id}", parent)
        page.setWindowTitle(f"{entity.title()} page")
        return page


@pytest.fixture
def fake_pages(monkeypatch: pytest.MonkeyPatch) -> FakePages:
    pages = FakePages([])
    monkeypatch.setattr(main_window_module, "_record_page_factory", lambda: pages.create)
    return pages


def _current_list(window: MainWindow) -> RecordListView:
    widget = window.current_area_widget()
    assert isinstance(widget, RecordListView)
    return widget


def test_opens_on_contacts_with_rows_and_signed_out_sync_state(
    qtbot: QtBot, make_window: WindowFactory, sample_records: dict[str, Any]
) -> None:
    window = make_window()
    contacts = _current_list(window)
    assert contacts.entity == "contact"
    qtbot.waitUntil(lambda: contacts.model.total == 4)
    assert window.status.sync.text == "Not signed in"
    assert not window.sync_now_action.isEnabled()  # nothing to sync with until signed in
    qtbot.waitUntil(lambda: window.status.summary.text() == "4 contacts")
    assert window.first_run is None


def test_navigation_by_click_and_by_ctrl_number(
    qtbot: QtBot, make_window: WindowFactory, sample_records: dict[str, Any]
) -> None:
    window = make_window()
    rect = window.navigation.visualItemRect(window.navigation.item(0))
    with qtbot.waitSignal(window.area_shown) as shown:
        qtbot.mouseClick(window.navigation.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert shown.args == ["account"]
    qtbot.waitUntil(lambda: _current_list(window).model.total == 3)
    with qtbot.waitSignal(window.area_shown) as shown:
        qtbot.keyClick(window, Qt.Key.Key_4, Qt.KeyboardModifier.ControlModifier)
    assert shown.args == ["opportunity"]
    with qtbot.waitSignal(window.area_shown) as shown:
        qtbot.keyClick(window, Qt.Key.Key_5, Qt.KeyboardModifier.ControlModifier)
    assert shown.args == ["pipeline"]
    assert window.navigation.currentItem().text() == "Pipeline"


def test_ctrl_k_search_opens_the_record_in_a_tab(
    qtbot: QtBot, make_window: WindowFactory, fake_pages: FakePages, sample_records: dict[str, Any]
) -> None:
    window = make_window()
    qtbot.keyClick(window, Qt.Key.Key_K, Qt.KeyboardModifier.ControlModifier)
    assert window.search_popup.isVisible()
    assert window.search_popup.edit.hasFocus()
    with qtbot.waitSignal(window.search_popup.results_shown):
        qtbot.keyClicks(window.search_popup.edit, "globex")
    qtbot.waitUntil(lambda: window.search_popup.edit.text() == "globex")
    with qtbot.waitSignal(window.record_opened) as opened:
        qtbot.keyClick(window.search_popup.edit, Qt.Key.Key_Return)
    assert opened.args == ["account", sample_records["globex"]]
    assert not window.search_popup.isVisible()
    assert window.record_tabs.isVisible()
    assert window.record_tabs.tabText(0) == "Account page"


def test_record_tabs_reuse_close_and_hide(
    qtbot: QtBot, make_window: WindowFactory, fake_pages: FakePages, sample_records: dict[str, Any]
) -> None:
    window = make_window()
    contacts = _current_list(window)
    qtbot.waitUntil(lambda: contacts.model.rowCount() == 4)
    contacts.table.setFocus()
    contacts.table.setCurrentIndex(contacts.model.index(0, 0))
    qtbot.keyClick(contacts.table, Qt.Key.Key_Return)
    contacts.table.setCurrentIndex(contacts.model.index(1, 0))
    qtbot.keyClick(contacts.table, Qt.Key.Key_Return)
    contacts.table.setCurrentIndex(contacts.model.index(0, 0))
    qtbot.keyClick(contacts.table, Qt.Key.Key_Return)  # already open: brought forward
    assert window.record_tabs.count() == 2
    assert window.record_tabs.currentIndex() == 0
    assert fake_pages.opened == [
        ("contact", sample_records["john"]),
        ("contact", sample_records["maria"]),
    ]
    qtbot.keyClick(window, Qt.Key.Key_N, Qt.KeyboardModifier.ControlModifier)  # new contact
    assert window.record_tabs.count() == 3
    assert fake_pages.opened[-1] == ("contact", None)
    for _ in range(3):
        qtbot.keyClick(window, Qt.Key.Key_W, Qt.KeyboardModifier.ControlModifier)
    assert window.record_tabs.count() == 0
    assert window.record_tabs.isHidden()


def test_geometry_area_and_columns_are_remembered(
    qtbot: QtBot, make_window: WindowFactory, sample_records: dict[str, Any]
) -> None:
    window = make_window()
    window.resize(701, 503)
    window.show_area("lead")
    _current_list(window).table.horizontalHeader().resizeSection(1, 321)
    window.close()
    again = make_window()
    assert again.current_area.key == "lead"
    assert (again.width(), again.height()) == (701, 503)
    assert _current_list(again).table.horizontalHeader().sectionSize(1) == 321


def test_first_run_start_empty(qtbot: QtBot, make_window: WindowFactory) -> None:
    window = make_window()
    qtbot.waitUntil(lambda: window.first_run is not None)
    page = window.first_run
    assert page is not None
    assert window.areas.currentWidget() is page
    assert not window.navigation.isEnabled()
    assert page.connect_button.isEnabled()  # opens the sign-in dialog (tests/sync)
    qtbot.mouseClick(page.empty_button, Qt.MouseButton.LeftButton)
    assert window.first_run is None
    assert window.navigation.isEnabled()
    contacts = _current_list(window)
    qtbot.waitUntil(lambda: contacts.count_label.text() == "No contacts yet")
    window.close()
    again = make_window()
    assert again.first_run is None


def test_first_run_loads_demo_data_on_the_worker(
    qtbot: QtBot, make_window: WindowFactory, monkeypatch: pytest.MonkeyPatch, profile: Profile
) -> None:
    # The generator is another module's; a tiny stand-in with its signature proves the wiring.
    def generate(*, session: Any, contacts: int, seed: int, today: Any) -> Any:
        user = User(username="rep1", full_name="Rep One")
        session.add(user)
        session.add_all(Account(name=f"Demo {i}", owner_id=user.id) for i in range(3))
        session.flush()
        return types.SimpleNamespace(current_user_id=user.id, counts={"accounts": 3})

    fake = types.ModuleType("crm_desktop.services.demo_data")
    fake.generate = generate  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "crm_desktop.services.demo_data", fake)
    monkeypatch.setattr("crm_desktop.ui.first_run.demo_data_available", lambda: True)
    window = make_window()
    qtbot.waitUntil(lambda: window.first_run is not None)
    page = window.first_run
    assert page is not None
    assert page.demo_button.isEnabled()
    with qtbot.waitSignal(page.finished, timeout=10_000) as finished:
        qtbot.mouseClick(page.demo_button, Qt.MouseButton.LeftButton)
        assert page.progress.isVisible()
    assert finished.args == ["demo"]
    assert window.context.current_user_id is not None
    assert profile.settings().current_user_id == window.context.current_user_id
    window.show_area("account")
    qtbot.waitUntil(lambda: _current_list(window).model.total == 3)


def test_every_area_builds(
    qtbot: QtBot, make_window: WindowFactory, sample_records: dict[str, Any]
) -> None:
    window = make_window()
    for area in AREAS:
        with qtbot.waitSignal(window.area_shown):
            window.show_area(area.key)
        assert window.current_area_widget() is window.area_widget(area.key)


def test_record_pages_open_in_tabs_titled_by_the_record(
    qtbot: QtBot, make_window: WindowFactory, sample_records: dict[str, Any]
) -> None:
    window = make_window()
    contacts = _current_list(window)
    qtbot.waitUntil(lambda: contacts.model.rowCount() == 4)
    contacts.table.setFocus()
    contacts.table.setCurrentIndex(contacts.model.index(1, 0))
    with qtbot.waitSignal(window.record_opened):
        qtbot.keyClick(contacts.table, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: "Maria Garcia" in window.record_tabs.tabText(0), timeout=10_000)
    assert window.record_tabs.isVisible()
    # Ctrl+F in the list still filters, with a record open beside it.
    contacts.table.setFocus()
    qtbot.keyClick(contacts.table, Qt.Key.Key_F, Qt.KeyboardModifier.ControlModifier)
    assert contacts.quick_filter.hasFocus()
    qtbot.waitUntil(lambda: ui_is_idle(window), timeout=10_000)


def ui_is_idle(window: MainWindow) -> bool:
    """No store work queued or running for this window."""
    return window.context.runner.pending == 0


def test_quotes_area_and_a_new_quote_in_a_tab(
    qtbot: QtBot, make_window: WindowFactory, sample_records: dict[str, Any]
) -> None:
    window = make_window()
    with qtbot.waitSignal(window.area_shown) as shown:
        qtbot.keyClick(window, Qt.Key.Key_7, Qt.KeyboardModifier.ControlModifier)
    assert shown.args == ["quote"]
    with qtbot.waitSignal(window.record_opened) as opened:
        qtbot.keyClick(window, Qt.Key.Key_N, Qt.KeyboardModifier.ControlModifier)
    assert opened.args == ["quote", None]
    assert window.record_tabs.count() == 1
    qtbot.waitUntil(lambda: ui_is_idle(window), timeout=10_000)


def test_search_popup_closes_when_the_user_clicks_elsewhere(
    qtbot: QtBot, make_window: WindowFactory, sample_records: dict[str, Any]
) -> None:
    window = make_window()
    contacts = _current_list(window)
    qtbot.waitUntil(lambda: contacts.model.rowCount() == 4)
    qtbot.keyClick(window, Qt.Key.Key_K, Qt.KeyboardModifier.ControlModifier)
    assert window.search_popup.isVisible()
    qtbot.mouseClick(contacts.quick_filter, Qt.MouseButton.LeftButton)
    assert not window.search_popup.isVisible()


def test_the_app_window_runs_reminders_and_quote_expiry(
    qtbot: QtBot,
    store: Store,
    profile: Profile,
    ui_context: AppContext,
    sample_records: dict[str, Any],
) -> None:
    window = MainWindow(store=store, profile=profile, context=ui_context, background=True)
    qtbot.addWidget(window)
    window.show()
    assert window.reminders is None  # started after the first rows, not before
    qtbot.waitUntil(lambda: window.reminders is not None, timeout=10_000)
    assert window.expiry_watcher is not None
    with qtbot.waitSignal(window.area_shown):
        window.show_area("calendar")
    qtbot.waitUntil(lambda: ui_is_idle(window), timeout=10_000)
    window.shutdown()


def test_closing_the_window_ends_the_sync_thread(qtbot: QtBot, make_window: WindowFactory) -> None:
    window = make_window()
    thread = window.sync.sync_thread
    assert thread.is_running()
    assert window.status.sync.text == "Not signed in"
    assert [a.text() for a in window.menuBar().actions()][-1] == "&Sync"
    window.close()
    # Ended with the window: a running QThread destroyed with its owner would abort the app.
    assert not thread.is_running()


def test_new_quote_from_an_opportunity_and_its_order_on_the_account(
    qtbot: QtBot, make_window: WindowFactory, store: Store
) -> None:
    """From a deal's Quotes tab a new quote opens for that customer; an accepted quote's order
    is listed on the account's Orders tab."""
    from datetime import date
    from decimal import Decimal

    from quotes.seed import seed_quote_world

    from crm_desktop.services import quotes
    from crm_desktop.ui.quotes import AccountOrdersWidget, OpportunityQuotesWidget, QuoteEditor

    with store.sessions.begin() as session:
        ids = seed_quote_world(session)
        made = quotes.create_quote(session=session, account_id=ids["account"], currency="CNY")
        quotes.add_line(
            session=session,
            quote_id=made.quote_id,
            description="Commissioning",
            quantity=1,
            unit_price=Decimal("1200"),
        )
        quotes.send_quote(session=session, quote_id=made.quote_id)
        accepted = quotes.accept_quote(session=session, quote_id=made.quote_id, today=date.today())
    window = make_window()

    deal = window.open_record_page("opportunity", ids["opportunity"])
    assert deal is not None
    qtbot.waitUntil(lambda: getattr(deal, "quotes_panel", None) is not None, timeout=10_000)
    panel = deal.quotes_panel
    assert isinstance(panel, OpportunityQuotesWidget)
    with qtbot.waitSignal(window.record_opened) as opened:
        qtbot.mouseClick(panel.new_button, Qt.MouseButton.LeftButton)
    assert opened.args == ["quote", None]
    editor = window.current_record_page()
    assert isinstance(editor, QuoteEditor)
    # The new quote is for the deal's customer, not a blank one asking who the customer is.
    qtbot.waitUntil(lambda: "深圳腾飞科技有限公司" in editor.customer_label.text(), timeout=10_000)

    account = window.open_record_page("account", ids["account"])
    assert account is not None
    qtbot.waitUntil(lambda: getattr(account, "orders_panel", None) is not None, timeout=10_000)
    orders = account.orders_panel
    assert isinstance(orders, AccountOrdersWidget)
    qtbot.waitUntil(lambda: orders.model.rowCount() == 1, timeout=10_000)
    assert orders.model.row_at(0).number == accepted.order_number
    tab_titles = [account.tabs.tabText(i) for i in range(account.tabs.count())]
    assert "Orders (1)" in tab_titles
    qtbot.waitUntil(lambda: ui_is_idle(window), timeout=10_000)
