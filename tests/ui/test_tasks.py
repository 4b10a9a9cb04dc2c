"""The store worker's runner: results on the UI thread, quiet cancellation at shutdown, and
callbacks that are never last released on the worker thread."""

from __future__ import annotations

import threading
import weakref

from PySide6.QtCore import QObject
from pytestqt.qtbot import QtBot

from crm_desktop.ui.tasks import TaskRunner


class Receiver(QObject):
    """A screen waiting for a result (its bound methods are the callbacks)."""

    def __init__(self) -> None:
        super().__init__()
        self.results: list[object] = []

    def on_done(self, result: object) -> None:
        self.results.append(result)


def test_results_arrive_on_the_ui_thread(qtbot: QtBot) -> None:
    runner = TaskRunner()
    seen: list[tuple[object, str]] = []
    runner.submit(
        lambda: 41 + 1, on_done=lambda r: seen.append((r, threading.current_thread().name))
    )
    qtbot.waitUntil(lambda: runner.pending == 0)
    assert seen == [(42, threading.main_thread().name)]
    runner.shutdown()


def test_shutdown_drops_queued_tasks_without_calling_back_or_failing(qtbot: QtBot) -> None:
    runner = TaskRunner()
    failures: list[str] = []
    runner.task_failed.connect(failures.append)
    release = threading.Event()
    receiver = Receiver()
    running = runner.submit(lambda: release.wait(10), on_done=receiver.on_done)
    queued = runner.submit(lambda: "never run", on_done=receiver.on_done)
    # shutdown cancels the queued task first, then waits for the running one.
    stopper = threading.Thread(target=runner.shutdown)
    stopper.start()
    qtbot.waitUntil(queued.cancelled)
    release.set()
    stopper.join(10)
    assert running.done()
    qtbot.waitUntil(lambda: runner.pending == 0)
    assert receiver.results == [True]  # the running task delivered; the cancelled one did not
    assert failures == []  # and no CancelledError reached a slot (pytest-qt would fail on it)


def test_callbacks_are_released_on_the_ui_thread(qtbot: QtBot) -> None:
    runner = TaskRunner()
    released: list[str] = []
    receiver = Receiver()
    weakref.finalize(receiver, lambda: released.append(threading.current_thread().name))
    runner.submit(lambda: "page", on_done=receiver.on_done)
    del receiver  # the runner now holds the only reference (through the bound method)
    qtbot.waitUntil(lambda: runner.pending == 0)
    assert released == [threading.main_thread().name]
    runner.shutdown()
