"""The first-sync snapshot (``POST /v1/snapshot``) against a full pull from cursor 0.

A new device may load the snapshot instead of pulling page by page, so the snapshot must hold
exactly what a full pull delivers as upserts: the same records (live, in the caller's scope,
public catalog included) with the same values, and a cursor from which the next pull misses
nothing. Runs on SQLite (``_build_sqlite``) and, with ``CRM_TEST_POSTGRES_URL``, PostgreSQL
(``_build_generic``).
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import closing
from datetime import datetime
from pathlib import Path
from typing import Any, cast

import httpx
import pytest
from sqlalchemy import Engine, Table
from sqlalchemy.dialects import sqlite as sqlite_dialect

from crm_desktop.models import ENTITIES, new_id
from crm_desktop.models.base import Money
from crm_server import admin
from crm_server.fields import SPECS
from crm_server.settings import Settings
from crm_server.snapshot import STALE_SECONDS, SnapshotService
from crm_server.sync import Busy

from .conftest import (
    HEADERS,
    ServerProcess,
    SyncClient,
    TestClient,
    create_app,
    make_settings,
)

SQLITE = sqlite_dialect.dialect()
CURSOR_HEADER = "X-CRM-Cursor"

#: (entity, id) -> wire field -> wire value, as :class:`SyncClient` keeps pulled records.
Records = dict[tuple[str, str], dict[str, Any]]


def table_of(entity: str) -> Table:
    """The shared model's table of ``entity`` (the layout of the snapshot's table)."""
    return cast(Table, ENTITIES[entity].__table__)


def _hex() -> str:
    return new_id().hex


def _uuid(value: str) -> str:
    return str(uuid.UUID(value))


def _push_ok(client: SyncClient, *changes: dict[str, Any]) -> None:
    results = client.push(client.mutation(*changes))
    assert [r["status"] for r in results] == ["applied"], results


def seed_catalog(root: SyncClient) -> dict[str, str]:
    """Public catalog records (team, stage, product, price list, price) pushed by an admin."""
    ids = {
        name: _hex()
        for name in ("team", "stage", "won", "product", "price_list", "price", "gone_team")
    }
    _push_ok(root, {"t": "team", "id": ids["gone_team"], "f": {"name": "Disbanded"}})
    _push_ok(root, {"t": "team", "id": ids["gone_team"], "d": True})
    _push_ok(
        root,
        {"t": "team", "id": ids["team"], "f": {"name": "Nord Ö"}},
        {
            "t": "sales_stage",
            "id": ids["stage"],
            "f": {"name": f"Qualify {ids['stage'][-8:]}", "position": 1, "probability": 10},
        },
        {
            "t": "sales_stage",
            "id": ids["won"],
            "f": {
                "name": f"Won {ids['won'][-8:]}",
                "position": 9,
                "probability": 100,
                "is_closed": True,
                "is_won": True,
            },
        },
        {
            "t": "product",
            "id": ids["product"],
            "f": {
                "code": f"P-{ids['product'][-8:]}",
                "name": "Widget 東京",
                "description": "long\ntext",
                "unit": "pc",
                "default_tax_rate": "0.19",
            },
        },
        {
            "t": "price_list",
            "id": ids["price_list"],
            "f": {"name": "EUR list", "currency": "EUR", "valid_from": "2026-01-01"},
        },
        {
            "t": "price",
            "id": ids["price"],
            "f": {
                "price_list_id": ids["price_list"],
                "product_id": ids["product"],
                "unit_price": "12.345678",
            },
        },
    )
    return ids


def seed_owner(client: SyncClient, catalog: dict[str, str], tag: str) -> dict[str, str]:
    """A record of every owned entity for ``client``'s user, plus a tombstoned account and
    contact. Returns the ids by short name."""
    me = str(client.user_id)
    ids = {
        name: _hex()
        for name in (
            "account",
            "contact",
            "account_contact",
            "address",
            "contact_point",
            "lead",
            "opportunity",
            "opportunity_contact",
            "activity",
            "quote",
            "quote_line",
            "sales_order",
            "sales_order_line",
            "gone_account",
            "gone_contact",
        )
    }
    phone = f"+49 (30) {abs(hash(tag)) % 9000 + 1000}-77"
    _push_ok(
        client,
        {
            "t": "account",
            "id": ids["account"],
            "f": {
                "name": f"Müller & Söhne {tag}",
                "owner_id": me,
                "email": f"info@{tag}.example",
                "phone": phone,
                "website": f"{tag}.example",
                "industry": "Maschinenbau",
                "customer_grade": "A",
                "credit_limit": "250000.50",
                "notes": "first line\nsecond line — ✓",
            },
        },
        {
            "t": "contact",
            "id": ids["contact"],
            "f": {
                "first_name": "Zoë",
                "last_name": f"Øster{tag}",
                "full_name": f"Zoë Øster{tag}",
                "email": f"zoe@{tag}.example",
                "mobile": "+1 555 0100",
                "birthday": "1980-02-29",
                "owner_id": me,
                "last_contacted_at": "2026-11-24T08:15:30.123456Z",
            },
        },
        {
            "t": "account_contact",
            "id": ids["account_contact"],
            "f": {
                "account_id": ids["account"],
                "contact_id": ids["contact"],
                "is_primary": True,
                "title": "CTO",
            },
        },
        {
            "t": "address",
            "id": ids["address"],
            "f": {"account_id": ids["account"], "label": "HQ", "city": "Köln", "country": "DE"},
        },
        {
            "t": "contact_point",
            "id": ids["contact_point"],
            "f": {"contact_id": ids["contact"], "kind": "phone", "label": "desk", "value": "+1"},
        },
        {
            "t": "lead",
            "id": ids["lead"],
            "f": {
                "first_name": "Lee",
                "last_name": tag,
                "full_name": f"Lee {tag}",
                "company": f"Lead Co {tag}",
                "grade": "B",
                "owner_id": me,
            },
        },
        {
            "t": "opportunity",
            "id": ids["opportunity"],
            "f": {
                "name": f"Deal {tag}",
                "account_id": ids["account"],
                "stage_id": catalog["stage"],
                "amount": "1200.00",
                "currency": "EUR",
                "close_date": "2026-12-31",
                "purchase_type": "new_purchase",
                "competitors": "ACME",
                "owner_id": me,
                "closed_at": None,
            },
        },
        {
            "t": "opportunity_contact",
            "id": ids["opportunity_contact"],
            "f": {
                "opportunity_id": ids["opportunity"],
                "contact_id": ids["contact"],
                "role": "decision_maker",
            },
        },
        {
            "t": "quote",
            "id": ids["quote"],
            "f": {
                "number": f"Q-{tag}",
                "account_id": ids["account"],
                "opportunity_id": ids["opportunity"],
                "price_list_id": catalog["price_list"],
                "owner_id": me,
                "currency": "EUR",
                "discount_percent": "2.5",
                "subtotal": "1200",
                "discount_total": "30",
                "tax_total": "222.3",
                "total": "1392.30",
                "sent_at": "2026-11-20T23:59:59Z",
            },
        },
        {
            "t": "quote_line",
            "id": ids["quote_line"],
            "f": {
                "quote_id": ids["quote"],
                "position": 1,
                "product_id": catalog["product"],
                "description": "Widget",
                "quantity": "3",
                "unit_price": "400",
                "tax_rate": "0.19",
                "net_amount": "1200",
            },
        },
        {
            "t": "sales_order",
            "id": ids["sales_order"],
            "f": {
                "number": f"SO-{tag}",
                "quote_id": ids["quote"],
                "account_id": ids["account"],
                "owner_id": me,
                "currency": "EUR",
                "total": "1392.30",
                "ordered_on": "2026-11-25",
            },
        },
        {
            "t": "sales_order_line",
            "id": ids["sales_order_line"],
            "f": {
                "order_id": ids["sales_order"],
                "position": 1,
                "description": "Widget",
                "quantity": "3",
                "unit_price": "400",
                "net_amount": "1200",
            },
        },
        {
            "t": "activity",
            "id": ids["activity"],
            "f": {
                "kind": "meeting",
                "subject": f"Kick-off {tag}",
                "start_at": "2026-11-26T09:00:00Z",
                "end_at": "2026-11-26T10:30:00.5Z",
                "account_id": ids["account"],
                "opportunity_id": ids["opportunity"],
                "owner_id": me,
                "priority": "high",
            },
        },
        {"t": "account", "id": ids["gone_account"], "f": {"name": "Gone", "owner_id": me}},
        {
            "t": "contact",
            "id": ids["gone_contact"],
            "f": {"first_name": "G", "last_name": "One", "full_name": "G One", "owner_id": me},
        },
    )
    _push_ok(client, {"t": "account", "id": ids["gone_account"], "d": True})
    _push_ok(client, {"t": "contact", "id": ids["gone_contact"], "d": True})
    # An edit after creation: the snapshot must hold the current state, not the first one.
    _push_ok(client, {"t": "account", "id": ids["account"], "f": {"region": f"Region {tag}"}})
    return {name: _uuid(value) for name, value in ids.items()}


class Company:
    """The ``people`` fixture's users signed in, each with a full set of records."""

    def __init__(self, http: httpx.Client | TestClient, engine: Engine) -> None:
        self.root = SyncClient(http, "root")
        self.catalog = {k: _uuid(v) for k, v in seed_catalog(self.root).items()}
        catalog_hex = {k: uuid.UUID(v).hex for k, v in self.catalog.items()}
        self.clients = {name: SyncClient(http, name) for name in ("mia", "ann", "bob", "carl")}
        self.owned = {
            name: seed_owner(client, catalog_hex, name) for name, client in self.clients.items()
        }
        # An account with no owner: admins only.
        self.orphan = _hex()
        _push_ok(self.root, {"t": "account", "id": self.orphan, "f": {"name": "Nobody's"}})
        self.orphan = _uuid(self.orphan)
        # A quota for ann, written by her manager.
        self.quota = _hex()
        _push_ok(
            self.clients["mia"],
            {
                "t": "quota",
                "id": self.quota,
                "f": {
                    "user_id": str(self.clients["ann"].user_id),
                    "period_start": "2027-01-01",
                    "period_end": "2027-03-31",
                    "amount": "50000",
                    "currency": "EUR",
                },
            },
        )
        self.quota = _uuid(self.quota)


