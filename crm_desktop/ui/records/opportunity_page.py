"""The opportunity page: stage bar, value and probability, buying centre, activities, closing.

Stage moves, probability and closing go through :mod:`crm_desktop.services.pipeline` (the rules
live there: probability follows the stage unless the user typed their own, lost needs a reason).
A stage click with unsaved edits saves them in the same transaction as the move, so a move never
throws away what the user typed, and a refused edit refuses the move too.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from PySide6.QtWidgets import (
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QPushButton,
    QSpinBox,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)
from sqlalchemy.orm import Session

from crm_desktop.models.enums import PurchaseType
from crm_desktop.services import pipeline
from crm_desktop.services import record_views as rv
from crm_desktop.ui.calendar.activity_dialog import Links
from crm_desktop.ui.quotes import OpportunityQuotesWidget
from crm_desktop.ui.records.base import RecordPage
from crm_desktop.ui.records.dialogs import CloseLostDialog, MemberDialog
from crm_desktop.ui.widgets.buying_centre import BuyingCentreView
from crm_desktop.ui.widgets.forms import money
from crm_desktop.ui.widgets.picker import RecordPicker
from crm_desktop.ui.widgets.stage_bar import StageBar
from crm_desktop.ui.widgets.timeline import TimelinePanel

PURCHASE_TYPES = {
    PurchaseType.NEW_PURCHASE: "New purchase",
    PurchaseType.MODIFIED_REBUY: "Modified rebuy",
    PurchaseType.STRAIGHT_REBUY: "Straight rebuy",
}


def _figure(title: str, parent: QWidget) -> tuple[QWidget, QLabel]:
    box = QFrame(parent)
    box.setFrameShape(QFrame.Shape.StyledPanel)
    box.setStyleSheet("QFrame { background:#f8f9fa; border:1px solid #e0e0e0; border-radius:4px; }")
    column = QVBoxLayout(box)
    column.setContentsMargins(10, 6, 10, 6)
    caption = QLabel(title, box)
    caption.setStyleSheet("color:#5f6368; border:none;")
    value = QLabel(box)
    font = value.font()
    font.setPointSizeF(font.pointSizeF() * 1.25)
    font.setBold(True)
    value.setFont(font)
    value.setStyleSheet("border:none;")
    column.addWidget(caption)
    column.addWidget(value)
    return box, value


class OpportunityPage(RecordPage):
    """Create, edit, move, close and delete an opportunity and manage its buying centre.

    Signals: see :class:`RecordPage`.
    """

    entity = "opportunity"
    noun = "opportunity"
    watches = ("account", "contact", "activity", "opportunity_contact", "account_contact")

    def _build(self) -> None:
        self.won_button = QPushButton("Close won", self)
        self.won_button.setObjectName("close_won_button")
        self.lost_button = QPushButton("Close lost…", self)
        self.lost_button.setObjectName("close_lost_button")
        self.action_bar.insertWidget(0, self.won_button)
        self.action_bar.insertWidget(1, self.lost_button)
        self.won_button.clicked.connect(self.on_won_button_clicked)
        self.lost_button.clicked.connect(self.on_lost_button_clicked)

        self.stage_bar = StageBar(self.body)
        self.stage_bar.setObjectName("stage_bar")
        self.stage_bar.stage_clicked.connect(self.on_stage_bar_stage_clicked)

        figures = QGridLayout()
        amount_box, self.amount_label = _figure("Amount", self.body)
        weighted_box, self.weighted_label = _figure("Weighted", self.body)
        close_box, self.close_label = _figure("Expected close", self.body)
        prob_box = QFrame(self.body)
        prob_box.setStyleSheet(
            "QFrame { background:#f8f9fa; border:1px solid #e0e0e0; border-radius:4px; }"
        )
        prob_column = QVBoxLayout(prob_box)
        prob_column.setContentsMargins(10, 6, 10, 6)
        self.probability_caption = QLabel("Probability", prob_box)
        self.probability_caption.setStyleSheet("color:#5f6368; border:none;")
        prob_row = QHBoxLayout()
        self.probability = QSpinBox(prob_box)
        self.probability.setObjectName("probability")
        self.probability.setRange(0, 100)
        self.probability.setSuffix(" %")
        self.probability.setToolTip("Type your own figure to override the stage's default")
        self.probability.valueChanged.connect(self.on_probability_value_changed)
        self.follow_button = QPushButton("Use stage's", prob_box)
        self.follow_button.setObjectName("follow_stage_button")
        self.follow_button.setToolTip("Drop your figure and follow the stage's default again")
        self.follow_button.clicked.connect(self.on_follow_button_clicked)
        prob_row.addWidget(self.probability)
        prob_row.addWidget(self.follow_button)
        prob_column.addWidget(self.probability_caption)
        prob_column.addLayout(prob_row)
        for column, box in enumerate((amount_box, prob_box, weighted_box, close_box)):
            figures.addWidget(box, 0, column)

        self.closed_note = QLabel(self.body)
        self.closed_note.setObjectName("closed_note")
        self.closed_note.setWordWrap(True)
        self.closed_note.hide()

        f = self.form
        f.add_line("name", "Name *")
        self.account_picker = RecordPicker(self.context, rv.search_accounts, self)
        self.account_picker.textEdited.connect(f.on_field_edited)
        f.add_widget("account_id", "Account *", self.account_picker)
        f.add_line("amount", "Amount *", "0.00")
        f.add_line("currency", "Currency", "USD")
        f.add_date("close_date", "Close date")
        f.add_combo("owner_id", "Owner", [], blank="— nobody —")
        f.add_combo(
            "purchase_type",
            "Purchase type",
            [(k.value, t) for k, t in PURCHASE_TYPES.items()],
            blank="—",
        )
        f.add_line("lead_source", "Lead source")
        f.add_line("next_step", "Next step", "What happens next, and by when")
        f.add_text("competitors", "Competitors", 60)
        f.add_text("products_of_interest", "Products of interest", 60)
        f.add_text("description", "Description", 80)

        self.buying_centre = BuyingCentreView()
        self.buying_centre.member_activated.connect(self.on_buying_centre_member_activated)
        self.add_member_button = QPushButton("Add…")
        self.add_member_button.setObjectName("add_member_button")
        self.edit_member_button = QPushButton("Edit…")
        self.edit_member_button.setObjectName("edit_member_button")
        self.remove_member_button = QPushButton("Remove")
        self.remove_member_button.setObjectName("remove_member_button")
        self.add_member_button.clicked.connect(self.on_add_member_button_clicked)
        self.edit_member_button.clicked.connect(self.on_edit_member_button_clicked)
        self.remove_member_button.clicked.connect(self.on_remove_member_button_clicked)
        centre_tab = QWidget()
        centre_column = QVBoxLayout(centre_tab)
        buttons = QHBoxLayout()
        for button in (self.add_member_button, self.edit_member_button, self.remove_member_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        centre_column.addLayout(buttons)
        centre_column.addWidget(self.buying_centre, 1)
        self.timeline = TimelinePanel(
            self.context, self.log_links, empty_text="No activities on this opportunity yet."
        )
        self.tabs = QTabWidget()
        self.tabs.addTab(centre_tab, "Buying centre")
        self.tabs.addTab(self.timeline, "Activity")
        # Quotes need a saved opportunity; the tab appears once the record exists.
        self.quotes_panel: OpportunityQuotesWidget | None = None

        splitter = self.form_beside(self.tabs, (400, 560))
        layout = self.fill_body(self.stage_bar)
        layout.addLayout(figures)
        layout.addWidget(self.closed_note)
        layout.addWidget(splitter, 1)
        self._showing = False

    # -- load / show

    def _load(self) -> Callable[[Session], Any]:
        record_id = self.record_id
        return lambda session: rv.load_opportunity(session, record_id)

    def log_links(self) -> Links | None:
        """What a call or meeting logged from this page is about (None until saved)."""
        view = self.view
        if not isinstance(view, rv.OpportunityView) or view.id is None:
            return None
        return Links(account_id=view.form.account_id, opportunity_id=view.id, label=view.form.name)

    def display_title(self) -> str:
        view = self.view
        return view.form.name if isinstance(view, rv.OpportunityView) and view.id else ""

    def on_load_done(self, view: rv.OpportunityView) -> None:
        typed = self._typed_probability() if self.dirty else None
        super().on_load_done(view)
        if typed is not None and self.probability.isEnabled():
            self.probability.setValue(typed)

    def _show(self, view: rv.OpportunityView) -> None:
        self._showing = True
        try:
            self._show_view(view)
        finally:
            self._showing = False

    def _show_view(self, view: rv.OpportunityView) -> None:
        f = self.form
        form = view.form
        f.set_choices("owner_id", [(str(c.id), c.label) for c in view.owners], blank="— nobody —")
        for name in (
            "name", "amount", "currency", "close_date", "purchase_type", "lead_source", "next_step",
            "competitors", "products_of_interest", "description",
        ):  # fmt: skip
            f.set_value(name, getattr(form, name))
        f.set_value("owner_id", form.owner_id if view.id else self.context.current_user_id)
        self.account_picker.set_current(
            rv.Choice(form.account_id, view.account_label) if form.account_id else None
        )
        self.stage_bar.set_stages(view.stages, view.stage_id)
        stage = view.stage
        closed = stage is not None and stage.is_closed
        is_new = view.id is None
        self.stage_bar.setEnabled(not is_new)
        self.probability.setValue(view.probability)
        self.probability.setEnabled(not closed and not is_new)
        self.follow_button.setVisible(view.probability_overridden and not closed)
        self.probability_caption.setText(
            "Probability (your figure)"
            if view.probability_overridden
            else "Probability (stage default)"
        )
        currency = form.currency or "USD"
        self.amount_label.setText(money(Decimal(form.amount or "0"), currency))
        self.weighted_label.setText(money(view.weighted_amount, currency))
        self.close_label.setText(form.close_date or "not set")
        self.won_button.setEnabled(not closed and not is_new)
        self.lost_button.setEnabled(not closed and not is_new)
        self.add_member_button.setEnabled(not is_new)
        self.edit_member_button.setEnabled(not is_new)
        self.remove_member_button.setEnabled(not is_new)
        if closed and stage is not None:
            when = view.closed_at.astimezone().strftime("%Y-%m-%d") if view.closed_at else ""
            if stage.is_won:
                text = f"Won on {when}."
                style = "background:#e6f4ea; color:#0d652d;"
            else:
                text = f"Lost on {when}. Reason: {view.loss_reason or '—'}"
                if view.lessons_learned:
                    text += f"\nLessons learned: {view.lessons_learned}"
                style = "background:#fdecea; color:#8c1d18;"
            self.closed_note.setText(text)
            self.closed_note.setStyleSheet(style + " padding:6px 8px; border-radius:4px;")
            self.closed_note.show()
        else:
            self.closed_note.hide()
        self.buying_centre.set_members(view.buying_centre)
        self.timeline.set_items(view.timeline)
        self.tabs.setTabText(0, f"Buying centre ({len(view.buying_centre)})")
        self.tabs.setTabText(1, f"Activity ({len(view.timeline)})")
        if self.quotes_panel is None and self.record_id is not None:
            self.quotes_panel = OpportunityQuotesWidget(self.context, self.record_id)
            self.quotes_panel.new_quote_requested.connect(self.on_quotes_panel_new_quote_requested)
            index = self.tabs.addTab(self.quotes_panel, "Quotes")
            self.quotes_panel.quotes_loaded.connect(
                lambda count, i=index: self.tabs.setTabText(i, f"Quotes ({count})")
            )
        owner = next((c.label for c in view.owners if c.id == form.owner_id), "")
        parts = [view.account_label, stage.name if stage else "", owner]
        self.subtitle_label.setText(
            " · ".join(p for p in parts if p) if not is_new else "Fill in the details and save."
        )

    def on_quotes_panel_new_quote_requested(self, opportunity_id: object) -> None:
        """Open a new quote for this deal, its customer and currency pre-filled."""
        self.context.new_record("quote", opportunity_id=opportunity_id)

    # -- save

    def _form(self) -> rv.OpportunityForm:
        f = self.form
        return rv.OpportunityForm(
            name=f.value("name"),
            account_id=self.account_picker.current_id,
            amount=f.value("amount"),
            currency=f.value("currency"),
            close_date=f.value("close_date"),
            purchase_type=f.value("purchase_type"),
            lead_source=f.value("lead_source"),
            next_step=f.value("next_step"),
            competitors=f.value("competitors"),
            products_of_interest=f.value("products_of_interest"),
            description=f.value("description"),
            owner_id=f.id_value("owner_id"),
        )

    def _save(self) -> Callable[[Session], uuid.UUID]:
        form, record_id = self._form(), self.record_id
        typed = self._typed_probability()

        def work(session: Session) -> uuid.UUID:
            saved = rv.save_opportunity(session=session, opportunity_id=record_id, form=form)
            if typed is not None:
                pipeline.set_probability(session=session, opportunity_id=saved, probability=typed)
            return saved

        return work

    def _typed_probability(self) -> int | None:
        """The probability the user typed, when it differs from what is stored."""
        view = self.view
        if not isinstance(view, rv.OpportunityView) or view.id is None:
            return None
        value = self.probability.value()
        return value if value != view.probability else None

    def on_probability_value_changed(self, _value: int) -> None:
        if not self._showing:
            self.dirty = True

    # -- pipeline actions

    def _with_pending_edits(
        self, action: Callable[[Session, uuid.UUID], Any]
    ) -> Callable[[Session], Any]:
        """Wrap a pipeline action so unsaved edits are saved first, in the same transaction."""
        record_id = self.record_id
        assert record_id is not None
        save = self._save() if self.dirty else None

        def work(session: Session) -> Any:
            if save is not None:
                save(session)
            return action(session, record_id)

        return work

    def _run_pipeline(self, action: Callable[[Session, uuid.UUID], Any]) -> None:
        if self.record_id is None or self.busy:
            return
        self.form.clear_errors()
        self.banner.clear_message()
        self.run_write(self._with_pending_edits(action), self.on_pipeline_done)

    def on_pipeline_done(self, changed: pipeline.OpportunityChanged) -> None:
        self.dirty = False
        note = f"Moved to {changed.stage_name}: probability {changed.probability}%"
        if changed.probability_overridden:
            note += " (your figure)"
        self.banner.show_message("success", note + ".")
        self.reload()

    def on_stage_bar_stage_clicked(self, stage_id: uuid.UUID) -> None:
        view = self.view
        if not isinstance(view, rv.OpportunityView) or view.id is None:
            return
        target = next((s for s in view.stages if s.id == stage_id), None)
        if target is None:
            return
        if target.is_closed and not target.is_won:
            self.on_lost_button_clicked()
            return
        self._run_pipeline(
            lambda session, oid: pipeline.move_stage(
                session=session, opportunity_id=oid, stage_id=stage_id
            )
        )

    def on_won_button_clicked(self) -> None:
        answer = QMessageBox.question(
            self,
            "Close won",
            f"Close “{self.display_title()}” as won?",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
            QMessageBox.StandardButton.Yes,
        )
        if answer == QMessageBox.StandardButton.Yes:
            self._run_pipeline(
                lambda session, oid: pipeline.close_won(session=session, opportunity_id=oid)
            )

    def on_lost_button_clicked(self) -> None:
        if self.record_id is None:
            return
        if self.dirty:
            self.banner.show_message("info", "Save your changes before closing the opportunity.")
            return
        self.lost_dialog = CloseLostDialog(
            self.context,
            opportunity_id=self.record_id,
            opportunity_name=self.display_title(),
            parent=self,
        )
        self.lost_dialog.written.connect(self.on_lost_dialog_written)
        self.lost_dialog.open()

    def on_lost_dialog_written(self, _opportunity_id: uuid.UUID) -> None:
        self.notify_others("opportunity")
        self.banner.show_message("info", "Closed as lost.")
        self.reload()

    def on_follow_button_clicked(self) -> None:
        self._run_pipeline(
            lambda session, oid: pipeline.clear_probability_override(
                session=session, opportunity_id=oid
            )
        )

    # -- buying centre

    def _open_member_dialog(self, member: rv.BuyingCentreMember | None) -> None:
        view = self.view
        if not isinstance(view, rv.OpportunityView) or view.id is None:
            return
        self.member_dialog = MemberDialog(
            self.context,
            opportunity_id=view.id,
            account_contacts=view.account_contacts,
            member=member,
            parent=self,
        )
        self.member_dialog.written.connect(self.on_member_dialog_written)
        self.member_dialog.open()

    def on_add_member_button_clicked(self) -> None:
        self._open_member_dialog(None)

    def on_edit_member_button_clicked(self) -> None:
        member = self.buying_centre.selected_member()
        if member is None:
            self.banner.show_message("info", "Select a member of the buying centre first.")
            return
        self._open_member_dialog(member)

    def on_buying_centre_member_activated(self, member_id: uuid.UUID) -> None:
        member = next((m for m in self.buying_centre.members if m.id == member_id), None)
        if member is not None:
            self._open_member_dialog(member)

    def on_member_dialog_written(self, _member_id: uuid.UUID) -> None:
        self.context.notify_changed("opportunity_contact")

    def on_remove_member_button_clicked(self) -> None:
        member = self.buying_centre.selected_member()
        if member is None:
            self.banner.show_message("info", "Select a member of the buying centre first.")
            return
        member_id = member.id
        self.run_write(
            lambda session: rv.remove_buying_centre_member(session=session, member_id=member_id),
            self.on_member_removed,
            changed=("opportunity_contact",),
        )

    def on_member_removed(self, _result: object) -> None:
        self.banner.show_message("info", "Removed from the buying centre.")
        self.reload()
