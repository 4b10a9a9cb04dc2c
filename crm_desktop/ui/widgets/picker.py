"""A record picker: type part of a name, pick from matches found off the UI thread.

Scales to any number of records because only the first matches of what was typed are fetched,
after a short pause in typing (one query per pause, not per keystroke).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence

from PySide6.QtCore import QStringListModel, Qt, QTimer, Signal
from PySide6.QtWidgets import QCompleter, QLineEdit, QWidget
from sqlalchemy.orm import Session

from crm_desktop.services.record_views import Choice
from crm_desktop.ui.context import AppContext

SearchFn = Callable[[Session, str], Sequence[Choice]]
DEBOUNCE_MS = 150


class RecordPicker(QLineEdit):
    """A line edit that completes record names and remembers the chosen record's id.

    Editing the text after choosing forgets the id, so a half-typed name is never taken for a
    record: saving then says the field is required.

    Signals:
        current_changed(object): the chosen record's UUID, or None when cleared.
        matches_loaded(int): a search finished with this many matches (tests wait on it).
    """

    current_changed = Signal(object)
    matches_loaded = Signal(int)

    def __init__(
        self, context: AppContext, search: SearchFn, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.context = context
        self._search = search
        self._current: Choice | None = None
        self._by_label: dict[str, Choice] = {}
        self._model = QStringListModel(self)
        completer = QCompleter(self._model, self)
        # The store already filtered (by substring); the completer must show all it gets.
        completer.setCompletionMode(QCompleter.CompletionMode.UnfilteredPopupCompletion)
        completer.setCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.setCompleter(completer)
        completer.activated.connect(self.on_completer_activated)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(DEBOUNCE_MS)
        self._timer.timeout.connect(self.on_timer_timeout)
        self.textEdited.connect(self.on_self_text_edited)
        self.setClearButtonEnabled(True)
        self.setPlaceholderText("Type to search…")

    @property
    def current(self) -> Choice | None:
        """The chosen record, if any."""
        return self._current

    @property
    def current_id(self) -> uuid.UUID | None:
        """The chosen record's id, if any."""
        return self._current.id if self._current else None

    def set_current(self, choice: Choice | None) -> None:
        """Show a record as chosen (or clear) without searching."""
        self._current = choice
        self.setText(choice.label if choice else "")
        self.setCursorPosition(0)

    def matches(self) -> list[str]:
        """Labels of the matches currently offered."""
        return self._model.stringList()

    def on_self_text_edited(self, _text: str) -> None:
        if self._current is not None:
            self._current = None
            self.current_changed.emit(None)
        self._timer.start()

    def on_timer_timeout(self) -> None:
        text, search, store = self.text(), self._search, self.context.store

        def run() -> tuple[Choice, ...]:
            with store.sessions() as session:
                return tuple(search(session, text))

        self.context.runner.submit(run, on_done=self.on_search_done)

    def on_search_done(self, choices: tuple[Choice, ...]) -> None:
        self._by_label = {c.label: c for c in choices}
        self._model.setStringList([c.label for c in choices])
        if choices and self.hasFocus():
            self.completer().complete()
        self.matches_loaded.emit(len(choices))

    def choose(self, label: str) -> None:
        """Pick the offered match with this label (what activating it in the popup does)."""
        self.on_completer_activated(label)

    def on_completer_activated(self, label: str) -> None:
        choice = self._by_label.get(label)
        if choice is None:
            return
        self._current = choice
        self.setText(choice.label)
        self.current_changed.emit(choice.id)
