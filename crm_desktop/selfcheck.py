"""``--self-check``: prove a build works (fresh store, migrations, main window) and exit.

Used by CI on the PyInstaller build, where a missing data file or hidden import shows up
only at run time: it migrates a fresh store (the Alembic scripts must be in the bundle), loads
the stylesheet, builds the main window offscreen with every area and lets one list read its
first page through the store worker.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path


def run_self_check() -> int:
    """Return 0 if a fresh profile migrates and the main window builds offscreen."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import QEventLoop, QTimer
    from PySide6.QtWidgets import QApplication

    from crm_desktop.app import apply_style, resources_dir
    from crm_desktop.config import Profile
    from crm_desktop.store import open_store
    from crm_desktop.store.migrate import current_revision, head_revision
    from crm_desktop.ui.list_views import RecordListView
    from crm_desktop.ui.main_window import AREAS, MainWindow

    problems: list[str] = []
    if not (resources_dir() / "style.qss").is_file():
        problems.append(f"stylesheet missing from {resources_dir()}")
    with tempfile.TemporaryDirectory(prefix="crm-selfcheck-") as folder:
        profile = Profile(Path(folder)).ensure()
        store = open_store(profile.database_path, backup_dir=profile.backup_directory)
        revision = current_revision(profile.database_path)
        try:
            if revision != head_revision():
                problems.append(f"store at {revision}, expected {head_revision()}")
            app = QApplication.instance() or QApplication(sys.argv[:1])
            assert isinstance(app, QApplication)
            apply_style(app)
            window = MainWindow(store=store, profile=profile)
            window.show()
            for area in AREAS:
                window.show_area(area.key)
            contacts = window.area_widget("contact")
            assert isinstance(contacts, RecordListView)
            # Wait (bounded) for the store worker to answer one list query.
            loop = QEventLoop()
            contacts.model.total_counted.connect(loop.quit)
            QTimer.singleShot(10_000, loop.quit)
            if contacts.model.total is None:
                loop.exec()
            if contacts.model.total != 0:
                problems.append(f"contacts list of a fresh store read {contacts.model.total}")
            window.close()
            window.shutdown()
        finally:
            store.dispose()
    if problems:
        for problem in problems:
            print(f"self-check: {problem}", file=sys.stderr)
        return 1
    print(f"self-check: ok (schema {revision})")
    return 0
