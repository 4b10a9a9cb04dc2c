"""The frame every record page shares: title, actions, banner, load / save / delete through the runner.

Threading contract: pages never open a Session. :meth:`RecordPage.reload` and :meth:`RecordPage.save`
hand a closure to ``context.runner``; it runs on the store worker, opens its own session (a
``begin()`` transaction for writes, so a refused save rolls back whole) and returns plain data;
the result comes back to a bound slot on the UI thread. Bound slots matter: the runner skips a
callback whose page was closed meanwhile.

Merge base: a load also reads the store's sync cursor in the same read transaction, and the
page's writes pass the cursor of the values the form shows to the capture hook
(``session.info[BASE_CURSOR]``). A page left open while a sync pulled a colleague's edit then
saves against what the user saw, so head office treats the colleague's value as a concurrent
edit (decided and logged on both sides) instead of silently overwriting it.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QPushButton,
    QScrollArea,
    QSplitter,
    QVBoxLayout,
    QWidget,
)
from sqlalchemy import select
from sqlalchemy.orm import Session

from crm_desktop.services.errors import NotFound, ValidationError
from crm_desktop.sync.outbox import BASE_CURSOR
from crm_desktop.sync.tables import sync_state
from crm_desktop.ui.context import AppContext
from crm_desktop.ui.widgets.forms import Banner, FieldForm
from crm_desktop.ui.widgets.timeline import TimelinePanel

#: Delay that folds a burst of data_changed signals into one reload.
RELOAD_DELAY_MS = 120
_NOT_SHOWN = object()


class RecordPage(QWidget):
    """Base of the account, contact, lead and opportunity pages.

    Subclasses set :attr:`entity` and :attr:`noun`, build their body in ``_build`` and implement
    ``_load`` (runs on the worker), ``_show`` (UI thread) and ``_save`` (worker, returns the id).

    Signals:
        loaded(object): the page finished showing freshly read data (the view dataclass).
        saved(object): a save was stored; carries the record's UUID.
        deleted(object): the record was tombstoned; carries its UUID.
        failed(str): a load, save or delete was refused; carries the message shown.
        title_changed(str): the page's title (record name) changed, for tab captions.
    """

    loaded = Signal(object)
    saved = Signal(object)
    deleted = Signal(object)
    failed = Signal(str)
    title_changed = Signal(str)

    entity = ""
    noun = "record"
    #: Entities whose changes can alter what this page shows (its own plus related lists).
    watches: tuple[str, ...] = ()

    def __init__(
        self, context: AppContext, record_id: uuid.UUID | None, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.context = context
        self.record_id = record_id
        self.view: Any = None
        self.dirty = False
        self.busy = False
        self._announcing = False
        self.gone = False
        #: The sync cursor the values in the form were read at (None until loaded): the base
        #: this page's writes are merged against.
        self.load_cursor: int | None = None
        # The form's values as last loaded, to tell the fields the user edited from the rest.
        self._shown: dict[str, object] = {}
        self.setObjectName(f"{self.entity}_page")

        outer = QVBoxLayout(self)
        outer.setContentsMargins(12, 10, 12, 10)
        header = QHBoxLayout()
        titles = QVBoxLayout()
        titles.setSpacing(0)
        self.title_label = QLabel(self)
        self.title_label.setObjectName("title")
        font = self.title_label.font()
        font.setPointSizeF(font.pointSizeF() * 1.5)
        font.setBold(True)
        self.title_label.setFont(font)
        self.title_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.subtitle_label = QLabel(self)
        self.subtitle_label.setObjectName("subtitle")
        self.subtitle_label.setStyleSheet("color:#5f6368;")
        titles.addWidget(self.title_label)
        titles.addWidget(self.subtitle_label)
        header.addLayout(titles, 1)
        self.action_bar = QHBoxLayout()
        header.addLayout(self.action_bar)
        self.save_button = QPushButton("Save", self)
        self.save_button.setObjectName("save_button")
        self.save_button.setDefault(True)
        self.save_button.setShortcut("Ctrl+S")
        self.save_button.setToolTip("Save (Ctrl+S)")
        self.delete_button = QPushButton("Delete", self)
        self.delete_button.setObjectName("delete_button")
        self.action_bar.addWidget(self.save_button)
        self.action_bar.addWidget(self.delete_button)
        outer.addLayout(header)
        self.banner = Banner(self)
        outer.addWidget(self.banner)

        self.form = FieldForm(self)
        self.body = QWidget(self)
        outer.addWidget(self.body, 1)
        self._build()
        timeline = getattr(self, "timeline", None)
        if isinstance(timeline, TimelinePanel):
            timeline.install_shortcuts(self)

        self.save_button.clicked.connect(self.on_save_button_clicked)
        self.delete_button.clicked.connect(self.on_delete_button_clicked)
        self.form.edited.connect(self.on_form_edited)
        self._reload_timer = QTimer(self)
        self._reload_timer.setSingleShot(True)
        self._reload_timer.setInterval(RELOAD_DELAY_MS)
        self._reload_timer.timeout.connect(self.reload)
        context.data_changed.connect(self.on_context_data_changed)
        self._set_title()
        self.reload()

    # -- subclass hooks

    def _build(self) -> None:
        raise NotImplementedError

    def _load(self) -> Callable[[Session], Any]:
        """Return a function of a Session that reads this page's view (runs on the worker)."""
        raise NotImplementedError

    def _show(self, view: Any) -> None:
        raise NotImplementedError

    def _save(self) -> Callable[[Session], uuid.UUID]:
        """Read the form now (UI thread) and return a function that saves it on the worker."""
        raise NotImplementedError

    def display_title(self) -> str:
        """The record's name as the page title shows it."""
        return ""

    # -- helpers for subclasses

    @staticmethod
    def scrolled(widget: QWidget) -> QScrollArea:
        """Wrap a tall form so it scrolls instead of squeezing its fields."""
        area = QScrollArea()
        area.setWidgetResizable(True)
        area.setFrameShape(QFrame.Shape.NoFrame)
        area.setWidget(widget)
        return area

    def form_beside(self, panel: QWidget, sizes: tuple[int, int]) -> QSplitter:
        """The page's form (scrolling) on the left, ``panel`` on the right, in a splitter."""
        splitter = QSplitter(Qt.Orientation.Horizontal, self.body)
        splitter.addWidget(self.scrolled(self.form))
        splitter.addWidget(panel)
        splitter.setSizes(list(sizes))
        return splitter

    def fill_body(self, *items: QWidget) -> QVBoxLayout:
        """Lay ``items`` out top to bottom in the page body, edge to edge."""
        layout = QVBoxLayout(self.body)
        layout.setContentsMargins(0, 0, 0, 0)
        for item in items:
            layout.addWidget(item)
        return layout

    def run_write(
        self,
        work: Callable[[Session], Any],
        on_done: Callable[[Any], Any],
        *,
        changed: tuple[str, ...] = (),
    ) -> None:
        """Run ``work`` in one write transaction; on success notify ``changed`` and call ``on_done``.

        On failure the transaction is rolled back whole and the error is shown next to its field
        (or in the banner), so nothing is ever half-written.
        """
        if self.busy:
            # One write at a time per page: the callbacks below belong to a single write.
            return
        store = self.context.store
        # What the user saw when they made this change, not what arrived since.
        base = self.load_cursor

        def run() -> Any:
            with store.sessions.begin() as session:
                if base is not None:
                    session.info[BASE_CURSOR] = base
                return work(session)

        self._pending_changed = changed or (self.entity,)
        self._pending_done = on_done
        self._set_busy(True)
        self.context.runner.submit(run, on_done=self.on_write_done, on_error=self.on_write_failed)

    def show_error(self, error: BaseException) -> None:
        """Show a refused action: next to its field when the page has it, always in the banner."""
        self.form.clear_errors()
        if isinstance(error, ValidationError):
            self.form.set_error(error.field, error.message)
            message = error.message
        else:
            message = str(error) or type(error).__name__
        # Say plainly that nothing was stored: the write ran in one transaction and rolled back.
        self.banner.show_message("error", f"Not saved: {message}")
        self.failed.emit(message)

    # -- loading

    def reload(self) -> None:
        """Read the record again (off the UI thread) and show it."""
        store, load = self.context.store, self._load()

        def run() -> tuple[int | None, Any]:
            with store.sessions() as session:
                # Read first, in the same read transaction as the record: the cursor and the
                # values belong to one snapshot (a pulled page commits with its cursor).
                cursor = session.execute(
                    select(sync_state.c.cursor).where(sync_state.c.id == 1)
                ).scalar()
                return cursor, load(session)

        self.context.runner.submit(run, on_done=self.on_loaded, on_error=self.on_load_failed)

    def on_loaded(self, result: tuple[int | None, Any]) -> None:
        cursor, view = result
        if not self.dirty or self.load_cursor is None:
            # Unsaved edits keep the form's older values (see on_load_done), and with them the
            # cursor they were read at.
            self.load_cursor = cursor
        self.on_load_done(view)

    def on_load_done(self, view: Any) -> None:
        timeline = getattr(self, "timeline", None)
        if isinstance(timeline, TimelinePanel):
            timeline.set_enabled_for_record(self.record_id is not None)
        # A reload for related lists (a member removed, a link added) or after a sync must not
        # throw away what the user typed and has not saved yet. Only the fields they changed
        # are put back: the others show the new values (a colleague's edit a sync brought),
        # which a later save then leaves alone instead of writing the old ones over them.
        was_dirty = self.dirty
        edited: dict[str, object] = {}
        if was_dirty:
            unsaved = self.form.snapshot()
            edited = {
                name: value
                for name, value in unsaved.items()
                if self._shown.get(name, _NOT_SHOWN) != value
            }
        shown_before = self._shown
        self.view = view
        self._show(view)
        if edited:
            self.form.restore(edited)
        # What the form shows as loaded; an edited field stays "edited" against its old value.
        self._shown = {
            **self.form.snapshot(),
            **{name: shown_before[name] for name in edited if name in shown_before},
        }
        self.dirty = was_dirty
        self.delete_button.setEnabled(self.record_id is not None)
        self._set_title()
        self.loaded.emit(view)

    def on_load_failed(self, error: BaseException) -> None:
        if isinstance(error, NotFound):
            self.banner.show_message(
                "error", f"This {self.noun} no longer exists (it was deleted)."
            )
            self.save_button.setEnabled(False)
            self.delete_button.setEnabled(False)
            self.failed.emit(str(error))
        else:
            self.show_error(error)

    def on_context_data_changed(self, entity: str) -> None:
        if self._announcing or self.gone:
            return
        # Unsaved edits survive the reload (see on_load_done), so related lists stay current.
        if entity == self.entity or entity in self.watches:
            self._reload_timer.start()

    def on_form_edited(self) -> None:
        self.dirty = True

    # -- saving

    def on_save_button_clicked(self) -> None:
        if self.busy:
            return
        self.form.clear_errors()
        self.banner.clear_message()
        self.run_write(self._save(), self.on_saved)

    def on_saved(self, record_id: uuid.UUID) -> None:
        created = self.record_id is None
        self.record_id = record_id
        self.dirty = False
        self.banner.show_message(
            "success", f"{self.noun.capitalize()} {'created' if created else 'saved'}."
        )
        self.saved.emit(record_id)
        self.reload()

    def on_write_done(self, result: Any) -> None:
        self._set_busy(False)
        self.notify_others(*self._pending_changed)
        self._pending_done(result)

    def notify_others(self, *entities: str) -> None:
        """Announce changes to every other screen; this page reloads itself when it needs to,
        so its own announcement must not queue a second, racing reload."""
        self._announcing = True
        try:
            for entity in entities:
                self.context.notify_changed(entity)
        finally:
            self._announcing = False

    def on_write_failed(self, error: BaseException) -> None:
        self._set_busy(False)
        self.show_error(error)

    def _set_busy(self, busy: bool) -> None:
        self.busy = busy
        self.save_button.setEnabled(not busy)

    # -- deleting

    def on_delete_button_clicked(self) -> None:
        if self.record_id is None or self.busy:
            return
        name = self.display_title() or f"this {self.noun}"
        answer = QMessageBox.question(
            self,
            f"Delete {self.noun}",
            f"Delete {name}?\n\nIt disappears from every list here and, after the next sync,"
            " for your colleagues too.",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
            QMessageBox.StandardButton.Cancel,
        )
        if answer != QMessageBox.StandardButton.Yes:
            return
        from crm_desktop.services.record_views import delete_record

        entity, record_id = self.entity, self.record_id

        def work(session: Session) -> uuid.UUID:
            delete_record(session=session, entity=entity, record_id=record_id)
            return record_id

        self.run_write(work, self.on_record_deleted, changed=(self.entity, *self.watches))

    def on_record_deleted(self, record_id: uuid.UUID) -> None:
        self.banner.show_message("info", f"{self.noun.capitalize()} deleted.")
        self.form.set_read_only(True)
        self.save_button.setEnabled(False)
        self.delete_button.setEnabled(False)
        self.gone = True  # nothing to reload into
        self.deleted.emit(record_id)

    def _set_title(self) -> None:
        title = self.display_title() or f"New {self.noun}"
        self.title_label.setText(title)
        # The main window names the page's tab after its window title.
        self.setWindowTitle(title)
        self.title_changed.emit(title)

    def closeEvent(self, event: QCloseEvent) -> None:
        """Ask before unsaved edits are thrown away; the main window closes tabs with close()."""
        if self.dirty and not self.gone:
            answer = QMessageBox.question(
                self,
                "Unsaved changes",
                f"Discard your unsaved changes to {self.display_title() or f'this new {self.noun}'}?",
                QMessageBox.StandardButton.Discard | QMessageBox.StandardButton.Cancel,
                QMessageBox.StandardButton.Cancel,
            )
            if answer != QMessageBox.StandardButton.Discard:
                event.ignore()
                return
        self._reload_timer.stop()
        super().closeEvent(event)
