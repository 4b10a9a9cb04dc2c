"""Record pages for accounts, contacts, leads and opportunities.

The main window embeds them through :func:`create_record_page`; each page loads and saves through
``context.runner`` and announces saves with ``context.notify_changed``. Navigation to another
record goes through ``context.open_record``, so pages never know about the window around them.
"""

from __future__ import annotations

import uuid

from PySide6.QtWidgets import QWidget

from crm_desktop.ui.context import AppContext
from crm_desktop.ui.records.base import RecordPage

ENTITIES = ("account", "contact", "lead", "opportunity")


def create_record_page(
    context: AppContext, entity: str, record_id: uuid.UUID | None, parent: QWidget | None = None
) -> QWidget:
    """The page for one record of ``entity`` ("account", "contact", "lead", "opportunity").

    ``record_id`` None opens an empty page that creates the record on its first save. The page
    is a :class:`RecordPage`: connect to its ``saved``/``deleted``/``title_changed`` signals.
    """
    if entity == "account":
        from crm_desktop.ui.records.account_page import AccountPage

        return AccountPage(context, record_id, parent)
    if entity == "contact":
        from crm_desktop.ui.records.contact_page import ContactPage

        return ContactPage(context, record_id, parent)
    if entity == "lead":
        from crm_desktop.ui.records.lead_page import LeadPage

        return LeadPage(context, record_id, parent)
    if entity == "opportunity":
        from crm_desktop.ui.records.opportunity_page import OpportunityPage

        return OpportunityPage(context, record_id, parent)
    raise ValueError(f"no record page for {entity!r}; expected one of {', '.join(ENTITIES)}")


__all__ = ["ENTITIES", "RecordPage", "create_record_page"]
