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


def kill_during(profile: Path, env: dict[str, str], phase: str, rng: random.Random) -> bool:
    """Start ``crm sync`` and SIGKILL it shortly after it reports ``phase`` progress.

    Returns whether it was killed (it may finish first).
    """
    with subprocess.Popen(
        [CRM, "--profile", str(profile), "sync", "--page-size", "200", "--batch-size", "20"],
        stdin=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
        env=env,
    ) as process:
        assert process.stderr is not None
        skip = rng.randint(0, 2)
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
    kills = {"pushed": 0, "pulled": 0}
    for attempt in range(6):
        phase = "pushed" if attempt % 2 == 0 else "pulled"
        kills[phase] += kill_during(victim, env, phase, rng)
    assert kills["pushed"] >= 1 and kills["pulled"] >= 1, kills
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
