"""The pages at either end of an account–contact link: add a link, remove the selected one."""

from __future__ import annotations

import uuid

from crm_desktop.services import record_views as rv
from crm_desktop.ui.records.base import RecordPage
from crm_desktop.ui.records.dialogs import LinkDialog
from crm_desktop.ui.widgets.related import RelatedList


class LinkingPage(RecordPage):
    """A record page that lists the other end of its account–contact links.

    A subclass says which end it is (``link_end``), what to say when nothing is selected or a
    link was removed, and sets ``linked`` (the list of the other end) and ``_link_ids`` (the
    other end's id → link id) as it builds and shows.
    """

    #: The :class:`LinkDialog` keyword this page's record fills: ``account_id`` or ``contact_id``.
    link_end: str = ""
    #: Said when "remove" is clicked with nothing selected.
    select_first_message: str = ""
    #: Said once a link was removed.
    link_removed_message: str = ""

    linked: RelatedList
    _link_ids: dict[uuid.UUID, uuid.UUID]

    def on_link_button_clicked(self) -> None:
        if self.record_id is None:
            return
        ends: dict[str, uuid.UUID] = {self.link_end: self.record_id}
        self.link_dialog = LinkDialog(self.context, parent=self, **ends)
        self.link_dialog.written.connect(self.on_link_dialog_written)
        self.link_dialog.open()

    def on_link_dialog_written(self, _link_id: uuid.UUID) -> None:
        self.context.notify_changed("account_contact")

    def on_unlink_button_clicked(self) -> None:
        other_id = self.linked.selected_id()
        link_id = self._link_ids.get(other_id) if other_id else None
        if link_id is None:
            self.banner.show_message("info", self.select_first_message)
            return
        self.run_write(
            lambda session: rv.unlink_contact_from_account(session=session, link_id=link_id),
            self.on_link_removed,
            changed=("account_contact",),
        )

    def on_link_removed(self, _result: object) -> None:
        self.banner.show_message("info", self.link_removed_message)
        self.reload()
