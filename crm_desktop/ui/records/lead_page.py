"""The lead page: grade, status and details, and Convert, which turns the lead into a customer.

Conversion itself is :func:`crm_desktop.services.leads.convert_lead`; this page only asks for the
opportunity's name and value, runs it, and opens what it produced.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QFrame,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)
from sqlalchemy.orm import Session

from crm_desktop.models.enums import LeadStatus
from crm_desktop.services import record_views as rv
from crm_desktop.services.errors import ValidationError
from crm_desktop.ui.context import AppContext
from crm_desktop.ui.records.base import RecordPage
from crm_desktop.ui.records.dialogs import WriteDialog
from crm_desktop.ui.widgets.forms import section_title

GRADE_HINTS = {"A": "A — hot", "B": "B — warm", "C": "C — cool", "D": "D — cold"}


class ConvertDialog(WriteDialog):
    """Ask what the converted lead's opportunity should be, then run the conversion.

    Signals: those of :class:`WriteDialog` (``written`` carries the service's ``LeadConverted``).
    """

    def __init__(
        self,
        context: AppContext,
        *,
        lead_id: uuid.UUID,
        suggested_name: str,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(
            context,
            "Convert lead",
            "Converting creates (or reuses) an account and a contact from this lead and, if you"
            " want, an opportunity to work on.",
            parent,
        )
        self.lead_id = lead_id
        self.create_box = QCheckBox("Create an opportunity", self)
        self.create_box.setObjectName("create_opportunity")
        self.create_box.setChecked(True)
        self.create_box.toggled.connect(self.on_create_box_toggled)
        self.form.layout_.insertRow(0, "", self.create_box)
        self.form.add_line("opportunity_name", "Opportunity").setText(suggested_name)
        self.form.add_line("amount", "Amount", "0")
        self.form.add_line("currency", "Currency").setText("USD")
        self.form.add_date("close_date", "Expected close")

    def on_create_box_toggled(self, checked: bool) -> None:
        for name in ("opportunity_name", "amount", "currency", "close_date"):
            self.form.fields[name].setEnabled(checked)

    def make_work(self) -> Callable[[Session], Any]:
        from datetime import date

        from crm_desktop.services.leads import convert_lead

        create = self.create_box.isChecked()
        name = self.form.value("opportunity_name").strip() or None
        amount_text = self.form.value("amount").strip().replace(",", "")
        amount: Decimal | None = None
        if create and amount_text:
            try:
                amount = Decimal(amount_text)
            except InvalidOperation:
                raise ValidationError(
                    "amount", f"Amount: '{amount_text}' is not a number"
                ) from None
            if not amount.is_finite() or amount < 0:
                raise ValidationError("amount", "Amount must be a positive number")
        currency = self.form.value("currency").strip().upper() or "USD"
        close_text = self.form.value("close_date")
        close = date.fromisoformat(close_text) if create and close_text else None
        lead_id, owner = self.lead_id, self.context.current_user_id

        def work(session: Session) -> Any:
            return convert_lead(
                session=session,
                lead_id=lead_id,
                create_opportunity=create,
                opportunity_name=name,
                amount=amount,
                currency=currency,
                close_date=close,
                owner_id=owner,
            )

        return work


class LeadPage(RecordPage):
    """Create, edit, delete and convert a lead.

    Signals (besides those of :class:`RecordPage`):
        converted(object): the lead was converted; carries the service's ``LeadConverted``.
    """

    converted = Signal(object)

    entity = "lead"
    noun = "lead"
    watches = ("activity",)

    def _build(self) -> None:
        self.convert_button = QPushButton("Convert…", self)
        self.convert_button.setObjectName("convert_button")
        self.convert_button.setToolTip(
            "Turn this lead into an account, a contact and an opportunity"
        )
        self.action_bar.insertWidget(0, self.convert_button)
        self.convert_button.clicked.connect(self.on_convert_button_clicked)

        f = self.form
        f.add_combo("grade", "Grade", list(GRADE_HINTS.items()), blank="— not graded —")
        f.add_combo("status", "Status", [(s.value, s.value.capitalize()) for s in LeadStatus])
        f.add_line("first_name", "First name")
        f.add_line("last_name", "Last name *")
        f.add_line("company", "Company")
        f.add_line("title", "Title")
        f.add_line("email", "Email")
        f.add_line("phone", "Phone")
        f.add_line("industry", "Industry")
        f.add_line("region", "Region")
        f.add_line("source", "Source", "e.g. trade fair, web form")
        f.add_line("campaign", "Campaign")
        f.add_combo("owner_id", "Owner", [], blank="— nobody —")
        f.add_text("notes", "Notes", 90)

        # Right-hand panel: what became of the lead, or what to do with it next.
        panel = QWidget(self.body)
        side = QVBoxLayout(panel)
        side.setContentsMargins(8, 0, 0, 0)
        self.converted_box = QFrame(panel)
        self.converted_box.setObjectName("converted_box")
        self.converted_box.setStyleSheet(
            "#converted_box { background:#e6f4ea; border:1px solid #b7dfc2; border-radius:4px; }"
        )
        box = QVBoxLayout(self.converted_box)
        self.converted_label = QLabel(self.converted_box)
        self.converted_label.setWordWrap(True)
        box.addWidget(self.converted_label)
        row = QHBoxLayout()
        self.open_buttons: dict[str, QPushButton] = {}
        for entity, text in (
            ("account", "Open account"),
            ("contact", "Open contact"),
            ("opportunity", "Open opportunity"),
        ):
            button = QPushButton(text, self.converted_box)
            button.setObjectName(f"open_{entity}_button")
            button.clicked.connect(self.on_open_button_clicked)
            button.setProperty("entity", entity)
            row.addWidget(button)
            self.open_buttons[entity] = button
        row.addStretch(1)
        box.addLayout(row)
        self.converted_box.hide()
        side.addWidget(self.converted_box)

        side.addWidget(section_title("Suggested grade", panel))
        self.suggestion = QLabel(panel)
        self.suggestion.setObjectName("grade_suggestion")
        self.suggestion.setWordWrap(True)
        self.suggestion.setTextFormat(Qt.TextFormat.PlainText)
        side.addWidget(self.suggestion)
        self.use_grade_button = QPushButton("Use suggested grade", panel)
        self.use_grade_button.setObjectName("use_grade_button")
        self.use_grade_button.clicked.connect(self.on_use_grade_button_clicked)
        side.addWidget(self.use_grade_button, 0, Qt.AlignmentFlag.AlignLeft)
        self.next_hint = QLabel(
            "When the lead is qualified, Convert turns it into an account and a contact (reusing"
            " ones that already exist) and, if you like, an opportunity to work on.",
            panel,
        )
        self.next_hint.setWordWrap(True)
        self.next_hint.setStyleSheet("color:#5f6368; margin-top:12px;")
        side.addWidget(self.next_hint)
        side.addStretch(1)

        self.fill_body(self.form_beside(panel, (480, 460)))
        self._targets: dict[str, uuid.UUID] = {}

    def _load(self) -> Callable[[Session], Any]:
        record_id = self.record_id
        return lambda session: rv.load_lead(session, record_id)

    def display_title(self) -> str:
        view = self.view
        return view.full_name if isinstance(view, rv.LeadView) and view.id else ""

    def _show(self, view: rv.LeadView) -> None:
        f = self.form
        f.set_choices("owner_id", [(str(c.id), c.label) for c in view.owners], blank="— nobody —")
        for name in (
            "grade", "status", "first_name", "last_name", "company", "title", "email", "phone",
            "industry", "region", "source", "campaign", "notes",
        ):  # fmt: skip
            f.set_value(name, getattr(view.form, name))
        f.set_value("owner_id", view.form.owner_id if view.id else self.context.current_user_id)
        is_converted = view.converted_at is not None
        self.convert_button.setEnabled(
            view.id is not None
            and not is_converted
            and view.form.status != LeadStatus.DISQUALIFIED.value
        )
        self.form.set_read_only(is_converted)
        self.save_button.setEnabled(not is_converted)
        self._targets = {}
        for entity, choice in (
            ("account", view.converted_account),
            ("contact", view.converted_contact),
            ("opportunity", view.converted_opportunity),
        ):
            self.open_buttons[entity].setVisible(choice is not None)
            if choice is not None:
                self._targets[entity] = choice.id
        if is_converted and view.converted_at is not None:
            when = view.converted_at.astimezone().strftime("%Y-%m-%d")
            self.converted_label.setText(f"Converted on {when}.")
            self.converted_box.show()
        else:
            self.converted_box.hide()
        if view.id is not None and view.suggested_grade:
            reasons = "\n".join(f"  {r}" for r in view.score_reasons) or "  no signals yet"
            self.suggestion.setText(
                f"{GRADE_HINTS.get(view.suggested_grade, view.suggested_grade)}"
                f" (score {view.score})\n{reasons}"
            )
        else:
            self.suggestion.setText("Save the lead to see a suggested grade.")
        self.use_grade_button.setEnabled(
            view.id is not None and not is_converted and view.suggested_grade != view.form.grade
        )
        self.next_hint.setVisible(not is_converted)
        parts = [p for p in (view.form.title, view.form.company) if p]
        grade = f"Grade {view.form.grade}" if view.form.grade else "Not graded"
        self.subtitle_label.setText(
            " · ".join([" at ".join(parts), grade, view.form.status.capitalize()]).lstrip(" ·")
            if view.id
            else "Fill in the details and save."
        )

    def _save(self) -> Callable[[Session], uuid.UUID]:
        f = self.form
        form = rv.LeadForm(
            first_name=f.value("first_name"),
            last_name=f.value("last_name"),
            company=f.value("company"),
            title=f.value("title"),
            email=f.value("email"),
            phone=f.value("phone"),
            industry=f.value("industry"),
            region=f.value("region"),
            source=f.value("source"),
            campaign=f.value("campaign"),
            grade=f.value("grade"),
            status=f.value("status"),
            owner_id=f.id_value("owner_id"),
            notes=f.value("notes"),
        )
        record_id = self.record_id
        return lambda session: rv.save_lead(session=session, lead_id=record_id, form=form)

    def on_convert_button_clicked(self) -> None:
        if self.record_id is None or not isinstance(self.view, rv.LeadView):
            return
        if self.dirty:
            self.banner.show_message("info", "Save your changes to the lead before converting it.")
            return
        form = self.view.form
        base = form.company or self.view.full_name
        self.convert_dialog = ConvertDialog(
            self.context,
            lead_id=self.record_id,
            suggested_name=f"{base} — new business",
            parent=self,
        )
        self.convert_dialog.written.connect(self.on_convert_dialog_written)
        self.convert_dialog.open()

    def on_convert_dialog_written(self, result: Any) -> None:
        for entity in ("lead", "account", "contact", "opportunity"):
            self.context.notify_changed(entity)
        self.converted.emit(result)
        # Where the salesperson works next: the new deal, or the customer when there is none.
        if result.opportunity_id is not None:
            self.context.open_record("opportunity", result.opportunity_id)
        else:
            self.context.open_record("account", result.account_id)

    def on_use_grade_button_clicked(self) -> None:
        if isinstance(self.view, rv.LeadView) and self.view.suggested_grade:
            self.form.set_value("grade", self.view.suggested_grade)
            self.dirty = True

    def on_open_button_clicked(self) -> None:
        button = self.sender()
        entity = button.property("entity") if button is not None else None
        if entity in self._targets:
            self.context.open_record(entity, self._targets[entity])
