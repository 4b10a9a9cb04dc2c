"""410 resync_required: synced records are dropped and pulled again from zero; pending local
work (the outbox) survives. The server does not purge tombstones yet, so a stub answers."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path

from crm_desktop.models import Account, User
from crm_desktop.store import Store
from crm_desktop.sync.engine import SyncEngine, SyncReport
from crm_desktop.sync.protocol import EntityRows, PullResponse
from crm_desktop.sync.transport import ResyncRequired, Transport


class StubServer(Transport):
    """Answers pulls from a fixed list of rows; the first pull after cursor 0 is refused."""

    def __init__(self, user_id: uuid.UUID, account_id: uuid.UUID) -> None:
        super().__init__("http://stub.invalid")
        self.user_id, self.account_id = user_id, account_id
        self.pulls: list[int] = []

    def snapshot(self, destination: Path, progress: Callable[[int], None] | None = None) -> None:
        """No first-sync snapshot, like a server without the endpoint: these tests are about
        the paged pull."""
        return None

    def pull(self, cursor: int, limit: int) -> PullResponse:
        self.pulls.append(cursor)
        if cursor > 0:
            raise ResyncRequired(410, "resync_required", "cursor too old", None)
        return PullResponse(
            cursor=7,
            has_more=False,
            server_time_ms=1_795_618_198_685,
            upserts=[
                EntityRows(
                    t="account",
                    fields=["id", "created_at", "updated_at", "name", "kind", "status", "owner_id"],
                    rows=[
                        [
                            str(self.account_id),
                            "2026-11-25T14:00:00Z",
                            "2026-11-25T14:00:00.250000Z",
                            "Server Acme",
                            "company",
                            "active",
                            str(self.user_id),
                        ]
                    ],
                )
            ],
        )


def test_resync_drops_synced_records_keeps_pending_ones_and_pulls_from_zero(store: Store) -> None:
    with store.sessions.begin() as session:
        user = User(username="ada")
        stale = Account(name="Stale", owner_id=None)
        session.add_all([user, stale])
    with store.sessions.begin() as session:
        mine = Account(name="Typed offline", owner_id=user.id)
        session.add(mine)
    engine = SyncEngine(store.path, StubServer(user.id, uuid.uuid4()))
    try:
        # Pretend everything but "Typed offline" came from the server long ago.
        with engine._write() as connection:
            connection.exec_driver_sql("DELETE FROM sync_outbox WHERE n < 2")
            connection.exec_driver_sql("UPDATE sync_state SET cursor = 3")
        transport = engine.transport
        assert isinstance(transport, StubServer)
        report = SyncReport()
        # What SyncEngine.sync does around its pull phase.
        try:
            engine._pull_all(report, lambda _p: None, None)
        except ResyncRequired:
            engine._reset_for_resync()
            engine._pull_all(report, lambda _p: None, None)
        assert transport.pulls == [3, 0]
        with store.sessions() as session:
            names = {a.name for a in session.query(Account)}
            assert names == {"Typed offline", "Server Acme"}
            assert session.get(User, user.id) is None  # synced data is gone until pulled again
        assert engine.state().cursor == 7
        assert engine.pending() == (1, 1)
    finally:
        engine.close()
