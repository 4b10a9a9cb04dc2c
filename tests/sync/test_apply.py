"""Applying pulled pages, against a stub server: what a page leaves in the store and the search
index, the rebase of pending edits, and the page sizes asked for."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import text

from crm_desktop.models import Account, User
from crm_desktop.store import Store
from crm_desktop.store.search import search
from crm_desktop.sync.engine import FULL_SYNC_LIMIT, PULL_LIMIT, SyncEngine, SyncReport
from crm_desktop.sync.protocol import ConflictPage, EntityRows, PullResponse
from crm_desktop.sync.transport import Transport

FIELDS = ["id", "created_at", "updated_at", "name", "kind", "status", "owner_id", "phone", "email"]


class PagedServer(Transport):
    """Answers the pull after cursor N with ``pages[N]`` (cursor N + 1), and nothing after."""

    def __init__(self, pages: list[list[list[Any]]]) -> None:
        super().__init__("http://stub.invalid")
        self.pages = pages
        self.limits: list[tuple[int, int]] = []

    def snapshot(self, destination: Path, progress: Callable[[int], None] | None = None) -> None:
        """No first-sync snapshot, like a server without the endpoint: these tests are about
        the paged pull."""
        return None

    def pull(self, cursor: int, limit: int) -> PullResponse:
        self.limits.append((cursor, limit))
        rows = self.pages[cursor] if cursor < len(self.pages) else []
        return PullResponse(
            cursor=min(cursor + 1, len(self.pages)),
            has_more=cursor + 1 < len(self.pages),
            server_time_ms=1_795_618_198_685,
            upserts=[EntityRows(t="account", fields=FIELDS, rows=rows)] if rows else [],
        )

    def conflicts(self, after: int, limit: int = 500) -> ConflictPage:
        return ConflictPage(entries=[], next_after=after, has_more=False)


def account_row(record_id: uuid.UUID, name: str, phone: str | None, email: str | None) -> list[Any]:
    stamp = "2026-11-25T14:00:00.250000Z"
    return [str(record_id), stamp, stamp, name, "company", "active", None, phone, email]


def test_a_field_empty_on_the_whole_page_is_cleared_locally(store: Store) -> None:
    acme, globex = uuid.uuid4(), uuid.uuid4()
    server = PagedServer(
        [
            [
                account_row(acme, "Acme", "+1 555 0100", "info@acme.com"),
                account_row(globex, "Globex", "+1 555 0200", None),
            ],
            # The server cleared both phones: the column has no value on this page at all.
            [account_row(acme, "Acme", None, "info@acme.com"), account_row(globex, "Globex", None, None)],
        ]
    )  # fmt: skip
    engine = SyncEngine(store.path, server)
    try:
        engine.sync()
    finally:
        engine.close()
    with store.sessions() as session:
        assert {a.name: a.phone for a in session.query(Account)} == {"Acme": None, "Globex": None}
        assert search(session, "5550100") == []  # the entry changed with the record
        assert [hit.id for hit in search(session, "info@acme")] == [acme]
        assert [hit.id for hit in search(session, "globex")] == [globex]


def test_a_pending_edit_keeps_its_value_and_the_pulled_one_becomes_its_base(
    store: Store,
) -> None:
    acme = uuid.uuid4()
    server = PagedServer([[account_row(acme, "Acme", "+1 555 0100", None)]])
    engine = SyncEngine(store.path, server)
    try:
        engine.sync()
        with store.sessions.begin() as session:
            account = session.get(Account, acme)
            assert account is not None
            account.phone = "+1 555 0199"  # not pushed yet
        server.pages.append([account_row(acme, "Acme Corp", None, None)])
        # The pull phase alone: a sync would push the edit first.
        engine._pull_all(SyncReport(), lambda _p: None, None)
    finally:
        engine.close()
    with store.sessions() as session:
        account = session.get(Account, acme)
        assert account is not None
        assert (account.name, account.phone) == ("Acme Corp", "+1 555 0199")
        assert [hit.id for hit in search(session, "5550199")] == [acme]
        assert [hit.id for hit in search(session, "acme corp")] == [acme]
        base = session.execute(
            text("SELECT value FROM sync_base WHERE record_id = :r AND field = 'phone'"),
            {"r": acme.hex},
        ).scalar_one()
        assert json.loads(base) is None


def test_a_full_sync_asks_for_large_pages_and_later_pulls_for_ordinary_ones(store: Store) -> None:
    server = PagedServer([[account_row(uuid.uuid4(), f"A{i}", None, None)] for i in range(3)])
    engine = SyncEngine(store.path, server)
    try:
        engine.sync()
        server.pages.append([account_row(uuid.uuid4(), "Later", None, None)])
        engine.sync()
    finally:
        engine.close()
    assert server.limits == [
        (0, FULL_SYNC_LIMIT),
        (1, FULL_SYNC_LIMIT),
        (2, FULL_SYNC_LIMIT),
        (3, PULL_LIMIT),
    ]


def test_a_page_size_chosen_by_the_caller_holds_for_a_full_sync_too(store: Store) -> None:
    server = PagedServer([[account_row(uuid.uuid4(), "A", None, None)]])
    engine = SyncEngine(store.path, server, pull_limit=200)
    try:
        engine.sync()
    finally:
        engine.close()
    assert server.limits == [(0, 200)]


def test_pulled_records_get_the_same_search_entries_as_records_saved_here(store: Store) -> None:
    names = ["Zoë Lefèvre GmbH", "深圳腾飞科技有限公司", "ACME_Logistics (Intl.)"]
    pulled = {uuid.uuid4(): name for name in names}
    server = PagedServer(
        [[account_row(i, n, "+86 755 8888 1234", f"x.{k}@Ibérica.es") for k, (i, n) in
          enumerate(pulled.items())]]
    )  # fmt: skip
    engine = SyncEngine(store.path, server)
    try:
        engine.sync()
    finally:
        engine.close()
    with store.sessions.begin() as session:
        user = User(username="local")
        session.add(user)
        for k, name in enumerate(names):
            session.add(Account(name=name, phone="+86 755 8888 1234", email=f"x.{k}@Ibérica.es"))
    query = text(
        "SELECT d.ref, d.title, d.subtitle, f.words, f.cjk1, f.cjk2, f.compact FROM search_doc d"
        " JOIN search_fts f ON f.rowid = d.id WHERE d.entity = 'account' ORDER BY d.title"
    )
    with store.engine.connect() as connection:
        entries = connection.execute(query).all()
    refs = {str(i) for i in pulled}
    from_server = [tuple(row[1:]) for row in entries if row[0] in refs]
    made_here = [tuple(row[1:]) for row in entries if row[0] not in refs]
    assert len(from_server) == len(names)
    assert from_server == made_here
