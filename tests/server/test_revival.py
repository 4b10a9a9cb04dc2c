"""Explicit revival (``"r": true``) of tombstoned records, through the HTTP API (in-process app).

A desktop service revives a tombstoned row instead of inserting a duplicate (unique keys include
tombstones): a contact re-linked to an account, a buying-centre member added back. The revival
carries the record's full state and wins over the tombstone when it is later than the delete.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from sqlalchemy import Engine, update

from crm_desktop.models import Base, new_id
from crm_desktop.sync.clock import Hlc

from .conftest import SyncClient, TestClient


def _uid(hex_id: str) -> str:
    return str(uuid.UUID(hex_id))


def _past(seconds_ago: float) -> str:
    """A stamp made ``seconds_ago`` (an edit made offline earlier and pushed now)."""
    return Hlc(time.time_ns() // 1_000_000 - int(seconds_ago * 1000), 0).compact()


def _linked_contact(ann: SyncClient) -> dict[str, str]:
    """Ann's account, contact and the link between them, pushed; returns their hex ids."""
    ids = {"account": new_id().hex, "contact": new_id().hex, "link": new_id().hex}
    results = ann.push(
        ann.mutation(
            {
                "t": "account",
                "id": ids["account"],
                "f": {"name": "Acme", "owner_id": str(ann.user_id)},
            },
            {
                "t": "contact",
                "id": ids["contact"],
                "f": {"full_name": "Zoe Buyer", "owner_id": str(ann.user_id)},
            },
            {
                "t": "account_contact",
                "id": ids["link"],
                "f": {"account_id": ids["account"], "contact_id": ids["contact"], "title": "CFO"},
            },
        )
    )
    assert [r["status"] for r in results] == ["applied"]
    return ids


def _revival(ids: dict[str, str], **fields: Any) -> dict[str, Any]:
    """The link's full state as the desktop sends it when the user re-links the contact."""
    state = {
        "account_id": ids["account"],
        "contact_id": ids["contact"],
        "title": "CFO",
        "department": None,
        "is_primary": False,
        "created_at": "2026-11-25T09:00:00Z",
        **fields,
    }
    return {"t": "account_contact", "id": ids["link"], "r": True, "f": state}


def _unlink(ids: dict[str, str]) -> dict[str, Any]:
    return {"t": "account_contact", "id": ids["link"], "d": True}


def test_a_relinked_contact_shows_on_the_account_for_the_other_device(
    client: TestClient, people: dict[str, uuid.UUID]
) -> None:
    ann, mia = SyncClient(client, "ann"), SyncClient(client, "mia")
    ids = _linked_contact(ann)
    key = ("account_contact", _uid(ids["link"]))
    mia.pull()
    assert key in mia.records
    assert ann.push(ann.mutation(_unlink(ids)))[0]["status"] == "applied"
    mia.pull()
    assert key not in mia.records

    # ann re-links the contact with a new title: the tombstoned link comes back
    revived = ann.push(ann.mutation(_revival(ids, title="Chief Financial Officer")))[0]
    assert revived["status"] == "applied" and revived["conflicts"] == []
    mia.pull()
    link = mia.records[key]
    assert (link["account_id"], link["contact_id"]) == (_uid(ids["account"]), _uid(ids["contact"]))
    assert link["title"] == "Chief Financial Officer"
    # so does a device syncing from scratch, and ann's own next pull
    fresh = SyncClient(client, "mia")
    fresh.pull()
    assert fresh.records[key]["title"] == "Chief Financial Officer"
    ann.pull()
    assert key in ann.records
    # it is an ordinary live record again: it can be edited and deleted
    assert (
        mia.push(
            mia.mutation({"t": "account_contact", "id": ids["link"], "f": {"is_primary": True}})
        )[0]["status"]
        == "applied"
    )
    ann.pull()
    assert ann.records[key]["is_primary"] is True
    assert ann.push(ann.mutation(_unlink(ids)))[0]["status"] == "applied"
    mia.pull()
    assert key not in mia.records


