"""SIGKILL: a real ``crm sync`` process killed at random moments during push and pull, then
restarted, loses nothing and duplicates nothing."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, text

from crm_desktop.models import Account
from crm_desktop.store import open_store
from crm_desktop.sync.engine import STALE_SNAPSHOT_SECONDS

from .conftest import PASSWORD

CRM = str(Path(sys.executable).parent / "crm")
HERE = Path(__file__).resolve().parent
#: Records a colleague's device puts on the server for the victim to pull.
PULLED = 1500


def crm_env(tmp_path: Path) -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": str(HERE) + os.pathsep + os.environ.get("PYTHONPATH", ""),
        "PYTHON_KEYRING_BACKEND": "file_keyring.FileKeyring",
        "CRM_TEST_KEYRING_FILE": str(tmp_path / "keyring.json"),
    }


def run_sync(profile: Path, env: dict[str, str], *args: str, password: str | None = None) -> str:
    done = subprocess.run(
        [CRM, "--profile", str(profile), "sync", *args],
        input=(password + "\n") if password else "",
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return done.stderr


def kill_during(
    profile: Path,
    env: dict[str, str],
    phase: str,
    rng: random.Random,
    *args: str,
    password: str | None = None,
    skip: int | None = None,
) -> bool:
    """Start ``crm sync`` and SIGKILL it shortly after it reports ``phase`` progress (after
    ``skip`` such lines, random by default). Returns whether it was killed (it may finish
    first). ``args`` and ``password`` are for a first run that signs in."""
    with subprocess.Popen(
        [CRM, "--profile", str(profile), "sync", "--page-size", "200", "--batch-size", "20", *args],
        stdin=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
        env=env,
    ) as process:
        assert process.stdin is not None and process.stderr is not None
        process.stdin.write((password + "\n") if password else "")
        process.stdin.close()
        skip = rng.randint(0, 2) if skip is None else skip
        for line in process.stderr:
            if line.startswith(phase):
                if skip == 0:
                    time.sleep(rng.uniform(0, 0.03))
                    process.send_signal(signal.SIGKILL)
                    process.wait()
                    return True
                skip -= 1
        process.wait()
        return False


def test_sigkill_during_push_and_pull_loses_and_duplicates_nothing(
    tmp_path: Path, server: Any, company: Any, devices: Any, server_db: Any
) -> None:
    rng = random.Random(int(os.environ.get("CRM_CRASH_SEED", "0")) or None)
    env = crm_env(tmp_path)
    victim = tmp_path / "victim"
    run_sync(
        victim,
        env,
        "--server",
        server.url,
        "--user",
        company.names["ann"],
        password=PASSWORD,
    )

    # A colleague's device (same user) puts records on the server for the victim to pull.
    other = devices(company.names["ann"])
    with other.store.sessions.begin() as session:
        for i in range(PULLED):
            session.add(Account(name=f"Pulled {i}", owner_id=other.user_id))
    other.sync()

    # Pending work on the victim: many small transactions and one big one.
    store = open_store(victim / "crm.sqlite3")
    user_id = other.user_id
    made: list[uuid.UUID] = []
    for i in range(120):
        with store.sessions.begin() as session:
            account = Account(name=f"Pushed {i}", owner_id=user_id)
            session.add(account)
            session.flush()
            made.append(account.id)
    with store.sessions.begin() as session:
        for i in range(500):
            account = Account(name=f"Bulk {i}", owner_id=user_id)
            session.add(account)
            session.flush()
            made.append(account.id)
    store.dispose()

    started = time.perf_counter()
    # ``crm sync`` reports "Sending changes… n of m" while pushing, "Receiving… n records"
    # while pulling.
    kills = {"Sending": 0, "Receiving": 0}
    for attempt in range(6):
        phase = "Sending" if attempt % 2 == 0 else "Receiving"
        kills[phase] += kill_during(victim, env, phase, rng)
    assert kills["Sending"] >= 1 and kills["Receiving"] >= 1, kills
    run_sync(victim, env)
    run_sync(victim, env)
    print(f"kills {kills} in {time.perf_counter() - started:.1f} s")

    table = Account.__table__
    with server_db.connect() as connection:
        on_server = set(
            connection.execute(
                select(table.c.id).where(table.c.owner_id == user_id, table.c.deleted.is_(False))
            ).scalars()
        )
    assert set(made) <= on_server  # nothing lost
    assert len(on_server) == PULLED + len(made)  # nothing duplicated

    store = open_store(victim / "crm.sqlite3")
    try:
        with store.engine.connect() as connection:
            local = set(
                connection.execute(
                    select(table.c.id).where(
                        table.c.owner_id == user_id, table.c.deleted.is_(False)
                    )
                ).scalars()
            )
            assert local == on_server
            assert connection.execute(text("SELECT count(*) FROM sync_outbox")).scalar() == 0
            indexed = connection.execute(
                text(
                    "SELECT count(*), count(DISTINCT ref) FROM search_doc WHERE entity = 'account'"
                )
            ).one()
            accounts = connection.execute(
                select(func.count()).select_from(table).where(table.c.deleted.is_(False))
            ).scalar()
            assert indexed[0] == indexed[1] == accounts  # search index: no duplicates, no gaps
    finally:
        store.dispose()


def local_accounts(profile: Path) -> tuple[set[uuid.UUID], tuple[int, int]]:
    """Live accounts on a laptop, and (entries, distinct records) in its search index for
    accounts."""
    table = Account.__table__
    store = open_store(profile / "crm.sqlite3")
    try:
        with store.engine.connect() as connection:
            ids = set(
                connection.execute(select(table.c.id).where(table.c.deleted.is_(False))).scalars()
            )
            indexed = connection.execute(
                text(
                    "SELECT count(*), count(DISTINCT ref) FROM search_doc WHERE entity = 'account'"
                )
            ).one()
            return ids, (indexed[0], indexed[1])
    finally:
        store.dispose()


def test_sigkill_during_a_first_sync_snapshot_loses_and_duplicates_nothing(
    tmp_path: Path, server: Any, company: Any, devices: Any
) -> None:
    rng = random.Random(int(os.environ.get("CRM_CRASH_SEED", "0")) or None)
    env = crm_env(tmp_path)
    colleague = devices(company.names["ann"])
    with colleague.store.sessions.begin() as session:
        for i in range(4000):
            session.add(Account(name=f"Remote {i}", owner_id=colleague.user_id))
    colleague.sync()
    expected = colleague.ids("account")

    # New laptops, each killed during its first sync: while the snapshot downloads, or while
    # it is loaded ("Receiving" is reported per table of the load).
    killed = []
    for attempt in range(4):
        laptop = tmp_path / f"laptop-{attempt}"
        phase = "Downloading" if attempt % 2 == 0 else "Receiving"
        sign_in = ("--server", server.url, "--user", company.names["ann"])
        if kill_during(laptop, env, phase, rng, *sign_in, password=PASSWORD, skip=0):
            killed.append(laptop)
    assert killed, "every first sync finished before it could be killed"
    for laptop in killed:
        run_sync(laptop, env)
        ids, (entries, distinct) = local_accounts(laptop)
        assert ids == expected  # nothing lost, nothing extra
        assert entries == distinct == len(ids)  # search: every account once


def test_a_killed_downloads_file_is_removed_by_a_later_sync(
    tmp_path: Path, server: Any, company: Any, devices: Any
) -> None:
    laptop = devices(company.names["ann"])
    laptop.sync()
    directory = laptop.store.path.parent
    dead = directory / ".snapshot-dead.sqlite3"
    dead.write_bytes(b"\0" * 4096)
    old = time.time() - STALE_SNAPSHOT_SECONDS - 60
    os.utime(dead, (old, old))
    # Another process on the same profile may be downloading right now: its file is kept.
    running = directory / ".snapshot-running.sqlite3"
    running.write_bytes(b"\0" * 4096)
    laptop.sync()
    assert not dead.exists()
    assert running.exists()
