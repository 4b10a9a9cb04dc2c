"""Form helpers: labelled fields that can show a validation message right under themselves.

Every field widget gets the field's name as its ``objectName`` (so tests and the services speak
the same names), and an error label named ``<field>_error`` that stays hidden until a save is
refused for that field.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from typing import Any, ClassVar, cast

from PySide6.QtCore import QDate, Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDateEdit,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QSizePolicy,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from crm_desktop.services.money import minor_units

ERROR_STYLE = "color: #b3261e;"
ERROR_FIELD_STYLE = "border: 1px solid #b3261e; border-radius: 3px;"
_NO_DATE = QDate(1900, 1, 1)


class DateField(QWidget):
    """A date with a calendar popup that can also be empty (a clear button blanks it).

    Signals:
        edited(): the user picked or cleared a date.
    """

    edited = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.edit = QDateEdit(self)
        self.edit.setCalendarPopup(True)
        self.edit.setDisplayFormat("yyyy-MM-dd")
        # Qt has no null date in QDateEdit: the minimum date with a special text stands for "none".
        self.edit.setMinimumDate(_NO_DATE)
        self.edit.setSpecialValueText("—")
        self.edit.setDate(_NO_DATE)
        self.clear_button = QToolButton(self)
        self.clear_button.setText("✕")
        self.clear_button.setToolTip("Clear the date")
        self.clear_button.setAutoRaise(True)
        layout.addWidget(self.edit, 1)
        layout.addWidget(self.clear_button)
        self.edit.dateChanged.connect(self.on_edit_date_changed)
        self.clear_button.clicked.connect(self.on_clear_button_clicked)
        self._quiet = False

    def iso(self) -> str:
        """The date as YYYY-MM-DD, or "" when empty."""
        value = self.edit.date()
        return "" if value == _NO_DATE else value.toString("yyyy-MM-dd")

    def set_iso(self, text: str) -> None:
        """Show a YYYY-MM-DD date ("" for none) without counting as a user edit."""
        self._quiet = True
        try:
            if text:
                d = date.fromisoformat(text)
                self.edit.setDate(QDate(d.year, d.month, d.day))
            else:
                self.edit.setDate(_NO_DATE)
        finally:
            self._quiet = False

    def on_edit_date_changed(self, _value: QDate) -> None:
        if not self._quiet:
            self.edited.emit()

    def on_clear_button_clicked(self) -> None:
        self.edit.setDate(_NO_DATE)


FieldWidget = QLineEdit | QComboBox | QPlainTextEdit | DateField | QWidget


class FieldForm(QWidget):
    """A two-column form of named fields, each with its own inline error message.

    Signals:
        edited(): the user changed any field (pages use it to know they hold unsaved edits).
    """

    edited = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.layout_ = QFormLayout(self)
        self.layout_.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.layout_.setLabelAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self.fields: dict[str, FieldWidget] = {}
        self.errors: dict[str, QLabel] = {}
        self._cursors: dict[str, int] = {}
        self._loading = False

    # -- building

    def _add(self, name: str, label: str, widget: QWidget) -> None:
        widget.setObjectName(name)
        box = QWidget(self)
        # Rows keep their natural height: a tall page must not spread fields apart.
        box.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Fixed)
        column = QVBoxLayout(box)
        column.setContentsMargins(0, 0, 0, 0)
        column.setSpacing(2)
        column.addWidget(widget)
        error = QLabel(box)
        error.setObjectName(f"{name}_error")
        error.setStyleSheet(ERROR_STYLE)
        error.setWordWrap(True)
        error.hide()
        column.addWidget(error)
        self.layout_.addRow(label, box)
        self.fields[name] = widget
        self.errors[name] = error

    def add_line(self, name: str, label: str, placeholder: str = "") -> QLineEdit:
        """A one-line text field."""
        edit = QLineEdit(self)
        edit.setPlaceholderText(placeholder)
        edit.textEdited.connect(self.on_field_edited)
        self._add(name, label, edit)
        return edit

    def add_combo(
        self, name: str, label: str, items: Sequence[tuple[str, str]], *, blank: str | None = None
    ) -> QComboBox:
        """A drop-down of ``(value, label)`` items; ``blank`` adds a first "no value" item."""
        combo = QComboBox(self)
        if blank is not None:
            combo.addItem(blank, "")
        for value, text in items:
            combo.addItem(text, value)
        combo.activated.connect(self.on_field_edited)
        self._add(name, label, combo)
        return combo

    def add_text(self, name: str, label: str, height: int = 70) -> QPlainTextEdit:
        """A multi-line text field."""
        edit = QPlainTextEdit(self)
        edit.setFixedHeight(height)
        edit.setTabChangesFocus(True)
        edit.textChanged.connect(self.on_field_edited)
        self._add(name, label, edit)
        return edit

    def add_date(self, name: str, label: str) -> DateField:
        """A date field that may be empty."""
        field = DateField(self)
        field.edited.connect(self.on_field_edited)
        self._add(name, label, field)
        return field

    def add_widget(self, name: str, label: str, widget: QWidget) -> QWidget:
        """Any other widget (pickers, spin boxes); the caller wires its own change signal."""
        self._add(name, label, widget)
        return widget

    # -- values

    def value(self, name: str) -> str:
        """The field's value as text (a combo's item data; a date as YYYY-MM-DD)."""
        widget = self.fields[name]
        if isinstance(widget, QLineEdit):
            return widget.text()
        if isinstance(widget, QPlainTextEdit):
            return widget.toPlainText()
        if isinstance(widget, QComboBox):
            data = widget.currentData()
            return "" if data is None else str(data)
        if isinstance(widget, DateField):
            return widget.iso()
        raise TypeError(f"no text value for field {name!r}")

    def id_value(self, name: str) -> uuid.UUID | None:
        """A combo field holding record ids: the chosen id, or None."""
        text = self.value(name)
        return uuid.UUID(text) if text else None

    def set_value(self, name: str, value: str | uuid.UUID | None) -> None:
        """Show a stored value without it counting as a user edit."""
        widget = self.fields[name]
        text = "" if value is None else str(value)
        self._loading = True
        try:
            if isinstance(widget, QLineEdit):
                widget.setText(text)
                widget.setCursorPosition(0)
            elif isinstance(widget, QPlainTextEdit):
                widget.setPlainText(text)
            elif isinstance(widget, QComboBox):
                index = widget.findData(text)
                widget.setCurrentIndex(max(index, 0))
            elif isinstance(widget, DateField):
                widget.set_iso(text)
        finally:
            self._loading = False

    def set_choices(
        self, name: str, items: Sequence[tuple[str, str]], *, blank: str | None = None
    ) -> None:
        """Replace a combo's items, keeping its current value when still offered."""
        combo = self.fields[name]
        assert isinstance(combo, QComboBox)
        current = self.value(name)
        self._loading = True
        try:
            combo.clear()
            if blank is not None:
                combo.addItem(blank, "")
            for value, text in items:
                combo.addItem(text, value)
        finally:
            self._loading = False
        self.set_value(name, current)

    def snapshot(self) -> dict[str, object]:
        """Every field's current value (pickers: their chosen record), to put back later."""
        values: dict[str, object] = {}
        self._cursors = {
            name: w.cursorPosition() for name, w in self.fields.items() if isinstance(w, QLineEdit)
        }
        for name, widget in self.fields.items():
            if hasattr(widget, "set_current"):
                picker = cast(Any, widget)  # a RecordPicker (not imported: it needs a context)
                values[name] = (picker.current, picker.text())
            elif isinstance(widget, QLineEdit | QPlainTextEdit | QComboBox | DateField):
                values[name] = self.value(name)
        return values

    def restore(self, values: dict[str, object]) -> None:
        """Put back values taken by :meth:`snapshot` (unsaved edits survive a reload)."""
        for name, value in values.items():
            widget = self.fields.get(name)
            if widget is None:
                continue
            if hasattr(widget, "set_current") and isinstance(value, tuple):
                choice, text = value
                cast(Any, widget).set_current(choice)
                if choice is None and isinstance(widget, QLineEdit):
                    widget.setText(str(text))
            elif isinstance(value, str):
                self.set_value(name, value)
                if isinstance(widget, QLineEdit) and name in self._cursors:
                    # The user may be typing in this very field: keep the caret where it was.
                    widget.setCursorPosition(self._cursors[name])

    def set_read_only(self, read_only: bool) -> None:
        """Lock or unlock every field (a closed deal, a converted lead)."""
        for widget in self.fields.values():
            if isinstance(widget, QLineEdit | QPlainTextEdit):
                widget.setReadOnly(read_only)
            else:
                widget.setEnabled(not read_only)

    # -- errors

    def set_error(self, name: str, message: str) -> bool:
        """Show ``message`` under the field; returns False when no such field is on this form."""
        if name not in self.fields:
            return False
        label = self.errors[name]
        # Services word messages as sentence fragments ("a reason is required"); show a sentence.
        label.setText(message[:1].upper() + message[1:])
        label.show()
        self.fields[name].setStyleSheet(ERROR_FIELD_STYLE)
        self.fields[name].setFocus(Qt.FocusReason.OtherFocusReason)
        return True

    def clear_errors(self) -> None:
        """Hide every field message."""
        for name, label in self.errors.items():
            if label.isVisible() or label.text():
                label.clear()
                label.hide()
                self.fields[name].setStyleSheet("")

    def error_text(self, name: str) -> str:
        """The message shown under a field ("" when none)."""
        label = self.errors[name]
        return label.text() if not label.isHidden() else ""

    def on_field_edited(self, *_args: object) -> None:
        if not self._loading:
            self.edited.emit()