def test_a_revival_older_than_the_delete_leaves_the_record_deleted(
    client: TestClient, people: dict[str, uuid.UUID]
) -> None:
    ann, mia = SyncClient(client, "ann"), SyncClient(client, "mia")
    ids = _linked_contact(ann)
    key = ("account_contact", _uid(ids["link"]))
    mia.pull()
    # mia re-linked the contact offline a minute ago; ann removed the link just now
    stale = mia.mutation(_revival(ids, title="Old title"))
    stale["h"] = _past(60)
    assert ann.push(ann.mutation(_unlink(ids)))[0]["status"] == "applied"
    result = mia.push(stale)[0]
    assert result["status"] == "merged"
    assert {c["rule"] for c in result["conflicts"]} == {"edit_after_delete"}
    mia.pull(), ann.pull()
    assert key not in mia.records and key not in ann.records
    # and a plain (stale) edit never brings it back either
    edit = mia.push(
        mia.mutation({"t": "account_contact", "id": ids["link"], "f": {"title": "CEO"}})
    )[0]
    assert edit["conflicts"][0]["rule"] == "edit_after_delete"
    fresh = SyncClient(client, "mia")
    fresh.pull()
    assert key not in fresh.records


def test_a_delete_made_before_the_revival_does_not_undo_it_when_pushed_late(
    client: TestClient, people: dict[str, uuid.UUID]
) -> None:
    ann, mia = SyncClient(client, "ann"), SyncClient(client, "mia")
    ids = _linked_contact(ann)
    key = ("account_contact", _uid(ids["link"]))
    mia.pull()
    first_delete = ann.mutation(_unlink(ids))
    first_delete["h"] = _past(30)
    assert ann.push(first_delete)[0]["status"] == "applied"
    # mia removed the link offline 20 s ago too; ann re-linked it 10 s ago
    late_delete = mia.mutation(_unlink(ids))
    late_delete["h"] = _past(20)
    revival = ann.mutation(_revival(ids))
    revival["h"] = _past(10)
    assert ann.push(revival)[0]["status"] == "applied"
    result = mia.push(late_delete)[0]
    assert result["status"] == "merged"
    assert [(c["field"], c["winner"], c["value"]) for c in result["conflicts"]] == [
        ("deleted", "server", False)
    ]
    # the re-link stands, and mia's device gets it back
    mia.pull(), ann.pull()
    assert key in mia.records and key in ann.records


def test_reviving_a_record_the_server_never_had_creates_it(
    client: TestClient, people: dict[str, uuid.UUID]
) -> None:
    ann, mia = SyncClient(client, "ann"), SyncClient(client, "mia")
    ids = _linked_contact(ann)
    # a second job of the contact, created, removed and re-added on ann's device before it
    # ever reached the server: only the revival is pushed
    other = {
        "t": "account",
        "id": new_id().hex,
        "f": {"name": "Acme Labs", "owner_id": str(ann.user_id)},
    }
    assert ann.push(ann.mutation(other))[0]["status"] == "applied"
    ids = {**ids, "link": new_id().hex, "account": other["id"]}
    assert ann.push(ann.mutation(_revival(ids)))[0]["status"] == "applied"
    mia.pull()
    link = mia.records[("account_contact", _uid(ids["link"]))]
    assert link["account_id"] == _uid(other["id"])
    assert link["created_at"] == "2026-11-25T09:00:00Z"


def test_a_tombstone_without_a_recorded_stamp_is_older_than_any_revival(
    client: TestClient, engine: Engine, people: dict[str, uuid.UUID]
) -> None:
    ann, mia = SyncClient(client, "ann"), SyncClient(client, "mia")
    ids = _linked_contact(ann)
    # head office removed the link directly in the database: no delete stamp anywhere
    links = Base.metadata.tables["account_contact"]
    with engine.begin() as connection:
        connection.execute(
            update(links).where(links.c.id == uuid.UUID(ids["link"])).values(deleted=True)
        )
    revival = ann.mutation(_revival(ids, title="Treasurer"))
    revival["h"] = _past(365 * 24 * 3600)  # even a revival stamped a year ago wins
    assert ann.push(revival)[0]["status"] == "applied"
    mia.pull()
    assert mia.records[("account_contact", _uid(ids["link"]))]["title"] == "Treasurer"


