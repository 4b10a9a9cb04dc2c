"""The main window: navigation between areas, record pages in tabs, global search, status bar.

Layout: a navigation list on the left, the current area (a record list or the pipeline board) in
the middle, and the records the user opened as closable tabs on the right, so the list stays in
view while a record is read or edited. Areas are built the first time they are shown, so start-up
costs one list, not all of them. Record pages and the pipeline board come from their own modules
(``ui/records``, ``ui/pipeline_board.py``); this window only places them.

Sync: the window owns a :class:`~crm_desktop.ui.sync_status.SyncStatusController` (the sync
thread), which drives the status bar's indicator. The Sync menu syncs now, signs in and out and
opens the conflict log in a dock at the bottom; a badge in the status bar counts conflicts not
yet looked at. What needs the user (device revoked and wiped, update required, no keyring)
comes up in a dialog saying what happened and what to do. Shutdown order: the sync thread ends
before the store worker, and both before the store is disposed (the app's ``main``).

Window geometry, the splitter, the current area and every list's column layout are kept in the
profile's UI state file (``Profile.ui_state_path``).
"""

from __future__ import annotations

import importlib
import logging
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import shiboken6
from PySide6.QtCore import QByteArray, QObject, QSettings, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QCloseEvent, QIcon, QKeySequence, QResizeEvent
from PySide6.QtWidgets import (
    QDockWidget,
    QFrame,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMainWindow,
    QMessageBox,
    QScrollArea,
    QSplitter,
    QStackedWidget,
    QStyle,
    QTabWidget,
    QWidget,
)

from crm_desktop.app import resources_dir
from crm_desktop.config import Profile
from crm_desktop.store import Store
from crm_desktop.sync.engine import SyncReport
from crm_desktop.sync.worker import SignedIn
from crm_desktop.ui.conflicts_panel import ConflictCount, ConflictsPanel, count_conflicts
from crm_desktop.ui.context import AppContext
from crm_desktop.ui.first_run import FirstRunPage, store_is_empty
from crm_desktop.ui.global_search import GlobalSearchPopup
from crm_desktop.ui.list_models import guarded
from crm_desktop.ui.list_views import RecordListView
from crm_desktop.ui.sign_in_dialog import SignInDialog
from crm_desktop.ui.status_bar import MainStatusBar
from crm_desktop.ui.sync_status import SyncStatusController

log = logging.getLogger(__name__)

#: How long after start-up the reminder centre, the quote-expiry watcher and sync begin.
BACKGROUND_DELAY_MS = 1500
#: UI state key: the newest conflict-log id the user has seen (the log's ids only grow).
CONFLICTS_SEEN_KEY = "sync/conflicts_seen"

RECORD_TITLES = {
    "account": "Account",
    "contact": "Contact",
    "lead": "Lead",
    "opportunity": "Opportunity",
    "quote": "Quote",
    "sales_order": "Sales order",
}


@dataclass(frozen=True)
class Area:
    """One place in the navigation: a key, its label and icon, and what builds its widget."""

    key: str
    title: str
    #: Name of an SVG in resources/icons, and the Qt standard icon used if it is missing.
    icon_name: str
    fallback_icon: QStyle.StandardPixmap
    build: Callable[[MainWindow], QWidget]
    #: The entity whose records "New" (Ctrl+N) creates here, if any.
    entity: str | None = None


def _list_area(entity: str) -> Callable[[MainWindow], QWidget]:
    def build(window: MainWindow) -> QWidget:
        view = RecordListView(window.context, entity, window.ui_state)
        # The window's status bar shows the count; one place is enough.
        view.count_label.hide()
        view.summary_changed.connect(window.on_list_summary_changed)
        return view

    return build


def _screen_area(module: str, class_name: str, title: str) -> Callable[[MainWindow], QWidget]:
    """An area showing ``module.class_name(context)``, built by another part of the UI.

    Imported by name when first shown, so a build (or a checkout) without that screen still
    starts, with a note in its place.
    """

    def build(window: MainWindow) -> QWidget:
        try:
            screen = getattr(importlib.import_module(module), class_name)
        except (ImportError, AttributeError):
            log.info("%s.%s not available in this build", module, class_name)
            return _placeholder(f"The {title} screen is not available in this build yet.")
        widget: QWidget = screen(window.context)
        return widget

    return build