def take_snapshot(http: httpx.Client | TestClient, client: SyncClient, path: Path) -> int:
    """``POST /v1/snapshot`` as ``client``; writes the file to ``path``, returns the cursor."""
    response = http.post("/v1/snapshot", content=b"{}", headers=client.headers)
    assert response.status_code == 200, response.text
    path.write_bytes(response.content)
    cursor = int(response.headers[CURSOR_HEADER])
    with closing(sqlite3.connect(path)) as db:
        info = dict(db.execute("SELECT key, value FROM snapshot_info").fetchall())
    assert info["cursor"] == str(cursor)
    assert info["schema"] == HEADERS["X-CRM-Schema"]
    return cursor


def _columns(entity: str) -> Iterator[Any]:
    table = table_of(entity)
    for name in SPECS[entity].wire_fields:
        yield table.c[name]


def read_snapshot(path: Path) -> Records:
    """The snapshot's records as wire values (as a pull would encode them), after checking each
    stored value is in the client's storage format: what the client's own column types would
    store for that value (amounts: any exact decimal text, compared by value)."""
    records: Records = {}
    with closing(sqlite3.connect(path)) as db:
        for entity in ENTITIES:
            spec = SPECS[entity]
            columns = list(_columns(entity))
            table = table_of(entity)
            names = ", ".join(f'"{c.name}"' for c in columns)
            deleted = db.execute(f'SELECT count(*) FROM "{table.name}" WHERE deleted').fetchone()
            assert deleted == (0,), f"tombstones in the snapshot's {entity} table"
            for raw_row in db.execute(f'SELECT {names} FROM "{table.name}"'):
                values: dict[str, Any] = {}
                for column, raw, encode in zip(columns, raw_row, spec.wire_encoders, strict=True):
                    impl = column.type.dialect_impl(SQLITE)
                    result = impl.result_processor(SQLITE, None)
                    value = raw if result is None or raw is None else result(raw)
                    if raw is not None and not isinstance(column.type, Money):
                        bind = impl.bind_processor(SQLITE)
                        stored = value if bind is None else bind(value)
                        assert stored == raw and type(stored) is type(raw), (
                            f"{entity}.{column.name} stored as {raw!r}, the client stores {stored!r}"
                        )
                    if isinstance(column.type, Money) and raw is not None:
                        assert isinstance(raw, str), f"{entity}.{column.name} stored as {raw!r}"
                    values[column.name] = encode(value)
                key = (entity, values["id"])
                assert key not in records, f"{key} twice in the snapshot"
                records[key] = values
    return records


