"""The quote editor: lines, discounts, live totals, revisions, status, approval, PDF and e-mail.

Open it for a stored revision (``QuoteEditor(context, quote_id=...)``), for a new quote on an
opportunity (``QuoteEditor.for_opportunity(context, opportunity_id)``) or standalone
(``QuoteEditor(context)``, which asks for the customer first).

How it works: the editor holds the quote as plain data (:mod:`.draft`). Every edit recomputes
the totals on the UI thread with the quote service's own arithmetic (no database needed), so
what you see is what Save stores. Save, Send and the status actions run as one transaction
each on the store worker (:mod:`.operations`) and hand back the reloaded quote.

Only a current draft is editable. Sending a quote whose largest discount is above the approval
threshold puts it in "pending approval" until a manager approves (it is then sent) or declines
(back to draft). A sent quote changes only through "New revision", which keeps the old revision
read-only; every revision stays listed and opens read-only.
"""

from __future__ import annotations

import functools
import tempfile
import uuid
from collections.abc import Callable
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import quote as url_quote

from PySide6.QtCore import QDate, Qt, QUrl, Signal
from PySide6.QtGui import QColor, QDesktopServices
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDateEdit,
    QFileDialog,
    QFormLayout,
    QFrame,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QInputDialog,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from crm_desktop.printing.quote_data import QuoteDocument, format_amount, format_number
from crm_desktop.printing.quote_pdf import write_quote_pdf
from crm_desktop.services import quote_approval
from crm_desktop.services.catalog import ProductPick, parse_decimal
from crm_desktop.services.errors import ServiceError
from crm_desktop.services.quotes import QuoteTotals
from crm_desktop.ui.catalog.rows_model import while_alive
from crm_desktop.ui.context import AppContext
from crm_desktop.ui.quotes import operations
from crm_desktop.ui.quotes.draft import EditorData, LineDraft, QuoteHeader, compute_totals
from crm_desktop.ui.quotes.product_picker import ProductPicker

STATUS_LABELS = {
    "draft": "Draft",
    "pending_approval": "Pending approval",
    "sent": "Sent",
    "accepted": "Accepted",
    "rejected": "Rejected",
    "expired": "Expired",
}
STATUS_COLOURS = {
    "draft": "#5f6b7a",
    "pending_approval": "#b26a00",
    "sent": "#1f4e79",
    "accepted": "#2e7d32",
    "rejected": "#b00020",
    "expired": "#7a7a7a",
}
MAILTO_NOTE = (
    "Your mail program opens with the customer's address, subject and a summary. "
    "Mail links cannot carry attachments: attach the PDF yourself (its path is shown)."
)

# Line table columns.
COL_CODE, COL_DESCRIPTION, COL_QTY, COL_UNIT, COL_PRICE, COL_DISCOUNT, COL_TAX, COL_NET = range(8)
_HEADERS = ["Code", "Description", "Qty", "Unit", "Unit price", "Disc. %", "Tax %", "Net"]
_EDITABLE_COLUMNS = {COL_DESCRIPTION, COL_QTY, COL_PRICE, COL_DISCOUNT, COL_TAX}
_RIGHT = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
_NO_DATE = QDate(2000, 1, 1)
#: Lines listed in an e-mail body; mail programs truncate long mailto: links (about 2,000
#: characters on Windows), and the PDF has them all anyway.
MAIL_LINES = 12


def _qdate(value: date) -> QDate:
    return QDate(value.year, value.month, value.day)


def combo_index(combo: QComboBox, value: object) -> int:
    """The index whose item data equals ``value`` (-1 if none).

    ``QComboBox.findData`` compares wrapped Python objects by identity, so it never finds a
    UUID equal to, but not the same object as, the one stored.
    """
    return next((i for i in range(combo.count()) if combo.itemData(i) == value), -1)


def _error_text(error: BaseException) -> str:
    return getattr(error, "message", None) or str(error) or type(error).__name__


