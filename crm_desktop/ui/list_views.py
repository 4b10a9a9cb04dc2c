"""The list screen of one entity: quick filter, saved filters and a lazily loaded table.

Typing in the quick filter waits ~150 ms of quiet before querying (one query per pause, not per
key); the text goes through the full-text index, so "joh" finds John in 100k contacts at once.
Double-click or Enter opens the record through :meth:`AppContext.open_record`. The header's
layout (order, widths, sort) is saved in the profile's UI state and restored next time.
"""

from __future__ import annotations

import uuid

from PySide6.QtCore import QByteArray, QEvent, QModelIndex, QObject, QSettings, Qt, QTimer, Signal
from PySide6.QtGui import QKeyEvent, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QInputDialog,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QStyle,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from crm_desktop.ui.context import AppContext
from crm_desktop.ui.list_models import ListQuery, QueryEnv, RecordTableModel, list_spec
from crm_desktop.ui.saved_filters import SavedFilter, SavedFilterStore

#: Quiet time after the last keystroke before the quick filter queries.
FILTER_DEBOUNCE_MS = 150

_SINGULAR = {
    "account": "account",
    "contact": "contact",
    "lead": "lead",
    "opportunity": "opportunity",
}


class RecordTable(QTableView):
    """A table that opens the current record on Enter as well as on double-click.

    Signals:
        record_activated(object): the user chose the record with this UUID.
    """

    record_activated = Signal(object)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and self.currentIndex().isValid():
            self._activate(self.currentIndex())
            return
        super().keyPressEvent(event)

    def _activate(self, index: QModelIndex) -> None:
        model = self.model()
        if isinstance(model, RecordTableModel):
            record_id = model.record_id(index.row())
            if record_id is not None:
                self.record_activated.emit(record_id)