def _normal(records: Records) -> Records:
    """Pulled records with timestamps compared as instants (``...Z`` text forms vary)."""
    out: Records = {}
    for key, fields in records.items():
        out[key] = {
            name: (
                datetime.fromisoformat(value)
                if isinstance(value, str) and name.endswith("_at") and "T" in value
                else value
            )
            for name, value in fields.items()
        }
    return out


def device_at(
    http: httpx.Client | TestClient, client: SyncClient, cursor: int, records: Records
) -> SyncClient:
    """A device signed in with ``client``'s token holding ``records`` up to ``cursor`` (what a
    device that loaded a snapshot holds)."""
    device = SyncClient.__new__(SyncClient)
    device.http, device.headers, device.cursor, device.records = (
        http,
        client.headers,
        cursor,
        dict(records),
    )
    return device


def full_pull(http: httpx.Client | TestClient, client: SyncClient, limit: int = 7) -> SyncClient:
    """A fresh pull from 0 with ``client``'s token (small pages: several round trips)."""
    fresh = device_at(http, client, 0, {})
    fresh.pull(limit=limit)
    return fresh


def assert_snapshot_equals_pull(
    http: httpx.Client | TestClient, client: SyncClient, path: Path
) -> tuple[int, Records]:
    cursor = take_snapshot(http, client, path)
    pulled = full_pull(http, client)
    snap = read_snapshot(path)
    for entity in ENTITIES:
        assert {i for t, i in snap if t == entity} == {
            i for t, i in pulled.records if t == entity
        }, entity
    assert _normal(snap) == _normal(pulled.records)
    assert cursor == pulled.cursor
    return cursor, snap


