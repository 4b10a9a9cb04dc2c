"""Marks quotes as expired when their valid-until date has passed: at start-up and daily.

Hook into the main window with ``QuoteExpiryWatcher(context)`` (parented to the context, so it
lives as long as the window); it runs once right away and then every time the date changes,
checked hourly so a laptop that slept over midnight catches up soon after waking.
"""

from __future__ import annotations

import uuid
from datetime import date

from PySide6.QtCore import QObject, QTimer, Signal

from crm_desktop.ui.context import AppContext
from crm_desktop.ui.quotes import operations

#: How often the watcher looks at the calendar (a date change triggers a run).
CHECK_INTERVAL_MS = 60 * 60 * 1000


class QuoteExpiryWatcher(QObject):
    """Runs the quote service's ``expire_quotes`` on the store worker at start and each new day.

    Signals:
        quotes_expired(object): a run marked these quotes as expired (a tuple of UUIDs, never
            empty; the context's ``data_changed("quote")`` is emitted as well).
        run_finished(int): a run finished; how many quotes it expired (0 included).
    """

    quotes_expired = Signal(object)
    run_finished = Signal(int)

    def __init__(
        self, context: AppContext, *, start: bool = True, parent: QObject | None = None
    ) -> None:
        super().__init__(parent if parent is not None else context)
        self.context = context
        self.last_run: date | None = None
        self.timer = QTimer(self)
        self.timer.setInterval(CHECK_INTERVAL_MS)
        self.timer.timeout.connect(self.on_timer_timeout)
        if start:
            self.timer.start()
            self.run()

    def on_timer_timeout(self) -> None:
        """Run again once the date has moved on since the last run."""
        if self.last_run != date.today():
            self.run()

    def run(self, today: date | None = None) -> None:
        """Expire what is due as of ``today`` (default: the local date)."""
        day = today or date.today()
        self.last_run = day
        store = self.context.store
        self.context.runner.submit(
            lambda: operations.expire_due_quotes(store, day), on_done=self._on_done
        )

    def _on_done(self, quote_ids: tuple[uuid.UUID, ...]) -> None:
        if quote_ids:
            self.quotes_expired.emit(quote_ids)
            self.context.notify_changed("quote")
        self.run_finished.emit(len(quote_ids))
