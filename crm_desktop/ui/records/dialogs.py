"""Small dialogs of the record pages that write something: link a contact and an account, edit a
buying-centre member, close a deal as lost, convert a lead.

Each is a :class:`WriteDialog`: on OK it runs its write on the store worker in one transaction
and stays open showing the message next to the field when the service refuses, so the user fixes
the input instead of retyping it. Dialogs are opened with ``open()`` (window-modal, no nested
event loop), which keeps the UI thread free and lets tests drive them.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QLabel, QVBoxLayout, QWidget
from sqlalchemy.orm import Session

from crm_desktop.models.enums import Attitude, BuyingRole, Influence
from crm_desktop.services import record_views as rv
from crm_desktop.services.errors import ValidationError
from crm_desktop.ui.context import AppContext
from crm_desktop.ui.widgets.forms import Banner, FieldForm
from crm_desktop.ui.widgets.picker import RecordPicker, SearchFn

ROLE_LABELS = {
    BuyingRole.DECISION_MAKER: "Decision maker",
    BuyingRole.APPROVER: "Approver",
    BuyingRole.PURCHASER: "Purchaser (buyer)",
    BuyingRole.INFLUENCER: "Influencer",
    BuyingRole.USER: "User",
    BuyingRole.GATEKEEPER: "Gatekeeper",
}
ATTITUDE_LABELS = {
    Attitude.SUPPORTER: "Supporter",
    Attitude.NEUTRAL: "Neutral",
    Attitude.OPPONENT: "Opponent",
}
INFLUENCE_LABELS = {Influence.HIGH: "High", Influence.MEDIUM: "Medium", Influence.LOW: "Low"}


class WriteDialog(QDialog):
    """A form dialog whose OK runs one write transaction and closes only when it succeeded.

    Signals:
        written(object): the write was stored; carries what the work function returned.
        failed(str): the write was refused; carries the message shown.
    """

    written = Signal(object)
    failed = Signal(str)

    def __init__(
        self, context: AppContext, title: str, intro: str = "", parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.context = context
        self.setWindowTitle(title)
        self.setMinimumWidth(440)
        layout = QVBoxLayout(self)
        if intro:
            label = QLabel(intro, self)
            label.setWordWrap(True)
            layout.addWidget(label)
        self.banner = Banner(self)
        layout.addWidget(self.banner)
        self.form = FieldForm(self)
        layout.addWidget(self.form)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel, self
        )
        self.ok_button = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.ok_button.setObjectName("ok_button")
        self.buttons.accepted.connect(self.on_buttons_accepted)
        self.buttons.rejected.connect(self.reject)
        layout.addWidget(self.buttons)

    def make_work(self) -> Callable[[Session], Any]:
        """Read the form (UI thread) and return the write to run on the worker."""
        raise NotImplementedError

    def on_buttons_accepted(self) -> None:
        self.form.clear_errors()
        self.banner.clear_message()
        try:
            work = self.make_work()
        except ValidationError as exc:
            self.on_write_failed(exc)
            return
        store = self.context.store

        def run() -> Any:
            with store.sessions.begin() as session:
                return work(session)

        self.ok_button.setEnabled(False)
        self.context.runner.submit(run, on_done=self.on_write_done, on_error=self.on_write_failed)

    def on_write_done(self, result: Any) -> None:
        self.ok_button.setEnabled(True)
        self.written.emit(result)
        self.accept()

    def on_write_failed(self, error: BaseException) -> None:
        self.ok_button.setEnabled(True)
        message = error.message if isinstance(error, ValidationError) else str(error)
        if not (isinstance(error, ValidationError) and self.form.set_error(error.field, message)):
            self.banner.show_message("error", message)
        # The message made the form taller; grow so nothing is cut off at the bottom.
        self.adjustSize()
        self.failed.emit(message)


class LinkDialog(WriteDialog):
    """Link a contact to an account with their title and department there.

    ``fixed_contact``/``fixed_account`` is the side the page already knows; the picker finds the
    other side.

    Signals: those of :class:`WriteDialog`.
    """

    def __init__(
        self,
        context: AppContext,
        *,
        contact_id: uuid.UUID | None = None,
        account_id: uuid.UUID | None = None,
        parent: QWidget | None = None,
    ) -> None:
        picks_account = account_id is None
        super().__init__(
            context,
            "Works for account" if picks_account else "Add contact to account",
            parent=parent,
        )
        self.contact_id, self.account_id = contact_id, account_id
        search: SearchFn = rv.search_accounts if picks_account else rv.search_contacts
        self.picker = RecordPicker(context, search, self)
        self.picked_field = "account_id" if picks_account else "contact_id"
        self.form.add_widget(
            self.picked_field, "Account" if picks_account else "Contact", self.picker
        )
        self.form.add_line("title", "Title", "e.g. Head of Purchasing")
        self.form.add_line("department", "Department")

    def make_work(self) -> Callable[[Session], Any]:
        picked = self.picker.current_id
        if picked is None:
            raise ValidationError(
                self.picked_field,
                "Account is required"
                if self.picked_field == "account_id"
                else "Contact is required",
            )
        contact_id = self.contact_id or picked
        account_id = self.account_id or picked
        title, department = self.form.value("title"), self.form.value("department")

        def work(session: Session) -> uuid.UUID:
            return rv.link_contact_to_account(
                session=session,
                contact_id=contact_id,
                account_id=account_id,
                title=title,
                department=department,
            )

        return work


class MemberDialog(WriteDialog):
    """Add a contact to an opportunity's buying centre, or edit a member's role and stance.

    Signals: those of :class:`WriteDialog`.
    """

    def __init__(
        self,
        context: AppContext,
        *,
        opportunity_id: uuid.UUID,
        account_contacts: tuple[rv.Choice, ...],
        member: rv.BuyingCentreMember | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(
            context,
            "Edit buying centre member" if member else "Add to buying centre",
            "Who is this person in the decision, and which way do they lean?",
            parent,
        )
        self.opportunity_id = opportunity_id
        self.member = member
        # People at the account come first; anyone else can be found by name.
        self.form.add_combo(
            "account_contact",
            "Contact at account",
            [(str(c.id), c.label) for c in account_contacts],
            blank="— someone else (search below) —",
        )
        self.picker = RecordPicker(context, rv.search_contacts, self)
        self.form.add_widget("contact_id", "Other contact", self.picker)
        self.form.add_combo("role", "Role", [(r.value, t) for r, t in ROLE_LABELS.items()])
        self.form.add_combo(
            "attitude", "Attitude", [(a.value, t) for a, t in ATTITUDE_LABELS.items()]
        )
        self.form.add_combo(
            "influence", "Influence", [(i.value, t) for i, t in INFLUENCE_LABELS.items()]
        )
        self.form.add_text("notes", "Notes", 60)
        self.form.set_value("attitude", Attitude.NEUTRAL.value)
        self.form.set_value("influence", Influence.MEDIUM.value)
        if member is not None:
            known = any(c.id == member.contact_id for c in account_contacts)
            if known:
                self.form.set_value("account_contact", str(member.contact_id))
            else:
                self.picker.set_current(rv.Choice(member.contact_id, member.name))
            self.form.set_value("role", member.role)
            self.form.set_value("attitude", member.attitude)
            self.form.set_value("influence", member.influence)
            self.form.set_value("notes", member.notes)

    def make_work(self) -> Callable[[Session], Any]:
        contact_id = self.form.id_value("account_contact") or self.picker.current_id
        opportunity_id = self.opportunity_id
        member_id = self.member.id if self.member else None
        role, attitude = self.form.value("role"), self.form.value("attitude")
        influence, notes = self.form.value("influence"), self.form.value("notes")
        if contact_id is None:
            raise ValidationError("contact_id", "Pick a contact at the account, or search for one")

        def work(session: Session) -> uuid.UUID:
            return rv.save_buying_centre_member(
                session=session,
                opportunity_id=opportunity_id,
                member_id=member_id,
                contact_id=contact_id,
                role=role,
                attitude=attitude,
                influence=influence,
                notes=notes,
            )

        return work


class CloseLostDialog(WriteDialog):
    """Ask why a deal was lost (required) and what to learn from it, then close it as lost.

    Signals: those of :class:`WriteDialog`.
    """

    def __init__(
        self,
        context: AppContext,
        *,
        opportunity_id: uuid.UUID,
        opportunity_name: str,
        stage_id: uuid.UUID | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(
            context,
            "Close as lost",
            f"Closing “{opportunity_name}” as lost. The reason is required: it is what the team"
            " learns from.",
            parent,
        )
        self.opportunity_id = opportunity_id
        self.stage_id = stage_id
        self.form.add_line("loss_reason", "Reason", "e.g. lost on price to a competitor")
        self.form.add_text("lessons_learned", "Lessons learned", 90)

    def make_work(self) -> Callable[[Session], Any]:
        from crm_desktop.services import pipeline

        opportunity_id = self.opportunity_id
        reason = self.form.value("loss_reason")
        lessons = self.form.value("lessons_learned")

        def work(session: Session) -> uuid.UUID:
            pipeline.close_lost(
                session=session,
                opportunity_id=opportunity_id,
                loss_reason=reason,
                lessons_learned=lessons,
            )
            return opportunity_id

        return work


class NewOpportunityDialog(WriteDialog):
    """Start an opportunity with an account already chosen (from the account page).

    Navigation carries only an entity and an id, so the account page cannot open an empty
    opportunity page pre-filled with itself; this dialog creates the deal, and the caller then
    opens it with ``context.open_record``.

    Signals: those of :class:`WriteDialog`.
    """

    def __init__(
        self,
        context: AppContext,
        *,
        account: rv.Choice,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(
            context, "New opportunity", f"A new opportunity with {account.label}.", parent
        )
        self.account = account
        self.form.add_line("name", "Name *", "What are they buying?")
        self.form.add_line("amount", "Amount", "0")
        self.form.add_line("currency", "Currency").setText("USD")
        self.form.add_date("close_date", "Expected close")

    def make_work(self) -> Callable[[Session], Any]:
        form = rv.OpportunityForm(
            name=self.form.value("name"),
            account_id=self.account.id,
            amount=self.form.value("amount") or "0",
            currency=self.form.value("currency"),
            close_date=self.form.value("close_date"),
            owner_id=self.context.current_user_id,
        )

        def work(session: Session) -> uuid.UUID:
            return rv.save_opportunity(session=session, opportunity_id=None, form=form)

        return work
