"""Cyclic garbage holding Qt widgets is freed on the GUI thread, never on a worker's."""

from __future__ import annotations

import gc
import threading
import weakref

from PySide6.QtWidgets import QWidget
from pytestqt.qtbot import QtBot


class _Page(QWidget):
    """A closed page still referenced by its own attributes (a cycle only gc can free)."""

    cycle: object = None


def test_a_closed_page_in_a_cycle_is_freed_on_the_gui_thread_not_a_workers(
    qtbot: QtBot,
) -> None:
    # The suite's autouse fixture runs collection the app's way for every Qt test.
    assert not gc.isenabled()
    freed_on: list[threading.Thread] = []
    page = _Page()
    page.cycle = page
    watch = weakref.ref(page, lambda _ref: freed_on.append(threading.current_thread()))
    del page

    def churn() -> None:
        # A worker allocating many objects in cycles, as a page load or a sync page does: with
        # automatic collection on, this thread would free the page (and crash on a real one).
        junk: list[list[object]] = [[] for _ in range(50_000)]
        for item in junk:
            item.append(item)

    worker = threading.Thread(target=churn)
    worker.start()
    worker.join()
    assert freed_on == [] and watch() is not None

    qtbot.waitUntil(lambda: bool(freed_on), timeout=5_000)
    assert freed_on == [threading.main_thread()]
