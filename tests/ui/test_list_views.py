"""The record lists: lazy pages, SQL sort, quick filter, saved filters, opening records."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QSettings, Qt
from pytestqt.qtbot import QtBot

from crm_desktop.models import Contact
from crm_desktop.store import Store
from crm_desktop.ui import list_models
from crm_desktop.ui.context import AppContext
from crm_desktop.ui.list_models import ID_ROLE, ListQuery, QueryEnv, RecordTableModel, list_spec
from crm_desktop.ui.list_views import RecordListView
from crm_desktop.ui.saved_filters import PRESETS


def _names(view: RecordListView) -> list[str]:
    model = view.model
    return [model.index(r, 0).data() for r in range(model.rowCount())]


def _open_list(
    qtbot: QtBot, context: AppContext, settings: QSettings, entity: str
) -> RecordListView:
    view = RecordListView(context, entity, settings)
    qtbot.addWidget(view)
    view.resize(1000, 500)
    view.show()
    with qtbot.waitSignal(view.model.total_counted):
        view.start()
    return view


def test_every_list_model_passes_the_model_tester(
    qtbot: QtBot, qtmodeltester: Any, ui_context: AppContext, sample_records: dict[str, Any]
) -> None:
    for entity in ("account", "contact", "lead", "opportunity"):
        model = RecordTableModel(
            list_spec(entity),
            store=ui_context.store,
            runner=ui_context.runner,
            env=QueryEnv(user_id=sample_records["me"]),
            # Owned by the context, not by this loop's variable: the store worker may release
            # the last Python reference, and a Qt object must never be destroyed there.
            parent=ui_context,
        )
        with qtbot.waitSignal(model.total_counted):
            model.reload()
        assert model.rowCount() > 0
        qtmodeltester.check(model)


def test_contacts_list_shows_rows_sorted_and_sorts_by_clicked_header(
    qtbot: QtBot, ui_context: AppContext, ui_settings: QSettings, sample_records: dict[str, Any]
) -> None:
    view = _open_list(qtbot, ui_context, ui_settings, "contact")
    assert _names(view) == ["John Smith", "Maria Garcia", "Zoë Adams", "张伟"]
    assert view.model.index(0, 1).data() == "Acme Corp"
    assert view.count_label.text() == "4 contacts"
    header = view.table.horizontalHeader()
    with qtbot.waitSignal(view.model.rows_loaded):
        qtbot.mouseClick(
            header.viewport(),
            Qt.MouseButton.LeftButton,
            pos=header.rect().topLeft() + _section_center(header, 0),
        )
    assert _names(view) == ["张伟", "Zoë Adams", "Maria Garcia", "John Smith"]


def _section_center(header: Any, section: int) -> Any:
    from PySide6.QtCore import QPoint

    return QPoint(
        header.sectionViewportPosition(section) + header.sectionSize(section) // 2,
        header.height() // 2,
    )


def test_quick_filter_searches_as_the_user_types(
    qtbot: QtBot,
    ime_commit: Any,
    ui_context: AppContext,
    ui_settings: QSettings,
    sample_records: dict[str, Any],
) -> None:
    view = _open_list(qtbot, ui_context, ui_settings, "contact")
    qtbot.keyClicks(view.quick_filter, "zoe")
    qtbot.waitUntil(lambda: view.count_label.text() == "1 contact")
    assert _names(view) == ["Zoë Adams"]
    view.quick_filter.clear()
    qtbot.waitUntil(lambda: view.count_label.text() == "4 contacts")
    ime_commit(view.quick_filter, "张伟")
    qtbot.waitUntil(lambda: view.count_label.text() == "1 contact")
    assert _names(view) == ["张伟"]
    view.quick_filter.clear()
    qtbot.waitUntil(lambda: view.count_label.text() == "4 contacts")
    qtbot.keyClicks(view.quick_filter, "nobody")
    qtbot.waitUntil(lambda: view.count_label.text() == "No contacts match")
    assert view.model.rowCount() == 0


def test_preset_a_grade_leads_not_contacted_in_14_days(
    qtbot: QtBot, ui_context: AppContext, ui_settings: QSettings, sample_records: dict[str, Any]
) -> None:
    view = _open_list(qtbot, ui_context, ui_settings, "lead")
    assert len(_names(view)) == 3
    index = view.saved_filter_box.findText("A-grade leads not contacted in 14 days")
    with qtbot.waitSignal(view.model.total_counted):
        view.saved_filter_box.setCurrentIndex(index)
        view.saved_filter_box.activated.emit(index)
    assert _names(view) == ["Ann Hot"]


def test_preset_my_open_opportunities_closing_this_quarter(
    qtbot: QtBot, ui_context: AppContext, ui_settings: QSettings, sample_records: dict[str, Any]
) -> None:
    view = _open_list(qtbot, ui_context, ui_settings, "opportunity")
    preset = PRESETS["opportunity"][1]
    with qtbot.waitSignal(view.model.total_counted):
        view.apply_filter(preset)
    assert _names(view) == ["Acme turbines"]
    assert view.model.index(0, 3).data() == "125,000.00"


def test_user_saves_the_current_filter_and_finds_it_next_time(
    qtbot: QtBot, ui_context: AppContext, ui_settings: QSettings, sample_records: dict[str, Any]
) -> None:
    view = _open_list(qtbot, ui_context, ui_settings, "account")
    with qtbot.waitSignal(view.model.total_counted):
        qtbot.keyClicks(view.quick_filter, "acme")
    view.save_current_filter("Acme only")
    assert view.saved_filter_box.currentText() == "Acme only"
    assert view.delete_filter_button.isEnabled()

    again = _open_list(qtbot, ui_context, ui_settings, "account")
    index = again.saved_filter_box.findText("Acme only")
    assert index > 0
    with qtbot.waitSignal(again.model.total_counted):
        again.saved_filter_box.setCurrentIndex(index)
        again.saved_filter_box.activated.emit(index)
    assert _names(again) == ["Acme Corp"]
    qtbot.mouseClick(again.delete_filter_button, Qt.MouseButton.LeftButton)
    assert again.saved_filter_box.findText("Acme only") == -1


def test_enter_and_double_click_open_the_record(
    qtbot: QtBot, ui_context: AppContext, ui_settings: QSettings, sample_records: dict[str, Any]
) -> None:
    view = _open_list(qtbot, ui_context, ui_settings, "contact")
    view.table.setFocus()
    view.table.setCurrentIndex(view.model.index(1, 0))
    with qtbot.waitSignal(ui_context.record_requested) as opened:
        qtbot.keyClick(view.table, Qt.Key.Key_Return)
    assert opened.args == ["contact", sample_records["maria"]]
    rect = view.table.visualRect(view.model.index(0, 0))
    # QTest's double click is only the second click's events; the view wants the first press too.
    qtbot.mouseClick(view.table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    with qtbot.waitSignal(ui_context.record_requested) as opened:
        qtbot.mouseDClick(view.table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert opened.args == ["contact", sample_records["john"]]
    with qtbot.waitSignal(ui_context.record_requested) as opened:
        qtbot.mouseClick(view.new_button, Qt.MouseButton.LeftButton)
    assert opened.args == ["contact", None]


def test_large_list_loads_in_pages_as_the_user_scrolls(
    qtbot: QtBot, ui_context: AppContext, ui_settings: QSettings, store: Store, monkeypatch: Any
) -> None:
    monkeypatch.setattr(list_models, "FIRST_PAGE", 30)
    monkeypatch.setattr(list_models, "NEXT_PAGE", 50)
    with store.sessions.begin() as session:
        session.add_all(
            Contact(first_name=f"P{i:03}", last_name="X", full_name=f"Person {i:03}")
            for i in range(140)
        )
    view = _open_list(qtbot, ui_context, ui_settings, "contact")
    assert view.model.rowCount() in (30, 80)  # the view may already have asked for one more page
    assert view.model.total == 140
    for _ in range(6):
        view.table.scrollToBottom()
        qtbot.waitUntil(lambda: not view.model.is_loading)
    assert view.model.rowCount() == 140
    assert _names(view)[-1] == "Person 139"
    assert len({view.model.index(r, 0).data(ID_ROLE) for r in range(140)}) == 140
    assert view.count_label.text() == "140 contacts"


def test_column_layout_is_remembered(
    qtbot: QtBot, ui_context: AppContext, ui_settings: QSettings, sample_records: dict[str, Any]
) -> None:
    view = _open_list(qtbot, ui_context, ui_settings, "contact")
    view.table.horizontalHeader().resizeSection(2, 333)
    view.table.horizontalHeader().moveSection(2, 0)
    view.save_state()
    again = _open_list(qtbot, ui_context, ui_settings, "contact")
    header = again.table.horizontalHeader()
    assert header.sectionSize(2) == 333
    assert header.logicalIndex(0) == 2


def test_list_reloads_when_records_change(
    qtbot: QtBot,
    ui_context: AppContext,
    ui_settings: QSettings,
    store: Store,
    sample_records: dict[str, Any],
) -> None:
    view = _open_list(qtbot, ui_context, ui_settings, "contact")
    with store.sessions.begin() as session:
        session.add(Contact(first_name="Aaron", last_name="A", full_name="Aaron A"))
    with qtbot.waitSignal(view.model.total_counted, timeout=3000):
        ui_context.notify_changed("contact")
    assert _names(view)[0] == "Aaron A"
    assert view.model.query == ListQuery(sort_key="name")


def test_keyboard_from_filter_to_rows_and_escape_clears(
    qtbot: QtBot, ui_context: AppContext, ui_settings: QSettings, sample_records: dict[str, Any]
) -> None:
    view = _open_list(qtbot, ui_context, ui_settings, "contact")
    view.focus_filter()
    qtbot.keyClicks(view.quick_filter, "smith")
    qtbot.waitUntil(lambda: view.count_label.text() == "1 contact")
    qtbot.keyClick(view.quick_filter, Qt.Key.Key_Down)
    assert view.table.hasFocus()
    with qtbot.waitSignal(ui_context.record_requested) as opened:
        qtbot.keyClick(view.table, Qt.Key.Key_Return)
    assert opened.args == ["contact", sample_records["john"]]
    view.focus_filter()
    qtbot.keyClick(view.quick_filter, Qt.Key.Key_Escape)
    assert view.quick_filter.text() == ""
    qtbot.waitUntil(lambda: view.count_label.text() == "4 contacts")