def test_reviving_a_live_record_is_an_ordinary_update(
    client: TestClient, people: dict[str, uuid.UUID]
) -> None:
    ann, mia = SyncClient(client, "ann"), SyncClient(client, "mia")
    ids = _linked_contact(ann)
    key = ("account_contact", _uid(ids["link"]))
    ann.pull(), mia.pull()
    base = mia.cursor
    created = mia.records[key]["created_at"]
    # mia changed the title just now; ann's revival (the server never saw her delete) is older
    assert (
        mia.push(mia.mutation({"t": "account_contact", "id": ids["link"], "f": {"title": "COO"}}))[
            0
        ]["status"]
        == "applied"
    )
    revival = ann.mutation(_revival(ids, title="CFO again", department="Finance"), base=base)
    revival["h"] = _past(5)
    result = ann.push(revival)[0]
    assert result["status"] == "merged"
    assert [(c["field"], c["rule"], c["winner"]) for c in result["conflicts"]] == [
        ("title", "lww", "server")
    ]
    mia.pull()
    link = mia.records[key]
    assert (link["title"], link["department"]) == ("COO", "Finance")
    assert link["created_at"] == created  # a revival never rewrites the creation time


def test_a_revival_follows_the_rules_of_any_write(
    client: TestClient, people: dict[str, uuid.UUID]
) -> None:
    ann, bob = SyncClient(client, "ann"), SyncClient(client, "bob")
    ids = _linked_contact(ann)
    assert ann.push(ann.mutation(_unlink(ids)))[0]["status"] == "applied"
    # another rep cannot revive it (not visible to him before the change)
    refused = bob.push(bob.mutation(_revival(ids)))[0]
    assert (refused["status"], refused["code"]) == ("rejected", "out_of_scope")
    # ann cannot revive it onto an account she does not see (not visible after the change)
    carl = SyncClient(client, "carl")
    foreign = {
        "t": "account",
        "id": new_id().hex,
        "f": {"name": "Carl Co", "owner_id": str(carl.user_id)},
    }
    carl.push(carl.mutation(foreign))
    refused = ann.push(ann.mutation(_revival(ids, account_id=foreign["id"])))[0]
    assert (refused["status"], refused["code"]) == ("rejected", "out_of_scope")
    # a revival that breaks a unique key is refused like any write
    second = {
        "t": "account",
        "id": new_id().hex,
        "f": {"name": "Acme 2", "owner_id": str(ann.user_id)},
    }
    taken = {
        "t": "account_contact",
        "id": new_id().hex,
        "f": {"account_id": second["id"], "contact_id": ids["contact"]},
    }
    assert ann.push(ann.mutation(second, taken))[0]["status"] == "applied"
    clash = ann.push(ann.mutation(_revival(ids, account_id=second["id"])))[0]
    assert (clash["status"], clash["code"]) == ("rejected", "integrity")
    ann.pull()
    assert ("account_contact", _uid(ids["link"])) not in ann.records


def test_malformed_revivals_are_refused_with_a_clear_message(
    client: TestClient, people: dict[str, uuid.UUID]
) -> None:
    ann = SyncClient(client, "ann")
    ids = _linked_contact(ann)
    both = ann.push_raw([ann.mutation({**_revival(ids), "d": True})])
    assert both.status_code == 422 and both.json()["code"] == "invalid_request"
    assert "revival (r=true) cannot also be a tombstone" in both.text
    empty = ann.push_raw([ann.mutation({"t": "account_contact", "id": ids["link"], "r": True})])
    assert empty.status_code == 422
    assert "revival (r=true) carries the record's full state" in empty.text
