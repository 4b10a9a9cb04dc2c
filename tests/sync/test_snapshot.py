"""A new laptop's first sync through the server's snapshot, end to end.

Real server process, real client profiles: a laptop that loads the snapshot must end up with
exactly what a laptop pulling page by page ends up with (records, values, search), go on with
ordinary pulls from the snapshot's cursor, never lose a pending local edit to it, fall back to
paging when the file is unusable, and, cut short, be loaded again by the next round.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import httpx
import pytest
from server.conftest import PASSWORD, ServerProcess, SyncClient
from server.test_snapshot import push_accounts, seed_catalog, seed_owner, table_of
from sqlalchemy import select, text

from crm_desktop.config import Profile
from crm_desktop.models import ENTITIES, Account, Lead
from crm_desktop.models.base import Money
from crm_desktop.store import Store, open_store
from crm_desktop.store.search import index_rows, search
from crm_desktop.sync import snapshot
from crm_desktop.sync.engine import (
    LocalDataWiped,
    SyncCancelled,
    SyncEngine,
    SyncError,
    SyncProgress,
    SyncReport,
)
from crm_desktop.sync.transport import Transport
from crm_server import admin

from .conftest import Company

#: (entity, id) -> column -> value as the client's column types read it.
Records = dict[tuple[str, uuid.UUID], dict[str, Any]]


class CorruptingTransport(Transport):
    """The real transport, but the snapshot file it receives is damaged on arrival (the server
    cannot be made to send a bad file). ``damage`` rewrites the downloaded bytes."""

    def __init__(self, url: str, damage: Callable[[bytes], bytes]) -> None:
        super().__init__(url)
        self.damage = damage
        self.snapshots = 0

    def snapshot(self, destination: Path, *args: Any, **kwargs: Any) -> int | None:
        cursor = super().snapshot(destination, *args, **kwargs)
        self.snapshots += 1
        destination.write_bytes(self.damage(destination.read_bytes()))
        return cursor


class Laptop:
    """A client profile signed in to the test server but not synced yet."""

    def __init__(
        self,
        directory: Path,
        server_url: str,
        username: str,
        *,
        use_snapshot: bool = True,
        transport: Transport | None = None,
    ) -> None:
        self.profile = Profile(directory).ensure()
        self.store: Store = open_store(self.profile.database_path)
        self.transport = transport or Transport(server_url)
        self.engine = SyncEngine(self.store.path, self.transport, use_snapshot=use_snapshot)
        response = self.engine.sign_in(
            server_url=server_url, username=username, password=PASSWORD, device_name="test"
        )
        self.user_id = response.user_id

    @property
    def directory(self) -> Path:
        return self.store.path.parent

    def sync(self, **kwargs: Any) -> SyncReport:
        return self.engine.sync(**kwargs)

    def records(self) -> Records:
        """Every row of every synced table (tombstones included), read through the client's
        column types, so amounts compare as numbers and timestamps as instants."""
        out: Records = {}
        with self.store.sessions() as session:
            for entity in ENTITIES:
                table = table_of(entity)
                for row in session.execute(select(table)):
                    values = dict(row._mapping)
                    out[(entity, values["id"])] = values
        return out

    def raw(self) -> dict[tuple[str, str], tuple[Any, ...]]:
        """Stored values of every column but amounts (whose decimal text may differ in
        trailing zeros): what queries on the raw storage (ids, dates, flags) depend on."""
        out: dict[tuple[str, str], tuple[Any, ...]] = {}
        with closing(sqlite3.connect(self.store.path)) as db:
            for entity in ENTITIES:
                table = table_of(entity)
                names = [c.name for c in table.columns if not isinstance(c.type, Money)]
                columns = ", ".join(f'"{n}"' for n in names)
                for row in db.execute(f'SELECT {columns} FROM "{table.name}"'):
                    out[(entity, row[0])] = row
        return out

    def ids(self, entity: str) -> set[uuid.UUID]:
        return {i for t, i in self.records() if t == entity}

    def cursor(self) -> int:
        return self.engine.state().cursor

    def find(self, query: str) -> set[uuid.UUID]:
        with self.store.sessions() as session:
            return {hit.id for hit in search(session, query)}

    def hits(self, query: str) -> set[tuple[str, uuid.UUID, str, str]]:
        """What the global search shows: entity, record, title and subtitle of each hit."""
        with self.store.sessions() as session:
            return {(h.entity, h.id, h.title, h.subtitle) for h in search(session, query)}

    def leftovers(self) -> list[Path]:
        return sorted(self.directory.glob(".snapshot-*"))

    def close(self) -> None:
        self.engine.close()
        self.transport.close()
        self.store.dispose()


@pytest.fixture
def laptops(tmp_path: Path, server: ServerProcess) -> Iterator[Callable[..., Laptop]]:
    """``laptops(username, use_snapshot=..., transport=...)``: a new unsynced profile."""
    made: list[Laptop] = []

    def make(username: str, **kwargs: Any) -> Laptop:
        laptop = Laptop(tmp_path / f"laptop{len(made)}", server.url, username, **kwargs)
        made.append(laptop)
        return laptop

    yield make
    for laptop in made:
        assert laptop.leftovers() == [], "snapshot files left in the profile directory"
        laptop.close()


@pytest.fixture
def http(server: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url) as client:
        yield client


class Data:
    """Records of every entity for the company (catalog by an admin), some tombstoned."""

    def __init__(self, company: Company, http: httpx.Client) -> None:
        company.add("root", role="admin")
        self.company = company
        self.clients = {
            short: SyncClient(http, company.names[short])
            for short in ("root", "mia", "ann", "bob", "carl")
        }
        catalog = seed_catalog(self.clients["root"])
        self.owned = {
            short: {k: uuid.UUID(v) for k, v in seed_owner(self.clients[short], catalog, t).items()}
            for short, t in (
                ("mia", f"m{company.tag}x"),
                ("ann", f"a{company.tag}x"),
                ("bob", f"b{company.tag}x"),
                ("carl", f"c{company.tag}x"),
            )
        }

    def tag(self, short: str) -> str:
        return f"{short[0]}{self.company.tag}x"


@pytest.fixture
def data(company: Company, http: httpx.Client) -> Data:
    return Data(company, http)


def _live(records: Records) -> Records:
    return {key: values for key, values in records.items() if not values["deleted"]}


def assert_same(laptop: Laptop, reference: Laptop) -> None:
    """Same records, same values, same stored form, same cursor."""
    assert laptop.records() == reference.records()
    assert laptop.raw() == reference.raw()
    assert laptop.cursor() == reference.cursor()


@pytest.mark.parametrize("user", ["ann", "mia"])
def test_first_sync_by_snapshot_ends_like_a_paged_first_sync(
    laptops: Callable[..., Laptop], data: Data, user: str
) -> None:
    name = data.company.names[user]
    fast, paged = laptops(name), laptops(name, use_snapshot=False)
    report = fast.sync()
    paged.sync()
    assert report.pulled > 0 and report.cursor == fast.cursor() > 0
    assert_same(fast, paged)

    records = _live(fast.records())
    for owner, ids in data.owned.items():
        mine = owner == user or (user == "mia" and owner in ("ann", "bob"))
        for short, record_id in ids.items():
            entity = short.removeprefix("gone_")
            expected = mine and not short.startswith("gone_")
            assert ((entity, record_id) in records) == expected, (owner, short)
    account = records[("account", data.owned[user]["account"])]
    assert account["name"] == f"Müller & Söhne {data.tag(user)}"
    assert account["notes"] == "first line\nsecond line — ✓"
    assert str(account["credit_limit"]) in ("250000.50", "250000.5")
    assert account["region"] == f"Region {data.tag(user)}"
    assert data.company.ids[user] in fast.ids("user")


def test_search_finds_records_loaded_from_the_snapshot(
    laptops: Callable[..., Laptop], data: Data
) -> None:
    fast, paged = (
        laptops(data.company.names["mia"]),
        laptops(data.company.names["mia"], use_snapshot=False),
    )
    fast.sync()
    paged.sync()
    ann, tag = data.owned["ann"], data.tag("ann")
    phone = next(
        values["phone"]
        for (entity, record_id), values in fast.records().items()
        if entity == "account" and record_id == ann["account"]
    )
    digits = "".join(c for c in phone if c.isdigit())
    queries = {
        f"Müller Söhne {tag}": ann["account"],  # names, with umlauts
        f"muller {tag}": ann["account"],  # folded
        f"info@{tag}.example": ann["account"],  # e-mail
        f"zoe@{tag}.example": ann["contact"],
        f"Øster{tag}": ann["contact"],
        digits[-6:]: ann["account"],  # phone digits
        "555 0100": ann["contact"],  # mobile, typed with a space
        f"Lead Co {tag}": ann["lead"],
        f"Deal {tag}": ann["opportunity"],
    }
    for query, record_id in queries.items():
        found = fast.find(query)
        assert record_id in found, query
        assert found == paged.find(query), query
    # nothing tombstoned or out of scope is findable
    assert not fast.find("Gone") & {data.owned[o]["gone_account"] for o in data.owned}
    assert data.owned["carl"]["account"] not in fast.find(f"Müller Söhne {data.tag('carl')}")


def test_a_colleagues_later_edit_arrives_by_the_next_sync(
    laptops: Callable[..., Laptop], data: Data
) -> None:
    ann = laptops(data.company.names["ann"])
    ann.sync()
    first = ann.cursor()
    mia = data.clients["mia"]  # her manager edits her account, adds and deletes records
    account, contact = data.owned["ann"]["account"], data.owned["ann"]["contact"]
    added = uuid.uuid4()
    mia.pull()  # her edits are made on what she has seen (no concurrent edit)
    results = mia.push(
        mia.mutation(
            {"t": "account", "id": account.hex, "f": {"name": "Renamed GmbH", "phone": "+1 777"}},
            {
                "t": "account",
                "id": added.hex,
                "f": {"name": "Brand New", "owner_id": str(ann.user_id)},
            },
            {"t": "contact", "id": contact.hex, "d": True},
        )
    )
    assert [r["status"] for r in results] == ["applied"]
    report = ann.sync()
    assert ann.cursor() > first and report.pulled >= 2
    records = _live(ann.records())
    assert records[("account", account)]["name"] == "Renamed GmbH"
    assert ("account", added) in records and ("contact", contact) not in records
    assert account in ann.find("Renamed") and account not in ann.find("Müller")
    assert contact not in ann.find(f"Øster{data.tag('ann')}")
    # and it matches a laptop that did it all page by page
    paged = laptops(data.company.names["ann"], use_snapshot=False)
    paged.sync()
    assert _live(ann.records()) == _live(paged.records())


def test_second_sync_pulls_changes_instead_of_reloading_a_snapshot(
    laptops: Callable[..., Laptop], data: Data, server_db: Any
) -> None:
    """A snapshot holds no tombstones and no removals: a laptop that already synced must get
    deletes and scope exits from an ordinary pull, or they would never reach it."""
    mia = laptops(data.company.names["mia"])
    mia.sync()
    bob = data.clients["bob"]
    gone = data.owned["bob"]["opportunity"]
    assert (
        bob.push(bob.mutation({"t": "opportunity", "id": gone.hex, "d": True}))[0]["status"]
        == "applied"
    )
    mia.sync()
    assert ("opportunity", gone) not in _live(mia.records())
    # ann moves to carl's team: her records leave mia's scope
    admin.set_manager(
        server_db, username=data.company.names["ann"], manager=data.company.names["carl"]
    )
    mia.sync()
    ids = set(_live(mia.records()))
    for short, record_id in data.owned["ann"].items():
        assert (short.removeprefix("gone_"), record_id) not in ids, short
    paged = laptops(data.company.names["mia"], use_snapshot=False)
    paged.sync()
    assert _live(mia.records()) == _live(paged.records())


def _offline_account(laptop: Laptop, name: str) -> uuid.UUID:
    # Before the first sync the profile has no users yet (owner ids reference them), so the
    # admin's offline records are made without an owner.
    with laptop.store.sessions.begin() as session:
        account = Account(name=name, phone="+44 20 7946 0000")
        session.add(account)
        lead = Lead(first_name="Off", last_name="Line", full_name=f"Off Line {name}")
        session.add(lead)
        session.flush()
        return account.id


def test_pending_offline_edit_before_the_first_sync_reaches_the_server(
    laptops: Callable[..., Laptop], data: Data
) -> None:
    root = data.company.names["root"]
    laptop = laptops(root)
    account = _offline_account(laptop, f"Offline {data.company.tag}")
    report = laptop.sync()
    assert report.pushed >= 1 and report.rejected == 0
    assert ("account", account) in _live(laptop.records())
    other = laptops(root, use_snapshot=False)
    other.sync()
    assert ("account", account) in _live(other.records())
    laptop.sync()
    assert _live(laptop.records()) == _live(other.records())
    assert account in laptop.find(f"Offline {data.company.tag}")


def test_an_edit_made_while_the_first_sync_runs_is_not_overwritten_by_the_snapshot(
    laptops: Callable[..., Laptop], data: Data
) -> None:
    root = data.company.names["root"]
    laptop = laptops(root)
    account = _offline_account(laptop, f"Racing {data.company.tag}")
    edited = threading.Event()

    def progress(step: SyncProgress) -> None:
        # The user edits the account after the push went out, as the snapshot download
        # starts: the snapshot holds the pushed phone, the store a newer, pending one.
        if step.phase == "download" and not edited.is_set():
            edited.set()
            with laptop.store.sessions.begin() as session:
                record = session.get(Account, account)
                assert record is not None
                record.phone = "+44 20 7946 9999"

    laptop.sync(progress=progress)
    assert edited.is_set()
    assert laptop.records()[("account", account)]["phone"] == "+44 20 7946 9999"
    laptop.sync()  # pushes the edit
    other = laptops(root, use_snapshot=False)
    other.sync()
    assert other.records()[("account", account)]["phone"] == "+44 20 7946 9999"
    laptop.sync()
    assert _live(laptop.records()) == _live(other.records())


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(lambda body: b"not a database" * 100, id="garbage"),
        pytest.param(lambda body: body[: len(body) // 2], id="truncated"),
        pytest.param(lambda body: b"", id="empty"),
        pytest.param(
            lambda body: body[:8192] + bytes(len(body) - 8192), id="zeroed-after-two-pages"
        ),
    ],
)
def test_a_damaged_snapshot_falls_back_to_paged_pull(
    laptops: Callable[..., Laptop],
    data: Data,
    server: ServerProcess,
    damage: Callable[[bytes], bytes],
) -> None:
    name = data.company.names["mia"]
    transport = CorruptingTransport(server.url, damage)
    laptop = laptops(name, transport=transport)
    laptop.sync()
    assert transport.snapshots == 1
    paged = laptops(name, use_snapshot=False)
    paged.sync()
    assert_same(laptop, paged)
    assert data.owned["ann"]["account"] in laptop.find(f"Müller {data.tag('ann')}")


@pytest.mark.parametrize(
    ("phase", "nth"),
    [("download", 1), ("pull", 1), ("pull", -1)],
    ids=["downloading", "after-first-copy", "after-last-copy"],
)
def test_a_cancelled_snapshot_is_loaded_again_by_the_next_sync(
    laptops: Callable[..., Laptop], data: Data, phase: str, nth: int
) -> None:
    """Cancelled while the snapshot downloads (nothing of it stays), or while it is being
    loaded in its short transactions (after its first table was copied, or its last, before
    search is indexed: the cursor stays 0). The next sync loads it again over what was copied
    and ends exactly like a paged laptop, every record found once."""
    name = data.company.names["mia"]
    paged = laptops(name, use_snapshot=False)
    paged.sync()
    # nth = -1: once every record is copied (the load reports records copied so far).
    everything = len(paged.records())
    laptop = laptops(name)
    cancel = threading.Event()
    phases: list[str] = []

    def progress(step: SyncProgress) -> None:
        phases.append(step.phase)
        if "download" not in phases or step.phase != phase:
            return
        if phases.count(phase) == nth or (nth == -1 and step.done >= everything):
            cancel.set()

    with pytest.raises(SyncCancelled):
        laptop.sync(progress=progress, cancel=cancel)
    assert cancel.is_set() and phases[-1] == phase
    assert laptop.cursor() == 0
    if phase == "download":
        assert laptop.records() == {}
    assert laptop.find(f"Müller {data.tag('ann')}") == set()

    laptop.sync()
    paged.sync()
    assert_same(laptop, paged)
    assert data.owned["ann"]["account"] in laptop.find(f"Müller {data.tag('ann')}")
    with laptop.store.engine.connect() as connection:
        entries, records = connection.execute(
            text("SELECT count(*), count(DISTINCT ref) FROM search_doc")
        ).one()
    assert entries == records


def test_search_results_read_the_same_as_after_a_paged_sync(
    laptops: Callable[..., Laptop], data: Data
) -> None:
    """Titles and subtitles of global search hits (an opportunity's shows its amount) do not
    depend on how the laptop synced: "Deal …  1200 EUR", not "1200.00 EUR"."""
    name = data.company.names["mia"]
    fast, paged = laptops(name), laptops(name, use_snapshot=False)
    fast.sync()
    paged.sync()
    for short in ("mia", "ann", "bob"):
        tag = data.tag(short)
        for query in (f"Deal {tag}", f"Müller {tag}", f"zoe@{tag}.example", f"Lead Co {tag}"):
            assert fast.hits(query), query
            assert fast.hits(query) == paged.hits(query), query


@pytest.mark.parametrize("use_snapshot", [True, False], ids=["snapshot", "paged"])
def test_a_device_revoked_before_its_first_sync_is_wiped_either_way(
    laptops: Callable[..., Laptop], data: Data, server_db: Any, use_snapshot: bool
) -> None:
    laptop = laptops(data.company.names["ann"], use_snapshot=use_snapshot)
    device_id = laptop.engine.state().device_id
    assert admin.revoke_devices(server_db, device_id=device_id) == 1
    with pytest.raises(LocalDataWiped):
        laptop.sync()
    assert laptop.records() == {} and laptop.cursor() == 0


def test_a_crashed_download_left_behind_is_cleaned_up(
    laptops: Callable[..., Laptop], data: Data
) -> None:
    laptop = laptops(data.company.names["ann"])
    stale = laptop.directory / f".snapshot-{uuid.uuid4().hex}.sqlite3"
    stale.write_bytes(b"half a download")
    two_hours_ago = time.time() - 7200
    os.utime(stale, (two_hours_ago, two_hours_ago))
    laptop.sync()
    assert not stale.exists()
    assert data.owned["ann"]["account"] in laptop.ids("account")


def test_a_scope_larger_than_one_batch_is_searchable(
    laptops: Callable[..., Laptop], company: Company, http: httpx.Client
) -> None:
    """More records than the loader indexes per batch (5,000): every one is findable."""
    ann = SyncClient(http, company.names["ann"])
    prefix = f"Bulk{company.tag}x"
    ids = [uuid.UUID(i) for i in push_accounts(ann, 5_003, prefix)]
    fast = laptops(company.names["ann"])
    fast.sync()
    assert fast.ids("account") == set(ids)
    for i in (0, 4_999, 5_000, 5_002):
        assert fast.find(f"{prefix} {i}") >= {ids[i]}, i


def test_entries_written_meanwhile_by_another_process_are_replaced_not_duplicated(
    laptops: Callable[..., Laptop], data: Data
) -> None:
    """Search entries another writer added after this load looked for existing ones (two
    loads into one profile are kept apart by a lock; this is the net under it) are replaced
    (refs are unique), and the load completes with every record found once."""
    name = data.company.names["mia"]
    laptop = laptops(name)
    path = laptop.directory / ".snapshot-test.sqlite3"
    cursor = laptop.transport.snapshot(path)
    assert cursor is not None
    with closing(sqlite3.connect(path)) as db:
        copy_steps = sum(
            1
            for entity in ENTITIES
            if db.execute(f'SELECT 1 FROM "{table_of(entity).name}" LIMIT 1').fetchone()
        )
        account = db.execute("SELECT id, name FROM account LIMIT 1").fetchone()
    calls = 0

    def another_process_indexes_an_account() -> None:
        # Called before each write transaction: copies, tombstones, then the first batch of
        # search entries, right before which the other process writes its entry.
        nonlocal calls
        calls += 1
        if calls == copy_steps + 2:
            other = open_store(laptop.store.path)
            with other.engine.begin() as connection:
                index_rows(connection, "account", [(account[0], account[1], *[None] * 5)])
            other.dispose()

    engine = laptop.engine._engine  # the sync engine's own connections (foreign keys off)
    try:
        loaded = snapshot.load(engine, path, cursor, checkpoint=another_process_indexes_an_account)
    finally:
        path.unlink(missing_ok=True)  # the load moves it aside while it runs
    assert loaded and calls > copy_steps + 2
    with laptop.store.engine.connect() as connection:
        entries, records = connection.execute(
            text("SELECT count(*), count(DISTINCT ref) FROM search_doc")
        ).one()
    assert entries == records
    assert uuid.UUID(account[0]) in laptop.find(account[1])
    laptop.sync()
    paged = laptops(name, use_snapshot=False)
    paged.sync()
    assert_same(laptop, paged)


@pytest.mark.parametrize("then", ["snapshot-again", "paged-from-zero"])
def test_a_record_that_leaves_scope_after_a_load_was_cut_short_does_not_stay(
    laptops: Callable[..., Laptop], data: Data, then: str
) -> None:
    """Ann's first sync is cut short once every record is copied (cursor still 0). Her manager
    then hands one of her accounts to Bob. Whether the next round loads a snapshot again or
    (a local edit is pending) pulls page by page from 0, the account and everything hanging
    off it leave Ann's laptop, as on a laptop that synced in one go."""
    name = data.company.names["ann"]
    reference = laptops(name, use_snapshot=False)
    reference.sync()
    everything = len(reference.records())
    laptop = laptops(name)
    cancel = threading.Event()

    def progress(step: SyncProgress) -> None:
        if step.phase == "pull" and step.done >= everything:
            cancel.set()

    with pytest.raises(SyncCancelled):
        laptop.sync(progress=progress, cancel=cancel)
    account = data.owned["ann"]["account"]
    assert laptop.cursor() == 0 and ("account", account) in laptop.records()

    mia = data.clients["mia"]
    mia.pull()
    handed_over = mia.push(
        mia.mutation(
            {"t": "account", "id": account.hex, "f": {"owner_id": str(data.company.ids["bob"])}}
        )
    )
    assert [r["status"] for r in handed_over] == ["applied"]
    if then == "paged-from-zero":
        _offline_account(laptop, f"Offline {data.tag('ann')}")
    laptop.sync()
    laptop.sync()
    assert ("account", account) not in laptop.records()
    assert account not in laptop.find(f"Müller {data.tag('ann')}")
    fresh = laptops(name, use_snapshot=False)
    fresh.sync()
    assert set(_live(laptop.records())) - set(_live(fresh.records())) <= {
        (entity, record)
        for entity, record in _live(laptop.records())
        if entity in ("account", "lead")
    }  # only the offline records made on this laptop (paged-from-zero) are extra
    assert not (laptop.directory / snapshot.PARTIAL_LOAD).exists()


class _CallsWhileChecked(threading.Event):
    """A cancel flag that is never set but runs ``hook`` the ``nth`` time the engine checks it
    (the engine checks before each write transaction of a snapshot load)."""

    def __init__(self, nth: int, hook: Callable[[], None]) -> None:
        super().__init__()
        self.nth, self.hook, self.checks = nth, hook, 0

    def is_set(self) -> bool:
        self.checks += 1
        if self.checks == self.nth:
            self.hook()
        return False


def test_a_second_process_does_not_load_a_snapshot_over_a_running_load(
    laptops: Callable[..., Laptop], data: Data, server: ServerProcess, monkeypatch: Any
) -> None:
    """The app and ``crm sync`` on one profile: while one loads its first snapshot, the other
    waits for it (here: gives up after a short wait and says so) instead of loading a snapshot
    taken at another cursor over it; afterwards it just pulls on."""
    monkeypatch.setattr(snapshot, "LOCK_WAIT_SECONDS", 0.2)
    name = data.company.names["mia"]
    app = laptops(name)
    assert app.transport.token is not None
    cli = SyncEngine(app.store.path, Transport(server.url, token=app.transport.token))
    refused: list[str] = []

    def the_cli_syncs_too() -> None:
        with pytest.raises(SyncError, match="loading its first snapshot") as raised:
            cli.sync()
        refused.append(str(raised.value))

    try:
        app.sync(cancel=_CallsWhileChecked(4, the_cli_syncs_too))
        assert refused and app.cursor() > 0
        report = cli.sync()
        assert report.pulled == 0  # nothing reloaded: the app's load is complete
    finally:
        cli.close()
        cli.transport.close()
    paged = laptops(name, use_snapshot=False)
    paged.sync()
    assert_same(app, paged)
