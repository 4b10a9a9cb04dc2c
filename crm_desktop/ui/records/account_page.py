"""The account page: details, the people who work there, its deals and its activity timeline."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from PySide6.QtWidgets import (
    QHBoxLayout,
    QPushButton,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)
from sqlalchemy.orm import Session

from crm_desktop.models.enums import AccountKind, AccountStatus, Grade
from crm_desktop.services import record_views as rv
from crm_desktop.ui.calendar.activity_dialog import Links
from crm_desktop.ui.quotes import AccountOrdersWidget
from crm_desktop.ui.records.dialogs import NewOpportunityDialog
from crm_desktop.ui.records.linking import LinkingPage
from crm_desktop.ui.widgets.forms import money
from crm_desktop.ui.widgets.picker import RecordPicker
from crm_desktop.ui.widgets.related import RelatedList
from crm_desktop.ui.widgets.timeline import TimelinePanel


def opportunity_cells(o: rv.OpportunityRow) -> list[str]:
    """The cells of an opportunity row in related lists."""
    return [
        o.name,
        o.stage,
        money(o.amount, o.currency),
        f"{o.probability}%",
        o.close_date.isoformat() if o.close_date else "",
    ]


class AccountPage(LinkingPage):
    """Create, edit and delete an account; see its contacts, opportunities and activities.

    Signals: see :class:`RecordPage`.
    """

    entity = "account"
    noun = "account"
    watches = ("contact", "opportunity", "activity", "account_contact")
    link_end = "account_id"
    select_first_message = "Select a contact in the list first."
    link_removed_message = "Contact removed from this account."

    def _build(self) -> None:
        f = self.form
        f.add_line("name", "Name *")
        f.add_combo("kind", "Kind", [(k.value, k.value.capitalize()) for k in AccountKind])
        f.add_combo("status", "Status", [(s.value, s.value.capitalize()) for s in AccountStatus])
        f.add_line("industry", "Industry")
        f.add_line("region", "Region")
        f.add_combo(
            "customer_grade", "Customer grade", [(g.value, g.value) for g in Grade], blank="—"
        )
        f.add_line("credit_grade", "Credit grade")
        f.add_line("credit_limit", "Credit limit", "e.g. 50000")
        f.add_combo("owner_id", "Owner", [], blank="— nobody —")
        self.parent_picker = RecordPicker(self.context, rv.search_accounts, self)
        self.parent_picker.textEdited.connect(f.on_field_edited)
        f.add_widget("parent_id", "Parent account", self.parent_picker)
        f.add_line("phone", "Phone", "+1 415 555 0100")
        f.add_line("email", "Email")
        f.add_line("website", "Website")
        f.add_text("notes", "Notes", 90)

        self.contacts = RelatedList(
            ["Name", "Title", "Department", "Email", "Phone"],
            entity="contact",
            empty_text="No contacts yet. Use “Add contact…” to record who works here.",
            widths=(170, 160, 120, 200),
        )
        self.contacts.record_activated.connect(self.on_related_record_activated)
        self.linked = self.contacts
        self.add_contact_button = QPushButton("Add contact…")
        self.add_contact_button.setObjectName("add_contact_button")
        self.add_contact_button.clicked.connect(self.on_link_button_clicked)
        self.unlink_contact_button = QPushButton("Remove from account")
        self.unlink_contact_button.clicked.connect(self.on_unlink_button_clicked)
        contacts_tab = QWidget()
        column = QVBoxLayout(contacts_tab)
        buttons = QHBoxLayout()
        buttons.addWidget(self.add_contact_button)
        buttons.addWidget(self.unlink_contact_button)
        buttons.addStretch(1)
        column.addLayout(buttons)
        column.addWidget(self.contacts)

        self.opportunities = RelatedList(
            ["Opportunity", "Stage", "Amount", "Prob.", "Close date"],
            entity="opportunity",
            empty_text="No opportunities with this account yet.",
            widths=(320, 110, 130, 50),
        )
        self.opportunities.record_activated.connect(self.on_related_record_activated)
        self.new_opportunity_button = QPushButton("New opportunity…")
        self.new_opportunity_button.setObjectName("new_opportunity_button")
        self.new_opportunity_button.clicked.connect(self.on_new_opportunity_button_clicked)
        opportunities_tab = QWidget()
        opp_column = QVBoxLayout(opportunities_tab)
        opp_buttons = QHBoxLayout()
        opp_buttons.addWidget(self.new_opportunity_button)
        opp_buttons.addStretch(1)
        opp_column.addLayout(opp_buttons)
        opp_column.addWidget(self.opportunities)
        self.timeline = TimelinePanel(
            self.context, self.log_links, empty_text="No activities with this account yet."
        )

        self.tabs = QTabWidget()
        self.tabs.addTab(contacts_tab, "Contacts")
        self.tabs.addTab(opportunities_tab, "Opportunities")
        self.tabs.addTab(self.timeline, "Activity")
        # Sales orders made from accepted quotes; shown once the account exists.
        self.orders_panel: AccountOrdersWidget | None = None

        splitter = self.form_beside(self.tabs, (380, 560))
        splitter.setStretchFactor(0, 2)
        splitter.setStretchFactor(1, 3)
        self.fill_body(splitter)
        self._link_ids: dict[uuid.UUID, uuid.UUID] = {}

    def _load(self) -> Callable[[Session], Any]:
        record_id = self.record_id
        return lambda session: rv.load_account(session, record_id)

    def log_links(self) -> Links | None:
        """What a call or meeting logged from this page is about (None until saved)."""
        view = self.view
        if not isinstance(view, rv.AccountView) or view.id is None:
            return None
        return Links(account_id=view.id, label=view.form.name)

    def display_title(self) -> str:
        view = self.view
        return view.form.name if isinstance(view, rv.AccountView) and view.id else ""

    def _show(self, view: rv.AccountView) -> None:
        f = self.form
        f.set_choices("owner_id", [(str(c.id), c.label) for c in view.owners], blank="— nobody —")
        form = view.form
        for name in (
            "name", "kind", "status", "industry", "region", "customer_grade", "credit_grade",
            "credit_limit", "phone", "email", "website", "notes",
        ):  # fmt: skip
            f.set_value(name, getattr(form, name))
        if view.id is None and self.context.current_user_id is not None:
            f.set_value("owner_id", self.context.current_user_id)
        else:
            f.set_value("owner_id", form.owner_id)
        self.parent_picker.set_current(
            rv.Choice(form.parent_id, view.parent_label) if form.parent_id else None
        )
        self._link_ids = {c.contact_id: c.link_id for c in view.contacts}
        self.contacts.set_rows(
            [
                (c.contact_id, [c.name, c.title, c.department, c.email, c.phone])
                for c in view.contacts
            ]
        )
        self.opportunities.set_rows(
            [],
            groups=[
                ("Open", [(o.id, opportunity_cells(o)) for o in view.open_opportunities]),
                ("Closed", [(o.id, opportunity_cells(o)) for o in view.closed_opportunities]),
            ]
            if view.open_opportunities or view.closed_opportunities
            else (),
        )
        self.timeline.set_items(view.timeline)
        self.tabs.setTabText(0, f"Contacts ({len(view.contacts)})")
        count = len(view.open_opportunities) + len(view.closed_opportunities)
        self.tabs.setTabText(1, f"Opportunities ({count})")
        self.tabs.setTabText(2, f"Activity ({len(view.timeline)})")
        self.tabs.setTabEnabled(0, view.id is not None)
        self.tabs.setTabEnabled(1, view.id is not None)
        self.tabs.setTabEnabled(2, view.id is not None)
        if self.orders_panel is None and view.id is not None:
            self.orders_panel = AccountOrdersWidget(self.context, view.id)
            index = self.tabs.addTab(self.orders_panel, "Orders")
            self.orders_panel.orders_loaded.connect(
                lambda count, i=index: self.tabs.setTabText(i, f"Orders ({count})")
            )
        parts = [form.kind.capitalize(), form.status.capitalize()]
        if form.industry:
            parts.append(form.industry)
        if form.region:
            parts.append(form.region)
        if view.parent_label:
            parts.append(f"part of {view.parent_label}")
        self.subtitle_label.setText(
            " · ".join(parts) if view.id else "Fill in the details and save."
        )

    def _save(self) -> Callable[[Session], uuid.UUID]:
        f = self.form
        form = rv.AccountForm(
            name=f.value("name"),
            kind=f.value("kind"),
            industry=f.value("industry"),
            region=f.value("region"),
            status=f.value("status"),
            customer_grade=f.value("customer_grade"),
            credit_grade=f.value("credit_grade"),
            credit_limit=f.value("credit_limit"),
            owner_id=f.id_value("owner_id"),
            parent_id=self.parent_picker.current_id,
            phone=f.value("phone"),
            email=f.value("email"),
            website=f.value("website"),
            notes=f.value("notes"),
        )
        record_id = self.record_id
        return lambda session: rv.save_account(session=session, account_id=record_id, form=form)

    def on_related_record_activated(self, entity: str, record_id: uuid.UUID) -> None:
        self.context.open_record(entity, record_id)

    def on_new_opportunity_button_clicked(self) -> None:
        view = self.view
        if not isinstance(view, rv.AccountView) or view.id is None:
            return
        self.opportunity_dialog = NewOpportunityDialog(
            self.context, account=rv.Choice(view.id, view.form.name), parent=self
        )
        self.opportunity_dialog.written.connect(self.on_opportunity_dialog_written)
        self.opportunity_dialog.open()

    def on_opportunity_dialog_written(self, opportunity_id: uuid.UUID) -> None:
        self.context.notify_changed("opportunity")
        self.context.open_record("opportunity", opportunity_id)
