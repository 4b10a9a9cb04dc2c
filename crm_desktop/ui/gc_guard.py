"""Python's cyclic garbage collection, run on the GUI thread only.

Qt objects held in Python reference cycles (a closed record page and the closures connected to
its signals, a dialog and its lambdas) are destroyed when the cyclic collector frees the cycle,
on whichever thread triggered the collection, and any allocation can trigger it. When that is a
worker thread (the task runner's, the sync worker's), a widget's C++ destructor runs off the GUI
thread and the process crashes: seen in the suite, a record page's load on the runner's thread
collecting an earlier, closed page ("Fatal Python error: Segmentation fault ... Garbage-
collecting"). So automatic collection is switched off while the app runs, and this object runs
it from a timer on the GUI thread, generation by generation with Python's own thresholds (the
approach of pyqtgraph's ``GarbageCollector``). Reference counting still frees everything that is
not in a cycle at once, on the thread that drops it, as before.
"""

from __future__ import annotations

import gc

from PySide6.QtCore import QObject, QTimer


class GuiThreadGarbageCollector(QObject):
    """Disables automatic collection and collects from a GUI-thread timer until :meth:`stop`."""

    def __init__(self, parent: QObject | None = None, *, interval_ms: int = 500) -> None:
        super().__init__(parent)
        self._threshold = gc.get_threshold()
        self._was_enabled = gc.isenabled()
        gc.disable()
        self._timer = QTimer(self)
        self._timer.timeout.connect(self.on_timer_timeout)
        self._timer.start(interval_ms)

    def on_timer_timeout(self) -> None:
        """Collect the generations that have passed their thresholds, as Python would."""
        counts = gc.get_count()
        if counts[0] <= self._threshold[0]:
            return
        generation = 0
        if counts[1] > self._threshold[1]:
            generation = 1
            if counts[2] > self._threshold[2]:
                generation = 2
        gc.collect(generation)

    def stop(self) -> None:
        """Collect everything now (on this, the GUI, thread) and hand collection back to Python."""
        self._timer.stop()
        gc.collect()
        if self._was_enabled:
            gc.enable()