class QuoteEditor(QWidget):
    """Edit one quote (a record page for the main window: ``context.open_record("quote", id)``).

    Signals:
        loaded(object): a quote (or new draft) was loaded into the editor (its :class:`EditorData`).
        totals_changed(object): the live totals changed (a :class:`QuoteTotals`).
        saved(object): the quote was stored; its UUID (of the revision now shown).
        status_changed(str): the shown revision's status changed through an action here.
        order_created(object): accepting created a sales order (an :class:`OrderRow`).
        pdf_written(str): a PDF of the quote was written to this path.
        failed(str): an action was refused or failed; the message is also shown in the editor.
    """

    loaded = Signal(object)
    totals_changed = Signal(object)
    saved = Signal(object)
    status_changed = Signal(str)
    order_created = Signal(object)
    pdf_written = Signal(str)
    failed = Signal(str)

    def __init__(
        self,
        context: AppContext,
        *,
        quote_id: uuid.UUID | None = None,
        opportunity_id: uuid.UUID | None = None,
        account_id: uuid.UUID | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.context = context
        self.data: EditorData | None = None
        self.header: QuoteHeader | None = None
        self.lines: list[LineDraft] = []
        self.removed_line_ids: list[uuid.UUID] = []
        self.totals: QuoteTotals | None = None
        self.dirty = False
        self._filling = False  # True while the widgets are filled from data (not user edits)
        self._notifying = False  # True while this editor announces its own change
        self._build()
        context.data_changed.connect(self.on_context_data_changed)
        if quote_id is not None:
            self.load(quote_id)
        else:
            self._load_new(opportunity_id, account_id)

    @classmethod
    def for_opportunity(
        cls, context: AppContext, opportunity_id: uuid.UUID, parent: QWidget | None = None
    ) -> QuoteEditor:
        """A new quote for an opportunity: its account, currency and buying centre pre-filled."""
        return cls(context, opportunity_id=opportunity_id, parent=parent)

    # --- layout ------------------------------------------------------------------------------

    def _build(self) -> None:
        self.title_label = QLabel("Quote")
        self.title_label.setStyleSheet("font-size: 16pt; font-weight: bold;")
        self.status_label = QLabel()
        self.customer_label = QLabel()
        self.customer_label.setTextFormat(Qt.TextFormat.RichText)
        self.customer_label.linkActivated.connect(self.on_customer_label_link_activated)

        self.account_search = QLineEdit()
        self.account_search.setPlaceholderText("Customer: type a name and press Enter…")
        self.account_search.returnPressed.connect(self.on_account_search_return_pressed)
        self.account_combo = QComboBox()
        self.account_combo.activated.connect(self.on_account_combo_activated)
        self.customer_box = QWidget()
        customer_row = QHBoxLayout(self.customer_box)
        customer_row.setContentsMargins(0, 0, 0, 0)
        customer_row.addWidget(self.account_search, 1)
        customer_row.addWidget(self.account_combo, 1)

        self.contact_combo = QComboBox()
        self.contact_combo.currentIndexChanged.connect(self.on_contact_combo_changed)
        self.price_list_combo = QComboBox()
        self.price_list_combo.currentIndexChanged.connect(self.on_price_list_combo_changed)
        self.valid_until_edit = QDateEdit()
        self.valid_until_edit.setDisplayFormat("yyyy-MM-dd")
        self.valid_until_edit.setCalendarPopup(True)
        # A QDateEdit cannot be empty: its minimum date stands for "no date" and shows as "none".
        self.valid_until_edit.setMinimumDate(_NO_DATE)
        self.valid_until_edit.setSpecialValueText("none")
        self.valid_until_edit.dateChanged.connect(self.on_valid_until_edit_date_changed)
        self.discount_edit = QLineEdit("0")
        self.discount_edit.setAlignment(_RIGHT)
        self.discount_edit.setMaximumWidth(90)
        self.discount_edit.textEdited.connect(self.on_discount_edit_text_edited)
        self.approval_hint = QLabel()
        self.approval_hint.setWordWrap(True)
        self.approval_hint.setStyleSheet("color: #b26a00;")

        form = QFormLayout()
        self.form = form
        form.addRow("Customer", self.customer_box)
        form.addRow("Contact", self.contact_combo)
        form.addRow("Price list", self.price_list_combo)
        form.addRow("Valid until", self.valid_until_edit)
        discount_row = QHBoxLayout()
        discount_row.addWidget(self.discount_edit)
        discount_row.addWidget(QLabel("% on the whole quote, before tax"))
        discount_row.addStretch(1)
        form.addRow("Quote discount", discount_row)

        self.picker = ProductPicker(self.context)
        self.picker.product_picked.connect(self.on_picker_product_picked)
        self.lines_table = QTableWidget(0, len(_HEADERS))
        self.lines_table.setHorizontalHeaderLabels(_HEADERS)
        self.lines_table.verticalHeader().hide()
        self.lines_table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.lines_table.setEditTriggers(
            QAbstractItemView.EditTrigger.DoubleClicked
            | QAbstractItemView.EditTrigger.EditKeyPressed
            | QAbstractItemView.EditTrigger.AnyKeyPressed
        )
        header = self.lines_table.horizontalHeader()
        header.setSectionResizeMode(COL_DESCRIPTION, QHeaderView.ResizeMode.Stretch)
        for column in (COL_CODE, COL_QTY, COL_UNIT, COL_PRICE, COL_DISCOUNT, COL_TAX, COL_NET):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
        self.lines_table.itemChanged.connect(self.on_lines_table_item_changed)
        self.remove_line_button = QPushButton("Remove line")
        self.remove_line_button.clicked.connect(self.on_remove_line_button_clicked)

        self.totals_labels: dict[str, QLabel] = {}
        self.totals_captions: dict[str, QLabel] = {}
        totals_grid = QGridLayout()
        for row, (key, title) in enumerate(
            (
                ("subtotal", "Subtotal"),
                ("discount", "Discount"),
                ("net", "Net"),
                ("tax", "Tax"),
                ("total", "Total"),
            )
        ):
            caption = QLabel(title)
            self.totals_captions[key] = caption
            value = QLabel("–")
            value.setAlignment(_RIGHT)
            value.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            if key == "total":
                caption.setStyleSheet("font-weight: bold;")
                value.setStyleSheet("font-weight: bold; font-size: 12pt;")
            totals_grid.addWidget(caption, row, 0)
            totals_grid.addWidget(value, row, 1)
            self.totals_labels[key] = value
        totals_box = QFrame()
        totals_box.setFrameShape(QFrame.Shape.StyledPanel)
        totals_box.setLayout(totals_grid)
        totals_box.setMinimumWidth(260)

        self.terms_edit = QPlainTextEdit()
        self.terms_edit.setPlaceholderText("Terms printed on the quote")
        self.terms_edit.setFixedHeight(70)
        self.terms_edit.textChanged.connect(self.on_header_edited)
        self.notes_edit = QPlainTextEdit()
        self.notes_edit.setPlaceholderText("Notes printed on the quote")
        self.notes_edit.setFixedHeight(50)
        self.notes_edit.textChanged.connect(self.on_header_edited)

        self.save_button = QPushButton("Save")
        self.send_button = QPushButton("Send")
        self.accept_button = QPushButton("Accept…")
        self.reject_button = QPushButton("Reject")
        self.revision_button = QPushButton("New revision")
        self.approve_button = QPushButton("Approve discount")
        self.decline_button = QPushButton("Decline…")
        self.withdraw_button = QPushButton("Withdraw request")
        self.withdraw_button.setToolTip("Take the quote back from approval to change it")
        self.pdf_button = QPushButton("Save PDF…")
        self.open_pdf_button = QPushButton("Open PDF")
        self.email_button = QPushButton("E-mail…")
        self.email_button.setToolTip(MAILTO_NOTE)
        actions = QHBoxLayout()
        for button, slot in (
            (self.save_button, self.on_save_button_clicked),
            (self.send_button, self.on_send_button_clicked),
            (self.accept_button, self.on_accept_button_clicked),
            (self.reject_button, self.on_reject_button_clicked),
            (self.revision_button, self.on_revision_button_clicked),
            (self.approve_button, self.on_approve_button_clicked),
            (self.decline_button, self.on_decline_button_clicked),
            (self.withdraw_button, self.on_withdraw_button_clicked),
        ):
            button.clicked.connect(slot)
            actions.addWidget(button)
        actions.addStretch(1)
        for button, slot in (
            (self.pdf_button, self.on_pdf_button_clicked),
            (self.open_pdf_button, self.on_open_pdf_button_clicked),
            (self.email_button, self.on_email_button_clicked),
        ):
            button.clicked.connect(slot)
            actions.addWidget(button)

        self.message_label = QLabel()
        self.message_label.setWordWrap(True)
        self.message_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        self.revisions_list = QListWidget()
        self.revisions_list.setWordWrap(True)
        self.revisions_list.itemActivated.connect(self.on_revisions_list_item_activated)
        self.revisions_list.itemClicked.connect(self.on_revisions_list_item_activated)
        self.approval_list = QListWidget()
        self.approval_list.setWordWrap(True)
        self.order_label = QLabel("No order yet.")
        self.order_label.setWordWrap(True)
        self.open_order_button = QPushButton("Open order")
        self.open_order_button.clicked.connect(self.on_open_order_button_clicked)
        side = QWidget()
        side_layout = QVBoxLayout(side)
        side_layout.setContentsMargins(0, 0, 0, 0)
        for title, widget in (
            ("Revisions", self.revisions_list),
            ("Approval", self.approval_list),
        ):
            box = QGroupBox(title)
            QVBoxLayout(box).addWidget(widget)
            side_layout.addWidget(box)
        order_box = QGroupBox("Sales order")
        order_layout = QVBoxLayout(order_box)
        order_layout.addWidget(self.order_label)
        order_layout.addWidget(self.open_order_button)
        side_layout.addWidget(order_box)

        main = QWidget()
        main_layout = QVBoxLayout(main)
        main_layout.setContentsMargins(0, 0, 0, 0)
        title_row = QHBoxLayout()
        title_row.addWidget(self.title_label)
        title_row.addWidget(self.status_label)
        title_row.addStretch(1)
        main_layout.addLayout(title_row)
        main_layout.addWidget(self.customer_label)
        main_layout.addLayout(form)
        main_layout.addWidget(self.approval_hint)
        main_layout.addWidget(self.picker)
        main_layout.addWidget(self.lines_table, 1)
        below = QHBoxLayout()
        texts = QVBoxLayout()
        texts.addWidget(self.remove_line_button, 0, Qt.AlignmentFlag.AlignLeft)
        texts.addWidget(QLabel("Terms"))
        texts.addWidget(self.terms_edit)
        texts.addWidget(QLabel("Notes"))
        texts.addWidget(self.notes_edit)
        below.addLayout(texts, 1)
        below.addWidget(totals_box, 0, Qt.AlignmentFlag.AlignTop)
        main_layout.addLayout(below)

        splitter = QSplitter()
        splitter.addWidget(main)
        splitter.addWidget(side)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([900, 320])
        layout = QVBoxLayout(self)
        layout.addWidget(splitter, 1)
        layout.addLayout(actions)
        layout.addWidget(self.message_label)
        self._update_actions()

    # --- loading -----------------------------------------------------------------------------

    def _run(self, fn: Callable[[], Any], on_done: Callable[[Any], Any]) -> None:
        self.context.runner.submit(
            fn, on_done=while_alive(self, on_done), on_error=while_alive(self, self._on_error)
        )

    def _on_error(self, error: BaseException) -> None:
        message = _error_text(error)
        self.show_message(message, error=True)
        self.failed.emit(message)

    def show_message(self, text: str, *, error: bool = False) -> None:
        """Show a one-line message under the actions (red for refusals)."""
        self.message_label.setStyleSheet("color: #b00020;" if error else "color: #2e7d32;")
        self.message_label.setText(text)

    def load(self, quote_id: uuid.UUID) -> None:
        """Load a stored revision (read-only unless it is the current draft)."""
        store, profile, user = (
            self.context.store,
            self.context.profile,
            self.context.current_user_id,
        )
        self._run(lambda: operations.load_quote(store, profile, quote_id, user), self._apply)

    def _load_new(self, opportunity_id: uuid.UUID | None, account_id: uuid.UUID | None) -> None:
        store, profile, user = (
            self.context.store,
            self.context.profile,
            self.context.current_user_id,
        )
        self._run(
            lambda: operations.new_quote(
                store, profile, opportunity_id=opportunity_id, account_id=account_id, user_id=user
            ),
            self._apply,
        )

    def _apply(self, data: EditorData) -> None:
        """Show freshly loaded (or saved) data; local edits are replaced."""
        self.data = data
        self.header = data.header
        self.lines = list(data.lines)
        self.removed_line_ids = []
        self.dirty = False
        self._filling = True
        try:
            self._fill_header(data)
            self._fill_lines()
            self._fill_side(data)
        finally:
            self._filling = False
        self.picker.set_price_list(data.header.price_list_id, data.header.currency)
        self._recalculate()
        self._update_actions()
        if data.header.account_id is not None:
            self._load_contacts(data.header.account_id, data.header.contact_id)
        self.loaded.emit(data)

    def _fill_header(self, data: EditorData) -> None:
        header = data.header
        title = header.title if header.id is None else f"Quote {header.title}"
        self.title_label.setText(title)
        self.setWindowTitle(title)  # the main window's tab follows the page's title
        status = header.status
        frozen = " · superseded, read-only" if header.frozen else ""
        self.status_label.setText(
            f'<span style="color:white; background-color:{STATUS_COLOURS.get(status, "#555")};'
            f' padding: 2px 6px;">&nbsp;{STATUS_LABELS.get(status, status)}&nbsp;</span>{frozen}'
        )
        parts = []
        if header.account_name:
            parts.append(f'<a href="account">{header.account_name}</a>')
        if header.opportunity_name:
            parts.append(f'opportunity <a href="opportunity">{header.opportunity_name}</a>')
        self.customer_label.setText(" · ".join(parts))
        # The customer is chosen in the editor only for a standalone quote that has none yet.
        self.form.setRowVisible(self.customer_box, header.account_id is None)
        self.price_list_combo.clear()
        for price_list in data.price_lists:
            self.price_list_combo.addItem(
                f"{price_list.name} ({price_list.currency})", price_list.id
            )
        if not data.price_lists:
            self.price_list_combo.addItem(f"No price list ({header.currency})", None)
        self.price_list_combo.setCurrentIndex(
            max(combo_index(self.price_list_combo, header.price_list_id), 0)
        )
        self.valid_until_edit.setDate(
            _qdate(header.valid_until) if header.valid_until is not None else _NO_DATE
        )
        self.discount_edit.setText(format_number(header.discount_percent))
        self.discount_edit.setStyleSheet("")
        self.terms_edit.setPlainText(header.terms)
        self.notes_edit.setPlainText(header.notes)

    def _fill_lines(self) -> None:
        self.lines_table.setRowCount(0)  # fresh items: editability may have changed
        self.lines_table.setRowCount(len(self.lines))
        currency = self.header.currency if self.header else "EUR"
        for row, line in enumerate(self.lines):
            self._fill_line(row, line, currency)

    def _fill_line(self, row: int, line: LineDraft, currency: str) -> None:
        values = {
            COL_CODE: line.code,
            COL_DESCRIPTION: line.description,
            COL_QTY: format_number(line.quantity),
            COL_UNIT: line.unit,
            COL_PRICE: format(line.unit_price, "f"),
            COL_DISCOUNT: format_number(line.discount_percent),
            COL_TAX: format_number(line.tax_rate),
            COL_NET: "",
        }
        editable = self.editable
        for column, text in values.items():
            existing = self.lines_table.item(row, column)
            if existing is not None:
                # Update in place: replacing an item while its cell editor commits (this runs
                # from itemChanged) would detach the editor from the view.
                if column != COL_NET:
                    existing.setText(text)
                if column == COL_PRICE:
                    self._mark_price(existing, line, currency)
                continue
            item = QTableWidgetItem(text)
            flags = Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable
            if editable and column in _EDITABLE_COLUMNS:
                flags |= Qt.ItemFlag.ItemIsEditable
            item.setFlags(flags)
            if column not in (COL_CODE, COL_DESCRIPTION, COL_UNIT):
                item.setTextAlignment(_RIGHT)
            if column == COL_PRICE:
                self._mark_price(item, line, currency)
            self.lines_table.setItem(row, column, item)

    @staticmethod
    def _mark_price(item: QTableWidgetItem, line: LineDraft, currency: str) -> None:
        font = item.font()
        font.setItalic(line.price_overridden)
        item.setFont(font)
        if line.list_price is None:
            item.setToolTip("Not on the price list: price typed by hand")
            item.setForeground(QColor("#b26a00"))
        elif line.price_overridden:
            item.setToolTip(f"Overridden; list price {format_amount(line.list_price, currency)}")
            item.setForeground(QColor("#1f4e79"))
        else:
            item.setToolTip("Price from the price list")
            item.setData(Qt.ItemDataRole.ForegroundRole, None)

    def _fill_side(self, data: EditorData) -> None:
        self.revisions_list.clear()
        for revision in data.revisions:
            text = (
                f"rev. {revision.revision} · {STATUS_LABELS.get(revision.status, revision.status)}"
                f"\n{format_amount(revision.total, revision.currency)} {revision.currency}"
                f" · {revision.created_at:%Y-%m-%d}"
            )
            if not revision.is_current:
                text += " · read-only"
            item = QListWidgetItem(text)
            item.setData(Qt.ItemDataRole.UserRole, revision.id)
            if revision.id == data.header.id:
                font = item.font()
                font.setBold(True)
                item.setFont(font)
            self.revisions_list.addItem(item)
        self.approval_list.clear()
        threshold = data.approval.threshold
        self.approval_list.addItem(
            f"Threshold: {format_number(threshold)} %"
            if threshold is not None
            else "No approval threshold set"
        )
        for line in data.approval.history:
            self.approval_list.addItem(line)
        order = data.order
        if order is None:
            self.order_label.setText("No order yet. Accepting the quote creates one.")
        else:
            self.order_label.setText(
                f"<b>{order.number}</b><br/>{order.status} · ordered {order.ordered_on:%Y-%m-%d}"
                f"<br/>{format_amount(order.total, order.currency)} {order.currency}"
            )
        self.open_order_button.setVisible(order is not None)

    def _load_contacts(self, account_id: uuid.UUID, selected: uuid.UUID | None) -> None:
        store = self.context.store

        def fill(contacts: list[operations.ContactChoice]) -> None:
            self._filling = True
            try:
                self.contact_combo.clear()
                self.contact_combo.addItem("(no contact)", None)
                for contact in contacts:
                    label = f"{contact.name} <{contact.email}>" if contact.email else contact.name
                    self.contact_combo.addItem(label, contact)
                index = next(
                    (
                        i
                        for i in range(self.contact_combo.count())
                        if getattr(self.contact_combo.itemData(i), "id", None) == selected
                    ),
                    0,
                )
                self.contact_combo.setCurrentIndex(index)
            finally:
                self._filling = False

        self._run(lambda: operations.load_contacts(store, account_id), fill)

    # --- state -------------------------------------------------------------------------------

    @property
    def editable(self) -> bool:
        """Whether the shown revision may be changed (a current, unfrozen draft)."""
        return self.data is not None and self.data.editable

    def _update_actions(self) -> None:
        data, header = self.data, self.header
        status = header.status if header else ""
        stored = header is not None and header.id is not None
        current = header is not None and header.is_current and not header.frozen
        editable = self.editable
        for widget in (
            self.contact_combo,
            self.valid_until_edit,
            self.discount_edit,
            self.picker,
            self.remove_line_button,
        ):
            widget.setEnabled(editable)
        self.terms_edit.setReadOnly(not editable)
        self.notes_edit.setReadOnly(not editable)
        # The price list fixes the currency and the prices of lines: it is chosen before the
        # first line is added and never changes under a stored quote.
        self.price_list_combo.setEnabled(editable and not stored and not self.lines)
        self.save_button.setEnabled(editable and (self.dirty or not stored))
        self.send_button.setEnabled(editable and bool(self.lines))
        self.accept_button.setEnabled(current and status == "sent")
        self.reject_button.setEnabled(current and status in ("sent", "pending_approval"))
        self.revision_button.setEnabled(
            current and stored and status in ("sent", "rejected", "expired")
        )
        can_approve = data is not None and data.approval.can_approve
        pending = current and status == "pending_approval"
        self.approve_button.setVisible(pending and can_approve)
        self.decline_button.setVisible(pending and can_approve)
        self.withdraw_button.setVisible(pending)
        for button in (self.pdf_button, self.open_pdf_button, self.email_button):
            button.setEnabled(stored)
        self._update_approval_hint()

    def _update_approval_hint(self) -> None:
        data, header = self.data, self.header
        if data is None or header is None:
            self.approval_hint.clear()
            return
        if header.status == "pending_approval":
            self.approval_hint.setText(
                "Waiting for a manager to approve the discount"
                + (" — you can approve it." if data.approval.can_approve else ".")
            )
            return
        threshold = data.approval.threshold
        discount = quote_approval.max_discount(
            header.discount_percent, [line.discount_percent for line in self.lines]
        )
        if self.editable and quote_approval.exceeds(discount, threshold):
            assert threshold is not None
            self.approval_hint.setText(
                f"A discount of {format_number(discount)} % is above the "
                f"{format_number(threshold)} % approval threshold: sending asks a manager first."
            )
        else:
            self.approval_hint.clear()

    def _recalculate(self) -> None:
        if self.header is None:
            return
        currency = self.header.currency
        totals = compute_totals(
            currency=currency, discount_percent=self.header.discount_percent, lines=self.lines
        )
        self.totals = totals
        self._filling, was_filling = True, self._filling
        try:
            for row, net in enumerate(totals.line_nets):
                item = self.lines_table.item(row, COL_NET)
                if item is not None:
                    item.setText(format_amount(net, currency))
        finally:
            self._filling = was_filling
        discount_caption = (
            f"−{format_amount(totals.discount_total, currency)}"
            if totals.discount_total
            else format_amount(totals.discount_total, currency)
        )
        self.totals_labels["subtotal"].setText(format_amount(totals.subtotal, currency))
        self.totals_labels["discount"].setText(discount_caption)
        self.totals_labels["net"].setText(format_amount(totals.net_total, currency))
        self.totals_labels["tax"].setText(format_amount(totals.tax_total, currency))
        self.totals_labels["total"].setText(f"{format_amount(totals.total, currency)} {currency}")
        discount = self.header.discount_percent
        self.totals_captions["discount"].setText(
            f"Discount {format_number(discount)} %" if discount else "Discount"
        )
        # The VAT breakdown per rate (how the quote service computes tax), as on an invoice.
        rates = totals.tax_by_rate
        if len(rates) == 1:
            self.totals_captions["tax"].setText(f"Tax {format_number(rates[0].rate)} %")
        else:
            self.totals_captions["tax"].setText("Tax")
        self.totals_labels["tax"].setToolTip(
            "\n".join(
                f"{format_number(t.rate)} % on {format_amount(t.base, currency)}: "
                f"{format_amount(t.tax, currency)}"
                for t in rates
            )
        )
        self._update_approval_hint()
        self.totals_changed.emit(totals)

    def _edited(self) -> None:
        self.dirty = True
        self._recalculate()
        self._update_actions()

    # --- user edits --------------------------------------------------------------------------

    def on_picker_product_picked(self, pick: ProductPick) -> None:
        """Add a line for the picked product (quantity 1, list price, product's tax rate)."""
        if not self.editable or self.header is None:
            return
        line = operations.product_lines_for([pick])[0]
        self.lines.append(line)
        row = len(self.lines) - 1
        self._filling = True
        try:
            self.lines_table.setRowCount(len(self.lines))
            self._fill_line(row, line, self.header.currency)
        finally:
            self._filling = False
        if pick.unit_price is None:
            self.show_message(
                f"{pick.code} is not on this price list: type its unit price.", error=True
            )
            self.lines_table.setCurrentCell(row, COL_PRICE)
        else:
            self.lines_table.setCurrentCell(row, COL_QTY)
        self._edited()

    def on_lines_table_item_changed(self, item: QTableWidgetItem) -> None:
        """Take a typed value into the line; a bad value is refused and the old one shown."""
        if self._filling or self.header is None:
            return
        row, column = item.row(), item.column()
        if not 0 <= row < len(self.lines) or column not in _EDITABLE_COLUMNS:
            return
        line = self.lines[row]
        try:
            updated = self._line_with(line, column, item.text())
        except ServiceError as error:
            self.show_message(_error_text(error), error=True)
            updated = line
        else:
            self.message_label.clear()
        self.lines[row] = updated
        self._filling = True
        try:
            self._fill_line(row, updated, self.header.currency)
        finally:
            self._filling = False
        if updated != line:
            self._edited()

    @staticmethod
    def _line_with(line: LineDraft, column: int, text: str) -> LineDraft:
        if column == COL_DESCRIPTION:
            if not text.strip():
                raise ServiceError("A line needs a description.")
            return replace(line, description=text.strip())
        names = {
            COL_QTY: ("quantity", "Quantity"),
            COL_PRICE: ("unit_price", "Unit price"),
            COL_DISCOUNT: ("discount_percent", "Discount"),
            COL_TAX: ("tax_rate", "Tax rate"),
        }
        field, label = names[column]
        value = parse_decimal(field, text)
        if column == COL_QTY and value <= 0:
            raise ServiceError(f"{label} must be more than 0.")
        if column == COL_PRICE and value < 0:
            raise ServiceError("A unit price cannot be negative; use a discount.")
        if column in (COL_DISCOUNT, COL_TAX) and not 0 <= value <= 100:
            raise ServiceError(f"{label} must be between 0 and 100 %.")
        changes: dict[str, Any] = {field: value}
        return replace(line, **changes)

    def on_remove_line_button_clicked(self) -> None:
        """Remove the selected line (stored lines are removed on Save)."""
        rows = sorted({index.row() for index in self.lines_table.selectedIndexes()}, reverse=True)
        for row in rows:
            line = self.lines.pop(row)
            if line.line_id is not None:
                self.removed_line_ids.append(line.line_id)
            self.lines_table.removeRow(row)
        if rows:
            self._edited()

    def on_discount_edit_text_edited(self, text: str) -> None:
        """Live totals for the quote discount; an invalid figure is marked and not taken."""
        if self.header is None:
            return
        try:
            value = parse_decimal("discount_percent", text or "0")
            if not 0 <= value <= 100:
                raise ServiceError("The quote discount must be between 0 and 100 %.")
        except ServiceError as error:
            self.discount_edit.setStyleSheet("background-color: #fde7e9;")
            self.show_message(_error_text(error), error=True)
            return
        self.discount_edit.setStyleSheet("")
        self.message_label.clear()
        self.header = replace(self.header, discount_percent=value)
        self._edited()

    def on_valid_until_edit_date_changed(self, value: QDate) -> None:
        """A new valid-until date ("none" is the minimum date and changes nothing stored)."""
        if self._filling or self.header is None or value == _NO_DATE:
            return
        self.header = replace(
            self.header, valid_until=date(value.year(), value.month(), value.day())
        )
        self._edited()

    def on_header_edited(self, *_args: object) -> None:
        """Terms or notes were edited."""
        if self._filling or self.header is None:
            return
        self.header = replace(
            self.header,
            terms=self.terms_edit.toPlainText(),
            notes=self.notes_edit.toPlainText(),
        )
        self._edited()

    def on_contact_combo_changed(self, _index: int) -> None:
        """A different contact receives the quote."""
        if self._filling or self.header is None:
            return
        contact = self.contact_combo.currentData()
        self.header = replace(
            self.header,
            contact_id=contact.id if contact else None,
            contact_name=contact.name if contact else "",
            contact_email=contact.email if contact else "",
        )
        self._edited()

    def on_price_list_combo_changed(self, _index: int) -> None:
        """Before the first line, the price list (and with it the currency) may change."""
        if self._filling or self.header is None or self.data is None:
            return
        list_id = self.price_list_combo.currentData()
        chosen = next((p for p in self.data.price_lists if p.id == list_id), None)
        if chosen is None:
            return
        self.header = replace(self.header, price_list_id=chosen.id, currency=chosen.currency)
        self.picker.set_price_list(chosen.id, chosen.currency)
        self._edited()

    def on_account_search_return_pressed(self) -> None:
        """Standalone quote: find the customer account by name (Latin or CJK)."""
        text = self.account_search.text().strip()
        if not text:
            return
        store = self.context.store
        self._run(lambda: operations.find_accounts(store, text), self._on_accounts_found)

    def _on_accounts_found(self, accounts: list[operations.AccountChoice]) -> None:
        self.account_combo.clear()
        for account in accounts:
            self.account_combo.addItem(account.name, account)
        if not accounts:
            self.show_message("No account matches.", error=True)
            return
        self.account_combo.setCurrentIndex(0)
        self.on_account_combo_activated(0)

    def on_account_combo_activated(self, _index: int) -> None:
        """The chosen account becomes the quote's customer."""
        account = self.account_combo.currentData()
        if account is None or self.header is None:
            return
        self.header = replace(
            self.header,
            account_id=account.id,
            account_name=account.name,
            contact_id=None,
            contact_name="",
            contact_email="",
        )
        self.customer_label.setText(account.name)
        self._load_contacts(account.id, None)
        self._edited()

    def on_customer_label_link_activated(self, link: str) -> None:
        """Open the quote's account or opportunity."""
        if self.header is None:
            return
        if link == "account" and self.header.account_id:
            self.context.open_record("account", self.header.account_id)
        elif link == "opportunity" and self.header.opportunity_id:
            self.context.open_record("opportunity", self.header.opportunity_id)

    def on_revisions_list_item_activated(self, item: QListWidgetItem) -> None:
        """Show another revision (older ones are read-only)."""
        quote_id = item.data(Qt.ItemDataRole.UserRole)
        if self.header is not None and quote_id != self.header.id:
            if self.dirty and not self._confirm_discard():
                return
            self.load(quote_id)

    def on_context_data_changed(self, entity: str) -> None:
        """Quotes changed elsewhere (expiry, sync, another window): show the stored state,
        unless the user is in the middle of editing, whose Save then meets the service's rules."""
        if self._notifying or entity != "quote" or self.dirty:
            return
        if self.header is not None and self.header.id is not None:
            self.load(self.header.id)

    def has_unsaved_changes(self) -> bool:
        """Whether closing now would lose edits (the main window asks before closing a tab)."""
        return self.dirty

    def confirm_close(self) -> bool:
        """Ask the user before losing unsaved changes; True if the editor may close."""
        return not self.dirty or self._confirm_discard()

    def _confirm_discard(self) -> bool:
        answer = QMessageBox.question(
            self, "Unsaved changes", "Discard the unsaved changes to this quote?"
        )
        return answer == QMessageBox.StandardButton.Yes

    # --- actions -----------------------------------------------------------------------------

    def _save_request(self) -> operations.SaveRequest:
        assert self.header is not None
        missing = [
            line.code or line.description
            for line in self.lines
            if line.list_price is None and line.unit_price == 0
        ]
        if missing:
            raise ServiceError(
                f"Type a unit price for {', '.join(missing)} (not on the price list)."
            )
        if self.header.account_id is None:
            raise ServiceError("Choose the customer first.")
        return operations.SaveRequest(
            header=self.header,
            lines=tuple(self.lines),
            removed_line_ids=tuple(self.removed_line_ids),
        )

    def _after_change(
        self, message: str, entities: tuple[str, ...] = ("quote",)
    ) -> Callable[[EditorData], None]:
        previous = self.header.status if self.header else ""

        def done(data: EditorData) -> None:
            self._apply(data)
            self.show_message(message)
            # Our own change notice must not make this editor reload what it just got.
            self._notifying = True
            try:
                for entity in entities:
                    self.context.notify_changed(entity)
            finally:
                self._notifying = False
            if data.header.id is not None:
                self.saved.emit(data.header.id)
            if data.header.status != previous:
                self.status_changed.emit(data.header.status)

        return done

    def save(self) -> None:
        """Store the draft (one transaction); the editor then shows the stored quote."""
        try:
            request = self._save_request()
        except ServiceError as error:
            self._on_error(error)
            return
        store, profile, user = (
            self.context.store,
            self.context.profile,
            self.context.current_user_id,
        )
        self._run(
            lambda: operations.save_quote(store, profile, request, user),
            self._after_change("Saved."),
        )

    def on_save_button_clicked(self) -> None:
        """Save."""
        self.save()

    def on_send_button_clicked(self) -> None:
        """Save and send, or ask for approval when the discount is above the threshold."""
        if self.header is None:
            return
        try:
            request = self._save_request() if (self.dirty or self.header.id is None) else None
        except ServiceError as error:
            self._on_error(error)
            return
        quote_id = self.header.id
        store, profile, user = (
            self.context.store,
            self.context.profile,
            self.context.current_user_id,
        )

        def done(data: EditorData) -> None:
            message = (
                "The discount needs a manager's approval: the quote waits for it."
                if data.header.status == "pending_approval"
                else "Marked as sent. Use Save PDF or E-mail to get it to the customer."
            )
            self._after_change(message)(data)

        self._run(lambda: operations.send_quote(store, profile, request, quote_id, user), done)

    def _transition(
        self,
        fn: Callable[..., EditorData],
        message: str,
        entities: tuple[str, ...] = ("quote",),
        then: Callable[[EditorData], None] | None = None,
    ) -> None:
        """Run ``fn(store, profile, user, quote_id)`` on the stored quote; ``then`` runs last."""
        if self.header is None or self.header.id is None:
            return
        quote_id = self.header.id
        store, profile, user = (
            self.context.store,
            self.context.profile,
            self.context.current_user_id,
        )
        after = self._after_change(message, entities)

        def done(data: EditorData) -> None:
            after(data)
            if then is not None:
                then(data)

        self._run(lambda: fn(store, profile, user, quote_id), done)

    def accept(self) -> None:
        """The customer accepted: create the order and close the opportunity as won."""

        def announce_order(data: EditorData) -> None:
            if data.order is not None:
                self.order_created.emit(data.order)

        self._transition(
            operations.accept,
            "Accepted: the sales order was created and the opportunity closed as won.",
            ("quote", "sales_order", "opportunity", "account"),
            then=announce_order,
        )

    def on_accept_button_clicked(self) -> None:
        """Ask once, then accept."""
        if self.header is None:
            return
        answer = QMessageBox.question(
            self,
            "Accept quote",
            f"Record that the customer accepted {self.header.title}? This creates the sales "
            "order and closes the opportunity as won.",
        )
        if answer == QMessageBox.StandardButton.Yes:
            self.accept()

    def on_reject_button_clicked(self) -> None:
        """The customer declined."""
        self._transition(operations.reject, "Marked as rejected.")

    def on_revision_button_clicked(self) -> None:
        """Copy into a new draft revision; the one shown now stays read-only."""
        self._transition(
            operations.new_revision, "New revision created; the previous one is kept read-only."
        )

    def on_approve_button_clicked(self) -> None:
        """Manager: approve the discount (the quote is released as sent)."""
        self._transition(operations.approve, "Discount approved; the quote is released as sent.")

    def on_withdraw_button_clicked(self) -> None:
        """Take the quote back from approval; it becomes an editable draft again."""
        self._transition(operations.withdraw, "Approval request withdrawn; the quote is a draft.")

    def on_decline_button_clicked(self) -> None:
        """Manager: decline the discount with a reason (back to draft)."""
        reason, ok = QInputDialog.getText(self, "Decline discount", "Reason:")
        if ok:
            self.decline(reason)

    def decline(self, reason: str) -> None:
        """Decline the discount with ``reason``."""
        self._transition(
            functools.partial(operations.decline, reason=reason),
            "Discount declined; the quote is a draft again.",
        )

    def on_open_order_button_clicked(self) -> None:
        """Show the sales order made from this quote."""
        if self.data is not None and self.data.order is not None:
            self.context.open_record("sales_order", self.data.order.id)

    # --- PDF and e-mail ----------------------------------------------------------------------

    def export_pdf(
        self, path: str | Path, then: Callable[[Path, QuoteDocument], Any] | None = None
    ) -> None:
        """Write the shown revision as a PDF to ``path`` (gathered on the worker, drawn here)."""
        if self.header is None or self.header.id is None:
            return
        quote_id = self.header.id
        store, profile = self.context.store, self.context.profile
        target = Path(path)

        def draw(doc: QuoteDocument) -> None:
            # Qt draws text only on the thread that owns the application: the UI thread.
            try:
                write_quote_pdf(doc, target)
            except OSError as error:
                self._on_error(error)
                return
            self.pdf_written.emit(str(target))
            if then is not None:
                then(target, doc)

        self._run(lambda: operations.quote_document(store, profile, quote_id), draw)

    def default_pdf_path(self) -> Path:
        """Where Open PDF and E-mail put the file: the profile's ``quotes`` folder."""
        assert self.header is not None
        folder = self.context.profile.directory / "quotes"
        name = self.header.title.replace(" ", "-").replace(".", "")
        return folder / f"{name}.pdf"

    def on_pdf_button_clicked(self) -> None:
        """Ask where to save the PDF, write it and say where it went."""
        if self.header is None:
            return
        path, _filter = QFileDialog.getSaveFileName(
            self,
            "Save quote as PDF",
            str(Path.home() / self.default_pdf_path().name),
            "PDF (*.pdf)",
        )
        if path:
            self.export_pdf(path, lambda p, _d: self.show_message(f"PDF saved to {p}"))

    def on_open_pdf_button_clicked(self) -> None:
        """Write the PDF to the profile's quotes folder and open it in the PDF viewer."""
        if self.header is None:
            return
        target = self._writable_pdf_path()
        self.export_pdf(target, lambda p, _d: QDesktopServices.openUrl(QUrl.fromLocalFile(str(p))))

    def _writable_pdf_path(self) -> Path:
        target = self.default_pdf_path()
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
        except OSError:
            target = Path(tempfile.gettempdir()) / target.name
        return target

    def on_email_button_clicked(self) -> None:
        """Write the PDF, then open the mail program with address, subject and summary."""
        if self.header is None:
            return
        target = self._writable_pdf_path()
        self.export_pdf(target, self._open_mail)

    def _open_mail(self, path: Path, doc: QuoteDocument) -> None:
        url = mailto_url(doc, pdf_path=path)
        QDesktopServices.openUrl(QUrl(url))
        self.show_message(f"{MAILTO_NOTE} PDF: {path}")


def mailto_url(doc: QuoteDocument, *, pdf_path: Path | None = None) -> str:
    """A ``mailto:`` link to the quote's contact with a subject and a plain-text summary.

    Percent-encoded by hand (RFC 6068): QUrl would turn spaces into ``+`` for some mail programs
    and leave CJK characters raw; quoting everything except unreserved characters works in all.
    """
    cur = doc.currency
    lines = [
        f"Dear {doc.contact_name}," if doc.contact_name else "Hello,",
        "",
        f"please find our quote {doc.title} for {doc.customer_name} attached.",
        "",
    ]
    for line in doc.lines[:MAIL_LINES]:
        lines.append(
            f"- {format_number(line.quantity)} {line.unit} {line.description}: "
            f"{format_amount(line.net_amount, cur)} {cur}"
        )
    if len(doc.lines) > MAIL_LINES:
        lines.append(f"- … and {len(doc.lines) - MAIL_LINES} more lines (see the PDF)")
    lines += [
        "",
        f"Total: {format_amount(doc.total, cur)} {cur}"
        + (f" (incl. tax {format_amount(doc.tax_total, cur)})" if doc.tax_total else ""),
    ]
    if doc.valid_until is not None:
        lines.append(f"Valid until: {doc.valid_until:%Y-%m-%d}")
    lines += ["", "Kind regards,", doc.owner_name or doc.company_name]
    if pdf_path is not None:
        lines += ["", f"(PDF to attach: {pdf_path})"]
    subject = f"Quote {doc.title} — {doc.company_name}"
    body = "\r\n".join(lines)
    to = url_quote(doc.contact_email, safe="@")
    return f"mailto:{to}?subject={url_quote(subject, safe='')}&body={url_quote(body, safe='')}"
