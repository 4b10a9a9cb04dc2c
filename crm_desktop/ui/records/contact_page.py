"""The contact page: details, the accounts the person works for, their buying roles, activity."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from PySide6.QtWidgets import QHBoxLayout, QPushButton, QTabWidget, QVBoxLayout, QWidget
from sqlalchemy.orm import Session

from crm_desktop.models.enums import Attitude, BuyingRole, Influence
from crm_desktop.services import record_views as rv
from crm_desktop.ui.calendar.activity_dialog import Links
from crm_desktop.ui.records.dialogs import ATTITUDE_LABELS, INFLUENCE_LABELS, ROLE_LABELS
from crm_desktop.ui.records.linking import LinkingPage
from crm_desktop.ui.widgets.related import RelatedList
from crm_desktop.ui.widgets.timeline import TimelinePanel


class ContactPage(LinkingPage):
    """Create, edit and delete a contact; see where they work and what they decide.

    Signals: see :class:`RecordPage`.
    """

    entity = "contact"
    noun = "contact"
    watches = ("account", "opportunity", "activity", "account_contact", "opportunity_contact")
    link_end = "contact_id"
    select_first_message = "Select an account in the list first."
    link_removed_message = "Link to the account removed."

    def _build(self) -> None:
        f = self.form
        f.add_line("first_name", "First name")
        f.add_line("last_name", "Last name *")
        f.add_line("email", "Email")
        f.add_line("phone", "Phone")
        f.add_line("mobile", "Mobile")
        f.add_line("language", "Language", "e.g. en, de, zh")
        f.add_date("birthday", "Birthday")
        f.add_combo("owner_id", "Owner", [], blank="— nobody —")
        f.add_text("notes", "Notes", 90)

        self.accounts = RelatedList(
            ["Account", "Title", "Department", "Primary"],
            entity="account",
            empty_text="Not linked to any account: an individual customer.",
            widths=(220, 170, 140),
        )
        self.accounts.record_activated.connect(self.on_related_record_activated)
        self.linked = self.accounts
        self.link_button = QPushButton("Works for…")
        self.link_button.setObjectName("link_account_button")
        self.link_button.setToolTip("Record an account this person works for, with title")
        self.link_button.clicked.connect(self.on_link_button_clicked)
        self.unlink_button = QPushButton("Remove link")
        self.unlink_button.clicked.connect(self.on_unlink_button_clicked)
        accounts_tab = QWidget()
        column = QVBoxLayout(accounts_tab)
        row = QHBoxLayout()
        row.addWidget(self.link_button)
        row.addWidget(self.unlink_button)
        row.addStretch(1)
        column.addLayout(row)
        column.addWidget(self.accounts)

        self.roles = RelatedList(
            ["Opportunity", "Account", "Stage", "Role", "Attitude", "Influence"],
            entity="opportunity",
            empty_text="Not in the buying centre of any opportunity.",
            widths=(200, 150, 100, 110, 80),
        )
        self.roles.record_activated.connect(self.on_related_record_activated)
        self.timeline = TimelinePanel(
            self.context, self.log_links, empty_text="No activities with this contact yet."
        )
        self.tabs = QTabWidget()
        self.tabs.addTab(accounts_tab, "Accounts")
        self.tabs.addTab(self.roles, "Buying roles")
        self.tabs.addTab(self.timeline, "Activity")

        self.fill_body(self.form_beside(self.tabs, (360, 580)))
        self._link_ids: dict[uuid.UUID, uuid.UUID] = {}

    def _load(self) -> Callable[[Session], Any]:
        record_id = self.record_id
        return lambda session: rv.load_contact(session, record_id)

    def log_links(self) -> Links | None:
        """What a call or meeting logged from this page is about (None until saved)."""
        view = self.view
        if not isinstance(view, rv.ContactView) or view.id is None:
            return None
        return Links(
            account_id=view.accounts[0].account_id if view.accounts else None,
            contact_id=view.id,
            label=view.full_name,
        )

    def display_title(self) -> str:
        view = self.view
        return view.full_name if isinstance(view, rv.ContactView) and view.id else ""

    def _show(self, view: rv.ContactView) -> None:
        f = self.form
        f.set_choices("owner_id", [(str(c.id), c.label) for c in view.owners], blank="— nobody —")
        for name in (
            "first_name",
            "last_name",
            "email",
            "phone",
            "mobile",
            "language",
            "birthday",
            "notes",
        ):
            f.set_value(name, getattr(view.form, name))
        owner = view.form.owner_id if view.id else self.context.current_user_id
        f.set_value("owner_id", owner)
        self._link_ids = {a.account_id: a.link_id for a in view.accounts}
        self.accounts.set_rows(
            [
                (a.account_id, [a.account, a.title, a.department, "★" if a.is_primary else ""])
                for a in view.accounts
            ]
        )
        self.roles.set_rows(
            [
                (
                    r.opportunity_id,
                    [
                        r.opportunity,
                        r.account,
                        r.stage,
                        ROLE_LABELS[BuyingRole(r.role)],
                        ATTITUDE_LABELS[Attitude(r.attitude)],
                        INFLUENCE_LABELS[Influence(r.influence)],
                    ],
                )
                for r in view.roles
            ]
        )
        self.timeline.set_items(view.timeline)
        self.tabs.setTabText(0, f"Accounts ({len(view.accounts)})")
        self.tabs.setTabText(1, f"Buying roles ({len(view.roles)})")
        self.tabs.setTabText(2, f"Activity ({len(view.timeline)})")
        for index in range(3):
            self.tabs.setTabEnabled(index, view.id is not None)
        if view.id is None:
            self.subtitle_label.setText("Fill in the details and save.")
        elif view.accounts:
            first = view.accounts[0]
            job = f"{first.title} at {first.account}" if first.title else first.account
            more = f" (+{len(view.accounts) - 1} more)" if len(view.accounts) > 1 else ""
            self.subtitle_label.setText(job + more)
        else:
            self.subtitle_label.setText("Individual customer")

    def _save(self) -> Callable[[Session], uuid.UUID]:
        f = self.form
        form = rv.ContactForm(
            first_name=f.value("first_name"),
            last_name=f.value("last_name"),
            email=f.value("email"),
            phone=f.value("phone"),
            mobile=f.value("mobile"),
            language=f.value("language"),
            birthday=f.value("birthday"),
            owner_id=f.id_value("owner_id"),
            notes=f.value("notes"),
        )
        record_id = self.record_id
        return lambda session: rv.save_contact(session=session, contact_id=record_id, form=form)

    def on_related_record_activated(self, entity: str, record_id: uuid.UUID) -> None:
        self.context.open_record(entity, record_id)
