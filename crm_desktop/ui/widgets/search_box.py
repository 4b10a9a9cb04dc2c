"""A search field that asks for one search once typing pauses."""

from __future__ import annotations

from PySide6.QtCore import QTimer, Signal
from PySide6.QtWidgets import QLineEdit, QWidget

#: How long typing must pause before a search runs.
SEARCH_DELAY_MS = 150


class SearchBox(QLineEdit):
    """A line edit with a clear button that debounces typing into one search.

    Signals:
        search_requested(): the text changed and typing has paused for ``delay_ms``.
    """

    search_requested = Signal()

    def __init__(
        self, placeholder: str, parent: QWidget | None = None, *, delay_ms: int = SEARCH_DELAY_MS
    ) -> None:
        super().__init__(parent)
        self.setPlaceholderText(placeholder)
        self.setClearButtonEnabled(True)
        self._timer = QTimer(self, singleShot=True, interval=delay_ms)
        self._timer.timeout.connect(self.search_requested.emit)
        self.textChanged.connect(self.on_text_changed)

    def on_text_changed(self, _text: str) -> None:
        """(Re)start the pause: only the last keystroke of a burst searches."""
        self._timer.start()

    def cancel(self) -> None:
        """Drop a search that was waiting for typing to pause."""
        self._timer.stop()
