"""Desktop bootstrap: configuration -> store (migrated) -> main window.

Nothing here runs at import time; :func:`main` does the work so tests and the packaged build
can call it with their own arguments. Qt and the UI modules are imported inside :func:`main`,
after argument parsing, so ``--help`` and ``--self-check`` errors stay quick.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from crm_desktop.config import resolve_profile
from crm_desktop.store import open_store

if TYPE_CHECKING:
    from PySide6.QtWidgets import QApplication

#: Exit code of ``--exit-when-ready`` when the window did not become usable in time.
EXIT_NOT_READY = 3


def build_parser() -> argparse.ArgumentParser:
    """Command-line options of the desktop program."""
    parser = argparse.ArgumentParser(prog="crm-desktop", description="Field CRM desktop app")
    parser.add_argument("--profile", metavar="DIR", help="profile folder (default: user data dir)")
    parser.add_argument(
        "--self-check",
        action="store_true",
        help="open a fresh store, migrate, build the main window offscreen and exit 0",
    )
    parser.add_argument(
        "--exit-when-ready",
        action="store_true",
        help="quit as soon as the window shows its first rows, printing the seconds it took "
        "(used by the cold-start benchmark)",
    )
    return parser


def resources_dir() -> Path:
    """The ``resources`` folder: beside the package in a checkout, in the bundle when frozen."""
    bundle = getattr(sys, "_MEIPASS", None)
    if bundle:
        return Path(bundle) / "resources"
    return Path(__file__).resolve().parent.parent / "resources"


def apply_style(app: QApplication) -> None:
    """Load the application stylesheet, if the build has it (a missing one is not fatal)."""
    path = resources_dir() / "style.qss"
    if path.is_file():
        app.setStyleSheet(path.read_text(encoding="utf-8"))


def main(argv: Sequence[str] | None = None) -> int:
    """Run the desktop app; returns the process exit code."""
    started = time.perf_counter()
    args = build_parser().parse_args(argv)
    if args.self_check:
        from crm_desktop.selfcheck import run_self_check

        return run_self_check()

    from PySide6.QtWidgets import QApplication

    from crm_desktop.ui.main_window import MainWindow

    profile = resolve_profile(args.profile).ensure()
    store = open_store(profile.database_path, backup_dir=profile.backup_directory)
    app = QApplication.instance() or QApplication(sys.argv[:1])
    assert isinstance(app, QApplication)
    app.setApplicationName("Field CRM")
    app.setOrganizationName("FieldCRM")
    apply_style(app)
    window = MainWindow(store=store, profile=profile)
    window.show()
    if args.exit_when_ready:
        _exit_when_ready(app, window, started)
    try:
        return app.exec()
    finally:
        window.shutdown()
        store.dispose()


def _report_ready(app: QApplication, started: float) -> None:
    print(f"ready {time.perf_counter() - started:.3f}", flush=True)
    app.quit()


def _exit_when_ready(app: QApplication, window: object, started: float) -> None:
    """Quit once the first list has rows on screen (or the first-run page is up)."""
    from PySide6.QtCore import QTimer

    from crm_desktop.ui.list_views import RecordListView
    from crm_desktop.ui.main_window import MainWindow

    assert isinstance(window, MainWindow)

    def check() -> None:
        current = window.areas.currentWidget()
        ready = window.first_run is not None or (
            isinstance(current, RecordListView)
            and (current.model.rowCount() > 0 or current.model.total == 0)
        )
        if ready:
            poll.stop()
            # Quit on the next turn of the loop, after the rows already queued have painted.
            QTimer.singleShot(0, lambda: _report_ready(app, started))

    poll = QTimer(window)
    poll.setInterval(5)
    poll.timeout.connect(check)
    poll.start()
    QTimer.singleShot(30_000, lambda: app.exit(EXIT_NOT_READY))
