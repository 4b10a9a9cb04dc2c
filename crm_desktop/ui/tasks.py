"""Run database work off the UI thread and deliver results back on it.

Threading contract: :meth:`TaskRunner.submit` may be called only from the UI thread. The callable
runs on the runner's single worker thread (one writer at a time, like Anki's taskman), opens
and closes its own Session there, and must return plain data (ids, frozen dataclasses, tuples),
never live ORM objects. ``on_done``/``on_error`` are then called on the UI thread through a
queued signal. A callback whose QObject was destroyed meanwhile is skipped, so a closed dialog
never receives a late result.

The callbacks stay in a table on the runner, keyed by a task number, and only that number
travels through the worker: ``on_done``/``on_error`` are usually bound methods of widgets, and a
widget whose last reference went away on the worker thread would be destroyed there. Tasks
still queued when :meth:`TaskRunner.shutdown` runs are cancelled and dropped without a word:
they were abandoned on purpose.
"""

from __future__ import annotations

import itertools
import logging
import traceback
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

import shiboken6
from PySide6.QtCore import QObject, Qt, Signal

T = TypeVar("T")
log = logging.getLogger(__name__)


def _alive(callback: Callable[..., Any] | None) -> bool:
    owner = getattr(callback, "__self__", None)
    return not isinstance(owner, QObject) or shiboken6.isValid(owner)


class TaskRunner(QObject):
    """One background worker for store access.

    Signals:
        busy_changed(bool): emitted on the UI thread when work starts or the queue drains.
        task_failed(str): emitted with a readable message when a task without ``on_error`` fails.
    """

    busy_changed = Signal(bool)
    task_failed = Signal(str)
    _finished = Signal(object)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="crm-store")
        self._pending = 0
        self._ids = itertools.count(1)
        #: Task number -> (future, on_done, on_error); touched on the UI thread only.
        self._tasks: dict[int, tuple[Future[Any], Any, Any]] = {}
        self._finished.connect(self._on_worker_finished, Qt.ConnectionType.QueuedConnection)

    @property
    def pending(self) -> int:
        """Tasks submitted and not yet delivered."""
        return self._pending

    def submit(
        self,
        fn: Callable[[], T],
        *,
        on_done: Callable[[T], Any] | None = None,
        on_error: Callable[[BaseException], Any] | None = None,
    ) -> Future[T]:
        """Queue ``fn`` on the worker; call ``on_done(result)`` or ``on_error(exc)`` on the UI thread."""
        self._pending += 1
        if self._pending == 1:
            self.busy_changed.emit(True)
        task_id = next(self._ids)
        future = self._executor.submit(fn)
        self._tasks[task_id] = (future, on_done, on_error)
        # Only the number crosses threads (see the module docstring); the signal is queued, so
        # even a future that is already done is delivered after this entry exists.
        finished = self._finished
        future.add_done_callback(lambda _f: finished.emit(task_id))
        return future

    def _on_worker_finished(self, task_id: int) -> None:
        entry = self._tasks.pop(task_id, None)
        if entry is None:
            return
        future, on_done, on_error = entry
        self._pending -= 1
        try:
            if future.cancelled():
                return  # queued when the runner shut down: abandoned on purpose
            error = future.exception()
            if error is None:
                if on_done is not None and _alive(on_done):
                    on_done(future.result())
            elif on_error is not None:
                if _alive(on_error):
                    on_error(error)
            else:
                log.error("background task failed:\n%s", "".join(traceback.format_exception(error)))
                self.task_failed.emit(str(error) or type(error).__name__)
        finally:
            if self._pending == 0:
                self.busy_changed.emit(False)

    def shutdown(self) -> None:
        """Finish running work and stop the worker (call before disposing of the store).

        Work still queued is cancelled; its callbacks are never called.
        """
        self._executor.shutdown(wait=True, cancel_futures=True)
