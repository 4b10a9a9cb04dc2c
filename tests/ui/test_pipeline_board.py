"""The pipeline board driven as a user would: filters, double-click, drag a card between columns."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from decimal import Decimal

import pytest
import records_fixtures as rf
from PySide6.QtCore import QEvent, QPoint, QPointF, Qt
from PySide6.QtGui import (
    QContextMenuEvent,
    QDragEnterEvent,
    QDragMoveEvent,
    QDropEvent,
    QMouseEvent,
)
from PySide6.QtWidgets import QApplication, QComboBox
from pytestqt.qtbot import QtBot
from records_fixtures import Crm
from sqlalchemy import insert

from crm_desktop.models import Account, Opportunity, new_id, utcnow
from crm_desktop.store import Store
from crm_desktop.ui.context import AppContext
from crm_desktop.ui.pipeline_board import PipelineBoard, StageColumn

crm = rf.crm


@pytest.fixture
def board(qtbot: QtBot, ui_context: AppContext, crm: Crm) -> Iterator[PipelineBoard]:
    """The board, shown and loaded."""
    with qtbot.waitSignal(ui_context.runner.busy_changed, check_params_cb=lambda busy: not busy):
        widget = PipelineBoard(ui_context)
        qtbot.addWidget(widget)
        widget.resize(1500, 700)
        widget.show()
    qtbot.waitUntil(lambda: widget.data is not None)
    yield widget
    rf.quiet(widget)
    qtbot.waitUntil(lambda: ui_context.runner.pending == 0, timeout=10_000)


def column(board: PipelineBoard, name: str) -> StageColumn:
    return next(c for c in board.columns.values() if c.stage.name == name)


def card_names(board: PipelineBoard, name: str) -> list[str]:
    return [c.name for c in column(board, name).model.cards]


def drag_card(
    qtbot: QtBot,
    monkeypatch: pytest.MonkeyPatch,
    board: PipelineBoard,
    card: str,
    source: str,
    target: str,
) -> None:
    """Drag ``card`` from one column onto another with the mouse.

    The press and the move go to the source list as real mouse events, so the view itself
    decides that a drag begins and calls ``startDrag``. There a real QDrag would hand over to
    the window system's drag loop, which the offscreen platform does not have; so from that
    point the payload is taken from the view's selection exactly as ``startDrag`` takes it, and
    the target list receives the enter, move and drop events that a real drag delivers.
    """
    src = column(board, source)
    dst = column(board, target).view.viewport()
    row = [c.name for c in src.model.cards].index(card)
    start = src.view.visualRect(src.model.index(row, 0)).center()
    started: list[Qt.DropAction] = []

    def start_drag(actions: Qt.DropAction) -> None:
        started.append(actions)
        mime = src.model.mimeData(src.view.selectedIndexes())
        point = QPointF(dst.width() / 2, 10)
        buttons, mods = Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier
        enter = QDragEnterEvent(point, actions, mime, buttons, mods)
        QApplication.sendEvent(dst, enter)
        assert enter.isAccepted()
        move = QDragMoveEvent(point, actions, mime, buttons, mods)
        QApplication.sendEvent(dst, move)
        assert move.isAccepted()
        QApplication.sendEvent(dst, QDropEvent(point, actions, mime, buttons, mods))

    monkeypatch.setattr(src.view, "startDrag", start_drag)
    qtbot.mousePress(src.view.viewport(), Qt.MouseButton.LeftButton, pos=start)
    # QTest's mouseMove carries no pressed button; a drag needs one, as a real hand gives it.
    for step in (5, 40):
        to = QPointF(start.x() + step, start.y() + step)
        QApplication.sendEvent(
            src.view.viewport(),
            QMouseEvent(
                QEvent.Type.MouseMove,
                to,
                src.view.viewport().mapToGlobal(to),
                Qt.MouseButton.NoButton,
                Qt.MouseButton.LeftButton,
                Qt.KeyboardModifier.NoModifier,
            ),
        )
    assert started and started[0] & Qt.DropAction.MoveAction
    qtbot.mouseRelease(src.view.viewport(), Qt.MouseButton.LeftButton, pos=start)


def test_columns_show_count_total_and_weighted_total(board: PipelineBoard) -> None:
    names = [c.stage.name for c in board.columns.values()]
    assert names[:5] == [
        "Prospecting",
        "Qualification",
        "Needs Analysis",
        "Proposal",
        "Negotiation",
    ]
    proposal = column(board, "Proposal")
    assert proposal.title.text() == "Proposal  ·  1 deal"
    assert proposal.figures.text() == "125,000.00 USD · w 75,000.00 USD"
    prospecting = column(board, "Prospecting")
    assert prospecting.figures.text() == "9,800.50 USD · w 980.05 USD"
    assert column(board, "Negotiation").title.text().endswith("0 deals")
    assert board.summary.text() == "Open: 2 deals · 134,800.50 USD (weighted 75,980.05 USD)"


def test_amounts_in_other_currencies_are_never_added_together(
    qtbot: QtBot, store: Store, crm: Crm, board: PipelineBoard
) -> None:
    with store.sessions.begin() as s:
        s.add(
            Opportunity(
                name="Acme Europe",
                account_id=crm.acme,
                stage_id=crm.stages["Proposal"],
                probability=60,
                amount=Decimal("1000"),
                currency="EUR",
                close_date=date.today(),
                owner_id=crm.me,
            )
        )
    with qtbot.waitSignal(board.board_loaded, timeout=5000):
        board.reload()
    proposal = column(board, "Proposal")
    assert proposal.title.text() == "Proposal  ·  2 deals"
    assert proposal.figures.text().splitlines() == [
        "125,000.00 USD · w 75,000.00 USD",
        "1,000.00 EUR · w 600.00 EUR",
    ]
    assert board.summary.text() == (
        "Open: 3 deals · 134,800.50 USD (weighted 75,980.05 USD); 1,000.00 EUR (weighted 600.00 EUR)"
    )


def test_dragging_a_card_moves_the_deal_and_probability_follows(
    qtbot: QtBot,
    monkeypatch: pytest.MonkeyPatch,
    store: Store,
    crm: Crm,
    board: PipelineBoard,
) -> None:
    with (
        qtbot.waitSignal(board.board_loaded, timeout=5000),
        qtbot.waitSignal(board.stage_changed, timeout=5000) as moved,
    ):
        drag_card(qtbot, monkeypatch, board, "Globex pumps", "Prospecting", "Negotiation")
    assert moved.args[0] == crm.pumps
    assert card_names(board, "Negotiation") == ["Globex pumps"]
    assert card_names(board, "Prospecting") == []
    assert column(board, "Negotiation").figures.text() == "9,800.50 USD · w 7,840.40 USD"
    assert "probability now 80%" in board.banner.text()
    with store.sessions() as s:
        opp = s.get(Opportunity, crm.pumps)
        assert opp is not None
        assert (opp.stage_id, opp.probability) == (crm.stages["Negotiation"], 80)


def test_dropping_on_closed_lost_asks_for_the_reason(
    qtbot: QtBot,
    monkeypatch: pytest.MonkeyPatch,
    store: Store,
    crm: Crm,
    board: PipelineBoard,
) -> None:
    drag_card(qtbot, monkeypatch, board, "Acme turbines", "Proposal", "Closed Lost")
    qtbot.waitUntil(lambda: board.lost_dialog.isVisible())
    dialog = board.lost_dialog
    with qtbot.waitSignal(dialog.failed, timeout=5000):
        qtbot.mouseClick(dialog.ok_button, Qt.MouseButton.LeftButton)
    assert "reason" in dialog.form.error_text("loss_reason")
    with store.sessions() as s:
        assert s.get(Opportunity, crm.turbines).stage_id == crm.stages["Proposal"]  # type: ignore[union-attr]

    qtbot.keyClicks(dialog.form.fields["loss_reason"], "Budget frozen")
    with qtbot.waitSignal(board.board_loaded, timeout=5000):
        qtbot.mouseClick(dialog.ok_button, Qt.MouseButton.LeftButton)
    # Closing stamps today's date, which every close period includes.
    assert "Acme turbines" in card_names(board, "Closed Lost")
    with store.sessions() as s:
        opp = s.get(Opportunity, crm.turbines)
        assert opp is not None
        assert (opp.stage_id, opp.probability, opp.loss_reason) == (
            crm.stages["Closed Lost"],
            0,
            "Budget frozen",
        )


def test_owner_and_period_filters(
    qtbot: QtBot, store: Store, crm: Crm, board: PipelineBoard, ui_context: AppContext
) -> None:
    with store.sessions.begin() as s:
        s.add(
            Opportunity(
                name="Far future",
                account_id=crm.acme,
                stage_id=crm.stages["Prospecting"],
                probability=10,
                amount=Decimal(1),
                close_date=date.today() + timedelta(days=800),
                owner_id=crm.me,
            )
        )
    owner = board.findChild(QComboBox, "owner_filter")
    period = board.findChild(QComboBox, "period_filter")
    assert owner is not None and period is not None

    def pick(combo: QComboBox, text: str) -> None:
        choose(qtbot, combo, text)
        # Each arrow key reloads; wait until every reload has been delivered.
        qtbot.waitUntil(lambda: ui_context.runner.pending == 0, timeout=5000)

    assert "Far future" not in card_names(board, "Prospecting")  # this quarter
    pick(period, "Any close date")
    assert card_names(board, "Prospecting") == ["Globex pumps", "Far future"]
    pick(owner, "My opportunities")
    assert card_names(board, "Prospecting") == ["Far future"]  # Globex pumps is Bob's
    pick(owner, "Bob Builder")
    assert card_names(board, "Prospecting") == ["Globex pumps"]
    pick(period, "Closing next quarter")
    assert card_names(board, "Prospecting") == []


def choose(qtbot: QtBot, combo: QComboBox, text: str) -> None:
    """Pick a combo item with the keyboard, as a user would."""
    index = combo.findText(text)
    assert index >= 0, f"{text!r} not offered"
    combo.setFocus()
    while combo.currentIndex() != index:
        key = Qt.Key.Key_Down if combo.currentIndex() < index else Qt.Key.Key_Up
        qtbot.keyClick(combo, key)


def test_double_click_opens_the_opportunity(
    qtbot: QtBot, crm: Crm, board: PipelineBoard, ui_context: AppContext
) -> None:
    view = column(board, "Proposal").view
    rect = view.visualRect(view.model().index(0, 0))
    qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    with qtbot.waitSignal(ui_context.record_requested) as requested:
        qtbot.mouseDClick(view.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert requested.args == ["opportunity", crm.turbines]


def test_thousands_of_open_deals_load_into_list_views(
    qtbot: QtBot, store: Store, crm: Crm, board: PipelineBoard
) -> None:
    today = date.today()
    now = utcnow()
    rows = [
        {
            "id": new_id(),
            "name": f"Deal {i:04d}",
            "account_id": crm.acme,
            "stage_id": crm.stages["Qualification"],
            "probability": 20,
            "probability_overridden": False,
            "amount": "100.00",
            "currency": "USD",
            "close_date": today,
            "owner_id": crm.me,
            "created_at": now,
            "updated_at": now,
            "deleted": False,
        }
        for i in range(3000)
    ]
    with store.sessions.begin() as s:
        s.execute(insert(Opportunity), rows)
        assert s.get(Account, crm.acme) is not None
    with qtbot.waitSignal(board.board_loaded, timeout=20_000):
        board.reload()
    qualification = column(board, "Qualification")
    assert qualification.model.rowCount() == 3000
    assert qualification.title.text() == "Qualification  ·  3000 deals"
    assert qualification.figures.text() == "300,000.00 USD · w 60,000.00 USD"
    # One list view per column, painting only visible cards: no widget per card.
    assert len(qualification.findChildren(type(qualification.figures))) < 5


@rf.offscreen_popups
def test_keyboard_menu_moves_a_card(
    qtbot: QtBot, store: Store, crm: Crm, board: PipelineBoard
) -> None:
    view = column(board, "Prospecting").view
    view.setFocus()
    view.setCurrentIndex(view.model().index(0, 0))
    # What the platform turns the Menu key into (QTest's key events skip that translation).
    QApplication.sendEvent(
        view,
        QContextMenuEvent(
            QContextMenuEvent.Reason.Keyboard,
            QPoint(4, 4),
            view.mapToGlobal(QPoint(4, 4)),
            Qt.KeyboardModifier.NoModifier,
        ),
    )
    qtbot.waitUntil(lambda: board.card_menu.isVisible())
    move = next(a for a in board.card_menu.actions() if a.text() == "Move to").menu()
    target = next(a for a in move.actions() if a.text() == "Needs Analysis")
    with qtbot.waitSignal(board.board_loaded, timeout=5000):
        target.trigger()
    board.card_menu.close()
    assert card_names(board, "Needs Analysis") == ["Globex pumps"]
    with store.sessions() as s:
        opp = s.get(Opportunity, crm.pumps)
        assert opp is not None and (opp.stage_id, opp.probability) == (
            crm.stages["Needs Analysis"],
            40,
        )


def test_a_hidden_board_reloads_when_shown_again(
    qtbot: QtBot, store: Store, crm: Crm, board: PipelineBoard, ui_context: AppContext
) -> None:
    board.hide()
    with store.sessions.begin() as s:
        s.add(
            Opportunity(
                name="Made elsewhere",
                account_id=crm.globex,
                stage_id=crm.stages["Negotiation"],
                probability=80,
                amount=Decimal(500),
                close_date=date.today(),
                owner_id=crm.me,
            )
        )
    ui_context.notify_changed("opportunity")
    # Nothing is scheduled while hidden (no reload timer running, no store work queued).
    assert not board._reload_timer.isActive() and ui_context.runner.pending == 0
    assert card_names(board, "Negotiation") == []
    with qtbot.waitSignal(board.board_loaded, timeout=5000):
        board.show()
    assert card_names(board, "Negotiation") == ["Made elsewhere"]
