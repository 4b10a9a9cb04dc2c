"""What every screen is given: the store, the background runner, the profile and the user.

Screens talk to each other through the signals here instead of holding references to one
another, so a record page can ask for another record to be opened without knowing the main
window, and lists refresh when any screen changes data.
"""

from __future__ import annotations

import uuid

from PySide6.QtCore import QObject, Signal

from crm_desktop.config import Profile
from crm_desktop.store import Store
from crm_desktop.ui.tasks import TaskRunner


class AppContext(QObject):
    """Shared services of the desktop app (one per main window; never a module-level global).

    Signals:
        record_requested(str, object): a screen asks to open a record: entity name
            ("account", "contact", "lead", "opportunity", "quote", "activity", ...) and its UUID,
            or ``None`` for a new record of that entity.
        data_changed(str): records of that entity were created, edited or deleted; lists and
            boards showing it reload (batch several into one refresh on a short timer).
        new_record_requested(str, object): a screen asks for a new record of that entity
            with defaults (a dict, e.g. ``{"opportunity_id": ...}`` for a quote made from an
            opportunity).
    """

    record_requested = Signal(str, object)
    new_record_requested = Signal(str, object)
    data_changed = Signal(str)

    def __init__(
        self,
        *,
        store: Store,
        profile: Profile,
        runner: TaskRunner | None = None,
        current_user_id: uuid.UUID | None = None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.store = store
        self.profile = profile
        self.runner = runner if runner is not None else TaskRunner(self)
        self.current_user_id = current_user_id

    def open_record(self, entity: str, record_id: uuid.UUID | None) -> None:
        """Ask the main window to show a record (or a new one when ``record_id`` is None)."""
        self.record_requested.emit(entity, record_id)

    def new_record(self, entity: str, **defaults: object) -> None:
        """Ask the main window for a new record of ``entity`` pre-filled with ``defaults``."""
        self.new_record_requested.emit(entity, dict(defaults))

    def notify_changed(self, entity: str) -> None:
        """Tell every screen that records of ``entity`` changed."""
        self.data_changed.emit(entity)
