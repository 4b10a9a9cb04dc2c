"""The quotes list, the standalone editor, and the expiry watcher."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QWidget
from pytestqt.qtbot import QtBot
from quotes.seed import seed_quote_world

from crm_desktop.models import Quote
from crm_desktop.models.enums import QuoteStatus
from crm_desktop.services import quotes as quote_service
from crm_desktop.store import Store
from crm_desktop.ui.context import AppContext
from crm_desktop.ui.quotes import (
    OpportunityQuotesWidget,
    QuoteEditor,
    QuoteExpiryWatcher,
    QuotesView,
)
from crm_desktop.ui.quotes.quote_editor import combo_index

SCREENSHOTS = os.environ.get("CRM_SCREENSHOT_DIR")


@pytest.fixture
def world(store: Store, ui_context: AppContext) -> dict[str, uuid.UUID]:
    """The seeded world plus three quotes: a draft, a sent one that has run out, an accepted one."""
    with store.sessions.begin() as session:
        ids = seed_quote_world(session)
        made = []
        for discount, valid in (("0", 30), ("5", -1), ("12.5", 10)):
            created = quote_service.create_quote(
                session=session,
                opportunity_id=ids["opportunity"],
                price_list_id=ids["list_cny"],
                discount_percent=discount,
                valid_until=date.today() + timedelta(days=valid),
            )
            quote_service.add_line(
                session=session,
                quote_id=created.quote_id,
                product_id=ids["product_PMP-250"],
                quantity=2,
            )
            made.append(created.quote_id)
        quote_service.send_quote(session=session, quote_id=made[1])
        quote_service.send_quote(session=session, quote_id=made[2])
        quote_service.accept_quote(session=session, quote_id=made[2], today=date.today())
        ids.update({"draft": made[0], "overdue": made[1], "accepted": made[2]})
    ui_context.current_user_id = ids["rep"]
    return ids


def test_list_filters_by_status_and_text_and_opens_quotes(
    qtbot: QtBot,
    ui_context: AppContext,
    world: dict[str, uuid.UUID],
    ime_commit: Callable[[QWidget, str], None],
) -> None:
    view = QuotesView(ui_context)
    qtbot.addWidget(view)
    view.resize(1100, 400)
    with qtbot.waitSignal(view.quotes_loaded, timeout=5000):
        view.show()
    assert len(view.model.rows()) == 3
    if SCREENSHOTS:
        QApplication.sendPostedEvents()
        view.grab().save(str(Path(SCREENSHOTS) / "quotes-list.png"))
    with qtbot.waitSignal(view.quotes_loaded, timeout=5000):
        view.status_combo.setCurrentIndex(view.status_combo.findData("accepted"))
    assert [r.id for r in view.model.rows()] == [world["accepted"]]
    with qtbot.waitSignal(view.quotes_loaded, timeout=5000):
        view.status_combo.setCurrentIndex(0)
    with qtbot.waitSignal(view.quotes_loaded, timeout=5000):
        ime_commit(view.search_edit, "腾飞")
    assert len(view.model.rows()) == 3
    with qtbot.waitSignal(view.quotes_loaded, timeout=5000):
        qtbot.keyClicks(view.search_edit, " nothing-like-this")
    assert view.model.rows() == []

    requested: list[tuple[str, object]] = []
    ui_context.record_requested.connect(lambda entity, rid: requested.append((entity, rid)))
    qtbot.mouseClick(view.new_button, Qt.MouseButton.LeftButton)
    assert requested == [("quote", None)]


def test_expiry_watcher_marks_overdue_quotes_and_lists_refresh(
    qtbot: QtBot, ui_context: AppContext, store: Store, world: dict[str, uuid.UUID]
) -> None:
    view = QuotesView(ui_context)
    qtbot.addWidget(view)
    with qtbot.waitSignal(view.quotes_loaded, timeout=5000):
        view.show()
    with (
        qtbot.waitSignal(ui_context.data_changed, timeout=5000),
        qtbot.waitSignal(view.quotes_loaded, timeout=5000),
    ):
        watcher = QuoteExpiryWatcher(ui_context)
    assert watcher.timer.isActive()
    statuses = {r.id: r.status for r in view.model.rows()}
    assert statuses[world["overdue"]] == "expired"
    assert statuses[world["draft"]] == "draft"
    assert statuses[world["accepted"]] == "accepted"
    # A later run on the same data expires nothing more.
    with qtbot.waitSignal(watcher.run_finished, timeout=5000) as finished:
        watcher.run()
    assert finished.args == [0]
    # The day after the draft's last valid day, it expires too.
    with qtbot.waitSignal(watcher.quotes_expired, timeout=5000) as expired:
        watcher.run(date.today() + timedelta(days=31))
    assert expired.args == [(world["draft"],)]
    with store.sessions() as session:
        quote = session.get(Quote, world["draft"])
        assert quote is not None and quote.status == QuoteStatus.EXPIRED


def test_standalone_quote_finds_its_customer_by_chinese_name(
    qtbot: QtBot,
    ui_context: AppContext,
    store: Store,
    world: dict[str, uuid.UUID],
    ime_commit: Callable[[QWidget, str], None],
) -> None:
    editor = QuoteEditor(ui_context)
    qtbot.addWidget(editor)
    editor.resize(1200, 700)
    editor.show()
    qtbot.waitUntil(lambda: editor.data is not None, timeout=5000)
    assert editor.customer_box.isVisible()
    editor.account_search.setFocus()
    ime_commit(editor.account_search, "腾飞")
    with qtbot.waitSignal(ui_context.runner.busy_changed, timeout=5000):
        qtbot.keyClick(editor.account_search, Qt.Key.Key_Return)
    qtbot.waitUntil(
        lambda: (
            editor.header is not None
            and editor.header.account_id == world["account"]
            and editor.contact_combo.count() == 2
        ),
        timeout=5000,
    )
    # No opportunity to take the currency from: the salesperson picks the yuan list first.
    editor.price_list_combo.setCurrentIndex(combo_index(editor.price_list_combo, world["list_cny"]))
    with qtbot.waitSignal(editor.picker.results_shown, timeout=5000):
        qtbot.keyClicks(editor.picker.search_edit, "maint")
    qtbot.keyClick(editor.picker.search_edit, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: len(editor.lines) == 1, timeout=5000)
    # 12,000.00 at 6 % tax.
    assert editor.totals_labels["total"].text() == "12,720.00 CNY"
    assert editor.totals_captions["tax"].text() == "Tax 6 %"
    with qtbot.waitSignal(editor.saved, timeout=5000):
        qtbot.mouseClick(editor.save_button, Qt.MouseButton.LeftButton)
    assert editor.header is not None and editor.header.id is not None
    with store.sessions() as session:
        quote = session.get(Quote, editor.header.id)
        assert quote is not None
        assert (quote.account_id, quote.opportunity_id) == (world["account"], None)
        assert quote.total == Decimal("12720.00")


def test_opportunity_quotes_list_and_new_quote_request(
    qtbot: QtBot, ui_context: AppContext, world: dict[str, uuid.UUID]
) -> None:
    widget = OpportunityQuotesWidget(ui_context, world["opportunity"])
    qtbot.addWidget(widget)
    qtbot.waitUntil(lambda: len(widget.model.rows()) == 3, timeout=5000)
    with qtbot.waitSignal(widget.new_quote_requested, timeout=1000) as requested:
        qtbot.mouseClick(widget.new_button, Qt.MouseButton.LeftButton)
    assert requested.args == [world["opportunity"]]
    # The main window answers with an editor for the opportunity.
    editor = QuoteEditor.for_opportunity(ui_context, requested.args[0])
    qtbot.addWidget(editor)
    qtbot.waitUntil(lambda: editor.data is not None, timeout=5000)
    assert editor.header is not None and editor.header.opportunity_id == world["opportunity"]
