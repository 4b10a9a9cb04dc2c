"""The buying centre of an opportunity, drawn so a newcomer sees at a glance who decides.

Members are grouped by role, deciders first (decision maker, approver, purchaser, then
influencers, users and gatekeepers), the most influential first within a role. Each shows a
coloured mark for how they lean (green up: supporter, grey: neutral, red down: opponent) and
their influence as one to three filled dots.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from functools import cache

from PySide6.QtCore import QPointF, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QFont, QIcon, QPainter, QPixmap, QPolygonF
from PySide6.QtWidgets import (
    QLabel,
    QStackedWidget,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from crm_desktop.models.enums import Attitude, BuyingRole, Influence
from crm_desktop.services.record_views import ROLE_ORDER, BuyingCentreMember

ROLE_TITLES = {
    BuyingRole.DECISION_MAKER: ("Decision makers", "make the final call"),
    BuyingRole.APPROVER: ("Approvers", "sign off budget or contract"),
    BuyingRole.PURCHASER: ("Purchasers", "negotiate terms and place the order"),
    BuyingRole.INFLUENCER: ("Influencers", "shape the requirements and the shortlist"),
    BuyingRole.USER: ("Users", "will work with what we sell"),
    BuyingRole.GATEKEEPER: ("Gatekeepers", "control access and information"),
}
ATTITUDE_STYLE = {
    Attitude.SUPPORTER: ("#188038", "Supporter"),
    Attitude.NEUTRAL: ("#80868b", "Neutral"),
    Attitude.OPPONENT: ("#c5221f", "Opponent"),
}
INFLUENCE_DOTS = {
    Influence.HIGH: "●●●  High",
    Influence.MEDIUM: "●●○  Medium",
    Influence.LOW: "●○○  Low",
}
ID_ROLE = Qt.ItemDataRole.UserRole


@cache
def attitude_icon(attitude: Attitude) -> QIcon:
    """A small coloured mark: an up triangle, a dot or a down triangle."""
    colour = QColor(ATTITUDE_STYLE[attitude][0])
    pixmap = QPixmap(14, 14)
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setPen(Qt.PenStyle.NoPen)
    painter.setBrush(colour)
    if attitude == Attitude.SUPPORTER:
        painter.drawPolygon(QPolygonF([QPointF(7, 1), QPointF(13, 12), QPointF(1, 12)]))
    elif attitude == Attitude.OPPONENT:
        painter.drawPolygon(QPolygonF([QPointF(1, 2), QPointF(13, 2), QPointF(7, 13)]))
    else:
        painter.drawEllipse(2, 2, 10, 10)
    painter.end()
    return QIcon(pixmap)


def summary_text(members: Sequence[BuyingCentreMember]) -> str:
    """One line: how the room leans, and where the deciders stand."""
    if not members:
        return ""
    counts = {a: sum(1 for m in members if m.attitude == a.value) for a in Attitude}
    lean = ", ".join(
        f"{n} {ATTITUDE_STYLE[a][1].lower()}{'s' if n != 1 else ''}" for a, n in counts.items() if n
    )
    deciders = [m for m in members if m.role == BuyingRole.DECISION_MAKER.value]
    if deciders:
        who = "; ".join(
            f"{m.name} ({ATTITUDE_STYLE[Attitude(m.attitude)][1].lower()})" for m in deciders
        )
        return f"{lean}. Decides: {who}."
    return f"{lean}. No decision maker identified yet."


class BuyingCentreView(QWidget):
    """Members of a buying centre grouped by role, with attitude and influence.

    Signals:
        member_activated(object): the user double-clicked (or pressed Enter on) a member: its id.
    """

    member_activated = Signal(object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.summary = QLabel(self)
        self.summary.setObjectName("buying_centre_summary")
        self.summary.setWordWrap(True)
        layout.addWidget(self.summary)
        self.stack = QStackedWidget(self)
        self.tree = QTreeWidget(self.stack)
        self.tree.setObjectName("buying_centre")
        self.tree.setHeaderLabels(["Who", "Title", "Attitude", "Influence"])
        self.tree.setRootIsDecorated(False)
        self.tree.setIndentation(12)
        self.tree.setUniformRowHeights(True)
        self.tree.itemActivated.connect(self.on_tree_item_activated)
        self.empty = QLabel(
            "Nobody in the buying centre yet.\nAdd who decides, who signs, who buys and who will"
            " use it, and how each of them leans.",
            self.stack,
        )
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty.setWordWrap(True)
        self.empty.setStyleSheet("color:#80868b; padding:16px;")
        self.stack.addWidget(self.empty)
        self.stack.addWidget(self.tree)
        layout.addWidget(self.stack, 1)
        self.members: tuple[BuyingCentreMember, ...] = ()

    def set_members(self, members: Sequence[BuyingCentreMember]) -> None:
        """Show ``members`` (already in display order) grouped under their role."""
        self.members = tuple(members)
        self.tree.clear()
        bold = QFont(self.tree.font())
        bold.setBold(True)
        for role in ROLE_ORDER:
            in_role = [m for m in members if m.role == role.value]
            if not in_role:
                continue
            title, hint = ROLE_TITLES[role]
            head = QTreeWidgetItem([f"{title} — {hint}"])
            head.setFont(0, bold)
            head.setFlags(Qt.ItemFlag.ItemIsEnabled)
            for member in in_role:
                attitude = Attitude(member.attitude)
                colour, label = ATTITUDE_STYLE[attitude]
                item = QTreeWidgetItem(
                    [member.name, member.title, label, INFLUENCE_DOTS[Influence(member.influence)]]
                )
                item.setIcon(0, attitude_icon(attitude))
                item.setForeground(2, QBrush(QColor(colour)))
                item.setData(0, ID_ROLE, str(member.id))
                item.setToolTip(0, member.notes or "Double-click to edit")
                if member.influence == Influence.HIGH.value:
                    item.setFont(0, bold)
                head.addChild(item)
            self.tree.addTopLevelItem(head)
            head.setFirstColumnSpanned(True)
            head.setExpanded(True)
        self.tree.setColumnWidth(0, 190)
        self.tree.setColumnWidth(1, 160)
        self.tree.setColumnWidth(2, 90)
        self.summary.setText(summary_text(members))
        self.summary.setVisible(bool(members))
        self.stack.setCurrentWidget(self.tree if members else self.empty)

    def selected_member(self) -> BuyingCentreMember | None:
        """The selected member, if a member (not a role heading) is selected."""
        item = self.tree.currentItem()
        data = item.data(0, ID_ROLE) if item is not None else None
        if not data:
            return None
        member_id = uuid.UUID(data)
        return next((m for m in self.members if m.id == member_id), None)

    def member_item(self, name: str) -> QTreeWidgetItem | None:
        """The row of the member called ``name`` (first match)."""
        for item in self.tree.findItems(
            name, Qt.MatchFlag.MatchExactly | Qt.MatchFlag.MatchRecursive, 0
        ):
            if item.data(0, ID_ROLE):
                return item
        return None

    def on_tree_item_activated(self, item: QTreeWidgetItem, _column: int) -> None:
        data = item.data(0, ID_ROLE)
        if data:
            self.member_activated.emit(uuid.UUID(data))
