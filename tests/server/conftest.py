"""Fixtures of the server tests: a fresh database per test on SQLite and (when
``CRM_TEST_POSTGRES_URL`` is set) on PostgreSQL, an in-process app client, a real server
process, and a tiny sync client that keeps a local copy of what it pulled.

PostgreSQL: one uniquely named database is created per test session (migrated once) and
dropped at the end; each test starts from truncated tables. If the URL is set but the server
cannot be reached the tests fail rather than skip, so CI cannot go green without PostgreSQL.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url

from crm_desktop.sync.clock import Hlc, HybridLogicalClock
from crm_desktop.sync.protocol import (
    PROTOCOL_HEADER,
    PROTOCOL_VERSION,
    SCHEMA_HEADER,
    schema_fingerprint,
)
from crm_server import admin
from crm_server.app import create_app
from crm_server.db import ALL_METADATA, make_engine, normalize_url
from crm_server.migrate import upgrade
from crm_server.settings import Settings

with warnings.catch_warnings():
    # Starlette deprecates driving its TestClient with httpx in favour of "httpx2", which
    # this project does not use; the warning fires at import only.
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

POSTGRES_URL = os.environ.get("CRM_TEST_POSTGRES_URL")
BACKENDS = [pytest.param("sqlite", id="sqlite")]
if POSTGRES_URL:
    BACKENDS.append(pytest.param("postgres", id="postgres", marks=pytest.mark.postgres))

HEADERS = {PROTOCOL_HEADER: str(PROTOCOL_VERSION), SCHEMA_HEADER: schema_fingerprint()}
PASSWORD = "correct horse battery staple"
REPO = Path(__file__).resolve().parents[2]


def make_settings(url: str, **overrides: Any) -> Settings:
    """Cheap argon2 parameters: tests log in hundreds of times."""
    values: dict[str, Any] = {
        "database_url": url,
        "argon2_time_cost": 1,
        "argon2_memory_kib": 1024,
        "argon2_parallelism": 1,
        "pool_size": 5,
    }
    values.update(overrides)
    return Settings(**values)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite database, copied for each test (migrating is the slow part)."""
    path = tmp_path_factory.mktemp("template") / "server.sqlite3"
    upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    """A fresh, migrated PostgreSQL database for this session, dropped afterwards."""
    assert POSTGRES_URL
    base = make_url(normalize_url(POSTGRES_URL))
    name = f"crm_test_{uuid.uuid4().hex[:12]}"
    admin_engine = make_engine(base.render_as_string(hide_password=False))
    try:
        with admin_engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:
        admin_engine.dispose()
        pytest.fail(f"CRM_TEST_POSTGRES_URL is set but PostgreSQL is unusable: {exc}")
    url = base.set(database=name).render_as_string(hide_password=False)
    try:
        upgrade(url)
        yield url
    finally:
        with admin_engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin_engine.dispose()


def _reset_postgres(url: str) -> None:
    engine = make_engine(url, pool_size=1, pool_overflow=0)
    try:
        names = [t.name for metadata in ALL_METADATA for t in metadata.sorted_tables]
        with engine.begin() as conn:
            conn.execute(
                text("TRUNCATE " + ", ".join(f'"{n}"' for n in names) + " RESTART IDENTITY CASCADE")
            )
            conn.execute(text("INSERT INTO srv_sync_counter (name, value) VALUES ('seq', 0)"))
    finally:
        engine.dispose()


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """URL of an empty, migrated server database of this test's own."""
    if request.param == "sqlite":
        path = tmp_path / "server.sqlite3"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        return f"sqlite:///{path}"
    url: str = request.getfixturevalue("postgres_database")
    _reset_postgres(url)
    return url


@pytest.fixture
def settings(db_url: str) -> Settings:
    return make_settings(db_url)


