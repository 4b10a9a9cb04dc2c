"""Desktop bootstrap: configuration -> store (migrated) -> main window.

Nothing here runs at import time; :func:`main` does the work so tests and the packaged build
can call it with their own arguments.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from crm_desktop.config import resolve_profile
from crm_desktop.store import open_store


def build_parser() -> argparse.ArgumentParser:
    """Command-line options of the desktop program."""
    parser = argparse.ArgumentParser(prog="crm-desktop", description="Field CRM desktop app")
    parser.add_argument("--profile", metavar="DIR", help="profile folder (default: user data dir)")
    parser.add_argument(
        "--self-check",
        action="store_true",
        help="open a fresh store, migrate, build the main window offscreen and exit 0",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the desktop app; returns the process exit code."""
    args = build_parser().parse_args(argv)
    if args.self_check:
        from crm_desktop.selfcheck import run_self_check

        return run_self_check()

    from PySide6.QtWidgets import QApplication

    from crm_desktop.ui.main_window import MainWindow

    profile = resolve_profile(args.profile).ensure()
    store = open_store(profile.database_path, backup_dir=profile.backup_directory)
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("Field CRM")
    app.setOrganizationName("FieldCRM")
    window = MainWindow(store=store, profile=profile)
    window.show()
    try:
        return app.exec()
    finally:
        store.dispose()
