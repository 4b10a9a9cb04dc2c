"""The quote editor driven like a user: from an opportunity to an accepted quote and its order.

Totals are checked as the editor *shows* them and as Save *stores* them; the arithmetic itself
is the quote service's (tested in tests/services/test_quote_arithmetic.py).
"""

from __future__ import annotations

import os
import uuid
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from PySide6.QtCore import QDate, Qt
from PySide6.QtWidgets import QApplication, QLineEdit, QMessageBox, QWidget
from pytestqt.qtbot import QtBot
from quotes.seed import seed_quote_world
from sqlalchemy import select

from crm_desktop.models import Opportunity, Quote, QuoteLine, SalesOrder, SalesStage
from crm_desktop.printing.quote_data import format_amount, load_quote_document
from crm_desktop.services import quote_approval
from crm_desktop.services import quotes as quote_service
from crm_desktop.store import Store
from crm_desktop.ui.context import AppContext
from crm_desktop.ui.quotes import AccountOrdersWidget, QuoteEditor, SalesOrderPage
from crm_desktop.ui.quotes.quote_editor import (
    COL_DISCOUNT,
    COL_PRICE,
    COL_QTY,
    combo_index,
    mailto_url,
)

SCREENSHOTS = os.environ.get("CRM_SCREENSHOT_DIR")


@pytest.fixture
def world(store: Store, ui_context: AppContext) -> dict[str, uuid.UUID]:
    with store.sessions.begin() as session:
        ids = seed_quote_world(session)
    ui_context.current_user_id = ids["rep"]
    return ids


def shot(widget: QWidget, name: str) -> None:
    if SCREENSHOTS:
        # Deliver pending layout requests so the picture shows the final geometry.
        QApplication.sendPostedEvents()
        widget.grab().save(str(Path(SCREENSHOTS) / name))


def new_editor(
    qtbot: QtBot, context: AppContext, opportunity_id: uuid.UUID | None = None, **kwargs: object
) -> QuoteEditor:
    """A quote editor for an opportunity (or a stored quote via ``quote_id=``), loaded and shown."""
    if opportunity_id is not None:
        editor = QuoteEditor.for_opportunity(context, opportunity_id)
    else:
        editor = QuoteEditor(context, **kwargs)  # type: ignore[arg-type]
    qtbot.addWidget(editor)
    editor.resize(1200, 760)
    editor.show()
    # Loaded, and the follow-up work (the customer's contacts) delivered too.
    qtbot.waitUntil(lambda: editor.data is not None and context.runner.pending == 0, timeout=5000)
    return editor


def add_product(qtbot: QtBot, editor: QuoteEditor, text: str) -> None:
    """Type into the picker, wait for the matches, press Enter."""
    editor.picker.search_edit.setFocus()
    with qtbot.waitSignal(editor.picker.results_shown, timeout=5000):
        qtbot.keyClicks(editor.picker.search_edit, text)
    rows = len(editor.lines)
    qtbot.keyClick(editor.picker.search_edit, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: len(editor.lines) == rows + 1, timeout=5000)


def type_in_cell(qtbot: QtBot, editor: QuoteEditor, row: int, column: int, text: str) -> None:
    """Open the cell's editor as a double-click would, type over its text and press Enter."""
    table = editor.lines_table
    table.setFocus()
    table.setCurrentCell(row, column)
    table.editItem(table.item(row, column))
    qtbot.waitUntil(lambda: isinstance(QApplication.focusWidget(), QLineEdit), timeout=2000)
    line_edit = QApplication.focusWidget()
    assert isinstance(line_edit, QLineEdit)
    line_edit.selectAll()
    qtbot.keyClicks(line_edit, text)
    # Enter commits and closes the cell editor; let Qt delete it as the event loop would
    # between two keystrokes of a real user.
    with qtbot.waitSignal(line_edit.destroyed, timeout=2000):
        qtbot.keyClick(line_edit, Qt.Key.Key_Return)