@pytest.fixture
def engine(settings: Settings) -> Iterator[Engine]:
    """An engine for admin commands and direct checks."""
    created = make_engine(settings.database_url, pool_size=2, pool_overflow=2)
    yield created
    created.dispose()


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    """The app in-process (the lifespan disposes its engine at the end)."""
    with TestClient(create_app(settings), raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture
def people(engine: Engine, settings: Settings) -> dict[str, uuid.UUID]:
    """A small company: manager ``mia`` with reps ``ann`` and ``bob``; ``carl`` elsewhere;
    an admin ``root``."""
    ids = {}
    ids["mia"] = admin.create_user(
        engine, settings, username="mia", role="manager", password=PASSWORD
    )
    for rep in ("ann", "bob"):
        ids[rep] = admin.create_user(
            engine, settings, username=rep, role="rep", password=PASSWORD, manager="mia"
        )
    ids["carl"] = admin.create_user(
        engine, settings, username="carl", role="rep", password=PASSWORD
    )
    ids["root"] = admin.create_user(
        engine, settings, username="root", role="admin", password=PASSWORD
    )
    return ids


class SyncClient:
    """A minimal sync client: logs in, pushes mutations, pulls into a local dict.

    ``records`` maps (entity, id) to the field dict last pulled; ``cursor`` advances only when a
    whole page is applied, as the real client must do.
    """

    def __init__(self, http: httpx.Client | TestClient, username: str, *, clock_skew_ms: int = 0):
        self.http = http
        self.username = username
        self.device_id = uuid.uuid4()
        self.clock = HybridLogicalClock(
            self.device_id.hex, now_ms=lambda: time.time_ns() // 1_000_000 + clock_skew_ms
        )
        self.n = 0
        self.cursor = 0
        self.records: dict[tuple[str, str], dict[str, Any]] = {}
        self.headers = dict(HEADERS)
        response = http.post(
            "/v1/login",
            json={"username": username, "password": PASSWORD, "device_id": str(self.device_id)},
            headers=HEADERS,
        )
        assert response.status_code == 200, response.text
        body = response.json()
        self.user_id = uuid.UUID(body["user_id"])
        self.headers["Authorization"] = f"Bearer {body['token']}"

    def stamp(self) -> str:
        return self.clock.now().compact()

    def mutation(self, *changes: dict[str, Any], base: int | None = None) -> dict[str, Any]:
        """A new mutation (next number, fresh stamp) of the given changes."""
        self.n += 1
        mutation: dict[str, Any] = {"n": self.n, "h": self.stamp(), "c": list(changes)}
        if base is not None:
            mutation["b"] = base
        return mutation

    def push_raw(self, mutations: list[dict[str, Any]], base: int | None = None) -> httpx.Response:
        body = {
            "clock": self.stamp(),
            "b": self.cursor if base is None else base,
            "mutations": mutations,
        }
        return self.http.post("/v1/push", json=body, headers=self.headers)

    def push(self, *mutations: dict[str, Any], base: int | None = None) -> list[dict[str, Any]]:
        response = self.push_raw(list(mutations), base)
        assert response.status_code == 200, response.text
        body = response.json()
        self.clock.update(Hlc(body["server_time_ms"], 0))
        results: list[dict[str, Any]] = body["results"]
        return results

    def pull(self, limit: int = 1000) -> int:
        """Pull until done; returns how many pages it took."""
        pages = 0
        while True:
            response = self.http.post(
                "/v1/pull", json={"cursor": self.cursor, "limit": limit}, headers=self.headers
            )
            assert response.status_code == 200, response.text
            page = response.json()
            pages += 1
            for entity, ids in page["removals"].items():
                for record_id in ids:
                    self.records.pop((entity, record_id), None)
            for entity, ids in page["deletes"].items():
                for record_id in ids:
                    self.records.pop((entity, record_id), None)
            for block in page["upserts"]:
                for row in block["rows"]:
                    self.records[(block["t"], row[0])] = dict(
                        zip(block["fields"], row, strict=True)
                    )
            self.cursor = page["cursor"]
            if not page["has_more"]:
                return pages

    def ids(self, entity: str) -> set[str]:
        return {record_id for (t, record_id) in self.records if t == entity}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class ServerProcess:
    """``crm-server serve`` in a subprocess on a free loopback port."""

    def __init__(self, settings: Settings, workers: int = 2) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {
            **os.environ,
            "DATABASE_URL": settings.database_url,
            "CRM_ARGON2_TIME_COST": "1",
            "CRM_ARGON2_MEMORY_KIB": "1024",
            "CRM_ARGON2_PARALLELISM": "1",
        }
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "crm_server.cli",
                "serve",
                "--port",
                str(self.port),
                "--workers",
                str(workers),
                "--log-level",
                "warning",
            ],
            env=env,
            cwd=REPO,
        )
        deadline = time.monotonic() + 30
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited with {self.process.returncode}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("server did not start within 30 s")
            time.sleep(0.1)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@pytest.fixture
def server(settings: Settings, request: pytest.FixtureRequest) -> Iterator[ServerProcess]:
    """A real server process on this test's database: two workers, or as many as an indirect
    parametrization (``@pytest.mark.parametrize("server", [1], indirect=True)``) asks for."""
    workers = getattr(request, "param", 2)
    process = ServerProcess(settings, workers=workers)
    yield process
    process.stop()