class RecordListView(QWidget):
    """The list of one entity's records with its filters.

    Signals:
        summary_changed(str): a one-line summary for the status bar ("1,204 of 100,000 contacts").
    """

    summary_changed = Signal(str)

    def __init__(
        self, context: AppContext, entity: str, settings: QSettings, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.context = context
        self.entity = entity
        self.spec = list_spec(entity)
        self._settings = settings
        self._filters = SavedFilterStore(settings)
        self._active_filter: SavedFilter | None = None
        self.setObjectName(f"list_{entity}")

        self.model = RecordTableModel(
            self.spec,
            store=context.store,
            runner=context.runner,
            env=QueryEnv(user_id=context.current_user_id),
            parent=self,
        )

        self.title = QLabel(self.spec.title, self)
        self.title.setObjectName("listTitle")
        self.quick_filter = QLineEdit(self)
        self.quick_filter.setObjectName("quickFilter")
        self.quick_filter.setPlaceholderText(f"Filter {self.spec.title.lower()}…  (Ctrl+F)")
        self.quick_filter.setClearButtonEnabled(True)
        self.quick_filter.setMinimumWidth(140)
        self.saved_filter_box = QComboBox(self)
        self.saved_filter_box.setObjectName("savedFilters")
        self.saved_filter_box.setMinimumContentsLength(14)
        self.saved_filter_box.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
        )
        self.save_filter_button = QPushButton("Save filter…", self)
        self.delete_filter_button = QPushButton(self)
        self.delete_filter_button.setIcon(
            self.style().standardIcon(QStyle.StandardPixmap.SP_TrashIcon)
        )
        self.delete_filter_button.setToolTip("Delete this saved filter")
        self.new_button = QPushButton(f"New {_SINGULAR[entity]}", self)
        self.new_button.setObjectName("primaryButton")
        self.new_button.setIcon(self.style().standardIcon(QStyle.StandardPixmap.SP_FileIcon))
        self.count_label = QLabel("", self)
        self.count_label.setObjectName("countLabel")

        self.table = RecordTable(self)
        self.table.setObjectName(f"table_{entity}")
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setAlternatingRowColors(True)
        self.table.setShowGrid(False)
        self.table.setWordWrap(False)
        self.table.verticalHeader().setVisible(False)
        # Uniform row heights: the view never measures rows, which keeps scrolling 100k cheap.
        self.table.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        self.table.verticalHeader().setDefaultSectionSize(26)
        header = self.table.horizontalHeader()
        header.setSectionsMovable(True)
        header.setHighlightSections(False)
        header.setStretchLastSection(True)
        header.setDefaultAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        for i, column in enumerate(self.spec.columns):
            header.resizeSection(i, column.width)
        header.setSortIndicator(
            self.spec.column_index(self.spec.default_sort), Qt.SortOrder.AscendingOrder
        )
        header.setSortIndicatorShown(True)
        self._restore_header()

        # Two rows (title and action; then filters) keep the list usable in a narrow window.
        heading = QHBoxLayout()
        heading.addWidget(self.title)
        heading.addStretch(1)
        heading.addWidget(self.new_button)
        filters = QHBoxLayout()
        filters.addWidget(self.quick_filter, 3)
        filters.addWidget(self.saved_filter_box, 2)
        filters.addWidget(self.save_filter_button)
        filters.addWidget(self.delete_filter_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(12, 10, 12, 6)
        layout.setSpacing(8)
        layout.addLayout(heading)
        layout.addLayout(filters)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.count_label)

        self._debounce = QTimer(self)
        self._debounce.setSingleShot(True)
        self._debounce.setInterval(FILTER_DEBOUNCE_MS)
        # Data changes often come in bursts (an import, a sync page); refresh once per burst.
        self._refresh_timer = QTimer(self)
        self._refresh_timer.setSingleShot(True)
        self._refresh_timer.setInterval(300)

        self._fill_saved_filters()
        self.quick_filter.textEdited.connect(self.on_quick_filter_edited)
        self.quick_filter.textChanged.connect(self.on_quick_filter_changed)
        self._debounce.timeout.connect(self.on_debounce_timeout)
        self._refresh_timer.timeout.connect(self.model.refresh)
        self.saved_filter_box.activated.connect(self.on_saved_filter_box_activated)
        self.save_filter_button.clicked.connect(self.on_save_filter_button_clicked)
        self.delete_filter_button.clicked.connect(self.on_delete_filter_button_clicked)
        self.new_button.clicked.connect(self.on_new_button_clicked)
        self.table.doubleClicked.connect(self.table._activate)
        self.table.record_activated.connect(self.on_table_record_activated)
        self.model.rows_loaded.connect(self._update_count)
        self.model.total_counted.connect(self._update_count)
        self.model.load_failed.connect(self.on_model_load_failed)
        context.data_changed.connect(self.on_context_data_changed)
        QShortcut(QKeySequence.StandardKey.Find, self, self.focus_filter)
        self.quick_filter.installEventFilter(self)
        self._update_delete_button()
        self._started = False

    # --- public API for the main window ---------------------------------------------------
    def start(self) -> None:
        """Read the first page (called when the list is first shown, so hidden lists cost nothing)."""
        if self._started:
            return
        self._started = True
        header = self.table.horizontalHeader()
        self.model.sort(header.sortIndicatorSection(), header.sortIndicatorOrder())
        self.table.setSortingEnabled(True)

    def stop(self) -> None:
        """Stop pending timers and ignore further data changes (before the runner shuts down)."""
        self._debounce.stop()
        self._refresh_timer.stop()
        self._started = False

    def focus_filter(self) -> None:
        """Put the cursor in the quick filter (Ctrl+F)."""
        self.quick_filter.setFocus(Qt.FocusReason.ShortcutFocusReason)
        self.quick_filter.selectAll()

    def set_current_user(self, user_id: uuid.UUID | None) -> None:
        """Resolve "my" filters against another user and reload."""
        self.model.set_env(QueryEnv(user_id=user_id))
        if self._started:
            self.model.reload()

    def save_state(self) -> None:
        """Remember column order, widths and sort in the profile's UI state."""
        self._settings.setValue(
            f"lists/{self.entity}/header", self.table.horizontalHeader().saveState()
        )

    def apply_filter(self, saved: SavedFilter) -> None:
        """Show the records of a saved filter (also selects it in the box)."""
        self._active_filter = saved
        index = self.saved_filter_box.findText(saved.name)
        if index >= 0:
            self.saved_filter_box.setCurrentIndex(index)
        self.quick_filter.setText(saved.text)
        self._debounce.stop()
        self._apply_query()
        self._update_delete_button()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        # From the filter box: Down goes to the rows, Esc clears the filter.
        if watched is self.quick_filter and event.type() == QEvent.Type.KeyPress:
            assert isinstance(event, QKeyEvent)
            if event.key() == Qt.Key.Key_Down and self.model.rowCount():
                self.table.setFocus(Qt.FocusReason.TabFocusReason)
                if not self.table.currentIndex().isValid():
                    self.table.setCurrentIndex(self.model.index(0, 0))
                return True
            if event.key() == Qt.Key.Key_Escape and self.quick_filter.text():
                self.quick_filter.clear()
                return True
        return super().eventFilter(watched, event)

    # --- slots ------------------------------------------------------------------------------
    def on_quick_filter_edited(self, _text: str) -> None:
        self._debounce.start()

    def on_quick_filter_changed(self, text: str) -> None:
        # The clear button changes the text without an edit; apply that at once.
        if not text:
            self._debounce.stop()
            if self._started:
                self._apply_query()

    def on_debounce_timeout(self) -> None:
        self._apply_query()

    def on_saved_filter_box_activated(self, index: int) -> None:
        saved = self.saved_filter_box.itemData(index)
        if isinstance(saved, SavedFilter):
            self.apply_filter(saved)

    def on_save_filter_button_clicked(self) -> None:
        name, accepted = QInputDialog.getText(self, "Save filter", "Name of this filter:")
        if accepted and name.strip():
            self.save_current_filter(name.strip())

    def save_current_filter(self, name: str) -> SavedFilter | None:
        """Save the quick-filter text and the active filter's conditions under ``name``."""
        conditions = self._active_filter.conditions if self._active_filter else ()
        saved = SavedFilter(name, self.entity, self.quick_filter.text().strip(), conditions)
        try:
            self._filters.save(saved)
        except ValueError as error:
            QMessageBox.warning(self, "Save filter", str(error))
            return None
        self._fill_saved_filters()
        self.apply_filter(saved)
        return saved

    def on_delete_filter_button_clicked(self) -> None:
        saved = self._active_filter
        if saved is None or saved.builtin:
            return
        self._filters.delete(self.entity, saved.name)
        self._fill_saved_filters()
        self.apply_filter(self.saved_filter_box.itemData(0))

    def on_new_button_clicked(self) -> None:
        self.context.open_record(self.entity, None)

    def on_table_record_activated(self, record_id: uuid.UUID) -> None:
        self.context.open_record(self.entity, record_id)

    def on_context_data_changed(self, entity: str) -> None:
        # Lists show names of related records (a contact's account), so those changes count too.
        if self._started and entity in (self.entity, "account", "user", "sales_stage"):
            self._refresh_timer.start()

    def on_model_load_failed(self, message: str) -> None:
        self.count_label.setText(f"Could not read {self.spec.title.lower()}: {message}")

    # --- helpers ----------------------------------------------------------------------------
    def _apply_query(self) -> None:
        conditions = self._active_filter.conditions if self._active_filter else ()
        query = self.model.query
        self.model.set_query(
            ListQuery(
                self.quick_filter.text().strip(),
                conditions,
                sort_key=query.sort_key,
                descending=query.descending,
            )
        )

    def _fill_saved_filters(self) -> None:
        current = self._active_filter.name if self._active_filter else None
        self.saved_filter_box.clear()
        for saved in self._filters.filters(self.entity):
            self.saved_filter_box.addItem(saved.name, saved)
        index = self.saved_filter_box.findText(current) if current else 0
        self.saved_filter_box.setCurrentIndex(max(index, 0))
        if self._active_filter is None:
            self._active_filter = self.saved_filter_box.itemData(0)

    def _update_delete_button(self) -> None:
        self.delete_filter_button.setEnabled(
            self._active_filter is not None and not self._active_filter.builtin
        )

    def _update_count(self, _value: int = 0) -> None:
        loaded, total = self.model.rowCount(), self.model.total
        noun = self.spec.title.lower() if total != 1 else _SINGULAR[self.entity]
        if total is None:
            text = f"{loaded:,} {noun} loaded…" if loaded else "Loading…"
        elif total == 0:
            text = (
                f"No {noun} match"
                if self.model.query.text or self._filtered()
                else f"No {noun} yet"
            )
        elif loaded < total:
            text = f"{loaded:,} of {total:,} {noun} shown — scroll for more"
        else:
            text = f"{total:,} {noun}"
        self.count_label.setText(text)
        self.summary_changed.emit(text)

    def _filtered(self) -> bool:
        return bool(self._active_filter and self._active_filter.conditions)

    def _restore_header(self) -> None:
        state = self._settings.value(f"lists/{self.entity}/header")
        if isinstance(state, QByteArray | bytes) and state:
            self.table.horizontalHeader().restoreState(QByteArray(state))