def _ids(records: Records, entity: str) -> set[str]:
    return {i for t, i in records if t == entity}


def test_snapshot_holds_exactly_what_a_full_pull_returns(
    client: TestClient, engine: Engine, people: dict[str, uuid.UUID], tmp_path: Path
) -> None:
    company = Company(client, engine)
    owned, catalog = company.owned, company.catalog
    seen: dict[str, Records] = {}
    for name in ("ann", "mia", "carl", "root"):
        user = company.root if name == "root" else company.clients[name]
        _cursor, seen[name] = assert_snapshot_equals_pull(client, user, tmp_path / f"{name}.db")

    visible = {
        "ann": {"ann"},
        "mia": {"mia", "ann", "bob"},
        "carl": {"carl"},
        "root": {"mia", "ann", "bob", "carl"},
    }
    for name, records in seen.items():
        # the public catalog, users included, reaches everyone
        for entity, short in (
            ("team", "team"),
            ("sales_stage", "stage"),
            ("product", "product"),
            ("price_list", "price_list"),
            ("price", "price"),
        ):
            assert catalog[short] in _ids(records, entity), (name, entity)
        assert catalog["gone_team"] not in _ids(records, "team"), name
        assert {str(people[p]) for p in people} <= _ids(records, "user")
        for owner, ids in owned.items():
            for short, record_id in ids.items():
                entity = short.removeprefix("gone_")
                present = record_id in _ids(records, entity)
                if short.startswith("gone_"):
                    assert not present, f"{name} got {owner}'s tombstoned {entity}"
                else:
                    assert present == (owner in visible[name]), (name, owner, entity)
        assert (company.orphan in _ids(records, "account")) == (name == "root")
        assert (company.quota in _ids(records, "quota")) == (name in ("ann", "mia", "root"))

    # values arrive as written (current state: the later edit included)
    account = seen["ann"][("account", owned["ann"]["account"])]
    assert (account["name"], account["region"], account["credit_limit"]) == (
        "Müller & Söhne ann",
        "Region ann",
        "250000.5",
    )
    contact = seen["ann"][("contact", owned["ann"]["contact"])]
    assert contact["last_contacted_at"] == "2026-11-24T08:15:30.123456Z"
    assert contact["birthday"] == "1980-02-29"