class Banner(QLabel):
    """A coloured message strip above a page: errors in red, notices in blue, success in green."""

    STYLES: ClassVar[dict[str, str]] = {
        "error": "background:#fdecea; color:#8c1d18; border:1px solid #f5c2bd;",
        "info": "background:#e8f0fe; color:#174ea6; border:1px solid #c6d8fb;",
        "success": "background:#e6f4ea; color:#0d652d; border:1px solid #b7dfc2;",
    }

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("banner")
        self.setWordWrap(True)
        self.setTextFormat(Qt.TextFormat.PlainText)
        self.kind = ""
        self.hide()

    def show_message(self, kind: str, text: str) -> None:
        """Show ``text`` styled as ``kind`` ("error", "info" or "success")."""
        self.kind = kind
        self.setStyleSheet(self.STYLES[kind] + " padding:6px 8px; border-radius:4px;")
        self.setText(text)
        self.show()

    def clear_message(self) -> None:
        """Hide the banner."""
        self.kind = ""
        self.clear()
        self.hide()


def section_title(text: str, parent: QWidget | None = None) -> QLabel:
    """A small bold heading between parts of a page."""
    label = QLabel(text, parent)
    font = label.font()
    font.setBold(True)
    label.setFont(font)
    label.setStyleSheet("color:#3c4043; margin-top:6px;")
    return label


def money(amount: Decimal, currency: str) -> str:
    """An amount with thousands separators, the currency's decimals and its code."""
    return f"{amount:,.{minor_units(currency)}f} {currency}"
