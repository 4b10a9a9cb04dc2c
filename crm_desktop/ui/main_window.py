"""The main window (minimal until the desktop issue lands: record counts per area)."""

from __future__ import annotations

from PySide6.QtWidgets import QLabel, QMainWindow, QVBoxLayout, QWidget
from sqlalchemy import func, select

from crm_desktop.config import Profile
from crm_desktop.models import Account, Contact, Lead, Opportunity
from crm_desktop.store import Store


class MainWindow(QMainWindow):
    """Top-level window of the desktop app."""

    def __init__(self, *, store: Store, profile: Profile) -> None:
        super().__init__()
        self.store = store
        self.profile = profile
        self.setWindowTitle("Field CRM")
        central = QWidget(self)
        layout = QVBoxLayout(central)
        self.summary = QLabel(self._summary_text(), central)
        layout.addWidget(self.summary)
        self.setCentralWidget(central)
        self.statusBar().showMessage(f"Profile: {profile.directory}")
        self.resize(900, 600)

    def _summary_text(self) -> str:
        with self.store.sessions() as session:
            counts = {
                label: session.scalar(
                    select(func.count()).select_from(model).where(model.deleted.is_(False))
                )
                for label, model in (
                    ("Accounts", Account),
                    ("Contacts", Contact),
                    ("Leads", Lead),
                    ("Opportunities", Opportunity),
                )
            }
        return "\n".join(f"{label}: {count}" for label, count in counts.items())