def test_changes_after_the_snapshot_come_in_the_next_pull(
    client: TestClient,
    engine: Engine,
    settings: Settings,
    people: dict[str, uuid.UUID],
    tmp_path: Path,
) -> None:
    company = Company(client, engine)
    mia = company.clients["mia"]
    cursor, snap = assert_snapshot_equals_pull(client, mia, tmp_path / "mia.db")

    ann, bob = company.clients["ann"], company.clients["bob"]
    new_account = _hex()
    _push_ok(
        ann,
        {"t": "account", "id": new_account, "f": {"name": "Later", "owner_id": str(ann.user_id)}},
    )
    _push_ok(
        ann,
        {
            "t": "account",
            "id": company.owned["ann"]["account"].replace("-", ""),
            "f": {"phone": "999"},
        },
    )
    _push_ok(
        ann, {"t": "contact", "id": company.owned["ann"]["contact"].replace("-", ""), "d": True}
    )
    # bob moves out of mia's team: his records leave her scope
    admin.set_manager(engine, username="bob", manager="carl")
    _push_ok(
        bob, {"t": "lead", "id": company.owned["bob"]["lead"].replace("-", ""), "f": {"title": "x"}}
    )

    # a device that loaded the snapshot pulls on from its cursor
    device = device_at(client, mia, cursor, snap)
    device.pull(limit=3)
    reference = full_pull(client, mia)
    assert device.cursor == reference.cursor
    assert _normal(device.records) == _normal(reference.records)
    assert ("account", _uuid(new_account)) in device.records
    assert device.records[("account", company.owned["ann"]["account"])]["phone"] == "999"
    assert ("contact", company.owned["ann"]["contact"]) not in device.records
    assert ("lead", company.owned["bob"]["lead"]) not in device.records
    assert ("account", company.owned["bob"]["account"]) not in device.records

    # and a new snapshot now matches the pull again
    assert_snapshot_equals_pull(client, mia, tmp_path / "mia2.db")


