"""Sync benchmarks against a real ``crm-server serve`` process on loopback.

Prints, against the targets of DESIGN.md:

* initial sync of 250k records (accounts, contacts, opportunities, activities) into an empty
  profile (a first sync loads the server's snapshot), in records per second (target >=
  50,000/s) until the records are committed and searchable, and until the background
  checkpoint has folded the WAL into the database file; with the CPU time the client and the
  server each spent per record (both share this machine's cores, as do other jobs: the CPU
  figures are the steadier ones when the machine is busy);
* the paged protocol's client side alone (what a first sync costs without the snapshot, and
  what a big catch-up after weeks offline costs): every page of a full pull, fetched once
  beforehand as the server sent them, applied to a fresh profile through the engine (JSON
  parsing included), so the server's share and the network are out of the figure;
* a no-op sync round trip, median in ms (target <= 10 ms);
* pushing 100 edited records (100 transactions, one round), in ms (target <= 150 ms), and
  1,000 (target <= 1 s);
* one change made on another device, applied by a pull: upsert (target <= 3 ms) and delete
  (target <= 5 ms), the page's write transaction alone and the whole pull round.

The server database is seeded directly (SQLite executemany into the server's own tables,
including its sync bookkeeping), which takes a few seconds instead of minutes of pushes.

Usage: ``python bench/bench_sync.py [--records N]``
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import requests

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from crm_desktop.models import ENTITIES, Account, new_id  # noqa: E402
from crm_desktop.store import open_store  # noqa: E402
from crm_desktop.sync.clock import HybridLogicalClock  # noqa: E402
from crm_desktop.sync.engine import SyncEngine  # noqa: E402
from crm_desktop.sync.protocol import (  # noqa: E402
    PROTOCOL_HEADER,
    PROTOCOL_VERSION,
    SCHEMA_HEADER,
    Change,
    ConflictPage,
    Mutation,
    PullResponse,
    PushRequest,
    schema_fingerprint,
)
from crm_desktop.sync.transport import Transport  # noqa: E402

PASSWORD = "bench password 1"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _stamp() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def seed_server(path: Path, user_id: uuid.UUID, total: int) -> int:
    """Insert ``total`` records owned by ``user_id`` with their sync bookkeeping; returns seq."""
    db = sqlite3.connect(path)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=OFF")
    now = _stamp()
    owner = user_id.hex
    seq = db.execute("SELECT value FROM srv_sync_counter WHERE name = 'seq'").fetchone()[0]
    bookkeeping: list[tuple[Any, ...]] = []

    def track(entity: str, ids: list[str], public: bool = False) -> None:
        nonlocal seq
        for record_id in ids:
            seq += 1
            bookkeeping.append((record_id, entity, seq, None if public else owner, int(public)))

    stage = new_id().hex
    db.execute(
        "INSERT INTO sales_stage (id, created_at, updated_at, deleted, name, position,"
        " probability, is_closed, is_won) VALUES (?, ?, ?, 0, 'Bench stage', 99, 10, 0, 0)",
        (stage, now, now),
    )
    track("sales_stage", [stage], public=True)
    accounts_n, contacts_n = total // 5, total * 2 // 5
    opportunities_n = total // 5
    activities_n = total - accounts_n - contacts_n - opportunities_n
    accounts = [new_id().hex for _ in range(accounts_n)]
    db.executemany(
        "INSERT INTO account (id, created_at, updated_at, deleted, name, kind, status, owner_id,"
        " industry, region, phone, email) VALUES (?, ?, ?, 0, ?, 'company', 'active', ?,"
        " 'Manufacturing', 'North', ?, ?)",
        [
            (a, now, now, f"Account {i} Industries", owner, f"+1 555 {i:07d}", f"info{i}@a.example")
            for i, a in enumerate(accounts)
        ],
    )
    track("account", accounts)
    contacts = [new_id().hex for _ in range(contacts_n)]
    db.executemany(
        "INSERT INTO contact (id, created_at, updated_at, deleted, first_name, last_name,"
        " full_name, email, phone, owner_id) VALUES (?, ?, ?, 0, ?, ?, ?, ?, ?, ?)",
        [
            (
                c,
                now,
                now,
                f"First{i}",
                f"Last{i}",
                f"First{i} Last{i}",
                f"p{i}@c.example",
                f"+44 20 {i:07d}",
                owner,
            )
            for i, c in enumerate(contacts)
        ],
    )
    track("contact", contacts)
    opportunities = [new_id().hex for _ in range(opportunities_n)]
    db.executemany(
        "INSERT INTO opportunity (id, created_at, updated_at, deleted, name, account_id, stage_id,"
        " probability, probability_overridden, amount, currency, owner_id)"
        " VALUES (?, ?, ?, 0, ?, ?, ?, 10, 0, ?, 'USD', ?)",
        [
            (o, now, now, f"Deal {i}", accounts[i % accounts_n], stage, f"{1000 + i}.50", owner)
            for i, o in enumerate(opportunities)
        ],
    )
    track("opportunity", opportunities)
    activities = [new_id().hex for _ in range(activities_n)]
    db.executemany(
        "INSERT INTO activity (id, created_at, updated_at, deleted, kind, subject, all_day,"
        " status, priority, owner_id, account_id, start_at) VALUES (?, ?, ?, 0, 'call', ?, 0,"
        " 'done', 'normal', ?, ?, ?)",
        [
            (a, now, now, f"Call {i}", owner, accounts[i % accounts_n], now)
            for i, a in enumerate(activities)
        ],
    )
    track("activity", activities)
    db.executemany(
        "INSERT INTO srv_sync_record (record_id, entity, seq, scope_user_id, public, clocks)"
        " VALUES (?, ?, ?, ?, ?, '{}')",
        bookkeeping,
    )
    db.execute("UPDATE srv_sync_counter SET value = ? WHERE name = 'seq'", (seq,))
    db.commit()
    db.close()
    return seq


def _cpu_seconds(pid: int) -> float:
    """CPU time (user + system) of process ``pid`` and its children so far; 0 off Linux."""
    tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        # After the command name: state, ppid, ..., utime and stime are fields 14 and 15.
        if int(stat.parent.name) == pid or int(fields[1]) == pid:
            total += int(fields[11]) + int(fields[12])
    return total / tick


def capture_pages(url: str, token: str, limit: int) -> dict[int, bytes]:
    """Every page of a full pull as the server sends it (raw JSON), keyed by the cursor asked."""
    headers = {
        "Authorization": f"Bearer {token}",
        PROTOCOL_HEADER: str(PROTOCOL_VERSION),
        SCHEMA_HEADER: schema_fingerprint(),
        "Content-Type": "application/json",
    }
    pages: dict[int, bytes] = {}
    cursor = 0
    with requests.Session() as http:
        while True:
            response = http.post(
                url + "/v1/pull", json={"cursor": cursor, "limit": limit}, headers=headers
            )
            response.raise_for_status()
            pages[cursor] = response.content
            page = PullResponse.model_validate_json(response.content)
            if not page.has_more:
                return pages
            cursor = page.cursor


class ReplayTransport(Transport):
    """Answers pulls with captured pages, parsed as :meth:`Transport.pull` parses them."""

    def __init__(self, pages: dict[int, bytes]) -> None:
        super().__init__("http://replay.invalid")
        self.pages = pages
        self.parse_seconds = 0.0

    def pull(self, cursor: int, limit: int) -> PullResponse:
        started = time.thread_time()
        page = PullResponse.model_validate_json(self.pages[cursor])
        self.parse_seconds += time.thread_time() - started
        return page

    def conflicts(self, after: int, limit: int = 500) -> ConflictPage:
        return ConflictPage(entries=[], next_after=after, has_more=False)


def replay(pages: dict[int, bytes], directory: Path) -> None:
    """Apply captured pages to a fresh profile and print the client-only figures."""
    store = open_store(directory / "crm.sqlite3")
    transport = ReplayTransport(pages)
    # The captured pages are the paged protocol: no snapshot to replay.
    client = SyncEngine(store.path, transport, use_snapshot=False)
    try:
        started, cpu = time.perf_counter(), time.process_time()
        report = client.sync()
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    finally:
        client.close()
        store.dispose()
    n = report.pulled
    print(
        f"client side alone (replayed pages, {len(pages)} pages): {n:,} records in "
        f"{seconds:.2f} s = {n / seconds:,.0f} records/s; CPU {cpu / n * 1e6:.1f} us/record, "
        f"of which parsing the JSON pages {transport.parse_seconds / n * 1e6:.1f} us"
    )


class Server:
    """``crm-server serve`` on a free loopback port."""

    def __init__(self, database_url: str) -> None:
        self.url = f"http://127.0.0.1:{_free_port()}"
        env = {**os.environ, "DATABASE_URL": database_url}
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "crm_server.cli",
                "serve",
                "--port",
                self.url.rsplit(":", 1)[1],
                "--workers",
                "1",
                "--log-level",
                "warning",
            ],
            env=env,
            cwd=REPO,
        )
        deadline = time.monotonic() + 60
        while True:
            try:
                if requests.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return
            except requests.RequestException:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("the server did not start")
            time.sleep(0.1)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def push_thousand(store: Any, client: SyncEngine) -> None:
    """1,000 edited records in 1,000 transactions, pushed in one round (target <= 1 s)."""
    with store.sessions() as session:
        ids = [a.id for a in session.query(Account).limit(1000)]
    seconds = []
    for run in range(3):
        for i, record_id in enumerate(ids):
            with store.sessions.begin() as session:
                account = session.get(Account, record_id)
                assert account is not None
                account.website = f"https://bench-{run}-{i}.example"
        report = client.sync()
        assert report.pushed == len(ids), report.pushed
        seconds.append(report.push_seconds)
    print(
        f"push 1,000 edited records: median {statistics.median(seconds) * 1000:.0f} ms "
        "(target <= 1 s)"
    )


def pulled_change(url: str, store: Any, client: SyncEngine) -> None:
    """One change made on another device, applied by a pull on this store (targets: upsert
    <= 3 ms, delete <= 5 ms): the page's write transaction alone, and the whole pull round."""
    other = Transport(url)
    other.login(username="bench", password=PASSWORD, device_id=uuid.uuid4(), device_name="other")
    clock = HybridLogicalClock(uuid.uuid4().hex)
    with store.sessions() as session:
        ids = [a.id for a in session.query(Account).order_by(Account.id.desc()).limit(40)]
    applied: list[float] = []
    real_apply = client._apply_page

    def timed_apply(*args: Any) -> bool:
        started = time.perf_counter()
        try:
            return real_apply(*args)
        finally:
            applied.append((time.perf_counter() - started) * 1000)

    client._apply_page = timed_apply  # type: ignore[method-assign,assignment]
    figures: dict[str, tuple[list[float], list[float]]] = {"upsert": ([], []), "delete": ([], [])}
    for n, record_id in enumerate(ids, start=1):
        kind = "upsert" if n <= len(ids) // 2 else "delete"
        change = (
            Change(t="account", id=record_id, f={"phone": f"+33 1 {n:08d}"})
            if kind == "upsert"
            else Change(t="account", id=record_id, d=True)
        )
        stamp = clock.now().compact()
        body = PushRequest(
            clock=stamp, b=client.state().cursor, mutations=[Mutation(n=n, h=stamp, c=[change])]
        )
        result = other.push(body.model_dump_json(exclude_none=True).encode())
        assert result.results[0].status == "applied", result.results[0]
        applied.clear()
        report = client.sync()
        assert report.pulled + report.deleted == 1, report
        figures[kind][0].append(max(applied))
        figures[kind][1].append(report.pull_seconds * 1000)
    other.close()
    client._apply_page = real_apply  # type: ignore[method-assign]
    with store.sessions() as session:
        total = sum(session.query(model).count() for model in ENTITIES.values())
    for kind, target in (("upsert", 3), ("delete", 5)):
        apply_ms, round_ms = figures[kind]
        print(
            f"one pulled {kind} (an account) on a store of {total:,} records: median "
            f"{statistics.median(apply_ms):.2f} ms to apply (target <= {target} ms), "
            f"{statistics.median(round_ms):.1f} ms for the pull round"
        )


