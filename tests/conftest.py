"""Fixtures shared by the whole suite: a fresh profile and store per test, on a real SQLite file."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

# Qt must never try to reach a display in tests; set before any Qt import.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from crm_desktop.config import Profile
from crm_desktop.store import Store, open_store


@pytest.fixture(autouse=True)
def _gc_on_the_gui_thread(request: pytest.FixtureRequest) -> Iterator[None]:
    """Qt tests collect cyclic garbage on the GUI thread only, as the app does (ui/gc_guard):
    a collection started on a worker thread may destroy a previous test's widgets there and
    crash the run. Other tests keep Python's automatic collection."""
    if not {"qtbot", "qapp"} & set(request.fixturenames):
        yield
        return
    from crm_desktop.ui.gc_guard import GuiThreadGarbageCollector

    collector = GuiThreadGarbageCollector(request.getfixturevalue("qapp"))
    try:
        yield
    finally:
        collector.stop()


@pytest.fixture
def profile(tmp_path: Path) -> Profile:
    """An empty profile folder of this test's own."""
    return Profile(tmp_path / "profile").ensure()


@pytest.fixture
def store(profile: Profile) -> Iterator[Store]:
    """A migrated store on a real SQLite file in the test's profile."""
    opened = open_store(profile.database_path, backup_dir=profile.backup_directory)
    yield opened
    opened.dispose()
