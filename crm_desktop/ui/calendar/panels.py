"""Side panels of the calendar: "my day" and the team overlay picker."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import date, datetime
from zoneinfo import ZoneInfo

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QBrush, QColor, QFont, QIcon, QPixmap
from PySide6.QtWidgets import (
    QLabel,
    QListWidget,
    QListWidgetItem,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from crm_desktop.models.enums import ActivityStatus
from crm_desktop.services import activities as svc
from crm_desktop.services.activities import ActivityRow, MyDay, UserRow
from crm_desktop.ui.calendar.common import (
    KIND_COLOURS,
    KIND_LABELS,
    NOW_LINE,
    OWNER_PALETTE,
    short_time,
    system_zone,
)
from crm_desktop.ui.context import AppContext

ID_ROLE = Qt.ItemDataRole.UserRole


class MyDayPanel(QWidget):
    """Today's activities and overdue tasks of the current user; tick to complete.

    Signals:
        open_requested(object): open the activity with this UUID.
        loaded(): the list was refreshed from the store.
    """

    open_requested = Signal(object)
    loaded = Signal()

    def __init__(
        self,
        context: AppContext,
        *,
        zone: ZoneInfo | None = None,
        today: Callable[[], date] | None = None,
        now: Callable[[], datetime] | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.context = context
        self.zone = zone or system_zone()
        self._now = now or (lambda: datetime.now(self.zone))
        self._today = today or (lambda: self._now().astimezone(self.zone).date())
        self.data: MyDay | None = None
        self._filling = False
        self.title = QLabel("<b>My day</b>", self)
        self.tree = QTreeWidget(self)
        self.tree.setHeaderHidden(True)
        self.tree.setRootIsDecorated(False)
        self.tree.setColumnCount(1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.title)
        layout.addWidget(self.tree, 1)
        self.tree.itemChanged.connect(self.on_tree_item_changed)
        self.tree.itemDoubleClicked.connect(self.on_tree_item_double_clicked)
        # Several edits in a row (a drag, a dialog with follow-up) reload once.
        self._reload_timer = QTimer(self)
        self._reload_timer.setSingleShot(True)
        self._reload_timer.setInterval(150)
        self._reload_timer.timeout.connect(self.reload)
        context.data_changed.connect(self.on_context_data_changed)

    def reload(self) -> None:
        """Fetch today's list in the background."""
        user = self.context.current_user_id
        day = self._today()
        now = self._now()
        zone = self.zone
        store = self.context.store

        def fetch() -> MyDay:
            with store.sessions() as session:
                return svc.my_day(session=session, user_id=user, day=day, zone=zone, now=now)

        self.context.runner.submit(fetch, on_done=self.on_fetch_done)

    def on_context_data_changed(self, entity: str) -> None:
        """Activities changed somewhere: refresh soon."""
        if entity == "activity":
            self._reload_timer.start()

    def on_fetch_done(self, data: MyDay) -> None:
        """Show the fetched day."""
        self.data = data
        self._filling = True
        self.tree.clear()
        bold = QFont(self.font())
        bold.setBold(True)

        def heading(text: str, colour: str | None = None) -> None:
            item = QTreeWidgetItem(self.tree, [text])
            item.setFont(0, bold)
            item.setFlags(Qt.ItemFlag.ItemIsEnabled)
            if colour:
                item.setForeground(0, QBrush(QColor(colour)))

        if data.overdue:
            heading(f"Overdue ({len(data.overdue)})", NOW_LINE)
            for row in data.overdue:
                due = row.due_at.astimezone(self.zone).strftime("%d %b") if row.due_at else ""
                self._add(row, f"{due}  {row.subject}")
        heading(f"Today, {data.day.strftime('%A %d %B')}")
        if not data.today:
            empty = QTreeWidgetItem(self.tree, ["Nothing planned"])
            empty.setForeground(0, QBrush(QColor("#9E9E9E")))
        for row in data.today:
            span = row.span_utc()
            when = "all day" if span is None else short_time(span[0].astimezone(self.zone))
            self._add(row, f"{when}  {KIND_LABELS[row.kind]}: {row.subject}")
        self._filling = False
        self.title.setText(
            f"<b>My day</b> — {len([r for r in data.today if r.status == ActivityStatus.PLANNED])} open"
        )
        self.loaded.emit()

    def _add(self, row: ActivityRow, text: str) -> None:
        if row.related_label:
            text += f" — {row.related_label}"
        item = QTreeWidgetItem(self.tree, [text])
        item.setData(0, ID_ROLE, row.id)
        item.setToolTip(0, text)
        item.setFlags(
            Qt.ItemFlag.ItemIsEnabled
            | Qt.ItemFlag.ItemIsSelectable
            | Qt.ItemFlag.ItemIsUserCheckable
        )
        item.setCheckState(
            0,
            Qt.CheckState.Checked if row.status == ActivityStatus.DONE else Qt.CheckState.Unchecked,
        )
        item.setForeground(
            0,
            QBrush(
                QColor("#9E9E9E")
                if row.status != ActivityStatus.PLANNED
                else QColor(KIND_COLOURS[row.kind]).darker(140)
            ),
        )

    def item_for(self, ident: uuid.UUID) -> QTreeWidgetItem | None:
        """The row of an activity."""
        for index in range(self.tree.topLevelItemCount()):
            item = self.tree.topLevelItem(index)
            if item is not None and item.data(0, ID_ROLE) == ident:
                return item
        return None

    def on_tree_item_changed(self, item: QTreeWidgetItem, _column: int) -> None:
        """Ticking an entry completes it."""
        ident = item.data(0, ID_ROLE)
        if (
            self._filling
            or not isinstance(ident, uuid.UUID)
            or item.checkState(0) != Qt.CheckState.Checked
        ):
            return
        store = self.context.store

        def work() -> None:
            with store.sessions.begin() as session:
                svc.complete_activity(session=session, activity_id=ident)

        self.context.runner.submit(work, on_done=lambda _r: self.context.notify_changed("activity"))

    def on_tree_item_double_clicked(self, item: QTreeWidgetItem, _column: int) -> None:
        """Open the entry."""
        ident = item.data(0, ID_ROLE)
        if isinstance(ident, uuid.UUID):
            self.open_requested.emit(ident)


