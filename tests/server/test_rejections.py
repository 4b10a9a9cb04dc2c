"""Rejected mutations are remembered: a batch resent after a lost answer learns ``rejected`` again.

The client undoes a rejected mutation locally; had the resend answered ``duplicate``, it would
drop the mutation and keep a change the server never took.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from alembic import command
from sqlalchemy import Engine, inspect, update

from crm_desktop.models import new_id, utcnow
from crm_server.db import make_engine, mutation_rejection
from crm_server.migrate import alembic_config, upgrade
from crm_server.sync import REJECTION_RETENTION

from .conftest import SyncClient, TestClient


def _account(client: SyncClient, name: str, **fields: Any) -> dict[str, Any]:
    return {
        "t": "account",
        "id": new_id().hex,
        "f": {"name": name, "owner_id": str(client.user_id), **fields},
    }


def test_a_rejected_edit_is_reported_rejected_again_after_a_lost_answer(
    client: TestClient, people: dict[str, uuid.UUID]
) -> None:
    ann, bob = SyncClient(client, "ann"), SyncClient(client, "bob")
    theirs = _account(bob, "Bob Co")
    bob.push(bob.mutation(theirs))
    mine = _account(ann, "Ann Co")
    batch = [
        ann.mutation(mine),
        # ann's device let her rename a colleague's account: the server refuses it
        ann.mutation({"t": "account", "id": theirs["id"], "f": {"name": "Mine now"}}),
        ann.mutation({"t": "account", "id": mine["id"], "f": {"phone": "555"}}),
    ]
    first = ann.push(*batch)
    assert [r["status"] for r in first] == ["applied", "rejected", "applied"]
    # the answer never reached ann's device: it resends the same batch, twice
    for _ in range(2):
        again = ann.push(*batch)
        assert [r["status"] for r in again] == ["duplicate", "rejected", "duplicate"]
        assert (again[1]["code"], again[1]["reason"]) == ("out_of_scope", first[1]["reason"])
    # and nothing of it was ever written
    bob.pull()
    assert bob.records[("account", str(uuid.UUID(theirs["id"])))]["name"] == "Bob Co"
    # the queue moved on: the next mutation is applied as usual
    later = ann.push(ann.mutation({"t": "account", "id": mine["id"], "f": {"phone": "556"}}))
    assert [r["status"] for r in later] == ["applied"]


def test_rejections_are_forgotten_after_the_retention_period(
    client: TestClient, engine: Engine, people: dict[str, uuid.UUID]
) -> None:
    ann = SyncClient(client, "ann")
    old = ann.mutation(_account(ann, "Old", credit_limit="not money"))
    assert ann.push(old)[0]["status"] == "rejected"
    # that rejection was stored longer ago than the retention period
    with engine.begin() as connection:
        connection.execute(
            update(mutation_rejection).values(
                created_at=utcnow() - REJECTION_RETENTION - timedelta(days=1)
            )
        )
    assert ann.push(old)[0]["status"] == "rejected"  # still there until the next purge
    recent = ann.mutation(_account(ann, "Recent", credit_limit="not money either"))
    assert ann.push(recent)[0]["status"] == "rejected"  # storing a rejection purges old ones
    assert [r["status"] for r in ann.push(old, recent)] == ["duplicate", "rejected"]


def test_the_rejections_migration_goes_down_and_up(db_url: str) -> None:
    config = alembic_config(db_url)
    engine = make_engine(db_url, pool_size=1, pool_overflow=0)
    try:
        command.downgrade(config, "0002")
        assert "srv_mutation_rejection" not in inspect(engine).get_table_names()
        upgrade(db_url)
        assert "srv_mutation_rejection" in inspect(engine).get_table_names()
    finally:
        engine.dispose()
