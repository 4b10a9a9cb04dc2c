"""A read-only table model over a list of frozen dataclasses (catalog and quote lists).

The rows are plain data handed over from the store worker; the model never queries anything,
so it is safe on the UI thread. Columns are declared as (title, getter, alignment).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import shiboken6
from PySide6.QtCore import QAbstractTableModel, QModelIndex, QObject, QPersistentModelIndex, Qt
from PySide6.QtWidgets import QAbstractItemView, QTableView

R = TypeVar("R")
_Index = QModelIndex | QPersistentModelIndex

#: Item role returning the whole row object (``row_at`` does the same by row number).
ROW_ROLE = Qt.ItemDataRole.UserRole + 1

LEFT = Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter
RIGHT = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter


@dataclass(frozen=True)
class Column(Generic[R]):
    """One column: its header, how a row shows in it, and its alignment."""

    title: str
    text: Callable[[R], str]
    align: Qt.AlignmentFlag = LEFT
    foreground: Callable[[R], Any] | None = None


class RowsModel(QAbstractTableModel, Generic[R]):
    """Rows of plain data shown through :class:`Column` definitions."""

    def __init__(self, columns: Sequence[Column[R]], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._columns = list(columns)
        self._rows: list[R] = []

    def set_rows(self, rows: Sequence[R]) -> None:
        """Replace every row (a reload; selection is the view's to restore)."""
        self.beginResetModel()
        self._rows = list(rows)
        self.endResetModel()

    def rows(self) -> list[R]:
        """A copy of the rows, in display order."""
        return list(self._rows)

    def row_at(self, row: int) -> R:
        """The row object at ``row``."""
        return self._rows[row]

    def rowCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008 - Qt API
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008 - Qt API
        return 0 if parent.isValid() else len(self._columns)

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._rows):
            return None
        row = self._rows[index.row()]
        column = self._columns[index.column()]
        if role == Qt.ItemDataRole.DisplayRole:
            return column.text(row)
        if role == Qt.ItemDataRole.TextAlignmentRole:
            return int(column.align)
        if role == Qt.ItemDataRole.ForegroundRole and column.foreground is not None:
            return column.foreground(row)
        if role == ROW_ROLE:
            return row
        return None

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return self._columns[section].title
        return None


def rows_table(
    model: RowsModel[Any],
    *,
    single_selection: bool = False,
    alternating: bool = False,
    stretch_last: bool = True,
) -> QTableView:
    """A read-only table over ``model``: whole rows selected, no row numbers.

    ``single_selection`` allows one row at a time, ``alternating`` stripes the rows and
    ``stretch_last`` gives the last column the width to spare.
    """
    table = QTableView()
    table.setModel(model)
    table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    if single_selection:
        table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    table.verticalHeader().hide()
    if stretch_last:
        table.horizontalHeader().setStretchLastSection(True)
    table.setAlternatingRowColors(alternating)
    return table


def while_alive(owner: QObject, fn: Callable[..., Any]) -> Callable[..., Any]:
    """``fn`` that does nothing once ``owner`` is destroyed.

    The task runner skips late results only for bound methods of dead QObjects; a lambda or a
    closure that touches a closed widget would raise. Wrap those in this.
    """

    def call(*args: Any) -> Any:
        if shiboken6.isValid(owner):
            return fn(*args)
        return None

    return call