def swatch(colour: str) -> QIcon:
    """A small filled square of ``colour`` for lists and legends."""
    pixmap = QPixmap(12, 12)
    pixmap.fill(QColor(colour))
    return QIcon(pixmap)


class TeamPicker(QWidget):
    """Whose calendars to show: yourself, and for a manager each subordinate, in their colours.

    Signals:
        selection_changed(list): the picked user ids (own id first when picked).
    """

    selection_changed = Signal(list)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.title = QLabel("<b>Calendars</b>", self)
        self.list = QListWidget(self)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.title)
        layout.addWidget(self.list, 1)
        self.colours: dict[uuid.UUID, str] = {}
        self._filling = False
        self.list.itemChanged.connect(self.on_list_item_changed)

    def set_users(self, users: list[UserRow], picked: list[uuid.UUID]) -> None:
        """Offer ``users`` (the first is the viewer); tick those in ``picked``."""
        self._filling = True
        self.list.clear()
        self.colours = {u.id: OWNER_PALETTE[i % len(OWNER_PALETTE)] for i, u in enumerate(users)}
        for index, user in enumerate(users):
            label = f"{user.name} (me)" if index == 0 else user.name
            item = QListWidgetItem(swatch(self.colours[user.id]), label, self.list)
            item.setData(ID_ROLE, user.id)
            item.setFlags(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(
                Qt.CheckState.Checked if user.id in picked else Qt.CheckState.Unchecked
            )
        self._filling = False
        # A rep has only their own calendar: nothing to pick.
        self.setVisible(len(users) > 1)

    def picked(self) -> list[uuid.UUID]:
        """The ticked users' ids, in list order."""
        out = []
        for index in range(self.list.count()):
            item = self.list.item(index)
            if item is not None and item.checkState() == Qt.CheckState.Checked:
                out.append(item.data(ID_ROLE))
        return out

    def set_checked(self, user_id: uuid.UUID, checked: bool) -> None:
        """Tick or untick one user (as a click on the box would)."""
        for index in range(self.list.count()):
            item = self.list.item(index)
            if item is not None and item.data(ID_ROLE) == user_id:
                item.setCheckState(Qt.CheckState.Checked if checked else Qt.CheckState.Unchecked)

    def on_list_item_changed(self, _item: QListWidgetItem) -> None:
        """Report the new selection."""
        if not self._filling:
            self.selection_changed.emit(self.picked())
