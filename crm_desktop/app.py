"""Desktop bootstrap: configuration -> store (migrated) -> main window.

Nothing here runs at import time; :func:`main` does the work so tests and the packaged build
can call it with their own arguments. Qt and the UI modules are imported inside :func:`main`,
after argument parsing, so ``--help`` and ``--self-check`` errors stay quick.
"""

from __future__ import annotations

import argparse
import re
import sqlite3
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


_REVISION = re.compile(r"^revision(?:\s*:\s*[^=]+)?\s*=\s*[\"']([^\"']+)[\"']", re.MULTILINE)
_DOWN_REVISION = re.compile(
    r"^down_revision(?:\s*:\s*[^=]+)?\s*=\s*[\"']([^\"']+)[\"']", re.MULTILINE
)


def schema_is_current(database_path: Path) -> bool:
    """True if the store's schema is at the newest migration, found without importing Alembic.

    Start-up runs this before :func:`open_store`: importing Alembic (with Mako and its DDL
    modules) costs a large share of a cold start, yet is needed only when there is something
    to upgrade. It reads the store's revision with sqlite3 and the newest revision from the
    migration scripts' text; anything unexpected (no file, branches, unreadable scripts)
    answers False, and the normal migrating path runs.
    """
    import crm_desktop.store

    # Not store.migrate.MIGRATIONS_DIR: importing that module imports Alembic.
    versions = Path(crm_desktop.store.__file__).resolve().parent / "migrations" / "versions"
    if not database_path.is_file():
        return False
    try:
        revisions: set[str] = set()
        parents: set[str] = set()
        for script in versions.glob("*.py"):
            source = script.read_text(encoding="utf-8")
            revision = _REVISION.search(source)
            if revision is None:
                return False
            revisions.add(revision.group(1))
            parent = _DOWN_REVISION.search(source)
            if parent is not None:
                parents.add(parent.group(1))
        heads = revisions - parents
        connection = sqlite3.connect(f"file:{database_path}?mode=ro", uri=True)
        try:
            rows = connection.execute("SELECT version_num FROM alembic_version").fetchall()
        finally:
            connection.close()
    except (OSError, sqlite3.Error, UnicodeDecodeError):
        return False
    return len(heads) == 1 and [row[0] for row in rows] == list(heads)


def shield_binding_refcounts() -> bool:
    """Work around a Qt binding that drops references to None, True and False; True if applied.

    PySide6 6.12.0 on CPython 3.11 releases one reference to None on every call of a method
    returning nothing, and one to True on every signal emit. After a few thousand list queries
    or keystrokes the count reaches zero and the interpreter aborts ("deallocating None").
    Python 3.12 made these objects immortal, which hides the bug; on 3.11 this does the same by
    raising their reference counts far beyond reach (2**40). Only applied when a probe shows the
    leak, on CPython before 3.12; the real fix is a binding without the bug (or Python 3.12+).
    """
    if sys.implementation.name != "cpython" or sys.version_info >= (3, 12):
        return False
    from crm_desktop.selfcheck import binding_refcount_leak

    if binding_refcount_leak() <= 10:
        return False
    import ctypes

    for constant in (None, True, False):
        # ob_refcnt is the first field of every object header on CPython 3.11.
        ctypes.c_ssize_t.from_address(id(constant)).value += 1 << 40
    return True


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

    from crm_desktop.ui.gc_guard import GuiThreadGarbageCollector
    from crm_desktop.ui.main_window import MainWindow

    profile = resolve_profile(args.profile).ensure()
    store = open_store(
        profile.database_path,
        migrate=not schema_is_current(profile.database_path),
        backup_dir=profile.backup_directory,
    )
    app = QApplication.instance() or QApplication(sys.argv[:1])
    assert isinstance(app, QApplication)
    shield_binding_refcounts()
    # Cycles holding Qt objects must be freed on this thread, never a worker's (see gc_guard).
    collector = GuiThreadGarbageCollector(app)
    app.setApplicationName("Field CRM")
    app.setOrganizationName("FieldCRM")
    apply_style(app)
    window = MainWindow(store=store, profile=profile, background=True)
    window.show()
    if args.exit_when_ready:
        _exit_when_ready(app, window, started)
    try:
        return app.exec()
    finally:
        # The window ends sync first, then the store worker; the store is disposed of last.
        window.shutdown()
        collector.stop()
        store.dispose()


def _report_ready(app: QApplication, started: float) -> None:
    # Wall seconds since main() began, and CPU seconds of the whole process (imports included):
    # on a busy machine the CPU figure is what an idle one would take.
    print(f"ready {time.perf_counter() - started:.3f} cpu {time.process_time():.3f}", flush=True)
    app.quit()


def _exit_when_ready(app: QApplication, window: object, started: float) -> None:
    """Quit once the first list has rows on screen (or the first-run page is up)."""
    from PySide6.QtCore import QTimer

    from crm_desktop.ui.list_views import RecordListView
    from crm_desktop.ui.main_window import MainWindow

    assert isinstance(window, MainWindow)

    def check() -> None:
        current = window.current_area_widget()
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
