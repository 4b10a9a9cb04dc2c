"""A related-records list on a record page (an account's contacts, a contact's accounts...).

Shows a short hint instead of an empty table, and turns a double-click or Enter on a row into a
request to open that row's record.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QBrush, QColor, QFont
from PySide6.QtWidgets import QLabel, QStackedWidget, QTreeWidget, QTreeWidgetItem, QWidget

ID_ROLE = Qt.ItemDataRole.UserRole
ENTITY_ROLE = Qt.ItemDataRole.UserRole + 1


class RelatedList(QStackedWidget):
    """A read-only table of related records, optionally in titled groups.

    Signals:
        record_activated(str, object): the user opened a row: its entity and UUID.
    """

    record_activated = Signal(str, object)

    def __init__(
        self,
        headers: Sequence[str],
        *,
        entity: str,
        empty_text: str,
        widths: Sequence[int] = (),
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.entity = entity
        self.tree = QTreeWidget(self)
        self.tree.setHeaderLabels(list(headers))
        self.tree.setAlternatingRowColors(True)
        self.tree.setUniformRowHeights(True)
        self.tree.setRootIsDecorated(False)
        self.tree.itemActivated.connect(self.on_tree_item_activated)
        self._widths = tuple(widths)
        self.empty = QLabel(empty_text, self)
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty.setWordWrap(True)
        self.empty.setStyleSheet("color:#80868b; padding:16px;")
        self.addWidget(self.empty)
        self.addWidget(self.tree)

    def set_rows(
        self,
        rows: Sequence[tuple[uuid.UUID, Sequence[str]]],
        *,
        groups: Sequence[tuple[str, Sequence[tuple[uuid.UUID, Sequence[str]]]]] = (),
        muted: Sequence[uuid.UUID] = (),
    ) -> None:
        """Show flat ``rows`` of (id, cells), or titled ``groups`` of them."""
        self.tree.clear()
        muted_ids = set(muted)
        total = 0

        def make(record_id: uuid.UUID, cells: Sequence[str]) -> QTreeWidgetItem:
            item = QTreeWidgetItem([str(c) for c in cells])
            item.setData(0, ID_ROLE, str(record_id))
            item.setToolTip(0, "Double-click to open")
            if record_id in muted_ids:
                for column in range(len(cells)):
                    item.setForeground(column, QBrush(QColor("#80868b")))
            return item

        if groups:
            self.tree.setRootIsDecorated(True)
            for title, members in groups:
                head = QTreeWidgetItem([f"{title} ({len(members)})"])
                font = QFont(head.font(0))
                font.setBold(True)
                head.setFont(0, font)
                head.setFirstColumnSpanned(False)
                head.addChildren([make(i, c) for i, c in members])
                self.tree.addTopLevelItem(head)
                head.setExpanded(True)
                total += len(members)
        else:
            self.tree.setRootIsDecorated(False)
            self.tree.addTopLevelItems([make(i, c) for i, c in rows])
            total = len(rows)
        for column, width in enumerate(self._widths):
            self.tree.setColumnWidth(column, width)
        self.setCurrentWidget(self.tree if total else self.empty)

    def row_count(self) -> int:
        """How many records (not group headings) are shown."""
        count = 0
        for i in range(self.tree.topLevelItemCount()):
            item = self.tree.topLevelItem(i)
            if item is not None:
                count += item.childCount() if item.data(0, ID_ROLE) is None else 1
        return count

    def find_item(self, text: str) -> QTreeWidgetItem | None:
        """The first record row whose first cell is ``text``."""
        for item in self.tree.findItems(
            text, Qt.MatchFlag.MatchExactly | Qt.MatchFlag.MatchRecursive, 0
        ):
            if item.data(0, ID_ROLE) is not None:
                return item
        return None

    def selected_id(self) -> uuid.UUID | None:
        """The id of the selected record row, if any."""
        item = self.tree.currentItem()
        data = item.data(0, ID_ROLE) if item is not None else None
        return uuid.UUID(data) if data else None

    def on_tree_item_activated(self, item: QTreeWidgetItem, _column: int) -> None:
        data = item.data(0, ID_ROLE)
        if data:
            self.record_activated.emit(self.entity, uuid.UUID(data))