def main(argv: list[str] | None = None) -> int:
    """Run the three sync benchmarks and print their figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=250_000)
    args = parser.parse_args(argv)

    from crm_server import admin
    from crm_server.db import make_engine
    from crm_server.migrate import upgrade
    from crm_server.settings import Settings

    work = Path(tempfile.mkdtemp(prefix="bench-sync-"))
    try:
        server_db = work / "server.sqlite3"
        url = f"sqlite:///{server_db}"
        upgrade(url)
        settings = Settings(
            database_url=url, argon2_time_cost=1, argon2_memory_kib=1024, argon2_parallelism=1
        )
        engine = make_engine(url, pool_size=1, pool_overflow=0)
        user_id = admin.create_user(
            engine, settings, username="bench", role="rep", password=PASSWORD
        )
        engine.dispose()
        started = time.perf_counter()
        seed_server(server_db, user_id, args.records)
        print(
            f"seeded {args.records:,} records into the server in "
            f"{time.perf_counter() - started:.1f} s",
            file=sys.stderr,
        )
        server = Server(url)
        try:
            store = open_store(work / "client" / "crm.sqlite3")
            transport = Transport(server.url)
            client = SyncEngine(store.path, transport)
            client.sign_in(
                server_url=server.url, username="bench", password=PASSWORD, device_name="bench"
            )

            server_cpu = _cpu_seconds(server.process.pid)
            started, cpu = time.perf_counter(), time.process_time()
            report = client.sync()
            seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
            server_cpu = _cpu_seconds(server.process.pid) - server_cpu
            client.wait_for_checkpoint()
            folded = time.perf_counter() - started
            rate = report.pulled / seconds
            print(
                f"initial sync: {report.pulled:,} records in {seconds:.2f} s = "
                f"{rate:,.0f} records/s (target >= 50,000/s); CPU per record: client "
                f"{cpu / report.pulled * 1e6:.1f} us, server {server_cpu / report.pulled * 1e6:.1f} us;"
                f" the WAL was folded into the database {folded:.2f} s after the start "
                f"({report.pulled / folded:,.0f} records/s counting that too)"
            )
            assert transport.token is not None
            replay(
                capture_pages(server.url, transport.token, client.full_sync_limit),
                work / "replay",
            )

            timings = []
            for _ in range(30):
                started = time.perf_counter()
                client.sync()
                timings.append((time.perf_counter() - started) * 1000)
            print(
                f"no-op sync round trip: median {statistics.median(timings):.1f} ms "
                f"(target <= 10 ms)"
            )

            with store.sessions() as session:
                ids = [a.id for a in session.query(Account).limit(100)]
            runs = []
            pushes = []
            requests_ms: list[float] = []
            real_push = transport.push

            def timed_push(body: bytes) -> Any:
                started = time.perf_counter()
                try:
                    return real_push(body)
                finally:
                    requests_ms.append((time.perf_counter() - started) * 1000)

            transport.push = timed_push  # type: ignore[method-assign]
            for run in range(5):
                for i, record_id in enumerate(ids):
                    with store.sessions.begin() as session:
                        account = session.get(Account, record_id)
                        assert account is not None
                        account.phone = f"+49 30 {run}-{i}"
                started = time.perf_counter()
                report = client.sync()
                runs.append((time.perf_counter() - started) * 1000)
                pushes.append(report.push_seconds * 1000)
                assert report.pushed == len(ids), report.pushed
            print(
                f"push 100 edited records: median {statistics.median(pushes):.0f} ms to push "
                f"(target <= 150 ms), of which {statistics.median(requests_ms):.0f} ms waiting "
                f"for the server; {statistics.median(runs):.0f} ms for the whole round "
                "(push, then pulling the same 100 back)"
            )
            transport.push = real_push  # type: ignore[method-assign]
            push_thousand(store, client)
            pulled_change(server.url, store, client)
            client.close()
            transport.close()
            store.dispose()
        finally:
            server.stop()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
