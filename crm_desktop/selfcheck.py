"""``--self-check``: prove a build works (fresh store, migrations, main window) and exit.

Used by CI on the PyInstaller build, where a missing data file or hidden import shows up
only at run time.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path


def run_self_check() -> int:
    """Return 0 if a fresh profile migrates and the main window builds offscreen."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtWidgets import QApplication

    from crm_desktop.config import Profile
    from crm_desktop.store import open_store
    from crm_desktop.store.migrate import current_revision, head_revision
    from crm_desktop.ui.main_window import MainWindow

    with tempfile.TemporaryDirectory(prefix="crm-selfcheck-") as folder:
        profile = Profile(Path(folder)).ensure()
        store = open_store(profile.database_path, backup_dir=profile.backup_directory)
        try:
            revision = current_revision(profile.database_path)
            if revision != head_revision():
                print(
                    f"self-check: store at {revision}, expected {head_revision()}", file=sys.stderr
                )
                return 1
            app = QApplication.instance() or QApplication(sys.argv[:1])
            window = MainWindow(store=store, profile=profile)
            window.show()
            app.processEvents()
            window.close()
        finally:
            store.dispose()
    print(f"self-check: ok (schema {revision})")
    return 0
