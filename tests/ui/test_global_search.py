"""Global search (Ctrl+K): results as you type, grouped by type, keyboard navigation, opening."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QWidget
from pytestqt.qtbot import QtBot

from crm_desktop.store.search import SearchHit
from crm_desktop.ui.context import AppContext
from crm_desktop.ui.global_search import (
    ENTITY_ROLE,
    ID_ROLE,
    GlobalSearchPopup,
    SearchResultsModel,
)


def _popup(qtbot: QtBot, context: AppContext) -> GlobalSearchPopup:
    host = QWidget()
    qtbot.addWidget(host)
    host.resize(900, 600)
    host.show()
    popup = GlobalSearchPopup(context, host)
    popup.popup()
    return popup


def _lines(popup: GlobalSearchPopup) -> list[str]:
    return [popup.model.index(r).data() for r in range(popup.model.rowCount())]


def test_results_appear_as_the_user_types_grouped_by_type(
    qtbot: QtBot, ui_context: AppContext, sample_records: dict[str, Any]
) -> None:
    popup = _popup(qtbot, ui_context)
    assert popup.isVisible()
    qtbot.keyClicks(popup.edit, "acm")
    qtbot.waitUntil(lambda: "ACCOUNTS" in _lines(popup))
    qtbot.waitUntil(lambda: popup.edit.text() == "acm" and "OPPORTUNITIES" in _lines(popup))
    lines = _lines(popup)
    assert lines[0] == "ACCOUNTS"
    assert lines[1].startswith("Acme Corp")
    assert "OPPORTUNITIES" in lines
    assert {"Acme turbines", "Acme service"} <= {line.split("   —   ")[0] for line in lines}
    # The first result is selected, ready for Enter.
    assert popup.results.currentIndex().row() == 1


def test_keyboard_moves_over_results_skipping_headers_and_enter_opens(
    qtbot: QtBot, ui_context: AppContext, sample_records: dict[str, Any]
) -> None:
    popup = _popup(qtbot, ui_context)
    qtbot.keyClicks(popup.edit, "acme")
    # Acme Corp; John Smith (john.smith@acme...); the two Acme opportunities.
    qtbot.waitUntil(lambda: popup.edit.text() == "acme" and popup.model.result_count() == 4)
    assert popup.results.currentIndex().data(ENTITY_ROLE) == "account"
    qtbot.keyClick(popup.edit, Qt.Key.Key_Down)  # over the CONTACTS header
    assert popup.results.currentIndex().data(ID_ROLE) == sample_records["john"]
    qtbot.keyClick(popup.edit, Qt.Key.Key_Down)
    assert popup.results.currentIndex().data(ENTITY_ROLE) == "opportunity"
    for _ in range(3):  # past the last: stays on it
        qtbot.keyClick(popup.edit, Qt.Key.Key_Down)
    assert popup.results.currentIndex().row() == popup.model.rowCount() - 1
    for _ in range(5):  # past the first: stays on it, never on a header
        qtbot.keyClick(popup.edit, Qt.Key.Key_Up)
    assert popup.results.currentIndex().data(ENTITY_ROLE) == "account"
    with qtbot.waitSignal(ui_context.record_requested) as opened:
        qtbot.keyClick(popup.edit, Qt.Key.Key_Return)
    assert opened.args == ["account", sample_records["acme"]]
    assert not popup.isVisible()


def test_cjk_phone_and_nothing_found(
    qtbot: QtBot, ime_commit: Any, ui_context: AppContext, sample_records: dict[str, Any]
) -> None:
    popup = _popup(qtbot, ui_context)
    with qtbot.waitSignal(popup.results_shown):
        ime_commit(popup.edit, "张伟")
    assert popup.results.currentIndex().data(ID_ROLE) == sample_records["zhang"]
    popup.edit.clear()
    with qtbot.waitSignal(popup.results_shown):
        qtbot.keyClicks(popup.edit, "5551234")
    assert popup.results.currentIndex().data(ID_ROLE) == sample_records["john"]
    popup.edit.clear()
    qtbot.keyClicks(popup.edit, "xyzzy")
    qtbot.waitUntil(lambda: popup.hint.text() == "Nothing found for “xyzzy”")
    assert popup.model.rowCount() == 0


def test_results_of_superseded_text_are_never_shown(
    qtbot: QtBot, ui_context: AppContext, sample_records: dict[str, Any]
) -> None:
    popup = _popup(qtbot, ui_context)
    shown: list[str] = []
    popup.results_shown.connect(lambda text, _count: shown.append(text))
    qtbot.keyClicks(popup.edit, "globex")
    qtbot.waitUntil(lambda: bool(shown) and shown[-1] == "globex")
    # Every text shown was the box's text at that moment; the last is what was typed.
    assert all("globex".startswith(text) for text in shown)
    assert len(shown) < len("globex") + 1
    assert _lines(popup)[1].startswith("Globex")


def test_escape_closes_and_click_opens(
    qtbot: QtBot, ui_context: AppContext, sample_records: dict[str, Any]
) -> None:
    popup = _popup(qtbot, ui_context)
    qtbot.keyClick(popup.edit, Qt.Key.Key_Escape)
    assert not popup.isVisible()
    popup.popup()
    with qtbot.waitSignal(popup.results_shown):
        qtbot.keyClicks(popup.edit, "maria")
    rect = popup.results.visualRect(popup.model.index(1))
    with qtbot.waitSignal(ui_context.record_requested) as opened:
        qtbot.mouseClick(popup.results.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert opened.args == ["contact", sample_records["maria"]]


def test_results_model_passes_the_model_tester(
    qtmodeltester: Any, sample_records: dict[str, Any]
) -> None:
    model = SearchResultsModel()
    model.set_hits(
        [
            SearchHit("contact", sample_records["john"], "John Smith", "john@acme"),
            SearchHit("account", sample_records["acme"], "Acme Corp", ""),
        ]
    )
    assert model.rowCount() == 4
    assert model.index(0).data() == "ACCOUNTS"
    assert not model.flags(model.index(0)) & Qt.ItemFlag.ItemIsSelectable
    qtmodeltester.check(model)
