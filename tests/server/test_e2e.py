"""End to end against a real server process (uvicorn, two workers, loopback).

The concurrency test is the one that proves the change feed: many devices push at once while
pullers page through the feed with small pages; every record is created once and never
updated, so a cursor that skipped a commit would lose that record for good.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import threading
import uuid
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from crm_desktop.models import new_id
from crm_server import cli
from crm_server.settings import Settings

from .conftest import HEADERS, PASSWORD, REPO, ServerProcess, SyncClient

WRITERS_PER_REP = 3
BATCHES = 12


def test_concurrent_pushes_leave_no_gap_in_any_pull(
    server: ServerProcess, people: dict[str, uuid.UUID]
) -> None:
    created: dict[str, set[str]] = {"ann": set(), "bob": set(), "carl": set()}
    lock = threading.Lock()
    errors: list[BaseException] = []
    done = threading.Event()

    def writer(rep: str) -> None:
        try:
            with httpx.Client(base_url=server.url, timeout=30) as http:
                device = SyncClient(http, rep)
                for batch in range(BATCHES):
                    mutations = []
                    pushed: set[str] = set()
                    for _ in range(1 + batch % 3):
                        record = new_id()
                        pushed.add(str(record))
                        mutations.append(
                            device.mutation(
                                {
                                    "t": "account",
                                    "id": record.hex,
                                    "f": {
                                        "name": f"{rep} {batch}",
                                        "owner_id": str(device.user_id),
                                    },
                                }
                            )
                        )
                        with lock:
                            created[rep].add(str(record))
                    assert {r["status"] for r in device.push(*mutations)} == {"applied"}
                    # Concurrent pushes share publishing passes, but each push returns only
                    # once its changes are numbered: its device's next pull has them.
                    device.pull()
                    assert pushed <= device.ids("account")
        except BaseException as exc:
            errors.append(exc)

    def puller(name: str, sink: dict[str, SyncClient]) -> None:
        try:
            with httpx.Client(base_url=server.url, timeout=30) as http:
                device = SyncClient(http, name)
                sink[name] = device
                while not done.is_set():
                    device.pull(limit=7)
                device.pull(limit=7)
        except BaseException as exc:
            errors.append(exc)

    pulled: dict[str, SyncClient] = {}
    pullers = [threading.Thread(target=puller, args=(name, pulled)) for name in ("root", "mia")]
    writers = [
        threading.Thread(target=writer, args=(rep,))
        for rep in created
        for _ in range(WRITERS_PER_REP)
    ]
    for thread in pullers + writers:
        thread.start()
    for thread in writers:
        thread.join(timeout=120)
    done.set()
    for thread in pullers:
        thread.join(timeout=120)
    assert not errors, errors
    stale = httpx.post(
        f"{server.url}/v1/pull", json={}, headers={**HEADERS, "X-CRM-Protocol": "99"}
    )
    assert stale.status_code == 426 and stale.json()["code"] == "update_required"
    everything = set().union(*created.values())
    assert len(everything) == WRITERS_PER_REP * 3 * sum(1 + b % 3 for b in range(BATCHES))
    assert pulled["root"].ids("account") == everything
    assert pulled["mia"].ids("account") == created["ann"] | created["bob"]


@pytest.mark.parametrize("server", [1], indirect=True)
def test_schemathesis_finds_no_server_error(
    server: ServerProcess, people: dict[str, uuid.UUID]
) -> None:
    """Property-based requests from the server's own OpenAPI document, bounded for speed."""
    with httpx.Client(base_url=server.url, timeout=30) as http:
        device = SyncClient(http, "ann")
    schema = schemathesis.openapi.from_url(f"{server.url}/openapi.json")
    checks = [
        not_a_server_error,
        status_code_conformance,
        content_type_conformance,
        response_schema_conformance,
    ]
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {op.path for op in operations} >= {"/v1/push", "/v1/pull", "/v1/login"}
    for operation in operations:
        if operation.path == "/v1/logout":
            continue  # would sign the test device out halfway through

        @given(case=operation.as_strategy())
        @settings(
            max_examples=int(os.environ.get("CRM_SCHEMATHESIS_EXAMPLES", "25")),
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def run(case: Any) -> None:
            case.call_and_validate(base_url=server.url, headers=device.headers, checks=checks)

        run()


def test_admin_command_line(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The console commands against a fresh database (in-process, plus one real process)."""
    monkeypatch.setenv("DATABASE_URL", settings.database_url)
    monkeypatch.setenv("CRM_ARGON2_TIME_COST", "1")
    monkeypatch.setenv("CRM_ARGON2_MEMORY_KIB", "1024")
    real = subprocess.run(
        [sys.executable, "-m", "crm_server.cli", "init"],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
        check=False,
    )
    assert real.returncode == 0 and "database ready" in real.stdout

    def crm_server(*args: str, stdin: str = "") -> tuple[int, str, str]:
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
        status = cli.main(list(args))
        out, err = capsys.readouterr()
        return status, out, err

    assert crm_server("create-user", "mia", "--role", "manager", stdin=PASSWORD + "\n")[0] == 0
    status, out, _ = crm_server("create-user", "ann", "--manager", "mia", stdin=PASSWORD + "\n")
    assert status == 0 and "created rep ann" in out
    assert crm_server("create-user", "bob", "--manager", "mia", stdin=PASSWORD + "\n")[0] == 0
    status, _, err = crm_server("create-user", "ann", stdin="x\n")
    assert status == 1 and "already exists" in err
    status, _, err = crm_server("set-manager", "mia", "--manager", "ann")
    assert status == 1 and "loop" in err
    assert crm_server("set-manager", "bob", "--none")[0] == 0
    status, out, _ = crm_server("reassign", "--from", "ann", "--to", "bob")
    assert status == 0 and "0 accounts" in out
    assert crm_server("revoke-device", "--user", "ann")[1].strip() == "revoked 0 device(s)"
    assert crm_server("devices")[0] == 0
    status, _, err = crm_server("reassign", "--from", "ghost", "--to", "bob")
    assert status == 1 and "ghost" in err