def _calendar_area(window: MainWindow) -> QWidget:
    """The calendar, with the window's reminder centre beside it when one runs."""
    try:
        from crm_desktop.ui.calendar import CalendarView, ReminderCenter
    except ImportError:
        return _placeholder("The calendar screen is not available in this build yet.")
    if isinstance(window.reminders, ReminderCenter):
        return CalendarView(window.context, reminder_center=window.reminders)
    return CalendarView(window.context)


def _quote_page(
    context: AppContext,
    record_id: uuid.UUID | None,
    parent: QWidget | None,
    defaults: Mapping[str, object] | None = None,
) -> QWidget:
    from crm_desktop.ui.quotes import QuoteEditor

    opportunity_id = (defaults or {}).get("opportunity_id")
    if record_id is None and isinstance(opportunity_id, uuid.UUID):
        # Made from an opportunity: its customer, currency and contact come pre-filled.
        return QuoteEditor.for_opportunity(context, opportunity_id, parent)
    return QuoteEditor(context, quote_id=record_id, parent=parent)


def _sales_order_page(
    context: AppContext,
    record_id: uuid.UUID | None,
    parent: QWidget | None,
    defaults: Mapping[str, object] | None = None,
) -> QWidget:
    from crm_desktop.ui.quotes import SalesOrderPage

    if record_id is None:
        raise ValueError("sales orders are made from accepted quotes, not created empty")
    return SalesOrderPage(context, record_id, parent)


#: Record kinds whose pages live outside ui/records (entity -> page builder).
OTHER_RECORD_PAGES: dict[
    str,
    Callable[[AppContext, uuid.UUID | None, QWidget | None, Mapping[str, object] | None], QWidget],
] = {
    "quote": _quote_page,
    "sales_order": _sales_order_page,
}


def _record_page_factory() -> Callable[..., QWidget] | None:
    """A ``create_record_page(context, entity, record_id, parent)`` over every page in the build.

    Accounts, contacts, leads and opportunities come from ``ui.records``; quotes and sales
    orders from ``ui.quotes``. ``None`` if the record pages are not part of this build.
    """
    try:
        records = importlib.import_module("crm_desktop.ui.records")
    except ImportError:
        return None
    create = getattr(records, "create_record_page", None)
    if not callable(create):
        return None

    def factory(
        context: AppContext,
        entity: str,
        record_id: uuid.UUID | None,
        parent: QWidget | None,
        defaults: Mapping[str, object] | None = None,
    ) -> QWidget:
        other = OTHER_RECORD_PAGES.get(entity)
        if other is not None:
            try:
                return other(context, record_id, parent, defaults)
            except ImportError as error:
                raise LookupError(f"no {entity} page in this build") from error
        page: QWidget = create(context, entity, record_id, parent)
        return page

    return factory


def _scrollable(widget: QWidget) -> QScrollArea:
    """``widget`` in a frameless scroll area, so its minimum size never widens the window.

    Record pages and other screens can ask for more width than a laptop screen has beside the
    navigation and a list; in a scroll area they shrink to what fits and scroll past it.
    """
    holder = QScrollArea()
    holder.setWidgetResizable(True)
    holder.setFrameShape(QFrame.Shape.NoFrame)
    holder.setWidget(widget)
    return holder


def _placeholder(text: str) -> QWidget:
    label = QLabel(text)
    label.setAlignment(Qt.AlignmentFlag.AlignCenter)
    label.setObjectName("placeholder")
    return label


#: The navigation, in order; Ctrl+1.. follow it. A new screen (reports, ...) is one more line.
_SP = QStyle.StandardPixmap
AREAS: tuple[Area, ...] = (
    Area("account", "Accounts", "accounts", _SP.SP_DirHomeIcon, _list_area("account"), "account"),
    Area("contact", "Contacts", "contacts", _SP.SP_FileIcon, _list_area("contact"), "contact"),
    Area("lead", "Leads", "leads", _SP.SP_FileDialogNewFolder, _list_area("lead"), "lead"),
    Area(
        "opportunity",
        "Opportunities",
        "opportunities",
        _SP.SP_FileDialogDetailedView,
        _list_area("opportunity"),
        "opportunity",
    ),
    Area(
        "pipeline",
        "Pipeline",
        "pipeline",
        _SP.SP_ArrowRight,
        _screen_area("crm_desktop.ui.pipeline_board", "PipelineBoard", "pipeline"),
        "opportunity",
    ),
    Area(
        "calendar",
        "Calendar",
        "calendar",
        _SP.SP_FileDialogInfoView,
        _calendar_area,
    ),
    Area(
        "quote",
        "Quotes",
        "quotes",
        _SP.SP_FileDialogListView,
        _screen_area("crm_desktop.ui.quotes", "QuotesView", "quotes"),
        "quote",
    ),
    Area(
        "catalog",
        "Products",
        "products",
        _SP.SP_DriveFDIcon,
        _screen_area("crm_desktop.ui.catalog", "CatalogView", "product catalog"),
    ),
)


