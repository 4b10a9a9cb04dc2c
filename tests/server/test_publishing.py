"""Publishing is never left waiting for an unrelated push (PostgreSQL, real server process).

A publishing pass skips bookkeeping rows that an in-flight push holds locked (``FOR UPDATE SKIP
LOCKED``), trusting that push to publish them after its commit. A push also locks rows it does
not rewrite: the parent whose scope a new child takes, a record whose change is then refused.
When such a push ended without publishing (all of it rejected), a change another device had
committed to the locked row stayed unnumbered, invisible to every pull, until some later push
happened to publish. SQLite has no row locks (writers queue on BEGIN IMMEDIATE), so only
PostgreSQL can show it.

The interleaving is forced with real locks held by the test, never with sleeps: the test holds
the sequence counter row (so mia's publishing pass waits until ann's push holds the account)
and one activity row (so ann's push waits while holding the account).
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from sqlalchemy import Connection, Engine, text

from crm_desktop.models import new_id

from .conftest import POSTGRES_URL, ServerProcess, SyncClient

pytestmark = pytest.mark.skipif(not POSTGRES_URL, reason="needs CRM_TEST_POSTGRES_URL")

BLOCKED_BY = text("SELECT count(*) FROM pg_stat_activity WHERE :pid = ANY(pg_blocking_pids(pid))")


def _wait_until_someone_waits_for(monitor: Connection, holder: Connection) -> None:
    """Return once a server backend is queued behind a lock ``holder`` has (no fixed wait:
    the monitor asks PostgreSQL's lock table until it says so)."""
    pid = holder.execute(text("SELECT pg_backend_pid()")).scalar_one()
    deadline = time.monotonic() + 30
    while monitor.execute(BLOCKED_BY, {"pid": pid}).scalar_one() == 0:
        assert time.monotonic() < deadline, "the push never reached the lock held by the test"


def _in_thread(work: Callable[[], Any]) -> tuple[threading.Thread, dict[str, Any]]:
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["value"] = work()
        except BaseException as exc:
            outcome["error"] = exc

    thread = threading.Thread(target=run)
    thread.start()
    return thread, outcome


def _joined(thread: threading.Thread, outcome: dict[str, Any]) -> Any:
    thread.join(timeout=60)
    assert not thread.is_alive(), "the push did not finish"
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


@pytest.mark.parametrize(
    "db_url", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)
def test_an_edit_is_published_although_a_rejected_push_held_its_record(
    server: ServerProcess, engine: Engine, people: dict[str, uuid.UUID]
) -> None:
    with (
        httpx.Client(base_url=server.url, timeout=60) as ann_http,
        httpx.Client(base_url=server.url, timeout=60) as mia_http,
        httpx.Client(base_url=server.url, timeout=60) as other_http,
    ):
        ann, mia = SyncClient(ann_http, "ann"), SyncClient(mia_http, "mia")
        carl = SyncClient(other_http, "carl")
        account, contact, task = new_id().hex, new_id().hex, new_id().hex
        owner = str(ann.user_id)
        created = ann.push(
            ann.mutation(
                {
                    "t": "account",
                    "id": account,
                    "f": {"name": "Acme", "phone": "111", "owner_id": owner},
                },
                {"t": "contact", "id": contact, "f": {"full_name": "Zoe", "owner_id": owner}},
            )
        )
        assert [r["status"] for r in created] == ["applied"]
        carl.push(
            carl.mutation(
                {
                    "t": "activity",
                    "id": task,
                    "f": {"kind": "task", "subject": "carl's", "owner_id": str(carl.user_id)},
                }
            )
        )
        mia.pull()
        ann_laptop = SyncClient(other_http, "ann")
        ann_laptop.pull()
        key = ("account", str(uuid.UUID(account)))
        assert ann_laptop.records[key]["phone"] == "111"

        with (
            engine.connect().execution_options(isolation_level="AUTOCOMMIT") as monitor,
            engine.connect() as counter_holder,
            engine.connect() as task_holder,
        ):
            # 1. mia's edit of the account commits; her publishing pass queues on the counter
            counter_holder.begin()
            counter_holder.execute(
                text("SELECT value FROM srv_sync_counter WHERE name = 'seq' FOR UPDATE")
            )
            mia_push = _in_thread(
                lambda: mia.push(
                    mia.mutation({"t": "account", "id": account, "f": {"phone": "222"}})
                )
            )
            _wait_until_someone_waits_for(monitor, counter_holder)
            # 2. ann links a contact to the account (her push locks the account's
            #    bookkeeping for its scope) and, in the same mutation, renames carl's task:
            #    the push waits on the task row while it holds the account
            task_holder.begin()
            task_holder.execute(
                text("SELECT id FROM activity WHERE id = :id FOR UPDATE"), {"id": uuid.UUID(task)}
            )
            ann_push = _in_thread(
                lambda: ann.push(
                    ann.mutation(
                        {
                            "t": "account_contact",
                            "id": new_id().hex,
                            "f": {"account_id": account, "contact_id": contact},
                        },
                        {"t": "activity", "id": task, "f": {"subject": "mine now"}},
                    )
                )
            )
            _wait_until_someone_waits_for(monitor, task_holder)
            # 3. mia's pass runs while ann's push holds the account: it skips it
            counter_holder.rollback()
            assert [r["status"] for r in _joined(*mia_push)] == ["applied"]
            ann_laptop.pull()
            assert ann_laptop.records[key]["phone"] == "111"  # not visible yet: ann's push holds it
            # 4. ann's push goes on and is refused as a whole (the task is not hers)
            task_holder.rollback()
        refused = _joined(*ann_push)
        assert [(r["status"], r["code"]) for r in refused] == [("rejected", "out_of_scope")]

        # mia's edit reaches ann's laptop now, not whenever someone else next pushes
        ann_laptop.pull()
        assert ann_laptop.records[key]["phone"] == "222"