def test_snapshot_refuses_the_same_callers_as_pull(
    client: TestClient, engine: Engine, settings: Settings, people: dict[str, uuid.UUID]
) -> None:
    ann, bob, carl = (
        SyncClient(client, "ann"),
        SyncClient(client, "bob"),
        SyncClient(client, "carl"),
    )

    def both(headers: dict[str, str]) -> list[tuple[int, str]]:
        answers = [
            client.post("/v1/pull", json={"cursor": 0}, headers=headers),
            client.post("/v1/snapshot", content=b"{}", headers=headers),
        ]
        return [(a.status_code, a.json()["code"]) for a in answers]

    no_token = {k: v for k, v in ann.headers.items() if k != "Authorization"}
    assert both(no_token) == [(401, "unauthenticated")] * 2
    assert both({**no_token, "Authorization": "Bearer junk"}) == [(401, "unauthenticated")] * 2
    assert admin.revoke_devices(engine, device_id=ann.device_id) == 1
    assert both(ann.headers) == [(401, "device_revoked")] * 2
    assert client.post("/v1/logout", headers=bob.headers).status_code == 204
    assert both(bob.headers) == [(401, "unauthenticated")] * 2
    # a wrong schema: the client must be updated, whatever the token
    stale = {**carl.headers, "X-CRM-Schema": "0123456789abcdef"}
    assert both(stale) == [(409, "update_required")] * 2
    answer = client.post("/v1/snapshot", content=b"{}", headers=stale).json()
    assert answer["server_schema"] == HEADERS["X-CRM-Schema"]
    # carl is still fine, until head office disables his account
    assert client.post("/v1/snapshot", content=b"{}", headers=carl.headers).status_code == 200
    root = SyncClient(client, "root")
    _push_ok(root, {"t": "user", "id": people["carl"].hex, "f": {"active": False}})
    assert both(carl.headers) == [(401, "account_disabled")] * 2

    expired = make_settings(settings.database_url, token_ttl_days=-1)
    with TestClient(create_app(expired), raise_server_exceptions=False) as other:
        late = SyncClient(other, "mia")
        answers = [
            other.post("/v1/pull", json={"cursor": 0}, headers=late.headers),
            other.post("/v1/snapshot", content=b"{}", headers=late.headers),
        ]
        assert [(a.status_code, a.json()["code"]) for a in answers] == [(401, "token_expired")] * 2


def test_snapshot_stores_amounts_as_a_pulled_page_stores_them(
    client: TestClient, engine: Engine, people: dict[str, uuid.UUID], tmp_path: Path
) -> None:
    """A pulling client stores an amount as it travels ("1200", "0.19"); the snapshot must
    store the same text, or the same record reads differently depending on how the laptop
    synced: the global search shows an opportunity as "1200.00 EUR" or, from PostgreSQL's
    NUMERIC(24, 6), "1200.000000 EUR" instead of "1200 EUR", and the catalog editor shows a
    tax rate of "0.190000"."""
    company = Company(client, engine)
    mia = company.clients["mia"]
    path = tmp_path / "mia.db"
    take_snapshot(client, mia, path)
    pulled = full_pull(client, mia).records
    stored: dict[tuple[str, str, str], Any] = {}
    expected: dict[tuple[str, str, str], Any] = {}
    with closing(sqlite3.connect(path)) as db:
        for entity in ENTITIES:
            table = table_of(entity)
            money = [c.name for c in table.columns if isinstance(c.type, Money)]
            if not money:
                continue
            names = ", ".join(f'"{n}"' for n in money)
            for record_id, *values in db.execute(f'SELECT id, {names} FROM "{table.name}"'):
                key = (entity, str(uuid.UUID(record_id)))
                for name, value in zip(money, values, strict=True):
                    stored[(*key, name)] = value
                    expected[(*key, name)] = pulled[key][name]
    assert stored and stored == expected


def test_snapshots_taken_during_pushes_skip_nothing(
    server: ServerProcess, engine: Engine, people: dict[str, uuid.UUID], tmp_path: Path
) -> None:
    """Snapshots taken while other devices' pushes commit (two server workers): each one plus
    a pull from its cursor ends exactly where a full pull does, so a record committed around
    the moment of the snapshot is never lost between the two."""
    errors: list[BaseException] = []

    def pusher(username: str) -> None:
        try:
            with httpx.Client(base_url=server.url, timeout=30) as http:
                writer = SyncClient(http, username)
                previous: str | None = None
                for i in range(40):
                    record = _hex()
                    changes: list[dict[str, Any]] = [
                        {
                            "t": "account",
                            "id": record,
                            "f": {"name": f"{username} {i}", "owner_id": str(writer.user_id)},
                        }
                    ]
                    if previous is not None:
                        changes.append({"t": "account", "id": previous, "f": {"phone": str(i)}})
                    _push_ok(writer, *changes)
                    previous = record
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    threads = [threading.Thread(target=pusher, args=(name,)) for name in ("ann", "bob")]
    snapshots: list[tuple[int, Records]] = []
    with httpx.Client(base_url=server.url, timeout=30) as http:
        mia = SyncClient(http, "mia")
        for thread in threads:
            thread.start()
        while any(thread.is_alive() for thread in threads) or not snapshots:
            path = tmp_path / f"s{len(snapshots)}.db"
            snapshots.append((take_snapshot(http, mia, path), read_snapshot(path)))
        for thread in threads:
            thread.join()
        assert not errors, errors
        reference = full_pull(http, mia, limit=50)
        assert len(_ids(reference.records, "account")) == 80
        cursors = [cursor for cursor, _records in snapshots]
        assert cursors == sorted(cursors)
        for cursor, records in snapshots:
            device = device_at(http, mia, cursor, records)
            device.pull(limit=9)
            assert device.cursor == reference.cursor
            assert _normal(device.records) == _normal(reference.records), cursor
    assert len(snapshots) > 1