def load_icon(name: str, fallback: QStyle.StandardPixmap, style: QStyle) -> QIcon:
    """An icon from resources/icons, or Qt's standard icon if the build lacks the file."""
    path = resources_dir() / "icons" / f"{name}.svg"
    return QIcon(str(path)) if path.is_file() else style.standardIcon(fallback)


class MainWindow(QMainWindow):
    """Top-level window of the desktop app.

    Signals:
        area_shown(str): the area with this key became the current one (after it was built).
        record_opened(str, object): a record page was shown in a tab (entity, UUID or None).
    """

    area_shown = Signal(str)
    record_opened = Signal(str, object)

    def __init__(
        self,
        *,
        store: Store,
        profile: Profile,
        context: AppContext | None = None,
        background: bool = False,
    ) -> None:
        """``background=True`` (the app) also starts the reminder centre and the quote-expiry
        watcher; tests and the self-check leave them off, so nothing writes behind their back."""
        super().__init__()
        self.store = store
        self.profile = profile
        self.context = context or AppContext(
            store=store,
            profile=profile,
            current_user_id=profile.settings().current_user_id,
            parent=self,
        )
        self.ui_state = QSettings(str(profile.ui_state_path), QSettings.Format.IniFormat)
        self.setWindowTitle("Field CRM")
        self.setWindowIcon(load_icon("app", QStyle.StandardPixmap.SP_DirHomeIcon, self.style()))
        self.setObjectName("mainWindow")

        self.navigation = QListWidget(self)
        self.navigation.setObjectName("navigation")
        self.navigation.setFixedWidth(176)
        self.navigation.setIconSize(QSize(20, 20))
        for i, area in enumerate(AREAS):
            item = QListWidgetItem(
                load_icon(area.icon_name, area.fallback_icon, self.style()), area.title
            )
            item.setToolTip(f"{area.title}  (Ctrl+{i + 1})")
            self.navigation.addItem(item)
        self.areas = QStackedWidget(self)
        self.areas.setObjectName("areas")
        self._area_widgets: dict[str, QWidget] = {}
        #: What the stack holds per area: the list itself, or a scroll area around a screen.
        self._area_holders: dict[str, QWidget] = {}
        self.first_run: FirstRunPage | None = None

        self.record_tabs = QTabWidget(self)
        self.record_tabs.setObjectName("recordTabs")
        self.record_tabs.setTabsClosable(True)
        self.record_tabs.setMovable(True)
        self.record_tabs.setDocumentMode(True)
        self.record_tabs.hide()
        self._open_records: dict[tuple[str, uuid.UUID], QWidget] = {}

        # The navigation keeps its width; the user divides the rest between list and records.
        self.splitter = QSplitter(Qt.Orientation.Horizontal, self)
        self.splitter.setObjectName("mainSplitter")
        self.splitter.addWidget(self.areas)
        self.splitter.addWidget(self.record_tabs)
        self.splitter.setCollapsible(0, False)
        self.splitter.setStretchFactor(0, 3)
        self.splitter.setStretchFactor(1, 2)
        central = QWidget(self)
        row = QHBoxLayout(central)
        row.setContentsMargins(0, 0, 0, 0)
        row.setSpacing(0)
        row.addWidget(self.navigation)
        row.addWidget(self.splitter, 1)
        self.setCentralWidget(central)

        self.status = MainStatusBar(self.context.runner, self)
        self.setStatusBar(self.status)
        # Owns the sync thread and drives the status bar's indicator; started with the
        # background services (``background=True``) or by signing in.
        self.sync = SyncStatusController(self.context, self.status.sync, parent=self)
        self.sign_in_dialog: SignInDialog | None = None
        self.conflicts_dock: QDockWidget | None = None
        self.conflicts_panel: ConflictsPanel | None = None
        #: The last sync message box shown (device wiped, update required, no keyring).
        self.alert: QMessageBox | None = None
        self.search_popup = GlobalSearchPopup(self.context, self)
        self._build_actions()
        self._connect_sync()

        self.navigation.currentRowChanged.connect(self.on_navigation_current_row_changed)
        self.record_tabs.tabCloseRequested.connect(self.on_record_tabs_close_requested)
        self.context.record_requested.connect(self.on_context_record_requested)
        self.context.new_record_requested.connect(self.on_context_new_record_requested)
        self.context.runner.task_failed.connect(self.on_runner_task_failed)

        self._shut_down = False
        self.reminders: QObject | None = None
        self.expiry_watcher: QObject | None = None
        if background:
            # Later, not now: the store worker is single, and the first list page must not
            # queue behind a reminder query and a quote-expiry write at start-up.
            QTimer.singleShot(BACKGROUND_DELAY_MS, self._start_background_services)

        self._restore_state()
        if not FirstRunPage.is_done(self.ui_state):
            self.context.runner.submit(
                lambda: store_is_empty(store), on_done=guarded(self, self._on_emptiness_checked)
            )

    # --- actions and shortcuts ------------------------------------------------------------
    def _build_actions(self) -> None:
        menu = self.menuBar()
        file_menu = menu.addMenu("&File")
        self.new_action = self._action("&New record", "Ctrl+N", self.on_new_action_triggered)
        file_menu.addAction(self.new_action)
        file_menu.addSeparator()
        file_menu.addAction(self._action("&Quit", "Ctrl+Q", self.close))
        go_menu = menu.addMenu("&Go")
        self.search_action = self._action("&Search everything…", "Ctrl+K", self.open_search)
        go_menu.addAction(self.search_action)
        go_menu.addSeparator()
        for i, area in enumerate(AREAS):
            go_menu.addAction(
                self._action(
                    area.title, f"Ctrl+{i + 1}", lambda _=False, row=i: self.show_area_at(row)
                )
            )
        view_menu = menu.addMenu("&View")
        view_menu.addAction(self._action("&Refresh", "F5", self.refresh))
        # Explicit keys: the platform's StandardKey.Close is Ctrl+F4 alone on some desktops.
        self.close_record_action = self._action(
            "&Close record", "Ctrl+W", self.close_current_record
        )
        self.close_record_action.setShortcuts([QKeySequence("Ctrl+W"), QKeySequence("Ctrl+F4")])
        view_menu.addAction(self.close_record_action)
        sync_menu = menu.addMenu("&Sync")
        self.sync_now_action = self._action("Sync &now", "F9", self.sync.request_sync)
        self.sign_in_action = self._action("Sign &in…", "", self.open_sign_in)
        self.sign_out_action = self._action("Sign &out", "", self.sync.sign_out)
        self.conflicts_action = self._action("&Conflicts…", "", self.show_conflicts)
        sync_menu.addAction(self.sync_now_action)
        sync_menu.addSeparator()
        sync_menu.addAction(self.sign_in_action)
        sync_menu.addAction(self.sign_out_action)
        sync_menu.addSeparator()
        sync_menu.addAction(self.conflicts_action)

    def _action(self, text: str, shortcut: str, slot: Callable[..., object]) -> QAction:
        action = QAction(text, self)
        action.setShortcut(QKeySequence(shortcut))
        # Window-wide, so shortcuts work from any child (list, record page, search box).
        action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        action.triggered.connect(slot)
        self.addAction(action)
        return action

    # --- areas --------------------------------------------------------------------------------
    def show_area(self, key: str) -> None:
        """Make the area ``key`` current (builds it on first use)."""
        row = next(i for i, a in enumerate(AREAS) if a.key == key)
        self.show_area_at(row)

    def show_area_at(self, row: int) -> None:
        """Make the area at navigation ``row`` current."""
        if self.navigation.currentRow() != row:
            self.navigation.setCurrentRow(row)  # calls back into on_navigation_current_row_changed
        else:
            self.on_navigation_current_row_changed(row)

    def area_widget(self, key: str) -> QWidget:
        """The widget of area ``key``, built if needed."""
        widget = self._area_widgets.get(key)
        if widget is None:
            area = next(a for a in AREAS if a.key == key)
            widget = area.build(self)
            self._area_widgets[key] = widget
            holder = widget if isinstance(widget, RecordListView) else _scrollable(widget)
            self._area_holders[key] = holder
            self.areas.addWidget(holder)
        return widget

    def current_area_widget(self) -> QWidget | None:
        """The widget of the area on screen (inside its scroll area, if it has one)."""
        holder = self.areas.currentWidget()
        return holder.widget() if isinstance(holder, QScrollArea) else holder

    @property
    def current_area(self) -> Area:
        """The area selected in the navigation."""
        return AREAS[max(self.navigation.currentRow(), 0)]

    def on_navigation_current_row_changed(self, row: int) -> None:
        if not 0 <= row < len(AREAS) or self.first_run is not None:
            return
        area = AREAS[row]
        widget = self.area_widget(area.key)
        self.areas.setCurrentWidget(self._area_holders[area.key])
        if isinstance(widget, RecordListView):
            widget.start()
            self.status.set_summary(widget.count_label.text())
        else:
            self.status.set_summary("")
        self.area_shown.emit(area.key)

    def on_list_summary_changed(self, text: str) -> None:
        if self.sender() is self.current_area_widget():
            self.status.set_summary(text)

    def refresh(self) -> None:
        """Re-read the current list (F5)."""
        widget = self.current_area_widget()
        if isinstance(widget, RecordListView):
            widget.model.reload()

    # --- first run ------------------------------------------------------------------------
    def _on_emptiness_checked(self, empty: bool) -> None:
        if not empty:
            FirstRunPage.mark_done(self.ui_state)
            return
        self.first_run = FirstRunPage(self.context, self.ui_state, sync=self.sync)
        self.first_run.finished.connect(self.on_first_run_finished)
        self.first_run.connect_requested.connect(self.open_sign_in)
        self.areas.addWidget(self.first_run)
        self.areas.setCurrentWidget(self.first_run)
        # A welcome page, not a list: nothing to navigate to until the user has chosen.
        self.navigation.setEnabled(False)
        self.navigation.hide()

    def on_first_run_finished(self, choice: str) -> None:
        page, self.first_run = self.first_run, None
        self.navigation.setEnabled(True)
        self.navigation.show()
        self._apply_current_user()
        self.show_area_at(max(self.navigation.currentRow(), 0))
        if page is not None:
            self.areas.removeWidget(page)
            page.deleteLater()
        if choice == "demo":
            self.status.showMessage("Demo data loaded", 5000)
        elif choice == "connect":
            self.status.showMessage("Your data from head office is here", 5000)

    def _apply_current_user(self) -> None:
        """Lists filtering on "mine" follow the user this profile works as."""
        for widget in self._area_widgets.values():
            if isinstance(widget, RecordListView):
                widget.set_current_user(self.context.current_user_id)

    # --- records --------------------------------------------------------------------------
    def on_context_record_requested(self, entity: str, record_id: uuid.UUID | None) -> None:
        self.open_record_page(entity, record_id)

    def on_context_new_record_requested(self, entity: str, defaults: object) -> None:
        self.open_record_page(
            entity, None, defaults=defaults if isinstance(defaults, Mapping) else None
        )

    def open_record_page(
        self,
        entity: str,
        record_id: uuid.UUID | None,
        *,
        defaults: Mapping[str, object] | None = None,
    ) -> QWidget | None:
        """Show the record in a tab (an already open one is brought forward).

        ``defaults`` pre-fill a new record where its page supports them (a quote made from an
        opportunity).
        """
        if record_id is not None and (entity, record_id) in self._open_records:
            page = self._open_records[(entity, record_id)]
            self.record_tabs.setCurrentIndex(self._tab_index(page))
            self.record_tabs.show()
            self.record_opened.emit(entity, record_id)
            return page
        create_record_page = _record_page_factory()
        if create_record_page is None:
            self.status.showMessage("Record pages are not available in this build yet.", 5000)
            return None
        try:
            page = create_record_page(self.context, entity, record_id, self.record_tabs, defaults)
        except (KeyError, ValueError, LookupError) as error:
            self.status.showMessage(f"Cannot open {entity}: {error}", 8000)
            return None
        if record_id is not None:
            self._open_records[(entity, record_id)] = page
        title = page.windowTitle() or (
            f"New {RECORD_TITLES.get(entity, entity).lower()}"
            if record_id is None
            else RECORD_TITLES.get(entity, entity)
        )
        holder = _scrollable(page)
        index = self.record_tabs.addTab(holder, self._record_icon(entity), title)
        self.record_tabs.setTabToolTip(index, title)
        page.windowTitleChanged.connect(lambda text, p=page: self._on_page_title_changed(p, text))
        # Record pages (ui/records) announce saves and deletes; a new record's tab becomes the
        # tab of that record once saved, and a deleted record's tab closes.
        saved = getattr(page, "saved", None)
        if saved is not None:
            saved.connect(lambda rid, p=page, e=entity: self._on_page_saved(p, e, rid))
        deleted = getattr(page, "deleted", None)
        if deleted is not None:
            deleted.connect(lambda _rid, p=page, e=entity: self._on_page_deleted(p, e))
        self.record_tabs.setCurrentIndex(index)
        if self.record_tabs.isHidden():
            self.record_tabs.show()
            sizes = self.splitter.sizes()
            if len(sizes) == 2 and sizes[1] == 0:
                # The record just opened is what the user is looking at: give it the larger part.
                total = sum(sizes)
                self.splitter.setSizes([total * 2 // 5, total * 3 // 5])
        page.setFocus(Qt.FocusReason.OtherFocusReason)
        self.record_opened.emit(entity, record_id)
        return page

    def _tab_index(self, page: QWidget) -> int:
        """Index of the tab showing ``page`` (pages sit in scroll areas), or -1."""
        for index in range(self.record_tabs.count()):
            holder = self.record_tabs.widget(index)
            if holder is page or (isinstance(holder, QScrollArea) and holder.widget() is page):
                return index
        return -1

    def current_record_page(self) -> QWidget | None:
        """The record page in front, if any."""
        holder = self.record_tabs.currentWidget()
        return holder.widget() if isinstance(holder, QScrollArea) else holder

    def _record_icon(self, entity: str) -> QIcon:
        area = next((a for a in AREAS if a.key == entity), None)
        return load_icon(area.icon_name, area.fallback_icon, self.style()) if area else QIcon()

    def _on_page_title_changed(self, page: QWidget, text: str) -> None:
        index = self._tab_index(page)
        if index >= 0 and text:
            self.record_tabs.setTabText(index, text)
            self.record_tabs.setTabToolTip(index, text)

    def _on_page_saved(self, page: QWidget, entity: str, record_id: object) -> None:
        if isinstance(record_id, uuid.UUID):
            self._open_records.setdefault((entity, record_id), page)

    def _on_page_deleted(self, page: QWidget, entity: str) -> None:
        index = self._tab_index(page)
        if index >= 0:
            self.on_record_tabs_close_requested(index)
        self.status.showMessage(f"{RECORD_TITLES.get(entity, entity)} deleted", 5000)

    def close_current_record(self) -> None:
        """Close the record tab in front (Ctrl+W)."""
        if self.record_tabs.count():
            self.on_record_tabs_close_requested(self.record_tabs.currentIndex())

    def on_record_tabs_close_requested(self, index: int) -> None:
        holder = self.record_tabs.widget(index)
        page = holder.widget() if isinstance(holder, QScrollArea) else holder
        if holder is None or page is None or not page.close():
            return  # a page with unsaved changes may refuse to close
        self.record_tabs.removeTab(index)
        self._open_records = {k: v for k, v in self._open_records.items() if v is not page}
        holder.deleteLater()
        if not self.record_tabs.count():
            self.record_tabs.hide()

    def on_new_action_triggered(self) -> None:
        entity = self.current_area.entity
        if entity:
            self.context.open_record(entity, None)

    # --- search -------------------------------------------------------------------------------
    def open_search(self) -> None:
        """Show the global search popup (Ctrl+K)."""
        self.search_popup.popup()

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        if self.search_popup.isVisible():
            self.search_popup.popup()

    # --- messages -----------------------------------------------------------------------------
    def on_runner_task_failed(self, message: str) -> None:
        self.status.showMessage(f"Something went wrong: {message}", 10000)

    # --- state ----------------------------------------------------------------------------
    def _restore_state(self) -> None:
        geometry = self.ui_state.value("window/geometry")
        if isinstance(geometry, QByteArray | bytes) and geometry:
            self.restoreGeometry(QByteArray(geometry))
        else:
            self.resize(1280, 800)
        splitter = self.ui_state.value("window/splitter")
        if isinstance(splitter, QByteArray | bytes) and splitter:
            self.splitter.restoreState(QByteArray(splitter))
        area = str(self.ui_state.value("window/area", AREAS[1].key))
        keys = [a.key for a in AREAS]
        # Defer building the first area to the event loop, so the window paints at once.
        row = keys.index(area) if area in keys else 1
        QTimer.singleShot(0, lambda: self._show_initial_area(row))

    def _show_initial_area(self, row: int) -> None:
        if self.first_run is None and self.navigation.currentRow() < 0:
            self.show_area_at(row)

    def save_state(self) -> None:
        """Write geometry, splitter, current area and list layouts to the profile's UI state."""
        self.ui_state.setValue("window/geometry", self.saveGeometry())
        self.ui_state.setValue("window/splitter", self.splitter.saveState())
        self.ui_state.setValue("window/area", self.current_area.key)
        for widget in self._area_widgets.values():
            if isinstance(widget, RecordListView):
                widget.save_state()
        self.ui_state.sync()

    def closeEvent(self, event: QCloseEvent) -> None:
        self.save_state()
        # Now, not only in shutdown(): the sync thread belongs to this window, and a running
        # QThread destroyed with it (a window closed and deleted without shutdown) aborts.
        self.sync.shutdown()
        super().closeEvent(event)

    def shutdown(self) -> None:
        """Stop background work (call after the event loop ended, before disposing of the store).

        Sync first: a round writes to the store and may still be queueing refreshes; then the
        store worker. The caller disposes of the store last.
        """
        self._shut_down = True
        self.sync.shutdown()
        for widget in self._area_widgets.values():
            if isinstance(widget, RecordListView):
                widget.stop()
        for service in (self.reminders, self.expiry_watcher):
            timer = getattr(service, "timer", None)
            if isinstance(timer, QTimer):
                timer.stop()
        self.context.runner.shutdown()

    # --- background services ------------------------------------------------------------
    def _start_background_services(self) -> None:
        """Sync, reminders (ui/calendar) and quote expiry (ui/quotes), when this build has them."""
        if self._shut_down:
            return
        self.start_sync()
        try:
            from crm_desktop.ui.calendar import ReminderCenter
        except ImportError:
            log.info("reminders not available in this build")
        else:
            reminders = ReminderCenter(self.context, parent=self)
            reminders.reminder_fired.connect(self.on_reminders_reminder_fired)
            reminders.message_clicked.connect(self.on_reminders_message_clicked)
            reminders.start()
            self.reminders = reminders
        try:
            from crm_desktop.ui.quotes import QuoteExpiryWatcher
        except ImportError:
            log.info("quote expiry not available in this build")
        else:
            self.expiry_watcher = QuoteExpiryWatcher(self.context, parent=self)

    def on_reminders_reminder_fired(self, row: object) -> None:
        subject = getattr(row, "subject", "")
        self.status.showMessage(f"Reminder: {subject}", 15_000)

    def on_reminders_message_clicked(self, _activity_id: object) -> None:
        # The calendar lists due reminders beside it; bring the window and that screen forward.
        self.showNormal()
        self.raise_()
        self.activateWindow()
        self.show_area("calendar")

    # --- sync ---------------------------------------------------------------------------------
    def _connect_sync(self) -> None:
        self.sync.signed_in.connect(self.on_sync_signed_in)
        self.sync.signed_out.connect(self.on_sync_signed_out)
        self.sync.sync_finished.connect(self.on_sync_sync_finished)
        self.sync.sync_failed.connect(self.on_sync_sync_failed)
        self.sync.device_wiped.connect(self.on_sync_device_wiped)
        self.sync.update_required.connect(self.on_sync_update_required)
        self.sync.keyring_unavailable.connect(self.on_sync_keyring_unavailable)
        self.status.conflicts.clicked.connect(self.show_conflicts)
        self._update_sync_actions()

    def start_sync(self) -> None:
        """Sync now if signed in, then on the timer, on reconnection and after edits."""
        if self._shut_down:
            return
        self.sync.start()
        self._count_conflicts()

    def open_sign_in(self) -> SignInDialog:
        """Show the sign-in dialog (window-modal; the one already open is brought forward)."""
        dialog = self.sign_in_dialog
        if dialog is not None and shiboken6.isValid(dialog):
            if dialog.isVisible():
                dialog.raise_()
                dialog.activateWindow()
                return dialog
            dialog.deleteLater()
        # Read now, so it offers the server and user name of the last sign-in.
        dialog = SignInDialog(self.sync, self.profile.settings(), self)
        self.sign_in_dialog = dialog
        dialog.open()
        return dialog

    def show_conflicts(self) -> ConflictsPanel:
        """Show the conflict log in a dock at the bottom (built the first time)."""
        if self.conflicts_dock is None or self.conflicts_panel is None:
            panel = ConflictsPanel(self.context, self.sync)
            panel.load_finished.connect(self.on_conflicts_panel_load_finished)
            panel.value_taken.connect(self.on_conflicts_panel_value_taken)
            dock = QDockWidget("Conflicts", self)
            dock.setObjectName("conflictsDock")
            dock.setWidget(panel)
            self.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, dock)
            self.conflicts_dock, self.conflicts_panel = dock, panel
        self.conflicts_dock.show()
        self.conflicts_dock.raise_()
        return self.conflicts_panel

    def _update_sync_actions(self) -> None:
        signed_in = self.sync.signed_in_as is not None
        self.sync_now_action.setEnabled(signed_in)
        self.sign_out_action.setEnabled(signed_in)
        self.sign_out_action.setText(
            f"Sign &out {self.sync.signed_in_as}" if signed_in else "Sign &out"
        )

    def _count_conflicts(self) -> None:
        store, seen = self.store, self._conflicts_seen()
        self.context.runner.submit(
            lambda: count_conflicts(store, seen), on_done=self._on_conflicts_counted
        )

    def _conflicts_seen(self) -> int:
        try:
            return int(str(self.ui_state.value(CONFLICTS_SEEN_KEY, 0)))
        except ValueError:
            return 0

    def _on_conflicts_counted(self, count: ConflictCount) -> None:
        if self.conflicts_dock is not None and self.conflicts_dock.isVisible():
            return  # the open panel reloads by itself and marks what it shows as seen
        self.status.set_unseen_conflicts(count.unseen)
        self.conflicts_action.setText(
            f"&Conflicts ({count.unseen:,} new)…" if count.unseen else "&Conflicts…"
        )

    def on_conflicts_panel_load_finished(self, _rows: int) -> None:
        panel = self.conflicts_panel
        if panel is None or not panel.isVisible():
            return
        newest = panel.rows[0].conflict.id if panel.rows else 0
        self.ui_state.setValue(CONFLICTS_SEEN_KEY, newest)
        self.status.set_unseen_conflicts(0)
        self.conflicts_action.setText("&Conflicts…")

    def on_conflicts_panel_value_taken(self, entity: str, _record_id: object) -> None:
        self.status.showMessage(
            f"Other value taken for the {RECORD_TITLES.get(entity, entity).lower()}; "
            "it is sent with the next sync",
            8000,
        )

    def on_sync_signed_in(self, who: SignedIn) -> None:
        self._update_sync_actions()
        self._apply_current_user()
        self.status.showMessage(f"Signed in to {who.server_url} as {who.username}", 8000)

    def on_sync_signed_out(self) -> None:
        self._update_sync_actions()
        self.status.showMessage(
            "Signed out: the sign-in token is forgotten; your data stays on this computer", 8000
        )

    def on_sync_sync_finished(self, _report: SyncReport) -> None:
        self._update_sync_actions()
        self._count_conflicts()

    def on_sync_sync_failed(self, _kind: str, _message: str) -> None:
        # A refused or missing token signs the profile out; the menu follows.
        self._update_sync_actions()

    def on_sync_device_wiped(self, message: str) -> None:
        self._alert(
            "This device was revoked",
            "Head office revoked this computer's access, so Field CRM has removed the company "
            "data that was stored on it.",
            f"{message}\n\nIf this is a mistake, ask your administrator to restore your access, "
            "then sign in again (Sync → Sign in…) to download your data.",
        )

    def on_sync_update_required(self, message: str) -> None:
        self._alert(
            "Update required",
            "This version of Field CRM and the head-office server no longer understand each "
            "other, so sync has stopped. Your changes stay safe on this computer.",
            f"{message}\n\nInstall the current version of Field CRM (your administrator knows "
            "which), then sync again (Sync → Sync now).",
        )

    def on_sync_keyring_unavailable(self, message: str) -> None:
        self._alert(
            "No keyring for the sign-in",
            "Field CRM keeps your sign-in token only in the system keyring, and it could not "
            "use one, so sync has stopped. Nothing was written to a plain file.",
            f"{message}\n\nThen sync again (Sync → Sync now), or sign in again if asked.",
        )

    def _alert(self, title: str, text: str, detail: str) -> None:
        """A window-modal warning that does not block the event loop (sync carries on behind)."""
        if self.alert is not None and shiboken6.isValid(self.alert):
            self.alert.close()
        box = QMessageBox(
            QMessageBox.Icon.Warning, title, text, QMessageBox.StandardButton.Ok, self
        )
        box.setObjectName("syncAlert")
        box.setInformativeText(detail)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.alert = box
        box.open()
