"""A record page saves against what it showed: the sync cursor of its last load is the merge base
of its save, so a colleague's edit that a sync brought while the page stood open is a decided,
logged conflict at head office rather than silently overwritten."""

from __future__ import annotations

import json
from typing import Any

import records_fixtures as rf
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLineEdit, QWidget
from pytestqt.qtbot import QtBot
from records_fixtures import Crm, PageFactory, field
from sqlalchemy import select

from crm_desktop.models import Account
from crm_desktop.store import Store
from crm_desktop.sync import state
from crm_desktop.sync.outbox import SKIP_CAPTURE
from crm_desktop.sync.tables import sync_outbox
from crm_desktop.ui.context import AppContext
from crm_desktop.ui.records import RecordPage

crm = rf.crm
page_factory = rf.page_factory


def line(page: QWidget, name: str) -> QLineEdit:
    widget = field(page, name)
    assert isinstance(widget, QLineEdit)
    return widget


def synced_at(store: Store, cursor: int) -> None:
    """The store as after a sync that left the pull cursor at ``cursor``, nothing to push."""
    with store.engine.begin() as connection:
        state.set_values(connection, cursor=cursor)
        connection.execute(sync_outbox.delete())


def colleague_edit_arrives(
    qtbot: QtBot, store: Store, context: AppContext, page: RecordPage, cursor: int, **fields: Any
) -> None:
    """A sync pulls a colleague's edit of Acme (with its cursor, in one transaction, not
    captured) and tells the screens, as the sync worker does; the page reloads."""
    with store.sessions.begin() as session:
        session.info[SKIP_CAPTURE] = True
        account = session.get(Account, page.record_id)
        assert account is not None
        for name, value in fields.items():
            setattr(account, name, value)
        state.set_values(session.connection(), cursor=cursor)
    with qtbot.waitSignal(page.loaded, timeout=5000):
        context.notify_changed("account")


def last_push(store: Store) -> tuple[int, dict[str, Any]]:
    """(base cursor, changed fields) of the newest outbox mutation."""
    with store.engine.connect() as connection:
        row = connection.execute(select(sync_outbox).order_by(sync_outbox.c.n.desc())).first()
    assert row is not None
    [change] = json.loads(row.changes)
    return row.base, change["f"]


def save(qtbot: QtBot, page: RecordPage) -> None:
    with qtbot.waitSignal(page.loaded, timeout=5000):
        qtbot.mouseClick(page.save_button, Qt.MouseButton.LeftButton)


def test_a_phone_typed_before_a_sync_brought_a_colleagues_phone_is_saved_as_concurrent(
    qtbot: QtBot, store: Store, crm: Crm, page_factory: PageFactory, ui_context: AppContext
) -> None:
    synced_at(store, 10)
    page = page_factory("account", crm.acme)
    assert page.load_cursor == 10
    line(page, "phone").clear()
    qtbot.keyClicks(line(page, "phone"), "(415) 555-0188")

    # While the user types, the automatic sync brings a colleague's phone and website.
    colleague_edit_arrives(
        qtbot,
        store,
        ui_context,
        page,
        20,
        phone="+1 415-555-0199",
        website="acme-colleague.example",
    )
    # The user's typing stays; the field they did not touch shows the colleague's value.
    assert line(page, "phone").text() == "(415) 555-0188"
    assert line(page, "website").text() == "acme-colleague.example"

    save(qtbot, page)
    base, fields = last_push(store)
    # Based on what the user saw (cursor 10), so head office sees the colleague's phone as a
    # concurrent edit; the website is not written back over the colleague's.
    assert base == 10
    assert fields == {"phone": "+1 415-555-0188"}
    with store.sessions() as session:
        acme = session.get(Account, crm.acme)
        assert acme is not None and acme.website == "acme-colleague.example"
    assert page.load_cursor == 20  # reloaded after the save: the form now shows cursor 20


def test_a_page_reloaded_by_the_sync_before_the_user_typed_saves_against_the_new_values(
    qtbot: QtBot, store: Store, crm: Crm, page_factory: PageFactory, ui_context: AppContext
) -> None:
    synced_at(store, 10)
    page = page_factory("account", crm.acme)
    colleague_edit_arrives(qtbot, store, ui_context, page, 20, phone="+1 415-555-0199")
    assert line(page, "phone").text() == "+1 415-555-0199"  # the user sees the colleague's phone

    line(page, "phone").clear()
    qtbot.keyClicks(line(page, "phone"), "(415) 555-0188")
    save(qtbot, page)
    base, fields = last_push(store)
    # The user overwrote a value they saw: an ordinary edit, no conflict to decide.
    assert base == 20
    assert fields == {"phone": "+1 415-555-0188"}
