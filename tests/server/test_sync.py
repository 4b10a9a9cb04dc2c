"""Merge rules, idempotent replay and scopes, through the HTTP API (in-process app)."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import Engine, func, select

from crm_desktop.models import new_id
from crm_server import admin
from crm_server.db import conflict_log, sync_counter, sync_exit, sync_record
from crm_server.settings import Settings

from .conftest import PASSWORD, SyncClient, TestClient

DAY_MS = 24 * 3600 * 1000


def _account(
    client: SyncClient, name: str, owner: uuid.UUID | None = None, **fields: Any
) -> dict[str, Any]:
    return {
        "t": "account",
        "id": new_id().hex,
        "f": {"name": name, "owner_id": str(owner or client.user_id), **fields},
    }


def _stage(root: SyncClient) -> str:
    stage = new_id().hex
    root.push(
        root.mutation(
            {
                "t": "sales_stage",
                "id": stage,
                "f": {"name": "Qualify", "position": 1, "probability": 10},
            }
        )
    )
    return str(uuid.UUID(stage))


def _snapshot(engine: Engine) -> tuple[Any, ...]:
    with engine.connect() as conn:
        return (
            conn.execute(select(sync_counter.c.value)).scalar_one(),
            conn.execute(select(func.count()).select_from(sync_record)).scalar_one(),
            conn.execute(select(func.count()).select_from(conflict_log)).scalar_one(),
            conn.execute(select(func.count()).select_from(sync_exit)).scalar_one(),
        )


def test_replaying_a_push_batch_changes_nothing(
    client: TestClient, engine: Engine, people: dict[str, uuid.UUID]
) -> None:
    ann = SyncClient(client, "ann")
    account = _account(ann, "Acme")
    batch = [
        ann.mutation(account),
        ann.mutation({"t": "account", "id": account["id"], "f": {"phone": "1"}}),
        ann.mutation(
            {
                "t": "contact",
                "id": new_id().hex,
                "f": {"full_name": "Zoe", "owner_id": str(ann.user_id)},
            }
        ),
        ann.mutation({"t": "account", "id": new_id().hex, "f": {"bogus": 1}}),
    ]
    first = ann.push(*batch)
    assert [r["status"] for r in first] == ["applied", "applied", "applied", "rejected"]
    ann.pull()
    state, snapshot = dict(ann.records), _snapshot(engine)
    for _ in range(2):
        again = ann.push(*batch)
        # the rejected one is reported rejected again (the client must undo it), not duplicate
        assert [r["status"] for r in again] == ["duplicate"] * 3 + ["rejected"]
        assert (again[3]["code"], again[3]["reason"]) == (first[3]["code"], first[3]["reason"])
    assert _snapshot(engine) == snapshot
    ann.pull()
    assert ann.records == state
    # a batch mixing old and new mutations applies only the new one
    mixed = ann.push(
        *batch[-2:], ann.mutation({"t": "account", "id": account["id"], "f": {"phone": "2"}})
    )
    assert [r["status"] for r in mixed] == ["duplicate", "rejected", "applied"]


def test_concurrent_edits_merge_per_field(client: TestClient, people: dict[str, uuid.UUID]) -> None:
    ann, mia = SyncClient(client, "ann"), SyncClient(client, "mia")
    account = _account(ann, "Acme", notes="met at fair")
    ann.push(ann.mutation(account))
    ann.pull(), mia.pull()
    base = mia.cursor
    key = ("account", str(uuid.UUID(account["id"])))

    # different fields: both survive, no conflict
    assert (
        ann.push(ann.mutation({"t": "account", "id": account["id"], "f": {"phone": "111"}}))[0][
            "status"
        ]
        == "applied"
    )
    assert (
        mia.push(
            mia.mutation(
                {"t": "account", "id": account["id"], "f": {"website": "acme.example"}}, base=base
            )
        )[0]["status"]
        == "applied"
    )

    # same field: the later stamp wins, the loser is in the conflict log with both values
    late = ann.push(
        ann.mutation({"t": "account", "id": account["id"], "f": {"email": "a@x"}}, base=base)
    )
    early = mia.mutation({"t": "account", "id": account["id"], "f": {"email": "m@x"}}, base=base)
    early["h"] = "00000000000"  # made long ago (offline), pushed now
    result = mia.push(early)[0]
    assert late[0]["status"] == "applied"
    assert result["status"] == "merged"
    conflict = result["conflicts"][0]
    assert (conflict["field"], conflict["rule"], conflict["winner"]) == ("email", "lww", "server")
    assert (conflict["local"], conflict["server"], conflict["value"]) == ("m@x", "a@x", "a@x")

    # long text: both versions kept
    ann.push(
        ann.mutation(
            {"t": "account", "id": account["id"], "f": {"notes": "met at fair; wants a demo"}},
            base=base,
        )
    )
    text = mia.push(
        mia.mutation(
            {
                "t": "account",
                "id": account["id"],
                "f": {"notes": "budget approved"},
                "o": {"notes": "met at fair"},
            },
            base=base,
        )
    )[0]
    assert text["status"] == "merged" and text["conflicts"][0]["rule"] == "text_keep_both"
    assert text["conflicts"][0]["base"] == "met at fair" and text["conflicts"][0]["base_known"]

    ann.pull()
    record = ann.records[key]
    assert (record["phone"], record["website"], record["email"]) == ("111", "acme.example", "a@x")
    assert "wants a demo" in record["notes"] and "budget approved" in record["notes"]

    # the device can read its conflicts back (e.g. after losing a push response)
    entries = client.get("/v1/conflicts", headers=mia.headers).json()["entries"]
    assert [e["conflict"]["field"] for e in entries] == ["email", "notes"]
    # and the other side learns about them too (its value met a concurrent edit)
    theirs = client.get("/v1/conflicts", headers=ann.headers).json()["entries"]
    assert [e["conflict"]["field"] for e in theirs] == ["email", "notes"]
    assert {e["device_id"] for e in theirs} == {str(mia.device_id)}

    # a later edit of the same field by the same device is not a conflict with itself
    assert (
        mia.push(
            mia.mutation({"t": "account", "id": account["id"], "f": {"notes": "final"}}, base=base)
        )[0]["status"]
        == "applied"
    )


def test_a_clock_days_ahead_does_not_win_every_argument(
    client: TestClient, people: dict[str, uuid.UUID]
) -> None:
    ann = SyncClient(client, "ann", clock_skew_ms=3 * DAY_MS)
    bob_owner = SyncClient(client, "mia")
    account = _account(bob_owner, "Acme", owner=people["ann"])
    bob_owner.push(bob_owner.mutation(account))
    ann.pull()
    base = ann.cursor
    # ann (clock 3 days fast) edits first; mia edits the same field a moment later
    ann.push(ann.mutation({"t": "account", "id": account["id"], "f": {"phone": "ann"}}, base=base))
    result = bob_owner.push(
        bob_owner.mutation({"t": "account", "id": account["id"], "f": {"phone": "mia"}}, base=base)
    )[0]
    assert result["status"] == "merged" and result["conflicts"][0]["winner"] == "local"
    ann.pull()
    assert ann.records[("account", str(uuid.UUID(account["id"])))]["phone"] == "mia"


def test_stale_edits_never_bring_a_deleted_record_back(
    client: TestClient, people: dict[str, uuid.UUID]
) -> None:
    ann, mia = SyncClient(client, "ann"), SyncClient(client, "mia")
    account = _account(ann, "Gone")
    ann.push(ann.mutation(account))
    ann.pull(), mia.pull()
    key = ("account", str(uuid.UUID(account["id"])))
    assert key in mia.records
    base = ann.cursor
    assert (
        ann.push(ann.mutation({"t": "account", "id": account["id"], "d": True}))[0]["status"]
        == "applied"
    )
    edit = mia.push(
        mia.mutation({"t": "account", "id": account["id"], "f": {"phone": "123"}}, base=base)
    )[0]
    assert edit["status"] == "merged"
    assert edit["conflicts"][0]["rule"] == "edit_after_delete"
    mia.pull()
    assert key not in mia.records
    # even a full re-sync does not bring it back
    fresh = SyncClient(client, "mia")
    fresh.pull()
    assert key not in fresh.records


def test_a_quote_with_its_lines_is_atomic(client: TestClient, people: dict[str, uuid.UUID]) -> None:
    ann = SyncClient(client, "ann")
    account = _account(ann, "Buyer")
    ann.push(ann.mutation(account))
    quote = new_id().hex
    line = {
        "t": "quote_line",
        "id": new_id().hex,
        "f": {"quote_id": quote, "quantity": "2", "unit_price": "10.50"},
    }
    quote_change = {"t": "quote", "id": quote, "f": {"number": "Q-1", "account_id": account["id"]}}
    bad_line = {"t": "quote_line", "id": new_id().hex, "f": {"quote_id": quote, "quantity": 2.5}}
    # lines before their quote are fine (parents are applied first); one bad line sinks it all
    rejected = ann.push_raw([ann.mutation(line, quote_change, bad_line)])
    assert rejected.status_code == 422  # a float amount never even parses
    result = ann.push(
        ann.mutation(line, quote_change, {**bad_line, "f": {"quote_id": quote, "quantity": "x"}})
    )[0]
    assert result["status"] == "rejected" and "quantity" in result["reason"]
    ann.pull()
    assert not ann.ids("quote") and not ann.ids("quote_line")
    assert ann.push(ann.mutation(line, quote_change))[0]["status"] == "applied"
    ann.pull()
    assert len(ann.ids("quote")) == 1 and len(ann.ids("quote_line")) == 1
    assert ann.records[("quote_line", str(uuid.UUID(line["id"])))]["unit_price"] == "10.5"


def test_two_reps_and_a_manager_see_exactly_their_scope_before_and_after_reassignment(
    client: TestClient, engine: Engine, people: dict[str, uuid.UUID]
) -> None:
    root = SyncClient(client, "root")
    stage = _stage(root)
    ann, bob, mia, carl = (SyncClient(client, name) for name in ("ann", "bob", "mia", "carl"))

    def portfolio(rep: SyncClient, name: str) -> dict[str, str]:
        account = _account(rep, name)
        contact = {
            "t": "contact",
            "id": new_id().hex,
            "f": {"full_name": f"{name} buyer", "owner_id": str(rep.user_id)},
        }
        link = {
            "t": "account_contact",
            "id": new_id().hex,
            "f": {"account_id": account["id"], "contact_id": contact["id"]},
        }
        opportunity = {
            "t": "opportunity",
            "id": new_id().hex,
            "f": {
                "name": f"{name} deal",
                "account_id": account["id"],
                "stage_id": stage,
                "owner_id": str(rep.user_id),
                "amount": "1000",
            },
        }
        activity = {
            "t": "activity",
            "id": new_id().hex,
            "f": {"kind": "call", "subject": "intro", "opportunity_id": opportunity["id"]},
        }
        personal = {
            "t": "activity",
            "id": new_id().hex,
            "f": {"kind": "task", "subject": "expenses", "owner_id": str(rep.user_id)},
        }
        results = rep.push(
            rep.mutation(account, contact, link, opportunity, activity), rep.mutation(personal)
        )
        assert [r["status"] for r in results] == ["applied", "applied"], results
        return {
            k: str(uuid.UUID(v["id"]))
            for k, v in {
                "account": account,
                "contact": contact,
                "link": link,
                "opportunity": opportunity,
                "activity": activity,
                "personal": personal,
            }.items()
        }

    a, b, c = portfolio(ann, "Ann Co"), portfolio(bob, "Bob Co"), portfolio(carl, "Carl Co")
    for device in (ann, bob, mia, carl, root):
        device.pull()

    def business(device: SyncClient) -> set[str]:
        return {rid for (t, rid) in device.records if t not in ("user", "sales_stage")}

    assert business(ann) == set(a.values())
    assert business(bob) == set(b.values())
    assert business(mia) == set(a.values()) | set(b.values())
    assert business(carl) == set(c.values())
    assert business(root) == set(a.values()) | set(b.values()) | set(c.values())
    # everyone sees the catalog and the user list
    assert all(
        len(d.ids("user")) == 5 and len(d.ids("sales_stage")) == 1 for d in (ann, bob, mia, carl)
    )

    # reads are scoped, and so are writes
    refused = bob.push(
        bob.mutation({"t": "account", "id": a["account"], "f": {"phone": "hijack"}})
    )[0]
    assert refused["code"] == "out_of_scope"
    refused = bob.push(
        bob.mutation(
            {
                "t": "opportunity",
                "id": new_id().hex,
                "f": {"name": "x", "account_id": a["account"], "stage_id": stage},
            }
        )
    )[0]
    assert refused["code"] == "out_of_scope"

    # ann leaves: her accounts, contacts and open opportunities go to bob
    moved = admin.reassign(engine, from_user="ann", to_user="bob")
    assert (moved.accounts, moved.contacts, moved.opportunities) == (1, 1, 1)
    for device in (ann, bob, mia, carl):
        device.pull()
    assert business(ann) == {a["personal"]}  # account, contact, link, deal, call removed
    assert business(bob) == set(b.values()) | (set(a.values()) - {a["personal"]})
    assert business(mia) == set(a.values()) | set(b.values())  # still her team
    assert business(carl) == set(c.values())
    assert bob.records[("account", a["account"])]["owner_id"] == str(people["bob"])

    # the manager can move accounts inside her team, not outside it
    assert (
        mia.push(
            mia.mutation(
                {"t": "account", "id": a["account"], "f": {"owner_id": str(people["ann"])}}
            )
        )[0]["status"]
        == "applied"
    )
    refused = mia.push(
        mia.mutation({"t": "account", "id": a["account"], "f": {"owner_id": str(people["carl"])}})
    )[0]
    assert refused["code"] == "out_of_scope"
    ann.pull(), bob.pull()
    # everything hanging off the account follows it; the contact keeps its new owner
    assert business(ann) == set(a.values()) - {a["contact"]}
    assert business(bob) == set(b.values()) | {a["contact"]}


def test_moving_a_rep_to_another_manager_moves_their_records(
    client: TestClient, engine: Engine, settings: Settings, people: dict[str, uuid.UUID]
) -> None:
    admin.create_user(engine, settings, username="max", role="manager", password=PASSWORD)
    ann, mia, max_ = SyncClient(client, "ann"), SyncClient(client, "mia"), SyncClient(client, "max")
    account = _account(ann, "Ann Co")
    ann.push(ann.mutation(account))
    mia.pull()
    key = ("account", str(uuid.UUID(account["id"])))
    assert key in mia.records
    max_.pull()
    assert key not in max_.records
    admin.set_manager(engine, username="ann", manager="max")
    mia.pull(), max_.pull()
    assert key not in mia.records and key in max_.records
    admin.set_manager(engine, username="ann", manager="mia")
    mia.pull(), max_.pull()
    assert key in mia.records and key not in max_.records


def test_an_admin_moving_a_rep_through_sync_moves_their_records(
    client: TestClient, people: dict[str, uuid.UUID]
) -> None:
    ann, mia, root = (
        SyncClient(client, "ann"),
        SyncClient(client, "mia"),
        SyncClient(client, "root"),
    )
    account = _account(ann, "Ann Co")
    ann.push(ann.mutation(account))
    mia.pull()
    key = ("account", str(uuid.UUID(account["id"])))
    assert key in mia.records
    carl = str(people["carl"])
    root.pull()
    moved = root.push(
        root.mutation({"t": "user", "id": str(people["ann"]), "f": {"manager_id": carl}})
    )
    assert moved[0]["status"] == "applied"
    mia.pull()
    assert key not in mia.records
    carl_device = SyncClient(client, "carl")
    carl_device.pull()
    assert key in carl_device.records
    loop = root.push(
        root.mutation({"t": "user", "id": carl, "f": {"manager_id": str(people["ann"])}})
    )
    assert loop[0]["status"] == "rejected" and "reports to" in loop[0]["reason"]
    # a rep cannot change the org chart at all
    refused = ann.push(
        ann.mutation({"t": "user", "id": str(people["ann"]), "f": {"manager_id": None}})
    )
    assert refused[0]["code"] == "out_of_scope"