def push_accounts(client: SyncClient, count: int, prefix: str) -> list[str]:
    """``count`` accounts owned by ``client``'s user, 1000 per mutation; returns their ids."""
    ids = [_hex() for _ in range(count)]
    owner = str(client.user_id)
    for start in range(0, count, 1000):
        _push_ok(
            client,
            *(
                {
                    "t": "account",
                    "id": record,
                    "f": {"name": f"{prefix} {start + i}", "owner_id": owner},
                }
                for i, record in enumerate(ids[start : start + 1000])
            ),
        )
    return [_uuid(record) for record in ids]


def test_a_scope_larger_than_one_batch(
    client: TestClient, people: dict[str, uuid.UUID], tmp_path: Path
) -> None:
    """More rows than the builders' batch of 5,000: none lost at a batch boundary."""
    ann = SyncClient(client, "ann")
    ids = push_accounts(ann, 5_003, "Bulk")
    _cursor, records = assert_snapshot_equals_pull(client, ann, tmp_path / "ann.db")
    assert _ids(records, "account") == set(ids)


def test_snapshot_builds_are_bounded_and_leave_no_files(
    client: TestClient, engine: Engine, people: dict[str, uuid.UUID], tmp_path: Path
) -> None:
    """A morning of new laptops: one worker builds at most ``concurrency`` snapshots at once
    and refuses more at once with 503 busy (clients retry; a waiting request would hold one of
    the worker's request threads), a slot is free again once its file was sent and deleted,
    and files a killed worker left behind are removed when a worker starts."""
    folder = tmp_path / "snapshots"
    folder.mkdir()
    left_behind = folder / "crm-snapshot-killed.sqlite3"
    left_behind.write_bytes(b"\0" * 1024)
    old = time.time() - STALE_SECONDS - 60
    os.utime(left_behind, (old, old))
    building_elsewhere = folder / "crm-snapshot-running.sqlite3"
    building_elsewhere.write_bytes(b"\0" * 1024)
    unrelated = folder / "notes.txt"
    unrelated.write_text("not ours")
    os.utime(unrelated, (old, old))

    service = SnapshotService(engine, folder, concurrency=1)
    assert not left_behind.exists()
    assert building_elsewhere.exists() and unrelated.exists()

    ann = SyncClient(client, "ann")
    token = ann.headers["Authorization"].removeprefix("Bearer ")
    built = service.build(token)
    assert built.path.parent == folder and built.records > 0
    # Its file not sent yet: the one slot is taken, the next request is told to come back.
    with pytest.raises(Busy):
        service.build(token)
    service.finished(built)
    assert not built.path.exists()
    again = service.build(token)
    service.finished(again)

    # Through the API: the file is gone once the answer was sent.
    before = set(Path(client.app.state.services.snapshots.directory).glob("crm-snapshot-*"))
    response = client.post("/v1/snapshot", content=b"{}", headers=ann.headers)
    assert response.status_code == 200 and response.content.startswith(b"SQLite format 3")
    after = set(Path(client.app.state.services.snapshots.directory).glob("crm-snapshot-*"))
    assert after <= before
