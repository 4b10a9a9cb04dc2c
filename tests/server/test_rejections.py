"""What became of every mutation number is remembered, with the mutation's stamp: a batch
resent after a lost answer learns ``duplicate`` or ``rejected`` again, and another mutation
reusing a number (a profile restored from a backup) learns ``taken``.

The client undoes a rejected mutation locally; had the resend answered ``duplicate``, it would
drop the mutation and keep a change the server never took. A restored profile's mutation
answered ``duplicate`` or with another mutation's rejection would be dropped or undone.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from alembic import command
from sqlalchemy import Engine, func, inspect, select, update

from crm_desktop.models import new_id, utcnow
from crm_server.app import create_app
from crm_server.db import make_engine, mutation_log
from crm_server.migrate import alembic_config, upgrade
from crm_server.settings import Settings
from crm_server.sync import MUTATION_RETENTION, SyncService

from .conftest import SyncClient, TestClient


def _account(client: SyncClient, name: str, **fields: Any) -> dict[str, Any]:
    return {
        "t": "account",
        "id": new_id().hex,
        "f": {"name": name, "owner_id": str(client.user_id), **fields},
    }


def _service(client: TestClient) -> SyncService:
    service: SyncService = client.app.state.services.sync  # type: ignore[attr-defined]
    return service


def _age_every_record(engine: Engine) -> None:
    """Make every stored mutation older than the retention period."""
    with engine.begin() as connection:
        connection.execute(
            update(mutation_log).values(
                created_at=utcnow() - MUTATION_RETENTION - timedelta(days=1)
            )
        )


def _stored(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(mutation_log)).scalar_one())


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
        # recognised by its stamp, so the client never takes it for a number it cannot place
        assert again[0]["code"] == again[2]["code"] == "same_mutation"
    # and nothing of it was ever written
    bob.pull()
    assert bob.records[("account", str(uuid.UUID(theirs["id"])))]["name"] == "Bob Co"
    # the queue moved on: the next mutation is applied as usual
    later = ann.push(ann.mutation({"t": "account", "id": mine["id"], "f": {"phone": "556"}}))
    assert [r["status"] for r in later] == ["applied"]


def test_every_processed_mutation_is_stored_with_its_stamp_once(
    client: TestClient, engine: Engine, people: dict[str, uuid.UUID]
) -> None:
    ann = SyncClient(client, "ann")
    mine = _account(ann, "Ann Co")
    batch = [
        ann.mutation(mine),
        ann.mutation(_account(ann, "Bad", credit_limit="not money")),
    ]
    assert [r["status"] for r in ann.push(*batch)] == ["applied", "rejected"]
    assert [r["status"] for r in ann.push(*batch)] == ["duplicate", "rejected"]
    with engine.connect() as connection:
        rows = connection.execute(
            select(
                mutation_log.c.device_id,
                mutation_log.c.n,
                mutation_log.c.stamp,
                mutation_log.c.status,
                mutation_log.c.code,
            ).order_by(mutation_log.c.n)
        ).all()
    assert [tuple(row) for row in rows] == [
        (ann.device_id, 1, batch[0]["h"], "applied", None),
        (ann.device_id, 2, batch[1]["h"], "rejected", "invalid_value"),
    ]


def test_a_number_reused_by_another_mutation_is_answered_taken(
    client: TestClient, people: dict[str, uuid.UUID]
) -> None:
    ann, bob = SyncClient(client, "ann"), SyncClient(client, "bob")
    theirs = _account(bob, "Bob Co")
    bob.push(bob.mutation(theirs))
    mine = _account(ann, "Ann Co")
    sent = [
        ann.mutation(mine),
        ann.mutation({"t": "account", "id": mine["id"], "f": {"phone": "100"}}),
        ann.mutation({"t": "account", "id": theirs["id"], "f": {"name": "Mine now"}}),
    ]
    assert [r["status"] for r in ann.push(*sent)] == ["applied", "applied", "rejected"]

    # A profile restored from a backup taken after mutation 1 numbers its new edits 2 and 3
    # again: other mutations (other stamps) than those the server processed under them.
    ann.n = 1
    restored = [
        ann.mutation({"t": "account", "id": mine["id"], "f": {"phone": "200"}}),
        ann.mutation({"t": "account", "id": mine["id"], "f": {"website": "ann.example"}}),
    ]
    response = ann.push_raw(restored)
    assert response.status_code == 200, response.text
    body = response.json()
    # Neither is written, not even the one numbered like a refused mutation (whose refusal
    # is not theirs), and the answer tells where the device's numbers stand.
    assert [(r["n"], r["status"], r["code"]) for r in body["results"]] == [
        (2, "taken", None),
        (3, "taken", None),
    ]
    assert "renumber" in body["results"][0]["reason"]
    assert body["last_mutation"] == 3
    bob.pull()
    account = bob.records.get(("account", str(uuid.UUID(mine["id"]))))
    assert account is None or account["phone"] == "100"
    ann.pull()
    assert ann.records[("account", str(uuid.UUID(mine["id"])))]["phone"] == "100"

    # The original mutations resent still get their own answers.
    again = ann.push(*sent)
    assert [r["status"] for r in again] == ["duplicate", "duplicate", "rejected"]
    assert again[2]["code"] == "out_of_scope"

    # Renumbered above last_mutation, the restored edits are applied, in their order; a
    # batch may mix a taken number with new ones.
    ann.n = 3
    renumbered = [
        {**restored[0], "n": 4},
        {**restored[1], "n": 5},
    ]
    assert [r["status"] for r in ann.push(restored[0], *renumbered)] == [
        "taken",
        "applied",
        "applied",
    ]
    ann.pull()
    record = ann.records[("account", str(uuid.UUID(mine["id"])))]
    assert (record["phone"], record["website"]) == ("200", "ann.example")
    # and a resend of the renumbered batch is a plain duplicate
    assert [r["status"] for r in ann.push(*renumbered)] == ["duplicate", "duplicate"]


def test_records_are_forgotten_after_the_retention_period(
    client: TestClient, engine: Engine, settings: Settings, people: dict[str, uuid.UUID]
) -> None:
    ann = SyncClient(client, "ann")
    old = ann.mutation(_account(ann, "Old", credit_limit="not money"))
    assert ann.push(old)[0]["status"] == "rejected"
    reuse = {**ann.mutation(_account(ann, "Reuse")), "n": old["n"]}
    assert ann.push(reuse)[0]["status"] == "taken"
    # those records were stored longer ago than the retention period
    _age_every_record(engine)
    # a worker purges at its first push, then at most hourly: this one already did
    recent = ann.mutation(_account(ann, "Recent", credit_limit="not money either"))
    assert ann.push(recent)[0]["status"] == "rejected"
    assert ann.push(old)[0]["status"] == "rejected"  # still there until the next purge
    assert _stored(engine) == 2
    assert _service(client).purge_expired_mutations() == 1
    # Forgotten: the number answers duplicate, whichever mutation comes with it (as before
    # the server stored anything); the recent one is still known.
    assert [r["status"] for r in ann.push(old, recent)] == ["duplicate", "rejected"]
    forgotten = ann.push(reuse)[0]
    assert (forgotten["status"], forgotten["code"]) == ("duplicate", None)

    # A worker that starts purges at its first push.
    _age_every_record(engine)
    with TestClient(create_app(settings), raise_server_exceptions=False) as restarted:
        ann.http = restarted
        assert ann.push(ann.mutation(_account(ann, "Later")))[0]["status"] == "applied"
    assert _stored(engine) == 1


def test_the_mutation_table_migration_goes_down_and_up(db_url: str) -> None:
    config = alembic_config(db_url)
    engine = make_engine(db_url, pool_size=1, pool_overflow=0)
    try:
        command.downgrade(config, "0002")
        assert "srv_mutation" not in inspect(engine).get_table_names()
        upgrade(db_url)
        assert "srv_mutation" in inspect(engine).get_table_names()
    finally:
        engine.dispose()