def type_discount(qtbot: QtBot, editor: QuoteEditor, text: str) -> None:
    editor.discount_edit.setFocus()
    editor.discount_edit.selectAll()
    qtbot.keyClick(editor.discount_edit, Qt.Key.Key_Backspace)
    qtbot.keyClicks(editor.discount_edit, text)


def save(qtbot: QtBot, editor: QuoteEditor) -> None:
    with qtbot.waitSignal(editor.saved, timeout=5000):
        qtbot.mouseClick(editor.save_button, Qt.MouseButton.LeftButton)


def stored_quote(store: Store, quote_id: uuid.UUID) -> Quote:
    with store.sessions() as session:
        quote = session.get(Quote, quote_id)
        assert quote is not None
        return quote


def test_build_a_quote_from_an_opportunity_and_accept_it(
    qtbot: QtBot,
    ui_context: AppContext,
    store: Store,
    world: dict[str, uuid.UUID],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    editor = new_editor(qtbot, ui_context, world["opportunity"])
    assert editor.header is not None
    assert editor.header.currency == "CNY"
    assert editor.price_list_combo.currentText().startswith("Standard CNY")
    assert "深圳腾飞科技有限公司" in editor.customer_label.text()
    assert editor.contact_combo.currentText().startswith("张伟")

    add_product(qtbot, editor, "pump 100")
    add_product(qtbot, editor, "valve")
    assert [line.code for line in editor.lines] == ["PMP-100", "VLV-DN50"]
    assert editor.lines_table.item(0, COL_PRICE).text() == "8650.00"
    type_in_cell(qtbot, editor, 0, COL_QTY, "3")
    type_in_cell(qtbot, editor, 1, COL_QTY, "4")
    type_in_cell(qtbot, editor, 1, COL_DISCOUNT, "10")
    type_discount(qtbot, editor, "5")

    # 3 × 8650 = 25,950.00; 4 × 1,275.50 − 10 % = 4,591.80; subtotal 30,541.80;
    # 5 % quote discount 1,527.09; tax per rate on the discounted base (EN 16931):
    # 13 % of 29,014.71 = 3,771.9123 -> 3,771.91; total 32,786.62.
    labels = {key: label.text() for key, label in editor.totals_labels.items()}
    assert labels == {
        "subtotal": "30,541.80",
        "discount": "−1,527.09",
        "net": "29,014.71",
        "tax": "3,771.91",
        "total": "32,786.62 CNY",
    }
    assert editor.lines_table.item(1, 7).text() == "4,591.80"
    shot(editor, "quote-editor.png")

    save(qtbot, editor)
    assert editor.header.id is not None
    quote = stored_quote(store, editor.header.id)
    assert (quote.subtotal, quote.discount_total, quote.tax_total, quote.total) == (
        Decimal("30541.80"),
        Decimal("1527.09"),
        Decimal("3771.91"),
        Decimal("32786.62"),
    )
    assert not editor.dirty

    with qtbot.waitSignal(editor.status_changed, timeout=5000) as sent:
        qtbot.mouseClick(editor.send_button, Qt.MouseButton.LeftButton)
    assert sent.args == ["sent"]
    assert not editor.editable
    assert not editor.picker.isEnabled()

    monkeypatch.setattr(
        QMessageBox, "question", lambda *_args, **_kw: QMessageBox.StandardButton.Yes
    )
    with qtbot.waitSignal(editor.order_created, timeout=5000) as created:
        qtbot.mouseClick(editor.accept_button, Qt.MouseButton.LeftButton)
    order = created.args[0]
    assert order.total == Decimal("32786.62")
    assert order.number in editor.order_label.text()
    assert editor.open_order_button.isVisible()
    shot(editor, "quote-editor-accepted.png")

    with store.sessions() as session:
        opportunity = session.get(Opportunity, world["opportunity"])
        assert opportunity is not None
        stage = session.get(SalesStage, opportunity.stage_id)
        assert stage is not None and stage.is_won
        assert opportunity.amount == Decimal("29014.71")  # net of tax: revenue
        orders = list(session.scalars(select(SalesOrder)))
        assert [o.account_id for o in orders] == [world["account"]]

    requested: list[tuple[str, object]] = []
    ui_context.record_requested.connect(lambda entity, rid: requested.append((entity, rid)))
    qtbot.mouseClick(editor.open_order_button, Qt.MouseButton.LeftButton)
    assert requested == [("sales_order", order.id)]

    page = SalesOrderPage(ui_context, order.id)
    qtbot.addWidget(page)
    page.resize(1000, 400)
    with qtbot.waitSignal(page.loaded, timeout=5000):
        page.show()
    assert page.windowTitle() == f"Order {order.number}"
    assert [line.code for line in page.lines_model.rows()] == ["PMP-100", "VLV-DN50"]
    assert page.total_label.text() == "Total 32,786.62 CNY (incl. tax)"
    shot(page, "sales-order.png")

    orders_widget = AccountOrdersWidget(ui_context, world["account"])
    qtbot.addWidget(orders_widget)
    qtbot.waitUntil(lambda: len(orders_widget.model.rows()) == 1, timeout=5000)
    assert orders_widget.model.index(0, 4).data() == "32,786.62 CNY"


@pytest.mark.parametrize(
    ("currency", "code", "quantity", "line_discount", "quote_discount", "expected"),
    [
        # 3 × 178,000 − 7.5 % = 493,950; − 3 % = 479,131.5 -> 479,132 (JPY has no decimals).
        (
            "JPY",
            "PMP-100",
            "3",
            "7.5",
            "3",
            ("493,950", "−14,819", "479,131", "62,287", "541,418 JPY"),
        ),
        # 7 × 53.755 = 376.285 − 2.5 % = 366.877875 -> 366.878 (three decimals).
        (
            "KWD",
            "VLV-DN50",
            "7",
            "2.5",
            "0",
            ("366.878", "0.000", "366.878", "47.694", "414.572 KWD"),
        ),
        # A 0.005 yuan cable: 1 m rounds up to 0.01, 100 % quote discount leaves nothing to pay.
        ("CNY", "CBL-5M", "1", "0", "100", ("0.01", "−0.01", "0.00", "0.00", "0.00 CNY")),
    ],
)
def test_awkward_currencies_and_discounts_show_and_store_the_same_totals(
    qtbot: QtBot,
    ui_context: AppContext,
    store: Store,
    world: dict[str, uuid.UUID],
    currency: str,
    code: str,
    quantity: str,
    line_discount: str,
    quote_discount: str,
    expected: tuple[str, ...],
) -> None:
    editor = new_editor(qtbot, ui_context, world["opportunity"])
    editor.price_list_combo.setCurrentIndex(
        combo_index(editor.price_list_combo, world[f"list_{currency.lower()}"])
    )
    assert editor.header is not None and editor.header.currency == currency
    add_product(qtbot, editor, code)
    type_in_cell(qtbot, editor, 0, COL_QTY, quantity)
    type_in_cell(qtbot, editor, 0, COL_DISCOUNT, line_discount)
    type_discount(qtbot, editor, quote_discount)
    keys = ("subtotal", "discount", "net", "tax", "total")
    shown = tuple(editor.totals_labels[key].text() for key in keys)
    assert shown == expected
    save(qtbot, editor)
    assert editor.header.id is not None
    quote = stored_quote(store, editor.header.id)
    assert f"{format_amount(quote.total, currency)} {currency}" == expected[4]
    assert tuple(editor.totals_labels[key].text() for key in keys) == expected


def test_many_lines_total_as_shown_is_the_total_stored(
    qtbot: QtBot, ui_context: AppContext, store: Store, world: dict[str, uuid.UUID]
) -> None:
    editor = new_editor(qtbot, ui_context, world["opportunity"])
    for index in range(12):
        add_product(qtbot, editor, ["pump 100", "valve", "sensor", "installation"][index % 4])
        type_in_cell(qtbot, editor, index, COL_QTY, str(index + 1) + ".5")
        type_in_cell(qtbot, editor, index, COL_DISCOUNT, str(index % 3 * 3.3))
    type_discount(qtbot, editor, "2.5")
    shown_total = editor.totals_labels["total"].text()
    save(qtbot, editor)
    assert editor.header is not None and editor.header.id is not None
    quote = stored_quote(store, editor.header.id)
    assert f"{format_amount(quote.total, 'CNY')} CNY" == shown_total
    assert editor.totals_labels["total"].text() == shown_total
    with store.sessions() as session:
        count = len(list(session.scalars(select(QuoteLine).where(QuoteLine.quote_id == quote.id))))
    assert count == 12


def test_bad_input_is_refused_and_unpriced_products_need_a_price(
    qtbot: QtBot, ui_context: AppContext, world: dict[str, uuid.UUID]
) -> None:
    editor = new_editor(qtbot, ui_context, world["opportunity"])
    editor.price_list_combo.setCurrentIndex(combo_index(editor.price_list_combo, world["list_jpy"]))
    add_product(qtbot, editor, "PMP-250")  # not on the yen list
    assert editor.lines[0].list_price is None
    assert "not on this price list" in editor.message_label.text()
    with qtbot.waitSignal(editor.failed, timeout=5000):
        qtbot.mouseClick(editor.save_button, Qt.MouseButton.LeftButton)
    type_in_cell(qtbot, editor, 0, COL_QTY, "abc")
    assert "not a number" in editor.message_label.text()
    assert editor.lines[0].quantity == Decimal(1)
    assert editor.lines_table.item(0, COL_QTY).text() == "1"
    type_in_cell(qtbot, editor, 0, COL_DISCOUNT, "120")
    assert editor.lines[0].discount_percent == 0
    type_in_cell(qtbot, editor, 0, COL_PRICE, "320000")
    assert editor.totals_labels["total"].text() == "361,600 JPY"
    save(qtbot, editor)


def test_discount_above_threshold_waits_for_a_manager(
    qtbot: QtBot, ui_context: AppContext, store: Store, world: dict[str, uuid.UUID]
) -> None:
    settings = ui_context.profile.settings()
    settings.set(quote_approval.THRESHOLD_SETTING, "10")
    settings.save()
    editor = new_editor(qtbot, ui_context, world["opportunity"])
    add_product(qtbot, editor, "pump 250")
    type_discount(qtbot, editor, "15")
    assert "above the 10 % approval threshold" in editor.approval_hint.text()
    with qtbot.waitSignal(editor.status_changed, timeout=5000) as changed:
        qtbot.mouseClick(editor.send_button, Qt.MouseButton.LeftButton)
    assert changed.args == ["pending_approval"]
    assert not editor.approve_button.isVisible()  # the rep cannot approve their own discount
    assert editor.withdraw_button.isVisible()
    assert editor.header is not None and editor.header.id is not None
    quote_id = editor.header.id
    shot(editor, "quote-editor-pending-approval.png")

    ui_context.current_user_id = world["manager"]
    manager_view = new_editor(qtbot, ui_context, quote_id=quote_id)
    assert manager_view.approve_button.isVisible()
    with qtbot.waitSignal(manager_view.status_changed, timeout=5000) as approved:
        qtbot.mouseClick(manager_view.approve_button, Qt.MouseButton.LeftButton)
    assert approved.args == ["sent"]
    history = [
        manager_view.approval_list.item(i).text() for i in range(manager_view.approval_list.count())
    ]
    assert any("Discount approval requested: 15 %" in line for line in history)
    assert any("Discount approved: 15 %" in line for line in history)
    assert stored_quote(store, quote_id).sent_at is not None


def test_new_revision_keeps_the_old_one_read_only(
    qtbot: QtBot, ui_context: AppContext, store: Store, world: dict[str, uuid.UUID]
) -> None:
    editor = new_editor(qtbot, ui_context, world["opportunity"])
    add_product(qtbot, editor, "sensor")
    with qtbot.waitSignal(editor.status_changed, timeout=5000):
        qtbot.mouseClick(editor.send_button, Qt.MouseButton.LeftButton)
    assert editor.header is not None
    first_id = editor.header.id
    with qtbot.waitSignal(editor.saved, timeout=5000):
        qtbot.mouseClick(editor.revision_button, Qt.MouseButton.LeftButton)
    assert editor.header.revision == 2 and editor.editable
    assert editor.revisions_list.count() == 2
    type_in_cell(qtbot, editor, 0, COL_QTY, "10")
    save(qtbot, editor)
    shot(editor, "quote-editor-revision.png")
    with qtbot.waitSignal(editor.loaded, timeout=5000):
        old_item = editor.revisions_list.item(1)
        editor.on_revisions_list_item_activated(old_item)
    assert editor.header.id == first_id
    assert not editor.editable
    assert "read-only" in editor.status_label.text()
    assert editor.lines[0].quantity == 1
    item = editor.lines_table.item(0, COL_QTY)
    assert not item.flags() & Qt.ItemFlag.ItemIsEditable
    assert not editor.save_button.isEnabled()


def test_pdf_and_mail_link(
    qtbot: QtBot, ui_context: AppContext, world: dict[str, uuid.UUID], tmp_path: Path
) -> None:
    editor = new_editor(qtbot, ui_context, world["opportunity"])
    add_product(qtbot, editor, "pump 100")
    save(qtbot, editor)
    target = tmp_path / "quote.pdf"
    documents = []
    with qtbot.waitSignal(editor.pdf_written, timeout=10_000):
        editor.export_pdf(target, lambda _path, doc: documents.append(doc))
    assert target.read_bytes().startswith(b"%PDF")
    url = mailto_url(documents[0], pdf_path=target)
    assert url.startswith("mailto:zhang.wei@tengfei.example?subject=Quote%20Q-")
    assert "%E5%BC%A0%E4%BC%9F" in url  # 张伟, percent-encoded UTF-8
    assert "9%2C774.50%20CNY" in url  # total 8,650.00 + 13 % tax


def test_valid_until_and_terms_are_stored_and_no_date_stays_none(
    qtbot: QtBot, ui_context: AppContext, store: Store, world: dict[str, uuid.UUID]
) -> None:
    with store.sessions.begin() as session:
        created = quote_service.create_quote(
            session=session, opportunity_id=world["opportunity"], price_list_id=world["list_eur"]
        )
        quote_service.add_line(
            session=session, quote_id=created.quote_id, product_id=world["product_PMP-100"]
        )
    editor = new_editor(qtbot, ui_context, quote_id=created.quote_id)
    assert editor.valid_until_edit.text() == "none"
    editor.terms_edit.setFocus()
    qtbot.keyClicks(editor.terms_edit, "Net 14 days.")
    save(qtbot, editor)
    quote = stored_quote(store, created.quote_id)
    assert quote.valid_until is None
    assert quote.terms == "Net 14 days."
    editor.valid_until_edit.setDate(QDate(2031, 3, 31))
    save(qtbot, editor)
    assert stored_quote(store, created.quote_id).valid_until == date(2031, 3, 31)


def test_mail_body_lists_a_dozen_lines_at_most(
    qtbot: QtBot, ui_context: AppContext, store: Store, world: dict[str, uuid.UUID]
) -> None:
    with store.sessions.begin() as session:
        created = quote_service.create_quote(
            session=session, opportunity_id=world["opportunity"], price_list_id=world["list_cny"]
        )
        for _ in range(30):
            quote_service.add_line(
                session=session, quote_id=created.quote_id, product_id=world["product_CBL-5M"]
            )
        doc = load_quote_document(session=session, quote_id=created.quote_id)
    url = mailto_url(doc)
    assert "and%2018%20more%20lines" in url
    assert len(url) < 2000
