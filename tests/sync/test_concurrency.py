"""Editing while a sync round writes: the engine's short write transactions and the app's saves."""

from __future__ import annotations

import threading

from sqlalchemy import select

from crm_desktop.models import Account, User
from crm_desktop.store import Store
from crm_desktop.sync import state
from crm_desktop.sync.engine import SyncEngine
from crm_desktop.sync.transport import Transport

ROUNDS = 60


def test_saves_that_overlap_sync_pages_wait_instead_of_failing(store: Store) -> None:
    """A form save reads the record, then writes it, while the sync worker commits pages.

    With deferred transactions a save whose read came before a page's commit fails at once with
    "database is locked" (SQLITE_BUSY_SNAPSHOT); write units of work must wait their turn instead.
    """
    with store.sessions.begin() as session:
        user = User(username="ada")
        session.add(user)
        session.flush()
        account = Account(name="Acme", owner_id=user.id)
        session.add(account)
    engine = SyncEngine(store.path, Transport("http://127.0.0.1:9"))
    start = threading.Barrier(2)
    errors: list[BaseException] = []

    def save_forms() -> None:  # the UI's store worker saving a form again and again
        try:
            start.wait(10)
            for n in range(ROUNDS):
                with store.sessions.begin() as session:
                    loaded = session.get(Account, account.id)
                    assert loaded is not None
                    loaded.phone = f"+1 555 01{n:02d}"
        except BaseException as exc:
            errors.append(exc)

    def apply_pages() -> None:  # the sync worker applying pulled pages with their cursor
        try:
            start.wait(10)
            for n in range(ROUNDS):
                with engine._write() as connection:
                    state.load(connection)
                    state.set_values(connection, cursor=n + 1)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=save_forms), threading.Thread(target=apply_pages)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
    finally:
        engine.close()
    assert errors == [], errors
    with store.sessions() as session:
        assert session.scalars(select(Account.phone)).one() == f"+1 555 01{ROUNDS - 1:02d}"
        assert engine.state().cursor == ROUNDS
